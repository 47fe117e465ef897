"""The feedforward network of a DFC system (THEORY.md section 1).

Shape conventions (DESIGN.md): batch first.  Per-layer quantities are tuples indexed
by layer, ``v[i-1]`` holding v_i of shape (B, n_i) for i = 1..L, and ``r[i]`` holding r_i
for i = 0..L (``r[0]`` is the input x).  Stacked vectors over all layers (output
included) have size N = n_1 + ... + n_L and shape (B, N); Jacobians have shape
(B, n_L, N).  Single-sample calls (x of shape (n_0,)) return the batch axis squeezed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._validation import as_batch, as_float_array
from .activations import Activation, get_activation

__all__ = ["Network", "ForwardPass", "split_layers", "stack_layers", "rescale_to_condition1"]


def split_layers(z, sizes):
    """Split a stacked array along its last axis into per-layer blocks of widths ``sizes``.

    ``z[..., N]`` -> tuple of ``z[..., n_i]`` with N = sum(sizes).
    """
    z = np.asarray(z)
    if z.shape[-1] != sum(sizes):
        raise ValueError(f"z: last axis must have length {sum(sizes)}, got {z.shape[-1]}")
    idx = np.cumsum(sizes)[:-1]
    return tuple(np.split(z, idx, axis=-1))


def stack_layers(blocks):
    """Concatenate per-layer blocks along the last axis (inverse of :func:`split_layers`)."""
    return np.concatenate([np.asarray(b, dtype=np.float64) for b in blocks], axis=-1)


@dataclass(frozen=True)
class ForwardPass:
    """Pre-activations and rates of one pass.

    Attributes
    ----------
    v : tuple of arrays
        v_1..v_L, each (B, n_i) (or (n_i,) for a single sample).
    r : tuple of arrays
        r_0..r_L with r_0 = x.
    """

    v: tuple
    r: tuple

    @property
    def v_stacked(self):
        """v = [v_1; ...; v_L] of shape (B, N)."""
        return stack_layers(self.v)

    @property
    def output(self):
        """r_L."""
        return self.r[-1]


class Network:
    """A feedforward network v_i = W_i r_{i-1} + b_i, r_i = phi_i(v_i), i = 1..L.

    Parameters
    ----------
    weights : sequence of arrays
        W_1..W_L, W_i of shape (n_i, n_{i-1}).
    biases : sequence of arrays, optional
        b_1..b_L, b_i of shape (n_i,); zeros when omitted.
    activation : str or Activation
        phi for the hidden layers 1..L-1 (one of ``dfc_theory.activations.ACTIVATIONS``).
    output_activation : str or Activation
        phi_L (linear in every experiment of the paper).
    """

    def __init__(self, weights: Sequence, biases=None, activation="tanh",
                 output_activation="linear"):
        if isinstance(weights, np.ndarray) and weights.ndim == 2:
            weights = [weights]
        if len(weights) == 0:
            raise ValueError("weights: need at least one layer")
        ws = []
        for i, w in enumerate(weights, start=1):
            w = as_float_array(w, f"weights[{i - 1}] (W_{i})", ndim=2)
            if ws and w.shape[1] != ws[-1].shape[0]:
                raise ValueError(f"weights[{i - 1}] (W_{i}): expected {ws[-1].shape[0]} columns "
                                 f"(width of layer {i - 1}), got shape {w.shape}")
            w.setflags(write=False)
            ws.append(w)
        self.weights = tuple(ws)
        if biases is None:
            bs = [np.zeros(w.shape[0]) for w in ws]
        else:
            if len(biases) != len(ws):
                raise ValueError(f"biases: expected {len(ws)} vectors, got {len(biases)}")
            bs = [as_float_array(b, f"biases[{i}] (b_{i + 1})", shape=(w.shape[0],))
                  for i, (b, w) in enumerate(zip(biases, ws))]
        for b in bs:
            b.setflags(write=False)
        self.biases = tuple(bs)
        self.activation = get_activation(activation)
        self.output_activation = get_activation(output_activation, "output_activation")

    # ------------------------------------------------------------------ structure
    @classmethod
    def random(cls, sizes, activation="tanh", output_activation="linear", seed=None,
               init="xavier_normal", gain=1.0, bias_scale=0.0):
        """A random network with layer widths ``sizes = [n_0, ..., n_L]``.

        ``init="xavier_normal"``: W_i ~ N(0, gain^2 * 2 / (n_i + n_{i-1})) (the paper's
        students); ``"normal"``: W_i ~ N(0, gain^2 / n_{i-1}).  Biases ~ N(0, bias_scale^2).
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes: need >= 2 positive widths, got {sizes}")
        rng = np.random.default_rng(seed)
        ws, bs = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            if init == "xavier_normal":
                std = gain * np.sqrt(2.0 / (n_in + n_out))
            elif init == "normal":
                std = gain / np.sqrt(n_in)
            else:
                raise ValueError(f"init: expected 'xavier_normal' or 'normal', got {init!r}")
            ws.append(rng.normal(0.0, std, size=(n_out, n_in)))
            bs.append(rng.normal(0.0, bias_scale, size=n_out) if bias_scale else np.zeros(n_out))
        return cls(ws, bs, activation, output_activation)

    @property
    def sizes(self):
        """[n_0, n_1, ..., n_L]."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self):
        """L, the number of weight layers."""
        return len(self.weights)

    @property
    def n_in(self):
        return self.weights[0].shape[1]

    @property
    def n_out(self):
        return self.weights[-1].shape[0]

    @property
    def n_total(self):
        """N = n_1 + ... + n_L."""
        return sum(w.shape[0] for w in self.weights)

    @property
    def n_params(self):
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def phi(self, i) -> Activation:
        """phi_i for layer i = 1..L."""
        return self.output_activation if i == self.depth else self.activation

    def split(self, z):
        """Split a stacked (..., N) array into per-layer blocks (..., n_i)."""
        return split_layers(z, self.sizes[1:])

    def stack(self, blocks):
        return stack_layers(blocks)

    def with_params(self, weights, biases=None):
        """A network of the same activations with new parameters."""
        return Network(weights, self.biases if biases is None else biases,
                       self.activation, self.output_activation)

    def __repr__(self):
        return (f"Network(sizes={self.sizes}, activation={self.activation.name!r}, "
                f"output_activation={self.output_activation.name!r})")

    # ------------------------------------------------------------------ passes
    def _input(self, x):
        return as_batch(x, "x", self.n_in)

    def forward(self, x, delta=None, input_drive=None) -> ForwardPass:
        """Feedforward pass r_0 = x, v_i = W_i r_{i-1} + b_i (+ delta_i), r_i = phi_i(v_i).

        Parameters
        ----------
        x : array (B, n_0) or (n_0,)
        delta : array (B, N), optional
            Added to the pre-activations layer by layer and propagated (e.g. Q u in the
            DFC steady state v_i = W_i phi(v_{i-1}) + b_i + Q_i u).
        input_drive : array (B, n_1), optional
            W_1 x + b_1 when already known (it does not depend on delta): solvers that
            propagate many deltas for the same x pass it to skip the largest product.
        """
        x2, single = self._input(x)
        if delta is not None:
            d = as_float_array(delta, "delta", ndim=(1, 2))
            if d.ndim == 1:
                d = d[None, :]
            if d.shape[-1] != self.n_total or d.shape[0] not in (1, x2.shape[0]):
                raise ValueError(f"delta: expected shape ({x2.shape[0]}, {self.n_total}), "
                                 f"got {d.shape}")
            deltas = self.split(d)
        v, r = [], [x2]
        for i, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            vi = input_drive if i == 1 and input_drive is not None else r[-1] @ w.T + b
            if delta is not None:
                vi = vi + deltas[i - 1]
            v.append(vi)
            r.append(self.phi(i).f(vi))
        if single:
            v = [a[0] for a in v]
            r = [a[0] for a in r]
        return ForwardPass(tuple(v), tuple(r))

    def rates(self, v_stacked):
        """r_i = phi_i(v_i) for stacked pre-activations (B, N) -> tuple of (B, n_i)."""
        return tuple(self.phi(i).f(vi) for i, vi in enumerate(self.split(v_stacked), start=1))

    def basal(self, x, v_stacked):
        """Basal (feedforward) drive v_i^ff = W_i phi(v_{i-1}) + b_i at state v (B, N) -> (B, N)."""
        x2, _ = self._input(x)
        r = (x2,) + self.rates(v_stacked)
        return stack_layers([r[i] @ w.T + b
                             for i, (w, b) in enumerate(zip(self.weights, self.biases))])

    def _v_blocks(self, x, v):
        """Per-layer pre-activations: feedforward at x, or the given stacked v."""
        if v is None:
            fp = self.forward(x)
            single = np.ndim(x) == 1
            vb = [np.atleast_2d(a) for a in fp.v]
            rb = [np.atleast_2d(a) for a in fp.r]
            return vb, rb, single
        x2, single = self._input(x)
        v2 = as_float_array(v, "v", ndim=(1, 2))
        if v2.ndim == 1:
            v2 = v2[None, :]
        if v2.shape != (x2.shape[0], self.n_total):
            raise ValueError(f"v: expected shape ({x2.shape[0]}, {self.n_total}), got {v2.shape}")
        vb = list(self.split(v2))
        rb = [x2] + [self.phi(i).f(a) for i, a in enumerate(vb, start=1)]
        return vb, rb, single

    def layer_jacobians(self, x, v=None):
        """Blocks J_i = d r_L / d v_i, each (B, n_L, n_i).

        J_L = D_L and J_i = J_{i+1} W_{i+1} D_i with D_i = diag(phi_i'(v_i)), evaluated at
        the feedforward pre-activations of ``x`` or at the given stacked ``v`` (B, N).
        """
        vb, _, single = self._v_blocks(x, v)
        L = self.depth
        D = [self.phi(i).df(vb[i - 1]) for i in range(1, L + 1)]
        Js = [None] * L
        Js[L - 1] = np.einsum("ij,bj->bij", np.eye(self.n_out), D[L - 1])
        for i in range(L - 1, 0, -1):
            # one (B n_L, n_{i+1}) x (n_{i+1}, n_i) GEMM instead of B small batched ones
            B, nL, n_next = Js[i].shape
            JW = (Js[i].reshape(B * nL, n_next) @ self.weights[i]).reshape(B, nL, -1)
            Js[i - 1] = JW * D[i - 1][:, None, :]
        if single:
            Js = [a[0] for a in Js]
        return tuple(Js)

    def jacobian(self, x, v=None):
        """J = d r_L / d v (all layers, output included), shape (B, n_L, N) or (n_L, N).

        J = [J_1, ..., J_L] with J_L = D_L, J_i = J_{i+1} W_{i+1} D_i (THEORY.md section 1),
        at the feedforward state of ``x`` or at the stacked pre-activations ``v``.
        """
        return np.concatenate(self.layer_jacobians(x, v), axis=-1)

    def weight_jacobian(self, x, v=None):
        """J_theta = d r_L / d theta, shape (B, n_L, P) or (n_L, P).

        Parameter ordering: theta = [vec(W_1), b_1, vec(W_2), b_2, ..., vec(W_L), b_L] with
        vec row-major (``W.ravel()``), so the block of W_i is J_i (x) r_{i-1}^T:
        d r_L[k] / d W_i[a, b] = J_i[k, a] r_{i-1}[b], and d r_L / d b_i = J_i.
        """
        vb, rb, single = self._v_blocks(x, v)
        Js = self.layer_jacobians(x, v)
        if single:
            Js = [a[None] for a in Js]
        blocks = []
        for i, Ji in enumerate(Js):
            B, nL, ni = Ji.shape
            blocks.append(np.einsum("bka,bc->bkac", Ji, rb[i]).reshape(B, nL, -1))
            blocks.append(Ji)
        out = np.concatenate(blocks, axis=-1)
        return out[0] if single else out

    def params_vector(self):
        """theta in the ordering of :meth:`weight_jacobian`."""
        return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in
                               zip(self.weights, self.biases)])

    def split_params(self, theta):
        """Inverse of :meth:`params_vector`: theta (..., P) -> (list of dW (..., n_i, n_{i-1}),
        list of db (..., n_i))."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape[-1] != self.n_params:
            raise ValueError(f"theta: last axis must have length {self.n_params}, "
                             f"got {theta.shape[-1]}")
        lead = theta.shape[:-1]
        dW, db, k = [], [], 0
        for w in self.weights:
            dW.append(theta[..., k:k + w.size].reshape(lead + w.shape))
            k += w.size
            db.append(theta[..., k:k + w.shape[0]])
            k += w.shape[0]
        return dW, db


def rescale_to_condition1(network: Network, x, norm=None, max_scale=1e6):
    """A copy of ``network`` whose hidden weights are rescaled so that Condition 1 holds at
    the single input ``x``: ||r_0|| = ||r_1|| = ... = ||r_{L-1}|| (= ``norm``, default ||x||).

    Layer by layer (i = 1..L-1) W_i <- c_i W_i with c_i > 0 the root of
    ||phi_i(c_i W_i r_{i-1} + b_i)|| = norm (monotone in c_i for the odd saturating or
    rectifying activations used here; found by bracketing and Brent's method).  Biases and
    the output layer are left unchanged.  Raises ValueError if the norm cannot be reached
    (e.g. tanh layers saturate at ||r_i|| < sqrt(n_i)).
    """
    from scipy.optimize import brentq

    x = as_float_array(x, "x", shape=(network.n_in,))
    target = float(np.linalg.norm(x)) if norm is None else float(norm)
    if not target > 0:
        raise ValueError(f"norm: needs a positive target layer norm, got {target}")
    ws = list(network.weights)
    r = x
    for i in range(1, network.depth):
        w, b, phi = ws[i - 1], network.biases[i - 1], network.phi(i)
        pre = w @ r

        def gap(c):
            return np.linalg.norm(phi.f(c * pre + b)) - target

        lo, hi = 0.0, 1.0
        while gap(hi) < 0:
            hi *= 2.0
            if hi > max_scale:
                raise ValueError(f"x: layer {i} cannot reach ||r_{i}|| = {target:.4g} "
                                 f"(width {w.shape[0]}, activation {phi.name})")
        if gap(lo) > 0:
            raise ValueError(f"x: layer {i} exceeds ||r_{i}|| = {target:.4g} even with zero "
                             f"weights (its biases are too large)")
        c = brentq(gap, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        ws[i - 1] = c * w
        r = phi.f(c * pre + b)
    return network.with_params(ws)
