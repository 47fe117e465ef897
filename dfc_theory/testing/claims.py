"""The paper's claims (and known false extrapolations of them) as predicates on a draw.

A :class:`Claim` has a premise (a Hypothesis strategy from :mod:`.strategies`, plus named
premise predicates of :mod:`.premises` that a draw must pass to be judged) and a check:
``claim(draw)`` returns a :class:`Verdict` -- whether the claim holds for this draw, the
measured value, the predicted value and what the measured value is.  :func:`search` runs
Hypothesis over the premise and returns the minimal (shrunk) counterexample, if any; it is
what ``python -m verification search CLAIM`` calls.

Every measurement comes from the exact steady state (Newton in u), the simulated dynamics
or the full linearised system, never from the formula under test, and every tolerance is
derived (see each check's docstring).  "Limit" claims (alpha, lambda -> 0) are judged on a
draw by the rate at which the error vanishes between two or three scales of the small
parameter, in units that make the draw's own scales irrelevant (Delta v for lambda, the
smallest singular value of J Q for alpha).

``expected`` says what the project believes: True for results of the paper (or of this
project, marked ``ours``), False for known false extrapolations, for which the search is
expected to find a counterexample.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import DFCSystem, angle, rescale_to_condition1, rule_at_state, simulate, steady_state
from ..gauss_newton import bp_update, gn_update
from ..metrics import layer_norms
from ..stability import simulated_verdict
from .premises import PREMISES, Draw, Sweep, check_premises
from .strategies import SMOOTH_ACTIVATIONS, systems

__all__ = ["Claim", "Verdict", "NotApplicable", "CLAIMS", "get_claim", "SearchResult", "search",
           "NEWTON_TOL"]

#: Newton tolerance of the claims' own steady states (||F(u)|| <= tol max(1, ||r_L*||));
#: F is evaluated to ~1e-16 ||r_L*||, so 1e-14 is reachable and keeps rounding far below
#: the O(lambda^2) and O(alpha) signals the limit claims measure
NEWTON_TOL = 1e-14
#: smallest angle (degrees) resolved by arccos in float64: sqrt(2 eps) rad = 1.2e-6 deg
ANGLE_FLOOR = 1e-5


class NotApplicable(Exception):
    """Raised by a check when a draw does not meet a premise the check itself tests (the
    search counts the draw as excluded under ``reason``, never as a counterexample)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verdict:
    """Outcome of a claim on one draw: ``holds``, the ``measured`` value (a float), the
    ``predicted`` value or rule (text), ``what`` the measured value is, and ``details``."""

    holds: bool
    measured: float
    predicted: str
    what: str
    details: dict = field(default_factory=dict)

    def __bool__(self):
        return bool(self.holds)


@dataclass(frozen=True)
class Claim:
    """A named claim: ``claim(draw) -> Verdict``.

    Attributes
    ----------
    name, statement : identifier and one-line statement (THEORY.md notation).
    reference : where it comes from (THEORY.md section, paper result).
    expected : True for a result (of the paper or ours), False for a known false
        extrapolation.
    premise : callable returning the Hypothesis strategy of draws (built lazily).
    check : callable(draw) -> Verdict (may raise :class:`NotApplicable`).
    premises : named premise predicates a draw must pass before it is judged.
    premise_params : keyword arguments of those predicates.
    provenance : "paper", "ours" or "false extrapolation".
    """

    name: str
    statement: str
    reference: str
    expected: bool
    premise: Callable
    check: Callable
    premises: tuple = ("newton_converged",)
    premise_params: dict = field(default_factory=dict)
    provenance: str = "paper"

    def strategy(self):
        """The Hypothesis strategy of the claim's premise."""
        return self.premise()

    def premise_failure(self, draw):
        """Name of the first named premise ``draw`` fails (None when all hold)."""
        return check_premises(draw, self.premises, self.premise_params)[0]

    def __call__(self, draw):
        if not isinstance(draw, Draw):
            raise TypeError(f"draw: expected a dfc_theory.testing.Draw, got "
                            f"{type(draw).__name__}")
        return self.check(draw)


# --------------------------------------------------------------------------- helpers
def _controller_eff(c, alpha_eff):
    """The controller with alpha_tilde (integral leak) or alpha (total) equal to alpha_eff."""
    if c.leak == "integral" and c.k_p:
        if alpha_eff * c.k_p >= 0.5:
            raise NotApplicable("alpha_tilde out of reach for this k_p")
        return c.replace(alpha=alpha_eff / (1.0 - alpha_eff * c.k_p))
    return c.replace(alpha=alpha_eff)


