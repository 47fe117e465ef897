"""Controller parameters of a DFC system (THEORY.md section 2).

The PI convention ``leak`` differs between the paper and its reference code: ``"integral"``
(the paper) u = u_int + k_p e, tau_u du_int/dt = e - alpha u_int, at rest e = alpha_tilde u
with alpha_tilde = alpha / (1 + alpha k_p); ``"total"`` (the reference code)
tau_u du/dt = e + k_p tau_u de/dt - alpha u, at rest e = alpha u.  Both are pure leaky
integral control when k_p = 0.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from ._validation import check_choice, check_scalar

__all__ = ["Controller", "LEAKS"]

LEAKS = ("integral", "total")


@dataclass(frozen=True)
class Controller:
    """PI feedback controller and the time constants of the coupled dynamics.

    Parameters
    ----------
    alpha : float >= 0
        Leak of the controller.
    k_p : float >= 0
        Proportional gain.
    tau_v, tau_u : float >= 0, float > 0
        Somatic (0: the instantaneous system) and controller time constants (the reference
        code's time unit; its ``ratio`` is tau_v / tau_u).
    leak : {"integral", "total"}
        Which part of the control signal the leak acts on (module docstring).
    tau_A : float > 0 or None
        Apical time constant of the Euler scheme (None: instantaneous, tau_A = dt).
    sigma : float >= 0
        Standard deviation of the apical noise (Euler-Maruyama), 0 for none.

    Examples
    --------
    >>> from dfc_theory import Controller
    >>> c = Controller(alpha=0.5, k_p=2.0)         # the paper's "integral" leak
    >>> c.alpha_eff, c.replace(leak="total").alpha_eff  # alpha / (1 + alpha k_p), alpha
    (0.25, 0.5)
    """

    alpha: float
    k_p: float = 0.0
    tau_v: float = 0.2
    tau_u: float = 1.0
    leak: str = "integral"
    tau_A: Optional[float] = None
    sigma: float = 0.0

    def __post_init__(self):
        for name in ("alpha", "k_p", "tau_v", "sigma", "tau_u", "tau_A"):
            value = check_scalar(getattr(self, name), name, low=0.0, optional=name == "tau_A",
                                 low_inclusive=name not in ("tau_u", "tau_A"))  # both > 0
            object.__setattr__(self, name, value)
        check_choice(self.leak, "leak", LEAKS)

    @property
    def alpha_eff(self) -> float:
        """The leak at rest, e_ss = alpha_eff u_ss: alpha_tilde or alpha (module docstring)."""
        if self.leak == "integral":
            return self.alpha / (1.0 + self.alpha * self.k_p)
        return self.alpha

    @property
    def ratio(self) -> float:
        """tau_v / tau_u (the reference code's ``time_constant_ratio``)."""
        return self.tau_v / self.tau_u

    @property
    def instantaneous(self) -> bool:
        """True for the instantaneous system tau_v = 0."""
        return self.tau_v == 0.0

    def replace(self, **changes) -> "Controller":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)
