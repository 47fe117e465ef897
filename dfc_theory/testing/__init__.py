"""Tools for property-testing the theory of DFC (THEORY.md sections 3-5).

* :mod:`~dfc_theory.testing.premises`: named premise predicates on a :class:`Draw`
  (Newton converged, stable, Conditions 2 and 3, ...) and :class:`Sweep` bookkeeping;
* :mod:`~dfc_theory.testing.strategies`: Hypothesis strategies -- :func:`networks`,
  :func:`inputs`, :func:`controllers`, :func:`feedback_matrices`, :func:`systems`;
* :mod:`~dfc_theory.testing.claims`: the paper's claims (and known false extrapolations)
  as predicates, :data:`CLAIMS`, and :func:`search` for a shrunk counterexample;
* :func:`save_counterexample` / :func:`load_counterexample`: a draw as plain JSON.

The strategies and claims import Hypothesis; they are loaded on first use, so
``import dfc_theory.testing.premises`` stays light.
"""
from .counterexample import (counterexample_dict, draw_from_dict, load_counterexample,
                             regression_test_source, save_counterexample)
from .premises import PREMISES, Draw, Premise, PremiseOutcome, Sweep, check_premises

_LAZY = {
    "strategies": ("strategies", None), "claims": ("claims", None),
    "networks": ("strategies", "networks"), "inputs": ("strategies", "inputs"),
    "controllers": ("strategies", "controllers"),
    "feedback_matrices": ("strategies", "feedback_matrices"),
    "systems": ("strategies", "systems"), "rejection_counts": ("strategies", "rejection_counts"),
    "CLAIMS": ("claims", "CLAIMS"), "Claim": ("claims", "Claim"),
    "Verdict": ("claims", "Verdict"), "NotApplicable": ("claims", "NotApplicable"),
    "get_claim": ("claims", "get_claim"), "search": ("claims", "search"),
    "SearchResult": ("claims", "SearchResult"),
}

__all__ = ["PREMISES", "Draw", "Premise", "PremiseOutcome", "Sweep", "check_premises",
           "counterexample_dict", "draw_from_dict", "load_counterexample",
           "save_counterexample", "regression_test_source", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    module, attr = _LAZY[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