def _directions(draw):
    """Unit error directions d_b: delta_L = target - r_L^- normalised (ones where zero)."""
    d = draw.target - draw.network.forward(draw.x).output
    n = np.linalg.norm(d, axis=1, keepdims=True)
    ones = np.ones_like(d) / np.sqrt(d.shape[1])
    return np.where(n > 0, d / np.where(n > 0, n, 1.0), ones)


def _dv_scaled_targets(system, x, d, eps):
    """Targets r_L^- + delta with delta along d and the linearised Delta v of size eps:
    ||Q (J Q + alpha_tilde I)^{-1} delta|| = eps per sample (the nonlinearity acts on v, so
    this makes 'small lambda' mean the same for every draw)."""
    net = system.network
    G = net.jacobian(x) @ system.Q + system.controller.alpha_eff * np.eye(net.n_out)
    try:
        dv = np.einsum("ij,bj->bi", system.Q, np.linalg.solve(G, d[..., None])[..., 0])
    except np.linalg.LinAlgError:
        raise NotApplicable("alpha_tilde I + J Q singular at the feedforward state") from None
    size = np.linalg.norm(dv, axis=1, keepdims=True)
    if not np.all(size > 0):
        raise NotApplicable("Q (J Q + alpha_tilde I)^{-1} delta_L = 0 (no feedback signal)")
    r_L = net.forward(x).output
    delta = eps * d / size
    # a saturated output layer (tiny J, huge Q) asks for a delta_L that Newton's residual
    # tolerance cannot resolve: u = 0 would pass as converged (found at search seed 31337)
    floor = 1e3 * NEWTON_TOL * np.maximum(1.0, np.linalg.norm(r_L + delta, axis=1))
    if not np.all(np.linalg.norm(delta, axis=1) >= floor):
        raise NotApplicable("||delta_L|| < 1e3 x Newton's tolerance (saturated output layer)")
    return r_L + delta


def _exact(system, x, target):
    ss = steady_state(system, x, target, method="newton", tol=NEWTON_TOL)
    if not np.all(ss.converged):
        raise NotApplicable("newton_converged (at the claim's own targets)")
    return ss


def _smin(A):
    """Smallest singular value over a batch of square matrices."""
    return float(np.min(np.linalg.svd(A, compute_uv=False)[..., -1]))


