"""Metrics of THEORY.md section 7 for tensors: the core's own (:mod:`dfc_theory.metrics`)."""
from ..metrics import (angle, condition1_deviation, condition2_ratio,  # noqa: F401
                       descent_inner_products, layer_angles, layer_norms, spectral_abscissa)

__all__ = ["angle", "layer_angles", "condition1_deviation", "condition2_ratio",
           "layer_norms", "spectral_abscissa", "descent_inner_products"]
