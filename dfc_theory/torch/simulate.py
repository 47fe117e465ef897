"""The reference Euler scheme on tensors (THEORY.md section 2), step for step the scheme of
:mod:`dfc_theory.simulate` (see its module docstring for the update equations, the options
``instantaneous_transmission`` and ``proactive``, the apical filter tau_A, the noise, and the
reference convergence test).  Only ``method="euler"`` exists here: the continuous-time
integrators stay in the exact NumPy core.

Noise (Euler-Maruyama, ``controller.sigma > 0`` or ``sigma_out > 0``) is drawn per step as a
(B, N) standard normal, scaled by sigma sqrt(dt) / tau_A:

* ``seed`` a ``numpy.random.Generator``: drawn with NumPy in the NumPy core's order, so a
  generator in the same state gives the very same trajectory as :func:`dfc_theory.simulate`
  (for equivalence checks; costs a host-to-device copy per step);
* ``seed`` an int (or None): a ``torch.Generator`` on the simulation's device (fast; None
  seeds it from torch's global generator);
* ``noise``: a pre-drawn tensor or array of standard normals (n_steps, B, N).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from ..simulate import BLOWUP
from .._validation import check_choice, check_scalar
from .dynamics import DFCSystem

__all__ = ["simulate", "SimulationResult", "StepState", "SIMULATION_METHODS"]

SIMULATION_METHODS = ("euler",)
RECORDS = ("output", "full", "final")


@dataclass
class StepState:
    """What an ``observer`` sees after each Euler step (tensors; per-layer tuples):
    ``v``, ``v_ff`` tuples of (B, n_i); ``v_fb`` (B, N); ``r`` r_0..r_L; ``u`` (B, n_L)."""

    step: int
    t: float
    u: torch.Tensor
    v: tuple
    v_ff: tuple
    v_fb: torch.Tensor
    r: tuple


@dataclass
class SimulationResult:
    """A simulated trajectory; fields as :class:`dfc_theory.SimulationResult` (tensors)."""

    t: torch.Tensor
    u: Optional[torch.Tensor]
    e: Optional[torch.Tensor]
    r_L: Optional[torch.Tensor]
    v: Optional[torch.Tensor]
    v_final: torch.Tensor
    v_ff_final: torch.Tensor
    v_fb_final: torch.Tensor
    u_final: torch.Tensor
    converged: torch.Tensor
    diverged: torch.Tensor
    ratio: torch.Tensor
    error_ratio: torch.Tensor
    n_steps: int
    method: str
    info: dict = field(default_factory=dict)


def _convergence(system, target, r_ff_L, v, u, e0, conv_tol, eps):
    net = system.network
    rL = net.phi(net.depth).f(v[:, -net.n_out:])
    e = target - rL
    finite = torch.isfinite(v).all(dim=1) & torch.isfinite(u).all(dim=1)
    tiny = torch.finfo(v.dtype).tiny
    num = torch.linalg.vector_norm(rL - (target - system.controller.alpha_eff * u), dim=1)
    ratio = num / torch.linalg.vector_norm(r_ff_L, dim=1).clamp_min(tiny)
    ne, ne0 = torch.linalg.vector_norm(e, dim=1), torch.linalg.vector_norm(e0, dim=1)
    err_ratio = ne / ne0.clamp_min(tiny)
    conv = finite & (ratio < conv_tol) & (ne <= eps ** 2 * ne0)
    div = ~finite | ~(ratio <= 1.0)
    return conv, div, ratio, err_ratio


def _check_euler_dt(system, dt, instantaneous_transmission):
    c = system.controller
    if not c.instantaneous and dt >= c.tau_v:
        raise ValueError(f"dt: forward Euler needs dt < tau_v = {c.tau_v} (the reference "
                         f"code's dt < ratio), got dt={dt}; use tau_v=0 for the "
                         f"instantaneous system")
    if c.tau_A is not None and dt > c.tau_A:
        raise ValueError(f"dt: must be <= tau_A = {c.tau_A}, got {dt}")
    if c.instantaneous and not instantaneous_transmission:
        raise ValueError("instantaneous_transmission: the instantaneous system (tau_v = 0) "
                         "needs instantaneous transmission")


class _Noise:
    """Standard-normal (B, N) draws per step from one of the three sources."""

    def __init__(self, seed, noise, n_steps, B, N, dtype, device):
        self.shape, self.dtype, self.device = (B, N), dtype, device
        self.pre = None
        if noise is not None:
            pre = torch.as_tensor(noise, dtype=dtype, device=device)
            if tuple(pre.shape) != (n_steps, B, N):
                raise ValueError(f"noise: expected shape ({n_steps}, {B}, {N}) of standard "
                                 f"normals, got {tuple(pre.shape)}")
            self.pre = pre
        elif isinstance(seed, np.random.Generator):
            self.np_rng = seed
        else:
            self.np_rng = None
            self.gen = torch.Generator(device=device)
            if seed is None:
                self.gen.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
            else:
                if isinstance(seed, bool) or int(seed) != seed or seed < 0:
                    raise ValueError(f"seed: expected a non-negative int, a numpy Generator "
                                     f"or None, got {seed!r}")
                self.gen.manual_seed(int(seed))

    def draw(self, k):
        if self.pre is not None:
            return self.pre[k]
        if self.np_rng is not None:
            return torch.from_numpy(self.np_rng.standard_normal(self.shape)).to(
                self.device, self.dtype)
        return torch.randn(self.shape, generator=self.gen, dtype=self.dtype,
                           device=self.device)


def simulate(system: DFCSystem, x, target, method="euler", dt=0.005, n_steps=1000,
             record="output", instantaneous_transmission=True, proactive=False, seed=None,
             sigma_out=None, observer: Optional[Callable[[StepState], None]] = None,
             conv_tol=1e-5, eps=0.5, noise=None):
    """Simulate the network + controller from the feedforward state with the reference
    Euler scheme (batched over samples, looped over time).

    Parameters are those of :func:`dfc_theory.simulate` (``method`` must be "euler"), plus
    ``noise`` (pre-drawn standard normals, module docstring).  ``seed`` may be a NumPy
    Generator (bit-compatible with the NumPy core), an int or None.

    Returns
    -------
    SimulationResult (tensors on the system's device; a single input squeezes the batch).
    """
    if not isinstance(system, DFCSystem):
        raise TypeError(f"system: expected a dfc_theory.torch.DFCSystem, got "
                        f"{type(system).__name__}")
    if method != "euler":
        raise ValueError(f"method: the torch backend implements only 'euler' (the reference "
                         f"scheme); use dfc_theory.simulate for {method!r}")
    check_choice(record, "record", RECORDS)
    dt = check_scalar(dt, "dt", low=0.0, low_inclusive=False)
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps: expected a positive integer, got {n_steps!r}")
    n_steps = int(n_steps)
    x2, t, single = system.prepare(x, target)
    with torch.no_grad():
        res = _euler(system, x2, t, dt, n_steps, record, instantaneous_transmission,
                     proactive, seed, sigma_out, observer, conv_tol, eps, noise)
    if single:
        for name in ("u", "e", "r_L", "v"):
            a = getattr(res, name)
            if a is not None:
                setattr(res, name, a[:, 0])
        for name in ("v_final", "v_ff_final", "v_fb_final", "u_final", "converged",
                     "diverged", "ratio", "error_ratio"):
            setattr(res, name, getattr(res, name)[0])
    return res


def _euler(system, x2, target, dt, n_steps, record, inst_tx, proactive, seed, sigma_out,
           observer, conv_tol, eps, noise):
    _check_euler_dt(system, dt, inst_tx)
    net, c = system.network, system.controller
    L, B, nL, N = net.depth, x2.shape[0], net.n_out, net.n_total
    dtype, device = net.dtype, net.device
    WT = [w.T for w in net.weights]
    bs = net.biases
    phis = [net.phi(i).f for i in range(1, L + 1)]
    QT = system.Q.T
    sizes = net.sizes[1:]
    offs = [0]
    for n in sizes:
        offs.append(offs[-1] + n)
    sl = [slice(offs[i], offs[i + 1]) for i in range(L)]
    h_u = dt / c.tau_u
    h_v = 1.0 if c.instantaneous else dt / c.tau_v
    tau_A = dt if c.tau_A is None else c.tau_A
    h_A = dt / tau_A
    std_hidden = c.sigma * math.sqrt(dt) / tau_A
    std_out = std_hidden if sigma_out is None else \
        check_scalar(sigma_out, "sigma_out", low=0.0) * math.sqrt(dt) / tau_A
    noisy = std_hidden > 0 or std_out > 0
    if noisy:
        noise_std = torch.full((N,), std_hidden, dtype=dtype, device=device)
        noise_std[sl[-1]] = std_out
        source = _Noise(seed, noise, n_steps, B, N, dtype, device)
    elif noise is not None:
        raise ValueError("noise: given, but the controller has sigma = 0 and sigma_out is "
                         "unset (no noise to inject)")
    total = c.leak == "total"

    fp = net.forward(x2)
    v = list(fp.v)
    r = [x2] + list(fp.r[1:])
    vff = list(fp.v)
    vff1 = fp.v[0]
    v_fb = x2.new_zeros((B, N))
    u = x2.new_zeros((B, nL))
    u_int = x2.new_zeros((B, nL))
    e0 = target - r[-1]
    keep = record != "final"
    if keep:
        U = x2.new_empty((n_steps + 1, B, nL))
        E = torch.empty_like(U)
        RL = torch.empty_like(U)
        U[0], E[0], RL[0] = u, e0, r[-1]
        V = x2.new_empty((n_steps + 1, B, N)) if record == "full" else None
        if V is not None:
            V[0] = fp.v_stacked
    steps_done, blew_up = n_steps, False
    for k in range(n_steps):
        e = target - r[-1]
        if total:
            u_int = u_int + h_u * (e - c.alpha * u)
        else:
            u_int = u_int + h_u * (e - c.alpha * u_int)
        u_new = u_int + c.k_p * e
        drive = (u_new if proactive else u) @ QT
        if h_A == 1.0:
            v_fb = drive
        else:
            v_fb = v_fb + h_A * (drive - v_fb)
        if noisy:
            v_fb = v_fb + noise_std * source.draw(k)
        src = r if inst_tx else list(r)
        for i in range(L):
            ff = vff1 if i == 0 else torch.addmm(bs[i], src[i], WT[i])
            vff[i] = ff
            if h_v == 1.0:
                v[i] = ff + v_fb[:, sl[i]]
            else:
                v[i] = v[i] + h_v * (ff + v_fb[:, sl[i]] - v[i])
            r[i + 1] = phis[i](v[i])
        u = u_new
        if keep:
            U[k + 1], E[k + 1], RL[k + 1] = u, target - r[-1], r[-1]
            if V is not None:
                V[k + 1] = torch.cat(v, dim=1)
        if observer is not None:
            observer(StepState(k + 1, (k + 1) * dt, u, tuple(v), tuple(vff), v_fb, tuple(r)))
        if (k + 1) % 50 == 0:
            ok = (u.abs() < BLOWUP).all()
            for a in v:
                ok = ok & (a.abs() < BLOWUP).all()
            if not bool(ok):
                steps_done, blew_up = k + 1, True
                break
    v_final = torch.cat(v, dim=1)
    conv, div, ratio, err_ratio = _convergence(system, target, fp.r[-1], v_final, u, e0,
                                               conv_tol, eps)
    tgrid = dt * torch.arange(steps_done + 1, dtype=dtype, device=device)
    if keep:
        U, E, RL = U[:steps_done + 1], E[:steps_done + 1], RL[:steps_done + 1]
        if V is not None:
            V = V[:steps_done + 1]
    else:
        U = E = RL = V = None
    return SimulationResult(tgrid, U, E, RL, V, v_final, torch.cat(vff, dim=1), v_fb, u,
                            conv, div, ratio, err_ratio, steps_done, "euler",
                            {"blew_up": blew_up, "u_int_final": u_int})
