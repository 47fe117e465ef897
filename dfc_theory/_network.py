"""The feedforward network of a DFC system (THEORY.md section 1), for every array backend.

Batch first (DESIGN.md): per-layer tuples ``v[i-1]`` = v_i (B, n_i), i = 1..L, and
``r[i]`` = r_i, i = 0..L (r_0 = x); stacked vectors over all layers (output included) are
(B, N), N = n_1 + ... + n_L; Jacobians (B, n_L, N); a single x (n_0,) squeezes the batch
axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import brentq

from ._backend import affine, device, is_torch, namespace, to_numpy
from ._validation import (as_array, as_batch, as_rng, check_choice, check_scalar, check_sizes,
                          is_tensor)
from .activations import get_activation

__all__ = ["Network", "ForwardPass", "split_layers", "stack_layers", "rescale_to_condition1"]


def split_layers(z, sizes):
    """Split a stacked array along its last axis into per-layer blocks (views).

    Parameters
    ----------
    z : array (..., N), N = sum(sizes)
    sizes : sequence of int, the widths n_1, ..., n_L

    Returns
    -------
    tuple of arrays (..., n_i)

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import split_layers
    >>> [b.tolist() for b in split_layers(np.arange(5.0), [2, 3])]
    [[0.0, 1.0], [2.0, 3.0, 4.0]]
    """
    z = z if hasattr(z, "shape") else as_array(z, "z")
    if z.shape[-1] != sum(sizes):
        raise ValueError(f"z: last axis must have length {sum(sizes)}, got {z.shape[-1]}")
    offs = np.cumsum([0] + list(sizes)).tolist()
    return tuple(z[..., a:b] for a, b in zip(offs[:-1], offs[1:]))


def stack_layers(blocks, xp=None):
    """Concatenate per-layer blocks along the last axis (inverse of :func:`split_layers`).

    Parameters
    ----------
    blocks : non-empty sequence of arrays (..., n_i), i = 1..L, leading axes equal
    xp : array namespace, optional
        Default: the namespace of ``blocks``.

    Returns
    -------
    array (..., N), N = n_1 + ... + n_L: the stacked vector, e.g. v = [v_1; ...; v_L]

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import split_layers, stack_layers
    >>> z = np.arange(10.0).reshape(2, 5)
    >>> bool(np.array_equal(stack_layers(split_layers(z, [2, 3])), z))
    True
    """
    if len(blocks) == 0:
        raise ValueError("blocks: need at least one per-layer block")
    xp = namespace(*blocks) if xp is None else xp
    return xp.concat(list(blocks), axis=-1)


@dataclass(frozen=True)
class ForwardPass:
    """Pre-activations ``v`` = (v_1..v_L), each (B, n_i) (or (n_i,)), and rates ``r`` =
    (r_0..r_L), r_0 = x, of one pass; ``xp`` their namespace.

    Attributes
    ----------
    v : tuple of arrays (B, n_i), i = 1..L
    r : tuple of arrays (B, n_i), i = 0..L (r_0 = x, r_i = phi_i(v_i))
    xp : array namespace of ``v`` and ``r``
    v_stacked : array (B, N), [v_1; ...; v_L] (property)
    output : array (B, n_L), r_L (property)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)   # linear output layer
    >>> fp = net.forward(np.ones((5, 3)))
    >>> len(fp.v), len(fp.r), fp.v_stacked.shape
    (2, 3, (5, 6))
    >>> bool(np.allclose(fp.output, fp.r[1] @ net.weights[1].T + net.biases[1]))
    True
    """

    v: tuple
    r: tuple
    xp: object = None

    @property
    def v_stacked(self):
        """v = [v_1; ...; v_L] of shape (B, N)."""
        return stack_layers(self.v, self.xp)

    @property
    def output(self):
        """r_L."""
        return self.r[-1]


class Network:
    """A feedforward network v_i = W_i r_{i-1} + b_i, r_i = phi_i(v_i), i = 1..L.

    Parameters
    ----------
    weights : sequence of arrays
        W_1..W_L, W_i of shape (n_i, n_{i-1}): array-likes (stored as read-only float64
        arrays) or torch tensors (owned copies in their dtype and device, updatable in place
        by an optimizer; see :class:`dfc_theory.torch.Network`).
    biases : sequence of arrays, optional
        b_1..b_L, b_i of shape (n_i,); zeros when omitted.
    activation : str or Activation
        phi for the hidden layers 1..L-1 (one of :data:`dfc_theory.ACTIVATIONS`).
    output_activation : str or Activation
        phi_L (linear in every experiment of the paper).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> W1 = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> net = dfc.Network([W1, np.ones((1, 3))], activation="relu")
    >>> net.sizes, net.n_total
    ([2, 3, 1], 4)
    >>> fp = net.forward(np.array([1.0, -1.0]))   # v_1 = W_1 x, r_1 = relu(v_1), r_2 = W_2 r_1
    >>> fp.v[0], fp.r[1], fp.output
    (array([ 1., -2.,  0.]), array([1., 0., 0.]), array([1.]))
    """

    def __init__(self, weights: Sequence, biases=None, activation="tanh",
                 output_activation="linear"):
        if getattr(weights, "ndim", None) == 2:
            weights = [weights]
        if isinstance(weights, str) or not hasattr(weights, "__len__"):
            raise TypeError(f"weights: expected a sequence of matrices W_1..W_L, got "
                            f"{type(weights).__name__}")
        if len(weights) == 0:
            raise ValueError("weights: need at least one layer")
        ws = []  # W_1 fixes the namespace (a tensor keeps its dtype and device)
        for i, w in enumerate(weights, start=1):
            w = as_array(w, f"weights[{i - 1}] (W_{i})", like=ws[0] if ws else None, ndim=2,
                         strict=True)
            if ws and w.shape[1] != ws[-1].shape[0]:
                raise ValueError(f"weights[{i - 1}] (W_{i}): expected {ws[-1].shape[0]} columns "
                                 f"(width of layer {i - 1}), got shape {tuple(w.shape)}")
            ws.append(w)
        xp = namespace(ws[0])
        if biases is None:
            bs = [xp.zeros(w.shape[0], dtype=w.dtype, device=device(w)) for w in ws]
        else:
            if len(biases) != len(ws):
                raise ValueError(f"biases: expected {len(ws)} vectors, got {len(biases)}")
            bs = [as_array(b, f"biases[{i}] (b_{i + 1})", like=ws[0], shape=(w.shape[0],),
                           strict=True) for i, (b, w) in enumerate(zip(biases, ws))]
        if is_tensor(ws[0]):  # owned copies, updatable in place by optimizers
            ws = [w.detach().clone() for w in ws]
            bs = [b.detach().clone() for b in bs]
        else:
            for a in ws + bs:
                a.setflags(write=False)
        self.weights = tuple(ws)
        self.biases = tuple(bs)
        self.xp = xp
        self.activation = get_activation(activation)
        self.output_activation = get_activation(output_activation, "output_activation")
        self._phi = tuple(self.activation.on(self.xp) for _ in ws[:-1]) + \
            (self.output_activation.on(self.xp),)

    # ------------------------------------------------------------------ structure
    @classmethod
    def random(cls, sizes, activation="tanh", output_activation="linear", seed=None,
               init="xavier_normal", gain=1.0, bias_scale=0.0):
        """A random network with layer widths ``sizes = [n_0, ..., n_L]`` (NumPy draws).

        ``init="xavier_normal"``: W_i ~ N(0, gain^2 * 2 / (n_i + n_{i-1})) (the paper's
        students); ``"normal"``: W_i ~ N(0, gain^2 / n_{i-1}).  Biases ~ N(0, bias_scale^2).
        """
        sizes = check_sizes(sizes)
        check_choice(init, "init", ("xavier_normal", "normal"))
        gain = check_scalar(gain, "gain", low=0.0)
        bias_scale = check_scalar(bias_scale, "bias_scale", low=0.0)
        rng = as_rng(seed)
        ws, bs = [], []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            std = gain * (np.sqrt(2.0 / (n_in + n_out)) if init == "xavier_normal"
                          else 1.0 / np.sqrt(n_in))
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
        """n_0."""
        return self.weights[0].shape[1]

    @property
    def n_out(self):
        """n_L."""
        return self.weights[-1].shape[0]

    @property
    def n_total(self):
        """N = n_1 + ... + n_L."""
        return sum(w.shape[0] for w in self.weights)

    @property
    def n_params(self):
        """Number of weights and biases."""
        return sum(math.prod(w.shape) + b.shape[0] for w, b in zip(self.weights, self.biases))

    @property
    def dtype(self):
        """dtype of the parameters (float64 for NumPy)."""
        return self.weights[0].dtype

    @property
    def device(self):
        """Device of the parameters ("cpu" for NumPy)."""
        return device(self.weights[0])

    def phi(self, i):
        """phi_i for layer i = 1..L, bound to the network's namespace (``f``, ``df``, ``d2f``)."""
        return self._phi[i - 1]

    def split(self, z):
        """Split a stacked (..., N) array into per-layer blocks (..., n_i)."""
        return split_layers(z, self.sizes[1:])

    def stack(self, blocks):
        """Concatenate per-layer blocks (..., n_i) into (..., N)."""
        return stack_layers(blocks, self.xp)

    def convert(self, value, name, **kwargs):
        """``value`` as an array of this network's namespace, dtype and device (validated)."""
        return as_array(value, name, like=self.weights[0], **kwargs)

    def with_params(self, weights, biases=None):
        """A network of the same class and activations with new parameters."""
        ws = [self.convert(w, f"weights[{i}]", ndim=2) for i, w in enumerate(weights)]
        return type(self)(ws, self.biases if biases is None else biases, self.activation,
                          self.output_activation)

    def to_numpy(self):
        """The float64 NumPy :class:`dfc_theory.Network` with these parameters."""
        return Network(to_numpy(list(self.weights)), to_numpy(list(self.biases)),
                       self.activation, self.output_activation)

    def __repr__(self):
        extra = f", dtype={self.dtype}, device={self.device}" if is_torch(self.xp) else ""
        return (f"{type(self).__name__}(sizes={self.sizes}, activation={self.activation.name!r}"
                f", output_activation={self.output_activation.name!r}{extra})")

    # ------------------------------------------------------------------ passes
    def _input(self, x):
        return as_batch(x, "x", self.n_in, like=self.weights[0])

    def _stacked(self, z, name, B, allow_nonfinite=False):
        """A stacked (B, N) array of this network (a 1-D one gets the batch axis; ``delta``
        may also have one row for all samples)."""
        z = self.convert(z, name, ndim=(1, 2), allow_nonfinite=allow_nonfinite)
        z = z[None, :] if z.ndim == 1 else z
        if z.shape[1] != self.n_total or z.shape[0] not in ((B, 1) if name == "delta" else (B,)):
            raise ValueError(f"{name}: expected shape ({B}, {self.n_total}), "
                             f"got {tuple(z.shape)}")
        return z

    def forward(self, x, delta=None, input_drive=None) -> ForwardPass:
        """Feedforward pass r_0 = x, v_i = W_i r_{i-1} + b_i (+ delta_i), r_i = phi_i(v_i).

        Parameters
        ----------
        x : array (B, n_0) or (n_0,)
        delta : array (B, N), optional
            Added to the pre-activations and propagated (e.g. Q u in the DFC steady state).
        input_drive : array (B, n_1), optional
            W_1 x + b_1 when already known (solvers propagating many deltas for one x).

        Returns
        -------
        ForwardPass
        """
        x2, single = self._input(x)
        B = x2.shape[0]
        if delta is not None:
            delta = self._stacked(delta, "delta", B)
        if input_drive is not None:
            input_drive = self.convert(input_drive, "input_drive", shape=(B, self.sizes[1]))
        fp = self._forward(x2, delta, input_drive)
        if single:
            return ForwardPass(tuple(a[0] for a in fp.v), tuple(a[0] for a in fp.r), self.xp)
        return fp

    def _forward(self, x2, delta=None, drive=None):
        """:meth:`forward` of a validated batch (no checks: the solvers' inner loops)."""
        deltas = None if delta is None else self.split(delta)
        v, r = [], [x2]
        for i, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            vi = drive if i == 1 and drive is not None else affine(r[-1], w.T, b)
            if deltas is not None:
                vi = vi + deltas[i - 1]
            v.append(vi)
            r.append(self._phi[i - 1].f(vi))
        return ForwardPass(tuple(v), tuple(r), self.xp)

    def rates(self, v_stacked):
        """r_i = phi_i(v_i) for stacked pre-activations (B, N) -> tuple of (B, n_i)."""
        return tuple(phi.f(vi) for phi, vi in zip(self._phi, self.split(v_stacked)))

    def basal(self, x, v_stacked):
        """Basal (feedforward) drive v_i^ff = W_i phi(v_{i-1}) + b_i at v (B, N) -> (B, N)."""
        x2, _ = self._input(x)
        return self._basal(x2, self._stacked(v_stacked, "v", x2.shape[0], True))

    def _basal(self, x2, v):
        """:meth:`basal` of validated arrays."""
        r = (x2,) + self.rates(v)
        return self.stack([affine(ri, w.T, b) for ri, w, b in zip(r, self.weights, self.biases)])

    def _v_blocks(self, x, v):
        """(per-layer pre-activations, rates r_0..r_{L-1}, single): feedforward at x or the
        given stacked v."""
        x2, single = self._input(x)
        v = self._forward(x2).v_stacked if v is None else self._stacked(v, "v", x2.shape[0])
        vb = list(self.split(v))
        return vb, [x2] + [phi.f(a) for phi, a in zip(self._phi[:-1], vb[:-1])], single

    def _jacobian_blocks(self, vb):
        """J_i = d r_L / d v_i (B, n_L, n_i) from per-layer pre-activations (batched)."""
        D = [phi.df(a) for phi, a in zip(self._phi, vb)]
        eye = self.xp.eye(self.n_out, dtype=self.dtype, device=self.device)
        Js = [eye[None] * D[-1][:, None, :]]  # J_L, then J_i = J_{i+1} W_{i+1} D_i in front
        for i in range(self.depth - 1, 0, -1):
            # one (B n_L, n_{i+1}) x (n_{i+1}, n_i) GEMM instead of B small batched ones
            B, nL, n_next = Js[0].shape
            W = self.weights[i]  # explicit sizes: -1 is ambiguous for an empty batch
            JW = (Js[0].reshape(B * nL, n_next) @ W).reshape(B, nL, W.shape[1])
            Js.insert(0, JW * D[i - 1][:, None, :])
        return Js

    def layer_jacobians(self, x, v=None):
        """Blocks J_i = d r_L / d v_i, each (B, n_L, n_i).

        J_L = D_L and J_i = J_{i+1} W_{i+1} D_i with D_i = diag(phi_i'(v_i)), evaluated at
        the feedforward pre-activations of ``x`` or at the given stacked ``v`` (B, N).
        """
        vb, _, single = self._v_blocks(x, v)
        Js = self._jacobian_blocks(vb)
        return tuple(a[0] for a in Js) if single else tuple(Js)

    def jacobian(self, x, v=None):
        """J = d r_L / d v = [J_1, ..., J_L] of :meth:`layer_jacobians` (THEORY.md section 1),
        shape (B, n_L, N) or (n_L, N), at the feedforward state of ``x`` or at ``v``.

        Examples
        --------
        >>> import numpy as np
        >>> import dfc_theory as dfc
        >>> net = dfc.Network.random([2, 3, 1], activation="linear", seed=0)
        >>> J = net.jacobian(np.zeros(2))     # linear: J = [W_2, I]
        >>> bool(np.allclose(J, np.hstack([net.weights[1], np.eye(1)])))
        True
        """
        return self.xp.concat(self.layer_jacobians(x, v), axis=-1)

    def _jacobian(self, v):
        """J (B, n_L, N) at validated stacked pre-activations v (B, N)."""
        return self.xp.concat(self._jacobian_blocks(list(self.split(v))), axis=-1)

    def jacobian_product(self, x, M, v=None):
        """J M = sum_i J_i M_i, shape (B, n_L, k), for M (N, k) (e.g. J Q), at the
        feedforward state of ``x`` or at ``v`` (B, N), without forming the stacked J."""
        vb, _, single = self._v_blocks(x, v)
        M = self.convert(M, "M", ndim=2)
        if M.shape[0] != self.n_total:
            raise ValueError(f"M: expected {self.n_total} rows, got shape {tuple(M.shape)}")
        out = self._jacobian_product(vb, [b.T for b in self.split(M.T)])
        return out[0] if single else out

    def _jacobian_product(self, vb, M_blocks):
        """J M from per-layer pre-activations and the row blocks M_i (n_i, k), batched."""
        B, nL = vb[0].shape[0], self.n_out
        return sum((Ji.reshape(B * nL, Ji.shape[2]) @ Mi).reshape(B, nL, Mi.shape[1])
                   for Ji, Mi in zip(self._jacobian_blocks(vb), M_blocks))

    def weight_jacobian(self, x, v=None):
        """J_theta = d r_L / d theta, shape (B, n_L, P) or (n_L, P).

        Parameter ordering: theta = [vec(W_1), b_1, vec(W_2), b_2, ..., vec(W_L), b_L] with
        vec row-major (``W.ravel()``), so the block of W_i is J_i (x) r_{i-1}^T:
        d r_L[k] / d W_i[a, b] = J_i[k, a] r_{i-1}[b], and d r_L / d b_i = J_i.
        """
        vb, rb, single = self._v_blocks(x, v)
        blocks = []
        for Ji, ri in zip(self._jacobian_blocks(vb), rb):
            B, nL, ni = Ji.shape
            outer = Ji[..., :, None] * ri[:, None, None, :]  # (B, n_L, n_i, n_{i-1})
            blocks += [outer.reshape(B, nL, ni * ri.shape[1]), Ji]
        out = self.xp.concat(blocks, axis=-1)
        return out[0] if single else out

    def params_vector(self):
        """theta in the ordering of :meth:`weight_jacobian`."""
        return self.xp.concat([self.xp.concat([w.reshape(-1), b]) for w, b in
                               zip(self.weights, self.biases)])

    def split_params(self, theta):
        """Inverse of :meth:`params_vector`: theta (..., P) -> (list of dW (..., n_i, n_{i-1}),
        list of db (..., n_i))."""
        theta = self.convert(theta, "theta")
        if theta.shape[-1] != self.n_params:
            raise ValueError(f"theta: last axis must have length {self.n_params}, "
                             f"got {theta.shape[-1]}")
        lead = tuple(theta.shape[:-1])
        dW, db, k = [], [], 0
        for w in self.weights:
            size = math.prod(w.shape)
            dW.append(theta[..., k:k + size].reshape(lead + tuple(w.shape)))
            k += size
            db.append(theta[..., k:k + w.shape[0]])
            k += w.shape[0]
        return dW, db


