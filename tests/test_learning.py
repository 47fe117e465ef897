"""Forward learning rules (THEORY.md section 6): DFC, DFC-SS, DFC-SSA, BP, DFA.

Oracles: brute-force recomputation from a recorded trajectory, the exact (Newton) steady
state, closed forms (Q = J^T gives the damped minimum-norm signal; DFA with weight-product
feedback on a linear network is BP), finite differences of the loss, and rates in lambda
and in the simulated horizon T measured by log-log fits.
"""
import numpy as np
import pytest

from dfc_theory import (Controller, DFCSystem, Network, feedback, loss_gradient, loss_value,
                        output_target, simulate, steady_state)
from dfc_theory.gauss_newton import bp_update, min_norm_update
from dfc_theory.learning import (RULES, TimeAveragedRule, dfa_as_feedback, dfa_feedback,
                                 dfa_update, fixed_feedback, forward_update, rule_at_state)

EXACT = 1e-12  # identities that differ only by floating-point rounding


def _case(seed=1, sizes=(4, 5, 3, 2), B=6, activation="tanh", output_activation="linear"):
    net = Network.random(sizes, activation=activation, output_activation=output_activation,
                         seed=seed, bias_scale=0.2)
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(-1, 1, (B, sizes[0]))
    y = rng.normal(size=(B, sizes[-1]))
    return net, x, y


def _slope(xs, ys):
    return np.polyfit(np.log(xs), np.log(ys), 1)[0]


# ----------------------------------------------------------------------- time average
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("output_activation", ["linear", "sigmoid"])
def test_time_averaged_rule_equals_brute_force_over_recorded_trajectory(rule,
                                                                        output_activation,
                                                                        backend):
    net, x, y = _case(output_activation=output_activation)
    c = Controller(alpha=0.01, k_p=1.5, tau_v=0.2, leak="total")
    Q = feedback.weight_product(net)
    tgt = output_target(net.forward(x).r[-1], y, 0.05)
    T = 300
    fr = backend.call(forward_update, net, x, tgt, "dfc", Q=Q, controller=c, rule=rule, n_steps=T)
    res = simulate(DFCSystem(net, Q, c), x, tgt, n_steps=T, record="full")
    # with instantaneous transmission the basal drive at step t is W_i phi(v_{i-1}[t]) + b_i
    brute = [rule_at_state(net, x, res.v[k], net.basal(x, res.v[k]), rule).vector()
             for k in range(1, T + 1)]
    brute = np.mean(brute, axis=0)
    got = fr.update.vector()
    assert np.max(np.abs(got - brute)) <= EXACT * np.max(np.abs(brute))
    assert fr.info["n_steps"] == T


def test_time_average_tends_to_the_steady_state_rule_like_one_over_T(backend):
    # Delta W_dfc(T) - Delta W_ss = (1/T) int_0^T (a(t) r(t)^T - a_ss r_ss^T) dt -> C / T
    # once the transient has decayed: log-log slope -1.
    net, x, y = _case(seed=3)
    c = Controller(alpha=0.5, k_p=0.0, tau_v=0.05, leak="total")
    Q = feedback.weight_product(net)
    tgt = output_target(net.forward(x).r[-1], y, 0.01)
    sys_ = DFCSystem(net, Q, c)
    ss = steady_state(sys_, x, tgt, method="newton")
    ref = rule_at_state(net, x, ss.v, ss.v_ff, "voltage").vector()
    Ts = np.array([2000, 4000, 8000])
    errs = [np.linalg.norm(backend.call(forward_update, net, x, tgt, "dfc", Q=Q, controller=c,
                                          rule="voltage", dt=0.01, n_steps=T).update.vector()
                           - ref) for T in Ts]
    assert -1.02 <= _slope(Ts, errs) <= -0.98


