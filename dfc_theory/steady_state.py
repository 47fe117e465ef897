"""Steady states of a DFC system (THEORY.md section 3).

At rest (``leak="total"``; alpha -> alpha_tilde for ``"integral"``):

    v_i = W_i phi(v_{i-1}) + b_i + Q_i u,   alpha u = r_L* - r_L(u),

a root problem in u alone, F(u) = alpha u - r_L* + r_L(u) = 0 (size n_L per sample) with
Jacobian alpha I + J(v(u)) Q.  Three solvers:

* ``"ssa"``: the linearised solution (Lemma 1), u = (J Q + alpha I)^{-1} delta_L at the
  feedforward J, then propagated nonlinearly, v_i = Q_i u + W_i r_{i-1} + b_i (reference code).
* ``"newton"``: exact, batched damped Newton in u from u = 0; its first step is ``"ssa"``.
* ``"simulate"``: the reference Euler scheme run until the reference convergence test passes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_choice, check_scalar
from .dynamics import DFCSystem

__all__ = ["SteadyState", "steady_state", "STEADY_STATE_METHODS"]

STEADY_STATE_METHODS = ("ssa", "newton", "simulate")
#: a Newton step that contracts the residual less than this factor triggers a new J Q
REFRESH_BELOW = 30.0


@dataclass(frozen=True)
class SteadyState:
    """A (linearised, exact or simulated) steady state, batched (B, ...).

    Attributes
    ----------
    u : (B, n_L) control signal.
    v : (B, N) somatic pre-activations; ``r`` the rates r_0..r_L (tuple).
    v_ff : (B, N) basal drive W_i r_{i-1} + b_i at this state.
    delta_v : (B, N) v - v_ff (= Q u).
    converged : (B,) bool.
    residual : (B,) ||alpha_eff u - r_L* + r_L||, the exact steady-state equation's residual.
    iterations : Newton iterations (or simulated steps); ``method`` the solver.
    """

    u: np.ndarray
    v: np.ndarray
    r: tuple
    v_ff: np.ndarray
    delta_v: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    iterations: int
    method: str
    info: dict = field(default_factory=dict)

    @property
    def r_L(self):
        return self.r[-1]

    def squeeze(self):
        """The single-sample view (batch axis removed) of a batch of one."""
        return SteadyState(self.u[0], self.v[0], tuple(a[0] for a in self.r), self.v_ff[0],
                           self.delta_v[0], self.converged[0], self.residual[0],
                           self.iterations, self.method, self.info)


def _state_at(system, x2, target, u, drive=None):
    """Propagate v = forward(x, delta = Q u) and evaluate F(u); ``drive`` = W_1 x + b_1."""
    net = system.network
    fp = net.forward(x2, delta=u @ system.Q.T, input_drive=drive)
    v = fp.v_stacked
    F = system.controller.alpha_eff * u - target + fp.r[-1]
    return fp, v, F


def _jq(system, x2, v):
    """J(v) Q = sum_i J_i Q_i, (B, n_L, n_L), one GEMM per layer and without forming the
    stacked J (B, n_L, N)."""
    B, nL = x2.shape[0], system.network.n_out
    Js = system.network.layer_jacobians(x2, v)
    return sum((Ji.reshape(B * nL, -1) @ Qi).reshape(B, nL, nL)
               for Ji, Qi in zip(Js, system.Q_blocks))


def _result(system, x2, target, u, converged, iterations, method, state=None, drive=None):
    """Assemble a SteadyState at u; ``state`` = (rates r_0..r_L, v, F) at u when known."""
    if state is None:
        fp, v, F = _state_at(system, x2, target, u, drive)
        r = fp.r
    else:
        r, v, F = state
    dv = u @ system.Q.T
    return SteadyState(u, v, tuple(r), v - dv, dv, np.asarray(converged, bool),
                       np.linalg.norm(F, axis=1), iterations, method)


def steady_state(system: DFCSystem, x, target, method="newton", tol=None, max_iter=50,
                 reuse_jacobian=True, **simulate_kwargs) -> SteadyState:
    """Steady state of ``system`` for inputs ``x`` (B, n_0) and output targets r_L* (B, n_L).

    Parameters
    ----------
    method : {"ssa", "newton", "simulate"}
    tol : float, optional
        Converged when ||F(u)|| <= tol * max(1, ||r_L*||) per sample; default 1e-12 for
        ``"newton"``, 1e-10 for ``"simulate"`` (which also needs the reference test).
    max_iter : int >= 0
        Newton iteration cap.
    reuse_jacobian : bool
        ``"newton"``: keep a sample's matrix alpha I + J Q while full steps contract its
        residual at least ``REFRESH_BELOW``-fold (chord steps; the same root and tolerance,
        far fewer J Q products, which dominate the cost); ``False`` is plain Newton
        (quadratic convergence).  ``info["jacobian_evaluations"]`` counts the J Q batches.
    **simulate_kwargs
        For ``"simulate"``: passed to :func:`dfc_theory.simulate` (``dt``, ``max_steps``...).

    Returns
    -------
    SteadyState (batch axis squeezed for a single input of shape (n_0,)).
    Newton reports non-convergence in ``converged`` and ``residual``; it never raises for it.
    """
    if not isinstance(system, DFCSystem):
        raise TypeError(f"system: expected a DFCSystem, got {type(system).__name__}")
    check_choice(method, "method", STEADY_STATE_METHODS)
    if tol is None:
        tol = 1e-10 if method == "simulate" else 1e-12
    tol = check_scalar(tol, "tol", low=0.0, low_inclusive=False)
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter: expected a non-negative integer, got {max_iter!r}")
    x2, t, single = system.prepare(x, target)
    net, a = system.network, system.controller.alpha_eff
    if method == "simulate":
        from .simulate import simulate_until_converged
        res = simulate_until_converged(system, x2, t, tol, **simulate_kwargs)
    elif method == "ssa":
        fp = net.forward(x2)
        delta = t - fp.r[-1]
        G = _jq(system, x2, fp.v_stacked) + a * np.eye(net.n_out)
        u = np.linalg.solve(G, delta[..., None])[..., 0]
        res = _result(system, x2, t, u, np.all(np.isfinite(u), axis=1), 0, "ssa",
                      drive=fp.v[0])
    else:
        res = _newton(system, x2, t, tol, int(max_iter), bool(reuse_jacobian))
    return res.squeeze() if single else res


def _newton(system, x2, target, tol, max_iter, reuse_jacobian=True):
    """Damped Newton in u, batched.  With ``reuse_jacobian`` a sample keeps its Newton matrix
    G = alpha I + J(v(u)) Q while the last step contracted its residual at least
    ``REFRESH_BELOW``-fold with a full step (a chord step: same root, same tolerance, one
    J Q evaluation saved); otherwise G is re-evaluated at the current iterate.  The first
    iteration always evaluates G at u = 0, so its step is the SSA solution."""
    net, a = system.network, system.controller.alpha_eff
    B, nL = x2.shape[0], net.n_out
    eye = np.eye(nL)
    u = np.zeros((B, nL))
    fp, v, F = _state_at(system, x2, target, u)
    drive = fp.v[0].copy()  # W_1 x + b_1 (u = 0), reused by every later propagation
    r = [fp.r[0]] + [a.copy() for a in fp.r[1:]]  # rates at the iterate, for the result
    norm = np.linalg.norm(F, axis=1)
    thresh = tol * np.maximum(1.0, np.linalg.norm(target, axis=1))
    active = norm > thresh
    G = np.empty((B, nL, nL))
    stale = np.ones(B, dtype=bool)  # G must be (re-)evaluated before the next step
    it = n_jac = 0
    while np.any(active) and it < max_iter:
        it += 1
        refresh = active & (stale | (not reuse_jacobian))
        if np.any(refresh):
            jdx = slice(None) if np.all(refresh) else np.flatnonzero(refresh)
            G[jdx] = _jq(system, x2[jdx], v[jdx]) + a * eye
            n_jac += 1
        # the samples still iterating (a slice, i.e. views rather than copies, when all are)
        idx = slice(None) if np.all(active) else np.flatnonzero(active)
        try:
            step = np.linalg.solve(G[idx], F[idx][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(g, f, rcond=None)[0]
                             for g, f in zip(G[idx], F[idx])])
        # backtracking on ||F||: accept the full step unless it increases the residual
        s = np.ones(step.shape[0])
        for _ in range(30):
            u_try = u[idx] - s[:, None] * step
            fp_t, v_t, F_t = _state_at(system, x2[idx], target[idx], u_try, drive[idx])
            n_t = np.linalg.norm(F_t, axis=1)
            ok = (n_t <= (1 - 1e-4 * s) * norm[idx]) | (n_t <= thresh[idx]) | (s < 1e-8)
            ok &= np.isfinite(n_t)
            if np.all(ok):
                break
            s = np.where(ok, s, 0.5 * s)
        with np.errstate(divide="ignore", invalid="ignore"):
            slow = ~(n_t <= norm[idx] / REFRESH_BELOW) | (s < 1)
        stale[idx] = slow
        u[idx], v[idx], F[idx], norm[idx] = u_try, v_t, F_t, n_t
        for r_i, r_t in zip(r[1:], fp_t.r[1:]):
            r_i[idx] = r_t
        active = (norm > thresh) & np.isfinite(norm)
    converged = norm <= thresh
    res = _result(system, x2, target, u, converged, it, "newton", state=(r, v, F))
    res.info["jacobian_evaluations"] = n_jac
    return res
