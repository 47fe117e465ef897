"""Constructions of the feedback weights Q = [Q_1; ...; Q_L] (N x n_L), THEORY.md sections 4 and 6.

Functions that depend on J take one input ``x`` of shape (n_0,) and return Q of shape
(N, n_L); given a batch (B, n_0) they return one Q per sample, (B, N, n_L).
"""
from __future__ import annotations

import numpy as np

from ._validation import check_scalar
from .network import Network

__all__ = ["weight_product", "jacobian_transpose", "pseudoinverse", "damped_pseudoinverse",
           "random_condition2", "random_gaussian"]


def _check_net(network):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")


def weight_product(network):
    """Q_i = W_{i+1}^T W_{i+2}^T ... W_L^T with Q_L = I (the "(fixed)" feedback of the paper).

    Equals J^T of a linear network.
    """
    _check_net(network)
    L = network.depth
    blocks = [None] * L
    blocks[L - 1] = np.eye(network.n_out)
    for i in range(L - 1, 0, -1):
        blocks[i - 1] = network.weights[i].T @ blocks[i]
    return np.concatenate(blocks, axis=0)


def jacobian_transpose(network, x):
    """Q = J^T at the feedforward state of x."""
    _check_net(network)
    return np.swapaxes(network.jacobian(x), -1, -2).copy()


def damped_pseudoinverse(network, x, gamma):
    """Q = J^T (J J^T + gamma I)^{-1}, the damped pseudoinverse (gamma >= 0; gamma = 0 is J^+
    when J has full row rank)."""
    _check_net(network)
    gamma = check_scalar(gamma, "gamma", low=0.0)
    J = network.jacobian(x)
    G = J @ np.swapaxes(J, -1, -2) + gamma * np.eye(J.shape[-2])
    # Q = J^T G^{-1}  <=>  Q^T = G^{-1} J  (G symmetric)
    return np.swapaxes(np.linalg.solve(G, J), -1, -2)


def pseudoinverse(network, x):
    """Q = J^+, the Moore-Penrose pseudoinverse of J (any rank)."""
    _check_net(network)
    return np.linalg.pinv(network.jacobian(x))


def random_condition2(network, x, seed=None, require_stable=True, max_tries=1000):
    """Q = J^T M with M ~ N(0, 1) of shape n_L x n_L: satisfies Condition 2.

    With ``require_stable`` M is redrawn until every eigenvalue of J Q has a non-negative
    real part (so Condition 3 holds for every alpha > 0), as in the paper's Fig 2.
    Only single inputs x of shape (n_0,).
    """
    _check_net(network)
    if np.ndim(x) != 1:
        raise ValueError(f"x: random_condition2 takes a single input of shape "
                         f"({network.n_in},), got {np.shape(x)}")
    rng = np.random.default_rng(seed)
    J = network.jacobian(x)
    n = network.n_out
    for _ in range(max_tries):
        M = rng.standard_normal((n, n))
        Q = J.T @ M
        if not require_stable or np.all(np.linalg.eigvals(J @ Q).real >= 0):
            return Q
    raise RuntimeError(f"random_condition2: no stable M found in {max_tries} draws")


def random_gaussian(network, seed=None, scale=1.0):
    """Q with i.i.d. N(0, scale^2 / n_L) entries (generally violates Condition 2)."""
    _check_net(network)
    scale = check_scalar(scale, "scale", low=0.0)
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale / np.sqrt(network.n_out), size=(network.n_total, network.n_out))
