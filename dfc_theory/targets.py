"""Output targets r_L* = r_L^- - lambda dLoss/dr_L (THEORY.md section 1), with explicit scaling.

The reference code differentiates the batch-MEAN loss, so its delta_L carries a factor
1/B (and 1/n_L for a mean-reduced MSE).  Here the scaling is an explicit ``reduction``:

* ``"sum"``: Loss_b = ||y_b - r_b||^2 per sample (the paper's derivations): for MSE
  r_L* = (1 - 2 lambda) r_L^- + 2 lambda y.
* ``"batch_mean"``: the per-sample loss averaged over the batch (factor 1/B).
* ``"mean"``: the element-wise mean over batch and outputs (factor 1/(B n_L) for MSE,
  PyTorch's default ``MSELoss``; equals ``"batch_mean"`` for cross-entropy).
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_choice, check_scalar

__all__ = ["loss_gradient", "output_target", "loss_value"]

LOSSES = ("mse", "cross_entropy")
REDUCTIONS = ("sum", "batch_mean", "mean")


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(axis=-1, keepdims=True)


def _prepare(r_L, y, loss):
    r = as_float_array(r_L, "r_L", ndim=(1, 2))
    single = r.ndim == 1
    r2 = r[None] if single else r
    check_choice(loss, "loss", LOSSES)
    y = np.asarray(y)
    if loss == "cross_entropy" and y.ndim == r.ndim - 1:
        labels = y.reshape(-1).astype(int)
        if labels.shape[0] != r2.shape[0] or labels.min() < 0 or labels.max() >= r2.shape[1]:
            raise ValueError(f"y: expected {r2.shape[0]} class labels in [0, {r2.shape[1]}), "
                             f"got {y!r}")
        y2 = np.eye(r2.shape[1])[labels]
    else:
        y2 = as_float_array(y, "y", shape=r.shape)
        y2 = y2[None] if single else y2
    return r2, y2, single


def _scale(reduction, B, n):
    check_choice(reduction, "reduction", REDUCTIONS)
    return {"sum": 1.0, "batch_mean": 1.0 / B, "mean": 1.0 / (B * n)}[reduction]


def loss_value(r_L, y, loss="mse", reduction="sum"):
    """Loss of outputs ``r_L`` (B, n_L) against ``y``; per sample for ``reduction="sum"``
    (shape (B,)), otherwise the scalar batch loss."""
    r, y2, single = _prepare(r_L, y, loss)
    if loss == "mse":
        per = np.sum((y2 - r) ** 2, axis=-1)
    else:
        z = r - r.max(axis=-1, keepdims=True)
        per = -np.sum(y2 * (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))), axis=-1)
    if reduction == "sum":
        return per[0] if single else per
    s = _scale(reduction, r.shape[0], r.shape[1] if loss == "mse" else 1)
    return float(np.sum(per) * s)


def loss_gradient(r_L, y, loss="mse", reduction="sum"):
    """dLoss/dr_L of shape (B, n_L).

    MSE: d||y - r||^2/dr = -2 (y - r); cross-entropy on logits r: softmax(r) - onehot(y)
    (``y`` may be integer labels of shape (B,) or one-hot/probabilities of shape (B, n_L)).
    Times 1, 1/B or 1/(B n_L) according to ``reduction``.
    """
    r, y2, single = _prepare(r_L, y, loss)
    if loss == "mse":
        g = -2.0 * (y2 - r) * _scale(reduction, *r.shape)
    else:
        g = (_softmax(r) - y2) * _scale(reduction, r.shape[0], 1)
    return g[0] if single else g


def output_target(r_L, y, lam, loss="mse", reduction="sum"):
    """r_L* = r_L^- - lambda dLoss/dr_L (evaluated at the feedforward output r_L^-).

    Parameters
    ----------
    r_L : array (B, n_L) or (n_L,)
        Feedforward output r_L^-.
    y : array
        Regression targets (B, n_L) or class labels (B,) for cross-entropy.
    lam : float > 0
        Target stepsize lambda.
    loss : {"mse", "cross_entropy"}
    reduction : {"sum", "batch_mean", "mean"}
        Loss scaling (see module docstring).

    Returns
    -------
    r_star : array, same shape as ``r_L``.  delta_L = r_star - r_L.
    """
    lam = check_scalar(lam, "lam", low=0.0)
    return np.asarray(r_L, dtype=np.float64) - lam * loss_gradient(r_L, y, loss, reduction)
