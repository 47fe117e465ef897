"""The DFC steady-state weight update used by the theorem checks (minibatch 1)."""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc
from dfc_theory.gauss_newton import per_layer_from_signal


def steady_update(net, Q, x, target, alpha, leak="total", k_p=0.0, include_bias=True,
                  layer_rates=None):
    """Delta W_i = eta_i (v_i,ss - v_i,ss^ff) r_{i-1,ss}^T (Delta b_i = eta_i Delta v_i) from the
    exact (Newton) steady state; eta_i = 1 unless ``layer_rates`` is given."""
    s = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha, k_p=k_p, leak=leak))
    ss = dfc.steady_state(s, x, target, "newton")
    if not np.all(ss.converged):
        raise RuntimeError(f"Newton steady state did not converge (residual {ss.residual})")
    blocks = [np.atleast_2d(b) for b in net.split(ss.delta_v)]
    pre = [np.atleast_2d(r) for r in ss.r[:-1]]
    up = per_layer_from_signal(blocks, pre, include_bias)
    if layer_rates is not None:
        up = up.scaled(layer_rates)
    return up, ss
