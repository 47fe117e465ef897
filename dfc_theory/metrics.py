"""Metrics of the paper's figures (THEORY.md section 7)."""
from __future__ import annotations

import numpy as np

from ._validation import check_choice
from .network import Network
from .updates import Update

__all__ = ["angle", "layer_angles", "condition1_deviation", "condition2_ratio",
           "layer_norms"]


def _flat(a, with_bias=True):
    if isinstance(a, Update):
        return a.vector(with_bias)
    return np.asarray(a, dtype=np.float64).ravel()


def angle(a, b, with_bias=True):
    """angle(A, B) = degrees(arccos(<A, B>_F / (||A||_F ||B||_F))), cosine clipped to [-1, 1].

    ``a``, ``b``: arrays of equal size or :class:`Update` objects (concatenated over layers).
    Returns nan when either has zero norm.
    """
    x, y = _flat(a, with_bias), _flat(b, with_bias)
    if x.shape != y.shape:
        raise ValueError(f"b: expected {x.size} entries to match a, got {y.size}")
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(x @ y / (nx * ny), -1.0, 1.0))))


def layer_angles(a: Update, b: Update, with_bias=True):
    """Angles per layer i = 1..L between two updates."""
    if a.depth != b.depth:
        raise ValueError(f"b: expected {a.depth} layers, got {b.depth}")
    wb = with_bias and a.db is not None and b.db is not None
    return np.array([angle(a.layer(i, wb), b.layer(i, wb)) for i in range(1, a.depth + 1)])


def layer_norms(network: Network, x):
    """||r_i|| for i = 0..L-1 (output excluded), shape (B, L)."""
    fp = network.forward(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    return np.stack([np.linalg.norm(r, axis=1) for r in fp.r[:-1]], axis=1)


def condition1_deviation(network: Network, x, metric="std"):
    """Condition 1 (equal layer norms ||r_0|| = ... = ||r_{L-1}||), per sample (B,).

    ``metric="std"``: std_i(||r_i||) / mean_i(||r_i||) (THEORY.md's definition, population std);
    ``metric="reference"``: the reference code's sqrt(mean_i((||r_i|| - m)^2) / m) with m the
    mean norm -- not scale-free, kept to reproduce the paper's Fig 3C.
    """
    check_choice(metric, "metric", ("std", "reference"))
    n = layer_norms(network, x)
    m = n.mean(axis=1)
    if metric == "std":
        return n.std(axis=1) / m
    return np.sqrt(np.mean((n - m[:, None]) ** 2, axis=1) / m)


def condition2_ratio(J, Q):
    """Condition 2 measure ||P_J Q||_F / ||Q||_F with P_J = J^T (J J^T)^{-1} J the projector on
    the row space of J (1 iff col(Q) lies in row(J)).  J (n_L, N) or (B, n_L, N); Q (N, n_L)
    or (B, N, n_L).  Uses the pseudoinverse so rank-deficient J is handled."""
    J = np.asarray(J, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if J.shape[-1] != Q.shape[-2] or J.shape[-2] != Q.shape[-1]:
        raise ValueError(f"Q: expected shape (..., {J.shape[-1]}, {J.shape[-2]}) to match J "
                         f"{J.shape}, got {Q.shape}")
    PQ = np.linalg.pinv(J) @ (J @ Q)
    return np.linalg.norm(PQ, axis=(-2, -1)) / np.linalg.norm(Q, axis=(-2, -1))
