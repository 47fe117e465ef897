"""A parameter update Delta theta = (Delta W_1, Delta b_1, ..., Delta W_L, Delta b_L)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._backend import namespace, norm, to_numpy
from ._validation import as_array, is_tensor

__all__ = ["Update"]


@dataclass(frozen=True)
class Update:
    """Per-layer weight and bias changes (NumPy float64 arrays or tensors), signed as the
    change to apply (a gradient-descent step is ``-grad``).  Every learning rule and reference
    update returns its batch average as one, so that metrics compare them per layer or whole.

    Attributes
    ----------
    dW : tuple of arrays (n_i, n_{i-1})
    db : tuple of arrays (n_i,), or None when the rule has no bias part.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import Update
    >>> up = Update((np.ones((2, 3)), np.ones((1, 2))), (np.zeros(2), np.zeros(1)))
    >>> up.vector().shape, round((2 * up).norm() ** 2, 12)
    ((11,), 32.0)
    """

    dW: tuple
    db: tuple = None

    def __post_init__(self):
        def conv(a, name):
            return a if is_tensor(a) else as_array(a, name, allow_nonfinite=True)
        object.__setattr__(self, "dW", tuple(conv(w, "dW") for w in self.dW))
        if self.db is not None:
            if len(self.db) != len(self.dW):
                raise ValueError(f"db: expected {len(self.dW)} vectors, got {len(self.db)}")
            object.__setattr__(self, "db", tuple(conv(b, "db") for b in self.db))
        object.__setattr__(self, "_xp", namespace(self.dW[0]))

    @property
    def depth(self):
        """L, the number of layers."""
        return len(self.dW)

    def layer(self, i, with_bias=True):
        """Layer i (1-based) as one flat vector [vec(Delta W_i), Delta b_i]."""
        parts = [self.dW[i - 1].reshape(-1)]
        if with_bias and self.db is not None:
            parts.append(self.db[i - 1])
        return self._xp.concat(parts)

    def vector(self, with_bias=True):
        """theta ordering of :meth:`Network.weight_jacobian`: [vec(W_1), b_1, ..., vec(W_L), b_L]."""
        return self._xp.concat([self.layer(i, with_bias) for i in range(1, self.depth + 1)])

    def scaled(self, factors):
        """Per-layer scaling Delta W_i -> factors[i-1] * Delta W_i (and Delta b_i); one
        number scales every layer."""
        f = as_array(factors, "factors", ndim=(0, 1))
        if f.ndim and f.shape[0] != self.depth:
            raise ValueError(f"factors: expected {self.depth} per-layer factors (or one), "
                             f"got {f.shape[0]}")
        f = [float(c) for c in np.broadcast_to(f, (self.depth,))]
        return Update(tuple(c * w for c, w in zip(f, self.dW)),
                      None if self.db is None else tuple(c * b for c, b in zip(f, self.db)))

    def __mul__(self, c):
        return self.scaled([float(c)] * self.depth)

    __rmul__ = __mul__

    def __add__(self, other):
        if not isinstance(other, Update) or other.depth != self.depth:
            raise ValueError(f"other: expected an Update of {self.depth} layers, got "
                             f"{getattr(other, 'depth', type(other).__name__)}")
        db = None if self.db is None or other.db is None else \
            tuple(a + b for a, b in zip(self.db, other.db))
        return Update(tuple(a + b for a, b in zip(self.dW, other.dW)), db)

    def norm(self, with_bias=True):
        """||Delta theta||_2 (float)."""
        return float(norm(self.vector(with_bias)))

    def to_numpy(self):
        """The same update with float64 NumPy arrays."""
        return Update(to_numpy(self.dW), to_numpy(self.db))
