"""Integrators for the DFC dynamics (THEORY.md sections 2 and 5).

* ``method="euler"``: the reference discretisation of THEORY.md section 2, step for step,
  with h_u = dt / tau_u, h_v = dt / tau_v (1 for tau_v = 0), tau_A = dt when None, apical
  noise sigma sqrt(dt) / tau_A xi, u[t+1] in the apical drive when ``proactive``.  It starts
  at v = v^-, u = u_int = v_fb = 0, so u jumps to k_p delta_L in the first step (the
  continuous-time methods start from that limit, :meth:`DFCSystem.initial_state`).  Its
  stability limits: :func:`dfc_theory.stability.reference_euler_matrix`.
* ``method="ivp"``: continuous time with SciPy's stiff solvers and the analytic Jacobian
  of :meth:`DFCSystem.rhs_jacobian` (instantaneous apical compartment, no noise).
* ``method="linear"``: the exact trajectory of the system linearised at the feedforward rest
  point z0 = [v^-; 0] (THEORY.md section 5), z(t) = z0 + int_0^t expm(A s) ds c, by the
  exact one-step propagator of the augmented matrix [[A, c], [0, 0]].

The reference convergence test (THEORY.md section 3) is applied at the end: converged when
||r_L(T) - (r_L* - alpha_eff u(T))|| / ||r_L^-|| < ``conv_tol`` and ||e(T)|| <= eps^2 ||e(0)||;
diverged when the first ratio exceeds 1 or the state is not finite (or blew up).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.sparse

from ._backend import affine, device, errstate, is_torch, no_grad
from ._dynamics import DFCSystem
from ._validation import as_array, as_rng, check_choice, check_int, check_scalar, check_type

__all__ = ["simulate", "SimulationResult", "StepState", "SIMULATION_METHODS"]

SIMULATION_METHODS = ("euler", "ivp", "linear")
#: solve_ivp methods accepted by ``method="ivp"``; the first three use the analytic Jacobian
IVP_METHODS = ("Radau", "BDF", "LSODA", "RK45", "RK23", "DOP853")
RECORDS = ("output", "full", "final")
#: a state entry beyond this magnitude stops the Euler run (flagged ``blew_up``)
BLOWUP = 1e8


@dataclass
class StepState:
    """What an ``observer`` sees after each Euler step (batched, per-layer tuples).

    ``v``, ``v_ff``: tuples of (B, n_i); ``v_fb``: (B, N); ``r``: r_0..r_L; ``u``: (B, n_L).

    Attributes
    ----------
    step : int, k + 1 after the k-th step (1..n_steps)
    t : float, the time (k + 1) dt
    u : array (B, n_L), the control u[t+1]
    v, v_ff : tuples of arrays (B, n_i), the somatic and basal compartments of layers 1..L
    v_fb : array (B, N), the apical compartment (noise included); Q u[t] (``proactive``:
        Q u[t+1]) for ``controller.tau_A`` None (instantaneous) and no noise
    r : tuple of arrays (B, n_i), the rates r_0..r_L

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> Q = dfc.feedback.weight_product(net)
    >>> system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=0.1, tau_v=0.05))
    >>> x = np.ones(3); target = net.forward(x).output + 0.01
    >>> seen = []
    >>> _ = dfc.simulate(system, x, target, dt=0.01, n_steps=3, observer=seen.append)
    >>> [s.step for s in seen], seen[-1].u.shape, seen[-1].v_fb.shape
    ([1, 2, 3], (1, 2), (1, 6))
    >>> bool(np.allclose(seen[-1].v_fb, seen[-2].u @ Q.T))  # apical drive Q u[t]
    True
    """

    step: int
    t: float
    u: object
    v: tuple
    v_ff: tuple
    v_fb: object
    r: tuple


@dataclass
class SimulationResult:
    """A simulated trajectory (arrays of the system's namespace).

    Attributes
    ----------
    t : (T+1,) time grid.
    u, e, r_L : (T+1, B, n_L) control, output error and output over time (``record`` not
        "final"); ``v`` (T+1, B, N) for ``record="full"``.
    v_final, v_ff_final, v_fb_final, u_final : (B, N) final compartments, (B, n_L) control.
    converged, diverged, ratio, error_ratio : (B,) the reference convergence test: flags,
        ||r_L(T) - (r_L* - alpha_eff u(T))|| / ||r_L^-|| and ||e(T)|| / ||e(0)||.
    n_steps : steps actually taken (fewer than asked when the run blew up).
    method : the simulation method; ``info`` solver details (e.g. ``info["message"]``).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net),
    ...                        dfc.Controller(alpha=0.1, tau_v=0.05))
    >>> x = np.ones(3); target = net.forward(x).output + 0.01
    >>> sim = dfc.simulate(system, x, target, dt=0.01, n_steps=100)   # single input: no B axis
    >>> sim.t.shape, sim.u.shape, sim.n_steps, bool(np.array_equal(sim.u[-1], sim.u_final))
    ((101,), (101, 2), 100, True)
    """

    t: object
    u: Optional[object]
    e: Optional[object]
    r_L: Optional[object]
    v: Optional[object]
    v_final: object
    v_ff_final: object
    v_fb_final: object
    u_final: object
    converged: object
    diverged: object
    ratio: object
    error_ratio: object
    n_steps: int
    method: str
    info: dict = field(default_factory=dict)


def _convergence(system, target, r_ff_L, v, u, e0, conv_tol, eps):
    net, xp = system.network, system.xp
    rL = net.phi(net.depth).f(v[:, -net.n_out:])
    e = target - rL
    finite = xp.all(xp.isfinite(v), axis=1) & xp.all(xp.isfinite(u), axis=1)
    floor = 1e-300 if v.dtype == xp.float64 else xp.finfo(v.dtype).smallest_normal
    norm = xp.linalg.vector_norm
    with errstate(xp, invalid="ignore", divide="ignore", over="ignore"):
        num = norm(rL - (target - system.controller.alpha_eff * u), axis=1)
        ratio = num / xp.maximum(norm(r_ff_L, axis=1), floor)
        ne, ne0 = norm(e, axis=1), norm(e0, axis=1)
        err_ratio = ne / xp.maximum(ne0, floor)
    conv = finite & (ratio < conv_tol) & (ne <= eps ** 2 * ne0)
    div = ~finite | ~(ratio <= 1.0)
    return conv, div, ratio, err_ratio


def simulate(system: DFCSystem, x, target, method="euler", dt=0.005, n_steps=1000,
             record="output", instantaneous_transmission=True, proactive=False, seed=None,
             sigma_out=None, observer: Optional[Callable[[StepState], None]] = None,
             ivp_method="Radau", rtol=1e-10, atol=1e-12, conv_tol=1e-5, eps=0.5, noise=None,
             max_nfev=100_000):
    """Simulate the network + controller dynamics from the feedforward state.

    Parameters
    ----------
    system : DFCSystem
    x : (B, n_0) or (n_0,) inputs; target : (B, n_L) or (n_L,) output targets r_L*.
    method : {"euler", "ivp", "linear"}
        "ivp" and "linear" use SciPy (solve_ivp, expm): NumPy systems only.
    dt, n_steps : float > 0, int >= 1
        Euler step (dt < tau_v unless tau_v = 0) and the output grid t = dt * (0..n_steps).
    record : {"output", "full", "final"}
        Keep u, e and r_L over time; also v (memory B*N*(T+1)); or only the final state.
    instantaneous_transmission, proactive : bool
        Euler: layer i sees r_{i-1}[t+1] (else r_{i-1}[t]); the apical drive is Q u[t+1]
        (else Q u[t], the reference code's).
    seed : int, numpy Generator or None
        Euler-Maruyama noise (``controller.sigma > 0`` or ``sigma_out > 0``): NumPy draws,
        the same on every backend; for torch systems an int seeds a ``torch.Generator`` on
        the system's device instead (fast, other numbers).
    sigma_out : float, optional
        Noise level of the output layer (the reference code's sigma_output); default sigma.
    observer : callable(StepState), optional
        Called after every Euler step (e.g. to accumulate a time-averaged learning rule).
    ivp_method, rtol, atol : solve_ivp settings for ``"ivp"`` (``IVP_METHODS``; the implicit
        ones get the analytic Jacobian, sparse block-diagonal, dense for LSODA).
    max_nfev : int >= 1
        ``"ivp"`` stops after this many right-hand-side evaluations (else a trajectory into a
        singular point, e.g. I + k_p J Q singular for tau_v = 0 and the "total" leak, shrinks
        its steps forever); the rest is nan, flagged diverged, ``info["message"]`` says why.
    conv_tol, eps : float > 0, float >= 0
        The reference convergence test (module docstring).
    noise : array (n_steps, B, N), optional
        Pre-drawn standard normals for the Euler noise (instead of ``seed``).

    Returns
    -------
    SimulationResult (batch axis squeezed for a single input).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net),
    ...                        dfc.Controller(alpha=0.1, tau_v=0.05))
    >>> x = np.ones(3); target = net.forward(x).output + 0.01
    >>> sim = dfc.simulate(system, x, target, dt=0.01, n_steps=2000, record="final")
    >>> exact = dfc.steady_state(system, x, target)
    >>> bool(sim.converged), bool(np.allclose(sim.u_final, exact.u, atol=1e-9))
    (True, True)
    """
    check_type(system, "system", DFCSystem)
    check_choice(method, "method", SIMULATION_METHODS)
    check_choice(record, "record", RECORDS)
    xp = system.xp
    if method != "euler" and is_torch(xp):
        raise ValueError(f"method: {method!r} uses SciPy and is NumPy-only; the torch "
                         f"backend implements 'euler' (the reference scheme)")
    if method == "ivp":
        check_choice(ivp_method, "ivp_method", IVP_METHODS)
        rtol = check_scalar(rtol, "rtol", low=0.0, low_inclusive=False)
        atol = check_scalar(atol, "atol", low=0.0, low_inclusive=False)
        max_nfev = check_int(max_nfev, "max_nfev")
    dt = check_scalar(dt, "dt", low=0.0, low_inclusive=False)
    n_steps = check_int(n_steps, "n_steps")
    conv_tol = check_scalar(conv_tol, "conv_tol", low=0.0, low_inclusive=False)
    eps = check_scalar(eps, "eps", low=0.0)
    sigma_out = check_scalar(sigma_out, "sigma_out", low=0.0, optional=True)
    if observer is not None and not callable(observer):
        raise TypeError(f"observer: expected a callable, got {type(observer).__name__}")
    x2, t, single = system.prepare(x, target)
    if method == "euler":
        with no_grad(xp):
            res = _euler(system, x2, t, dt, n_steps, record, instantaneous_transmission,
                         proactive, seed, sigma_out, observer, conv_tol, eps, noise)
    else:
        if system.controller.sigma > 0 or (sigma_out or 0) > 0:
            raise ValueError(f"method: {method!r} is deterministic; use method='euler' for "
                             f"noise (controller.sigma={system.controller.sigma})")
        if x2.shape[0] == 0:  # nothing to integrate (SciPy's integrators need a state)
            res = _unpack_traj(system, x2, t, np.zeros((n_steps + 1, 0, system.state_size)),
                               dt * np.arange(n_steps + 1), record, method, conv_tol, eps, {})
        elif method == "ivp":
            res = _ivp(system, x2, t, dt, n_steps, record, ivp_method, rtol, atol,
                       conv_tol, eps, max_nfev)
        else:
            res = _linear(system, x2, t, dt, n_steps, record, conv_tol, eps)
    if single:  # the batch axis is the second of a time series (T+1, B, n), else the first
        for name in ("u", "e", "r_L", "v", "v_final", "v_ff_final", "v_fb_final", "u_final",
                     "converged", "diverged", "ratio", "error_ratio"):
            a = getattr(res, name)
            if a is not None:
                setattr(res, name, a[:, 0] if a.ndim == 3 else a[0])
    return res


def noise_std(N, n_out, sigma, sigma_out, dt, tau_A):
    """Per-unit std of the apical noise per Euler step, sigma sqrt(dt) / tau_A (sigma_out
    in the output layer when given), shape (N,)."""
    std = np.full(N, sigma * math.sqrt(dt) / tau_A)
    if sigma_out is not None:
        std[N - n_out:] = sigma_out * math.sqrt(dt) / tau_A
    return std


def _euler(system, x2, target, dt, n_steps, record, inst_tx, proactive, seed, sigma_out,
           observer, conv_tol, eps, noise):
    net, c, xp = system.network, system.controller, system.xp
    if not c.instantaneous and dt >= c.tau_v:
        raise ValueError(f"dt: forward Euler needs dt < tau_v = {c.tau_v} (dt / tau_v is the "
                         f"somatic step; the reference code's dt < ratio), got dt={dt}; use "
                         f"tau_v=0 for the instantaneous system")
    if c.tau_A is not None and dt > c.tau_A:
        raise ValueError(f"dt: must be <= tau_A = {c.tau_A}, got {dt}")
    if c.instantaneous and not inst_tx:
        raise ValueError("instantaneous_transmission: the instantaneous system (tau_v = 0) "
                         "needs instantaneous transmission")
    L, B, nL, N = net.depth, x2.shape[0], net.n_out, net.n_total
    numpy = isinstance(x2, np.ndarray)
    WT = [w.T.copy() if numpy else w.T for w in net.weights]  # contiguous for NumPy's GEMMs
    phis = [net.phi(i).f for i in range(1, L + 1)]
    QT = system.Q.T.copy() if numpy else system.Q.T
    offs = np.cumsum([0] + net.sizes[1:]).tolist()
    sl = [slice(offs[i], offs[i + 1]) for i in range(L)]
    h_u = dt / c.tau_u
    h_v = 1.0 if c.instantaneous else dt / c.tau_v
    tau_A = dt if c.tau_A is None else c.tau_A
    h_A = dt / tau_A
    std = noise_std(N, net.n_out, c.sigma, sigma_out, dt, tau_A)
    noisy = bool(np.any(std > 0))
    if noisy:
        std = std if numpy else xp.asarray(std, dtype=x2.dtype, device=device(x2))
        draw = _noise_source(xp, seed, noise, n_steps, (B, N), x2)
    elif noise is not None:
        raise ValueError("noise: given, but the controller has sigma = 0 and sigma_out is "
                         "unset (no noise to inject)")
    total = c.leak == "total"

    def zeros(*shape):
        return xp.zeros(shape, dtype=x2.dtype, device=device(x2))

    fp = net._forward(x2)
    v, r, vff = list(fp.v), list(fp.r), list(fp.v)
    vff1 = fp.v[0]  # the input layer's drive W_1 x + b_1 never changes
    v_fb, u, u_int = zeros(B, N), zeros(B, nL), zeros(B, nL)
    e0 = target - r[-1]
    keep = record != "final"
    U = E = RL = V = None
    if keep:
        U, E, RL = zeros(n_steps + 1, B, nL), zeros(n_steps + 1, B, nL), zeros(n_steps + 1, B, nL)
        U[0], E[0], RL[0] = u, e0, r[-1]
    if record == "full":
        V = zeros(n_steps + 1, B, N)
        V[0] = fp.v_stacked
    steps_done, blew_up = n_steps, False
    for k in range(n_steps):
        e = target - r[-1]
        u_int += h_u * (e - c.alpha * (u if total else u_int))  # the leak acts on u or u_int
        u_new = u_int + c.k_p * e
        drive = (u_new if proactive else u) @ QT
        v_fb = drive if h_A == 1.0 else v_fb + h_A * (drive - v_fb)
        if noisy:
            v_fb = v_fb + std * draw(k)
        src = r if inst_tx else list(r)  # r[t+1] as it is updated, or a snapshot of r[t]
        for i in range(L):
            ff = vff1 if i == 0 else affine(src[i], WT[i], net.biases[i])
            vff[i] = ff
            if h_v == 1.0:
                v[i] = ff + v_fb[:, sl[i]]
            else:
                # v + h_v (ff + fb - v), the same operations with one temporary; v[i] itself
                # is replaced, not overwritten (observers may hold the previous arrays)
                d = ff + v_fb[:, sl[i]]
                d -= v[i]
                d *= h_v
                v[i] = v[i] + d
            r[i + 1] = phis[i](v[i])
        u = u_new
        if keep:
            U[k + 1], E[k + 1], RL[k + 1] = u, target - r[-1], r[-1]
            if V is not None:
                V[k + 1] = xp.concat(v, axis=1)
        if observer is not None:
            observer(StepState(k + 1, (k + 1) * dt, u, tuple(v), tuple(vff), v_fb, tuple(r)))
        if (k + 1) % 50 == 0 and not (bool(xp.all(xp.abs(u) < BLOWUP)) and
                                      all(bool(xp.all(xp.abs(a) < BLOWUP)) for a in v)):
            steps_done, blew_up = k + 1, True
            break
    v_final = xp.concat(v, axis=1)
    conv, div, ratio, err_ratio = _convergence(system, target, fp.r[-1], v_final, u, e0,
                                               conv_tol, eps)
    t = dt * xp.arange(steps_done + 1, dtype=x2.dtype, device=device(x2))
    U, E, RL, V = (None if a is None else a[:steps_done + 1] for a in (U, E, RL, V))
    return SimulationResult(t, U, E, RL, V, v_final, xp.concat(vff, axis=1), v_fb, u,
                            conv, div, ratio, err_ratio, steps_done, "euler",
                            {"blew_up": blew_up, "u_int_final": u_int})


def _noise_source(xp, seed, noise, n_steps, shape, like):
    """``draw(k)``: the standard-normal ``shape`` draw of Euler step k: pre-drawn, from a NumPy
    Generator, or from a torch Generator on the device (``simulate``'s ``seed``)."""
    if noise is not None:
        pre = as_array(noise, "noise", like=like, shape=(n_steps,) + shape)
        return lambda k: pre[k]
    if isinstance(seed, np.random.Generator) or not is_torch(xp):
        rng = as_rng(seed)
        if not is_torch(xp):
            return lambda k: rng.standard_normal(shape)
        return lambda k: xp.asarray(rng.standard_normal(shape), dtype=like.dtype,
                                    device=device(like))
    import torch
    gen = torch.Generator(device=like.device)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    gen.manual_seed(check_int(seed, "seed", low=0))
    return lambda k: torch.randn(shape, generator=gen, dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------- NumPy only (SciPy)
def _unpack_traj(system, x2, target, Z, t, record, method, conv_tol, eps, info):
    """Common tail of the continuous-time integrators: Z (T+1, B, M) -> SimulationResult."""
    net = system.network
    B, nL = x2.shape[0], net.n_out
    T1, M = Z.shape[0], Z.shape[2]  # explicit sizes: -1 is ambiguous for B = 0
    xs = np.broadcast_to(x2, (T1, B, x2.shape[1])).reshape(T1 * B, x2.shape[1])
    ts = np.broadcast_to(target, (T1, B, nL)).reshape(T1 * B, nL)
    v, rr, e, u, _ = system._parts(xs, ts, Z.reshape(T1 * B, M))
    v, e, u, rL = (a.reshape(T1, B, a.shape[1]) for a in (v, e, u, rr[-1]))
    r_ff = net._forward(x2).r[-1]
    conv, div, ratio, err_ratio = _convergence(system, target, r_ff, v[-1], u[-1], e[0],
                                               conv_tol, eps)
    keep = record != "final"
    return SimulationResult(t, u if keep else None, e if keep else None, rL if keep else None,
                            v if record == "full" else None, v[-1], net._basal(x2, v[-1]),
                            u[-1] @ system.Q.T, u[-1], conv, div, ratio, err_ratio,
                            T1 - 1, method, info)


class _BudgetSpent(Exception):
    """Raised inside solve_ivp's right-hand side once ``max_nfev`` evaluations are spent."""


def _ivp(system, x2, target, dt, n_steps, record, ivp_method, rtol, atol, conv_tol, eps,
         max_nfev):
    B, M = x2.shape[0], system.state_size
    z0 = system.initial_state(x2, target)
    t_eval = dt * np.arange(n_steps + 1)

    calls = [0]

    def fun(_, y):
        calls[0] += 1
        if calls[0] > max_nfev:  # also inside a step: one LSODA step can loop internally
            raise _BudgetSpent
        return system._rhs(x2, target, y.reshape(B, M)).ravel()

    def jac(_, y):
        blocks = list(system._rhs_jacobian(x2, target, y.reshape(B, M)))
        if ivp_method == "LSODA":  # LSODA takes a dense Jacobian only
            return scipy.linalg.block_diag(*blocks)
        return scipy.sparse.block_diag(blocks, format="csc")

    kw = {"jac": jac} if ivp_method in IVP_METHODS[:3] else {}  # explicit RK would warn
    # columns as solve_ivp returns them (the layout downstream BLAS calls see); times not
    # reached stay nan, so the flags say diverged; t = 0 too comes from the interpolant
    Y = np.full((B * M, len(t_eval)), np.nan)
    Y[:, 0] = z0.ravel()
    k, status, message = 0, 0, "The solver successfully reached the end of the integration."
    with np.errstate(over="ignore", invalid="ignore"):
        solver = getattr(scipy.integrate, ivp_method)(fun, 0.0, z0.ravel(), t_eval[-1],
                                                      rtol=rtol, atol=atol, **kw)
        while k < len(t_eval):
            try:
                msg = solver.step()
            except _BudgetSpent:
                status, message = -1, (f"stopped at t = {solver.t:.6g} of {t_eval[-1]:.6g}: "
                                       f"max_nfev = {max_nfev} evaluations spent")
                break
            if solver.status == "failed":
                status, message = -1, msg
                break
            j = int(np.searchsorted(t_eval, solver.t, side="right"))
            if j > k:
                Y[:, k:j] = solver.dense_output()(t_eval[k:j])
                k = j
    info = {"status": status, "message": message, "nfev": min(calls[0], max_nfev),
            "njev": solver.njev}
    Z = Y.T.reshape(-1, B, M)
    return _unpack_traj(system, x2, target, Z, t_eval, record, "ivp", conv_tol, eps, info)


def _linear(system, x2, target, dt, n_steps, record, conv_tol, eps):
    # start from the initial state (u(0+) = k_p delta_L off [v^-; 0] for the "total" leak)
    lin = system.linearise(x2, target, z0=system.initial_state(x2))
    B, M = lin.z0.shape
    # augmented generator [[A, c], [0, 0]] on (w, 1) with w = z - z_rest
    Aug = np.zeros((B, M + 1, M + 1))
    Aug[:, :M, :M] = lin.A
    Aug[:, :M, M] = lin.c
    P = scipy.linalg.expm(Aug * dt)  # exact one-step propagator
    Z = np.empty((n_steps + 1, B, M))
    w = np.concatenate([system.initial_state(x2, target) - lin.z0, np.ones((B, 1))], axis=1)
    Z[0] = lin.z0 + w[:, :M]
    for k in range(n_steps):
        w = np.einsum("bij,bj->bi", P, w)
        Z[k + 1] = lin.z0 + w[:, :M]
    return _unpack_traj(system, x2, target, Z, dt * np.arange(n_steps + 1), record, "linear",
                        conv_tol, eps, {"A": lin.A, "c": lin.c})
