"""The coupled network + controller system on tensors, mirroring :class:`dfc_theory.DFCSystem`
(same state layout z = [v; s], same right-hand side and analytic Jacobian; see
:mod:`dfc_theory.dynamics` for the equations).  The controller is the NumPy core's
:class:`dfc_theory.Controller` itself (plain scalars)."""
from __future__ import annotations

import torch

from .. import dynamics as _np_dynamics
from ..controller import Controller
from ._common import as_batch, solve, to_numpy
from .network import Network

__all__ = ["DFCSystem"]


class DFCSystem:
    """A torch :class:`~dfc_theory.torch.Network`, feedback weights Q (N, n_L) and a
    :class:`dfc_theory.Controller`.  Q is converted to the network's dtype and device."""

    def __init__(self, network, Q, controller):
        if not isinstance(network, Network):
            raise TypeError(f"network: expected a dfc_theory.torch.Network, got "
                            f"{type(network).__name__}")
        if not isinstance(controller, Controller):
            raise TypeError(f"controller: expected a dfc_theory.Controller, got "
                            f"{type(controller).__name__}")
        if isinstance(Q, (list, tuple)):
            Q = torch.cat([network.tensor(q, f"Q[{i}] (Q_{i + 1})", ndim=2)
                           for i, q in enumerate(Q)], dim=0)
        self.network = network
        self.Q = network.tensor(Q, "Q", shape=(network.n_total, network.n_out), strict=True)
        self.controller = controller

    @classmethod
    def from_numpy(cls, system, dtype=torch.float64, device=None):
        """The torch twin of a :class:`dfc_theory.DFCSystem`."""
        if not isinstance(system, _np_dynamics.DFCSystem):
            raise TypeError(f"system: expected a dfc_theory.DFCSystem, got "
                            f"{type(system).__name__}")
        net = Network.from_numpy(system.network, dtype=dtype, device=device)
        return cls(net, system.Q, system.controller)

    def to_numpy(self):
        return _np_dynamics.DFCSystem(self.network.to_numpy(), to_numpy(self.Q),
                                      self.controller)

    def replace(self, network=None, Q=None, controller=None):
        return DFCSystem(network or self.network, self.Q if Q is None else Q,
                         controller or self.controller)

    @property
    def Q_blocks(self):
        """Q_i of shape (n_i, n_L), i = 1..L."""
        return tuple(torch.split(self.Q, self.network.sizes[1:], dim=0))

    def __repr__(self):
        return f"DFCSystem({self.network!r}, Q{tuple(self.Q.shape)}, {self.controller!r})"

    @property
    def state_size(self):
        n = self.network
        return n.n_out if self.controller.instantaneous else n.n_total + n.n_out

    def prepare(self, x, target):
        """Validate and batch ``x`` (B, n_0) and ``target`` = r_L* (B, n_L) (or (n_L,))."""
        net = self.network
        x2, single = as_batch(x, "x", net.n_in, net.dtype, net.device)
        t = net.tensor(target, "target", ndim=(1, 2))
        if t.ndim == 1:
            t = t[None, :]
        if t.shape[1] != net.n_out or t.shape[0] not in (1, x2.shape[0]):
            raise ValueError(f"target: expected shape ({x2.shape[0]}, {net.n_out}) or "
                             f"({net.n_out},), got {tuple(t.shape)}")
        return x2, t.expand(x2.shape[0], net.n_out), single

    def initial_state(self, x):
        """z(0) = [v^-; 0] (B, M)."""
        net = self.network
        x2, _ = as_batch(x, "x", net.n_in, net.dtype, net.device)
        s0 = x2.new_zeros((x2.shape[0], net.n_out))
        if self.controller.instantaneous:
            return s0
        return torch.cat([net.forward(x2).v_stacked, s0], dim=1)

    def _parts(self, x2, target, z):
        net, c = self.network, self.controller
        nL = net.n_out
        s = z[:, -nL:]
        if c.instantaneous:
            if c.leak == "integral" and c.k_p != 0.0:
                raise ValueError("controller: the instantaneous system (tau_v = 0) with "
                                 "leak='integral' needs k_p = 0 (u = u_int + k_p e(u) is "
                                 "implicit)")
            u = s
            v = net.forward(x2, delta=u @ self.Q.T).v_stacked
            r = net.rates(v)
            return v, r, target - r[-1], u, s
        v = z[:, :-nL]
        r = net.rates(v)
        e = target - r[-1]
        u = s + c.k_p * e if c.leak == "integral" else s
        return v, r, e, u, s

    def rhs(self, x, target, z):
        """dz/dt (B, M) (equations in :mod:`dfc_theory.dynamics`)."""
        x2, t, _ = self.prepare(x, target)
        return self._rhs(x2, t, self.network.tensor(z, "z", ndim=2))

    def _rhs(self, x2, target, z):
        net, c = self.network, self.controller
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            if c.leak == "total" and c.k_p:
                J = net.jacobian(x2, v)
                eye = torch.eye(net.n_out, dtype=z.dtype, device=z.device)
                G = eye + c.k_p * (J @ self.Q)
                rhs = ((e - c.alpha * u) / c.tau_u)[..., None]
                return solve(G, rhs)[..., 0]
            return (e - c.alpha * u) / c.tau_u
        vff = net.basal(x2, v)
        dv = (-v + vff + u @ self.Q.T) / c.tau_v
        if c.leak == "integral":
            ds = (e - c.alpha * s) / c.tau_u
        else:
            DL = net.phi(net.depth).df(v[:, -net.n_out:])
            ds = (e - c.alpha * u) / c.tau_u - c.k_p * DL * dv[:, -net.n_out:]
        return torch.cat([dv, ds], dim=1)

    def rhs_jacobian(self, x, target, z):
        """d(dz/dt)/dz (B, M, M), analytic (the formulas of
        :meth:`dfc_theory.DFCSystem.rhs_jacobian`).  At a steady state its spectral abscissa
        decides local stability (THEORY.md section 5)."""
        x2, t, _ = self.prepare(x, target)
        return self._rhs_jacobian(x2, t, self.network.tensor(z, "z", ndim=2))

    def _rhs_jacobian(self, x2, target, z):
        net, c = self.network, self.controller
        B, nL, N = x2.shape[0], net.n_out, net.n_total
        dt, dev = z.dtype, z.device
        eye_L = torch.eye(nL, dtype=dt, device=dev)
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            JQ = net.jacobian(x2, v) @ self.Q
            G = JQ + c.alpha * eye_L
            if c.k_p:
                G = solve(eye_L + c.k_p * JQ, G)
            return -G / c.tau_u
        D = [net.phi(i).df(vi) for i, vi in enumerate(net.split(v), start=1)]
        sizes = net.sizes[1:]
        offs = [0]
        for n in sizes:
            offs.append(offs[-1] + n)
        Mv = -torch.eye(N, dtype=dt, device=dev).expand(B, N, N).clone()
        for i in range(2, net.depth + 1):  # block (i, i-1) = W_i D_{i-1}
            Mv[:, offs[i - 1]:offs[i], offs[i - 2]:offs[i - 1]] = \
                net.weights[i - 1][None] * D[i - 2][:, None, :]
        JLo = torch.zeros((B, nL, N), dtype=dt, device=dev)
        JLo[:, :, offs[-2]:] = torch.diag_embed(D[-1])
        A = torch.zeros((B, N + nL, N + nL), dtype=dt, device=dev)
        if c.leak == "integral":
            A[:, :N, :N] = (Mv - c.k_p * self.Q[None] @ JLo) / c.tau_v
            A[:, :N, N:] = self.Q / c.tau_v
            A[:, N:, :N] = -JLo / c.tau_u
            A[:, N:, N:] = -c.alpha * eye_L / c.tau_u
        else:
            vL = v[:, -nL:]
            DL = D[-1]
            dvL = (-vL + net.basal(x2, v)[:, -nL:] + u @ self.Q_blocks[-1].T) / c.tau_v
            d2 = net.phi(net.depth).d2f(vL) * dvL
            A[:, :N, :N] = Mv / c.tau_v
            A[:, :N, N:] = self.Q / c.tau_v
            rowsL = Mv[:, offs[-2]:, :] / c.tau_v
            A[:, N:, :N] = -JLo / c.tau_u - c.k_p * DL[:, :, None] * rowsL
            A[:, N:, offs[-2]:N] -= c.k_p * torch.diag_embed(d2)
            A[:, N:, N:] = -c.alpha * eye_L / c.tau_u \
                - c.k_p * DL[:, :, None] * self.Q_blocks[-1][None] / c.tau_v
        return A

    def rest_state(self, ss, target):
        """The dynamical state z of a steady state ``ss`` (batched): z = [v; s] with
        s = u - k_p e for ``leak="integral"`` and s = u for ``"total"``; s alone for the
        instantaneous system."""
        c = self.controller
        u = ss.u if ss.u.ndim == 2 else ss.u[None]
        rL = ss.r_L if ss.r_L.ndim == 2 else ss.r_L[None]
        t = self.network.tensor(target, "target", ndim=(1, 2))
        s = u - c.k_p * (t - rL) if (c.leak == "integral" and c.k_p) else u
        if c.instantaneous:
            return s
        v = ss.v if ss.v.ndim == 2 else ss.v[None]
        return torch.cat([v, s], dim=1)

    def control(self, x, target, z):
        x2, t, _ = self.prepare(x, target)
        return self._parts(x2, t, self.network.tensor(z, "z", ndim=2))[3]