def _ratio_verdict(small, large, floor, bound, what, predicted, details):
    """Error at the smaller scale against the error at the larger one (both per sample)."""
    small, large = np.atleast_1d(small), np.atleast_1d(large)
    ok = (small <= bound * large) | (small <= floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(large > 0, small / large, np.where(small > 0, np.inf, 0.0))
    details = dict(details, floor=floor, error_large=large.tolist(), error_small=small.tolist())
    return Verdict(bool(np.all(ok)), float(np.max(ratio)), predicted, what, details)


# --------------------------------------------------------------------------- checks
def _lemma1(draw):
    """Lemma 1: u_ssa - u_exact = O(lambda^2).

    With Delta v scaled to eps = 1e-2, 1e-3, 1e-4 along the draw's error direction,
    h(eps) = (u_ssa - u_exact) / eps^2 = -(c_2 + c_3 eps + ...) converges; the check is the
    Cauchy criterion ||h(1e-3) - h(1e-4)|| <= 0.3 ||h(1e-2) - h(1e-3)|| (predicted 0.1 from
    the c_3 term; an O(lambda) error would give 10), or below the rounding floor
    100 tol ||G^{-1}|| max(1, ||r_L*||) / eps^2 of the Newton solution.  The signed vector
    (not its norm) is used, so a vanishing c_2 cannot fake a failure.
    """
    sysm, x = draw.system, draw.x
    d = _directions(draw)
    hs, floors = [], []
    for eps in (1e-2, 1e-3, 1e-4):
        t = _dv_scaled_targets(sysm, x, d, eps)
        ex = _exact(sysm, x, t)
        lin = steady_state(sysm, x, t, method="ssa")
        G = sysm.network.jacobian(x, ex.v) @ sysm.Q + sysm.controller.alpha_eff * np.eye(
            sysm.network.n_out)
        ginv = 1.0 / np.linalg.svd(G, compute_uv=False)[..., -1]
        hs.append((lin.u - ex.u) / eps**2)
        floors.append(100 * NEWTON_TOL * ginv * np.maximum(1, np.linalg.norm(t, axis=1))
                      / eps**2)
    d12 = np.linalg.norm(hs[0] - hs[1], axis=1)
    d23 = np.linalg.norm(hs[1] - hs[2], axis=1)
    return _ratio_verdict(d23, d12, floors[2], 0.3,
                          "||h(1e-3) - h(1e-4)|| / ||h(1e-2) - h(1e-3)||, "
                          "h = (u_ssa - u_exact)/eps^2",
                          "<= 0.3 (0.1 for an O(lambda^2) error; 10 for O(lambda))",
                          {"eps (size of Delta v)": [1e-2, 1e-3, 1e-4]})


def _pinv_limit(draw):
    """Condition 2: Delta v -> J^+ delta_L with error O(alpha).

    alpha_tilde = s 1e-2 and s 1e-3 with s = sigma_min(J Q) (alpha small against the
    feedback loop), Delta v of size 1e-7 (so the O(lambda) relative error of the
    nonlinearity, ~1e-7, stays below the O(alpha) signal, ~1e-3); the relative error at the
    smaller alpha must be <= 0.2 of that at the larger (predicted 0.1), or below 1e-5
    (nonlinearity plus rounding).  Without Condition 2 the error tends to the constant
    ||Q (J Q)^{-1} delta - J^+ delta|| / ||J^+ delta|| (ratio ~1).
    """
    sysm, x = draw.system, draw.x
    J = draw.jacobian
    s = _smin(J @ sysm.Q)
    if not s > 0:
        raise NotApplicable("J Q singular")
    d = _directions(draw)
    errs = []
    for k in (1e-2, 1e-3):
        sk = sysm.replace(controller=_controller_eff(sysm.controller, s * k))
        t = _dv_scaled_targets(sk, x, d, 1e-7)
        delta = t - sysm.network.forward(x).output
        ref = np.einsum("bij,bj->bi", np.linalg.pinv(J), delta)
        ex = _exact(sk, x, t)
        errs.append(np.linalg.norm(ex.delta_v - ref, axis=1) / np.linalg.norm(ref, axis=1))
    return _ratio_verdict(errs[1], errs[0], 1e-5, 0.2,
                          "rel. error of Delta v vs J^+ delta_L at alpha/10 over that at alpha",
                          "<= 0.2 (0.1 for an O(alpha) error)",
                          {"alpha_tilde / sigma_min(JQ)": [1e-2, 1e-3]})


#: layer norm of Theorem 2's draws: ||x|| = ||r_1|| = ... = C1_NORM (reachable by tanh
#: layers without biases whenever W_i r_{i-1} != 0, since ||tanh(c W r)|| sweeps (0, 1) at least)
C1_NORM = 0.5


def _gn_angles(draw, condition1):
    """Angles between the DFC steady-state update (voltage rule, biases included) and the
    Gauss-Newton update J_theta^+ delta_L, at alpha_tilde = eps sigma_min(JQ) and
    delta_L = eps d for eps = 1e-3, 1e-4, for the draw's first input rescaled to norm
    C1_NORM; with ``condition1`` the hidden weights are rescaled to Condition 1
    (:func:`dfc_theory.rescale_to_condition1`) and Q is rebuilt as J^+ (J Q), so that it keeps
    Condition 2 and the spectrum of J Q."""
    net = draw.network
    n0 = np.linalg.norm(draw.x[0])
    if not n0 > 0:
        raise NotApplicable("x = 0 (Condition 1 needs ||x|| > 0)")
    x = C1_NORM * draw.x[:1] / n0
    JQ = net.jacobian(x) @ draw.Q
    if condition1:
        try:
            net = rescale_to_condition1(net, x[0])
        except ValueError:
            raise NotApplicable("Condition 1 unreachable (rescale_to_condition1)") from None
    J = net.jacobian(x)
    if np.linalg.cond(J[0] @ J[0].T) > 1e6:
        raise NotApplicable("full_row_rank")
    Q = np.linalg.pinv(J[0]) @ JQ[0] if condition1 else draw.Q
    if not _smin(J @ Q) > 0:
        raise NotApplicable("J Q singular")
    s = _smin(J @ Q)
    d = _directions(draw)[:1]
    out = []
    for eps in (1e-3, 1e-4):
        sysm = DFCSystem(net, Q, _controller_eff(draw.controller, s * eps))
        delta = eps * d
        ss = _exact(sysm, x, net.forward(x).output + delta)
        upd = rule_at_state(net, x, ss.v, ss.v_ff, rule="voltage", include_bias=True)
        out.append(angle(upd, gn_update(net, x, delta)))
    return np.array(out)


def _theorem2(draw, condition1=True):
    """Theorem 2: under Conditions 1 and 2 (B = 1) the angle between the DFC update and the
    Gauss-Newton update vanishes as alpha, lambda -> 0; all deviations (alpha term,
    r_{i-1,ss} - r_{i-1}^-, nonlinearity of Delta v) are O(eps), so the angle at eps = 1e-4
    must be <= 0.2 of that at 1e-3 (predicted 0.1), or below the arccos resolution."""
    a = _gn_angles(draw, condition1)
    return _ratio_verdict(a[1:], a[:1], ANGLE_FLOOR, 0.2,
                          "angle(DFC, GN) at eps = 1e-4 over the angle at 1e-3",
                          "<= 0.2 (0.1: the angle is O(alpha + lambda))",
                          {"angles [deg]": a.tolist()})


def _prop4(draw, eta=True):
    """Proposition 4: with eta_i = eta / ||r_{i-1}||^2 the steady-state update is within
    90 degrees of -grad_W Loss (weights only, B = 1), as alpha, lambda -> 0: here
    alpha_tilde = 1e-3 sigma_min(JQ) (then delta^T JQ (JQ + alpha I)^{-1} delta >=
    (1 - 1.001e-3) ||delta||^2 > 0) and Delta v of size 1e-4."""
    net, x = draw.network, draw.x[:1]
    norms2 = layer_norms(net, x)[0] ** 2
    if not np.all(norms2 > 0):
        raise NotApplicable("a layer rate r_{i-1} = 0 (eta_i undefined)")
    JQ = draw.jacobian[:1] @ draw.Q
    s = _smin(JQ)
    if not s > 0:
        raise NotApplicable("J Q singular")
    sysm = draw.system.replace(controller=_controller_eff(draw.controller, 1e-3 * s))
    t = _dv_scaled_targets(sysm, x, _directions(draw)[:1], 1e-4)
    ss = _exact(sysm, x, t)
    delta = t - net.forward(x).output
    upd = rule_at_state(net, x, ss.v, ss.v_ff, rule="voltage", include_bias=False)
    if eta:
        upd = upd.scaled(1.0 / norms2)
    neg_grad = bp_update(net, x, delta, include_bias=False)   # -lambda grad_W Loss
    a = angle(upd, neg_grad, with_bias=False)
    return Verdict(bool(a < 90.0), a, "< 90 deg", "angle(update, -grad_W Loss) [deg]",
                   {"layer norms^2": norms2.tolist(), "eta_i": "eta/||r_{i-1}||^2" if eta
                    else "eta (no per-layer rates)"})


def _local(draw, eps_max):
    """The draw with its target moved towards r_L^- (same direction) so that the linearised
    ||Delta v|| <= eps_max: Lyapunov's indirect method is a statement about starts close to
    the rest point, and a lambda-sized start may lie outside its basin of attraction."""
    sysm, x = draw.system, draw.x
    delta = draw.target - sysm.network.forward(x).output
    G = sysm.network.jacobian(x) @ sysm.Q + sysm.controller.alpha_eff * np.eye(delta.shape[1])
    try:
        size = np.linalg.norm(np.einsum("ij,bj->bi", sysm.Q,
                                        np.linalg.solve(G, delta[..., None])[..., 0]), axis=1)
    except np.linalg.LinAlgError:
        raise NotApplicable("alpha_tilde I + J Q singular at the feedforward state") from None
    if np.all(size <= eps_max):
        return draw
    t = _dv_scaled_targets(sysm, x, _directions(draw), eps_max)
    t = np.where((size <= eps_max)[:, None], draw.target, t)
    return Draw(sysm, x, t, draw.label, dict(draw.meta, target_scaled_to=eps_max))


def _prop5_instantaneous(draw):
    """Proposition 5 (tau_v = 0, k_p = 0): started close to the rest point (target along the
    draw's error direction with ||Delta v|| = 1e-3), the simulation (stiff solver) converges to the
    exact steady state iff Condition 3 holds there.  Samples with |min Re eig(J_ss Q) + alpha|
    < 0.02 are marginal and not judged.  Over T = 40 tau_u / |margin| the linearised
    distance changes by e^{-40} (stable: converged means ratio < 1e-2) or grows by e^{40}
    times its (generic, non-zero) component on the unstable modes (unstable: the claim
    predicts no convergence to z_ss, ratio >= 1e-2; the run may saturate or settle
    elsewhere)."""
    d = Draw(draw.system, draw.x, _dv_scaled_targets(draw.system, draw.x, _directions(draw), 1e-3))
    if not PREMISES["newton_converged"](d):
        raise NotApplicable("newton_converged (at the claim's own targets)")
    margins = d.min_re_eig_ss + d.controller.alpha
    if np.min(np.abs(margins)) < 0.02:
        raise NotApplicable("marginal: |Condition-3 margin| < 0.02")
    T = min(40.0 * d.controller.tau_u / float(np.min(np.abs(margins))), 4000.0)
    sv = simulated_verdict(d.system, d.x, d.target, t_end=T, method="ivp",
                           rtol=1e-8, atol=1e-11)
    predicted = margins > 0
    ok = np.where(predicted, sv.converged, ~sv.converged)
    return Verdict(bool(np.all(ok)), float(np.max(sv.ratio)),
                   "< 1e-2 where Condition 3 holds, >= 1e-2 where it fails",
                   "||z(T) - z_ss|| / ||z(0) - z_ss|| (max over the batch)",
                   {"margins": margins.tolist(), "ratios": sv.ratio.tolist(), "T": T,
                    "target": d.target.tolist()})


def _newton_vs_simulation(draw):
    """The exact steady state (Newton) is where the simulated dynamics settle: started close
    to it (target moved so that ||Delta v|| <= 1e-2, :func:`_local`; the draw's stability is
    re-checked there), a stiff simulation (Radau, rtol 1e-8, atol 1e-10) over T = 40 / |a|
    (a the spectral abscissa at the steady state) must end within 1e-5 of its initial
    distance from the Newton state, plus 1e-7 (1 + ||z_ss||) for the integrator's own error
    (predicted e^{-40} ~ 4e-18 times the transient growth: 1e-5 leaves room for non-normal
    transients up to 1e12).  Tighter absolute tolerances (1e-13) made scipy's BDF and LSODA
    stall near the rest point on some draws."""
    d = _local(draw, 1e-2)
    if d is not draw and not PREMISES["stable"](d, margin=0.05):
        raise NotApplicable("stable (margin 0.05) at the moved target")
    a = float(np.max(d.abscissa))
    c = d.controller
    T = 40.0 / abs(a) + 5.0 * c.tau_v
    ss = d.exact
    res = simulate(d.system, d.x, d.target, method="ivp", ivp_method="Radau",
                   dt=T / 4, n_steps=4, record="final", rtol=1e-8, atol=1e-10)
    z_ss = np.concatenate([ss.v, ss.u], axis=1)
    z_T = np.concatenate([res.v_final, res.u_final], axis=1)
    z_0 = np.concatenate([d.network.forward(d.x).v_stacked, np.zeros_like(ss.u)], axis=1)
    d0 = np.linalg.norm(z_0 - z_ss, axis=1)
    dT = np.linalg.norm(z_T - z_ss, axis=1)
    dT = np.where(np.isfinite(dT), dT, np.inf)
    ok = dT <= 1e-5 * d0 + 1e-7 * (1 + np.linalg.norm(z_ss, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(d0 > 0, dT / d0, np.where(dT > 0, np.inf, 0.0))
    return Verdict(bool(np.all(ok)), float(np.max(rel)), "<= 1e-5 (e^{-40} ~ 4e-18)",
                   "||z(T) - z_Newton|| / ||z(0) - z_Newton|| (max over the batch)",
                   {"T": T, "abscissa": a, "distances": dT.tolist(),
                    "target moved to ||Delta v|| = 1e-2": d is not draw})


def _stable(draw):
    """The full linearised system of the draw's controller at the exact steady state is
    Hurwitz (``PREMISES['stable']``)."""
    out = PREMISES["stable"](draw)
    margins = draw.min_re_eig_ss
    c = draw.controller
    return Verdict(out.holds, out.value, "< 0", out.what,
                   {"Condition-3 margin min Re eig(J_ss Q) + alpha": (margins + c.alpha).tolist(),
                    "same with alpha_tilde": (margins + c.alpha_eff).tolist(),
                    "tau_v/tau_u": c.ratio, "k_p": c.k_p, "leak": c.leak})


def _steady_state_exists(draw):
    """Existence of the exact steady state: Newton converges, or else a stiff simulation over
    40 / |a_0| (a_0 the spectral abscissa at the initial state; Radau, rtol 1e-8) settles
    where the steady-state equation F(u) = alpha_tilde u - r_L* + r_L(u) has residual
    <= 1e-6 max(1, ||r_L*||) (a steady state Newton missed).  A simulation that spends 20,000
    evaluations without reaching 40 / |a_0| decides nothing: the draw is excluded."""
    ss = draw.exact
    if np.all(ss.converged):
        return Verdict(True, float(np.max(ss.residual)), "a steady state exists",
                       "max Newton residual ||F(u)||")
    a0 = PREMISES["stable_initial"](draw).value
    T = 40.0 / abs(a0)
    with np.errstate(all="ignore"):
        res = simulate(draw.system, draw.x, draw.target, method="ivp", ivp_method="Radau",
                       dt=T / 4, n_steps=4, record="final", rtol=1e-8, atol=1e-11,
                       max_nfev=20_000)
    if "max_nfev" in str(res.info.get("message", "")):
        raise NotApplicable("undecided: the simulation spent max_nfev = 20,000 evaluations")
    with np.errstate(all="ignore"):
        u = np.where(np.isfinite(res.u_final), res.u_final, 0.0)
        r_L = draw.network.forward(draw.x, delta=u @ draw.Q.T).output
        F = draw.controller.alpha_eff * u - draw.target + r_L
    scale = np.maximum(1, np.linalg.norm(draw.target, axis=1))
    settled = np.all(np.isfinite(res.u_final), axis=1) & \
        (np.linalg.norm(F, axis=1) <= 1e-6 * scale)
    found = ss.converged | settled
    return Verdict(bool(np.all(found)), float(np.max(ss.residual)), "a steady state exists",
                   "max Newton residual ||F(u)|| (Newton failed; simulation settled: "
                   f"{settled.tolist()})", {"T": T, "initial abscissa": a0})


# --------------------------------------------------------------------------- registry
_SMOOTH = dict(activations=SMOOTH_ACTIVATIONS, output_activations=SMOOTH_ACTIVATIONS)


def _theorem2_premise():
    # tanh hidden layers without biases: Condition 1 is reachable at ||x|| = C1_NORM
    return systems(condition2=True, feedback="condition2+3", min_layers=2, max_batch=1,
                   activations=("tanh",), output_activations=SMOOTH_ACTIVATIONS, max_bias=0.0)

_CLAIMS = (
    Claim("lemma1-quadratic",
          "the linearised steady state u = (JQ + alpha_tilde I)^{-1} delta_L is exact to "
          "O(lambda^2) (stable draws, smooth activations)",
          "THEORY.md s.3-4, Lemma 1", True,
          lambda: systems(stable=True, **_SMOOTH), _lemma1),
    Claim("condition2-pinv-limit",
          "under Condition 2 the steady-state Delta v tends to J^+ delta_L with error "
          "O(alpha) as alpha, lambda -> 0",
          "THEORY.md s.4, Condition 2 / Theorem 3", True,
          lambda: systems(condition2=True, feedback="condition2+3", **_SMOOTH), _pinv_limit,
          premises=("full_row_rank",)),
    Claim("pinv-limit-without-condition2",
          "Delta v -> J^+ delta_L as alpha -> 0 for any Q with Re eig(J Q) > 0 "
          "(Condition 2 dropped)",
          "THEORY.md s.4 (negative control of condition2-pinv-limit)", False,
          lambda: systems(condition2=False, feedback="condition3", **_SMOOTH), _pinv_limit,
          premises=("full_row_rank",), provenance="false extrapolation"),
    Claim("theorem2-gauss-newton",
          "under Conditions 1 and 2 (B = 1) the DFC update aligns with the Gauss-Newton "
          "update J_theta^+ delta_L: the angle is O(alpha + lambda)",
          "THEORY.md s.4, Theorem 2", True,
          _theorem2_premise, _theorem2, premises=()),
    Claim("theorem2-without-condition1",
          "under Condition 2 alone the DFC update aligns with the Gauss-Newton update "
          "as alpha, lambda -> 0 (Condition 1 dropped)",
          "THEORY.md s.4 (negative control of theorem2-gauss-newton)", False,
          _theorem2_premise, lambda d: _theorem2(d, condition1=False), premises=(),
          provenance="false extrapolation"),
    Claim("proposition4-descent",
          "for any Q with Re eig(J Q) > 0, the steady-state update with eta_i = "
          "eta/||r_{i-1}||^2 is a descent direction (< 90 deg from -grad_W Loss) as alpha, "
          "lambda -> 0",
          "THEORY.md s.4, Proposition 4", True,
          lambda: systems(feedback="condition3", max_batch=1, **_SMOOTH), _prop4, premises=()),
    Claim("proposition4-without-eta",
          "Proposition 4 with one learning rate for all layers (eta_i = eta)",
          "THEORY.md s.4, Proposition 4 (README: 4/20 random Q above 90 deg)", False,
          lambda: systems(feedback="condition3", max_batch=1, **_SMOOTH),
          lambda d: _prop4(d, eta=False), premises=(), provenance="false extrapolation"),
    Claim("proposition5-instantaneous",
          "for the instantaneous system (tau_v = 0) with k_p = 0, started close to the rest "
          "point, the dynamics converge to the exact steady state iff Condition 3 holds "
          "(Re eig(J_ss Q) > -alpha)",
          "THEORY.md s.4, Proposition 5", True,
          lambda: systems(ratio=0.0, k_p=0.0, **_SMOOTH),
          _prop5_instantaneous),
    Claim("newton-matches-simulation",
          "for stable draws (spectral abscissa < -0.05 at the exact steady state) with the "
          "target near the feedforward output (||Delta v|| <= 1e-2), the simulated dynamics "
          "settle at Newton's exact steady state",
          "THEORY.md s.3 (exact steady state), s.5", True,
          lambda: systems(stable=True, margin=0.05, **_SMOOTH), _newton_vs_simulation,
          provenance="ours"),
    Claim("condition3-implies-stable",
          "Condition 3 at the exact steady state (with alpha_tilde where it differs) implies "
          "local stability at finite tau_v/tau_u in [0.05, 0.5] (Proposition 5 needs "
          "tau_u >> tau_v and k_p = 0)",
          "THEORY.md s.4-5, Proposition 5 / Condition 3 as a proxy", False,
          lambda: systems(condition3=True, ratio=(0.05, 0.5)), _stable,
          premises=("newton_converged", "condition3_alpha_tilde"),
          provenance="false extrapolation"),
    Claim("condition3-alpha-integral",
          "with the integral leak and k_p > 0, Condition 3 with alpha (not "
          "alpha_tilde = alpha/(1 + alpha k_p)) implies stability at tau_v/tau_u <= 0.01",
          "THEORY.md s.4, Proposition 5 (alpha_tilde gap, found in this project)", False,
          lambda: systems(condition3=True, leaks=("integral",), k_p=(0.5, 2.0),
                          ratio=(0.001, 0.01)), _stable,
          provenance="false extrapolation"),
    Claim("stable-initial-implies-steady-state",
          "if the dynamics linearised at the initial state are stable, an exact "
          "steady state exists",
          "THEORY.md s.3 (Hypothesis found runaway softplus / leaky-relu networks)", False,
          lambda: systems(stable_initial=True, lam=(0.0, 5.0)), _steady_state_exists,
          premises=(), provenance="false extrapolation"),
)

#: name -> Claim, in the order of ``python -m verification search --list``
CLAIMS = {c.name: c for c in _CLAIMS}


def get_claim(name):
    """The registered :class:`Claim` called ``name`` (ValueError naming the choices)."""
    if isinstance(name, Claim):
        return name
    try:
        return CLAIMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"name: unknown claim {name!r}; expected one of {list(CLAIMS)}") \
            from None


# --------------------------------------------------------------------------- search
@dataclass
class SearchResult:
    """Outcome of :func:`search`.

    ``found``: a counterexample was found; ``draw`` and ``verdict`` are then the minimal
    (shrunk) one.  ``error``: the claim's check raised on ``draw`` (a traceback string).
    ``examples``: examples generated before the first counterexample (or all), of which
    ``judged`` passed the premises; ``excluded``: reasons -> counts; ``first_found_at``:
    index of the first counterexample; ``shrink_calls``: evaluations while shrinking;
    ``seconds``: wall time; ``status``: "found", "none" or "unsatisfiable".
    """

    claim: Claim
    found: bool
    draw: Draw = None
    verdict: Verdict = None
    error: str = None
    examples: int = 0
    judged: int = 0
    excluded: dict = field(default_factory=dict)
    first_found_at: int = None
    shrink_calls: int = 0
    seconds: float = 0.0
    seed: int = 0
    max_examples: int = 0
    status: str = "none"


class _Counterexample(AssertionError):
    pass


class _CheckError(AssertionError):
    pass


def search(claim, examples=100, seed=0, shrink=True, progress=None, progress_every=5.0):
    """Search for a counterexample to ``claim`` with Hypothesis and shrink it.

    Parameters
    ----------
    claim : Claim or str (a name of :data:`CLAIMS`)
    examples : int >= 1
        Hypothesis' ``max_examples``: examples that pass the strategy's own filters.
    seed : int
        Hypothesis' random seed: the same claim, examples and seed give the same search
        (Hypothesis' example database is not used: nothing is read from or written to
        ``.hypothesis/``, so earlier runs cannot influence this one).
    shrink : bool
        Run Hypothesis' shrink phase (default); False returns the first counterexample found.
    progress : callable(str), optional
        Receives a progress line every ``progress_every`` seconds and when shrinking starts.

    Returns
    -------
    SearchResult
    """
    from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import Unsatisfiable

    claim = get_claim(claim)
    if isinstance(examples, bool) or not isinstance(examples, (int, np.integer)) or examples < 1:
        raise ValueError(f"examples: expected a positive integer, got {examples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    sweep = Sweep(claim.premises, claim.premise_params)
    st = {"calls": 0, "found": None, "last": None, "t_report": time.perf_counter()}
    t0 = time.perf_counter()

    def report(force=False):
        now = time.perf_counter()
        if progress is not None and (force or now - st["t_report"] >= progress_every):
            st["t_report"] = now
            if st["found"] is None:
                progress(f"[search {claim.name}] {sweep.tried} examples, {sweep.judged} judged, "
                         f"{now - t0:.0f} s")
            else:
                progress(f"[search {claim.name}] shrinking: {st['calls'] - st['found']} "
                         f"evaluations, {now - t0:.0f} s")

    def test(draw):
        st["calls"] += 1
        searching = st["found"] is None
        report()
        if searching:
            judged = sweep.judge(draw)
        else:
            judged = claim.premise_failure(draw) is None
        if not judged:
            assume(False)
        try:
            verdict = claim(draw)
        except NotApplicable as exc:
            if searching:
                sweep.judged -= 1
                sweep.exclude(exc.reason, counted=True)
            assume(False)
        except Exception as exc:  # the check itself failed: a finding too
            import traceback
            st["last"] = (draw, None, traceback.format_exc())
            if st["found"] is None:
                st["found"] = st["calls"]
                report(force=True)
            raise _CheckError(repr(exc)) from exc
        if not verdict.holds:
            st["last"] = (draw, verdict, None)
            if st["found"] is None:
                st["found"] = st["calls"]
                report(force=True)
            raise _Counterexample(verdict.what)

    cfg = settings(database=None, max_examples=int(examples), deadline=None,
                   derandomize=False, verbosity=Verbosity.quiet, print_blob=False,
                   report_multiple_bugs=False,
                   phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
                   suppress_health_check=(HealthCheck.filter_too_much,))
    run = hseed(int(seed))(cfg(given(claim.strategy())(test)))
    res = SearchResult(claim, False, seed=int(seed), max_examples=int(examples))
    try:
        run()
    except (_Counterexample, _CheckError):
        draw, verdict, err = st["last"]
        res.found, res.draw, res.verdict, res.error = True, draw, verdict, err
        res.status = "found"
    except Unsatisfiable:
        res.status = "unsatisfiable"
    res.examples = sweep.tried if st["found"] is None else min(sweep.tried, st["found"])
    res.judged = sweep.judged
    res.excluded = dict(sweep.excluded)
    res.first_found_at = st["found"]
    res.shrink_calls = 0 if st["found"] is None else st["calls"] - st["found"]
    res.seconds = time.perf_counter() - t0
    return res
