"""Forward-weight learning rules of DFC and its baselines (THEORY.md section 6).

Every rule takes the current network, a batch of inputs x (B, n_0) and output targets
r_L* (B, n_L) (delta_L = r_L* - r_L^-), and returns the batch average of the per-sample
update as an :class:`~dfc_theory.updates.Update` whose sign is *the change to apply*
(multiply by a learning rate eta).  With delta_L = -lambda dLoss/dr_L every rule points
(approximately) downhill.

The DFC plasticity rule at one network state (v, v^ff, r) is, per layer i = 1..L,

    Delta W_i = (1/B) sum_b a_i r_{i-1}^T,     Delta b_i = (1/B) sum_b a_i,

with the postsynaptic signal

* ``rule="voltage"``:   a_i = v_i - v_i^ff            (somatic minus basal voltage),
* ``rule="nonlinear"``: a_i = phi_i(v_i) - phi_i(v_i^ff)  (the paper's Eq. for tau_W dW/dt).

v^ff_i = W_i r_{i-1} + b_i is the basal (feedforward) drive evaluated with the rates r_{i-1}
of the *same* state.  The methods differ in the state(s) the rule is applied at:

* ``"dfc"``:     the reference Euler scheme is simulated and the rule is averaged over all
  T time steps, Delta W_i = (1/T) sum_{t=1..T} (1/B) sum_b a_i[t] r_{i-1}[t]^T (the
  continuous rule tau_W dW_i/dt = a_i(t) r_{i-1}(t)^T integrated over the simulation,
  normalised by its length);
* ``"dfc-ss"``:  the same simulation, the rule applied once at the final (steady) state;
* ``"dfc-ssa"``: no simulation: the linearised steady state of Lemma 1,
  u = (J Q + alpha_eff I)^{-1} delta_L, propagated nonlinearly,
  v_i = Q_i u + W_i r_{i-1}^ssa + b_i (so v_i - v_i^ff = Q_i u exactly);
* ``"bp"``:      backpropagation, Delta theta = (1/B) sum_b J_theta^T delta_L;
* ``"dfa"``:     direct feedback alignment with fixed random matrices B_i (n_i x n_L):
  e_L = D_L delta_L, e_i = D_i B_i e_L (i < L), Delta W_i = (1/B) sum_b e_i r_{i-1}^T.

The "(fixed)" variants of the paper use Q = weight product Q_i = W_{i+1}^T ... W_L^T
(Q_L = I); pass ``Q="fixed"`` to build it from the current network (:func:`fixed_feedback`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._validation import as_float_array, check_choice, check_scalar
from .controller import Controller
from .dynamics import DFCSystem
from .feedback import weight_product
from .gauss_newton import bp_update, per_layer_from_signal
from .network import Network
from .simulate import StepState, simulate
from .steady_state import steady_state
from .updates import Update

__all__ = ["FORWARD_METHODS", "DFC_METHODS", "RULES", "ForwardResult", "TimeAveragedRule",
           "rule_at_state", "forward_update", "dfa_update", "dfa_feedback", "dfa_as_feedback",
           "fixed_feedback"]

#: methods of :func:`forward_update`
FORWARD_METHODS = ("dfc", "dfc-ss", "dfc-ssa", "bp", "dfa")
#: the methods that use a controller and feedback weights Q
DFC_METHODS = ("dfc", "dfc-ss", "dfc-ssa")
#: postsynaptic signals of the DFC plasticity rule
RULES = ("voltage", "nonlinear")


def _check_net(network):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")


def fixed_feedback(network):
    """The "(fixed)" feedback of the paper: Q_i = W_{i+1}^T ... W_L^T, Q_L = I (N x n_L).

    Equals J^T for a linear network; for tanh networks it lacks the D_i factors of J^T.
    It depends on W, so a training loop that wants it to track the weights must rebuild it
    after every weight update (see :class:`dfc_theory.training.TrainingConfig`).
    """
    _check_net(network)
    return weight_product(network)


def _signal(network, i, v_i, v_ff_i, rule):
    """a_i for layer i (1-based) from somatic and basal voltages."""
    if rule == "voltage":
        return v_i - v_ff_i
    phi = network.phi(i).f
    return phi(v_i) - phi(v_ff_i)


def rule_at_state(network, x, v, v_ff, rule="nonlinear", include_bias=True):
    """The DFC plasticity rule applied once at a network state (the "steady-state" rule).

        Delta W_i = (1/B) sum_b a_i r_{i-1}^T,   Delta b_i = (1/B) sum_b a_i,
        a_i = v_i - v_i^ff  ("voltage")  or  phi_i(v_i) - phi_i(v_i^ff)  ("nonlinear"),

    with r_0 = x and r_{i-1} = phi_{i-1}(v_{i-1}) the rates at this state.

    Parameters
    ----------
    network : Network
    x : array (B, n_0)
    v, v_ff : arrays (B, N)
        Stacked somatic and basal voltages of one state (e.g. a steady state's ``v`` and
        ``v_ff``, or a simulation's ``v_final`` and ``v_ff_final``).
    rule : {"voltage", "nonlinear"}
    include_bias : bool

    Returns
    -------
    Update
    """
    _check_net(network)
    check_choice(rule, "rule", RULES)
    x2 = np.atleast_2d(as_float_array(x, "x", ndim=(1, 2)))
    B, N = x2.shape[0], network.n_total
    v = np.atleast_2d(as_float_array(v, "v", ndim=(1, 2), allow_nonfinite=True))
    v_ff = np.atleast_2d(as_float_array(v_ff, "v_ff", ndim=(1, 2), allow_nonfinite=True))
    for name, a in (("v", v), ("v_ff", v_ff)):
        if a.shape != (B, N):
            raise ValueError(f"{name}: expected shape ({B}, {N}), got {a.shape}")
    vb, fb = network.split(v), network.split(v_ff)
    a = [_signal(network, i, vb[i - 1], fb[i - 1], rule) for i in range(1, network.depth + 1)]
    r = [x2] + [network.phi(i).f(vb[i - 1]) for i in range(1, network.depth)]
    return per_layer_from_signal(a, r, include_bias)


class TimeAveragedRule:
    """Observer for :func:`dfc_theory.simulate` that accumulates the time-averaged rule

        Delta W_i = (1/T) sum_{t=1..T} (1/B) sum_b a_i[t] r_{i-1}[t]^T,
        Delta b_i = (1/T) sum_{t=1..T} (1/B) sum_b a_i[t],

    over the Euler steps t = 1..T (t = 0 is the feedforward state, where a_i = 0).

    Implementation (per step, nothing that is constant within the simulation): a_i is
    v_i - v_i^ff, or r_i - phi_i(v_i^ff) for the nonlinear rule (r_i = phi_i(v_i) is already
    computed by the simulation; for a linear layer both rules coincide and phi is skipped);
    the running sums are sum_t a_i[t] (B, n_i) for every layer and sum_t a_i[t]^T r_{i-1}[t]
    (one small matrix product) for i >= 2.  The input layer's presynaptic rate r_0 = x is
    constant, so its weight update is formed once at the end from sum_t a_1[t].

    Parameters
    ----------
    network : Network
        The network being simulated (its activations define phi).
    batch_size : int
    rule : {"voltage", "nonlinear"}
    include_bias : bool
    """

    def __init__(self, network, batch_size, rule="nonlinear", include_bias=True):
        _check_net(network)
        check_choice(rule, "rule", RULES)
        self.network = network
        self.rule = rule
        self.include_bias = include_bias
        self.B = int(batch_size)
        sizes = network.sizes[1:]
        L = network.depth
        self._L = L
        self._sum_a = [np.zeros((self.B, n)) for n in sizes]
        self._sum_ar = [np.zeros((sizes[i], sizes[i - 1])) for i in range(1, L)]
        self._phi = [None if (rule == "voltage" or network.phi(i).name == "linear")
                     else network.phi(i).f for i in range(1, L + 1)]
        self.n_steps = 0

    def __call__(self, state: StepState):
        v, v_ff, r = state.v, state.v_ff, state.r
        for i in range(self._L):
            phi = self._phi[i]
            a = v[i] - v_ff[i] if phi is None else r[i + 1] - phi(v_ff[i])
            self._sum_a[i] += a
            if i:
                self._sum_ar[i - 1] += a.T @ r[i]
        self.n_steps += 1

    def update(self, x) -> Update:
        """The accumulated, time- and batch-averaged update; ``x`` (B, n_0) is r_0."""
        if self.n_steps == 0:
            raise RuntimeError("TimeAveragedRule: no simulation step was observed")
        x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x2.shape[0] != self.B:
            raise ValueError(f"x: expected {self.B} samples, got {x2.shape[0]}")
        norm = 1.0 / (self.n_steps * self.B)
        dW = [self._sum_a[0].T @ x2 * norm] + [w * norm for w in self._sum_ar]
        db = tuple(a.sum(axis=0) * norm for a in self._sum_a) if self.include_bias else None
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
        The reference convergence test of the simulation (``"dfc"``, ``"dfc-ss"``), the
        finiteness of the linear solve (``"dfc-ssa"``), ``None`` for ``"bp"`` / ``"dfa"``.
    v, v_ff : (B, N) arrays or None
        The state the steady-state rule was applied at (final simulated state or the SSA
        state); for ``"dfc"`` the final simulated state.
    u : (B, n_L) or None
        Control signal at that state.
    info : dict
        ``n_steps`` simulated, ``blew_up``...
    """

    update: Update
    method: str
    converged: Optional[np.ndarray] = None
    diverged: Optional[np.ndarray] = None
    v: Optional[np.ndarray] = None
    v_ff: Optional[np.ndarray] = None
    u: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)


