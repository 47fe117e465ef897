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

    Examples
    --------
    >>> from dfc_theory import fig3_config
    >>> c = fig3_config("dfc-ssa", "fixed", epochs=3)
    >>> c.sizes, c.lr / c.lam, c.controller().alpha_eff, c.epochs
    ((15, 10, 10, 5), 1.0, 0.0015, 3)
    """
    base = TrainingConfig(method=method, feedback=feedback, mn_rule="voltage")
    if method == "dfa":
        base = base.replace(gn_damping=0.0)
    return base.replace(**overrides)
