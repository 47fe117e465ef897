"""Full-scale DFC with PyTorch: the concepts of the exact NumPy core on tensors, batched, on
any device and dtype.

Optional: ``pip install 'dfc-theory[torch]'``.  ``import dfc_theory`` never imports torch;
``import dfc_theory.torch`` does (and fails with a clear message when it is missing).

Names mirror the NumPy core (THEORY.md notation): :class:`Network`, :class:`DFCSystem`
(with the core's :class:`Controller`), :func:`simulate` (the reference Euler scheme),
:func:`steady_state` ("ssa", "newton"), the forward learning rules of
:mod:`dfc_theory.torch.learning` (DFC, DFC-SS, DFC-SSA, BP, DFA), the sleep-phase feedback
learning of :mod:`dfc_theory.torch.feedback_learning`, reference updates
(:mod:`dfc_theory.torch.gauss_newton`) and metrics.  Every function accepts NumPy arrays or
tensors and works in the dtype/device of its network; float32 is the default at scale,
float64 is what the equivalence tests with the NumPy core use.

Training and records: ``python -m dfc_theory.torch.train --help`` (module
:mod:`dfc_theory.torch.train`; data in :mod:`dfc_theory.torch.data`, the record format in
:mod:`dfc_theory.torch.records`).  Beyond the NumPy core's names: ``Network.jacobian_product``
(J M without forming J, forward mode), ``steady_state(..., J=, delta_L=, forward=, atol=)``
and ``forward_update(..., J=, delta_L=, forward=)`` to reuse what a training step already
computed, and ``simulate(..., noise=)`` for pre-drawn noise.

Known upstream issue: batched LU solves on the CPU with more than one thread fail for
matrices larger than ~150 (pytorch/pytorch#142815); the backend solves those matrix by
matrix (only the 784-output autoencoder's n_L x n_L systems are that large).

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

from ..controller import LEAKS, Controller
from . import data, feedback_learning, gauss_newton, learning, metrics, records, targets
from .activations import ACTIVATIONS, Activation, get_activation
from .dynamics import DFCSystem
from .feedback_learning import FeedbackConfig, feedback_metrics, feedback_update, train_feedback
from .learning import (DFC_METHODS, FORWARD_METHODS, RULES, ForwardResult, TimeAveragedRule,
                       dfa_feedback, dfa_update, fixed_feedback, forward_update, rule_at_state)
from .metrics import (angle, condition1_deviation, condition2_ratio, layer_angles,
                      spectral_abscissa)
from .network import ForwardPass, Network, split_layers, stack_layers
from .simulate import SIMULATION_METHODS, SimulationResult, StepState, simulate
from .steady_state import STEADY_STATE_METHODS, SteadyState, steady_state
from .targets import loss_gradient, loss_value, output_target
from .updates import Update

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "LEAKS", "Controller", "DFCSystem",
    "ForwardPass", "Network", "split_layers", "stack_layers", "SIMULATION_METHODS",
    "SimulationResult", "StepState", "simulate", "STEADY_STATE_METHODS", "SteadyState",
    "steady_state", "loss_gradient", "loss_value", "output_target", "Update", "angle",
    "condition1_deviation", "condition2_ratio", "layer_angles", "gauss_newton", "learning",
    "metrics", "targets", "DFC_METHODS", "FORWARD_METHODS", "RULES", "ForwardResult",
    "TimeAveragedRule", "forward_update", "rule_at_state", "dfa_feedback", "dfa_update",
    "fixed_feedback", "feedback_learning", "FeedbackConfig", "feedback_update",
    "train_feedback", "feedback_metrics", "spectral_abscissa", "data", "records",
]
