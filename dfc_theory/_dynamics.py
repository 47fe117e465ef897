"""The coupled network + controller dynamics in continuous time (THEORY.md section 2):
tau_v dv/dt = -v + v^ff(v) + Q u with the controller of :mod:`dfc_theory._controller`
(de/dt = -D_L dv_L/dt for the "total" leak's k_p tau_u de/dt).

State per sample: z = [v; s] of size M = N + n_L, s = u_int for ``leak="integral"``
(u = u_int + k_p e), s = u for ``"total"``; for the instantaneous system (tau_v = 0) s
alone, v slaved to it.  The apical compartment is instantaneous here (v^fb = Q u); the
Euler scheme of :func:`dfc_theory.simulate` adds its low-pass filter and noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._backend import device, eye, solve, to_numpy
from ._controller import Controller
from ._network import Network
from ._validation import check_type

__all__ = ["DFCSystem", "Linearisation"]


def batch_inputs(network, x, target):
    """(x2 (B, n_0), r_L* (B, n_L), single) in the network's namespace from inputs of shape
    (B, n_0) or (n_0,) and targets of shape (B, n_L), (1, n_L) or (n_L,)."""
    x2, single = network._input(x)
    t = network.convert(target, "target", ndim=(1, 2))
    t = t[None, :] if t.ndim == 1 else t
    if t.shape[1] != network.n_out or t.shape[0] not in (1, x2.shape[0]):
        raise ValueError(f"target: expected shape ({x2.shape[0]}, {network.n_out}) or "
                         f"({network.n_out},), got {tuple(t.shape)}")
    return x2, network.xp.broadcast_to(t, (x2.shape[0], network.n_out)), single


@dataclass(frozen=True)
class Linearisation:
    """dz/dt ~ A (z - z0) + c around z0 (batched): A (B, M, M), c (B, M), z0 (B, M).

    Attributes
    ----------
    A : array (B, M, M)
        The Jacobian of the right-hand side at z0 (:meth:`DFCSystem.rhs_jacobian`).
    c : array (B, M)
        The right-hand side dz/dt at z0 (:meth:`DFCSystem.rhs`).
    z0 : array (B, M)
        The expansion point, z = [v; s] (M = N + n_L; n_L for the instantaneous system).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> x = np.ones(3); target = net.forward(x).output + 0.01
    >>> lin = system.linearise(x, target)
    >>> lin.A.shape, lin.c.shape, lin.z0.shape
    ((1, 8, 8), (1, 8), (1, 8))
    >>> d, h = np.random.default_rng(0).standard_normal((1, 8)), 1e-6  # central difference
    >>> f = lambda z: system.rhs(x, target, z)
    >>> fd = (f(lin.z0 + h * d) - f(lin.z0 - h * d)) / (2 * h)
    >>> bool(np.allclose(fd, np.einsum("bij,bj->bi", lin.A, d), rtol=0, atol=1e-7))
    True
    """

    A: object
    c: object
    z0: object


class DFCSystem:
    """A network, its feedback weights Q (N x n_L) and a controller.

    Parameters
    ----------
    network : Network
    Q : array (N, n_L) (a nested list of rows too), or a sequence of blocks Q_i (n_i, n_L)
        Converted to the network's namespace, dtype and device.
    controller : Controller

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> system.state_size, system.initial_state(np.ones(3)).shape
    (8, (1, 8))
    """

    def __init__(self, network, Q, controller):
        check_type(network, "network", Network)
        check_type(controller, "controller", Controller)
        if isinstance(Q, (list, tuple)) and len(Q) and np.ndim(Q[0]) == 2:  # blocks Q_i
            Q = network.xp.concat([network.convert(q, f"Q[{i}] (Q_{i + 1})", ndim=2)
                                   for i, q in enumerate(Q)], axis=0)
        Q = network.convert(Q, "Q", shape=(network.n_total, network.n_out), strict=True)
        if hasattr(Q, "setflags") and Q.flags.writeable:  # a read-only copy, same layout
            Q = Q.copy(order="K")
            Q.setflags(write=False)
        self.network = network
        self.Q = Q
        self.controller = controller
        self.xp = network.xp
        self.Q_blocks = tuple(b.T for b in network.split(Q.T))  # Q_i, (n_i, n_L)

    def __repr__(self):
        return f"{type(self).__name__}({self.network!r}, Q{tuple(self.Q.shape)}, " \
            f"{self.controller!r})"

    def replace(self, network=None, Q=None, controller=None):
        """A copy with some parts changed."""
        return type(self)(network or self.network, self.Q if Q is None else Q,
                          controller or self.controller)

    def to_numpy(self):
        """The float64 NumPy :class:`DFCSystem` with the same network, Q and controller."""
        return DFCSystem(self.network.to_numpy(), to_numpy(self.Q), self.controller)

    # ------------------------------------------------------------------ helpers
    @property
    def state_size(self):
        """M = N + n_L (n_L for the instantaneous system)."""
        n = self.network
        return n.n_out if self.controller.instantaneous else n.n_total + n.n_out

    def prepare(self, x, target):
        """(x2, target2, single): ``x`` and ``target`` = r_L* validated by :func:`batch_inputs`."""
        return batch_inputs(self.network, x, target)

    def initial_state(self, x, target=None):
        """z(0) = [v^-; s0]: the feedforward pass and a controller with no integrated error,
        s0 = u_int(0) = 0 ("integral"), or u(0+) = k_p delta_L ("total", the reference
        scheme's first step; 0 without ``target``)."""
        net, c = self.network, self.controller
        fp = net._forward(net._input(x)[0])
        s0 = self.xp.zeros_like(fp.output)
        if target is not None and c.leak == "total" and c.k_p:
            s0 = c.k_p * (self.prepare(fp.r[0], target)[1] - fp.output)
        return s0 if c.instantaneous else self.xp.concat([fp.v_stacked, s0], axis=1)

    def rest_state(self, ss, target):
        """The dynamical state z = [v; s] (module docstring) of a steady state ``ss``, batched."""
        u, rL, v = (self.network.convert(a, name, ndim=(1, 2), allow_nonfinite=True)
                    for a, name in ((ss.u, "ss.u"), (ss.r_L, "ss.r_L"), (ss.v, "ss.v")))
        u, rL, v = (a if a.ndim == 2 else a[None] for a in (u, rL, v))
        return self._rest_z(u, rL, v, self.network.convert(target, "target", ndim=(1, 2)))

    def _rest_z(self, u, rL, v, t):
        """:meth:`rest_state` of validated batched arrays."""
        c = self.controller
        s = u - c.k_p * (t - rL) if (c.leak == "integral" and c.k_p) else u
        return s if c.instantaneous else self.xp.concat([v, s], axis=1)

    def _parts(self, x2, target, z):
        """Return (v, r tuple r_1..r_L, e, u, s) for a batched state z."""
        net, c = self.network, self.controller
        nL = net.n_out
        s = z[:, -nL:]
        if c.instantaneous:
            if c.leak == "integral" and c.k_p != 0.0:
                raise ValueError("controller: the instantaneous system (tau_v = 0) with leak="
                                 "'integral' needs k_p = 0 (u = u_int + k_p e(u) is implicit)")
            v = net._forward(x2, s @ self.Q.T).v_stacked  # s = u
            r = net.rates(v)
            return v, r, target - r[-1], s, s
        v = z[:, :-nL]
        r = net.rates(v)
        e = target - r[-1]
        u = s + c.k_p * e if c.leak == "integral" else s
        return v, r, e, u, s

    # ------------------------------------------------------------------ right-hand side
    def rhs(self, x, target, z):
        """dz/dt for a batch of states z (B, M) (module docstring).

        Parameters
        ----------
        x : array (B, n_0) or (n_0,)
        target : array (B, n_L) or (n_L,)
            r_L*.
        z : array (B, M)
            States [v; s] (s alone for tau_v = 0).

        Returns
        -------
        array (B, M)

        Examples
        --------
        >>> import numpy as np
        >>> import dfc_theory as dfc
        >>> net = dfc.Network.random([3, 4, 2], seed=0)
        >>> x, target = np.ones(3), net.forward(np.ones(3)).output + 0.01
        >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
        >>> ss = dfc.steady_state(system, x, target)
        >>> bool(np.abs(system.rhs(x, target, system.rest_state(ss, target))).max() < 1e-12)
        True
        """
        x2, t, _ = self.prepare(x, target)
        return self._rhs(x2, t, self.network.convert(z, "z", ndim=2, allow_nonfinite=True))

    def _rhs(self, x2, target, z):
        net, c = self.network, self.controller
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            if c.leak == "total" and c.k_p:
                G = eye(self.xp, net.n_out, z) + c.k_p * (net._jacobian(v) @ self.Q)
                return solve(G, ((e - c.alpha * u) / c.tau_u)[..., None])[..., 0]
            return (e - c.alpha * u) / c.tau_u
        dv = (-v + net._basal(x2, v) + u @ self.Q.T) / c.tau_v
        if c.leak == "integral":
            ds = (e - c.alpha * s) / c.tau_u
        else:
            DL = net.phi(net.depth).df(v[:, -net.n_out:])
            ds = (e - c.alpha * u) / c.tau_u - c.k_p * DL * dv[:, -net.n_out:]
        return self.xp.concat([dv, ds], axis=1)

    def rhs_jacobian(self, x, target, z):
        """d(dz/dt)/dz, shape (B, M, M), analytic.

        With J_hat the block sub-diagonal matrix of blocks W_i D_{i-1} and J_L^o = [0 ... D_L]:

        * integral: [[(-I + J_hat - k_p Q J_L^o)/tau_v, Q/tau_v], [-J_L^o/tau_u, -alpha I/tau_u]]
        * total: the u-rows are -J_L^o/tau_u - k_p d(D_L dv_L/dt)/dv and
          -alpha I/tau_u - k_p D_L Q_L/tau_v (including the phi_L'' term away from rest).
        * instantaneous (tau_v = 0): -(I + k_p J Q)^{-1} (J Q + alpha I)/tau_u (exact for
          k_p = 0; for k_p > 0 the term from the u-dependence of J is dropped, exact at rest).

        Parameters as :meth:`rhs`; at a steady state its spectral abscissa decides local
        stability (THEORY.md section 5).
        """
        x2, t, _ = self.prepare(x, target)
        return self._rhs_jacobian(x2, t, self.network.convert(z, "z", ndim=2,
                                                              allow_nonfinite=True))

    def _rhs_jacobian(self, x2, target, z):
        net, c, xp = self.network, self.controller, self.xp
        B, nL, N = x2.shape[0], net.n_out, net.n_total
        v, r, e, u, s = self._parts(x2, target, z)
        if c.instantaneous:
            return self._instantaneous_jacobian(v)
        I_L = eye(xp, nL, z)
        Jhat, JLo, D = self.blocks(v)
        # -(I - J_hat), whose zeros are -0.0 (LAPACK's eigenvalues depend on zero signs)
        Mv = -(eye(xp, N, z) - Jhat)
        A = xp.zeros((B, N + nL, N + nL), dtype=z.dtype, device=device(z))
        A[:, :N, N:] = self.Q / c.tau_v
        if c.leak == "integral":
            A[:, :N, :N] = (Mv - c.k_p * self.Q[None] @ JLo) / c.tau_v
            A[:, N:, :N] = -JLo / c.tau_u
            A[:, N:, N:] = -c.alpha * I_L / c.tau_u
        else:
            vL, DL, QL = v[:, -nL:], D[-1][:, :, None], self.Q_blocks[-1]
            dvL = (-vL + net._basal(x2, v)[:, -nL:] + u @ QL.T) / c.tau_v
            d2 = net.phi(net.depth).d2f(vL) * dvL
            A[:, :N, :N] = Mv / c.tau_v
            A[:, N:, :N] = -JLo / c.tau_u - c.k_p * DL * A[:, N - nL:N, :N]  # d(dv_L/dt)/dv
            A[:, N:, N - nL:N] -= c.k_p * (I_L[None] * d2[:, None, :])
            A[:, N:, N:] = -c.alpha * I_L / c.tau_u - c.k_p * DL * QL[None] / c.tau_v
        return A

    def _instantaneous_jacobian(self, v):
        """d(ds/dt)/ds of the instantaneous system at v (B, N) (:meth:`rhs_jacobian`); for
        "integral" (s = u_int), -((I + k_p J Q)^{-1} J Q + alpha I) / tau_u, exact at rest."""
        c, I_L = self.controller, eye(self.xp, self.network.n_out, v)
        JQ = self.network._jacobian(v) @ self.Q
        G = JQ + c.alpha * I_L if c.leak == "total" else JQ
        if c.k_p:
            G = solve(I_L + c.k_p * JQ, G)
        if c.leak == "integral":
            G = G + c.alpha * I_L
        return -G / c.tau_u

    def blocks(self, v):
        """THEORY.md section 5's J_hat (B, N, N) (block (i, i-1) = W_i D_{i-1}), J_L^o
        (B, n_L, N) (zero but its last block D_L) and the D_i (B, n_i), at stacked v (B, N)."""
        net, xp = self.network, self.xp
        B, N, nL = v.shape[0], net.n_total, net.n_out
        D = [phi.df(vi) for phi, vi in zip(net._phi, net.split(v))]
        offs = np.cumsum([0] + net.sizes[1:]).tolist()
        Jhat = xp.zeros((B, N, N), dtype=v.dtype, device=device(v))
        for i in range(2, net.depth + 1):
            Jhat[:, offs[i - 1]:offs[i], offs[i - 2]:offs[i - 1]] = \
                net.weights[i - 1][None] * D[i - 2][:, None, :]
        JLo = xp.zeros((B, nL, N), dtype=v.dtype, device=device(v))
        JLo[:, :, offs[-2]:] = eye(xp, nL, v)[None] * D[-1][:, None, :]
        return Jhat, JLo, D

    def linearise(self, x, target, z0=None):
        """:class:`Linearisation` dz/dt = c + A (z - z0) around z0 (B, M) (default:
        :meth:`initial_state` with the target); with k_p = 0 at the initial state, THEORY.md
        section 5's A_tilde_I driven by delta_L / tau_u.  ``x``, ``target`` as :meth:`rhs`."""
        x2, t, _ = self.prepare(x, target)
        z0 = self.initial_state(x2, t) if z0 is None else \
            self.network.convert(z0, "z0", shape=(x2.shape[0], self.state_size))
        return Linearisation(self._rhs_jacobian(x2, t, z0), self._rhs(x2, t, z0), z0)

    def control(self, x, target, z):
        """The control signal u (B, n_L) for states z (B, M)."""
        x2, t, _ = self.prepare(x, target)
        return self._parts(x2, t, self.network.convert(z, "z", ndim=2,
                                                       allow_nonfinite=True))[3]
