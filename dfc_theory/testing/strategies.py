"""Hypothesis strategies for DFC systems: property-test the theory's conditions yourself.

Every strategy draws small float64 objects that **shrink towards small, simple systems**:
fewer layers, narrower layers, smaller batches, zero weights and inputs, ``"linear"``
activations, Q = J^T (or the weight product), k_p = 0, the instantaneous system
tau_v = 0, targets equal to the feedforward output.  A failing property therefore reports
a counterexample a person can read (e.g. a 1-1 network with one weight).

Strategies
----------
:func:`networks`           a :class:`dfc_theory.Network` (sizes, activations, weights, biases);
:func:`inputs`             a batch x of shape (B, n_0) for a network;
:func:`controllers`        a :class:`dfc_theory.Controller` (leak, alpha, k_p, tau_v/tau_u, tau_u);
:func:`feedback_matrices`  Q (N x n_L) for a network and inputs, optionally satisfying
                           Condition 2, Condition 3 (for every alpha >= 0) or both, or the
                           weight product;
:func:`systems`            a :class:`~dfc_theory.testing.Draw` (``.system``, ``.x``, ``.target``)
                           whose promises (``condition2``, ``condition3``, ``stable``,
                           ``stable_initial``) are the named premises of
                           :mod:`dfc_theory.testing.premises`, checked with the same predicates.

How the promises are kept (THEORY.md sections 3-5)
--------------------------------------------------
Mostly by construction, with ``assume`` only as a last resort (:func:`rejection_counts`
reports how often; the numbers measured for the defaults are in the README):

* **Condition 2** (col(Q) = row(J)): Q = J_1^T M with M = I + E, J_1 the Jacobian at the
  first sample.  Condition 2 "at every sample of the batch" needs Q's columns in the row
  space of *every* J_b.  For B = 1, a linear network (J does not depend on x), or a
  one-layer network with invertible D_L (row(J) = R^N) that is automatic; for a nonlinear
  network with hidden layers the row spaces of different samples are different n_L-planes
  of R^N, and no Q of full column rank lies in all of them.  :func:`systems` therefore
  keeps only the samples whose row space contains the first sample's (the batch is cut,
  typically to B = 1 for nonlinear networks: deterministic, nothing rejected);
  :func:`feedback_matrices`, which cannot change the given x, rejects such batches.
* **Condition 3 for every alpha >= 0** (``feedback_matrices(..., "condition3")``):
  Q = Q_0 (J_1 Q_0)^{-1} P with P = V (D + U) V^{-1}: D holds eigenvalues with real parts in
  [0.1, 2] (real ones and complex pairs), U is strictly block-upper-triangular, V = I + E.
  Then J_1 Q = P, whose spectrum is D's, and col(Q) = col(Q_0): Q_0 = J_1^T gives
  Conditions 2 and 3 together (Q = J^+ P); Q_0 = J_1^T + G a generic column space.  Where
  J_1 has rank < n_L (dead units, zero weights) no Q gives Re eig(J_1 Q) > 0;
  :func:`systems` then draws the sibling family it may also draw ("condition2+3" ->
  "condition2" -> free Q, "condition3" -> free Q; ``draw.meta["family"]`` says which).
* **Condition 3 at the exact steady state** (``systems(condition3=True)``): alpha is chosen
  from the spectrum, alpha = a_0 + max(0, -min Re eig(J_ss Q)) with a_0 the drawn alpha
  (so the margin is >= a_0 / 2), iterated with Newton's steady state because J_ss depends
  on alpha (one or two rounds).  This is the paper's Condition 3 (alpha, not alpha_tilde).
* **Stability** (``stable=True``: Newton converges and the full linearised system of the
  draw's own controller at the exact steady state, ``A_system``, has spectral abscissa
  < -margin): first the drawn controller; if unstable, alpha is raised for Condition 3 with
  alpha_tilde = alpha / (1 + alpha k_p) (the static part of the criterion); if still
  unstable, tau_v / tau_u is divided by 4, 16, 64 (towards the instantaneous system, where
  Condition 3 with k_p = 0 is exactly the criterion, Proposition 5), then k_p is set to the
  lower end of its range.  Only then is the draw rejected.  The distribution of stable draws
  is therefore biased towards small tau_v / tau_u where the drawn one was unstable; the
  repairs are listed in ``draw.meta["repairs"]``.
* ``stable_initial=True``: the same for the dynamics linearised at the initial state
  [v^-; s_0] (no steady state is solved: such draws may have none).
* ``False`` promises: ``condition2=False`` adds to Q a component in the null space of J_1
  (networks get >= 2 layers, so that null space exists); ``condition3=False`` flips the sign
  of Q if J Q has no eigenvalue with negative real part and puts alpha below
  -min Re eig(J Q); ``stable=False`` does the same and then filters.

Numbers are bounded (weights in [-max_weight, max_weight], biases in [-max_bias, max_bias],
inputs in [-max_input, max_input], no nan, inf or subnormals), so no draw overflows; entries
smaller than 1e-3 of their bound are 0 (tiny floats only make ill-conditioned systems).
Arrays are drawn in a fixed layout of the largest sizes (see ``_matrix``), so that sizes and
values shrink independently.  Randomness comes only from Hypothesis, so ``@seed`` /
``derandomize`` reproduce draws.

Examples
--------
>>> from hypothesis import given
>>> from dfc_theory.testing.strategies import systems
>>> @given(systems(condition3=True, ratio=0.0, k_p=0.0))
... def test_proposition5(draw):   # instantaneous system, k_p = 0: Condition 3 => stable
...     assert draw.abscissa.max() < 0
"""
from __future__ import annotations

