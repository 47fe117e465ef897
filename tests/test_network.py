"""The feedforward network, its Jacobians, the feedback constructions and output targets
(THEORY.md section 1, section 4 examples of Condition 2, section 5's J = J_L^o (I - J_hat)^-1).

Oracles: a hand-written forward loop, central finite differences (tolerance justified in
``_cases.central_jacobian``), and closed forms.
"""
import numpy as np
import pytest

from dfc_theory import (ACTIVATIONS, Network, feedback, loss_gradient, loss_value,
                        output_target, split_layers, stack_layers)
from dfc_theory.activations import LEAKY_SLOPE

from _cases import central_jacobian
from dfc_theory.testing.strategies import ACTIVATION_NAMES

H = 1e-5            # finite-difference step (see _cases.central_jacobian)
FD_ATOL = 1e-8      # >= 100x the finite-difference error bound for h = 1e-5
EXACT = 1e-12       # identities that only differ by floating-point rounding

PAIRS = [(h, o) for h in ACTIVATION_NAMES for o in ACTIVATION_NAMES]


def _net(hidden, out, sizes=(3, 4, 5, 2), seed=0):
    return Network.random(sizes, activation=hidden, output_activation=out, seed=seed,
                          bias_scale=0.3)


def _assert_away_from_kinks(v, h=H):
    # relu / leaky_relu are not differentiable at 0: a finite difference straddling a kink
    # is not a derivative.  The seeds below keep every pre-activation far from 0.
    assert np.min(np.abs(v)) > 100 * h, "test set-up: a pre-activation sits on a kink"


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_derivatives_match_central_differences(name, backend):
    act = ACTIVATIONS[name]
    v = np.linspace(-4.0, 4.0, 81) + 0.0123  # no grid point on the kink at 0
    _assert_away_from_kinks(v)
    d1 = central_jacobian(lambda z: act.f(z), v[:, None])[:, 0, 0]
    d2 = central_jacobian(lambda z: act.df(z), v[:, None])[:, 0, 0]
    on = backend.net(Network([np.eye(1)], output_activation=name)).phi(1)  # on the backend
    np.testing.assert_allclose(backend.np(on.df(backend.arr(v))), d1, rtol=0, atol=FD_ATOL)
    np.testing.assert_allclose(backend.np(on.d2f(backend.arr(v))), d2, rtol=0, atol=FD_ATOL)
    np.testing.assert_allclose(backend.np(on.f(backend.arr(v))), act.f(v), rtol=1e-15,
                               atol=1e-300)


