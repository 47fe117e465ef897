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

from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_scalar
from .dynamics import DFCSystem

__all__ = ["SteadyState", "steady_state", "STEADY_STATE_METHODS"]

STEADY_STATE_METHODS = ("ssa", "newton", "simulate")


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

    @property
    def r_L(self):
        return self.r[-1]

    def squeeze(self):
        """The single-sample view (batch axis removed) of a batch of one."""
        return SteadyState(self.u[0], self.v[0], tuple(a[0] for a in self.r), self.v_ff[0],
                           self.delta_v[0], self.converged[0], self.residual[0],
                           self.iterations, self.method)


def _state_at(system, x2, target, u):
    """Propagate v = forward(x, delta = Q u) and evaluate F(u)."""
    net = system.network
    fp = net.forward(x2, delta=u @ system.Q.T)
    v = fp.v_stacked
    F = system.controller.alpha_eff * u - target + fp.r[-1]
    return fp, v, F


def _result(system, x2, target, u, converged, iterations, method):
    fp, v, F = _state_at(system, x2, target, u)
    dv = u @ system.Q.T
    return SteadyState(u, v, fp.r, v - dv, dv, np.asarray(converged, bool),
                       np.linalg.norm(F, axis=1), iterations, method)


def steady_state(system: DFCSystem, x, target, method="newton", tol=None, max_iter=50,
                 **simulate_kwargs) -> SteadyState:
    """Steady state of ``system`` for inputs ``x`` (B, n_0) and output targets r_L* (B, n_L).

    Parameters
    ----------
    method : {"ssa", "newton", "simulate"}
    tol : float, optional
        Converged when ||F(u)|| <= tol * max(1, ||r_L*||) per sample; default 1e-12 for
        ``"newton"``, 1e-10 for ``"simulate"`` (which also needs the reference test).
    max_iter : int
        Newton iteration cap.
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
    x2, t, single = system.prepare(x, target)
    net, a = system.network, system.controller.alpha_eff
    if method == "simulate":
        from .simulate import simulate_until_converged
        res = simulate_until_converged(system, x2, t, tol, **simulate_kwargs)
    elif method == "ssa":
        J = net.jacobian(x2)
        delta = t - net.forward(x2).r[-1]
        G = J @ system.Q + a * np.eye(net.n_out)
        u = np.linalg.solve(G, delta[..., None])[..., 0]
        res = _result(system, x2, t, u, np.all(np.isfinite(u), axis=1), 0, "ssa")
    else:
        res = _newton(system, x2, t, tol, int(max_iter))
    return res.squeeze() if single else res


def _newton(system, x2, target, tol, max_iter):
    net, a, Q = system.network, system.controller.alpha_eff, system.Q
    B, nL = x2.shape[0], net.n_out
    eye = np.eye(nL)
    u = np.zeros((B, nL))
    fp, v, F = _state_at(system, x2, target, u)
    norm = np.linalg.norm(F, axis=1)
    thresh = tol * np.maximum(1.0, np.linalg.norm(target, axis=1))
    active = norm > thresh
    it = 0
    while np.any(active) and it < max_iter:
        it += 1
        idx = np.flatnonzero(active)
        J = net.jacobian(x2[idx], v[idx])
        G = J @ Q + a * eye
        try:
            step = np.linalg.solve(G, F[idx][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(g, f, rcond=None)[0] for g, f in zip(G, F[idx])])
        # backtracking on ||F||: accept the full step unless it increases the residual
        s = np.ones(len(idx))
        for _ in range(30):
            u_try = u[idx] - s[:, None] * step
            fp_t, v_t, F_t = _state_at(system, x2[idx], target[idx], u_try)
            n_t = np.linalg.norm(F_t, axis=1)
            ok = (n_t <= (1 - 1e-4 * s) * norm[idx]) | (n_t <= thresh[idx]) | (s < 1e-8)
            ok &= np.isfinite(n_t)
            if np.all(ok):
                break
            s = np.where(ok, s, 0.5 * s)
        u[idx], v[idx], F[idx], norm[idx] = u_try, v_t, F_t, n_t
        active = (norm > thresh) & np.isfinite(norm)
    converged = norm <= thresh
    return _result(system, x2, target, u, converged, it, "newton")
