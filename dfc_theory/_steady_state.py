"""Steady states of a DFC system (THEORY.md section 3): the root F(u) = alpha_eff u - r_L* +
r_L(u) = 0 in u alone (size n_L per sample, Jacobian alpha_eff I + J(v(u)) Q), by the methods
of :func:`steady_state`, on NumPy arrays and torch tensors alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ._backend import device, eigvals, errstate, eye, no_grad, solve, to_numpy
from ._dynamics import DFCSystem
from ._simulate import simulate
from ._validation import check_choice, check_int, check_scalar, check_type

__all__ = ["SteadyState", "steady_state", "STEADY_STATE_METHODS", "DEFAULT_TOL"]

STEADY_STATE_METHODS = ("ssa", "newton", "simulate")
#: a Newton step that contracts the residual less than this factor triggers a new J Q
REFRESH_BELOW = 30.0
#: default relative Newton tolerance per dtype (about 1e4 ulps: reachable above rounding)
DEFAULT_TOL = {"float64": 1e-12, "float32": 1e-6, "float16": 1e-2, "bfloat16": 1e-1}


@dataclass(frozen=True)
class SteadyState:
    """A (linearised, exact or simulated) steady state, batched (B, ...).

    Attributes
    ----------
    u : (B, n_L) control signal.
    v : (B, N) somatic pre-activations; ``r`` the rates r_0..r_L (tuple).
    v_ff : (B, N) basal drive W_i r_{i-1} + b_i at this state; ``delta_v`` v - v_ff (= Q u).
    converged : (B,) bool: the exact residual passes :func:`steady_state`'s ``tol`` test
        (``info``); ``"simulate"`` also needs the reference convergence test.
    residual : (B,) ||alpha_eff u - r_L* + r_L||, the exact steady-state equation's residual.
    iterations : Newton iterations (or simulated steps); ``method`` the solver.
    abscissa : (B,) spectral abscissa of the linearised dynamics at this state
        (``DFCSystem.rhs_jacobian``: ``A_system`` of :func:`dfc_theory.stability.system_matrices`
        at a rest point), nan where not finite; computed on first access, on either backend.
    stable : (B,) bool, ``converged`` and ``abscissa < 0`` (Lyapunov's indirect method).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> Q = dfc.feedback.weight_product(net)
    >>> system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=0.1))
    >>> x = np.ones(3); target = net.forward(x).output + 0.01
    >>> ss = dfc.steady_state(system, x, target)
    >>> bool(ss.converged), bool(ss.residual < 1e-10), bool(ss.stable)
    (True, True, True)
    >>> bool(np.allclose(ss.delta_v, ss.u @ Q.T))   # delta_v = Q u
    True
    """

    u: object
    v: object
    r: tuple
    v_ff: object
    delta_v: object
    converged: object
    residual: object
    iterations: int
    method: str
    info: dict = field(default_factory=dict)
    _abscissa_of: object = field(default=None, repr=False, compare=False)

    @property
    def r_L(self):
        """r_L at the steady state."""
        return self.r[-1]

    @cached_property
    def abscissa(self):
        """Spectral abscissa of the linearised dynamics at this state (class docstring)."""
        if self._abscissa_of is None:
            raise AttributeError("abscissa: this SteadyState was built without its system")
        return self._abscissa_of()

    @property
    def stable(self):
        """``converged`` and ``abscissa < 0`` (class docstring)."""
        return self.converged & (self.abscissa < 0)

    def squeeze(self):
        """The single-sample view (batch axis removed) of a batch of one."""
        return SteadyState(self.u[0], self.v[0], tuple(a[0] for a in self.r), self.v_ff[0],
                           self.delta_v[0], self.converged[0], self.residual[0],
                           self.iterations, self.method, self.info,
                           lambda: self.abscissa[0])

    def to_numpy(self):
        """The same steady state with NumPy arrays (floats as float64)."""
        return SteadyState(*(to_numpy(getattr(self, k)) for k in
                             ("u", "v", "r", "v_ff", "delta_v", "converged", "residual")),
                           self.iterations, self.method, self.info,
                           lambda: to_numpy(self.abscissa))


def _state_at(system, x2, target, u, drive=None):
    """(rates r_0..r_L, v, F(u)) of v = forward(x, delta = Q u); ``drive`` = W_1 x + b_1."""
    fp = system.network._forward(x2, u @ system.Q.T, drive)
    return fp.r, fp.v_stacked, system.controller.alpha_eff * u - target + fp.r[-1]


def _abscissa(system, x2, target, u, v, rL):
    """max Re lambda of d(dz/dt)/dz at the state (u, v) per sample (nan where not finite)."""
    xp = system.xp
    with no_grad(xp):
        ok = xp.all(xp.isfinite(u), axis=1) & xp.all(xp.isfinite(v), axis=1)
        u, v, rL = (xp.where(ok[:, None], a, xp.zeros_like(a)) for a in (u, v, rL))
        A = system._instantaneous_jacobian(v) if system.controller.instantaneous else \
            system._rhs_jacobian(x2, target, system._rest_z(u, rL, v, target))
        a = xp.max(xp.real(eigvals(A)), axis=1)
        return xp.where(ok, a, xp.full_like(a, float("nan")))


def _result(system, x2, target, u, thresh, iterations, method, state=None, drive=None,
            ok=None):
    """Assemble a SteadyState at u; ``state`` = (rates r_0..r_L, v, F) at u when known;
    converged where the residual is within ``thresh`` (and ``ok``)."""
    r, v, F = _state_at(system, x2, target, u, drive) if state is None else state
    xp = system.xp
    dv = u @ system.Q.T
    norm = xp.linalg.vector_norm(F, axis=1)
    # finite: an overflowed target's thresh is inf, and an inf residual must still fail
    conv = xp.isfinite(norm) & (norm <= thresh)
    conv = conv if ok is None else conv & ok
    return SteadyState(u, v, tuple(r), v - dv, dv, conv, norm, iterations, method, {},
                       lambda: _abscissa(system, x2, target, u, v, r[-1]))


def steady_state(system: DFCSystem, x, target, method="newton", tol=None, max_iter=50,
                 reuse_jacobian=True, J=None, delta_L=None, forward=None, atol=0.0,
                 **simulate_kwargs) -> SteadyState:
    """Steady state of ``system`` for inputs ``x`` (B, n_0) and output targets r_L* (B, n_L).

    Solves v_i = W_i phi(v_{i-1}) + b_i + Q_i u, alpha_eff u = r_L* - r_L(u) (THEORY.md
    section 3; alpha_eff = alpha_tilde for the "integral" leak).

    Parameters
    ----------
    method : {"ssa", "newton", "simulate"}
        Lemma 1's u = (J Q + alpha_eff I)^{-1} delta_L propagated nonlinearly; Newton in u
        (exact); or the reference Euler scheme run to convergence.
    tol : float, optional
        Converged when ||F(u)|| <= max(tol * max(1, ||r_L*||), atol) per sample, for every
        method (SSA too: it converges only where the linearisation is exact); default 1e-10
        for ``"simulate"``, else :data:`DEFAULT_TOL` of the dtype (1e-12 float64, 1e-6 float32).
    max_iter : int >= 0
        Newton iteration cap.
    reuse_jacobian : bool
        ``"newton"``: keep a sample's alpha I + J Q while full steps contract its residual at
        least ``REFRESH_BELOW``-fold (chord steps: same root, far fewer J Q products);
        ``False`` is plain Newton.  ``info["jacobian_evaluations"]`` counts the J Q batches.
    J : array (B, n_L, N), optional
        The feedforward Jacobian when the caller has it (``"ssa"`` and the first Newton step).
    delta_L, forward : array (B, n_L), ForwardPass, optional
        ``"ssa"``: r_L* - r_L^- without cancellation (float32) and the feedforward pass of x.
    atol : float >= 0
        Absolute residual accepted whatever ||r_L*||.
    **simulate_kwargs
        For ``"simulate"`` only (a TypeError otherwise): ``chunk``, ``max_steps`` and the
        options of :func:`dfc_theory.simulate` (``dt``, ``proactive``...).

    Returns
    -------
    SteadyState (batch axis squeezed for a single input of shape (n_0,)).  Non-convergence
    is reported in ``converged`` and ``residual``, never raised; a singular J Q + alpha_eff I
    gets the least-squares solution (:func:`dfc_theory._backend.solve`), judged the same way.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([4, 5, 3], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> x = np.ones(4); target = net.forward(x).output + 0.01
    >>> exact = dfc.steady_state(system, x, target)
    >>> bool(exact.converged), bool(exact.residual < 1e-12), bool(exact.stable)
    (True, True, True)
    >>> lin = dfc.steady_state(system, x, target, method="ssa")   # Lemma 1: O(lambda^2) off
    >>> bool(np.abs(lin.u - exact.u).max() < 1e-3)
    True
    """
    check_type(system, "system", DFCSystem)
    check_choice(method, "method", STEADY_STATE_METHODS)
    if simulate_kwargs and method != "simulate":
        raise TypeError(f"steady_state() got an unexpected keyword argument "
                        f"{next(iter(simulate_kwargs))!r} (simulation options are for "
                        f"method='simulate' only)")
    if tol is None:
        tol = 1e-10 if method == "simulate" else DEFAULT_TOL.get(
            str(system.network.dtype).replace("torch.", ""), 1e-6)
    tol = check_scalar(tol, "tol", low=0.0, low_inclusive=False)
    atol = check_scalar(atol, "atol", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=0)
    x2, t, single = system.prepare(x, target)
    net, xp = system.network, system.xp
    if J is not None:
        J = net.convert(J, "J", shape=(x2.shape[0], net.n_out, net.n_total))
    if delta_L is not None:
        delta_L = net.convert(delta_L, "delta_L", shape=tuple(t.shape))
    thresh = tol * xp.maximum(xp.linalg.vector_norm(t, axis=1), 1.0)  # accepted residual
    thresh = xp.maximum(thresh, atol) if atol else thresh
    with no_grad(xp):
        if method == "simulate":
            res = simulate_until_converged(system, x2, t, thresh, **simulate_kwargs)
        elif method == "ssa":
            res = _ssa(system, x2, t, thresh, J, delta_L, forward)
        else:
            res = _newton(system, x2, t, thresh, max_iter, bool(reuse_jacobian), J)
    res.info.update(tol=tol, atol=atol)
    return res.squeeze() if single else res


def _ssa(system, x2, target, thresh, J=None, delta_L=None, fp=None):
    net, a, xp = system.network, system.controller.alpha_eff, system.xp
    fp = net._forward(x2) if fp is None else fp
    delta = target - fp.r[-1] if delta_L is None else delta_L
    JQ = J @ system.Q if J is not None else net._jacobian_product(fp.v, system.Q_blocks)
    u = solve(JQ + a * eye(xp, net.n_out, x2), delta[..., None])[..., 0]
    return _result(system, x2, target, u, thresh, 0, "ssa", drive=fp.v[0])


def _newton(system, x2, target, thresh, max_iter, reuse_jacobian=True, J0=None):
    """Damped Newton in u, batched, with chord steps under ``reuse_jacobian``; G = alpha I +
    J Q is first evaluated at u = 0 (from ``J0`` when given), so the first full step is the
    SSA solution (a backtracked one is not).  Only the samples still iterating are computed."""
    net, a, xp = system.network, system.controller.alpha_eff, system.xp
    B, nL = x2.shape[0], net.n_out
    I_L = eye(xp, nL, x2)

    def full(shape, value, dtype=x2.dtype):
        return xp.full(shape, value, dtype=dtype, device=device(x2))

    def subset(mask):
        return slice(None) if bool(xp.all(mask)) else xp.nonzero(mask)[0]

    norm_of = xp.linalg.vector_norm
    u = full((B, nL), 0.0)
    r, v, F = _state_at(system, x2, target, u)
    drive = xp.asarray(net.split(v)[0], copy=True)  # W_1 x + b_1 (u = 0), for every propagation
    r = [r[0]] + [xp.asarray(a, copy=True) for a in r[1:]]  # rates at the iterate
    norm = norm_of(F, axis=1)
    active = norm > thresh
    G = full((B, nL, nL), 0.0)
    stale = full((B,), True, xp.bool)  # G must be (re-)evaluated before the next step
    it = n_jac = 0
    while bool(xp.any(active)) and it < max_iter:
        it += 1
        refresh = active & (stale | (not reuse_jacobian))
        if bool(xp.any(refresh)):
            jdx = subset(refresh)
            JQ = (J0 @ system.Q)[jdx] if (it == 1 and J0 is not None) else \
                net._jacobian_product(net.split(v[jdx]), system.Q_blocks)
            G[jdx] = JQ + a * I_L
            n_jac += 1
        idx = subset(active)  # a slice (views rather than copies) when all are active
        step = solve(G[idx], F[idx][..., None])[..., 0]
        # backtracking on ||F||: accept the full step unless it increases the residual
        s = full((step.shape[0],), 1.0)
        for _ in range(30):
            u_try = u[idx] - s[:, None] * step
            r_t, v_t, F_t = _state_at(system, x2[idx], target[idx], u_try, drive[idx])
            n_t = norm_of(F_t, axis=1)
            ok = (n_t <= (1 - 1e-4 * s) * norm[idx]) | (n_t <= thresh[idx]) | (s < 1e-8)
            ok &= xp.isfinite(n_t)
            if bool(xp.all(ok)):
                break
            s = xp.where(ok, s, 0.5 * s)
        with errstate(xp, divide="ignore", invalid="ignore"):
            stale[idx] = ~(n_t <= norm[idx] / REFRESH_BELOW) | (s < 1)
        u[idx], v[idx], F[idx], norm[idx] = u_try, v_t, F_t, n_t
        for r_i, r_new in zip(r[1:], r_t[1:]):
            r_i[idx] = r_new
        active = (norm > thresh) & xp.isfinite(norm)
    res = _result(system, x2, target, u, thresh, it, "newton", state=(r, v, F))
    res.info["jacobian_evaluations"] = n_jac
    return res


def simulate_until_converged(system, x2, target, thresh, dt=None, chunk=1000,
                             max_steps=256000, **kwargs):
    """Euler-simulate, doubling the horizon from ``chunk`` steps up to ``max_steps``, until
    every sample passes the reference convergence test AND ||F(u)|| <= ``thresh`` (the Euler
    fixed points are the exact steady states); ``converged`` says which samples made it."""
    c, xp = system.controller, system.xp
    if dt is None:
        dt = min(0.25 * c.tau_v, 0.02 * c.tau_u) if c.tau_v > 0 else 0.02 * c.tau_u
    n = check_int(chunk, "chunk")
    max_steps = check_int(max_steps, "max_steps")
    while True:
        sim = simulate(system, x2, target, method="euler", dt=dt, n_steps=n, record="final",
                       **kwargs)
        with errstate(xp, all="ignore"):
            res = _result(system, x2, target, sim.u_final, thresh, sim.n_steps, "simulate",
                          ok=sim.converged)
        if bool(xp.all(res.converged)) or bool(xp.any(sim.diverged)) or n >= max_steps:
            return res
        n = min(2 * n, max_steps)