def test_activation_values():
    v = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].f(v), 1 / (1 + np.exp(-v)), rtol=1e-15)
    np.testing.assert_allclose(ACTIVATIONS["softplus"].f(v), np.log1p(np.exp(v)), rtol=1e-15)
    np.testing.assert_array_equal(ACTIVATIONS["relu"].f(v), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(ACTIVATIONS["leaky_relu"].f(v), [-2 * LEAKY_SLOPE, 0.0, 3.0])
    np.testing.assert_array_equal(ACTIVATIONS["linear"].f(v), v)
    # extreme inputs stay finite (no overflow warnings are allowed by setup.cfg)
    big = np.array([-800.0, 800.0])
    for act in ACTIVATIONS.values():
        assert np.all(np.isfinite(act.f(big))) and np.all(np.isfinite(act.df(big)))


# --------------------------------------------------------------------------- forward
def test_forward_matches_hand_written_loop(rng, backend):
    net = _net("tanh", "sigmoid")
    x = rng.standard_normal((5, 3))
    bfp = backend.net(net).forward(backend.arr(x))
    fp = type(bfp)(backend.np(bfp.v), backend.np(bfp.r))
    r = x
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        v = r @ W.T + b
        r = np.tanh(v) if i < net.depth - 1 else 1 / (1 + np.exp(-v))
        np.testing.assert_allclose(fp.v[i], v, rtol=EXACT, atol=EXACT)
        np.testing.assert_allclose(fp.r[i + 1], r, rtol=EXACT, atol=EXACT)
    assert fp.r[0] is not None and np.array_equal(fp.r[0], x)
    assert fp.v_stacked.shape == (5, net.n_total)
    np.testing.assert_array_equal(fp.output, fp.r[-1])


def test_forward_single_sample_and_batch_agree(rng, backend):
    net = backend.net(_net("softplus", "linear"))
    x = backend.arr(rng.standard_normal((4, 3)))
    fb_ = net.forward(x)
    for b in range(4):
        fs = net.forward(x[b])
        assert fs.v[0].ndim == 1 and tuple(fs.output.shape) == (net.n_out,)
        np.testing.assert_allclose(backend.np(fs.v_stacked), backend.np(fb_.v_stacked[b]),
                                   rtol=EXACT, atol=EXACT)
    assert tuple(net.jacobian(x[0]).shape) == (net.n_out, net.n_total)
    assert tuple(net.weight_jacobian(x[0]).shape) == (net.n_out, net.n_params)
    np.testing.assert_allclose(backend.np(net.jacobian(x[1])), backend.np(net.jacobian(x)[1]),
                               rtol=EXACT, atol=EXACT)


def test_forward_delta_is_added_and_propagated(rng, backend):
    net = backend.net(_net("tanh", "linear"))
    x = backend.arr(rng.standard_normal((2, 3)))
    d = rng.standard_normal((2, net.n_total))
    fp = net.forward(x, delta=backend.arr(d))
    # v_i = W_i r_{i-1} + b_i + delta_i with r_{i-1} the perturbed rates
    np.testing.assert_allclose(backend.np(fp.v_stacked - net.basal(x, fp.v_stacked)), d,
                               rtol=0, atol=EXACT)


def test_structure_properties():
    net = Network.random([7, 5, 3], seed=1)
    assert net.sizes == [7, 5, 3] and net.depth == 2 and net.n_in == 7 and net.n_out == 3
    assert net.n_total == 8 and net.n_params == 7 * 5 + 5 + 5 * 3 + 3
    assert net.phi(1).name == "tanh" and net.phi(2).name == "linear"
    # weights are frozen: a Network is immutable
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 1.0
    # Network.random is reproducible and seed-sensitive
    np.testing.assert_array_equal(Network.random([7, 5, 3], seed=1).weights[1], net.weights[1])
    assert not np.array_equal(Network.random([7, 5, 3], seed=2).weights[1], net.weights[1])


def test_xavier_init_scale():
    # W ~ N(0, 2 / (n_in + n_out)): sample variance within 5 standard errors
    net = Network.random([300, 200], seed=3)
    var = np.var(net.weights[0])
    want = 2.0 / 500
    assert abs(var / want - 1) < 5 * np.sqrt(2.0 / net.weights[0].size)


# --------------------------------------------------------------------------- Jacobians
@pytest.mark.parametrize("hidden,out", PAIRS)
def test_jacobian_matches_central_differences(hidden, out, rng, backend):
    net = _net(hidden, out)
    x = rng.standard_normal((2, 3))
    _assert_away_from_kinks(net.forward(x).v_stacked)
    J = backend.np(backend.net(net).jacobian(backend.arr(x)))
    assert J.shape == (2, net.n_out, net.n_total)
    # J = d r_L / d v: perturb each v_i and propagate it through the layers above
    J_fd = central_jacobian(lambda d: net.forward(x, delta=d).output,
                            np.zeros((2, net.n_total)), H)
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=FD_ATOL)
    # the output block is J_L = D_L = diag(phi_L'(v_L))
    DL = net.phi(net.depth).df(net.forward(x).v[-1])
    np.testing.assert_allclose(J[:, :, -net.n_out:],
                               np.einsum("ij,bj->bij", np.eye(net.n_out), DL), atol=EXACT)


