"""Theorem conditions as properties over generated networks (THEORY.md section 4).

Every bound below is derived, not tuned:

* Condition 2: if Q = J^T M then J^+ = Q (JQ)^{-1}, so the linearised
  Delta v = Q (JQ + alpha I)^{-1} delta obeys
  Delta v - J^+ delta = -alpha Q (JQ + alpha I)^{-1} (JQ)^{-1} delta, hence
  ||Delta v - J^+ delta|| <= alpha ||Q|| ||(JQ + alpha I)^{-1}|| ||(JQ)^{-1}|| ||delta||.
* Proposition 4: JQ (JQ + alpha I)^{-1} = I - alpha (JQ + alpha I)^{-1}, hence
  |delta^T JQ (JQ + alpha I)^{-1} delta / ||delta||^2 - 1| <= alpha ||(JQ + alpha I)^{-1}||.
* Theorem 2 (algebraic core): under Condition 1 with ||r_i|| = rho for i < L,
  J_theta J_theta^T = (rho^2 + 1) J J^T (weights and biases), so the update built from
  Delta v = J^+ delta equals (rho^2 + 1) times the Gauss-Newton update J_theta^+ delta.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import dfc_theory as dfc
from dfc_theory.gauss_newton import gn_update, per_layer_from_signal

from dfc_theory.testing.strategies import SMOOTH_ACTIVATIONS, networks

ROUND = 1e-9  # rounding allowance relative to the bound (float64, cond(J J^T) <= 1e6)

smooth_nets = networks(min_layers=1, max_layers=4, min_width=1, max_width=8,
                       activations=("tanh", "sigmoid", "softplus"),
                       output_activations=SMOOTH_ACTIVATIONS)


def _full_rank(J):
    return J.shape[0] <= J.shape[1] and np.linalg.cond(J @ J.T) < 1e6


@given(net=smooth_nets, seed=st.integers(0, 2**32 - 1), alpha=st.floats(1e-4, 1.0))
def test_condition2_linearised_bound(net, seed, alpha, backend):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(net.n_in)
    J = net.jacobian(x)
    assume(_full_rank(J))
    # the bound needs JQ invertible, not stability: no redraw of M
    Q = dfc.feedback.random_condition2(net, x, seed=seed, require_stable=False)
    JQ = J @ Q
    assume(np.min(np.abs(np.linalg.eigvals(JQ))) > 1e-3)
    delta = 1e-3 * rng.standard_normal(net.n_out)
    sys_ = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha, leak="total"))
    dv = backend.call(dfc.steady_state, sys_, x, net.forward(x).r[-1] + delta, "ssa").delta_v
    err = np.linalg.norm(dv - np.linalg.pinv(J) @ delta)
    G = JQ + alpha * np.eye(net.n_out)
    C = (np.linalg.norm(Q, 2) * np.linalg.norm(np.linalg.inv(G), 2)
         * np.linalg.norm(np.linalg.inv(JQ), 2))
    assert err <= C * alpha * np.linalg.norm(delta) * (1 + ROUND) + 1e-15


@given(net=smooth_nets, seed=st.integers(0, 2**32 - 1), alpha=st.floats(1e-4, 1.0))
def test_proposition4_inner_product_bound(net, seed, alpha):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(net.n_in)
    J = net.jacobian(x)
    Q = dfc.feedback.random_gaussian(net, seed=seed)
    JQ = J @ Q
    assume(np.all(np.linalg.eigvals(JQ).real > 1e-3))  # stable for every alpha > 0
    d = rng.standard_normal(net.n_out)
    G_inv = np.linalg.inv(JQ + alpha * np.eye(net.n_out))
    ip = d @ JQ @ G_inv @ d / (d @ d)
    bound = alpha * np.linalg.norm(G_inv, 2)
    assert abs(ip - 1) <= bound * (1 + ROUND) + 1e-12
    if bound < 1:  # then the update is a descent direction
        assert ip > 0


@given(net=networks(min_layers=2, max_layers=4, min_width=2, max_width=8,
                    activations=("tanh",), output_activations=("linear",), max_bias=0.0),
       seed=st.integers(0, 2**32 - 1))
def test_theorem2_condition1_makes_dfc_gauss_newton(net, seed, backend):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(net.n_in)
    x /= np.linalg.norm(x)
    try:
        net1 = dfc.rescale_to_condition1(net, x)
    except ValueError:
        assume(False)
    J = net1.jacobian(x)
    assume(_full_rank(J))
    fp = net1.forward(x)
    rho2 = float(fp.r[0] @ fp.r[0])
    delta = rng.standard_normal(net1.n_out)
    a = net1.split(np.linalg.pinv(J) @ delta)
    dfc_up = per_layer_from_signal([ai[None] for ai in a], [r[None] for r in fp.r[:-1]])
    gn = backend.call(gn_update, net1, x, delta)
    np.testing.assert_allclose(dfc_up.vector(), (rho2 + 1) * gn.vector(),
                               rtol=1e-8, atol=1e-10 * np.linalg.norm(dfc_up.vector()))


def test_theorem2_identity_breaks_without_condition1():
    """Negative control for the property above: unequal layer norms break proportionality."""
    net = dfc.Network.random([4, 6, 6, 2], seed=5, gain=1.5)
    x = np.random.default_rng(5).standard_normal(4)
    norms = dfc.metrics.layer_norms(net, x)[0]
    assert np.ptp(norms) > 0.1
    fp = net.forward(x)
    delta = np.array([1.0, -0.5])
    a = net.split(np.linalg.pinv(net.jacobian(x)) @ delta)
    up = per_layer_from_signal([ai[None] for ai in a], [r[None] for r in fp.r[:-1]])
    assert dfc.angle(up, gn_update(net, x, delta)) > 1.0


@pytest.mark.parametrize("seed", range(3))
def test_condition2_bound_is_tight_in_alpha(seed):
    """The O(alpha) bound is attained in order: halving alpha halves the error (to O(alpha^2))."""
    net = dfc.Network.random([5, 6, 3], seed=seed)
    x = np.random.default_rng(seed).standard_normal(5)
    J = net.jacobian(x)
    Q = dfc.feedback.random_condition2(net, x, seed=seed)
    d = np.ones(3)
    e = [np.linalg.norm(Q @ np.linalg.solve(J @ Q + a * np.eye(3), d) - np.linalg.pinv(J) @ d)
         for a in (1e-4, 5e-5)]
    assert abs(e[0] / e[1] - 2.0) < 1e-2