import numbers

import numpy as np
from hypothesis import assume, event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

# public names of the core only (its implementation modules are private and may move)
from .. import ACTIVATIONS, LEAKS, Controller, DFCSystem, Network
from ..feedback import weight_product
from .premises import PREMISES, Draw

__all__ = ["ACTIVATION_NAMES", "SMOOTH_ACTIVATIONS", "FEEDBACK_CONDITIONS", "MIN_RATIO",
           "EIG_MARGIN", "networks", "inputs", "controllers", "feedback_matrices", "systems",
           "rejection_counts"]

#: every activation of the library, simplest first (``sampled_from`` shrinks to the first)
ACTIVATION_NAMES = ("linear", "tanh", "sigmoid", "softplus", "relu", "leaky_relu")
#: activations with a continuous derivative (linearisations and Taylor expansions valid)
SMOOTH_ACTIVATIONS = ("linear", "tanh", "sigmoid", "softplus")
#: the ``condition`` argument of :func:`feedback_matrices`
FEEDBACK_CONDITIONS = (None, "condition2", "condition3", "condition2+3", "weight_product")
#: smallest non-zero tau_v / tau_u drawn when the range starts at 0 (1/tau_v enters the
#: system matrices; below this the instantaneous system tau_v = 0 is the better model)
MIN_RATIO = 1e-3
#: lower bound of the real parts of eig(J Q) built by the "condition3" constructions
EIG_MARGIN = 0.1
#: relative tolerance of "row(J_1) lies in row(J_b)" (rounding of the projector ~1e-15 cond)
ROWSPACE_TOL = 1e-9
#: largest condition number of J_1 Q_0 accepted by the "condition3" constructions (Q grows
#: like cond(J_1 Q_0): beyond this the draws are dominated by huge, stiff feedback)
COND_LIMIT = 1e4
#: freely drawn entries below this fraction of their bound are set to 0: Hypothesis likes
#: tiny floats (1e-300), which here only make ill-conditioned, stiff systems
TINY = 1e-3

assert set(ACTIVATION_NAMES) == set(ACTIVATIONS), "ACTIVATION_NAMES out of date"
assert set(ACTIVATION_NAMES) >= set(SMOOTH_ACTIVATIONS)

# --------------------------------------------------------------------------- bookkeeping
_COUNTS = {}


def _drawn(name):
    _COUNTS.setdefault(name, {"drawn": 0, "rejected": {}})["drawn"] += 1


def _reject(name, reason):
    """Count, label (Hypothesis ``event``) and reject the current draw."""
    rec = _COUNTS.setdefault(name, {"drawn": 0, "rejected": {}})
    rec["rejected"][reason] = rec["rejected"].get(reason, 0) + 1
    try:
        event(f"{name} rejected: {reason}")
    except InvalidArgument:  # outside a Hypothesis test (e.g. example())
        pass
    assume(False)


def rejection_counts(reset=False):
    """How often each strategy was drawn and why it rejected (``assume``) draws.

    Returns ``{strategy: {"drawn": n, "rejected": {reason: count}}}`` accumulated in this
    process since the last reset; the rejection rate of a strategy is
    ``sum(rejected.values()) / drawn``.  ``reset=True`` clears the counts after reading.
    """
    out = {k: {"drawn": v["drawn"], "rejected": dict(v["rejected"])} for k, v in _COUNTS.items()}
    if reset:
        _COUNTS.clear()
    return out