@pytest.mark.parametrize("hidden,out", PAIRS)
def test_jacobian_at_given_state_matches_central_differences(hidden, out, rng, backend):
    """J(v) at a state v off the feedforward pass (e.g. a steady state v = v^ff + Q u): the
    derivative of r_L when v_i moves and the layers above follow, at that state."""
    net = _net(hidden, out)
    x = rng.standard_normal((2, 3))
    c = 0.3 * rng.standard_normal((2, net.n_total))  # apical offset, v = v^ff(v) + c
    v = net.forward(x, delta=c).v_stacked
    _assert_away_from_kinks(v)
    J = backend.np(backend.net(net).jacobian(backend.arr(x), backend.arr(v)))
    J_fd = central_jacobian(lambda d: net.forward(x, delta=d).output, c, H)
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=FD_ATOL)
    if {hidden, out} & {"tanh", "sigmoid", "softplus"}:  # curved: the state matters
        assert np.max(np.abs(J - net.jacobian(x))) > 1e-3


@pytest.mark.parametrize("hidden,out", PAIRS)
def test_weight_jacobian_matches_central_differences(hidden, out, rng, backend):
    net = _net(hidden, out)
    bnet = backend.net(net)
    x = rng.standard_normal((2, 3))
    c = 0.3 * rng.standard_normal((2, net.n_total))
    for delta in (None, c):  # at the feedforward state and at a state v = v^ff + c
        v = None if delta is None else net.forward(x, delta=delta).v_stacked
        _assert_away_from_kinks(net.forward(x, delta=delta).v_stacked)
        Jt = backend.np(bnet.weight_jacobian(backend.arr(x), backend.arr(v)))
        assert Jt.shape == (2, net.n_out, net.n_params)
        theta0 = net.params_vector()

        def out_of(theta):
            return np.stack([net.with_params(*net.split_params(t)).forward(
                x[b], None if delta is None else delta[b]).output for b, t in enumerate(theta)])

        Jt_fd = central_jacobian(out_of, np.tile(theta0, (2, 1)), H)
        np.testing.assert_allclose(Jt, Jt_fd, rtol=0, atol=FD_ATOL)


def test_weight_jacobian_blocks_are_kronecker_products(rng, backend):
    """THEORY.md section 4: J_theta = [J_1 (x) r_0^T, J_1, ..., J_L (x) r_{L-1}^T, J_L]."""
    net = _net("tanh", "linear", sizes=(3, 4, 2))
    x = rng.standard_normal(3)
    fp = net.forward(x)
    Js = net.layer_jacobians(x)
    want = np.concatenate([np.concatenate([np.kron(Ji, r[None, :]), Ji], axis=1)
                           for Ji, r in zip(Js, fp.r[:-1])], axis=1)
    got = backend.np(backend.net(net).weight_jacobian(backend.arr(x)))
    np.testing.assert_allclose(got, want, rtol=EXACT, atol=EXACT)


def test_jacobian_product_is_J_times_M(rng, backend):
    net = _net("tanh", "sigmoid", sizes=(3, 5, 4, 2))
    x, M = rng.standard_normal((3, 3)), rng.standard_normal((net.n_total, 4))
    v = net.forward(x, delta=0.2 * rng.standard_normal((3, net.n_total))).v_stacked
    bnet = backend.net(net)
    for vv in (None, v):
        got = backend.np(bnet.jacobian_product(backend.arr(x), backend.arr(M), backend.arr(vv)))
        np.testing.assert_allclose(got, net.jacobian(x, vv) @ M, rtol=EXACT, atol=EXACT)


def test_jacobian_equals_section5_formula(rng, backend):
    """J = J_L^o (I - J_hat)^{-1} with J_hat block sub-diagonal (W_i D_{i-1}), THEORY.md 5."""
    net = _net("softplus", "tanh", sizes=(3, 4, 5, 2, 3))
    x = rng.standard_normal(3)
    v = net.forward(x).v
    D = [net.phi(i + 1).df(vi) for i, vi in enumerate(v)]
    offs = np.concatenate([[0], np.cumsum(net.sizes[1:])])
    N = net.n_total
    Jhat = np.zeros((N, N))
    for i in range(1, net.depth):
        Jhat[offs[i]:offs[i + 1], offs[i - 1]:offs[i]] = net.weights[i] * D[i - 1][None, :]
    JLo = np.zeros((net.n_out, N))
    JLo[:, offs[-2]:] = np.diag(D[-1])
    want = JLo @ np.linalg.inv(np.eye(N) - Jhat)
    got = backend.np(backend.net(net).jacobian(backend.arr(x)))
    np.testing.assert_allclose(got, want, rtol=EXACT, atol=EXACT)


