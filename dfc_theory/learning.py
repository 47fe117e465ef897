"""Forward-weight learning rules of DFC and its baselines (THEORY.md section 6), for NumPy
and torch networks alike.

Every rule returns an :class:`~dfc_theory.Update` (the change to apply, times a learning
rate); with delta_L = r_L* - r_L^- = -lambda dLoss/dr_L each points (approximately) downhill.
The DFC plasticity rule at one state is :func:`rule_at_state`; the methods differ in where
it is applied (:func:`forward_update`): ``"dfc"`` averages it over a simulation
(:class:`TimeAveragedRule`), ``"dfc-ss"`` applies it at the simulation's final state,
``"dfc-ssa"`` at Lemma 1's linearised steady state propagated nonlinearly
(:func:`dfc_theory.steady_state` with ``method="ssa"``); ``"bp"`` is backpropagation
(:func:`dfc_theory.gauss_newton.bp_update`) and ``"dfa"`` direct feedback alignment
(:func:`dfa_update`).  The "(fixed)" variants use Q = weight product (:func:`fixed_feedback`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._controller import Controller
from ._methods import DFC_METHODS, FORWARD_METHODS, RULES
from ._dynamics import DFCSystem, batch_inputs
from ._backend import no_grad
from ._simulate import StepState, simulate
from ._steady_state import steady_state
from ._updates import Update
from ._network import Network
from ._validation import (as_rng, check_choice, check_int, check_nonempty, check_scalar,
                          check_type)
from .feedback import dfa_as_feedback, weight_product
from .gauss_newton import _bp, _prep, per_layer_from_signal

__all__ = ["FORWARD_METHODS", "DFC_METHODS", "RULES", "ForwardResult", "TimeAveragedRule",
           "rule_at_state", "forward_update", "dfa_update", "dfa_feedback", "dfa_as_feedback",
           "fixed_feedback"]

#: The "(fixed)" feedback of the paper (:func:`dfc_theory.feedback.weight_product`).
fixed_feedback = weight_product


def rule_at_state(network, x, v, v_ff, rule="nonlinear", include_bias=True, r=None):
    """The DFC plasticity rule applied once at a network state (the "steady-state" rule).

        Delta W_i = (1/B) sum_b a_i r_{i-1}^T,   Delta b_i = (1/B) sum_b a_i,
        a_i = v_i - v_i^ff  ("voltage")  or  phi_i(v_i) - phi_i(v_i^ff)  ("nonlinear"),

    with r_0 = x, r_{i-1} = phi_{i-1}(v_{i-1}) the rates and v_i^ff = W_i r_{i-1} + b_i the
    basal drive of this same state ("nonlinear" is the paper's tau_W dW/dt).

    Parameters
    ----------
    network : Network
    x : array (B, n_0)
    v, v_ff : arrays (B, N)
        Stacked somatic and basal voltages of one state (a steady state's ``v``, ``v_ff``).
    rule : {"voltage", "nonlinear"}
    include_bias : bool
    r : tuple of arrays, optional
        The rates r_0..r_L of this state when the caller has them.

    Returns
    -------
    Update

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> Q = dfc.feedback.weight_product(net)
    >>> x = np.ones((2, 3)); target = net.forward(x).output + 0.01
    >>> ss = dfc.steady_state(dfc.DFCSystem(net, Q, dfc.Controller(alpha=0.1)), x, target)
    >>> up = dfc.rule_at_state(net, x, ss.v, ss.v_ff, rule="voltage")  # a = delta_v = Q u
    >>> bool(np.allclose(up.dW[0], ss.delta_v[:, :4].T @ x / 2))        # (1/B) sum a_1 r_0^T
    True
    >>> float(dfc.rule_at_state(net, x, ss.v_ff, ss.v_ff).norm())      # v = v_ff: no change
    0.0
    """
    check_type(network, "network", Network)
    check_choice(rule, "rule", RULES)
    x2 = check_nonempty(network._input(x)[0], "x", "the batch-averaged update")
    B, L = x2.shape[0], network.depth
    vb = network.split(network._stacked(v, "v", B, allow_nonfinite=True))
    fb = network.split(network._stacked(v_ff, "v_ff", B, allow_nonfinite=True))
    if r is None:
        r = [x2] + [network.phi(i).f(vb[i - 1]) for i in range(1, L + 1)]
    elif len(r) != L + 1:
        raise ValueError(f"r: expected the {L + 1} rates r_0..r_L, got {len(r)}")
    if rule == "voltage":
        a = [vb[i] - fb[i] for i in range(L)]
    else:  # phi_i(v_i) is r_i
        a = [r[i] - network.phi(i).f(fb[i - 1]) for i in range(1, L + 1)]
    return per_layer_from_signal(a, [x2] + list(r[1:L]), include_bias)


class TimeAveragedRule:
    """Observer for :func:`dfc_theory.simulate` that accumulates the time-averaged rule of
    :func:`rule_at_state` over the Euler steps t = 1..T (method ``"dfc"``: the continuous
    tau_W dW_i/dt = a_i(t) r_{i-1}(t)^T integrated over the simulation, over its length),

        Delta W_i = (1/T) sum_{t=1..T} (1/B) sum_b a_i[t] r_{i-1}[t]^T,

    and Delta b_i likewise (r_0 = x is constant: Delta W_1 is formed once, at the end).
    Arguments: the simulated ``network``, ``batch_size``, ``rule`` and ``include_bias``.

    Parameters
    ----------
    network : Network
    batch_size : int >= 1, B of the simulated inputs
    rule : {"voltage", "nonlinear"}
    include_bias : bool

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net),
    ...                        dfc.Controller(alpha=0.1, tau_v=0.05))
    >>> x = np.ones((2, 3)); target = net.forward(x).output + 0.01
    >>> avg, states = dfc.TimeAveragedRule(net, batch_size=2), []
    >>> _ = dfc.simulate(system, x, target, dt=0.01, n_steps=5,
    ...                  observer=lambda s: (avg(s), states.append(s)))
    >>> per_step = [dfc.rule_at_state(net, x, net.stack(s.v), net.stack(s.v_ff)).vector()
    ...             for s in states]
    >>> bool(np.allclose(avg.update(x).vector(), np.mean(per_step, axis=0)))
    True
    """

    def __init__(self, network, batch_size, rule="nonlinear", include_bias=True):
        self.network = check_type(network, "network", Network)
        self.rule = check_choice(rule, "rule", RULES)
        self.include_bias = include_bias
        self.B = check_int(batch_size, "batch_size")
        sizes, L, xp = network.sizes[1:], network.depth, network.xp
        kw = {"dtype": network.dtype, "device": network.device}
        self._sum_a = [xp.zeros((self.B, n), **kw) for n in sizes]
        self._sum_ar = [xp.zeros((sizes[i], sizes[i - 1]), **kw) for i in range(1, L)]
        self._phi = [None if (rule == "voltage" or network.phi(i).name == "linear")
                     else network.phi(i).f for i in range(1, L + 1)]
        self.n_steps = 0

    def __call__(self, state: StepState):
        v, v_ff, r = state.v, state.v_ff, state.r
        for i, phi in enumerate(self._phi):
            a = v[i] - v_ff[i] if phi is None else r[i + 1] - phi(v_ff[i])
            self._sum_a[i] += a
            if i:
                self._sum_ar[i - 1] += a.T @ r[i]
        self.n_steps += 1

    def update(self, x) -> Update:
        """The accumulated, time- and batch-averaged update; ``x`` (B, n_0) is r_0."""
        if self.n_steps == 0:
            raise RuntimeError("TimeAveragedRule: no simulation step was observed")
        x2 = self.network._input(x)[0]
        if x2.shape[0] != self.B:
            raise ValueError(f"x: expected {self.B} samples, got {x2.shape[0]}")
        norm = 1.0 / (self.n_steps * self.B)
        xp = self.network.xp
        dW = [self._sum_a[0].T @ x2 * norm] + [w * norm for w in self._sum_ar]
        db = tuple(xp.sum(a, axis=0) * norm for a in self._sum_a) if self.include_bias \
            else None
        return Update(tuple(dW), db)


@dataclass
class ForwardResult:
    """The output of :func:`forward_update`.

    Attributes
    ----------
    update : Update
        The change to apply (times a learning rate).
    method : str
    converged, diverged : (B,) bool arrays or None
        The simulation's reference convergence test; for ``"dfc-ssa"`` the steady state's
        ``converged`` (``info["residual"]``) and a non-finite state; None for BP and DFA.
    v, v_ff, u : (B, N), (B, N), (B, n_L) arrays or None
        The final simulated state or the SSA state, and its control signal.
    info : dict
        ``n_steps`` simulated, ``blew_up``...

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x = np.ones((2, 3)); target = net.forward(x).output + 0.01
    >>> res = dfc.forward_update(net, x, target, "bp")
    >>> res.method, res.converged, [w.shape for w in res.update.dW]
    ('bp', None, [(4, 3), (2, 4)])
    """

    update: Update
    method: str
    converged: Optional[object] = None
    diverged: Optional[object] = None
    v: Optional[object] = None
    v_ff: Optional[object] = None
    u: Optional[object] = None
    info: dict = field(default_factory=dict)


def dfa_feedback(network, seed=None, scale=1.0):
    """Fixed random DFA feedback matrices B_1..B_{L-1}, B_i (n_i, n_L) with i.i.d.
    N(0, scale^2 * 2 / (n_i + n_L)) entries (NumPy draws); B_L = I is not stored.

    Parameters
    ----------
    network : Network (its sizes, namespace, dtype and device are used)
    seed : int, numpy Generator or None
    scale : float > 0

    Returns
    -------
    tuple of L-1 arrays B_i (n_i, n_L), in the network's namespace

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 5, 2], seed=0)
    >>> B_fb = dfc.dfa_feedback(net, seed=1)
    >>> [b.shape for b in B_fb]
    [(4, 2), (5, 2)]
    >>> all(np.array_equal(a, b) for a, b in zip(B_fb, dfc.dfa_feedback(net, seed=1)))
    True
    """
    check_type(network, "network", Network)
    scale = check_scalar(scale, "scale", low=0.0, low_inclusive=False)
    rng = as_rng(seed)
    nL = network.n_out
    return tuple(network.convert(rng.normal(0.0, scale * np.sqrt(2.0 / (n + nL)), size=(n, nL)),
                                 f"B_{i + 1}") for i, n in enumerate(network.sizes[1:-1]))


def dfa_update(network, x, delta_L, B_fb, include_bias=True):
    """Direct feedback alignment: e_L = D_L delta_L, e_i = D_i B_i e_L (i < L),

        Delta W_i = (1/B) sum_b e_i r_{i-1}^T,   Delta b_i = (1/B) sum_b e_i.

    With B_i = W_{i+1}^T ... W_L^T (weight product) and a linear network this equals
    backpropagation exactly.  ``B_fb``: the matrices of :func:`dfa_feedback`.

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    delta_L : array (B, n_L) or (n_L,), the output error r_L* - r_L^-
    B_fb : sequence of the L-1 arrays B_i (n_i, n_L), i = 1..L-1
    include_bias : bool

    Returns
    -------
    Update
        The batch-averaged Delta W_i, Delta b_i (None when ``include_bias`` is False).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 4, 2], activation="linear", seed=0)
    >>> B_fb = dfc.feedback.weight_product(net)[:8].reshape(2, 4, 2)    # [B_1; B_2]
    >>> x, d = np.ones((2, 3)), np.full((2, 2), 0.1)
    >>> bool(np.allclose(dfc.dfa_update(net, x, d, B_fb).vector(),
    ...                  dfc.gauss_newton.bp_update(net, x, d).vector()))
    True
    """
    fp, d = _prep(network, x, delta_L)
    return _dfa(network, fp, d, B_fb, include_bias)


def _dfa(network, fp, d, B_fb, include_bias=True):
    """:func:`dfa_update` from a forward pass and delta_L."""
    Bs = network.split(dfa_as_feedback(network, B_fb).T)  # B_i^T, (n_L, n_i)
    L = network.depth
    eL = network.phi(L).df(fp.v[-1]) * d
    e = [network.phi(i).df(fp.v[i - 1]) * (eL @ Bs[i - 1]) for i in range(1, L)] + [eL]
    return per_layer_from_signal(e, fp.r[:-1], include_bias)


def forward_update(network, x, target, method="dfc", Q=None, controller=None,
                   rule="nonlinear", dt=0.005, n_steps=1000, dfa_feedback=None,
                   include_bias=True, J=None, delta_L=None, forward=None,
                   **simulate_kwargs) -> ForwardResult:
    """One forward-weight update of a DFC method or a baseline (module docstring).

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    target : array (B, n_L) or (n_L,)
        Output targets r_L* (e.g. :func:`dfc_theory.output_target`); delta_L = r_L* - r_L^-.
    method : {"dfc", "dfc-ss", "dfc-ssa", "bp", "dfa"}
    Q : array (N, n_L) or "fixed"
        Feedback weights (DFC methods); ``"fixed"``: the weight product of ``network``.
    controller : Controller
        DFC methods (the reference code uses leak="total").
    rule : {"voltage", "nonlinear"}
        Postsynaptic signal of the DFC rule.
    dt, n_steps : Euler settings for ``"dfc"`` / ``"dfc-ss"`` (dt < tau_v is required).
    dfa_feedback : tuple of arrays B_i (n_i, n_L), i = 1..L-1, for ``"dfa"``.
    include_bias : bool
    J, delta_L, forward : optional
        The caller's feedforward J (``"dfc-ssa"``), delta_L and feedforward pass.
    **simulate_kwargs
        ``"dfc"`` / ``"dfc-ss"`` only (a TypeError otherwise): for :func:`dfc_theory.simulate`.

    Returns
    -------
    ForwardResult

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 5, 2], seed=0)
    >>> x = np.random.default_rng(1).standard_normal((4, 3))
    >>> target = dfc.output_target(net.forward(x).output, np.zeros((4, 2)), lam=0.01)
    >>> ssa = dfc.forward_update(net, x, target, "dfc-ssa", Q="fixed",
    ...                          controller=dfc.Controller(alpha=1e-4, leak="total"))
    >>> bp = dfc.forward_update(net, x, target, "bp")
    >>> bool(dfc.angle(ssa.update, bp.update) < 90)     # a descent direction
    True
    """
    check_type(network, "network", Network)
    check_choice(method, "method", FORWARD_METHODS)
    check_choice(rule, "rule", RULES)
    if simulate_kwargs and method not in ("dfc", "dfc-ss"):
        raise TypeError(f"forward_update() got an unexpected keyword argument "
                        f"{next(iter(simulate_kwargs))!r} (simulation options are for the "
                        f"methods 'dfc' and 'dfc-ss' only)")
    x2, t, _ = batch_inputs(network, x, target)
    check_nonempty(x2, "x", "the batch-averaged update")
    xp = network.xp
    with no_grad(xp):
        if method in ("bp", "dfa"):
            fp = network._forward(x2) if forward is None else forward
            delta = t - fp.r[-1] if delta_L is None else \
                network.convert(delta_L, "delta_L", shape=tuple(t.shape))
            upd = _bp(network, fp, delta, include_bias) if method == "bp" else \
                _dfa(network, fp, delta, dfa_feedback, include_bias)
            return ForwardResult(upd, method)
        check_type(controller, "controller", Controller)
        if isinstance(Q, str) and Q == "fixed":
            Q = fixed_feedback(network)
        elif Q is None or isinstance(Q, str):
            raise ValueError(f"Q: method {method!r} needs feedback weights (N, n_L) or "
                             f"'fixed', got {Q!r}")
        system = DFCSystem(network, Q, controller)
        if method == "dfc-ssa":
            ss = steady_state(system, x2, t, method="ssa", J=J, delta_L=delta_L, forward=forward)
            upd = rule_at_state(network, x2, ss.v, ss.v_ff, rule, include_bias, r=ss.r)
            div = ~xp.all(xp.isfinite(ss.v), axis=1)
            return ForwardResult(upd, method, ss.converged, div, ss.v, ss.v_ff, ss.u,
                                 {"n_steps": 0, "residual": ss.residual})
        observer = TimeAveragedRule(network, x2.shape[0], rule, include_bias) \
            if method == "dfc" else None
        res = simulate(system, x2, t, method="euler", dt=dt, n_steps=n_steps, record="final",
                       observer=observer, **simulate_kwargs)
        if method == "dfc":
            upd = observer.update(x2)
        elif bool(xp.all(xp.isfinite(res.v_final))):
            upd = rule_at_state(network, x2, res.v_final, res.v_ff_final, rule, include_bias)
        else:  # a diverged final state: no update
            upd = Update(tuple(xp.full_like(w, float("nan")) for w in network.weights),
                         tuple(xp.full_like(b, float("nan")) for b in network.biases)
                         if include_bias else None)
        return ForwardResult(upd, method, res.converged, res.diverged, res.v_final,
                             res.v_ff_final, res.u_final,
                             {"n_steps": res.n_steps, "blew_up": res.info.get("blew_up", False)})
