"""Nonlinearities phi with their first and second derivatives, for every array backend.

Every activation is an :class:`Activation`: ``f(v) = phi(v)``, ``df(v) = phi'(v)`` (the
diagonal of D_i, THEORY.md section 1) and ``d2f(v) = phi''(v)`` (for the PI right-hand
side's Jacobian away from rest), written once against the array API and bound to a
namespace by :meth:`Activation.on` (``f``, ``df``, ``d2f`` are the NumPy versions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ._backend import NUMPY

__all__ = ["Activation", "get_activation", "ACTIVATIONS", "LEAKY_SLOPE"]

#: negative-side slope of ``"leaky_relu"``
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Bound:
    """An activation bound to one array namespace: ``f``, ``df``, ``d2f`` and its ``name``."""

    name: str
    f: Callable
    df: Callable
    d2f: Callable

    def __call__(self, v):
        return self.f(v)


@dataclass(frozen=True)
class Activation:
    """A scalar nonlinearity applied elementwise.

    Attributes
    ----------
    name : str
    make : callable
        ``make(xp)`` returns the triple (phi, phi', phi'') written with namespace ``xp``.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import get_activation
    >>> tanh = get_activation("tanh")
    >>> v = np.array([-1.0, 0.0, 2.0])
    >>> bool(np.allclose(tanh.df(v), 1 - np.tanh(v) ** 2))
    True
    """

    name: str
    make: Callable = field(repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def on(self, xp) -> Bound:
        """The functions bound to namespace ``xp`` (cached)."""
        if xp not in self._cache:
            self._cache[xp] = Bound(self.name, *self.make(xp))
        return self._cache[xp]

    f = property(lambda self: self.on(NUMPY).f, doc="phi for NumPy arrays")
    df = property(lambda self: self.on(NUMPY).df, doc="phi' for NumPy arrays")
    d2f = property(lambda self: self.on(NUMPY).d2f, doc="phi'' for NumPy arrays")

    def __call__(self, v):
        return self.f(v)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _linear(xp):
    return (lambda v: v * 1.0), xp.ones_like, xp.zeros_like


def _tanh(xp):
    def df(v):
        t = xp.tanh(v)
        return 1.0 - t * t
    return xp.tanh, df, lambda v: -2.0 * xp.tanh(v) * df(v)  # tanh'' = -2 tanh tanh'


def _sigmoid_parts(xp):
    def sig(v):  # numerically stable logistic function
        return 0.5 * (1.0 + xp.tanh(0.5 * v))

    def dsig(v):
        s = sig(v)
        return s * (1.0 - s)
    return sig, dsig, lambda v: dsig(v) * (1.0 - 2.0 * sig(v))  # sig'' = sig' (1 - 2 sig)


def _relu(xp):
    return (lambda v: xp.maximum(v, xp.zeros_like(v)),
            lambda v: xp.astype(v > 0, v.dtype), xp.zeros_like)


def _leaky_relu(xp):
    return (lambda v: xp.where(v > 0, v, LEAKY_SLOPE * v),
            lambda v: xp.where(v > 0, xp.ones_like(v), xp.full_like(v, LEAKY_SLOPE)),
            xp.zeros_like)


def _softplus(xp):
    # softplus(v) = log(1 + e^v), softplus' = sigmoid, softplus'' = sigmoid'
    sig, dsig, _ = _sigmoid_parts(xp)
    return (lambda v: xp.logaddexp(xp.zeros_like(v), v)), sig, dsig


ACTIVATIONS = {name: Activation(name, make) for name, make in (
    ("linear", _linear), ("tanh", _tanh), ("relu", _relu), ("leaky_relu", _leaky_relu),
    ("sigmoid", _sigmoid_parts), ("softplus", _softplus))}


def get_activation(name, argname="activation") -> Activation:
    """Return the :class:`Activation` called ``name`` (or ``name`` itself if it is one).

    Parameters
    ----------
    name : str or Activation
        One of ``ACTIVATIONS``: linear, tanh, relu, leaky_relu, sigmoid, softplus.
    argname : str
        The argument named in the error message (e.g. "output_activation").

    Returns
    -------
    Activation
        The registered activation (``name`` itself when it already is one).

    Raises
    ------
    ValueError
        If ``name`` is not one of ``ACTIVATIONS``.

    Examples
    --------
    >>> from dfc_theory import get_activation
    >>> get_activation("softplus")
    Activation('softplus')
    """
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS[name]
    raise ValueError(f"{argname}: unknown name {name!r}; expected one of {sorted(ACTIVATIONS)}")
