"""Output targets r_L* = r_L^- - lambda dLoss/dr_L for tensors: the core's own
(:mod:`dfc_theory.targets`, every public name; a torch loss stays differentiable)."""
from ..targets import *  # noqa: F401,F403
from ..targets import __all__  # noqa: F401
