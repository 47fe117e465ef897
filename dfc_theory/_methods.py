"""Names of the learning methods and rules (THEORY.md section 6) and their display labels:
a dependency-free module shared by the learning rules and the training configurations."""
from __future__ import annotations

__all__ = ["FORWARD_METHODS", "DFC_METHODS", "RULES", "FEEDBACK_KINDS", "run_label",
           "label_to_name"]

#: methods of :func:`dfc_theory.forward_update`
FORWARD_METHODS = ("dfc", "dfc-ss", "dfc-ssa", "bp", "dfa")
#: the methods that use a controller and feedback weights Q
DFC_METHODS = ("dfc", "dfc-ss", "dfc-ssa")
#: postsynaptic signals of the DFC plasticity rule
RULES = ("voltage", "nonlinear")
#: feedback of the DFC methods: learned in sleep phases, or the fixed weight product
FEEDBACK_KINDS = ("trained", "fixed")


def run_label(method, feedback="trained"):
    """Display label: "DFC", "DFC-SS (fixed)", "DFA", "BP".

    Parameters
    ----------
    method : str
        One of :data:`FORWARD_METHODS` ("dfc", "dfc-ss", "dfc-ssa", "bp", "dfa").
    feedback : str
        One of :data:`FEEDBACK_KINDS`; "fixed" adds " (fixed)" to the DFC methods only
        (BP and DFA have no Q).

    Returns
    -------
    str
        The method upper-cased, with " (fixed)" for a DFC method with fixed feedback.

    Examples
    --------
    >>> from dfc_theory.training import run_label, label_to_name
    >>> run_label("dfc-ss", "fixed"), label_to_name(run_label("dfc-ss", "fixed"))
    ('DFC-SS (fixed)', 'dfc-ss_fixed')
    """
    return method.upper() + (" (fixed)" if method in DFC_METHODS and feedback == "fixed" else "")


def label_to_name(label):
    """File-name form of a run label: "DFC-SS (fixed)" -> "dfc-ss_fixed".

    Parameters
    ----------
    label : str
        A label of :func:`run_label`.

    Returns
    -------
    str
        Lower-case, " (fixed)" as "_fixed", other spaces as "_".

    Examples
    --------
    >>> from dfc_theory.training import label_to_name
    >>> [label_to_name(s) for s in ("DFC", "DFC-SSA (fixed)", "BP")]
    ['dfc', 'dfc-ssa_fixed', 'bp']
    """
    return label.lower().replace(" (fixed)", "_fixed").replace(" ", "_")
