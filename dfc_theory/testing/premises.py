"""Named premises of the paper's claims, as predicates on a draw (THEORY.md sections 3-5).

One set of predicates serves both the verification sweeps (``python -m verification``: a
draw that violates a claim's premise is excluded under the premise's name and counted) and
the public Hypothesis strategies of :mod:`dfc_theory.testing.strategies` (which promise that
their draws satisfy the premises they were asked for).  Nothing here imports Hypothesis.

A :class:`Draw` is one system, a batch of inputs and their output targets.  A premise holds
for a draw when it holds at **every sample** of its batch.  Each predicate returns a
:class:`PremiseOutcome` (``holds``, the worst ``value`` over the batch, and what it is).

Premises (see :data:`PREMISES`):

* ``newton_converged``: the exact steady state (Newton in u, THEORY.md section 3) exists:
  ||F(u)|| <= tol max(1, ||r_L*||) with F(u) = alpha_tilde u - r_L* + r_L(u).
* ``stable``: the full linearised system of the draw's own controller at that steady state
  (``A_system`` of :func:`dfc_theory.stability.system_matrices`) has spectral abscissa < 0.
* ``condition2``: Condition-2 ratio ||P_J Q||_F / ||Q||_F >= 1 - 1e-8 at the feedforward J.
* ``condition3``: every eigenvalue of J_ss Q has real part > -alpha (the paper's statement,
  at the exact steady state).
* ``condition3_alpha_tilde``: the same with alpha_tilde = alpha / (1 + alpha k_p) (the static
  condition of the "integral" leak; equal to ``condition3`` for "total" or k_p = 0).
* ``full_row_rank``: J (n_L x N) at the feedforward state has full row rank, with
  cond(J J^T) <= :data:`COND_MAX` (so J^+ and the Gauss-Newton references are well defined).
* ``reference_euler_stable``: the linearised reference Euler scheme (instantaneous system,
  step ``dt``) has spectral radius < 1 (:func:`dfc_theory.stability.reference_euler_matrix`).
* ``stable_initial``: the dynamics linearised at the initial state [v^-; s_0]
  (:meth:`dfc_theory.DFCSystem.linearise`) have spectral abscissa < 0 (no steady state is
  solved: this is the premise of the false claim "stable at the start implies a steady
  state exists").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

# public names only (the core's implementation modules are private and may move)
from .. import DFCSystem, SteadyState, steady_state
from ..metrics import condition2_ratio
from ..stability import reference_euler_matrix, spectral_abscissa, spectral_radius, system_matrices

__all__ = ["Draw", "PremiseOutcome", "Premise", "PREMISES", "COND_MAX", "CONDITION2_TOL",
           "check_premises", "Sweep"]

#: largest cond(J J^T) for which J counts as of full row rank (relative rounding of the
#: pseudoinverse ~ cond * 1e-16, so identities checked at 1e-10 keep 4 digits of margin)
COND_MAX = 1e6
#: Condition 2 holds when the ratio ||P_J Q|| / ||Q|| is 1 up to rounding of the projector
CONDITION2_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class Draw:
    """One random draw of a claim's premise: a DFC system, inputs and output targets.

    Attributes
    ----------
    system : DFCSystem
    x : (B, n_0) inputs.
    target : (B, n_L) output targets r_L*.
    label : short description for reports (e.g. "15-10-10-5 tanh, Q = J^T M").
    meta : free-form facts about the draw (sizes, seeds, family of Q, ...).
    """

    system: DFCSystem
    x: np.ndarray
    target: np.ndarray
    label: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.system, DFCSystem):
            raise TypeError(f"system: expected a dfc_theory.DFCSystem, "
                            f"got {type(self.system).__name__}")
        x2, t2, _ = self.system.prepare(self.x, self.target)
        object.__setattr__(self, "x", x2)
        object.__setattr__(self, "target", t2)

    @property
    def network(self):
        return self.system.network

    @property
    def controller(self):
        return self.system.controller

    @property
    def Q(self):
        return self.system.Q

    @cached_property
    def exact(self) -> SteadyState:
        """The exact steady state (Newton in u), computed once per draw."""
        return steady_state(self.system, self.x, self.target, method="newton")

    @cached_property
    def jacobian(self) -> np.ndarray:
        """J = d r_L / d v at the feedforward state, (B, n_L, N)."""
        return self.network.jacobian(self.x)

    @cached_property
    def jacobian_ss(self) -> np.ndarray:
        """J_ss at the exact steady state, (B, n_L, N) (requires ``newton_converged``)."""
        return self.network.jacobian(self.x, self.exact.v)

    @cached_property
    def min_re_eig_ss(self) -> np.ndarray:
        """min_i Re eig(J_ss Q) per sample, (B,): Condition 3 holds where it exceeds -alpha
        (requires ``newton_converged``)."""
        return np.linalg.eigvals(self.jacobian_ss @ self.Q).real.min(axis=-1)

    @cached_property
    def abscissa(self) -> np.ndarray:
        """Spectral abscissa of ``A_system`` at the exact steady state, (B,)."""
        A = system_matrices(self.system, self.x, self.target, at="steady_state")["A_system"]
        return np.atleast_1d(spectral_abscissa(A))

    def sizes_text(self):
        """'15-10-10-5 tanh/linear' for reports."""
        net = self.network
        return "-".join(map(str, net.sizes)) + f" {net.activation}/{net.output_activation}"

    def cond_jjt(self):
        """max over the batch of cond(J J^T) at the feedforward state."""
        J = self.jacobian
        s = np.linalg.svd(J, compute_uv=False)
        with np.errstate(divide="ignore"):
            return float(np.max((s[:, 0] / s[:, -1]) ** 2))


@dataclass(frozen=True)
class PremiseOutcome:
    """Whether a premise holds for a whole draw, and its worst value over the batch."""

    holds: bool
    value: float
    what: str

    def __bool__(self):
        return bool(self.holds)


@dataclass(frozen=True)
class Premise:
    """A named premise: ``check(draw, **params) -> PremiseOutcome``."""

    name: str
    statement: str
    check: Callable

    def __call__(self, draw, **params):
        return self.check(draw, **params)


def _newton_converged(draw):
    ss = draw.exact
    return PremiseOutcome(bool(np.all(ss.converged)), float(np.max(ss.residual)),
                          "max Newton residual ||F(u)||")


def _stable(draw, margin=0.0):
    if not _newton_converged(draw):
        return PremiseOutcome(False, float("nan"), "no exact steady state to linearise at")
    a = float(np.max(draw.abscissa))
    return PremiseOutcome(a < -margin, a, "max spectral abscissa of A_system at the steady state")


def _condition2(draw, tol=CONDITION2_TOL):
    Q = np.broadcast_to(draw.Q, (draw.x.shape[0],) + draw.Q.shape)
    ratio = condition2_ratio(draw.jacobian, Q)
    worst = float(np.min(ratio))
    return PremiseOutcome(worst >= 1.0 - tol, worst, "min Condition-2 ratio ||P_J Q|| / ||Q||")


def _condition3(draw, use_alpha_tilde=False):
    if not _newton_converged(draw):
        return PremiseOutcome(False, float("nan"), "no exact steady state for J_ss")
    c = draw.controller
    alpha = c.alpha_eff if use_alpha_tilde else c.alpha
    margin = float(np.min(draw.min_re_eig_ss + alpha))
    name = "alpha_tilde" if use_alpha_tilde else "alpha"
    return PremiseOutcome(margin > 0, margin, f"min_i Re eig(J_ss Q) + {name}")


def _full_row_rank(draw, cond_max=COND_MAX):
    c = draw.cond_jjt()
    return PremiseOutcome(bool(np.isfinite(c) and c <= cond_max), c,
                          "max cond(J J^T) at the feedforward state")


def _reference_euler_stable(draw, dt):
    c = draw.controller
    if not c.instantaneous or c.tau_A is not None:
        raise ValueError("reference_euler_stable: defined for the instantaneous system "
                         "(tau_v = 0, tau_A = None); simulate finite tau_v instead")
    T = reference_euler_matrix(draw.system, draw.x, dt, target=draw.target, at="steady_state")
    rho = float(np.max(np.atleast_1d(spectral_radius(T))))
    return PremiseOutcome(rho < 1.0, rho, f"spectral radius of the reference Euler map, dt={dt}")


def _stable_initial(draw, margin=0.0):
    A = draw.system.linearise(draw.x, draw.target).A
    a = float(np.max(np.atleast_1d(spectral_abscissa(A))))
    return PremiseOutcome(a < -margin, a, "max spectral abscissa of the dynamics linearised "
                          "at the initial state")


PREMISES = {p.name: p for p in (
    Premise("newton_converged", "the exact steady state exists (Newton in u converges)",
            _newton_converged),
    Premise("stable", "the full linearised system at the exact steady state is Hurwitz",
            _stable),
    Premise("condition2", "col(Q) = row(J): Condition-2 ratio 1 at the feedforward state",
            _condition2),
    Premise("condition3", "Re eig(J_ss Q) > -alpha at the exact steady state (paper)",
            _condition3),
    Premise("condition3_alpha_tilde",
            "Re eig(J_ss Q) > -alpha_tilde at the exact steady state (integral leak, k_p > 0)",
            lambda d: _condition3(d, use_alpha_tilde=True)),
    Premise("full_row_rank", f"J has full row rank with cond(J J^T) <= {COND_MAX:g}",
            _full_row_rank),
    Premise("reference_euler_stable",
            "the linearised reference Euler scheme (tau_v = 0) is stable at step dt",
            _reference_euler_stable),
    Premise("stable_initial",
            "the dynamics linearised at the initial state [v^-; s_0] are Hurwitz",
            _stable_initial),
)}


def check_premises(draw, names, params=None):
    """Evaluate premises in order; stop at the first that fails.

    Parameters
    ----------
    draw : Draw
    names : sequence of premise names (keys of :data:`PREMISES`)
    params : dict name -> keyword arguments of that premise (e.g. ``{"reference_euler_stable":
        {"dt": 0.01}}``)

    Returns
    -------
    (failed, outcomes): the name of the first premise that does not hold (``None`` when all
    hold) and a dict name -> PremiseOutcome of those evaluated.
    """
    params = params or {}
    outcomes = {}
    for name in names:
        if name not in PREMISES:
            raise ValueError(f"names: unknown premise {name!r}; expected one of "
                             f"{sorted(PREMISES)}")
        out = PREMISES[name](draw, **params.get(name, {}))
        outcomes[name] = out
        if not out.holds:
            return name, outcomes
    return None, outcomes


class Sweep:
    """Bookkeeping of a sweep over random draws behind named premise filters.

    ``judge(draw)`` evaluates the premises in order and returns True when the draw is to be
    judged; otherwise the first failing premise's name is counted as the exclusion reason.
    :meth:`counts` gives ``{"tried": n, "judged": n, "excluded": {reason: count}}``; nothing
    is dropped silently.

    Examples
    --------
    >>> sweep = Sweep(["newton_converged", "stable"])
    >>> sweep.counts()
    {'tried': 0, 'judged': 0, 'excluded': {}}
    """

    def __init__(self, premises, params=None):
        for name in premises:
            if name not in PREMISES:
                raise ValueError(f"premises: unknown premise {name!r}; expected one of "
                                 f"{sorted(PREMISES)}")
        self.premises = tuple(premises)
        self.params = dict(params or {})
        self.tried = 0
        self.judged = 0
        self.excluded = {}

    def judge(self, draw, extra=()):
        """True when every premise (and every ``(name, holds)`` pair in ``extra``) holds."""
        self.tried += 1
        failed, _ = check_premises(draw, self.premises, self.params)
        if failed is None:
            for name, holds in extra:
                if not holds:
                    failed = name
                    break
        if failed is not None:
            self.exclude(failed, counted=True)
            return False
        self.judged += 1
        return True

    def exclude(self, reason, counted=False):
        """Count a draw excluded for ``reason`` (``counted``: already counted as tried)."""
        if not counted:
            self.tried += 1
        self.excluded[reason] = self.excluded.get(reason, 0) + 1

    def counts(self):
        return {"tried": self.tried, "judged": self.judged, "excluded": dict(self.excluded)}


# ---------------------------------------------------------------------------- appended
# Premises added for the verification sweeps (issue 9).  Each is a predicate on a Draw like
# those above; ``PREMISES`` gains their entries below.
#
# * ``settles``: the full linearised system at the exact steady state decays by ``factor``
#   within ``horizon``: exp(a * horizon) <= factor, a its spectral abscissa (a simulation of
#   that length ends at rest up to the transient's non-normal amplification).
# * ``boundary_layer_stable``: Tikhonov's condition for the tau_v / tau_u -> 0 limit: the
#   fast subsystem (tau_v = 1, tau_u -> infinity, at the steady state) is Hurwitz apart from
#   its n_L conserved (controller) directions.  Holds trivially for tau_v = 0.
# * ``condition1``: equal layer norms ||r_0|| = ... = ||r_{L-1}|| up to ``tol`` (std/mean).
# * ``damped_family_spread``: angle(J^T, J^+) >= ``min_angle`` degrees at the feedforward
#   state, so that "Q is proportional to a damped pseudoinverse J^T (J J^T + gamma I)^{-1}"
#   (a family spanning J^T ... J^+) is not vacuous.
# * ``dominant_mode_separated``: the slowest mode of the full linearised system is separated
#   from the next distinct one by at least ``ratio`` times its own decay rate |a| (so that a
#   measured decay rate isolates it within a simulated horizon).

def _settles(draw, horizon, factor=1e-10):
    st = _stable(draw)
    if not st:
        return PremiseOutcome(False, st.value, "not stable: " + st.what)
    a = st.value
    return PremiseOutcome(bool(a * horizon <= np.log(factor)), float(np.exp(a * horizon)),
                          f"transient factor exp(a T) at T = {horizon:g} (needs <= {factor:g})")


def _boundary_layer_stable(draw):
    c = draw.controller
    if c.instantaneous:
        return PremiseOutcome(True, float("-inf"), "tau_v = 0: no fast subsystem")
    if not _newton_converged(draw):
        return PremiseOutcome(False, float("nan"), "no exact steady state to linearise at")
    fast = draw.system.replace(controller=c.replace(tau_v=1.0, tau_u=1e12))
    A = np.asarray(system_matrices(fast, draw.x, draw.target, at="steady_state")["A_system"])
    A = A.reshape((-1,) + A.shape[-2:])
    worst = -np.inf
    nL = draw.network.n_out
    for Ab in A:
        lam = np.linalg.eigvals(Ab)
        fast_lam = lam[np.argsort(np.abs(lam))][nL:]
        worst = max(worst, float(fast_lam.real.max()) if fast_lam.size else -np.inf)
    return PremiseOutcome(worst < 0, worst, "max Re of the fast subsystem's eigenvalues "
                          "(tau_v = 1, tau_u -> inf)")


def _condition1(draw, tol=1e-8):
    from ..metrics import condition1_deviation
    dev = float(np.max(condition1_deviation(draw.network, draw.x)))
    return PremiseOutcome(dev <= tol, dev, "max Condition-1 deviation std_i ||r_i|| / mean")


def _damped_family_spread(draw, min_angle=40.0):
    J = draw.jacobian
    Jt = np.swapaxes(J, -1, -2)
    P = np.linalg.pinv(J)
    num = np.sum(Jt * P, axis=(-2, -1))
    den = np.linalg.norm(Jt, axis=(-2, -1)) * np.linalg.norm(P, axis=(-2, -1))
    ang = np.degrees(np.arccos(np.clip(num / den, -1.0, 1.0)))
    worst = float(np.min(ang))
    return PremiseOutcome(worst >= min_angle, worst, "min angle(J^T, J^+) in degrees")


def _dominant_mode_separated(draw, ratio=1.0):
    st = _stable(draw)
    if not st:
        return PremiseOutcome(False, st.value, "not stable: " + st.what)
    A = system_matrices(draw.system, draw.x, draw.target, at="steady_state")["A_system"]
    A = np.asarray(A).reshape((-1,) + np.shape(A)[-2:])
    worst = np.inf
    for Ab in A:
        re = np.sort(np.unique(np.round(np.linalg.eigvals(Ab).real, 10)))[::-1]
        a = re[0]
        gap = re[0] - re[1] if re.size > 1 else np.inf
        worst = min(worst, float(gap / abs(a)))
    return PremiseOutcome(worst >= ratio, worst,
                          "min (gap to the next distinct Re eig) / |spectral abscissa|")


PREMISES.update({p.name: p for p in (
    Premise("settles", "the linearised transient decays by `factor` within `horizon`",
            _settles),
    Premise("boundary_layer_stable",
            "the fast (tau_v -> 0) subsystem at the steady state is Hurwitz (Tikhonov)",
            _boundary_layer_stable),
    Premise("condition1", "equal layer norms ||r_0|| = ... = ||r_{L-1}|| (Condition 1)",
            _condition1),
    Premise("damped_family_spread",
            "angle(J^T, J^+) >= min_angle: the damped-pseudoinverse family is not degenerate",
            _damped_family_spread),
    Premise("dominant_mode_separated",
            "the slowest linearised mode is separated from the next by >= ratio |a|",
            _dominant_mode_separated),
)})
