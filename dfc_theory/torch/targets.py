"""Output targets r_L* = r_L^- - lambda dLoss/dr_L for tensors: the core's own
(:mod:`dfc_theory.targets`; a torch loss stays differentiable)."""
from ..targets import LOSSES, REDUCTIONS, loss_gradient, loss_value, output_target  # noqa: F401

__all__ = ["loss_gradient", "loss_value", "output_target", "LOSSES", "REDUCTIONS"]
