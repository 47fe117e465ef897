"""Reference updates (THEORY.md sections 4 and 7) for torch networks: the core's own
(:mod:`dfc_theory.gauss_newton`), plus the ``*_from`` forms that take the forward pass,
Jacobians and delta_L a training step already computed."""
from ..gauss_newton import _bp as bp_update_from
from ..gauss_newton import _gn as gn_update_from
from ..gauss_newton import _min_norm as min_norm_update_from
from ..gauss_newton import (bp_update, gn_update, min_norm_update,  # noqa: F401
                            per_layer_from_signal, weighted_min_norm_update)

__all__ = ["gn_update", "min_norm_update", "bp_update", "per_layer_from_signal",
           "weighted_min_norm_update",
           "gn_update_from", "min_norm_update_from", "bp_update_from"]
