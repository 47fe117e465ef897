"""Output targets r_L* = r_L^- - lambda dLoss/dr_L on tensors, mirroring
:mod:`dfc_theory.targets` with the same explicit ``reduction`` ("sum" | "batch_mean" |
"mean"; see there)."""
from __future__ import annotations

import torch

from .._validation import check_choice, check_scalar
from ..targets import LOSSES, REDUCTIONS

__all__ = ["loss_gradient", "loss_value", "output_target", "LOSSES", "REDUCTIONS"]


def _prepare(r_L, y, loss):
    check_choice(loss, "loss", LOSSES)
    if not isinstance(r_L, torch.Tensor) or not r_L.is_floating_point():
        raise TypeError(f"r_L: expected a floating tensor, got {type(r_L).__name__}")
    single = r_L.ndim == 1
    r = r_L[None] if single else r_L
    if r.ndim != 2:
        raise ValueError(f"r_L: expected shape (B, n_L) or (n_L,), got {tuple(r_L.shape)}")
    y = torch.as_tensor(y, device=r.device)
    if loss == "cross_entropy" and y.ndim == r_L.ndim - 1:
        labels = y.reshape(-1).long()
        if labels.shape[0] != r.shape[0] or (labels.numel() and (
                int(labels.min()) < 0 or int(labels.max()) >= r.shape[1])):
            raise ValueError(f"y: expected {r.shape[0]} class labels in [0, {r.shape[1]})")
        y2 = torch.nn.functional.one_hot(labels, r.shape[1]).to(r.dtype)
    else:
        y2 = y.to(r.dtype)
        if tuple(y2.shape) != tuple(r_L.shape):
            raise ValueError(f"y: expected shape {tuple(r_L.shape)}, got {tuple(y2.shape)}")
        y2 = y2[None] if single else y2
    return r, y2, single


def _scale(reduction, B, n):
    check_choice(reduction, "reduction", REDUCTIONS)
    return {"sum": 1.0, "batch_mean": 1.0 / B, "mean": 1.0 / (B * n)}[reduction]


def loss_value(r_L, y, loss="mse", reduction="sum"):
    """Per-sample loss (B,) for ``reduction="sum"``, else the scalar batch loss (a 0-d
    tensor that autograd can differentiate)."""
    r, y2, single = _prepare(r_L, y, loss)
    if loss == "mse":
        per = ((y2 - r) ** 2).sum(dim=-1)
    else:
        per = -(y2 * torch.log_softmax(r, dim=-1)).sum(dim=-1)
    if reduction == "sum":
        return per[0] if single else per
    return per.sum() * _scale(reduction, r.shape[0], r.shape[1] if loss == "mse" else 1)


def loss_gradient(r_L, y, loss="mse", reduction="sum"):
    """dLoss/dr_L (B, n_L): MSE -2 (y - r); cross-entropy softmax(r) - onehot(y); times 1,
    1/B or 1/(B n_L) by ``reduction``."""
    r, y2, single = _prepare(r_L, y, loss)
    if loss == "mse":
        g = -2.0 * (y2 - r) * _scale(reduction, *r.shape)
    else:
        g = (torch.softmax(r, dim=-1) - y2) * _scale(reduction, r.shape[0], 1)
    return g[0] if single else g


def output_target(r_L, y, lam, loss="mse", reduction="sum"):
    """r_L* = r_L^- - lambda dLoss/dr_L at the feedforward output r_L^-."""
    lam = check_scalar(lam, "lam", low=0.0)
    return r_L - lam * loss_gradient(r_L, y, loss, reduction)
