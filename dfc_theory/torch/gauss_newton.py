"""Reference updates (THEORY.md sections 4 and 7) for torch networks: the core's own
(:mod:`dfc_theory.gauss_newton`, every public name), plus the ``*_from`` forms that take the
forward pass, Jacobians and delta_L a training step already computed."""
from ..gauss_newton import *  # noqa: F401,F403
from ..gauss_newton import __all__ as _CORE_NAMES
from ..gauss_newton import _bp as bp_update_from
from ..gauss_newton import _gn as gn_update_from
from ..gauss_newton import _min_norm as min_norm_update_from

__all__ = _CORE_NAMES + ["gn_update_from", "min_norm_update_from", "bp_update_from"]
