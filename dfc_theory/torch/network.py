"""The feedforward network on tensors (THEORY.md section 1), mirroring
:class:`dfc_theory.Network`: the same attribute and method names, batch-first shapes, per-layer
tuples ``v[i-1]`` = v_i (B, n_i) and ``r[i]`` = r_i, stacked vectors (B, N), Jacobians
(B, n_L, N).  A single input of shape (n_0,) returns the batch axis squeezed.

The parameters are plain tensors (``weights``, ``biases``) that training code may update
in place (e.g. through a ``torch.optim`` optimizer over :meth:`Network.parameters`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .. import network as _np_network
from ._common import as_batch, as_tensor, resolve_device, resolve_dtype, to_numpy
from .activations import Activation, get_activation

__all__ = ["Network", "ForwardPass", "split_layers", "stack_layers"]


def split_layers(z, sizes):
    """Split a stacked tensor along its last axis into per-layer blocks of widths ``sizes``."""
    if z.shape[-1] != sum(sizes):
        raise ValueError(f"z: last axis must have length {sum(sizes)}, got {z.shape[-1]}")
    return tuple(torch.split(z, list(sizes), dim=-1))


def stack_layers(blocks):
    """Concatenate per-layer blocks along the last axis (inverse of :func:`split_layers`)."""
    return torch.cat(list(blocks), dim=-1)


@dataclass(frozen=True)
class ForwardPass:
    """Pre-activations v_1..v_L and rates r_0..r_L of one pass (tuples of tensors)."""

    v: tuple
    r: tuple

    @property
    def v_stacked(self):
        return stack_layers(self.v)

    @property
    def output(self):
        return self.r[-1]


class Network:
    """A feedforward network v_i = W_i r_{i-1} + b_i, r_i = phi_i(v_i), i = 1..L, on tensors.

    Parameters
    ----------
    weights : sequence of arrays or tensors
        W_1..W_L, W_i of shape (n_i, n_{i-1}).
    biases : sequence, optional
        b_1..b_L (zeros when omitted).
    activation, output_activation : str
        phi for layers 1..L-1 and phi_L (names of :data:`dfc_theory.ACTIVATIONS`).
    dtype, device : optional
        Where the parameters live.  Default: the dtype/device of tensor weights, otherwise
        ``torch.get_default_dtype()`` (float32) on the CPU.  Use float64 for checks against
        the NumPy core.
    """

    def __init__(self, weights: Sequence, biases=None, activation="tanh",
                 output_activation="linear", dtype=None, device=None):
        if isinstance(weights, (np.ndarray, torch.Tensor)) and weights.ndim == 2:
            weights = [weights]
        if len(weights) == 0:
            raise ValueError("weights: need at least one layer")
        dtype, device = resolve_dtype(dtype), resolve_device(device)
        if dtype is None and isinstance(weights[0], torch.Tensor) \
                and weights[0].is_floating_point():
            dtype = weights[0].dtype
        if device is None and isinstance(weights[0], torch.Tensor):
            device = weights[0].device
        ws = []
        for i, w in enumerate(weights, start=1):
            w = as_tensor(w, f"weights[{i - 1}] (W_{i})", dtype=dtype, device=device, ndim=2,
                          strict=True)
            if ws and w.shape[1] != ws[-1].shape[0]:
                raise ValueError(f"weights[{i - 1}] (W_{i}): expected {ws[-1].shape[0]} "
                                 f"columns (width of layer {i - 1}), got shape {tuple(w.shape)}")
            ws.append(w.detach().clone())
        dtype, device = ws[0].dtype, ws[0].device
        if biases is None:
            bs = [torch.zeros(w.shape[0], dtype=dtype, device=device) for w in ws]
        else:
            if len(biases) != len(ws):
                raise ValueError(f"biases: expected {len(ws)} vectors, got {len(biases)}")
            bs = [as_tensor(b, f"biases[{i}] (b_{i + 1})", dtype=dtype, device=device,
                            shape=(w.shape[0],), strict=True).detach().clone()
                  for i, (b, w) in enumerate(zip(biases, ws))]
        self.weights = ws
        self.biases = bs
        self.activation = get_activation(activation)
        self.output_activation = get_activation(output_activation)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_numpy(cls, network, dtype=torch.float64, device=None):
        """The torch twin of a :class:`dfc_theory.Network` (float64 by default)."""
        if not isinstance(network, _np_network.Network):
            raise TypeError(f"network: expected a dfc_theory.Network, got "
                            f"{type(network).__name__}")
        return cls(list(network.weights), list(network.biases), network.activation.name,
                   network.output_activation.name, dtype=dtype, device=device)

    def to_numpy(self):
        """The :class:`dfc_theory.Network` with these parameters (float64)."""
        return _np_network.Network([to_numpy(w) for w in self.weights],
                                   [to_numpy(b) for b in self.biases],
                                   self.activation.name, self.output_activation.name)

    @classmethod
    def random(cls, sizes, activation="tanh", output_activation="linear", seed=None,
               init="xavier_normal", gain=1.0, bias_scale=0.0, dtype=None, device=None):
        """A random network drawn exactly as :meth:`dfc_theory.Network.random` (same seed,
        same numbers), then moved to ``dtype``/``device``."""
        net = _np_network.Network.random(sizes, activation, output_activation, seed=seed,
                                         init=init, gain=gain, bias_scale=bias_scale)
        return cls(list(net.weights), list(net.biases), activation, output_activation,
                   dtype=dtype, device=device)

    def to(self, dtype=None, device=None):
        """A copy with parameters converted to ``dtype`` and/or moved to ``device``."""
        dtype = resolve_dtype(dtype) or self.dtype
        device = resolve_device(device) or self.device
        return Network([w.to(device, dtype) for w in self.weights],
                       [b.to(device, dtype) for b in self.biases], self.activation,
                       self.output_activation)

    def clone(self):
        return self.with_params(self.weights, self.biases)

    def with_params(self, weights, biases=None):
        """A network of the same activations with new parameters (copied)."""
        return Network(list(weights), list(self.biases if biases is None else biases),
                       self.activation, self.output_activation, dtype=self.dtype,
                       device=self.device)

    def parameters(self):
        """[W_1, b_1, ..., W_L, b_L] (the tensors themselves, for optimizers)."""
        out = []
        for w, b in zip(self.weights, self.biases):
            out += [w, b]
        return out

    # ------------------------------------------------------------------ structure
    @property
    def dtype(self):
        return self.weights[0].dtype

    @property
    def device(self):
        return self.weights[0].device

    @property
    def sizes(self):
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self):
        return len(self.weights)

    @property
    def n_in(self):
        return self.weights[0].shape[1]

    @property
    def n_out(self):
        return self.weights[-1].shape[0]

    @property
    def n_total(self):
        return sum(w.shape[0] for w in self.weights)

    @property
    def n_params(self):
        return sum(w.numel() + b.numel() for w, b in zip(self.weights, self.biases))

    def phi(self, i) -> Activation:
        """phi_i for layer i = 1..L."""
        return self.output_activation if i == self.depth else self.activation

    def split(self, z):
        return split_layers(z, self.sizes[1:])

    def stack(self, blocks):
        return stack_layers(blocks)

    def tensor(self, value, name, **kwargs):
        """``value`` as a tensor with this network's dtype and device (validated)."""
        return as_tensor(value, name, dtype=self.dtype, device=self.device, **kwargs)

    def __repr__(self):
        return (f"Network(sizes={self.sizes}, activation={self.activation.name!r}, "
                f"output_activation={self.output_activation.name!r}, dtype={self.dtype}, "
                f"device={self.device})")

    # ------------------------------------------------------------------ passes
    def _input(self, x):
        return as_batch(x, "x", self.n_in, self.dtype, self.device)

    def forward(self, x, delta=None) -> ForwardPass:
        """r_0 = x, v_i = W_i r_{i-1} + b_i (+ delta_i), r_i = phi_i(v_i).

        ``delta`` (B, N) or (N,) is added layer by layer and propagated (e.g. Q u in the
        steady state v_i = W_i phi(v_{i-1}) + b_i + Q_i u).
        """
        x2, single = self._input(x)
        if delta is not None:
            d = self.tensor(delta, "delta", ndim=(1, 2))
            if d.ndim == 1:
                d = d[None, :]
            if d.shape[-1] != self.n_total or d.shape[0] not in (1, x2.shape[0]):
                raise ValueError(f"delta: expected shape ({x2.shape[0]}, {self.n_total}), "
                                 f"got {tuple(d.shape)}")
            deltas = self.split(d)
        v, r = [], [x2]
        for i, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            vi = torch.addmm(b, r[-1], w.T)
            if delta is not None:
                vi = vi + deltas[i - 1]
            v.append(vi)
            r.append(self.phi(i).f(vi))
        if single:
            v = [a[0] for a in v]
            r = [a[0] for a in r]
        return ForwardPass(tuple(v), tuple(r))

    def __call__(self, x):
        """The output r_L (B, n_L) of the feedforward pass."""
        return self.forward(x).output

    def rates(self, v_stacked):
        """r_i = phi_i(v_i) for stacked pre-activations (B, N) -> tuple of (B, n_i)."""
        return tuple(self.phi(i).f(vi) for i, vi in enumerate(self.split(v_stacked), start=1))

    def basal(self, x, v_stacked):
        """v_i^ff = W_i phi(v_{i-1}) + b_i at the state v (B, N) -> (B, N)."""
        x2, _ = self._input(x)
        r = (x2,) + self.rates(self.tensor(v_stacked, "v", ndim=2))
        return stack_layers([torch.addmm(b, r[i], w.T)
                             for i, (w, b) in enumerate(zip(self.weights, self.biases))])

    def layer_jacobians(self, x, v=None):
        """Blocks J_i = d r_L / d v_i, each (B, n_L, n_i): J_L = D_L, J_i = J_{i+1} W_{i+1} D_i,
        at the feedforward pre-activations of ``x`` or at the stacked ``v`` (B, N).

        Cost: one (B n_L, n_{i+1}) x (n_{i+1}, n_i) GEMM per layer, i.e. the n_L backward
        passes of autodiff done at once.
        """
        if v is None:
            x2, single = self._input(x)
            vb = list(self.forward(x2).v)
        else:
            x2, single = self._input(x)
            v2 = self.tensor(v, "v", ndim=(1, 2))
            if v2.ndim == 1:
                v2 = v2[None, :]
            if tuple(v2.shape) != (x2.shape[0], self.n_total):
                raise ValueError(f"v: expected shape ({x2.shape[0]}, {self.n_total}), "
                                 f"got {tuple(v2.shape)}")
            vb = list(self.split(v2))
        Js = self._jacobians_from_v(vb)
        if single:
            Js = [a[0] for a in Js]
        return tuple(Js)

    def _jacobians_from_v(self, vb):
        """J_i blocks from per-layer pre-activations (batched, no validation)."""
        L = self.depth
        D = [self.phi(i).df(vb[i - 1]) for i in range(1, L + 1)]
        Js = [None] * L
        Js[L - 1] = torch.diag_embed(D[L - 1])
        for i in range(L - 1, 0, -1):
            Js[i - 1] = torch.matmul(Js[i], self.weights[i]) * D[i - 1][:, None, :]
        return Js

    def jacobian_product(self, x, M, v=None):
        """J @ M (B, n_L, k) for M (N, k) (e.g. J Q), without forming J.

        Forward-mode (Horner) recursion over the layers, J M = sum_i J_i M_i:
        T_1 = D_1 M_1, T_i = D_i (W_i T_{i-1} + M_i), J M = T_L, with T_i kept as
        (n_i, B, k) so that each W_i product is one (n_i x n_{i-1}) x (n_{i-1} x B k) GEMM
        (the backward recursion would need skinny (B n_L x n_i) x (n_i x k) products).
        Evaluated at the feedforward state of ``x`` or at the stacked ``v`` (B, N).
        """
        x2, single = self._input(x)
        if v is None:
            vb = list(self.forward(x2).v)
        else:
            v2 = self.tensor(v, "v", ndim=(1, 2))
            v2 = v2[None] if v2.ndim == 1 else v2
            if tuple(v2.shape) != (x2.shape[0], self.n_total):
                raise ValueError(f"v: expected shape ({x2.shape[0]}, {self.n_total}), "
                                 f"got {tuple(v2.shape)}")
            vb = list(self.split(v2))
        M = self.tensor(M, "M", ndim=2)
        if M.shape[0] != self.n_total:
            raise ValueError(f"M: expected {self.n_total} rows, got shape {tuple(M.shape)}")
        out = self._jacobian_product_from_v(vb, M)
        return out[0] if single else out

    def _jacobian_product_from_v(self, vb, M):
        """J M from per-layer pre-activations (batched, no validation)."""
        B, k = vb[0].shape[0], M.shape[1]
        Ms = torch.split(M, self.sizes[1:], dim=0)
        T = None
        for i in range(1, self.depth + 1):
            D = self.phi(i).df(vb[i - 1]).T[:, :, None]  # (n_i, B, 1)
            if T is None:
                T = D * Ms[0][:, None, :]
            else:
                n_prev = T.shape[0]
                WT = (self.weights[i - 1] @ T.reshape(n_prev, B * k)).reshape(-1, B, k)
                T = D * (WT + Ms[i - 1][:, None, :])
        return T.permute(1, 0, 2)

    def jacobian(self, x, v=None):
        """J = d r_L / d v, shape (B, n_L, N) (or (n_L, N) for a single input)."""
        return torch.cat(self.layer_jacobians(x, v), dim=-1)

    def params_vector(self):
        """theta = [vec(W_1), b_1, ..., vec(W_L), b_L] (row-major vec), as in the NumPy core."""
        return torch.cat([torch.cat([w.reshape(-1), b]) for w, b in
                          zip(self.weights, self.biases)])
