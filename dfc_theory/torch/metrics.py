"""Metrics of THEORY.md section 7 on tensors (angles, Condition 1/2/3 measures)."""
from __future__ import annotations

import math

import torch

from .network import Network
from .updates import Update

__all__ = ["angle", "layer_angles", "condition1_deviation", "condition2_ratio",
           "layer_norms", "spectral_abscissa", "descent_inner_products"]


def _flat(a, with_bias=True):
    if isinstance(a, Update):
        return a.vector(with_bias)
    if hasattr(a, "vector") and hasattr(a, "dW"):  # a NumPy-core Update
        return torch.as_tensor(a.vector(with_bias))
    return torch.as_tensor(a).reshape(-1)


def angle(a, b, with_bias=True):
    """degrees(arccos(<A, B>_F / (||A||_F ||B||_F))), cosine clipped to [-1, 1]; nan when a
    norm is zero.  ``a``, ``b``: tensors of equal size or :class:`Update` objects.  The inner
    product is taken in float64 whatever the inputs' dtype."""
    x = _flat(a, with_bias).to(torch.float64)
    y = _flat(b, with_bias).to(device=x.device, dtype=torch.float64)
    if x.shape != y.shape:
        raise ValueError(f"b: expected {x.numel()} entries to match a, got {y.numel()}")
    nx, ny = torch.linalg.vector_norm(x), torch.linalg.vector_norm(y)
    if float(nx) == 0.0 or float(ny) == 0.0:
        return float("nan")
    c = float(torch.clamp(torch.dot(x, y) / (nx * ny), -1.0, 1.0))
    return math.degrees(math.acos(c))


def layer_angles(a: Update, b: Update, with_bias=True):
    """Angles per layer i = 1..L (list of floats)."""
    if a.depth != b.depth:
        raise ValueError(f"b: expected {a.depth} layers, got {b.depth}")
    wb = with_bias and a.db is not None and b.db is not None
    return [angle(a.layer(i, wb), b.layer(i, wb)) for i in range(1, a.depth + 1)]


def layer_norms(network: Network, x):
    """||r_i|| for i = 0..L-1, shape (B, L)."""
    fp = network.forward(network.tensor(x, "x", ndim=2))
    return torch.stack([torch.linalg.vector_norm(r, dim=1) for r in fp.r[:-1]], dim=1)


def condition1_deviation(network: Network, x, metric="std"):
    """Condition 1 measure per sample (B,): ``"std"`` = std_i ||r_i|| / mean_i ||r_i||
    (population std); ``"reference"`` = the reference code's sqrt(mean_i((||r_i|| - m)^2) / m)."""
    if metric not in ("std", "reference"):
        raise ValueError(f"metric: expected 'std' or 'reference', got {metric!r}")
    n = layer_norms(network, x)
    m = n.mean(dim=1)
    if metric == "std":
        return n.std(dim=1, correction=0) / m
    return torch.sqrt(((n - m[:, None]) ** 2).mean(dim=1) / m)


def condition2_ratio(J, Q):
    """||P_J Q||_F / ||Q||_F with P_J = J^+ J the projector on the row space of J; J (B, n_L, N)
    or (n_L, N), Q (N, n_L) or (B, N, n_L).  1 iff col(Q) lies in row(J).

    Computed in float64 as ||L^{-1} J Q||_F with J J^T = L L^T (Cholesky; a third of the
    cost of the pseudoinverse, which matters for the 784-output autoencoder), falling back
    to J^+ (J Q) for the samples whose J J^T is singular (rank-deficient J), as the NumPy
    core does everywhere.
    """
    if J.shape[-1] != Q.shape[-2] or J.shape[-2] != Q.shape[-1]:
        raise ValueError(f"Q: expected shape (..., {J.shape[-1]}, {J.shape[-2]}) to match J "
                         f"{tuple(J.shape)}, got {tuple(Q.shape)}")
    Jd, Qd = J.to(torch.float64), Q.to(device=J.device, dtype=torch.float64)
    JQ = Jd @ Qd
    L, info = torch.linalg.cholesky_ex(Jd @ Jd.transpose(-1, -2))
    num = torch.linalg.matrix_norm(torch.linalg.solve_triangular(L, JQ, upper=False))
    bad = info != 0
    if bool(bad.any()):
        if num.ndim == 0:
            num = torch.linalg.matrix_norm(torch.linalg.pinv(Jd) @ JQ)
        else:
            idx = bad.nonzero().flatten()
            Jb = Jd[idx]
            JQb = JQ[idx]
            num = num.clone()
            num[idx] = torch.linalg.matrix_norm(torch.linalg.pinv(Jb) @ JQb)
    return num / torch.linalg.matrix_norm(Qd)


def spectral_abscissa(A):
    """max Re eig(A) per matrix: A (..., M, M) -> (...).  Negative means Hurwitz (stable)."""
    return torch.linalg.eigvals(A).real.amax(dim=-1)


def descent_inner_products(J, delta_v, delta_L):
    """Proposition 4's per-sample inner product delta_L^T J Delta v (B,).

    With per-layer rates eta_i = eta / ||r_{i-1}||^2 the weight update Delta W_i =
    eta_i Delta v_i r_{i-1}^T has inner product (eta / lambda) delta_L^T J Delta v with
    -grad_W Loss (delta_L = -lambda dLoss/dr_L), so a positive value means a descent
    direction for that sample (THEORY.md section 4)."""
    return torch.einsum("bk,bkn,bn->b", delta_L, J, delta_v)