# --------------------------------------------------------------------------- helpers
def test_split_and_stack_round_trip(rng, backend):
    net = backend.net(_net("tanh", "linear"))
    z = backend.arr(rng.standard_normal((3, net.n_total)))
    blocks = net.split(z)
    assert [tuple(b.shape) for b in blocks] == [(3, n) for n in net.sizes[1:]]
    np.testing.assert_array_equal(backend.np(stack_layers(blocks)), backend.np(z))
    np.testing.assert_array_equal(backend.np(stack_layers(split_layers(z[0], net.sizes[1:]))),
                                  backend.np(z[0]))
    assert tuple(net.forward(backend.arr(rng.standard_normal(3))).v_stacked.shape) == \
        (net.n_total,)


def test_params_round_trip(backend):
    net = backend.net(_net("tanh", "linear"))
    theta = net.params_vector()
    assert tuple(theta.shape) == (net.n_params,)
    dW, db = net.split_params(theta)
    for a, b in zip(dW + db, net.weights + net.biases):
        np.testing.assert_array_equal(backend.np(a), backend.np(b))
    # batched split keeps the leading axes
    dW2, _ = net.split_params(backend.arr(np.stack([backend.np(theta), 2 * backend.np(theta)])))
    np.testing.assert_array_equal(backend.np(dW2[1][1]), 2 * backend.np(net.weights[1]))
    np.testing.assert_array_equal(backend.np(net.with_params(dW, db).params_vector()),
                                  backend.np(theta))


# --------------------------------------------------------------------------- feedback
def _condition2_ratio(J, Q):
    """||P_J Q||_F / ||Q||_F with P_J = J^T (J J^T)^{-1} J (THEORY.md section 4)."""
    P = J.T @ np.linalg.solve(J @ J.T, J)
    return np.linalg.norm(P @ Q) / np.linalg.norm(Q)


def test_weight_product_is_jacobian_transpose_of_linear_network(rng, backend):
    net = Network.random([3, 6, 5, 4], activation="linear", seed=4, bias_scale=0.5)
    Q = backend.np(feedback.weight_product(backend.net(net)))
    np.testing.assert_allclose(Q, net.jacobian(rng.standard_normal(3)).T, atol=EXACT)
    np.testing.assert_array_equal(Q[-4:], np.eye(4))  # Q_L = I
    # a nonlinear network's weight product is NOT its J^T (the check can fail)
    tnet = Network(net.weights, net.biases, "tanh")
    assert np.max(np.abs(feedback.weight_product(tnet) - tnet.jacobian(np.ones(3)).T)) > 1e-3


def test_jacobian_based_families(rng, backend):
    net = _net("tanh", "linear", sizes=(3, 6, 5, 2))
    x = rng.standard_normal(3)
    J = net.jacobian(x)
    bnet, bx = backend.net(net), backend.arr(x)
    np.testing.assert_allclose(backend.np(feedback.jacobian_transpose(bnet, bx)), J.T,
                               rtol=0, atol=EXACT)
    assert tuple(feedback.jacobian_transpose(bnet, backend.arr(
        rng.standard_normal((4, 3)))).shape) == (4, 13, 2)
    P = backend.np(feedback.pseudoinverse(bnet, bx))
    np.testing.assert_allclose(J @ P, np.eye(2), atol=1e-12)          # full row rank
    np.testing.assert_allclose(P @ J @ P, P, atol=1e-12)
    assert _condition2_ratio(J, P) == pytest.approx(1.0, abs=1e-12)
    # damped pseudoinverse: J^T (J J^T + g I)^-1 = (J^T J + g I)^-1 J^T (push-through)
    g = 0.3
    Qd = backend.np(feedback.damped_pseudoinverse(bnet, bx, g))
    np.testing.assert_allclose(Qd, np.linalg.solve(J.T @ J + g * np.eye(13), J.T), atol=1e-12)
    np.testing.assert_allclose(backend.np(feedback.damped_pseudoinverse(bnet, bx, 0.0)), P,
                               atol=1e-10)
    assert _condition2_ratio(J, Qd) == pytest.approx(1.0, abs=1e-12)
    Qb = backend.np(feedback.damped_pseudoinverse(bnet, backend.arr(np.stack([x, x])), g))
    np.testing.assert_allclose(Qb[1], Qd, atol=EXACT)


