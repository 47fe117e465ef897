"""dfc-theory: the theory of Deep Feedback Control (Meulemans et al., NeurIPS 2021) made
executable and checkable.  See THEORY.md notation: v, r, u, Q, J, delta_L, alpha, k_p.

The numerics are written once for NumPy arrays (float64, the exact reference) and torch
tensors (:mod:`dfc_theory.torch`); implementation modules are private and their public
names are re-exported here and in the namespaces ``activations``, ``feedback``,
``feedback_learning``, ``gauss_newton``, ``learning``, ``metrics``, ``stability``,
``symbolic``, ``targets``, ``training`` and ``datasets``.  Importing it never imports torch.

Examples
--------
>>> import numpy as np
>>> import dfc_theory as dfc
>>> net = dfc.Network.random([5, 8, 8, 3], activation="tanh", seed=0)
>>> x = np.random.default_rng(1).standard_normal((4, 5))
>>> target = dfc.output_target(net.forward(x).output, y=np.zeros((4, 3)), lam=0.05)
>>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net),
...                        dfc.Controller(alpha=0.01, k_p=1.0, tau_v=0.2, leak="total"))
>>> exact = dfc.steady_state(system, x, target)                  # Newton in u
>>> sim = dfc.simulate(system, x, target, dt=0.01, n_steps=5000)  # reference Euler scheme
>>> bool(sim.converged.all()), bool(np.abs(sim.u_final - exact.u).max() < 1e-10)
(True, True)
"""
from . import activations, datasets, feedback, gauss_newton, metrics, targets
from ._controller import LEAKS, Controller
from ._dynamics import DFCSystem, Linearisation
from ._network import ForwardPass, Network, rescale_to_condition1, split_layers, stack_layers
from ._simulate import SIMULATION_METHODS, SimulationResult, StepState, simulate
from ._steady_state import STEADY_STATE_METHODS, SteadyState, steady_state
from ._updates import Update
from .activations import ACTIVATIONS, Activation, get_activation
from .metrics import angle, condition1_deviation, condition2_ratio, layer_angles
from .targets import loss_gradient, loss_value, output_target
from . import feedback_learning
from .feedback_learning import (FeedbackConfig, closed_form_feedback, expected_feedback_update,
                                feedback_update, fit_damped_gamma, train_feedback)
from . import stability, symbolic
from .stability import (condition3, euler_stability, lyapunov_certificate, spectra,
                        spectral_abscissa, system_matrices)
from . import learning, training
from .learning import (FORWARD_METHODS, ForwardResult, TimeAveragedRule, dfa_feedback,
                       dfa_update, fixed_feedback, forward_update, rule_at_state)
from .training import TrainingConfig, TrainingLog, fig3_config, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "LEAKS", "Controller", "DFCSystem",
    "Linearisation", "ForwardPass", "Network", "rescale_to_condition1", "split_layers",
    "stack_layers", "SIMULATION_METHODS", "SimulationResult", "StepState", "simulate",
    "STEADY_STATE_METHODS", "SteadyState", "steady_state", "loss_gradient", "loss_value",
    "output_target", "activations", "feedback", "targets", "Update", "angle",
    "condition1_deviation", "condition2_ratio", "layer_angles", "datasets", "gauss_newton",
    "metrics", "feedback_learning", "FeedbackConfig", "feedback_update",
    "expected_feedback_update", "train_feedback", "fit_damped_gamma", "closed_form_feedback",
    "stability", "symbolic", "system_matrices", "spectral_abscissa", "spectra",
    "lyapunov_certificate", "condition3", "euler_stability",
    "learning", "training", "FORWARD_METHODS", "ForwardResult", "TimeAveragedRule",
    "forward_update", "rule_at_state", "dfa_feedback", "dfa_update", "fixed_feedback",
    "TrainingConfig", "TrainingLog", "fig3_config", "train",
]
