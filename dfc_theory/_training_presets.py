"""Presets of training runs: the paper's Fig 3 (THEORY.md section 8)."""
from __future__ import annotations

from ._training_config import TrainingConfig

__all__ = ["fig3_config"]


def fig3_config(method="dfc", feedback="trained", **overrides) -> TrainingConfig:
    """The paper's Fig 3 settings (THEORY.md section 8: the defaults of
    :class:`TrainingConfig`) for one method, with overrides.

    As in the reference code's Fig 3 configuration, GN damping is 0 for DFA, and the
    min-norm reference uses the voltage signal a = J^T (J J^T + gamma I)^{-1} delta_L
    (``use_nonlinear_gnt=False``) although the rule is the nonlinear one.

    Parameters
    ----------
    method : str
        One of "dfc", "dfc-ss", "dfc-ssa", "bp", "dfa".
    feedback : {"trained", "fixed"}
        Feedback of the DFC methods (ignored in the label of BP and DFA).
    **overrides
        Any other :class:`TrainingConfig` fields (e.g. ``epochs``), applied last.

    Returns
    -------
    TrainingConfig
        Validated (:meth:`TrainingConfig.replace`).

    Examples
    --------
    >>> from dfc_theory import fig3_config
    >>> c = fig3_config("dfc-ssa", "fixed", epochs=3)
    >>> c.sizes, c.lr / c.lam, c.controller().alpha_eff, c.epochs
    ((15, 10, 10, 5), 1.0, 0.0015, 3)
    >>> fig3_config("dfa").gn_damping, fig3_config().gn_damping, fig3_config().mn_rule
    (0.0, 0.1, 'voltage')
    """
    base = TrainingConfig(method=method, feedback=feedback, mn_rule="voltage")
    if method == "dfa":
        base = base.replace(gn_damping=0.0)
    return base.replace(**overrides)
