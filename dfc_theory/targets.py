"""Output targets r_L* = r_L^- - lambda dLoss/dr_L (THEORY.md section 1), with explicit scaling.

The loss scaling is an explicit ``reduction``: ``"sum"``, Loss_b = ||y_b - r_b||^2 per
sample (the paper's derivations; MSE: r_L* = (1 - 2 lambda) r_L^- + 2 lambda y);
``"batch_mean"``, averaged over the batch (factor 1/B, the reference code's); ``"mean"``,
over batch and outputs (1/(B n_L) for MSE, PyTorch's ``MSELoss``).  Outputs may be NumPy
arrays or torch tensors (the result follows them; a torch loss stays differentiable); class
labels must be integers in [0, n_L).  An empty batch's mean loss is undefined (ValueError).
"""
from __future__ import annotations

import numpy as np

from ._backend import device, namespace
from ._validation import as_array, check_choice, check_scalar, is_tensor

__all__ = ["loss_gradient", "output_target", "loss_value", "LOSSES", "REDUCTIONS"]

LOSSES = ("mse", "cross_entropy")
REDUCTIONS = ("sum", "batch_mean", "mean")


def _prepare(r_L, y, loss, reduction):
    check_choice(loss, "loss", LOSSES)
    check_choice(reduction, "reduction", REDUCTIONS)
    r = as_array(r_L, "r_L", ndim=(1, 2))  # a float tensor is itself (autograd intact)
    xp, single = namespace(r), r.ndim == 1
    r2 = r[None] if single else r
    try:
        labels = loss == "cross_entropy" and np.ndim(y) == r.ndim - 1
    except ValueError:  # a ragged sequence: as_array reports it
        labels = False
    if labels:
        B, n = r2.shape
        # nan and inf fail the integer test below: no separate scan of a tensor
        lab = as_array(y, "y", allow_nonfinite=True, **({"device": r.device}
                                                        if is_tensor(r) else {}))
        lab = xp.reshape(lab, (-1,))
        if lab.shape[0] != B or bool(xp.any((lab != xp.round(lab)) | (lab < 0) | (lab >= n))):
            raise ValueError(f"y: expected {B} integer class labels in [0, {n}), got "
                             f"{lab.shape[0]} labels: {lab[:6].tolist()}"
                             f"{' ...' * (lab.shape[0] > 6)}")
        y2 = xp.astype(xp.astype(lab, xp.int64)[:, None] == xp.arange(n, device=device(r)),
                       r.dtype)
    else:
        y2 = as_array(y, "y", like=r, shape=tuple(r.shape), strict=True)
        y2 = y2[None] if single else y2
    return xp, r2, y2, single


def _scale(reduction, B, n):
    """1, 1/B or 1/(B n); an empty batch has no entries to scale (any factor gives [])."""
    return {"sum": 1.0, "batch_mean": 1.0 / max(B, 1), "mean": 1.0 / max(B * n, 1)}[reduction]


def loss_value(r_L, y, loss="mse", reduction="sum"):
    """Loss of outputs ``r_L`` (B, n_L) against ``y``.

    MSE: ||y - r_L||^2 per sample; cross-entropy on logits r_L: -sum y log softmax(r_L).

    Parameters
    ----------
    r_L : array (B, n_L) or (n_L,)
        Outputs (logits for cross-entropy).
    y : array (B, n_L), or class labels (B,) for cross-entropy
        Regression targets; for cross-entropy also one-hot rows or probabilities.
    loss : {"mse", "cross_entropy"}
    reduction : {"sum", "batch_mean", "mean"}
        Loss scaling (see module docstring).

    Returns
    -------
    Per-sample losses (B,) for ``reduction="sum"``; otherwise the batch loss (a float for
    NumPy, a 0-d tensor for torch).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import loss_value
    >>> loss_value(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]), reduction="mean")
    2.5
    """
    xp, r, y2, single = _prepare(r_L, y, loss, reduction)
    if reduction != "sum" and r.shape[0] == 0:
        raise ValueError(f"r_L: empty batch (B = 0); the {reduction} loss is undefined")
    if loss == "mse":
        per = xp.sum((y2 - r) ** 2, axis=-1)
    else:
        z = r - xp.max(r, axis=-1, keepdims=True)
        per = -xp.sum(y2 * (z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))), axis=-1)
    if reduction == "sum":
        return per[0] if single else per
    total = xp.sum(per) * _scale(reduction, r.shape[0], r.shape[1] if loss == "mse" else 1)
    return total if is_tensor(total) else float(total)


def loss_gradient(r_L, y, loss="mse", reduction="sum"):
    """dLoss/dr_L of shape (B, n_L).

    MSE: d||y - r||^2/dr = -2 (y - r); cross-entropy on logits r: softmax(r) - onehot(y)
    (``y`` may be integer labels of shape (B,) or one-hot/probabilities of shape (B, n_L)).
    Times 1, 1/B or 1/(B n_L) according to ``reduction``.

    Parameters
    ----------
    r_L : array (B, n_L) or (n_L,)
        Outputs (logits for cross-entropy).
    y : array (B, n_L), or class labels (B,) for cross-entropy
        Regression targets; for cross-entropy also one-hot rows or probabilities.
    loss : {"mse", "cross_entropy"}
    reduction : {"sum", "batch_mean", "mean"}
        Loss scaling (see module docstring).

    Returns
    -------
    array, same shape as ``r_L``
        dLoss/dr_L (so that delta_L = -lambda dLoss/dr_L).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import loss_gradient
    >>> loss_gradient(np.zeros((1, 3)), np.array([2]), "cross_entropy")   # softmax - onehot
    array([[ 0.33333333,  0.33333333, -0.66666667]])
    """
    xp, r, y2, single = _prepare(r_L, y, loss, reduction)
    if loss == "mse":
        g = -2.0 * (y2 - r) * _scale(reduction, *r.shape)
    else:
        ez = xp.exp(r - xp.max(r, axis=-1, keepdims=True))
        g = (ez / xp.sum(ez, axis=-1, keepdims=True) - y2) * _scale(reduction, r.shape[0], 1)
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

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import output_target
    >>> output_target(np.array([1.0, 0.0]), np.array([0.0, 0.0]), lam=0.25)  # (1 - 2 lam) r
    array([0.5, 0. ])
    """
    lam = check_scalar(lam, "lam", low=0.0)
    g = loss_gradient(r_L, y, loss, reduction)
    return as_array(r_L, "r_L") - lam * g