# ----------------------------------------------------------------------- DFC-SS vs DFC-SSA
def test_dfc_ss_is_the_exact_steady_state_and_dfc_ssa_matches_it_to_second_order(backend):
    # The Euler fixed point is the exact steady state, so DFC-SS equals the rule at the
    # Newton steady state (to the simulation's convergence); DFC-SSA differs by O(lambda^2)
    # (Lemma 1: u_ssa - u_ss = O(lambda^2), and r_ssa - r_ss = O(lambda^2)).
    net, x, y = _case(seed=2)
    c = Controller(alpha=0.5, k_p=0.0, tau_v=0.05, leak="total")
    Q = feedback.weight_product(net)
    lams = np.logspace(-3.5, -1.5, 5)
    diffs, sim_errs = [], []
    for lam in lams:
        tgt = output_target(net.forward(x).r[-1], y, lam)
        ss_sim = backend.call(forward_update, net, x, tgt, "dfc-ss", Q=Q, controller=c,
                              rule="voltage",
                                dt=0.01, n_steps=4000)
        ssa = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q=Q, controller=c,
                           rule="voltage")
        exact = steady_state(DFCSystem(net, Q, c), x, tgt, method="newton")
        ref = rule_at_state(net, x, exact.v, exact.v_ff, "voltage").vector()
        assert np.all(ss_sim.converged)
        diffs.append(np.linalg.norm(ssa.update.vector() - ref))
        sim_errs.append(np.linalg.norm(ss_sim.update.vector() - ref))
    # the simulated steady state is the exact one, to far below the O(lambda^2) effect
    # measured below (the floor is rounding in v - v_ff, ~eps ||v|| per entry)
    assert np.all(np.array(sim_errs) <= 1e-3 * np.array(diffs))
    assert 1.9 <= _slope(lams, diffs) <= 2.1


@pytest.mark.parametrize("leak,k_p", [("total", 0.0), ("integral", 2.0)])
def test_dfc_ssa_with_jacobian_transpose_gives_the_damped_min_norm_signal(leak, k_p, backend):
    # Q = J^T: v - v_ff = Q (J Q + alpha_eff I)^{-1} delta = J^T (J J^T + alpha_eff I)^{-1} delta,
    # exactly the damped minimum-norm signal a with gamma = alpha_eff.  The bias part is a
    # itself (identity to rounding); the weight part uses r^ssa instead of r^-, an O(lambda)
    # relative change, so the difference scales as lambda^2.
    net, x, y = _case(seed=4, B=1)
    c = Controller(alpha=0.3, k_p=k_p, tau_v=0.2, leak=leak)
    Q = feedback.jacobian_transpose(net, x[0])
    lams = np.logspace(-4, -2, 4)
    diffs = []
    for lam in lams:
        tgt = output_target(net.forward(x).r[-1], y, lam)
        delta = tgt - net.forward(x).r[-1]
        got = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q=Q, controller=c,
                           rule="voltage").update
        mn = backend.call(min_norm_update, net, x, delta, gamma=c.alpha_eff)
        for gb, mb in zip(got.db, mn.db):
            np.testing.assert_allclose(gb, mb, rtol=1e-10, atol=EXACT * np.abs(mb).max())
        diffs.append(np.linalg.norm(np.concatenate([(g - m).ravel() for g, m in
                                                    zip(got.dW, mn.dW)])))
    assert 1.9 <= _slope(lams, diffs) <= 2.1


def test_ssa_state_has_voltage_difference_Qu_exactly(backend):
    net, x, y = _case(seed=5)
    c = Controller(alpha=0.1, k_p=1.0, tau_v=0.2, leak="total")
    Q = feedback.random_gaussian(net, seed=0)
    tgt = output_target(net.forward(x).r[-1], y, 0.05)
    fr = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q=Q, controller=c, rule="voltage")
    np.testing.assert_allclose(fr.v - fr.v_ff, fr.u @ Q.T, atol=EXACT)
    # nonlinear rule: phi(v) - phi(v_ff) at the same state
    nl = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q=Q, controller=c,
                      rule="nonlinear").update
    fp = net.forward(x, delta=fr.u @ Q.T)
    a1 = np.tanh(fp.v[0]) - np.tanh(fp.v[0] - (fr.u @ Q.T)[:, :5])
    np.testing.assert_allclose(nl.dW[0], a1.T @ x / x.shape[0], atol=EXACT)
    np.testing.assert_allclose(nl.db[1], (np.tanh(fp.v[1]) - np.tanh(
        fp.v[1] - (fr.u @ Q.T)[:, 5:8])).mean(axis=0), atol=EXACT)


def test_fixed_feedback_is_the_weight_product_of_the_current_network(backend):
    net, x, y = _case(seed=6)
    c = Controller(alpha=0.1, k_p=1.0, tau_v=0.2, leak="total")
    tgt = output_target(net.forward(x).r[-1], y, 0.05)
    a = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q="fixed", controller=c).update
    b = backend.call(forward_update, net, x, tgt, "dfc-ssa", Q=feedback.weight_product(net),
                       controller=c).update
    np.testing.assert_array_equal(a.vector(), b.vector())
    Qf = fixed_feedback(net)
    np.testing.assert_array_equal(Qf[-2:], np.eye(2))
    np.testing.assert_allclose(Qf[5:8], net.weights[2].T, atol=0)


