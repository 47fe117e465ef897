"""Forward-weight learning rules on tensors (THEORY.md section 6), mirroring
:mod:`dfc_theory.learning`: the same method names ("dfc", "dfc-ss", "dfc-ssa", "bp", "dfa"),
the same postsynaptic signals (``rule="voltage"``: a_i = v_i - v_i^ff; ``"nonlinear"``:
a_i = phi_i(v_i) - phi_i(v_i^ff)) and the same batch/time averaging:

    Delta W_i = (1/B) sum_b a_i r_{i-1}^T,  Delta b_i = (1/B) sum_b a_i   (one state),
    "dfc": Delta W_i = (1/T) sum_{t=1..T} (1/B) sum_b a_i[t] r_{i-1}[t]^T (Euler steps).

See the NumPy module for the method definitions; every update here agrees with it in
float64 to rounding (tests/test_torch_equivalence.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from .._validation import check_choice, check_scalar
from ..controller import Controller
from ..learning import DFC_METHODS, FORWARD_METHODS, RULES
from .dynamics import DFCSystem
from .gauss_newton import bp_update_from, per_layer_from_signal
from .network import Network
from .simulate import StepState, simulate
from .steady_state import steady_state
from .updates import Update

__all__ = ["FORWARD_METHODS", "DFC_METHODS", "RULES", "ForwardResult", "TimeAveragedRule",
           "rule_at_state", "forward_update", "dfa_update", "dfa_feedback", "dfa_as_feedback",
           "fixed_feedback"]


def _check_net(network):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.torch.Network, got "
                        f"{type(network).__name__}")


def fixed_feedback(network):
    """Q_i = W_{i+1}^T ... W_L^T, Q_L = I (N x n_L): the paper's "(fixed)" feedback, built
    from the current weights."""
    _check_net(network)
    L = network.depth
    blocks = [None] * L
    blocks[L - 1] = torch.eye(network.n_out, dtype=network.dtype, device=network.device)
    for i in range(L - 1, 0, -1):
        blocks[i - 1] = network.weights[i].T @ blocks[i]
    return torch.cat(blocks, dim=0)


def _signal(network, i, v_i, v_ff_i, rule):
    if rule == "voltage":
        return v_i - v_ff_i
    phi = network.phi(i).f
    return phi(v_i) - phi(v_ff_i)


def rule_at_state(network, x, v, v_ff, rule="nonlinear", include_bias=True, r=None):
    """The DFC plasticity rule once at a state: a_i from (v, v^ff) (B, N), presynaptic
    rates r_0 = x, r_{i-1} = phi_{i-1}(v_{i-1}).

    ``r`` (optional): the rates r_0..r_L of this state when the caller has them (e.g. a
    :class:`SteadyState`'s ``r``), saving their recomputation.
    """
    _check_net(network)
    check_choice(rule, "rule", RULES)
    x2 = network.tensor(x, "x", ndim=(1, 2))
    x2 = x2[None] if x2.ndim == 1 else x2
    B, N = x2.shape[0], network.n_total
    v = network.tensor(v, "v", ndim=(1, 2), allow_nonfinite=True)
    v_ff = network.tensor(v_ff, "v_ff", ndim=(1, 2), allow_nonfinite=True)
    v, v_ff = (a[None] if a.ndim == 1 else a for a in (v, v_ff))
    for name, a in (("v", v), ("v_ff", v_ff)):
        if tuple(a.shape) != (B, N):
            raise ValueError(f"{name}: expected shape ({B}, {N}), got {tuple(a.shape)}")
    vb, fb = network.split(v), network.split(v_ff)
    L = network.depth
    if r is None:
        r = [x2] + [network.phi(i).f(vb[i - 1]) for i in range(1, L + 1)]
    elif len(r) != L + 1:
        raise ValueError(f"r: expected the {L + 1} rates r_0..r_L, got {len(r)}")
    if rule == "voltage":
        a = [vb[i] - fb[i] for i in range(L)]
    else:  # phi(v_i) is r_i
        a = [r[i] - network.phi(i).f(fb[i - 1]) for i in range(1, L + 1)]
    return per_layer_from_signal(a, [x2] + list(r[1:L]), include_bias)


class TimeAveragedRule:
    """Observer for :func:`dfc_theory.torch.simulate` accumulating the time-averaged rule
    (1/T) sum_t (1/B) sum_b a_i[t] r_{i-1}[t]^T over the Euler steps t = 1..T.

    Per step one (n_i x B) @ (B x n_{i-1}) product per layer i >= 2 is accumulated on the
    device; the input layer's presynaptic rate x is constant, so a_1 is summed over time and
    multiplied by x once at the end.
    """

    def __init__(self, network, batch_size, rule="nonlinear", include_bias=True):
        _check_net(network)
        check_choice(rule, "rule", RULES)
        self.network, self.rule, self.include_bias = network, rule, include_bias
        self.B = int(batch_size)
        sizes = network.sizes[1:]
        kw = dict(dtype=network.dtype, device=network.device)
        self._dW_rest = [torch.zeros((sizes[i], sizes[i - 1]), **kw)
                         for i in range(1, network.depth)]
        self._sum_a1 = torch.zeros((self.B, sizes[0]), **kw)
        self._db = [torch.zeros(n, **kw) for n in sizes]
        self.n_steps = 0

    def __call__(self, state: StepState):
        net = self.network
        for i in range(1, net.depth + 1):
            a = _signal(net, i, state.v[i - 1], state.v_ff[i - 1], self.rule)
            self._db[i - 1] += a.sum(dim=0)
            if i == 1:
                self._sum_a1 += a
            else:
                self._dW_rest[i - 2].addmm_(a.T, state.r[i - 1])
        self.n_steps += 1

    def update(self, x) -> Update:
        if self.n_steps == 0:
            raise RuntimeError("TimeAveragedRule: no simulation step was observed")
        x2 = self.network.tensor(x, "x", ndim=2)
        if x2.shape[0] != self.B:
            raise ValueError(f"x: expected {self.B} samples, got {x2.shape[0]}")
        norm = 1.0 / (self.n_steps * self.B)
        dW = [self._sum_a1.T @ x2 * norm] + [w * norm for w in self._dW_rest]
        db = tuple(b * norm for b in self._db) if self.include_bias else None
        return Update(tuple(dW), db)


@dataclass
class ForwardResult:
    """Output of :func:`forward_update` (fields as :class:`dfc_theory.learning.ForwardResult`,
    tensors)."""

    update: Update
    method: str
    converged: Optional[torch.Tensor] = None
    diverged: Optional[torch.Tensor] = None
    v: Optional[torch.Tensor] = None
    v_ff: Optional[torch.Tensor] = None
    u: Optional[torch.Tensor] = None
    info: dict = field(default_factory=dict)


def dfa_feedback(network, seed=None, scale=1.0):
    """Fixed random DFA matrices B_1..B_{L-1} (n_i, n_L), drawn exactly as
    :func:`dfc_theory.learning.dfa_feedback` (same seed, same numbers)."""
    _check_net(network)
    sizes = network.sizes
    scale = check_scalar(scale, "scale", low=0.0, low_inclusive=False)
    rng = np.random.default_rng(seed)
    nL = network.n_out
    return tuple(network.tensor(rng.normal(0.0, scale * np.sqrt(2.0 / (n + nL)), size=(n, nL)),
                                f"B_{i + 1}") for i, n in enumerate(sizes[1:-1]))


def _check_dfa(network, B_fb):
    if B_fb is None:
        raise ValueError("dfa_feedback: method 'dfa' needs the fixed random matrices B_i "
                         "(see dfc_theory.torch.learning.dfa_feedback)")
    B_fb = tuple(B_fb)
    sizes = network.sizes[1:-1]
    if len(B_fb) != len(sizes):
        raise ValueError(f"dfa_feedback: expected {len(sizes)} matrices, got {len(B_fb)}")
    return tuple(network.tensor(b, f"dfa_feedback[{i}] (B_{i + 1})", shape=(n, network.n_out))
                 for i, (b, n) in enumerate(zip(B_fb, sizes)))


def dfa_as_feedback(network, B_fb):
    """Q = [B_1; ...; B_{L-1}; I] (N x n_L), DFA's feedback pathway as a DFC Q."""
    _check_net(network)
    B_fb = _check_dfa(network, B_fb)
    eye = torch.eye(network.n_out, dtype=network.dtype, device=network.device)
    return torch.cat(list(B_fb) + [eye], dim=0)


def dfa_update_from(network, fp, d, B_fb, include_bias=True):
    L = network.depth
    eL = network.phi(L).df(fp.v[-1]) * d
    e = [network.phi(i).df(fp.v[i - 1]) * (eL @ B_fb[i - 1].T) for i in range(1, L)] + [eL]
    return per_layer_from_signal(e, fp.r[:-1], include_bias)


def dfa_update(network, x, delta_L, B_fb, include_bias=True):
    """Direct feedback alignment: e_L = D_L delta_L, e_i = D_i B_i e_L (i < L),
    Delta W_i = (1/B) sum_b e_i r_{i-1}^T."""
    _check_net(network)
    B_fb = _check_dfa(network, B_fb)
    x2 = network.tensor(x, "x", ndim=(1, 2))
    x2 = x2[None] if x2.ndim == 1 else x2
    fp = network.forward(x2)
    d = network.tensor(delta_L, "delta_L", ndim=(1, 2))
    d = d[None] if d.ndim == 1 else d
    if d.shape != fp.r[-1].shape:
        raise ValueError(f"delta_L: expected shape {tuple(fp.r[-1].shape)}, got "
                         f"{tuple(d.shape)}")
    return dfa_update_from(network, fp, d, B_fb, include_bias)


def forward_update(network, x, target, method="dfc", Q=None, controller=None,
                   rule="nonlinear", dt=0.005, n_steps=1000, dfa_feedback=None,
                   include_bias=True, J=None, delta_L=None, forward=None,
                   **simulate_kwargs) -> ForwardResult:
    """One forward-weight update (parameters and meaning as
    :func:`dfc_theory.learning.forward_update`; ``chunk`` is not needed here).

    ``J`` (B, n_L, N), optional: the feedforward Jacobian if already computed ("dfc-ssa").
    ``delta_L`` (B, n_L), optional: r_L* - r_L^- computed without cancellation (used by
    "bp", "dfa" and "dfc-ssa"; in float32 the difference target - r_L^- of a 1/B-small
    error keeps only a few significant digits).  ``forward``: the feedforward pass of ``x``
    if already computed ("bp", "dfa", "dfc-ssa"; saves one pass).
    ``**simulate_kwargs`` go to :func:`dfc_theory.torch.simulate`.
    """
    _check_net(network)
    check_choice(method, "method", FORWARD_METHODS)
    check_choice(rule, "rule", RULES)
    simulate_kwargs.pop("chunk", None)
    x2 = network.tensor(x, "x", ndim=(1, 2))
    x2 = x2[None] if x2.ndim == 1 else x2
    if x2.shape[1] != network.n_in:
        raise ValueError(f"x: expected shape (B, {network.n_in}), got {tuple(x2.shape)}")
    t = network.tensor(target, "target", ndim=(1, 2))
    t = t[None] if t.ndim == 1 else t
    if t.shape[1] != network.n_out or t.shape[0] not in (1, x2.shape[0]):
        raise ValueError(f"target: expected shape ({x2.shape[0]}, {network.n_out}), got "
                         f"{tuple(t.shape)}")
    t = t.expand(x2.shape[0], network.n_out)
    with torch.no_grad():
        if method in ("bp", "dfa"):
            fp = network.forward(x2) if forward is None else forward
            delta = t - fp.r[-1] if delta_L is None else \
                network.tensor(delta_L, "delta_L", shape=tuple(t.shape))
            if method == "bp":
                upd = bp_update_from(network, fp, delta, include_bias)
            else:
                upd = dfa_update_from(network, fp, delta, _check_dfa(network, dfa_feedback),
                                      include_bias)
            return ForwardResult(upd, method)
        if not isinstance(controller, Controller):
            raise TypeError(f"controller: method {method!r} needs a dfc_theory.Controller, "
                            f"got {type(controller).__name__}")
        if Q is None:
            raise ValueError(f"Q: method {method!r} needs feedback weights (N x n_L) or "
                             f"'fixed'")
        if isinstance(Q, str):
            if Q != "fixed":
                raise ValueError(f"Q: expected an (N, n_L) array or 'fixed', got {Q!r}")
            Q = fixed_feedback(network)
        system = DFCSystem(network, Q, controller)
        if method == "dfc-ssa":
            ss = steady_state(system, x2, t, method="ssa", J=J, delta_L=delta_L,
                              forward=forward)
            upd = rule_at_state(network, x2, ss.v, ss.v_ff, rule, include_bias, r=ss.r)
            ok = torch.isfinite(ss.v).all(dim=1)
            return ForwardResult(upd, method, ok, ~ok, ss.v, ss.v_ff, ss.u, {"n_steps": 0})
        observer = TimeAveragedRule(network, x2.shape[0], rule, include_bias) \
            if method == "dfc" else None
        res = simulate(system, x2, t, method="euler", dt=dt, n_steps=n_steps, record="final",
                       observer=observer, **simulate_kwargs)
        if method == "dfc":
            upd = observer.update(x2)
        elif bool(torch.isfinite(res.v_final).all()):
            upd = rule_at_state(network, x2, res.v_final, res.v_ff_final, rule, include_bias)
        else:
            upd = _nan_update(network, include_bias)
        return ForwardResult(upd, method, res.converged, res.diverged, res.v_final,
                             res.v_ff_final, res.u_final,
                             {"n_steps": res.n_steps, "blew_up": res.info.get("blew_up", False)})


def _nan_update(network, include_bias):
    dW = tuple(torch.full_like(w, float("nan")) for w in network.weights)
    db = tuple(torch.full_like(b, float("nan")) for b in network.biases) \
        if include_bias else None
    return Update(dW, db)

