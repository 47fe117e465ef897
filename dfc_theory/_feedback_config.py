"""Settings of the sleep phase and of the feedback learning rule (THEORY.md sections 6
and 8): a small dependency-free module, so that code needing only the settings (the torch
trainer, figure presets) does not import the rule, its theory or SciPy."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ._controller import LEAKS, Controller
from ._validation import check_choice, check_int, check_scalar

__all__ = ["FeedbackConfig", "DECAYS"]

DECAYS = ("weight", "homeostatic")
_AT_LEAST_ZERO = ("alpha_fb", "k_p_fb", "tau_v_fb", "sigma_out", "beta")


@dataclass(frozen=True)
class FeedbackConfig:
    """Settings of the sleep phase and of the feedback learning rule.

    Defaults are the feedback settings of the paper's Fig 1D (THEORY.md section 8) with
    the reference code's "total" leak; :meth:`ideal` gives the setting of our closed form.

    Parameters
    ----------
    alpha_fb, k_p_fb : float >= 0
        Leak and proportional gain of the sleep-phase controller.
    tau_v_fb, tau_u_fb, tau_A_fb : float >= 0, float > 0, float > 0 or None
        As tau_v, tau_u, tau_A of :class:`Controller` (``ratio_fb`` is tau_v_fb, tau_u_fb = 1).
    dt_fb, n_steps_fb : float > 0, int >= 2
        Euler step (dt_fb < tau_v_fb unless 0, dt_fb <= tau_A_fb) and simulated steps K.
    sigma_fb, sigma_out : float > 0, float >= 0 or None
        Apical noise std in the hidden layers (the rule is scaled by 1 / sigma_fb^2) and in
        the output layer (None: sigma_fb; else its block scales by (sigma_out / sigma_fb)^2).
    lr_fb : float > 0
        Learning rate of :func:`train_feedback`.
    beta, decay, homeostatic_C : float >= 0, {"weight", "homeostatic"}, float > 0 or None
        decay(Q) = beta Q (weight decay), or beta (||Q||_F^2 - C) Q with C = homeostatic_C.
    leak : {"integral", "total"}
        PI convention (THEORY.md section 2); "total" is the reference code's.
    proactive, instantaneous_transmission : bool
        Euler options of :func:`dfc_theory.simulate`.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import FeedbackConfig
    >>> cfg = FeedbackConfig()
    >>> cfg.horizon, cfg.ratio_fb                      # T = 50 * 0.002, tau_v_fb / tau_u_fb
    (0.1, 0.01)
    >>> hom = cfg.replace(decay="homeostatic", homeostatic_C=1.0, beta=0.5)
    >>> hom.decay_term(np.ones((2, 2)))                # beta (||Q||_F^2 - C) Q = 0.5 (4 - 1) Q
    array([[1.5, 1.5],
           [1.5, 1.5]])
    >>> cfg.replace(dt_fb=0.02)
    Traceback (most recent call last):
    ...
    ValueError: dt_fb: forward Euler needs dt_fb < tau_v_fb = 0.01 ...
    """

    alpha_fb: float = 0.25
    k_p_fb: float = 0.1
    tau_v_fb: float = 0.01
    tau_u_fb: float = 1.0
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    sigma_fb: float = 0.01
    sigma_out: Optional[float] = None
    tau_A_fb: Optional[float] = 0.3
    lr_fb: float = 0.1
    beta: float = 0.025
    decay: str = "weight"
    homeostatic_C: Optional[float] = None
    leak: str = "total"
    proactive: bool = False
    instantaneous_transmission: bool = True

    def __post_init__(self):
        s = object.__setattr__
        for name in _AT_LEAST_ZERO + ("tau_u_fb", "dt_fb", "sigma_fb", "lr_fb", "tau_A_fb"):
            s(self, name, check_scalar(getattr(self, name), name, low=0.0,
                                       low_inclusive=name in _AT_LEAST_ZERO,
                                       optional=name in ("sigma_out", "tau_A_fb")))
        # the rule averages K - 1 lagged pairs: it needs K >= 2
        s(self, "n_steps_fb", check_int(self.n_steps_fb, "n_steps_fb", low=2))
        if self.tau_A_fb is not None and self.dt_fb > self.tau_A_fb:
            raise ValueError(f"dt_fb: must be <= tau_A_fb = {self.tau_A_fb}, got {self.dt_fb}")
        if self.tau_v_fb > 0 and self.dt_fb >= self.tau_v_fb:
            raise ValueError(f"dt_fb: forward Euler needs dt_fb < tau_v_fb = {self.tau_v_fb} "
                             f"(or tau_v_fb = 0, the instantaneous system), got {self.dt_fb}")
        check_choice(self.decay, "decay", DECAYS)
        if self.decay == "homeostatic":
            if self.homeostatic_C is None:
                raise ValueError("homeostatic_C: required (C > 0) for decay='homeostatic'")
            s(self, "homeostatic_C", check_scalar(self.homeostatic_C, "homeostatic_C",
                                                  low=0.0, low_inclusive=False))
        check_choice(self.leak, "leak", LEAKS)
        if self.tau_v_fb == 0 and not self.instantaneous_transmission:
            raise ValueError("instantaneous_transmission: the instantaneous system "
                             "(tau_v_fb = 0) needs instantaneous transmission")
        if self.tau_v_fb == 0 and self.leak == "integral" and self.k_p_fb > 0:
            raise ValueError("leak: the instantaneous system with k_p_fb > 0 needs "
                             "leak='total' (u = u_int + k_p e(u) is implicit otherwise)")

    @classmethod
    def ideal(cls, alpha_fb, beta, dt_fb=0.01, n_steps_fb=2000, sigma_fb=0.01, lr_fb=0.1):
        """The setting of our closed form (e.g. ``FeedbackConfig.ideal(1.0, 0.1).horizon``
        is 20.0): instantaneous network (tau_v = 0), k_p = 0,
        tau_u = 1, instantaneous apical compartment, uniform white noise, weight decay."""
        return cls(alpha_fb=alpha_fb, k_p_fb=0.0, tau_v_fb=0.0, tau_u_fb=1.0, dt_fb=dt_fb,
                   n_steps_fb=n_steps_fb, sigma_fb=sigma_fb, sigma_out=None, tau_A_fb=None,
                   lr_fb=lr_fb, beta=beta, decay="weight", leak="total")

    @property
    def ratio_fb(self):
        """tau_v_fb / tau_u_fb (the reference code's ``time_constant_ratio_fb``)."""
        return self.tau_v_fb / self.tau_u_fb

    @property
    def horizon(self):
        """Simulated time T = n_steps_fb * dt_fb."""
        return self.n_steps_fb * self.dt_fb

    def controller(self) -> Controller:
        """The sleep-phase :class:`Controller` (noise sigma_fb)."""
        return Controller(alpha=self.alpha_fb, k_p=self.k_p_fb, tau_v=self.tau_v_fb,
                          tau_u=self.tau_u_fb, leak=self.leak, tau_A=self.tau_A_fb,
                          sigma=self.sigma_fb)

    def decay_term(self, Q):
        """decay(Q): beta Q, or beta (||Q||_F^2 - C) Q for the homeostatic variant (Q an
        array or tensor)."""
        if self.decay == "weight":
            return self.beta * Q
        return self.beta * (float((Q * Q).sum()) - self.homeostatic_C) * Q

    def replace(self, **changes) -> "FeedbackConfig":
        """A validated copy with some fields changed."""
        return replace(self, **changes)