# --------------------------------------------------------------------------- arguments
def _int(value, name, low=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _bound(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _param(value, name, low=0.0, positive=False):
    """A float, a (lo, hi) range or a strategy -> a strategy of floats."""
    if isinstance(value, SearchStrategy):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{name}: expected a number, a (low, high) tuple or a Hypothesis "
                         f"strategy, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or lo < low or (positive and lo <= 0):
        need = f"> {low}" if positive else f">= {low}"
        raise ValueError(f"{name}: expected finite low <= high with low {need}, got {value!r}")
    return st.just(lo) if lo == hi else _floats(lo, hi)


def _range_low(value):
    """Lower end of a parameter given as number or range (None for strategies)."""
    if isinstance(value, tuple):
        return float(value[0])
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def _names(value, name, default):
    if value is None:
        return default
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    bad = [v for v in value if v not in ACTIVATIONS]
    if not value or bad:
        raise ValueError(f"{name}: expected a non-empty sequence of names from "
                         f"{ACTIVATION_NAMES}, got {value!r}")
    return value


def _leaks(value):
    value = (value,) if isinstance(value, str) else tuple(value)
    if not value or any(v not in LEAKS for v in value):
        raise ValueError(f"leaks: expected a non-empty sequence from {LEAKS}, got {value!r}")
    return value


def _matrix(draw, shape, bound, used=None):
    """A float array with entries in [-bound, bound], each drawn (and shrunk) separately.

    ``shape`` is the largest shape the strategy can ask for and ``used`` the leading block
    actually returned: drawing the full layout every time keeps each entry at the same
    place in Hypothesis' choice sequence when a size shrinks, so sizes and values shrink
    independently (a 3-layer counterexample can lose a layer without redrawing the others).
    Measured on a deliberately false claim over seeds 0..7: the input width shrank to 1 in
    8/8 searches with the layout, 5/8 without, for about 1.5x the drawing time.
    """
    used = shape if used is None else used
    n = int(np.prod(shape))
    if n == 0 or bound == 0:
        return np.zeros(used)
    vals = draw(st.lists(_floats(-bound, bound), min_size=n, max_size=n))
    full = np.array(vals, dtype=np.float64).reshape(shape)
    full[np.abs(full) < TINY * bound] = 0.0
    return full[tuple(slice(0, k) for k in used)].copy()


# --------------------------------------------------------------------------- networks
def networks(min_layers=1, max_layers=3, min_width=1, max_width=6, activations=None,
             output_activations=None, max_weight=2.0, max_bias=0.5):
    """Strategy for a :class:`dfc_theory.Network` v_i = W_i r_{i-1} + b_i, r_i = phi_i(v_i).

    Parameters
    ----------
    min_layers, max_layers : int
        Range of the depth L (number of weight layers, output included).
    min_width, max_width : int
        Range of every width n_0, ..., n_L.
    activations, output_activations : sequence of str, optional
        Names (``dfc_theory.ACTIVATIONS``) for phi of the hidden layers and phi_L; default
        all, in the order of :data:`ACTIVATION_NAMES` (shrinking moves to the first).
    max_weight, max_bias : float
        Entries of W_i in [-max_weight, max_weight] and of b_i in [-max_bias, max_bias],
        drawn one by one (they shrink to 0).

    Returns
    -------
    SearchStrategy of Network.  For L = 1 there is no hidden layer and the hidden
    activation is the first name of ``activations``.
    """
    min_layers = _int(min_layers, "min_layers", 1)
    max_layers = _int(max_layers, "max_layers", min_layers)
    min_width = _int(min_width, "min_width", 1)
    max_width = _int(max_width, "max_width", min_width)
    acts = _names(activations, "activations", ACTIVATION_NAMES)
    outs = _names(output_activations, "output_activations", ACTIVATION_NAMES)
    return _networks(min_layers, max_layers, min_width, max_width, acts, outs,
                     _bound(max_weight, "max_weight"), _bound(max_bias, "max_bias"))


def _layer_slots(L, max_layers):
    """Layout slots of layers 1..L: hidden layers take slots 0..L-2, the output layer the
    last slot, so the output layer keeps its draws when the depth shrinks."""
    return list(range(L - 1)) + [max_layers - 1]


@st.composite
def _networks(draw, min_layers, max_layers, min_width, max_width, acts, outs, wmax, bmax):
    L = draw(st.integers(min_layers, max_layers))
    widths = [draw(st.integers(min_width, max_width)) for _ in range(max_layers + 1)]
    sizes = [widths[0]] + widths[1:L] + [widths[max_layers]]
    act = draw(st.sampled_from(acts)) if L > 1 else acts[0]
    out = draw(st.sampled_from(outs))
    W = [_matrix(draw, (max_width, max_width), wmax) for _ in range(max_layers)]
    b = [_matrix(draw, (max_width,), bmax) for _ in range(max_layers)]
    slots = _layer_slots(L, max_layers)
    ws = [W[k][:n, :m] for k, m, n in zip(slots, sizes[:-1], sizes[1:])]
    bs = [b[k][:n] for k, n in zip(slots, sizes[1:])]
    return Network(ws, bs, activation=act, output_activation=out)


def inputs(network, min_batch=1, max_batch=4, max_input=2.0):
    """Strategy for a batch of inputs x (B, n_0) for ``network``, entries in
    [-max_input, max_input] (shrinking to 0), B in [min_batch, max_batch]."""
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")
    min_batch = _int(min_batch, "min_batch", 1)
    max_batch = _int(max_batch, "max_batch", min_batch)
    return _inputs(network.n_in, min_batch, max_batch, _bound(max_input, "max_input"))


@st.composite
def _inputs(draw, n_in, min_batch, max_batch, xmax, n_max=None):
    B = draw(st.integers(min_batch, max_batch))
    return _matrix(draw, (max_batch, n_max or n_in), xmax, (B, n_in))


# --------------------------------------------------------------------------- controllers
def _ratio_strategy(ratio):
    if isinstance(ratio, SearchStrategy):
        return ratio
    s = _param(ratio, "ratio")
    lo = _range_low(ratio)
    hi = float(ratio[1]) if isinstance(ratio, tuple) else lo
    if lo == 0.0 and hi > MIN_RATIO:
        # 0 is the instantaneous system (and the shrink target); never a tiny tau_v
        return s.map(lambda r: 0.0 if r < MIN_RATIO else r)
    return s


def controllers(leaks=LEAKS, alpha=(0.01, 1.0), k_p=(0.0, 2.0), ratio=(0.0, 0.5),
                tau_u=(0.5, 2.0)):
    """Strategy for a :class:`dfc_theory.Controller` (THEORY.md section 2).

    Parameters
    ----------
    leaks : sequence of {"total", "integral"}
        Leak conventions to draw from (the first is the shrink target).
    alpha, k_p, ratio, tau_u : float, (low, high) or a Hypothesis strategy
        The leak alpha >= 0, the proportional gain k_p >= 0, the time-constant ratio
        tau_v / tau_u >= 0 and tau_u > 0 (then tau_v = ratio * tau_u).  In a range for
        ``ratio`` starting at 0, values below :data:`MIN_RATIO` become exactly 0 (the
        instantaneous system, also the shrink target).

    Returns
    -------
    SearchStrategy of Controller.  The instantaneous system with ``leak="integral"`` gets
    k_p = 0 (u = u_int + k_p e(u) would be implicit, which the dynamics reject).
    """
    return _controllers(_leaks(leaks), _param(alpha, "alpha"), _param(k_p, "k_p"),
                        _ratio_strategy(ratio), _param(tau_u, "tau_u", positive=True))


@st.composite
def _controllers(draw, leaks, alpha, k_p, ratio, tau_u):
    leak = draw(st.sampled_from(leaks))
    tu = draw(tau_u)
    r = draw(ratio)
    kp = draw(k_p)
    if r == 0.0 and leak == "integral":
        kp = 0.0
    return Controller(alpha=draw(alpha), k_p=kp, tau_v=r * tu, tau_u=tu, leak=leak)


# --------------------------------------------------------------------------- feedback
def _min_re_eig(A):
    """min_i Re lambda_i(A) per matrix of a batch (B, n, n) -> (B,)."""
    with np.errstate(all="ignore"):
        return np.linalg.eigvals(A).real.min(axis=-1)


def _shares_rowspace(J):
    """(B,) bool: row(J_1) lies in row(J_b) (so Q = J_1^T M meets Condition 2 at sample b)."""
    J0T = J[0].T
    with np.errstate(all="ignore"):
        P = np.linalg.pinv(J) @ J                      # projectors on row(J_b)
        res = np.linalg.norm(J0T[None] - P @ J0T[None], axis=(1, 2))
    return res <= ROWSPACE_TOL * max(np.linalg.norm(J0T), 1e-300)


def _eig_matrix(draw, n, n_max):
    """P = V (D + U) V^{-1} with Re eig(P) in [EIG_MARGIN, 2] (module docstring)."""
    pairs = min(draw(st.integers(0, n_max // 2)), n // 2)
    re = [draw(_floats(EIG_MARGIN, 2.0)) for _ in range(n_max)]
    im = [draw(_floats(EIG_MARGIN, 2.0)) for _ in range(n_max // 2)]
    D = np.diag(re[:n])
    block = np.eye(n, dtype=bool)
    for k in range(pairs):
        i = 2 * k
        D[i:i + 2, i:i + 2] = [[re[i], im[k]], [-im[k], re[i]]]
        block[i:i + 2, i:i + 2] = True
    U = _matrix(draw, (n_max, n_max), 1.0, (n, n))
    U[~(np.triu(np.ones((n, n), dtype=bool), 1) & ~block)] = 0.0
    V = np.eye(n) + _matrix(draw, (n_max, n_max), 0.5, (n, n))
    if np.linalg.cond(V) > 1e3:   # keep the spectrum exact to ~1e-13
        V = np.eye(n)
    return V @ (D + U) @ np.linalg.inv(V)


def _free_q(draw, net, bound, layout):
    """Freely drawn Q (N x n_L); ``layout`` = (max_layers, max_width) places each layer's
    block Q_i in a fixed slot (see :func:`_matrix`), None uses the actual sizes."""
    if layout is None:
        return _matrix(draw, (net.n_total, net.n_out), bound)
    max_layers, max_width = layout
    full = [_matrix(draw, (max_width, max_width), bound) for _ in range(max_layers)]
    slots = _layer_slots(net.depth, max_layers)
    return np.concatenate([full[k][:n, :net.n_out] for k, n in zip(slots, net.sizes[1:])])


def _feedback(draw, net, x, family, name, qmax=1.0, layout=None, fallback=()):
    """Q of one family, the mask of samples at which its promise holds, and the family used
    (the first of the ``fallback`` families replaces a J-dependent family where J_1 = 0 or,
    for the "condition3" families, where J_1 has rank < n_L)."""
    N, nL, B = net.n_total, net.n_out, x.shape[0]
    n_max = layout[1] if layout else nL
    everyone = np.ones(B, dtype=bool)
    if family == "weight_product":
        return weight_product(net), everyone, family
    if family is None:
        return _free_q(draw, net, qmax, layout), everyone, family
    J = net.jacobian(x)
    J0 = J[0]
    if not np.any(J0):
        if fallback:
            return _feedback(draw, net, x, fallback[0], name, qmax, layout, fallback[1:])
        _reject(name, "J = 0 at the first sample (no Q meets Condition 2 or 3)")
    if family in ("condition2", "condition2+3"):
        keep = _shares_rowspace(J)
        if family == "condition2":
            M = np.eye(nL) + _matrix(draw, (n_max, n_max), 1.0, (nL, nL))
            return J0.T @ M, keep, family
        base = J0.T
    else:
        keep = everyone
        base = J0.T + _free_q(draw, net, qmax, layout)
    G = J0 @ base
    if np.linalg.cond(G) > COND_LIMIT:
        if fallback:
            return _feedback(draw, net, x, fallback[0], name, qmax, layout, fallback[1:])
        _reject(name, "J_1 Q_0 singular (J of rank < n_L): Condition 3 at alpha = 0 impossible")
    Q = base @ np.linalg.solve(G, _eig_matrix(draw, nL, n_max))
    keep = keep & (_min_re_eig(J @ Q) > 0)
    if not keep[0]:
        _reject(name, "rounding lost Re eig(J_1 Q) > 0")
    return Q, keep, family


def feedback_matrices(network, x, condition=None, max_entry=1.0):
    """Strategy for feedback weights Q = [Q_1; ...; Q_L] (N x n_L) of ``network`` at ``x``.

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
        Inputs at whose feedforward states J = d r_L / d v is evaluated.
    condition : {None, "condition2", "condition3", "condition2+3", "weight_product"}
        * None: any Q, entries in [-max_entry, max_entry] (shrinks to Q = 0, no feedback);
        * "condition2": Q = J^T M, M = I + E (shrinks to J^T): col(Q) = row(J) at every
          sample (Condition 2, ratio ||P_J Q|| / ||Q|| = 1);
        * "condition3": Re eig(J Q) >= 0.1 at the first sample and > 0 at every sample, i.e.
          Condition 3 for every alpha >= 0 at the feedforward state; col(Q) generic;
        * "condition2+3": both (Q = J^+ P, Re eig(P) in [0.1, 2]; shrinks to J^+);
        * "weight_product": Q_i = W_{i+1}^T ... W_L^T, Q_L = I (deterministic).
    max_entry : float
        Bound of the freely drawn entries.

    Returns
    -------
    SearchStrategy of arrays (N, n_L).  The J-dependent constructions use the first sample's
    J; a batch whose other samples break the promise is rejected (for Condition 2 that is
    every batch of B > 1 on a nonlinear network with hidden layers: see the module
    docstring, and use :func:`systems`, which cuts the batch instead).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")
    if condition not in FEEDBACK_CONDITIONS:
        raise ValueError(f"condition: expected one of {FEEDBACK_CONDITIONS}, got {condition!r}")
    x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x2.ndim != 2 or x2.shape[1] != network.n_in or not np.all(np.isfinite(x2)):
        raise ValueError(f"x: expected finite inputs of shape (B, {network.n_in}), "
                         f"got {np.shape(x)}")
    return _feedback_matrices(network, x2, condition, _bound(max_entry, "max_entry"))


@st.composite
def _feedback_matrices(draw, network, x, condition, qmax):
    _drawn("feedback_matrices")
    Q, keep, _ = _feedback(draw, network, x, condition, "feedback_matrices", qmax)
    if not np.all(keep):
        _reject("feedback_matrices", f"{condition} does not hold at every sample of the batch")
    return Q


# --------------------------------------------------------------------------- systems
_C2_FAMILIES = ("condition2", "condition2+3")
#: the family drawn instead where J_1 = 0 or (for the Condition-3 ones) rank(J_1) < n_L
_SIBLING = {"condition2+3": "condition2", "condition2": None, "condition3": None}
_NOT_C2_FAMILIES = (None, "condition3")
_ALL_FAMILIES = ("weight_product", None, "condition2", "condition3", "condition2+3")


def _families(feedback, condition2):
    if feedback is None:
        return {True: _C2_FAMILIES, False: _NOT_C2_FAMILIES, None: _ALL_FAMILIES}[condition2]
    fams = (feedback,) if isinstance(feedback, str) else tuple(feedback)
    if not fams or any(f not in FEEDBACK_CONDITIONS for f in fams):
        raise ValueError(f"feedback: expected a name or names from {FEEDBACK_CONDITIONS}, "
                         f"got {feedback!r}")
    allowed = {True: _C2_FAMILIES, False: _NOT_C2_FAMILIES, None: FEEDBACK_CONDITIONS}[condition2]
    if any(f not in allowed for f in fams):
        raise ValueError(f"feedback: {fams} cannot be combined with condition2={condition2}; "
                         f"expected names from {allowed}")
    return fams


def _tri(value, name):
    if value not in (None, True, False):
        raise ValueError(f"{name}: expected None, True or False, got {value!r}")
    return value


def systems(condition2=None, condition3=None, stable=None, leaks=LEAKS, *, stable_initial=None,
            margin=0.0, feedback=None, min_layers=1, max_layers=3, min_width=1, max_width=6,
            activations=None, output_activations=None, min_batch=1, max_batch=4,
            alpha=(0.01, 1.0), k_p=(0.0, 2.0), ratio=(0.0, 0.5), tau_u=(0.5, 2.0),
            lam=(0.0, 0.2), max_weight=2.0, max_bias=0.5, max_input=2.0):
    """Strategy for a DFC system with inputs and targets: a :class:`~dfc_theory.testing.Draw`.

    Parameters
    ----------
    condition2 : None, True or False
        True: Condition 2 (col(Q) = row(J), ratio ||P_J Q|| / ||Q|| = 1) at the feedforward
        state of every sample of the batch (the batch is cut to the samples sharing the
        first sample's row space, see the module docstring); False: it fails.
    condition3 : None, True or False
        True: Condition 3, Re eig(J_ss Q) > -alpha, at the exact steady state of every sample
        (alpha chosen from the spectrum); False: it fails there (or no steady state exists).
    stable : None, True or False
        True: Newton finds the exact steady state of every sample and the full linearised
        system of the draw's controller there (``A_system``) has spectral abscissa
        < -``margin``; False: not so.
    leaks : sequence of {"total", "integral"}
    stable_initial : None or True
        True: the dynamics linearised at the initial state [v^-; s_0] have spectral abscissa
        < -``margin`` (nothing is said about a steady state).
    margin : float >= 0
        Decay-rate margin of the stability promises (1 / time units of tau_u).
    feedback : name or sequence of names from :data:`FEEDBACK_CONDITIONS`, optional
        Families of Q (see :func:`feedback_matrices`); default: all compatible with
        ``condition2`` (True: "condition2", "condition2+3"; False: None, "condition3", each
        plus a null-space component; None: all five, the weight product first).
    min_layers, max_layers, min_width, max_width, activations, output_activations,
    max_weight, max_bias : see :func:`networks`.
    min_batch, max_batch, max_input : see :func:`inputs`.
    alpha, k_p, ratio, tau_u : see :func:`controllers` (with ``condition3=True`` or a
        stability repair, the drawn alpha is the Condition-3 margin a_0 and alpha is raised).
    lam : float or (low, high)
        Targets r_L* = r_L^- + lam xi with xi in [-1, 1]^{n_L} drawn per sample (THEORY.md
        section 1: delta_L = -lambda dLoss/dr_L; shrinks to r_L* = r_L^-); lam below 1e-3 of
        the upper end is 0 (a smaller delta_L would sit within Newton's tolerance).

    Returns
    -------
    SearchStrategy of Draw with ``.system`` (DFCSystem), ``.x`` (B, n_0), ``.target``
    (B, n_L), ``.label`` and ``.meta``: ``family`` of Q, ``batch_drawn`` (B before the
    Condition-2 cut), ``lam``, ``repairs`` applied, and ``checked``: the value of each
    promised premise (e.g. ``checked["stable"]`` the spectral abscissa at the steady state,
    ``checked["stable_initial"]`` the one at the initial state).
    Every promise is verified with the predicate of :data:`dfc_theory.testing.PREMISES` of
    the same name before the draw is returned.
    """
    cfg = dict(condition2=_tri(condition2, "condition2"), condition3=_tri(condition3, "condition3"),
               stable=_tri(stable, "stable"), stable_initial=_tri(stable_initial, "stable_initial"),
               margin=_bound(margin, "margin"))
    if cfg["stable_initial"] is False:
        raise ValueError("stable_initial: expected None or True (an unstable initial state is "
                         "not generated by construction)")
    if cfg["stable"] is False and cfg["condition3"] is True:
        raise ValueError("stable: stable=False with condition3=True is not generated by "
                         "construction; filter systems(condition3=True) with "
                         "PREMISES['stable'] instead")
    if cfg["stable"] is True and cfg["condition3"] is False:
        raise ValueError("stable: stable=True with condition3=False is not generated by "
                         "construction; filter systems(condition3=False) with "
                         "PREMISES['stable'] instead")
    if condition2 is False:
        min_layers = max(2, _int(min_layers, "min_layers", 1))
        if _int(max_layers, "max_layers", 1) < 2:
            raise ValueError("max_layers: condition2=False needs a hidden layer (max_layers >= 2)")
    cfg["families"] = _families(feedback, condition2)
    cfg["network"] = networks(min_layers, max_layers, min_width, max_width, activations,
                              output_activations, max_weight, max_bias)
    cfg["layout"] = (_int(max_layers, "max_layers", 1), _int(max_width, "max_width", 1))
    cfg["min_batch"] = _int(min_batch, "min_batch", 1)
    cfg["max_batch"] = _int(max_batch, "max_batch", cfg["min_batch"])
    cfg["max_input"] = _bound(max_input, "max_input")
    cfg["controller"] = controllers(leaks, alpha, k_p, ratio, tau_u)
    cfg["k_p_low"] = _range_low(k_p)
    cfg["ratio_low"] = _range_low(ratio)
    cfg["lam"] = _param(lam, "lam")
    cfg["lam_high"] = float(lam[1]) if isinstance(lam, tuple) else (
        float(lam) if isinstance(lam, numbers.Real) else 0.0)
    return _systems(cfg)


def _with(d, Q=None, **controller):
    """The draw with Q and/or controller fields replaced (a new Draw: caches recomputed)."""
    c = d.controller.replace(**controller) if controller else d.controller
    return Draw(d.system.replace(Q=Q, controller=c), d.x, d.target, d.label, dict(d.meta))


def _alpha_for(c, need, effective):
    """alpha giving alpha (``effective=False``) or alpha_tilde = alpha / (1 + alpha k_p) equal
    to ``need``; None when alpha_tilde < 1/k_p cannot reach it."""
    if effective and c.leak == "integral" and c.k_p:
        if need * c.k_p >= 0.9:
            return None
        return need / (1.0 - need * c.k_p)
    return need


def _raise_alpha(d, a0, effective, at, k_p_low=None):
    """Condition 3 by the choice of alpha: min Re eig(J Q) + alpha(_tilde) >= a0 / 2 at the
    feedforward (``at="feedforward"``) or exact steady state.  Where alpha_tilde < 1/k_p
    cannot reach it, k_p is lowered to ``k_p_low`` (if given) first.

    Returns (draw or None, reason).
    """
    m = float(np.min(_min_re_eig(d.jacobian @ d.Q)))
    for _ in range(3):
        need = a0 + max(0.0, -m)
        alpha = _alpha_for(d.controller, need, effective)
        if alpha is None and k_p_low is not None and k_p_low < d.controller.k_p:
            d = _with(d, k_p=k_p_low)
            d.meta["repairs"] = d.meta["repairs"] + [f"k_p lowered to {k_p_low:.4g}"]
            alpha = _alpha_for(d.controller, need, effective)
        if alpha is None:
            return None, "alpha_tilde < 1/k_p cannot reach the Condition-3 margin"
        d = _with(d, alpha=alpha)
        if at == "feedforward":
            return d, ""
        if not PREMISES["newton_converged"](d):
            return None, "no exact steady state at the alpha of Condition 3"
        m = float(np.min(d.min_re_eig_ss))
        c = d.controller
        if m + (c.alpha_eff if effective else c.alpha) >= 0.5 * a0:
            return d, ""
    return None, "Condition 3 lost at the steady state after 3 rounds of alpha"


def _stabilise(d, cfg, checks, at):
    """The repair sequence of the module docstring; returns (draw, repairs) or (None, ...)."""
    def ok(dd):
        return dd is not None and all(check(dd) for check in checks)

    if ok(d):
        return d, []
    repairs = []
    a0 = max(d.controller.alpha, 1e-3)
    if cfg["condition3"] is not False:
        d2, _ = _raise_alpha(d, a0, True, at, cfg["k_p_low"])
        if d2 is not None:
            d, repairs = d2, ["alpha raised: Condition 3 with alpha_tilde"]
            if ok(d):
                return d, repairs
    c = d.controller
    low = cfg["ratio_low"] if cfg["ratio_low"] is not None else 0.0
    ratios = [max(c.ratio / 4 ** k, low, MIN_RATIO if low == 0 else low) for k in (1, 2, 3)]
    if low == 0.0 and not (c.leak == "integral" and c.k_p):
        ratios.append(0.0)
    tried = set()
    for r in ratios:
        if r >= c.ratio or r in tried:
            continue
        tried.add(r)
        d2 = _with(d, tau_v=r * c.tau_u)
        if ok(d2):
            return d2, repairs + [f"tau_v/tau_u reduced from {c.ratio:.4g} to {r:.4g}"]
    kp_low = cfg["k_p_low"]
    if kp_low is not None and kp_low < c.k_p:
        r = min(tried) if tried else c.ratio
        if r == 0.0 and c.leak == "integral" and kp_low:
            r = MIN_RATIO
        d2 = _with(d, k_p=kp_low, tau_v=r * c.tau_u)
        if cfg["condition3"] is not False:
            d2, _ = _raise_alpha(d2, a0, True, at)
        if ok(d2):
            return d2, repairs + [f"k_p lowered to {kp_low:.4g}, tau_v/tau_u {r:.4g}"]
    return None, repairs


@st.composite
def _systems(draw, cfg):
    name = "systems"
    _drawn(name)
    # the few structural choices first: Hypothesis varies early choices more evenly than
    # those behind the hundreds of weight entries
    ctrl = draw(cfg["controller"])
    family = draw(st.sampled_from(cfg["families"]))
    lam = draw(cfg["lam"])
    if lam < TINY * cfg["lam_high"]:   # like the entries: no targets within rounding of r_L^-
        lam = 0.0
    net = draw(cfg["network"])
    layout = cfg["layout"]
    x = draw(_inputs(net.n_in, cfg["min_batch"], cfg["max_batch"], cfg["max_input"], layout[1]))
    B0 = x.shape[0]
    xi = _matrix(draw, (cfg["max_batch"], layout[1]), 1.0, (B0, net.n_out))
    # where J_1 has rank < n_L no Q gives Re eig(J_1 Q) > 0 (and where J_1 = 0 no Q meets
    # Condition 2): fall back on a sibling family when that one may be drawn as well
    chain, f = [], family
    while f in _SIBLING and _SIBLING[f] in cfg["families"]:
        f = _SIBLING[f]
        chain.append(f)
    Q, keep, family = _feedback(draw, net, x, family, name, layout=layout, fallback=chain)
    if cfg["condition2"] is False:
        J0 = net.jacobian(x[0])
        _, s, Vt = np.linalg.svd(J0)
        rank = int(np.sum(s > s[0] * 1e-10)) if s.size and s[0] > 0 else 0
        Z = Vt[rank:].T                                  # orthonormal basis of null(J_1)
        C = _matrix(draw, (layout[0] * layout[1], layout[1]), 1.0, (Z.shape[1], net.n_out))
        C[0, 0] = np.copysign(max(0.5, abs(C[0, 0])), C[0, 0])
        Q = Q + Z @ C
    x, xi = x[keep], xi[keep]
    target = net.forward(x).output + lam * xi
    meta = {"family": family, "batch_drawn": B0, "lam": lam, "repairs": [], "checked": {}}
    sizes = "-".join(map(str, net.sizes))
    label = (f"{sizes} {net.activation.name}/{net.output_activation.name}, "
             f"Q: {family or 'free'}{' + null(J)' if cfg['condition2'] is False else ''}, "
             f"B={x.shape[0]}")
    d = Draw(DFCSystem(net, Q, ctrl), x, target, label, meta)
    if x.shape[0] < B0:
        event(f"systems: batch cut from {B0} to {x.shape[0]} (Condition 2 / 3 of Q)")

    # Condition 3: alpha from the spectrum (paper's alpha)
    if cfg["condition3"] is True:
        # with stable=True: alpha_tilde (implies the paper's alpha), the static criterion
        d2, why = _raise_alpha(d, max(ctrl.alpha, 1e-3), cfg["stable"] is True, "steady_state",
                               cfg["k_p_low"])
        if d2 is None:
            _reject(name, why)
        d = d2
        d.meta["repairs"].append("alpha from the spectrum of J_ss Q (Condition 3)")
    elif cfg["condition3"] is False or cfg["stable"] is False:
        m = float(np.min(_min_re_eig(d.jacobian @ d.Q)))
        if m >= 0:
            d = _with(d, Q=-d.Q)
            d.meta["repairs"].append("Q -> -Q (J Q had no eigenvalue with negative real part)")
            m = float(np.min(_min_re_eig(d.jacobian @ d.Q)))
        if not m < 0:
            _reject(name, "Re eig(J Q) = 0: Condition 3 cannot be broken with alpha >= 0")
        frac = draw(_floats(0.1, 0.9))
        d = _with(d, alpha=-m * (1.0 - frac))
        d.meta["repairs"].append("alpha below -min Re eig(J Q) (Condition 3 broken)")

    # stability: drawn controller first, then the repairs of the module docstring
    checks, at = [], "feedforward"
    if cfg["stable"] is True:
        checks.append(lambda dd: PREMISES["stable"](dd, margin=cfg["margin"]).holds)
        at = "steady_state"
    if cfg["stable_initial"] is True:
        checks.append(lambda dd: PREMISES["stable_initial"](dd, margin=cfg["margin"]).holds)
    if checks:
        d, more = _stabilise(d, cfg, checks, at)
        if d is None:
            _reject(name, "unstable after the repairs (alpha, tau_v / tau_u, k_p)")
        d.meta["repairs"] = d.meta["repairs"] + more

    params = {"stable": {"margin": cfg["margin"]}, "stable_initial": {"margin": cfg["margin"]}}
    for premise in ("condition2", "condition3", "stable", "stable_initial"):
        want = cfg[premise]
        if want is None:
            continue
        out = PREMISES[premise](d, **params.get(premise, {}))
        if bool(out) != want:
            _reject(name, f"{premise} is not {want} after the construction")
        d.meta["checked"][premise] = out.value
    return d
