"""Nonlinearities phi with phi' and phi'' on tensors: the same names and the same formulas
as :mod:`dfc_theory.activations` (so float64 results agree to rounding)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..activations import ACTIVATIONS as _NUMPY_ACTIVATIONS
from ..activations import LEAKY_SLOPE

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """A scalar nonlinearity applied elementwise to tensors: ``f`` = phi, ``df`` = phi',
    ``d2f`` = phi''."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    df: Callable[[torch.Tensor], torch.Tensor]
    d2f: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, v):
        return self.f(v)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _sigmoid(v):
    return 0.5 * (1.0 + torch.tanh(0.5 * v))


def _sig_d(v):
    s = _sigmoid(v)
    return s * (1.0 - s)


def _sig_d2(v):
    s = _sigmoid(v)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _tanh_d(v):
    t = torch.tanh(v)
    return 1.0 - t * t


def _tanh_d2(v):
    t = torch.tanh(v)
    return -2.0 * t * (1.0 - t * t)


ACTIVATIONS = {
    "linear": Activation("linear", lambda v: v, torch.ones_like, torch.zeros_like),
    "tanh": Activation("tanh", torch.tanh, _tanh_d, _tanh_d2),
    "relu": Activation("relu", torch.relu, lambda v: (v > 0).to(v.dtype), torch.zeros_like),
    "leaky_relu": Activation("leaky_relu",
                             lambda v: torch.where(v > 0, v, LEAKY_SLOPE * v),
                             lambda v: torch.where(v > 0, torch.ones_like(v),
                                                   torch.full_like(v, LEAKY_SLOPE)),
                             torch.zeros_like),
    "sigmoid": Activation("sigmoid", _sigmoid, _sig_d, _sig_d2),
    "softplus": Activation("softplus", lambda v: torch.logaddexp(torch.zeros_like(v), v),
                           _sigmoid, _sig_d),
}
assert set(ACTIVATIONS) == set(_NUMPY_ACTIVATIONS), "torch and NumPy activations diverged"


def get_activation(name) -> Activation:
    """The torch :class:`Activation` called ``name`` (also accepts a NumPy-core
    :class:`dfc_theory.activations.Activation` or a torch one)."""
    if isinstance(name, Activation):
        return name
    key = getattr(name, "name", name)
    try:
        return ACTIVATIONS[key]
    except (KeyError, TypeError):
        raise ValueError(f"activation: unknown name {name!r}; expected one of "
                         f"{sorted(ACTIVATIONS)}") from None
