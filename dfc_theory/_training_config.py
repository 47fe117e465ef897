"""The settings of one student-teacher training run (:class:`TrainingConfig`) and what the
torch trainer's share (:class:`RunSettings`): dependency-free."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from ._controller import Controller
from ._feedback_config import FeedbackConfig
from ._methods import DFC_METHODS, FEEDBACK_KINDS, FORWARD_METHODS, RULES
from ._validation import check_choice, check_int, check_scalar, check_sizes

__all__ = ["TrainingConfig", "FIXED_MODES", "feedback_config", "RunSettings"]

FIXED_MODES = ("initial", "recompute")


class RunSettings:
    """What the settings of both trainers share (:class:`TrainingConfig` and
    :class:`dfc_theory.torch.train.FullScaleConfig`, frozen dataclasses)."""

    @property
    def uses_feedback_learning(self):
        return self.method in DFC_METHODS and self.feedback == "trained"

    def sleep_config(self, **own):
        """The :class:`FeedbackConfig` of the sleep phase; ``own``: the trainer's own fields."""
        return FeedbackConfig(alpha_fb=self.alpha_fb, k_p_fb=self.k_p_fb, tau_v_fb=self.tau_v_fb,
                              dt_fb=self.dt_fb, n_steps_fb=self.n_steps_fb, sigma_fb=self.sigma_fb,
                              tau_A_fb=self.tau_A_fb, beta=self.decay_fb, decay="weight",
                              leak=self.leak, **own)

    def replace(self, **changes):
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return {**dataclasses.asdict(self), "sizes": list(self.sizes)}


