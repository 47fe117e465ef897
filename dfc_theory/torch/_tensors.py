"""The torch entry points of the core's classes: :class:`Network` and :class:`DFCSystem`
with tensors in a chosen dtype and on a chosen device.  The numerics are the core's own."""
from __future__ import annotations

import torch

from .. import _dynamics, _network
from .._backend import is_torch
from .._validation import as_array, check_type, resolve_device, resolve_dtype

__all__ = ["Network", "DFCSystem"]


class Network(_network.Network):
    """:class:`dfc_theory.Network` with torch tensors as parameters.

    Parameters
    ----------
    weights, biases, activation, output_activation
        As :class:`dfc_theory.Network`.
    dtype, device : optional
        Where the parameters live.  Default: the dtype and device of the input -- a tensor's
        own, a float NumPy array's dtype (float64 NumPy weights give float64 tensors) on the
        CPU, torch's default dtype for anything else.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import dfc_theory as dfc, dfc_theory.torch as dtt
    >>> net = dtt.Network([np.eye(2)], activation="tanh")
    >>> net.dtype, net(np.ones(2)).dtype
    (torch.float64, torch.float64)
    """

    def __init__(self, weights, biases=None, activation="tanh", output_activation="linear",
                 dtype=None, device=None):
        if getattr(weights, "ndim", None) == 2:
            weights = [weights]
        if isinstance(weights, str) or not hasattr(weights, "__len__") or len(weights) == 0:
            super().__init__(weights)  # not a non-empty sequence: raises the core's error
        first = as_array(weights[0], "weights[0] (W_1)", ndim=2, strict=True, tensor=True,
                         dtype=resolve_dtype(dtype), device=resolve_device(device))
        super().__init__([first] + list(weights[1:]), biases, activation, output_activation)

    @classmethod
    def random(cls, sizes, activation="tanh", output_activation="linear", seed=None,
               init="xavier_normal", gain=1.0, bias_scale=0.0, dtype=None, device=None):
        """Drawn exactly as :meth:`dfc_theory.Network.random` (same seed, same numbers), then
        moved to ``dtype`` (default: torch's default dtype) and ``device``."""
        net = super().random(sizes, activation, output_activation, seed=seed, init=init,
                             gain=gain, bias_scale=bias_scale)
        return net.to(dtype or torch.get_default_dtype(), device)

    @classmethod
    def from_numpy(cls, network, dtype=torch.float64, device=None):
        """The torch twin of a NumPy :class:`dfc_theory.Network` (float64 by default)."""
        if not isinstance(network, _network.Network) or is_torch(network.xp):
            raise TypeError(f"network: expected a NumPy dfc_theory.Network (a torch one has "
                            f".to()), got {network!r:.80}")
        return cls(list(network.weights), list(network.biases), network.activation,
                   network.output_activation, dtype=dtype, device=device)

    def to(self, dtype=None, device=None):
        """A copy with parameters converted to ``dtype`` and/or moved to ``device``."""
        dtype, device = resolve_dtype(dtype) or self.dtype, resolve_device(device) or self.device
        return type(self)([w.to(device, dtype) for w in self.weights],
                          [b.to(device, dtype) for b in self.biases], self.activation,
                          self.output_activation)

    def clone(self):
        """A copy with its own parameters."""
        return self.with_params(self.weights, self.biases)

    def parameters(self):
        """[W_1, b_1, ..., W_L, b_L] (the tensors themselves, for optimizers)."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def __call__(self, x):
        """The output r_L (B, n_L) of the feedforward pass."""
        return self.forward(x).output

    tensor = _network.Network.convert


class DFCSystem(_dynamics.DFCSystem):
    """:class:`dfc_theory.DFCSystem` of a torch :class:`Network`; Q is converted to the
    network's dtype and device.

    Parameters
    ----------
    network : dfc_theory.torch.Network
    Q : array or tensor (N, n_L), or a sequence of blocks Q_i (n_i, n_L)
    controller : Controller

    Examples
    --------
    >>> import numpy as np, torch
    >>> import dfc_theory as dfc, dfc_theory.torch as dtt
    >>> net_np = dfc.Network.random([3, 4, 2], seed=0)
    >>> net = dtt.Network.from_numpy(net_np)   # float64 tensors
    >>> system = dtt.DFCSystem(net, dfc.feedback.weight_product(net_np), dfc.Controller(alpha=0.1))
    >>> system.Q.dtype, tuple(system.Q.shape), system.state_size
    (torch.float64, (6, 2), 8)
    >>> dtt.DFCSystem.from_numpy(system.to_numpy(), dtype=torch.float32).Q.dtype
    torch.float32
    """

    def __init__(self, network, Q, controller):
        if not (isinstance(network, _network.Network) and is_torch(network.xp)):
            raise TypeError(f"network: expected a dfc_theory.torch.Network, got "
                            f"{type(network).__name__}")
        super().__init__(network, Q, controller)

    @classmethod
    def from_numpy(cls, system, dtype=torch.float64, device=None):
        """The torch twin of a :class:`dfc_theory.DFCSystem`."""
        check_type(system, "system", _dynamics.DFCSystem)
        net = Network.from_numpy(system.network, dtype=dtype, device=device)
        return cls(net, system.Q, system.controller)
