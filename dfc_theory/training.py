"""Training loop for student-teacher regression with DFC and its baselines (THEORY.md 6-8).

One run = one method (``"dfc"``, ``"dfc-ss"``, ``"dfc-ssa"``, ``"dfa"``, ``"bp"``) with one
kind of feedback (``"trained"`` or ``"fixed"`` for the DFC methods).  Schedule (the
reference code's, THEORY.md section 6): ``fb_pretrain_epochs`` sleep-phase epochs
(:func:`dfc_theory.feedback_learning.train_feedback`, rate ``lr_fb_init``) from a random
Xavier-normal Q, then per epoch ``fb_epochs_per_epoch`` feedback epochs, one forward epoch
and ``fb_extra_epochs`` feedback epochs (rate ``lr_fb``; Fig 3: 50 at 0.1, then 1 + 2 at
0.002).  "(fixed)" feedback is the weight product, frozen at initialisation
(``fixed_mode="initial"``, THEORY.md section 6) or rebuilt after every update (``"recompute"``).

Forward step (SGD with gradient-norm clipping), the reference code's scaling made explicit:
targets r_L* = r_L^- - lambda dLoss/dr_L with ``reduction="mean"`` (PyTorch's MSELoss:
delta_L carries 1/(B n_L)), a rule's batch average Delta theta (so the step carries 1/B
twice, as in the reference code), the "gradient" G = -rule_scale Delta theta per parameter
tensor (rule_scale = 2: the reference's teaching signal -2 (v - v_ff)), clipped to norm
``clip`` per tensor (``clip_mode="per_tensor"``, the reference's) or over all parameters
(``"global"``), and theta <- theta - lr_eff G with lr_eff = lr / lambda (``normalize_lr``,
the paper's "0.05 / lambda") or lr.  For BP a step is then -(2 lr / B) grad_theta of the
mean loss: an effective rate of 2 * 0.05 / 128 ~ 7.8e-4.

Logging (``log_batches``: ``"first"`` batch of every epoch like the reference code,
``"all"``, or every k-th batch), on the batch *before* its update: ``loss``; the angles of
the update with BP (``angle_bp``), the damped Gauss-Newton (``gn``, gamma = ``gn_damping``)
and minimum-norm (``mn``, signal ``mn_rule``) updates and DFC-SSA with the same Q (``ssa``),
whole and per layer (``angle_<ref>_l<i>``); ``cond1_std`` / ``cond1_ref`` (Condition 1,
THEORY.md's and the reference code's), ``norm_r<i>`` and ``normdev_r<i>`` (Fig S1's
relative layer-norm deviations); ``cond2`` (at the feedforward J); ``abscissa``
(``_max``): the spectral abscissa of the system's own matrix at the exact steady state
(Fig 3E), and ``abs_<matrix>`` (``_max``, ``_std``) for the four matrices of THEORY.md
section 5; ``converged`` / ``diverged`` counts (DFC-SSA: of an ``n_steps_ssa`` simulation).
Batch means throughout; metrics that do not apply are NaN (no controller for DFA/BP; DFA's
``cond2`` is that of [B_1; ...; B_{L-1}; I]).  Logs are saved as CSV and NPZ
(:meth:`TrainingLog.save`, :meth:`TrainingLog.load`): figures redraw without retraining.
``train(..., checkpoint=FILE)`` keeps the state after every epoch; ``resume=True``
continues an interrupted run to the log of an uninterrupted one (:mod:`dfc_theory._checkpoint`).
"""
from __future__ import annotations

from ._methods import FEEDBACK_KINDS, label_to_name, run_label
from ._training_config import FIXED_MODES, TrainingConfig, feedback_config
from ._training_log import ABSCISSA_MATRICES, ANGLE_REFS, TrainingLog
from ._training_loop import train
from ._training_presets import fig3_config
from .feedback import xavier_normal as xavier_feedback

__all__ = ["TrainingConfig", "TrainingLog", "train", "fig3_config", "FEEDBACK_KINDS",
           "FIXED_MODES", "ABSCISSA_MATRICES", "ANGLE_REFS", "run_label", "label_to_name",
           "xavier_feedback", "feedback_config"]
