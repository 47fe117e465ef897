"""Nonlinearities phi with their first and second derivatives.

Every activation is an :class:`Activation` with three vectorised callables:
``f(v) = phi(v)``, ``df(v) = phi'(v)`` (the diagonal of D_i in THEORY.md section 1) and
``d2f(v) = phi''(v)`` (needed only for the exact Jacobian of the PI controller's
right-hand side away from equilibrium).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """A scalar nonlinearity applied elementwise.

    Attributes
    ----------
    name : str
    f, df, d2f : callable
        phi, phi' and phi'' (elementwise, NumPy arrays in and out).
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    d2f: Callable[[np.ndarray], np.ndarray]

    def __call__(self, v):
        return self.f(v)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _sigmoid(v):
    # numerically stable logistic function
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def _tanh_d(v):
    t = np.tanh(v)
    return 1.0 - t * t


def _tanh_d2(v):
    t = np.tanh(v)
    return -2.0 * t * (1.0 - t * t)


def _sig_d(v):
    s = _sigmoid(v)
    return s * (1.0 - s)


def _sig_d2(v):
    s = _sigmoid(v)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


ACTIVATIONS = {
    "linear": Activation("linear", lambda v: np.asarray(v, dtype=float) * 1.0,
                         lambda v: np.ones_like(v, dtype=float),
                         lambda v: np.zeros_like(v, dtype=float)),
    "tanh": Activation("tanh", np.tanh, _tanh_d, _tanh_d2),
    "relu": Activation("relu", lambda v: np.maximum(v, 0.0),
                       lambda v: (np.asarray(v) > 0).astype(float),
                       lambda v: np.zeros_like(v, dtype=float)),
    "leaky_relu": Activation("leaky_relu", lambda v: np.where(v > 0, v, LEAKY_SLOPE * v),
                             lambda v: np.where(np.asarray(v) > 0, 1.0, LEAKY_SLOPE),
                             lambda v: np.zeros_like(v, dtype=float)),
    "sigmoid": Activation("sigmoid", _sigmoid, _sig_d, _sig_d2),
    # softplus(v) = log(1 + e^v), softplus' = sigmoid, softplus'' = sigmoid'
    "softplus": Activation("softplus", lambda v: np.logaddexp(0.0, v), _sigmoid, _sig_d),
}


def get_activation(name, argname="activation") -> Activation:
    """Return the :class:`Activation` called ``name`` (or ``name`` itself if it is one).

    ``argname`` is the argument named in the error message (e.g. "output_activation").

    Raises
    ------
    ValueError
        If ``name`` is not one of ``ACTIVATIONS``.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"{argname}: unknown name {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
