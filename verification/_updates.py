"""DFC weight updates measured for the alignment theorems (Theorems 2 and 3, Proposition 4).

* :func:`steady_update`: the voltage-difference rule Delta W_i = (v_i,ss - v_i,ss^ff)
  r_{i-1,ss}^T at the exact (Newton) steady state (the paper's steady-state update,
  THEORY.md sections 4 and 6);
* :func:`integrated_rule`: the paper's plasticity rule -- nonlinear difference
  phi(v_i) - phi(v_i^ff) times r_{i-1} -- integrated over a reference Euler simulation
  of the instantaneous system (tau_v -> 0, k_p = 0) and divided by the simulated time.

The integrated rule approaches the steady-state rule only as the simulated time T grows:
(1/T) int_0^T a(t) dt = a_ss + I_transient / T with a transient integral of the size of a_ss
times 1/|a|, a the spectral abscissa.  The limit lambda, alpha -> 0 of the paper's theorems
is therefore taken jointly with T = K_T / (eps |a|): every error term is then proportional
to eps and the fitted slope is 1.
"""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc
from dfc_theory.gauss_newton import per_layer_from_signal

from ._common import simulate_rule

#: simulated time of the integrated rule in units of the slowest time constant, per eps
K_T = 1.0


def steady_update(net, Q, x, target, controller, include_bias=True):
    """Voltage rule at the exact steady state (Newton, plain, tol 1e-14); returns
    (Update, SteadyState).  Raises RuntimeError if Newton did not converge (the sweeps
    exclude such draws beforehand by the premise ``newton_converged``)."""
    s = dfc.DFCSystem(net, Q, controller)
    ss = dfc.steady_state(s, x, target, "newton", tol=1e-14, reuse_jacobian=False)
    if not np.all(ss.converged):
        raise RuntimeError(f"Newton steady state did not converge (residual {ss.residual})")
    blocks = [np.atleast_2d(b) for b in net.split(ss.delta_v)]
    pre = [np.atleast_2d(r) for r in ss.r[:-1]]
    return per_layer_from_signal(blocks, pre, include_bias), ss


def instantaneous_controller(alpha):
    """tau_v = 0, k_p = 0 ('total' and 'integral' coincide): du/dt = e - alpha u."""
    return dfc.Controller(alpha=float(alpha), k_p=0.0, tau_v=0.0, leak="total")


def euler_dt(JQ, alpha):
    """Step of the reference scheme: 0.6 / max |eig(JQ + alpha I)| (stable below 1 for a real
    spectrum; the premise ``reference_euler_stable`` checks each draw)."""
    return 0.6 / float(np.max(np.abs(np.linalg.eigvals(JQ + alpha * np.eye(len(JQ))))))


def integrated_rule(net, Q, x, target, alpha, dt, eps, abscissa, include_bias=True):
    """The paper's rule integrated over T = K_T / (eps |a|) of reference Euler simulation of
    the instantaneous system; returns (Update, n_steps, SimulationResult)."""
    system = dfc.DFCSystem(net, Q, instantaneous_controller(alpha))
    n = int(np.ceil(K_T / (eps * abs(abscissa)) / dt))
    res, snaps = simulate_rule(system, x, target, dt, n, rule="nonlinear",
                               include_bias=include_bias)
    if n not in snaps:
        raise RuntimeError(f"the simulation stopped after {res.n_steps} of {n} steps")
    return snaps[n][0], n, res