@dataclass(frozen=True)
class TrainingConfig(RunSettings):
    """All settings of one training run (defaults: the paper's Fig 3, THEORY.md section 8).

    The fields are grouped as below; the :mod:`dfc_theory.training` docstring explains
    the step (``lr``, ``normalize_lr``, ``rule_scale``, ``clip``, ``clip_mode``, ``lam``,
    ``loss``, ``reduction``), the schedule (``fb_*``) and the logs.  Less obvious ones:
    ``dfa_scale`` (std multiplier of the DFA matrices), ``n_steps_ssa`` (the diagnostic
    simulation logged for DFC-SSA), ``q_init_scale`` (of the Xavier-normal initial Q),
    ``sigma_out_fb`` (None: sigma_fb), ``lr_fb_init`` (pre-training rate), ``decay_fb``
    (weight decay beta), ``gn_damping`` (gamma of the GN and min-norm references),
    ``mn_rule`` (signal of the min-norm reference, None: ``rule``), ``log_eig_samples``
    (abscissae on the first that many samples; None: all, as the reference code).
    Invalid settings raise ValueError / TypeError naming the field at construction.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths (n_0, ..., n_L).
    activation, output_activation : str
        Hidden and output nonlinearities (:mod:`dfc_theory.activations`).
    n_train, n_val, n_test, data_seed : int
        Sizes and seed of the default student-teacher data (n_val, n_test may be 0).
    epochs, batch_size : int >= 1
    lr, normalize_lr, rule_scale : float > 0, bool, float > 0
        The step theta <- theta - lr_eff G, G = -rule_scale Delta theta, lr_eff = lr / lambda
        (``normalize_lr``) or lr.
    clip, clip_mode : float > 0 or None, {"per_tensor", "global"}
        Norm clipping of G (None: none).
    lam, loss, reduction : float > 0, str, str
        lambda and the loss of the targets r_L* = r_L^- - lambda dLoss/dr_L
        (:func:`dfc_theory.targets.output_target`).
    method, feedback, fixed_mode, rule : str
        One of FORWARD_METHODS, FEEDBACK_KINDS, FIXED_MODES, RULES.
    dfa_scale : float > 0
    alpha, k_p, tau_v, tau_u, leak : float, float, float, float, str
        The forward controller (:meth:`controller`); Euler needs dt < tau_v.
    dt, n_steps, n_steps_ssa : float, int, int
        Euler step and steps of the forward simulation and of the DFC-SSA diagnostic one.
    fb_pretrain_epochs, fb_epochs_per_epoch, fb_extra_epochs : int >= 0
        The feedback schedule.
    fb_batch_size : int >= 1
    q_init_scale : float > 0
    alpha_fb, k_p_fb, tau_v_fb, dt_fb, n_steps_fb, tau_A_fb, sigma_fb, sigma_out_fb : float
        The sleep phase (:func:`feedback_config`; n_steps_fb an int, tau_A_fb and
        sigma_out_fb may be None), as :class:`FeedbackConfig`'s fields.
    lr_fb_init, lr_fb, decay_fb : float
        Pre-training and in-training feedback rates, weight decay beta.
    gn_damping, mn_rule : float >= 0, str or None
    log_batches, log_eig_samples : "first", "all" or int >= 1, int or None
        Which batches are logged (every k-th for an int), and on how many samples.

    Examples
    --------
    >>> from dfc_theory.training import TrainingConfig
    >>> c = TrainingConfig(sizes=(3, 2), epochs=1)
    >>> c.lr / c.lam, c.controller().k_p, c.replace(n_train=10).n_train
    (1.0, 1.5, 10)
    >>> TrainingConfig(method="sgd")
    Traceback (most recent call last):
    ...
    ValueError: method: ...
    """

    # network and data
    sizes: tuple = (15, 10, 10, 5)
    activation: str = "tanh"
    output_activation: str = "linear"
    n_train: int = 5000
    n_val: int = 1000
    n_test: int = 1000
    data_seed: int = 42
    # optimisation
    epochs: int = 300
    batch_size: int = 128
    lr: float = 0.05
    normalize_lr: bool = True
    rule_scale: float = 2.0
    clip: Optional[float] = 1.0
    clip_mode: str = "per_tensor"
    lam: float = 0.05
    loss: str = "mse"
    reduction: str = "mean"
    # method
    method: str = "dfc"
    feedback: str = "trained"
    fixed_mode: str = "initial"
    rule: str = "nonlinear"
    dfa_scale: float = 1.0
    # forward controller
    alpha: float = 0.0015
    k_p: float = 1.5
    tau_v: float = 0.2
    tau_u: float = 1.0
    leak: str = "total"
    dt: float = 0.005
    n_steps: int = 1000
    n_steps_ssa: int = 500
    # feedback learning
    fb_pretrain_epochs: int = 50
    fb_epochs_per_epoch: int = 1
    fb_extra_epochs: int = 2
    fb_batch_size: int = 128
    q_init_scale: float = 1.0
    alpha_fb: float = 0.25
    k_p_fb: float = 0.1
    tau_v_fb: float = 0.01
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    tau_A_fb: Optional[float] = 0.3
    sigma_fb: float = 0.01
    sigma_out_fb: Optional[float] = None
    lr_fb_init: float = 0.1
    lr_fb: float = 0.002
    decay_fb: float = 0.025
    # logging
    gn_damping: float = 0.1
    mn_rule: Optional[str] = None
    log_batches: object = "first"
    log_eig_samples: Optional[int] = None

    def __post_init__(self):
        check_sizes(self.sizes)
        for name, choices in (("method", FORWARD_METHODS), ("feedback", FEEDBACK_KINDS),
                              ("fixed_mode", FIXED_MODES), ("rule", RULES),
                              ("clip_mode", ("per_tensor", "global"))):
            check_choice(getattr(self, name), name, choices)
        if self.mn_rule is not None:
            check_choice(self.mn_rule, "mn_rule", RULES)
        for name in ("epochs", "batch_size", "n_train", "n_steps", "n_steps_ssa",
                     "fb_batch_size", "n_steps_fb"):
            check_int(getattr(self, name), name)
        for name in ("fb_pretrain_epochs", "fb_epochs_per_epoch", "fb_extra_epochs",
                     "n_val", "n_test"):
            check_int(getattr(self, name), name, low=0)
        for name in ("lr", "rule_scale", "lr_fb", "lr_fb_init", "lam", "clip", "dfa_scale",
                     "q_init_scale"):  # > 0 (clip: or None)
            check_scalar(getattr(self, name), name, low=0.0, low_inclusive=False,
                         optional=name == "clip")
        for name in ("gn_damping", "decay_fb", "sigma_out_fb"):  # >= 0 (decay_fb: beta)
            check_scalar(getattr(self, name), name, low=0.0, optional=name == "sigma_out_fb")
        # the controller and the sleep phase (Euler's dt < tau_v too) up front, so that a
        # long run does not fail after its pre-training
        self.controller()
        if self.method in DFC_METHODS and self.dt >= self.tau_v > 0:
            raise ValueError(f"dt: forward Euler needs dt < tau_v (the time-constant ratio) "
                             f"= {self.tau_v}, got dt={self.dt}")
        feedback_config(self)
        if self.log_eig_samples is not None:
            check_int(self.log_eig_samples, "log_eig_samples")
        lb = self.log_batches
        if not (lb in ("first", "all") or (isinstance(lb, int) and not isinstance(lb, bool)
                                           and lb >= 1)):
            raise ValueError(f"log_batches: expected 'first', 'all' or a positive integer, "
                             f"got {lb!r}")

    def controller(self) -> Controller:
        """The forward-phase controller."""
        return Controller(alpha=self.alpha, k_p=self.k_p, tau_v=self.tau_v, tau_u=self.tau_u,
                          leak=self.leak)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["sizes"] = tuple(d["sizes"])
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"config: unknown settings {unknown}")
        return cls(**d)


def feedback_config(config: TrainingConfig):
    """The :class:`dfc_theory.feedback_learning.FeedbackConfig` of a training config.

    Parameters
    ----------
    config : TrainingConfig

    Returns
    -------
    FeedbackConfig
        The ``*_fb`` fields, tau_u_fb = tau_u, sigma_out = ``sigma_out_fb``, beta =
        ``decay_fb`` (weight decay), the config's leak, and ``lr_fb = lr_fb_init`` (the
        pre-training rate; the loop replaces it by ``lr_fb`` during training).

    Examples
    --------
    >>> from dfc_theory.training import TrainingConfig, feedback_config
    >>> c = TrainingConfig(lr_fb_init=0.3, decay_fb=0.01)
    >>> f = feedback_config(c)
    >>> f.lr_fb, f.beta, f.decay, f.alpha_fb == c.alpha_fb, f.tau_u_fb == c.tau_u
    (0.3, 0.01, 'weight', True, True)
    """
    return config.sleep_config(tau_u_fb=config.tau_u, sigma_out=config.sigma_out_fb,
                               lr_fb=config.lr_fb_init)