def rescale_to_condition1(network: Network, x, norm=None, max_scale=1e6):
    """A copy of ``network`` whose hidden weights are rescaled so that Condition 1 holds at
    the single input ``x``: ||r_0|| = ||r_1|| = ... = ||r_{L-1}|| (= ``norm``, default ||x||).

    Layer by layer (i = 1..L-1) W_i <- c_i W_i, c_i > 0 the root of
    ||phi_i(c_i W_i r_{i-1} + b_i)|| = norm (Brent's method, so NumPy only); biases and the
    output layer are left unchanged.

    Parameters
    ----------
    network : Network (NumPy)
    x : array (n_0,), a single non-zero input
    norm : float > 0, optional
        The common norm of r_0..r_{L-1}; default ||x||.
    max_scale : float >= 1
        Largest factor c_i tried before giving up.

    Returns
    -------
    Network
        The rescaled copy (same activations, biases and W_L).

    Raises
    ------
    ValueError
        If the norm cannot be reached (e.g. tanh layers saturate at ||r_i|| < sqrt(n_i)).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.rescale_to_condition1(dfc.Network.random([4, 6, 6, 2], seed=0), np.ones(4))
    >>> np.round(dfc.metrics.layer_norms(net, np.ones(4)), 8)
    array([[2., 2., 2.]])
    """
    if is_torch(network.xp):
        raise TypeError("network: rescale_to_condition1 is NumPy-only (SciPy's brentq); "
                        "pass network.to_numpy()")
    x = as_array(x, "x", shape=(network.n_in,))
    max_scale = check_scalar(max_scale, "max_scale", low=1.0)
    target = float(np.linalg.norm(x)) if norm is None else \
        check_scalar(norm, "norm", low=0.0, low_inclusive=False)
    if not target > 0:
        raise ValueError(f"x: needs a non-zero input (its norm is the default target), got {x}")
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