# ----------------------------------------------------------------------- BP and DFA
def test_bp_method_is_minus_lambda_times_the_finite_difference_gradient(backend):
    net, x, y = _case(seed=7)
    lam = 0.05
    r = net.forward(x).r[-1]
    tgt = output_target(r, y, lam, reduction="mean")
    got = backend.call(forward_update, net, x, tgt, "bp").update.vector()
    theta = net.params_vector()

    def loss(th):
        W, b = net.split_params(th)
        return loss_value(net.with_params(W, b).forward(x).r[-1], y, reduction="mean")

    h = 1e-6
    grad = np.array([(loss(theta + h * e) - loss(theta - h * e)) / (2 * h)
                     for e in np.eye(theta.size)])
    # (1/B) sum_b J_theta^T delta_b with delta = -lambda dLoss_mean/dr = -(lambda/B) grad
    expected = -lam * grad / x.shape[0]
    # central differences: truncation O(h^2 f''') ~ 1e-12, rounding ~ eps |f| / h ~ 1e-10
    np.testing.assert_allclose(got, expected, atol=1e-9 * np.abs(expected).max() + 1e-12)


def test_dfa_with_weight_product_feedback_on_a_linear_network_is_bp(backend):
    net, x, y = _case(seed=8, activation="linear")
    delta = -0.05 * loss_gradient(net.forward(x).r[-1], y)
    Qwp = feedback.weight_product(net)
    B_fb = tuple(b for b in net.split(Qwp.T)[:-1])
    B_fb = tuple(b.T for b in B_fb)
    np.testing.assert_allclose(backend.call(dfa_update, net, x, delta, B_fb).vector(),
                               backend.call(bp_update, net, x, delta).vector(), atol=EXACT)
    np.testing.assert_array_equal(dfa_as_feedback(net, B_fb), Qwp)


def test_dfa_output_layer_equals_bp_and_hidden_layers_use_random_feedback(backend):
    net, x, y = _case(seed=9)
    tgt = output_target(net.forward(x).r[-1], y, 0.05)
    B_fb = dfa_feedback(net, seed=0)
    assert [b.shape for b in B_fb] == [(5, 2), (3, 2)]
    dfa = backend.call(forward_update, net, x, tgt, "dfa", dfa_feedback=B_fb).update
    bp = backend.call(forward_update, net, x, tgt, "bp").update
    np.testing.assert_allclose(dfa.dW[-1], bp.dW[-1], atol=EXACT)
    fp = net.forward(x)
    e1 = (1 - np.tanh(fp.v[0]) ** 2) * ((tgt - fp.r[-1]) @ B_fb[0].T)
    np.testing.assert_allclose(dfa.dW[0], e1.T @ x / x.shape[0], atol=EXACT)
    assert not np.allclose(dfa.dW[0], bp.dW[0])


# ----------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument(backend):
    net, x, y = _case()
    c = Controller(alpha=0.1, k_p=1.0, tau_v=0.2, leak="total")
    tgt = output_target(net.forward(x).r[-1], y, 0.05)
    Q = feedback.weight_product(net)
    with pytest.raises(ValueError, match="method"):
        backend.call(forward_update, net, x, tgt, "dfc-foo", Q=Q, controller=c)
    with pytest.raises(ValueError, match="rule"):
        backend.call(forward_update, net, x, tgt, "dfc", Q=Q, controller=c, rule="hebb")
    with pytest.raises(ValueError, match="dt"):
        backend.call(forward_update, net, x, tgt, "dfc", Q=Q, controller=c, dt=0.2)
    with pytest.raises(TypeError, match="controller"):
        backend.call(forward_update, net, x, tgt, "dfc-ss", Q=Q)
    with pytest.raises(ValueError, match="Q"):
        backend.call(forward_update, net, x, tgt, "dfc-ssa", controller=c)
    with pytest.raises(ValueError, match="Q"):
        backend.call(forward_update, net, x, tgt, "dfc-ssa", Q="learned", controller=c)
    with pytest.raises(ValueError, match="dfa_feedback"):
        backend.call(forward_update, net, x, tgt, "dfa")
    with pytest.raises(ValueError, match="target"):
        backend.call(forward_update, net, x, tgt[:, :1], "bp")
    with pytest.raises(ValueError, match="v_ff"):
        rule_at_state(net, x, np.zeros((6, 10)), np.zeros((6, 9)))
    acc = TimeAveragedRule(net, 6)
    with pytest.raises(RuntimeError, match="no simulation step"):
        acc.update(x)
