"""Reference updates on tensors (THEORY.md sections 4 and 7), mirroring
:mod:`dfc_theory.gauss_newton`: the damped Gauss-Newton update with minibatch-size-1
curvature, the damped minimum-norm update, and backpropagation.  Each returns the batch
average (1/B) sum_b of per-sample updates as an :class:`~dfc_theory.torch.Update`.

The ``*_from`` variants take a forward pass and the layer Jacobians that a caller already
has (the training loop computes them once per batch for all metrics).
"""
from __future__ import annotations

import torch

from .._validation import check_scalar
from ._common import solve
from .network import Network
from .updates import Update

__all__ = ["gn_update", "min_norm_update", "bp_update", "per_layer_from_signal",
           "gn_update_from", "min_norm_update_from", "bp_update_from"]


def _prep(network, x, delta_L):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.torch.Network, got "
                        f"{type(network).__name__}")
    x2 = network.tensor(x, "x", ndim=(1, 2))
    x2 = x2[None] if x2.ndim == 1 else x2
    fp = network.forward(x2)
    d = network.tensor(delta_L, "delta_L", ndim=(1, 2))
    d = d[None] if d.ndim == 1 else d
    if d.shape != fp.r[-1].shape:
        raise ValueError(f"delta_L: expected shape {tuple(fp.r[-1].shape)}, got "
                         f"{tuple(d.shape)}")
    return fp, d


def per_layer_from_signal(a_blocks, r, with_bias=True):
    """Delta W_i = (1/B) sum_b a_i r_{i-1}^T, Delta b_i = (1/B) sum_b a_i."""
    B = a_blocks[0].shape[0]
    dW = tuple(a.T @ ri / B for a, ri in zip(a_blocks, r))
    db = tuple(a.mean(dim=0) for a in a_blocks) if with_bias else None
    return Update(dW, db)


def gn_update_from(fp, Js, d, gamma=0.0, include_bias=True):
    """:func:`gn_update` from a forward pass ``fp``, layer Jacobians ``Js`` and delta_L ``d``."""
    nL = d.shape[1]
    eye = torch.eye(nL, dtype=d.dtype, device=d.device)
    G = gamma * eye + sum(
        ((r * r).sum(dim=1) + (1.0 if include_bias else 0.0))[:, None, None]
        * (Ji @ Ji.transpose(1, 2)) for Ji, r in zip(Js, fp.r[:-1]))
    c = solve(G, d[..., None])
    a = [(Ji.transpose(1, 2) @ c)[..., 0] for Ji in Js]
    return per_layer_from_signal(a, fp.r[:-1], include_bias)


def gn_update(network, x, delta_L, gamma=0.0, include_bias=True):
    """Damped Gauss-Newton: (1/B) sum_b J_theta^T (J_theta J_theta^T + gamma I)^{-1} delta_L,
    with J_theta J_theta^T = sum_i (||r_{i-1}||^2 + 1) J_i J_i^T (never materialising
    J_theta)."""
    gamma = check_scalar(gamma, "gamma", low=0.0)
    fp, d = _prep(network, x, delta_L)
    return gn_update_from(fp, network.layer_jacobians(fp.r[0]), d, gamma, include_bias)


def min_norm_update_from(network, fp, J, d, gamma=0.0, rule="voltage", include_bias=True):
    """:func:`min_norm_update` from a forward pass, the stacked J (B, n_L, N) and delta_L."""
    if rule not in ("voltage", "nonlinear"):
        raise ValueError(f"rule: expected 'voltage' or 'nonlinear', got {rule!r}")
    eye = torch.eye(network.n_out, dtype=d.dtype, device=d.device)
    G = J @ J.transpose(1, 2) + gamma * eye
    a = (J.transpose(1, 2) @ solve(G, d[..., None]))[..., 0]
    blocks = network.split(a)
    if rule == "nonlinear":
        blocks = [network.phi(i).f(v + ai) - network.phi(i).f(v)
                  for i, (v, ai) in enumerate(zip(fp.v, blocks), start=1)]
    return per_layer_from_signal(blocks, fp.r[:-1], include_bias)


def min_norm_update(network, x, delta_L, gamma=0.0, rule="voltage", include_bias=True):
    """Damped minimum-norm update: a = J^T (J J^T + gamma I)^{-1} delta_L on the
    pre-activations, Delta W_i = (1/B) sum_b a_i r_{i-1}^T (``rule="nonlinear"``:
    a_i <- phi(v_i^- + a_i) - phi(v_i^-))."""
    gamma = check_scalar(gamma, "gamma", low=0.0)
    fp, d = _prep(network, x, delta_L)
    return min_norm_update_from(network, fp, network.jacobian(fp.r[0]), d, gamma, rule,
                                include_bias)


def bp_update_from(network, fp, d, include_bias=True):
    """:func:`bp_update` from a forward pass and delta_L."""
    L = network.depth
    e = [None] * L
    e[L - 1] = network.phi(L).df(fp.v[L - 1]) * d
    for i in range(L - 1, 0, -1):
        e[i - 1] = network.phi(i).df(fp.v[i - 1]) * (e[i] @ network.weights[i])
    return per_layer_from_signal(e, fp.r[:-1], include_bias)


def bp_update(network, x, delta_L, include_bias=True):
    """Backpropagation of delta_L: (1/B) sum_b J_theta^T delta_L (= -lambda grad Loss for
    delta_L = -lambda dLoss/dr_L), by the recursion e_L = D_L delta_L,
    e_i = D_i W_{i+1}^T e_{i+1}."""
    fp, d = _prep(network, x, delta_L)
    return bp_update_from(network, fp, d, include_bias)
