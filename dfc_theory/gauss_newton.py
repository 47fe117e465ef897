"""Reference updates that DFC is compared with (THEORY.md sections 4 and 7).

All take the feedforward network, inputs x (B, n_0) and output errors delta_L (B, n_L)
(delta_L = r_L* - r_L^- = -lambda dLoss/dr_L), and return the batch average
(1/B) sum_b of the per-sample update as an :class:`~dfc_theory.updates.Update`.

J_theta is never materialised: with J_theta = [J_1 (x) r_0^T, I-part J_1, ...],

    J_theta J_theta^T = sum_i (||r_{i-1}||^2 + 1) J_i J_i^T     (the +1 from the bias),
    (J_theta^T c)_{W_i} = (J_i^T c) r_{i-1}^T,  (J_theta^T c)_{b_i} = J_i^T c,

so a Gauss-Newton step costs n_L x n_L solves per sample (THEORY.md section 4, Theorem 2).
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_scalar
from .network import Network
from .updates import Update

__all__ = ["gn_update", "min_norm_update", "weighted_min_norm_update", "bp_update",
           "per_layer_from_signal"]


def _prep(network, x, delta_L):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")
    fp = network.forward(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    d = as_float_array(delta_L, "delta_L", ndim=(1, 2))
    d = np.atleast_2d(d)
    if d.shape != fp.r[-1].shape:
        raise ValueError(f"delta_L: expected shape {fp.r[-1].shape}, got {np.shape(delta_L)}")
    return fp, d


def per_layer_from_signal(a_blocks, r, with_bias=True):
    """Delta W_i = (1/B) sum_b a_i r_{i-1}^T and Delta b_i = (1/B) sum_b a_i, from per-layer
    signals a_i (B, n_i) and presynaptic rates r = (r_0, ..., r_{L-1}) (B, n_{i-1})."""
    B = a_blocks[0].shape[0]
    dW = tuple(a.T @ ri / B for a, ri in zip(a_blocks, r))
    db = tuple(a.mean(axis=0) for a in a_blocks) if with_bias else None
    return Update(dW, db)


def gn_update(network, x, delta_L, gamma=0.0, include_bias=True):
    """Damped Gauss-Newton update on the parameters, minibatch-size-1 curvature per sample:

        Delta theta = (1/B) sum_b J_theta^T (J_theta J_theta^T + gamma I)^{-1} delta_L

    (gamma = 0: the minimum-norm solution J_theta^+ delta_L of Theorem 2 when J_theta has
    full row rank).  ``include_bias`` adds the biases to theta.
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    fp, d = _prep(network, x, delta_L)
    Js = network.layer_jacobians(fp.r[0])
    nL = network.n_out
    G = gamma * np.eye(nL) + sum(
        (np.sum(r * r, axis=1) + (1.0 if include_bias else 0.0))[:, None, None]
        * (Ji @ np.swapaxes(Ji, 1, 2)) for Ji, r in zip(Js, fp.r[:-1]))
    c = np.linalg.solve(G, d[..., None])  # (B, n_L, 1)
    a = [(np.swapaxes(Ji, 1, 2) @ c)[..., 0] for Ji in Js]
    return per_layer_from_signal(a, fp.r[:-1], include_bias)


def min_norm_update(network, x, delta_L, gamma=0.0, rule="voltage", include_bias=True):
    """Damped minimum-norm ("GNT"/"MN") update on the pre-activations, propagated to weights:

        a = J^T (J J^T + gamma I)^{-1} delta_L,   Delta W_i = (1/B) sum_b a_i r_{i-1}^T

    ``rule="nonlinear"`` uses a_i <- phi(v_i^- + a_i) - phi(v_i^-) (THEORY.md section 7).
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    if rule not in ("voltage", "nonlinear"):
        raise ValueError(f"rule: expected 'voltage' or 'nonlinear', got {rule!r}")
    fp, d = _prep(network, x, delta_L)
    J = network.jacobian(fp.r[0])
    G = J @ np.swapaxes(J, 1, 2) + gamma * np.eye(network.n_out)
    a = (np.swapaxes(J, 1, 2) @ np.linalg.solve(G, d[..., None]))[..., 0]
    blocks = network.split(a)
    if rule == "nonlinear":
        blocks = [network.phi(i).f(v + ai) - network.phi(i).f(v)
                  for i, (v, ai) in enumerate(zip(fp.v, blocks), start=1)]
    return per_layer_from_signal(blocks, fp.r[:-1], include_bias)


def weighted_min_norm_update(network, x, delta_L):
    """Theorem 3's solution: min sum_i ||r_{i-1}||^2 ||Delta W_i||_F^2 subject to
    sum_i J_i Delta W_i r_{i-1} = delta_L, i.e. Delta W_i = (J^+ delta_L)_i r_{i-1}^T / ||r_{i-1}||^2
    (weights only; batch-averaged)."""
    fp, d = _prep(network, x, delta_L)
    J = network.jacobian(fp.r[0])
    a = np.einsum("bij,bj->bi", np.linalg.pinv(J), d)
    blocks = [ai / np.maximum(np.sum(r * r, axis=1, keepdims=True), 1e-300)
              for ai, r in zip(network.split(a), fp.r[:-1])]
    return per_layer_from_signal(blocks, fp.r[:-1], with_bias=False)


def bp_update(network, x, delta_L, include_bias=True):
    """Backpropagation of the output error: (1/B) sum_b J_theta^T delta_L.

    With delta_L = -lambda dLoss/dr_L this is -lambda grad_theta Loss (a descent direction).
    Computed by the backward recursion e_L = D_L delta_L, e_i = D_i W_{i+1}^T e_{i+1}.
    """
    fp, d = _prep(network, x, delta_L)
    L = network.depth
    e = [None] * L
    e[L - 1] = network.phi(L).df(fp.v[L - 1]) * d
    for i in range(L - 1, 0, -1):
        e[i - 1] = network.phi(i).df(fp.v[i - 1]) * (e[i] @ network.weights[i])
    return per_layer_from_signal(e, fp.r[:-1], include_bias)
