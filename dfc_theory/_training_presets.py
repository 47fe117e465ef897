"""Presets of training runs: the paper's Fig 3 (THEORY.md section 8)."""
from __future__ import annotations

from ._training_config import TrainingConfig

__all__ = ["fig3_config"]


def fig3_config(method="dfc", feedback="trained", **overrides) -> TrainingConfig:
    """The paper's Fig 3 settings (THEORY.md section 8 and the reference code's Fig 3
    configuration) for one method, with overrides.

    15-10-10-5 tanh student, linear output, 5000/1000/1000 teacher samples, 300 epochs,
    batch 128, SGD lr 0.05 / lambda with per-tensor gradient-norm clipping at 1, lambda 0.05,
    nonlinear-difference rule, k_p 1.5, alpha 0.0015, dt 0.005, ratio 0.2, 1000 steps (500
    for the DFC-SSA diagnostic simulation); trained feedback: Xavier-normal init, 50
    pre-training epochs (alpha_fb 0.25, k_p_fb 0.1, sigma_fb 0.01, dt_fb 0.002, 50 steps,
    ratio_fb 0.01, tau_A 0.3, lr 0.1, weight decay 0.025), then 1 + 2 feedback epochs per
    epoch at lr 0.002; GN damping 0.1 (0 for DFA, as in the reference configuration); the
    min-norm reference with the voltage signal a = J^T (J J^T + gamma I)^{-1} delta_L (the
    reference code's ``use_nonlinear_gnt=False``) although the rule is the nonlinear one.

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
