"""Steady states on tensors (THEORY.md section 3), mirroring :mod:`dfc_theory.steady_state`:

* ``"ssa"``: u = (J Q + alpha_eff I)^{-1} delta_L at the feedforward J (Lemma 1, the paper's
  DFC-SSA), then propagated nonlinearly v_i = Q_i u + W_i r_{i-1} + b_i;
* ``"newton"``: exact, batched damped Newton on F(u) = alpha_eff u - r_L* + r_L(u) = 0 (size
  n_L per sample, Jacobian alpha_eff I + J(v(u)) Q) from u = 0, whose first step is "ssa".

Both solve n_L x n_L systems per sample with ``torch.linalg.solve(A, B)``.  Newton updates
every sample of the batch in lock step (masked, so converged samples stay put), which keeps
the work on the device without per-sample indexing.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import check_choice, check_scalar
from ._common import solve_ex, to_numpy
from .dynamics import DFCSystem

__all__ = ["SteadyState", "steady_state", "STEADY_STATE_METHODS", "DEFAULT_TOL"]

STEADY_STATE_METHODS = ("ssa", "newton")


@dataclass(frozen=True)
class SteadyState:
    """A steady state, batched (fields as :class:`dfc_theory.SteadyState`, tensors):
    u (B, n_L), v (B, N), r (tuple r_0..r_L), v_ff (B, N), delta_v = v - v_ff = Q u (B, N),
    converged (B,), residual (B,) = ||alpha_eff u - r_L* + r_L||, iterations, method."""

    u: torch.Tensor
    v: torch.Tensor
    r: tuple
    v_ff: torch.Tensor
    delta_v: torch.Tensor
    converged: torch.Tensor
    residual: torch.Tensor
    iterations: int
    method: str

    @property
    def r_L(self):
        return self.r[-1]

    def squeeze(self):
        return SteadyState(self.u[0], self.v[0], tuple(a[0] for a in self.r), self.v_ff[0],
                           self.delta_v[0], self.converged[0], self.residual[0],
                           self.iterations, self.method)

    def to_numpy(self):
        """A :class:`dfc_theory.SteadyState` with float64 NumPy arrays."""
        from ..steady_state import SteadyState as NpSteadyState
        return NpSteadyState(to_numpy(self.u), to_numpy(self.v), to_numpy(tuple(self.r)),
                             to_numpy(self.v_ff), to_numpy(self.delta_v),
                             self.converged.cpu().numpy(), to_numpy(self.residual),
                             self.iterations, self.method)


def _state_at(system, x2, target, u):
    fp = system.network.forward(x2, delta=u @ system.Q.T)
    F = system.controller.alpha_eff * u - target + fp.r[-1]
    return fp, fp.v_stacked, F


def _jq(system, v_blocks):
    """J(v) Q (B, n_L, n_L) by the forward-mode recursion of
    :meth:`Network.jacobian_product` (no stacked J)."""
    return system.network._jacobian_product_from_v(list(v_blocks), system.Q)


def _result(system, x2, target, u, converged, iterations, method, state=None):
    """Assemble a SteadyState at u; ``state`` = (rates r_0..r_L, v, F) at u when known."""
    if state is None:
        fp, v, F = _state_at(system, x2, target, u)
        r = fp.r
    else:
        r, v, F = state
    dv = u @ system.Q.T
    return SteadyState(u, v, tuple(r), v - dv, dv, converged, torch.linalg.vector_norm(F, dim=1),
                       iterations, method)


def _solve(G, F):
    """G^{-1} F per sample; singular systems fall back to the pseudoinverse (least squares)."""
    X, info = solve_ex(G, F[..., None])
    bad = info != 0
    if bool(bad.any()):
        X = torch.where(bad[:, None, None], torch.linalg.pinv(G) @ F[..., None], X)
    return X[..., 0]


#: default relative Newton tolerance per dtype (about 1e4 ulps: reachable above rounding)
DEFAULT_TOL = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-2,
               torch.bfloat16: 1e-1}


def steady_state(system: DFCSystem, x, target, method="newton", tol=None, max_iter=50,
                 J=None, delta_L=None, forward=None, atol=0.0) -> SteadyState:
    """Steady state of ``system`` for inputs ``x`` (B, n_0) and targets r_L* (B, n_L).

    Parameters
    ----------
    method : {"ssa", "newton"}
    tol : float, optional
        Newton: converged when ||F(u)|| <= max(tol * max(1, ||r_L*||), atol) per sample.
        Default by dtype (:data:`DEFAULT_TOL`): 1e-12 in float64 (the NumPy core's), 1e-6
        in float32, whose rounding floor for F is ~1e-7 relative (a tolerance below it makes
        Newton iterate to ``max_iter``).
    atol : float >= 0
        Absolute residual accepted whatever ||r_L*|| (0: the relative test alone).
    max_iter : int
        Newton iteration cap (non-convergence is reported in ``converged``/``residual``).
    J : tensor (B, n_L, N), optional
        The feedforward Jacobian when the caller already has it (saves one computation for
        ``"ssa"`` and the first Newton step).
    delta_L : tensor (B, n_L), optional
        ``"ssa"``: the output error r_L* - r_L^- when the caller has it exactly; computing it
        as a difference of two nearly equal outputs loses ~|r_L| / |delta_L| ulps in float32
        (the targets of the batch-mean loss are 1/B-small).
    forward : ForwardPass, optional
        The feedforward pass of ``x`` when the caller has it (``"ssa"``; saves one pass).
    """
    if not isinstance(system, DFCSystem):
        raise TypeError(f"system: expected a dfc_theory.torch.DFCSystem, got "
                        f"{type(system).__name__}")
    check_choice(method, "method", STEADY_STATE_METHODS)
    if tol is None:
        tol = DEFAULT_TOL.get(system.network.dtype, 1e-6)
    tol = check_scalar(tol, "tol", low=0.0, low_inclusive=False)
    atol = check_scalar(atol, "atol", low=0.0)
    x2, t, single = system.prepare(x, target)
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter: expected a non-negative integer, got {max_iter!r}")
    with torch.no_grad():
        if method == "ssa":
            res = _ssa(system, x2, t, J, delta_L, forward)
        else:
            res = _newton(system, x2, t, tol, int(max_iter), J, atol)
    return res.squeeze() if single else res


def _ssa(system, x2, target, J=None, delta_L=None, fp=None):
    net, a = system.network, system.controller.alpha_eff
    if fp is None:
        fp = net.forward(x2)
    if delta_L is None:
        delta_L = target - fp.r[-1]
    else:
        delta_L = net.tensor(delta_L, "delta_L", shape=tuple(target.shape))
    JQ = J @ system.Q if J is not None else _jq(system, fp.v)
    eye = torch.eye(net.n_out, dtype=x2.dtype, device=x2.device)
    u = _solve(JQ + a * eye, delta_L)
    return _result(system, x2, target, u, torch.isfinite(u).all(dim=1), 0, "ssa")


def _newton(system, x2, target, tol, max_iter, J0=None, atol=0.0):
    net, a, Q = system.network, system.controller.alpha_eff, system.Q
    B, nL = x2.shape[0], net.n_out
    eye = torch.eye(nL, dtype=x2.dtype, device=x2.device)
    u = x2.new_zeros((B, nL))
    fp, v, F = _state_at(system, x2, target, u)
    r = list(fp.r)
    norm = torch.linalg.vector_norm(F, dim=1)
    thresh = (tol * torch.linalg.vector_norm(target, dim=1).clamp_min(1.0)).clamp_min(atol)
    active = norm > thresh
    it = 0
    while it < max_iter and bool(active.any()):
        JQ = J0 @ Q if (it == 0 and J0 is not None) else _jq(system, net.split(v))
        it += 1
        step = _solve(JQ + a * eye, F)
        # backtracking on ||F||: accept the full step unless it increases the residual
        s = torch.ones(B, dtype=x2.dtype, device=x2.device)
        done = ~active
        for _ in range(30):
            u_try = u - s[:, None] * step
            fp_t, v_t, F_t = _state_at(system, x2, target, u_try)
            n_t = torch.linalg.vector_norm(F_t, dim=1)
            ok = (n_t <= (1 - 1e-4 * s) * norm) | (n_t <= thresh) | (s < 1e-8)
            ok = (ok & torch.isfinite(n_t)) | done
            if bool(ok.all()):
                break
            s = torch.where(ok, s, 0.5 * s)
        upd = active[:, None]
        u = torch.where(upd, u_try, u)
        v = torch.where(upd, v_t, v)
        F = torch.where(upd, F_t, F)
        r = [r[0]] + [torch.where(upd, rt, ri) for ri, rt in zip(r[1:], fp_t.r[1:])]
        norm = torch.where(active, n_t, norm)
        active = (norm > thresh) & torch.isfinite(norm)
    return _result(system, x2, target, u, norm <= thresh, it, "newton", state=(r, v, F))