def dfa_feedback(network, seed=None, scale=1.0):
    """Fixed random DFA feedback matrices B_1..B_{L-1}, B_i of shape (n_i, n_L).

    Entries i.i.d. N(0, scale^2 * 2 / (n_i + n_L)) (Xavier-normal for an n_L -> n_i map).
    The output layer receives the error directly (B_L = I, not stored).
    """
    _check_net(network)
    scale = check_scalar(scale, "scale", low=0.0, low_inclusive=False)
    rng = np.random.default_rng(seed)
    nL = network.n_out
    return tuple(rng.normal(0.0, scale * np.sqrt(2.0 / (n + nL)), size=(n, nL))
                 for n in network.sizes[1:-1])


def dfa_as_feedback(network, B_fb):
    """Stack DFA matrices as a DFC feedback matrix Q = [B_1; ...; B_{L-1}; I] (N x n_L), so
    that Q-based metrics (Condition-2 ratio) can describe DFA's feedback pathway."""
    _check_net(network)
    B_fb = _check_dfa(network, B_fb)
    return np.concatenate(list(B_fb) + [np.eye(network.n_out)], axis=0)


def _check_dfa(network, B_fb):
    if B_fb is None:
        raise ValueError("dfa_feedback: method 'dfa' needs the fixed random matrices B_i "
                         "(see dfc_theory.learning.dfa_feedback)")
    B_fb = tuple(B_fb)
    sizes = network.sizes[1:-1]
    if len(B_fb) != len(sizes):
        raise ValueError(f"dfa_feedback: expected {len(sizes)} matrices, got {len(B_fb)}")
    return tuple(as_float_array(b, f"dfa_feedback[{i}] (B_{i + 1})", shape=(n, network.n_out))
                 for i, (b, n) in enumerate(zip(B_fb, sizes)))


