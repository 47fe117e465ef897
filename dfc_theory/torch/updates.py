"""A parameter update on tensors, mirroring :class:`dfc_theory.Update` (sign convention:
the change to apply; a gradient-descent step is ``-grad``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import updates as _np_updates
from ._common import to_numpy

__all__ = ["Update"]


@dataclass(frozen=True)
class Update:
    """Per-layer weight changes ``dW`` (tuple of (n_i, n_{i-1}) tensors) and bias changes
    ``db`` (tuple of (n_i,) tensors, or None)."""

    dW: tuple
    db: tuple = None

    def __post_init__(self):
        object.__setattr__(self, "dW", tuple(self.dW))
        if self.db is not None:
            if len(self.db) != len(self.dW):
                raise ValueError(f"db: expected {len(self.dW)} vectors, got {len(self.db)}")
            object.__setattr__(self, "db", tuple(self.db))

    @property
    def depth(self):
        return len(self.dW)

    def layer(self, i, with_bias=True):
        """Layer i (1-based) as one flat tensor [vec(Delta W_i), Delta b_i]."""
        parts = [self.dW[i - 1].reshape(-1)]
        if with_bias and self.db is not None:
            parts.append(self.db[i - 1])
        return torch.cat(parts)

    def vector(self, with_bias=True):
        """[vec(Delta W_1), Delta b_1, ..., vec(Delta W_L), Delta b_L]."""
        return torch.cat([self.layer(i, with_bias) for i in range(1, self.depth + 1)])

    def scaled(self, factors):
        """Per-layer scaling Delta W_i -> factors[i-1] Delta W_i (and Delta b_i)."""
        f = [float(c) for c in factors]
        if len(f) != self.depth:
            raise ValueError(f"factors: expected {self.depth} numbers, got {len(f)}")
        return Update(tuple(c * w for c, w in zip(f, self.dW)),
                      None if self.db is None else tuple(c * b for c, b in zip(f, self.db)))

    def __mul__(self, c):
        return self.scaled([float(c)] * self.depth)

    __rmul__ = __mul__

    def __add__(self, other):
        db = None
        if self.db is not None and other.db is not None:
            db = tuple(a + b for a, b in zip(self.db, other.db))
        return Update(tuple(a + b for a, b in zip(self.dW, other.dW)), db)

    def norm(self, with_bias=True):
        return float(torch.linalg.vector_norm(self.vector(with_bias)))

    def to_numpy(self):
        """The :class:`dfc_theory.Update` with the same numbers (float64)."""
        return _np_updates.Update(to_numpy(self.dW),
                                  None if self.db is None else to_numpy(self.db))
