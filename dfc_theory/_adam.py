"""Adam, the one implementation used by feedback learning (Q) and the torch trainer.

The update of ``torch.optim.Adam`` (no weight decay, no amsgrad), in place:
m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps); our own lines because
importing ``torch.optim`` costs seconds (``torch._dynamo``).
"""
from __future__ import annotations

import math

from ._backend import namespace, no_grad

__all__ = ["Adam"]


class Adam:
    """Adam on a list of writable arrays or tensors ``params``, updated in place by
    :meth:`step`, with learning rate ``lr``, ``betas`` and ``eps``.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory._adam import Adam
    >>> p = np.array([1.0, -2.0])
    >>> opt = Adam([p], lr=0.1)
    >>> opt.step([p.copy()])                 # gradient of ||p||^2 / 2
    >>> p                                     # first step: lr * sign(g)
    array([ 0.9, -1.9])
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.eps = list(params), float(lr), float(eps)
        self.b1, self.b2 = betas
        self.xp = namespace(*self.params)
        self.m = [self.xp.zeros_like(p) for p in self.params]
        self.v = [self.xp.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads, scale=1.0):
        """One step with the gradients ``scale * grads`` (one per parameter, same order)."""
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        sqrt_bc2 = math.sqrt(1.0 - self.b2 ** self.t)
        with no_grad(self.xp):
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                m *= self.b1
                m += ((1.0 - self.b1) * scale) * g
                v *= self.b2
                v += ((1.0 - self.b2) * scale * scale) * (g * g)
                p -= (self.lr / bc1) * m / (self.xp.sqrt(v) / sqrt_bc2 + self.eps)