def dfa_update(network, x, delta_L, B_fb, include_bias=True):
    """Direct feedback alignment: e_L = D_L delta_L, e_i = D_i B_i e_L (i < L),

        Delta W_i = (1/B) sum_b e_i r_{i-1}^T,   Delta b_i = (1/B) sum_b e_i.

    With B_i = W_{i+1}^T ... W_L^T (weight product) and a linear network this equals
    backpropagation exactly.
    """
    _check_net(network)
    B_fb = _check_dfa(network, B_fb)
    x2 = np.atleast_2d(as_float_array(x, "x", ndim=(1, 2)))
    fp = network.forward(x2)
    d = np.atleast_2d(as_float_array(delta_L, "delta_L", ndim=(1, 2)))
    if d.shape != fp.r[-1].shape:
        raise ValueError(f"delta_L: expected shape {fp.r[-1].shape}, got {np.shape(delta_L)}")
    L = network.depth
    eL = network.phi(L).df(fp.v[-1]) * d
    e = [network.phi(i).df(fp.v[i - 1]) * (eL @ B_fb[i - 1].T) for i in range(1, L)] + [eL]
    return per_layer_from_signal(e, fp.r[:-1], include_bias)


def forward_update(network, x, target, method="dfc", Q=None, controller=None,
                   rule="nonlinear", dt=0.005, n_steps=1000, dfa_feedback=None,
                   include_bias=True, **simulate_kwargs) -> ForwardResult:
    """One forward-weight update of a DFC method or a baseline (module docstring).

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    target : array (B, n_L) or (n_L,)
        Output targets r_L* (e.g. :func:`dfc_theory.output_target`); delta_L = r_L* - r_L^-.
    method : {"dfc", "dfc-ss", "dfc-ssa", "bp", "dfa"}
    Q : array (N, n_L) or "fixed"
        Feedback weights (DFC methods); ``"fixed"`` builds the weight product from
        ``network`` (:func:`fixed_feedback`).
    controller : Controller
        DFC methods (alpha, k_p, tau_v, tau_u, leak; the reference code uses leak="total").
    rule : {"voltage", "nonlinear"}
        Postsynaptic signal of the DFC rule.
    dt, n_steps : Euler settings for ``"dfc"`` / ``"dfc-ss"`` (dt < tau_v is required).
    dfa_feedback : tuple of arrays B_i (n_i, n_L), i = 1..L-1, for ``"dfa"``.
    include_bias : bool
    **simulate_kwargs
        Passed to :func:`dfc_theory.simulate` (``instantaneous_transmission``, ``proactive``...).

    Returns
    -------
    ForwardResult
    """
    _check_net(network)
    check_choice(method, "method", FORWARD_METHODS)
    check_choice(rule, "rule", RULES)
    x2 = np.atleast_2d(as_float_array(x, "x", ndim=(1, 2)))
    if x2.shape[1] != network.n_in:
        raise ValueError(f"x: expected shape (B, {network.n_in}), got {np.shape(x)}")
    t = np.atleast_2d(as_float_array(target, "target", ndim=(1, 2)))
    if t.shape[1] != network.n_out or t.shape[0] not in (1, x2.shape[0]):
        raise ValueError(f"target: expected shape ({x2.shape[0]}, {network.n_out}), "
                         f"got {np.shape(target)}")
    t = np.broadcast_to(t, (x2.shape[0], network.n_out))
    if method in ("bp", "dfa"):
        delta = t - network.forward(x2).r[-1]
        if method == "bp":
            upd = bp_update(network, x2, delta, include_bias)
        else:
            upd = dfa_update(network, x2, delta, dfa_feedback, include_bias)
        return ForwardResult(upd, method)
    if not isinstance(controller, Controller):
        raise TypeError(f"controller: method {method!r} needs a dfc_theory.Controller, "
                        f"got {type(controller).__name__}")
    if Q is None:
        raise ValueError(f"Q: method {method!r} needs feedback weights (N x n_L) or 'fixed'")
    if isinstance(Q, str):
        if Q != "fixed":
            raise ValueError(f"Q: expected an (N, n_L) array or 'fixed', got {Q!r}")
        Q = fixed_feedback(network)
    system = DFCSystem(network, Q, controller)
    if method == "dfc-ssa":
        ss = steady_state(system, x2, t, method="ssa")
        upd = rule_at_state(network, x2, ss.v, ss.v_ff, rule, include_bias)
        ok = np.all(np.isfinite(ss.v), axis=1)
        return ForwardResult(upd, method, ok, ~ok, ss.v, ss.v_ff, ss.u, {"n_steps": 0})
    observer = None
    if method == "dfc":
        observer = TimeAveragedRule(network, x2.shape[0], rule, include_bias)
    res = simulate(system, x2, t, method="euler", dt=dt, n_steps=n_steps, record="final",
                   observer=observer, **simulate_kwargs)
    if method == "dfc":
        upd = observer.update(x2)
    else:
        upd = rule_at_state(network, x2, res.v_final, res.v_ff_final, rule, include_bias) \
            if np.all(np.isfinite(res.v_final)) else _nan_update(network, include_bias)
    return ForwardResult(upd, method, res.converged, res.diverged, res.v_final,
                         res.v_ff_final, res.u_final,
                         {"n_steps": res.n_steps, "blew_up": res.info.get("blew_up", False)})


def _nan_update(network, include_bias):
    dW = tuple(np.full(w.shape, np.nan) for w in network.weights)
    db = tuple(np.full(b.shape, np.nan) for b in network.biases) if include_bias else None
    return Update(dW, db)
