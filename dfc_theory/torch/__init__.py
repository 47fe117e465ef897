"""Full-scale DFC with PyTorch (optional: ``pip install 'dfc-theory[torch]'``; only this
package imports torch): the core's one implementation on tensors, batched, on any device and
dtype, the names here its entry points (:class:`Network` says where its tensors live).
Torch-only: autograd, data (:mod:`~dfc_theory.torch.data`), run records
(:mod:`~dfc_theory.torch.records`) and the trainer (``python -m dfc_theory.torch --help``);
SciPy parts (stability, ``simulate(method="ivp" | "linear")``, the feedback theory) stay
NumPy-only.

Example
-------
>>> import numpy as np, torch
>>> import dfc_theory as dt, dfc_theory.torch as dtt
>>> net = dt.Network.random([4, 5, 3], seed=0)
>>> sys_np = dt.DFCSystem(net, dt.feedback.weight_product(net), dt.Controller(alpha=0.1))
>>> sys_t = dtt.DFCSystem.from_numpy(sys_np)            # float64 twin
>>> x = np.ones((2, 4)); tgt = net.forward(x).output + 0.01
>>> u_np = dt.steady_state(sys_np, x, tgt).u
>>> u_t = dtt.steady_state(sys_t, x, tgt).u
>>> bool(np.allclose(u_np, u_t.numpy(), rtol=1e-10, atol=0))
True
"""
try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("dfc_theory.torch needs PyTorch: pip install 'dfc-theory[torch]' "
                      "(torch==2.13.0)") from exc

from .._backend import to_numpy
from .._controller import LEAKS, Controller
from .._network import ForwardPass, split_layers, stack_layers
from .._simulate import SimulationResult, StepState, simulate
from .._steady_state import STEADY_STATE_METHODS, SteadyState, steady_state
from .._updates import Update
from ..activations import ACTIVATIONS, Activation, get_activation
from . import data, feedback_learning, gauss_newton, learning, metrics, records, targets
from ._tensors import DFCSystem, Network
from .feedback_learning import FeedbackConfig, feedback_metrics, feedback_update, train_feedback
from .learning import (DFC_METHODS, FORWARD_METHODS, RULES, ForwardResult, TimeAveragedRule,
                       dfa_feedback, dfa_update, fixed_feedback, forward_update, rule_at_state)
from .metrics import (angle, condition1_deviation, condition2_ratio, layer_angles,
                      spectral_abscissa)
from .targets import loss_gradient, loss_value, output_target

#: the simulation method of the torch backend (the others use SciPy)
SIMULATION_METHODS = ("euler",)

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "LEAKS", "Controller", "DFCSystem",
    "ForwardPass", "Network", "split_layers", "stack_layers", "SIMULATION_METHODS",
    "SimulationResult", "StepState", "simulate", "STEADY_STATE_METHODS", "SteadyState",
    "steady_state", "loss_gradient", "loss_value", "output_target", "Update", "angle",
    "condition1_deviation", "condition2_ratio", "layer_angles", "gauss_newton", "learning",
    "metrics", "targets", "DFC_METHODS", "FORWARD_METHODS", "RULES", "ForwardResult",
    "TimeAveragedRule", "forward_update", "rule_at_state", "dfa_feedback", "dfa_update",
    "fixed_feedback", "feedback_learning", "FeedbackConfig", "feedback_update",
    "train_feedback", "feedback_metrics", "spectral_abscissa", "data", "records", "to_numpy",
]
