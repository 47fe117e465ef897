"""dfc-theory: the theory of Deep Feedback Control (Meulemans et al., NeurIPS 2021) made
executable and checkable.  See THEORY.md notation: v, r, u, Q, J, delta_L, alpha, k_p."""
from . import activations, datasets, feedback, gauss_newton, metrics, targets
from .activations import ACTIVATIONS, Activation, get_activation
from .controller import LEAKS, Controller
from .dynamics import DFCSystem, Linearisation
from .network import ForwardPass, Network, rescale_to_condition1, split_layers, stack_layers
from .simulate import SIMULATION_METHODS, SimulationResult, StepState, simulate
from .steady_state import STEADY_STATE_METHODS, SteadyState, steady_state
from .targets import loss_gradient, loss_value, output_target
from .updates import Update
from .metrics import angle, condition1_deviation, condition2_ratio, layer_angles
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
    "stack_layers",
    "SIMULATION_METHODS", "SimulationResult", "StepState", "simulate",
    "STEADY_STATE_METHODS", "SteadyState", "steady_state", "loss_gradient", "loss_value",
    "output_target", "activations", "feedback", "targets", "Update", "angle",
    "condition1_deviation", "condition2_ratio", "layer_angles", "datasets", "gauss_newton",
    "metrics",
    "feedback_learning", "FeedbackConfig", "feedback_update", "expected_feedback_update",
    "train_feedback", "fit_damped_gamma", "closed_form_feedback",
    "stability", "symbolic", "system_matrices", "spectral_abscissa", "spectra",
    "lyapunov_certificate", "condition3", "euler_stability",
    "learning", "training", "FORWARD_METHODS", "ForwardResult", "TimeAveragedRule",
    "forward_update", "rule_at_state", "dfa_feedback", "dfa_update", "fixed_feedback",
    "TrainingConfig", "TrainingLog", "fig3_config", "train",
]