def test_random_condition2_family(rng, backend):
    net = _net("tanh", "linear", sizes=(3, 6, 5, 2))
    x = rng.standard_normal(3)
    J = net.jacobian(x)
    Q = backend.np(feedback.random_condition2(backend.net(net), backend.arr(x), seed=5))
    np.testing.assert_allclose(Q, feedback.random_condition2(net, x, seed=5), atol=EXACT)
    assert _condition2_ratio(J, Q) == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.linalg.eigvals(J @ Q).real >= 0)
    again = feedback.random_condition2(backend.net(net), backend.arr(x), seed=5)
    np.testing.assert_array_equal(Q, backend.np(again))
    assert not np.allclose(Q, feedback.random_condition2(net, x, seed=6))
    # a random Gaussian Q generally violates Condition 2 (the metric can tell them apart)
    G = feedback.random_gaussian(net, seed=5)
    assert _condition2_ratio(J, G) < 0.9


def test_random_gaussian_family():
    net = Network.random([3, 300, 200, 50], seed=0)
    Q = feedback.random_gaussian(net, seed=1, scale=2.0)
    assert Q.shape == (550, 50)
    want = 2.0 / np.sqrt(50)
    assert abs(np.std(Q) / want - 1) < 5 / np.sqrt(2 * Q.size)
    np.testing.assert_array_equal(Q, feedback.random_gaussian(net, seed=1, scale=2.0))


# --------------------------------------------------------------------------- targets
def test_mse_target_closed_form(rng, backend):
    """r_L* = (1 - 2 lambda) r_L^- + 2 lambda y for Loss = ||y - r_L||^2 (THEORY.md 1)."""
    r, y, lam = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), 0.07
    np.testing.assert_allclose(backend.np(output_target(backend.arr(r), backend.arr(y), lam)),
                               (1 - 2 * lam) * r + 2 * lam * y, rtol=EXACT, atol=EXACT)
    # explicit batch scaling: batch-mean loss -> 1/B, element-wise mean -> 1/(B n_L)
    d = output_target(r, y, lam) - r
    np.testing.assert_allclose(output_target(r, y, lam, reduction="batch_mean") - r, d / 4,
                               atol=EXACT)
    np.testing.assert_allclose(output_target(r, y, lam, reduction="mean") - r, d / 12,
                               atol=EXACT)
    np.testing.assert_allclose(output_target(r[0], y[0], lam), output_target(r, y, lam)[0],
                               atol=EXACT)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["sum", "batch_mean", "mean"])
def test_loss_gradient_matches_central_differences(loss, reduction, rng, backend):
    r = rng.standard_normal((3, 4))
    y = rng.standard_normal((3, 4)) if loss == "mse" else np.array([0, 3, 1])
    g = backend.np(loss_gradient(backend.arr(r), y, loss, reduction))
    np.testing.assert_allclose(backend.np(loss_value(backend.arr(r), y, loss, reduction)),
                               loss_value(r, y, loss, reduction), rtol=EXACT)
    if reduction == "sum":  # per-sample losses: each sample's gradient separately
        g_fd = central_jacobian(lambda z: loss_value(z, y, loss, "sum")[:, None], r)[:, 0, :]
    else:
        flat = central_jacobian(
            lambda z: np.array([[loss_value(z.reshape(3, 4), y, loss, reduction)]]),
            r.reshape(1, -1))
        g_fd = flat.reshape(3, 4)
    np.testing.assert_allclose(g, g_fd, rtol=0, atol=FD_ATOL)


def test_cross_entropy_labels_equal_one_hot(rng, backend):
    r = backend.arr(rng.standard_normal((3, 4)))
    labels = np.array([2, 0, 3])
    g = backend.np(loss_gradient(r, labels, "cross_entropy"))
    np.testing.assert_allclose(g, backend.np(loss_gradient(r, np.eye(4)[labels], "cross_entropy")),
                               atol=EXACT)
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=EXACT)
