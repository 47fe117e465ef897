"""The coupled network + controller dynamics in continuous time (THEORY.md section 2).

State layout per sample: z = [v; s] of size M = N + n_L, with v the stacked somatic
pre-activations and s the controller state: s = u_int for ``leak="integral"`` (then
u = u_int + k_p e), s = u for ``leak="total"``.  For the instantaneous system
(tau_v = 0) the state is s alone and v is slaved to it, v_i = W_i phi(v_{i-1}) + b_i + Q_i u.

Right-hand sides (e = r_L* - r_L):

* ``"integral"``: tau_v dv/dt = -v + v^ff(v) + Q u,  u = u_int + k_p e,
  tau_u du_int/dt = e - alpha u_int.
* ``"total"``:    tau_v dv/dt = -v + v^ff(v) + Q u,
  tau_u du/dt = e - alpha u + k_p tau_u de/dt with de/dt = -D_L dv_L/dt.

The apical compartment is instantaneous here (v^fb = Q u); the Euler scheme of
:mod:`dfc_theory.simulate` adds the reference code's low-pass apical filter and noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_batch, as_float_array
from .controller import Controller
from .network import Network

__all__ = ["DFCSystem", "Linearisation"]


@dataclass(frozen=True)
class Linearisation:
    """dz/dt ~ A (z - z0) + c around z0 (batched): A (B, M, M), c (B, M), z0 (B, M)."""

    A: np.ndarray
    c: np.ndarray
    z0: np.ndarray


class DFCSystem:
    """A network, its feedback weights Q (N x n_L) and a controller.

    Parameters
    ----------
    network : Network
    Q : array (N, n_L), or a sequence of blocks Q_i (n_i, n_L)
    controller : Controller
    """

    def __init__(self, network, Q, controller):
        if not isinstance(network, Network):
            raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")
        if not isinstance(controller, Controller):
            raise TypeError(f"controller: expected a dfc_theory.Controller, "
                            f"got {type(controller).__name__}")
        if isinstance(Q, (list, tuple)):
            Q = np.concatenate([np.asarray(q, dtype=np.float64) for q in Q], axis=0)
        Q = as_float_array(Q, "Q", shape=(network.n_total, network.n_out))
        Q.setflags(write=False)
        self.network = network
        self.Q = Q
        self.controller = controller
        self.Q_blocks = tuple(b.T for b in network.split(Q.T))  # Q_i, (n_i, n_L)

    def __repr__(self):
        return f"DFCSystem({self.network!r}, Q{self.Q.shape}, {self.controller!r})"

    def replace(self, network=None, Q=None, controller=None):
        return DFCSystem(network or self.network, self.Q if Q is None else Q,
                         controller or self.controller)

    # ------------------------------------------------------------------ helpers
    @property
    def state_size(self):
        """M = N + n_L (n_L for the instantaneous system)."""
        n = self.network
        return n.n_out if self.controller.instantaneous else n.n_total + n.n_out

    def prepare(self, x, target):
        """Validate and batch ``x`` (B, n_0) and ``target`` = r_L* (B, n_L)."""
        net = self.network
        x2, single = as_batch(x, "x", net.n_in)
        t = as_float_array(target, "target", ndim=(1, 2))
        if t.ndim == 1:
            t = t[None, :]
        if t.shape[1] != net.n_out or t.shape[0] not in (1, x2.shape[0]):
            raise ValueError(f"target: expected shape ({x2.shape[0]}, {net.n_out}) or "
                             f"({net.n_out},), got {np.shape(target)}")
        t = np.broadcast_to(t, (x2.shape[0], net.n_out))
        return x2, t, single

    def initial_state(self, x, target=None):
        """z(0) = [v^-; s0]: the feedforward pass and a controller with no integrated error.

        s0 = u_int(0) = 0 for ``leak="integral"`` (then u(0) = k_p e(0)).  For ``leak="total"``
        the state is u itself and the reference scheme's u = u_int + k_p e with u_int(0) = 0
        gives u(0+) = k_p delta_L: that is s0 when ``target`` is given (otherwise 0, a
        controller switched on without its proportional part).
        """
        net = self.network
        x2, _ = as_batch(x, "x", net.n_in)
        s0 = np.zeros((x2.shape[0], net.n_out))
        c = self.controller
        if target is not None and c.leak == "total" and c.k_p:
            _, t, _ = self.prepare(x2, target)
            s0 = c.k_p * (t - net.forward(x2).output)
        if self.controller.instantaneous:
            return s0
        return np.concatenate([net.forward(x2).v_stacked, s0], axis=1)

    def _parts(self, x2, target, z):
        """Return (v, r tuple r_1..r_L, e, u, s) for a batched state z."""
        net, c = self.network, self.controller
        nL = net.n_out
        s = z[:, -nL:]
        if c.instantaneous:
            if c.leak == "integral" and c.k_p != 0.0:
                raise ValueError("controller: the instantaneous system (tau_v = 0) with "
                                 "leak='integral' needs k_p = 0 (u = u_int + k_p e(u) is implicit)")
            u = s
            v = net.forward(x2, delta=u @ self.Q.T).v_stacked
            r = net.rates(v)
            return v, r, target - r[-1], u, s
        v = z[:, :-nL]
        r = net.rates(v)
        e = target - r[-1]
        u = s + c.k_p * e if c.leak == "integral" else s
        return v, r, e, u, s

    # ------------------------------------------------------------------ right-hand side
    def rhs(self, x, target, z):
        """dz/dt for a batch of states z (B, M) (see module docstring)."""
        x2, t, _ = self.prepare(x, target)
        return self._rhs(x2, t, np.asarray(z, dtype=np.float64))

    def _rhs(self, x2, target, z):
        net, c = self.network, self.controller
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            if c.leak == "total" and c.k_p:
                J = net.jacobian(x2, v)
                G = np.eye(net.n_out) + c.k_p * (J @ self.Q)
                return np.linalg.solve(G, ((e - c.alpha * u) / c.tau_u)[..., None])[..., 0]
            return (e - c.alpha * u) / c.tau_u
        vff = net.basal(x2, v)
        dv = (-v + vff + u @ self.Q.T) / c.tau_v
        if c.leak == "integral":
            ds = (e - c.alpha * s) / c.tau_u
        else:
            DL = net.phi(net.depth).df(v[:, -net.n_out:])
            ds = (e - c.alpha * u) / c.tau_u - c.k_p * DL * dv[:, -net.n_out:]
        return np.concatenate([dv, ds], axis=1)

    def rhs_jacobian(self, x, target, z):
        """d(dz/dt)/dz, shape (B, M, M), analytic.

        With J_hat the block sub-diagonal matrix of blocks W_i D_{i-1} and J_L^o = [0 ... D_L]:

        * integral: [[(-I + J_hat - k_p Q J_L^o)/tau_v, Q/tau_v], [-J_L^o/tau_u, -alpha I/tau_u]]
        * total: the u-rows are -J_L^o/tau_u - k_p d(D_L dv_L/dt)/dv and
          -alpha I/tau_u - k_p D_L Q_L/tau_v (including the phi_L'' term away from rest).
        * instantaneous (tau_v = 0): -(I + k_p J Q)^{-1} (J Q + alpha I)/tau_u (exact for
          k_p = 0; for k_p > 0 the term from the u-dependence of J is dropped, exact at rest).
        """
        x2, t, _ = self.prepare(x, target)
        return self._rhs_jacobian(x2, t, np.asarray(z, dtype=np.float64))

    def _derivatives(self, v):
        """D_i = phi_i'(v_i) per layer, each (B, n_i)."""
        net = self.network
        return [net.phi(i).df(vi) for i, vi in enumerate(net.split(v), start=1)]

    def _rhs_jacobian(self, x2, target, z):
        net, c = self.network, self.controller
        B, nL, N = x2.shape[0], net.n_out, net.n_total
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            JQ = net.jacobian(x2, v) @ self.Q
            G = JQ + c.alpha * np.eye(nL)
            if c.k_p:
                G = np.linalg.solve(np.eye(nL) + c.k_p * JQ, G)
            return -G / c.tau_u
        D = self._derivatives(v)
        sizes = net.sizes[1:]
        offs = np.concatenate([[0], np.cumsum(sizes)])
        Mv = np.broadcast_to(-np.eye(N), (B, N, N)).copy()
        for i in range(2, net.depth + 1):  # block (i, i-1) = W_i D_{i-1}
            Mv[:, offs[i - 1]:offs[i], offs[i - 2]:offs[i - 1]] = \
                net.weights[i - 1][None] * D[i - 2][:, None, :]
        JLo = np.zeros((B, nL, N))
        JLo[:, :, offs[-2]:] = np.einsum("ij,bj->bij", np.eye(nL), D[-1])
        A = np.zeros((B, N + nL, N + nL))
        if c.leak == "integral":
            A[:, :N, :N] = (Mv - c.k_p * self.Q[None] @ JLo) / c.tau_v
            A[:, :N, N:] = self.Q / c.tau_v
            A[:, N:, :N] = -JLo / c.tau_u
            A[:, N:, N:] = -c.alpha * np.eye(nL) / c.tau_u
        else:
            vL = v[:, -nL:]
            DL = D[-1]
            dvL = (-vL + net.basal(x2, v)[:, -nL:] + u @ self.Q_blocks[-1].T) / c.tau_v
            d2 = net.phi(net.depth).d2f(vL) * dvL
            A[:, :N, :N] = Mv / c.tau_v
            A[:, :N, N:] = self.Q / c.tau_v
            rowsL = Mv[:, offs[-2]:, :] / c.tau_v  # d(dv_L/dt)/dv
            A[:, N:, :N] = -JLo / c.tau_u - c.k_p * DL[:, :, None] * rowsL
            A[:, N:, offs[-2]:N] -= c.k_p * np.einsum("ij,bj->bij", np.eye(nL), d2)
            A[:, N:, N:] = -c.alpha * np.eye(nL) / c.tau_u \
                - c.k_p * DL[:, :, None] * self.Q_blocks[-1][None] / c.tau_v
        return A

    def linearise(self, x, target, z0=None):
        """Linearisation around z0 (default: the initial state, :meth:`initial_state` with the
        target).

        Returns a :class:`Linearisation` with A = d(dz/dt)/dz at z0 and c = dz/dt at z0, so
        that the linearised dynamics are dz/dt = c + A (z - z0).  Around the initial state
        with k_p = 0 this is THEORY.md section 5's A_tilde_I (integral leak) driven by
        delta_L / tau_u.
        """
        x2, t, _ = self.prepare(x, target)
        z0 = self.initial_state(x2, t) if z0 is None else as_float_array(z0, "z0", ndim=2)
        if z0.shape != (x2.shape[0], self.state_size):
            raise ValueError(f"z0: expected shape ({x2.shape[0]}, {self.state_size}), "
                             f"got {z0.shape}")
        return Linearisation(self._rhs_jacobian(x2, t, z0), self._rhs(x2, t, z0), z0)

    def control(self, x, target, z):
        """The control signal u (B, n_L) for states z (B, M)."""
        x2, t, _ = self.prepare(x, target)
        return self._parts(x2, t, np.asarray(z, dtype=np.float64))[3]
