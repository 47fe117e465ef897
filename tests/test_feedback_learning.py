"""Tests of the sleep-phase feedback learning (THEORY.md section 4, Theorem 6, and section 6).

Oracles: Monte-Carlo averages of the noisy rule against the exact covariance propagation
(tolerance: Student-t z-scores over independent seeds), our closed form against the exact
discrete fixed point (tolerance: the O(dt) Euler error, checked as a slope), and stochastic
training against the stationary spread of SGD predicted from the measured update noise and
the learning Jacobian.
"""
import numpy as np
import pytest
import scipy.linalg

from dfc_theory import Network, feedback
from dfc_theory.feedback_learning import (
    DEFAULT_GAMMAS, FeedbackConfig, closed_form_feedback, closed_form_h, damped_pinv_family,
    expected_feedback_update, feedback_metrics, feedback_update, fit_damped_gamma,
    solve_feedback_fixed_point, train_feedback)


def small_net(act="linear", seed=1):
    return Network.random([4, 3, 2], activation=act, seed=seed)


def one_input(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (1, 4))


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("kw, match", [
    ({"alpha_fb": -1.0}, "alpha_fb"),
    ({"n_steps_fb": 1}, "n_steps_fb"),
    ({"n_steps_fb": 2.5}, "n_steps_fb"),
    ({"dt_fb": 0.02}, "dt_fb"),              # >= tau_v_fb = 0.01
    ({"sigma_fb": 0.0}, "sigma_fb"),
    ({"tau_A_fb": 0.001}, "dt_fb"),          # dt_fb > tau_A_fb
    ({"decay": "homeostatic"}, "homeostatic_C"),
    ({"decay": "l1"}, "decay"),
    ({"leak": "both"}, "leak"),
    ({"lr_fb": 0.0}, "lr_fb"),
    ({"beta": float("nan")}, "beta"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FeedbackConfig(**kw)


def test_bad_arguments_raise_clear_errors():
    net = small_net()
    Q = feedback.weight_product(net)
    x = one_input()
    with pytest.raises(ValueError, match="Q: expected shape"):
        feedback_update(net, Q[:, :1], x)
    with pytest.raises(ValueError, match="x: expected shape"):
        feedback_update(net, Q, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="network"):
        expected_feedback_update("net", Q, x)
    with pytest.raises(TypeError, match="config"):
        feedback_update(net, Q, x, config={"alpha_fb": 1})
    with pytest.raises(ValueError, match="non-finite"):
        feedback_update(net, Q * np.nan, x)
    with pytest.raises(ValueError, match="beta"):
        closed_form_feedback(net.jacobian(x[0]), 1.0, 0.0)
    with pytest.raises(ValueError, match="horizon"):
        closed_form_feedback(net.jacobian(x[0]), 1.0, 0.1, horizon=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        train_feedback(net, Q, np.zeros((4, 4)), batch_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        train_feedback(net, Q, np.zeros((4, 4)), optimizer="rmsprop")
    with pytest.raises(ValueError, match="J: expected shape"):
        fit_damped_gamma(Q, np.zeros((3, 5)))


def test_divergent_sleep_phase_raises(backend):
    """Q = -5 J^T violates Condition 3 (eig(J Q) = -5 eig(J J^T) < -alpha): the sleep
    dynamics blow up and the update refuses to return garbage."""
    net = small_net()
    x = one_input()
    Q = -5.0 * net.jacobian(x[0]).T
    cfg = FeedbackConfig.ideal(0.1, 0.1, dt_fb=0.01, n_steps_fb=3000)
    with pytest.raises(FloatingPointError, match="Condition 3"):
        backend.call(feedback_update, net, Q, x, cfg, seed=0)
    with pytest.raises(FloatingPointError):
        expected_feedback_update(net, Q, x, cfg)


# ------------------------------------------------------------------ the rule
def test_update_is_deterministic_given_seed_and_has_decay():
    net = small_net("tanh")
    x = np.random.default_rng(3).uniform(-1, 1, (8, 4))
    Q = feedback.random_gaussian(net, seed=2)
    cfg = FeedbackConfig(decay="homeostatic", homeostatic_C=2.0, beta=0.3)
    a, info = feedback_update(net, Q, x, cfg, seed=7, return_info=True)
    b = feedback_update(net, Q, x, cfg, seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(info["decay"], 0.3 * (np.sum(Q * Q) - 2.0) * Q, rtol=1e-14)
    np.testing.assert_allclose(a, -info["correlation"] / cfg.sigma_fb ** 2 - info["decay"],
                               rtol=1e-12)


def _mc_z(net, Q, x, cfg, n_seeds=30, batch=800):
    E = expected_feedback_update(net, Q, x, cfg)
    xs = np.repeat(x, batch, axis=0)
    est = np.array([feedback_update(net, Q, xs, cfg, seed=s) for s in range(n_seeds)])
    se = est.std(axis=0, ddof=1) / np.sqrt(n_seeds)
    return np.abs(est.mean(axis=0) - E) / se


# Student t with 29 dof: P(|t| > 4.5) ~ 1e-4 per entry, 10 entries -> ~1e-3 false alarms.
Z_MAX = 4.5


@pytest.mark.parametrize("cfg", [
    FeedbackConfig(),                                                      # reference settings
    FeedbackConfig.ideal(1.0, 0.1, dt_fb=0.01, n_steps_fb=100, sigma_fb=0.2),
    FeedbackConfig(leak="integral", sigma_out=0.02, proactive=True,
                   instantaneous_transmission=False, tau_A_fb=None, k_p_fb=0.0),
], ids=["reference", "ideal", "variants"])
def test_monte_carlo_matches_exact_expectation_linear(cfg):
    """Linear network: the sleep phase is linear Gaussian, so the covariance propagation is
    the exact expectation of the noisy rule for any sigma."""
    net = small_net("linear")
    Q = np.random.default_rng(0).normal(size=(5, 2)) * 0.5
    assert _mc_z(net, Q, one_input(), cfg).max() < Z_MAX


def test_monte_carlo_small_sigma_limit_tanh_and_power():
    """tanh network: the expected update is the sigma -> 0 limit.  At sigma = 1e-3 the
    Monte-Carlo mean agrees within sampling error; at sigma = 1 the nonlinearity makes it
    differ detectably (so the comparison has power)."""
    net = small_net("tanh")
    Q = np.random.default_rng(0).normal(size=(5, 2)) * 0.5
    x = one_input()
    assert _mc_z(net, Q, x, FeedbackConfig(sigma_fb=1e-3)).max() < Z_MAX
    assert _mc_z(net, Q, x, FeedbackConfig(sigma_fb=1.0), n_seeds=20).max() > 2 * Z_MAX


def test_expected_update_noise_term_is_J_transpose_in_ideal_setting():
    """At Q = 0 the controller never feeds back (u is driven by the noise only through J):
    E[dQ] = J^T exactly (up to the O(dt) discretisation of nothing: the pairing is exact)."""
    net = small_net("tanh")
    x = one_input()
    cfg = FeedbackConfig.ideal(0.5, 0.2, dt_fb=0.01, n_steps_fb=50)
    E = expected_feedback_update(net, np.zeros((5, 2)), x, cfg)
    np.testing.assert_allclose(E, net.jacobian(x[0]).T, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ closed form (ours)
def test_closed_form_h_identities():
    g = np.array([0.0, 1e-9, 0.3, 1.0, 7.0, 1e6])
    alpha, beta = 0.7, 0.05
    h = closed_form_h(g, alpha, beta)
    y = g * h
    # y = g h is the positive root of 2 beta y^2 + (2 alpha beta - g) y - 2 alpha g = 0
    resid = 2 * beta * y ** 2 + (2 * alpha * beta - g) * y - 2 * alpha * g
    scale = 2 * beta * y ** 2 + np.abs(2 * alpha * beta - g) * y + 2 * alpha * g
    assert np.all(np.abs(resid) <= 1e-14 * scale + 1e-300)
    assert h[0] == pytest.approx(1 / beta, rel=1e-14)
    assert np.all(np.diff(h) < 0) and h[-1] > 1 / (2 * beta)   # 1/beta -> 1/(2 beta)
    np.testing.assert_allclose(closed_form_h(g, 0.0, beta), 1 / (2 * beta), rtol=1e-14)
    # large alpha: h -> 2 alpha / (g + 2 alpha beta); one Newton step on the quadratic gives
    # the relative error g^2 / (2 alpha^2 beta^2) (1 + O(1/alpha)), i.e. slope 2 in alpha
    errs = [abs(closed_form_h(1.0, a, beta) / (2 * a / (1 + 2 * a * beta)) - 1)
            for a in (1e3, 1e4)]
    assert np.log10(errs[0] / errs[1]) == pytest.approx(2.0, abs=0.02)
    assert errs[1] == pytest.approx(1 / (2 * 1e8 * beta ** 2), rel=0.01)


def test_closed_form_satisfies_conditions_2_and_3_even_for_alpha_zero():
    net = Network.random([6, 5, 3], activation="tanh", seed=4)
    x = np.random.default_rng(1).uniform(-1, 1, 6)
    J = net.jacobian(x)
    for alpha in (0.0, 0.3):
        Q = closed_form_feedback(J, alpha, 0.1)
        JQ = J @ Q
        np.testing.assert_allclose(JQ, JQ.T, atol=1e-12)
        assert np.linalg.eigvalsh(JQ).min() > 0                    # Condition 3, any alpha >= 0
        assert feedback_metrics(net, Q, x)["condition2"] == pytest.approx(1.0, abs=1e-12)


def test_closed_form_matches_exact_fixed_point_with_euler_order_one():
    """Our closed form (finite horizon T) against the exact fixed point of the expected
    discrete rule in its setting (linear, tau_v = 0, k_p = 0, tau_A = dt): the only
    difference is the Euler discretisation, so the error must fall like dt (slope 1)."""
    net = small_net("linear")
    x = one_input()
    J = net.jacobian(x[0])
    alpha, beta, T = 1.0, 0.1, 5.0
    Qc = closed_form_feedback(J, alpha, beta, horizon=T)
    errs = []
    for dt in (0.01, 0.005):
        cfg = FeedbackConfig.ideal(alpha, beta, dt_fb=dt, n_steps_fb=int(round(T / dt)))
        Qfp, res = solve_feedback_fixed_point(net, x, cfg)
        assert res < 1e-10
        errs.append(np.linalg.norm(Qfp - Qc) / np.linalg.norm(Qc))
    slope = np.log2(errs[0] / errs[1])
    assert 0.8 < slope < 1.3, (errs, slope)
    # and the stationary closed form is the T -> infinity limit of the finite-T one (O(1/T))
    Qinf = closed_form_feedback(J, alpha, beta)
    d = [np.linalg.norm(closed_form_feedback(J, alpha, beta, horizon=t) - Qinf) for t in (40, 80)]
    assert np.log2(d[0] / d[1]) == pytest.approx(1.0, abs=0.1)


def test_short_horizon_limit_is_a_damped_pseudoinverse():
    """Finite-T closed form: for T -> 0, S_T = g T / 2 (1 - 2 a T / 3 + O(T^2)), so
    Q = J^T (S_T + beta)^{-1} -> (2/T) J^T (J J^T + (2 beta / T) I)^{-1} with relative error
    (g a T^2 / 3) / (g T / 2 + beta): slope 2 in T while g T << beta (here g T / beta ~ 1e-2)."""
    J = small_net("linear").jacobian(one_input()[0])
    beta = 0.1
    errs = []
    for T in (1e-3, 5e-4):
        Q = closed_form_feedback(J, 0.5, beta, horizon=T)
        P = (2 / T) * damped_pinv_family(J, [2 * beta / T])[0]
        errs.append(np.linalg.norm(Q - P) / np.linalg.norm(P))
    assert np.log2(errs[0] / errs[1]) == pytest.approx(2.0, abs=0.1)


# ------------------------------------------------------------------ fitting gamma
def test_damped_family_matches_feedback_module():
    net = Network.random([5, 4, 3], activation="tanh", seed=2)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 5))
    J = net.jacobian(x)
    fam = damped_pinv_family(J, [0.0, 0.7, np.inf])
    np.testing.assert_allclose(fam[0], np.linalg.pinv(J), atol=1e-12)
    np.testing.assert_allclose(fam[1], feedback.damped_pseudoinverse(net, x, 0.7), atol=1e-12)
    np.testing.assert_allclose(fam[2], np.swapaxes(J, 1, 2))
    # rank-deficient J (two equal output rows): gamma = 0 is still the pseudoinverse
    Jd = np.vstack([J[0, :1], J[0, :1], J[0, 1:2]])
    np.testing.assert_allclose(damped_pinv_family(Jd, [0.0])[0], np.linalg.pinv(Jd), atol=1e-10)


@pytest.mark.parametrize("gamma0", [0.03, 2.0, 40.0])
def test_fit_recovers_known_gamma(gamma0):
    J = Network.random([6, 5, 3], activation="tanh", seed=5).jacobian(np.linspace(-1, 1, 6))
    Q = 3.7 * damped_pinv_family(J, [gamma0])[0]
    fit = fit_damped_gamma(Q, J)
    assert fit.gamma == pytest.approx(gamma0, rel=1e-3)
    assert fit.angle < 1e-3 and fit.scale == pytest.approx(3.7, rel=1e-6)
    assert fit_damped_gamma(np.linalg.pinv(J), J).gamma == 0.0
    assert fit_damped_gamma(J.T, J).gamma == np.inf


def test_fit_single_output_gamma_not_identifiable():
    net = Network.random([4, 3, 1], activation="tanh", seed=0)
    J = net.jacobian(np.ones(4))
    fit = fit_damped_gamma(2.0 * damped_pinv_family(J, [0.5])[0] + 0.1, J)
    assert np.isnan(fit.gamma)
    assert fit.angle == fit.angle_pinv == fit.angle_transpose > 0


# ------------------------------------------------------------------ learning converges
def _learning_jacobian(net, Q, x, cfg, h=1e-6):
    f = lambda q: expected_feedback_update(net, q.reshape(Q.shape), x, cfg).ravel()  # noqa
    n = Q.size
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[:, i] = (f(Q.ravel() + e) - f(Q.ravel() - e)) / (2 * h)
    return H


def test_stochastic_training_reaches_fixed_point_within_sgd_spread():
    """From a random Q, noisy sleep-phase SGD approaches the fixed point Q* of the expected
    rule.  Tolerance: the stationary spread of linearised SGD,
    Q_{n+1} - Q* = (I + lr H)(Q_n - Q*) + lr xi_n, whose covariance P solves the discrete
    Lyapunov equation P = A P A^T + lr^2 Cov(xi) (H: learning Jacobian, Cov(xi): measured
    update noise at Q*); we allow ||Q - Q*|| < 4 sqrt(tr P) after the transient has decayed.
    Condition 2 then holds to 1 - c2 <= ||Q - Q*||^2 / ||Q||^2 (P_perp Q* = 0), Condition 3
    holds, and the angle with the best damped pseudoinverse is bounded by the triangle
    inequality for angles."""
    net = small_net("linear")
    x = one_input()
    cfg = FeedbackConfig.ideal(1.0, 0.1, dt_fb=0.01, n_steps_fb=200, sigma_fb=0.05, lr_fb=1.0)
    Qs, _ = solve_feedback_fixed_point(net, x, cfg)
    H = _learning_jacobian(net, Qs, x, cfg)
    A = np.eye(H.shape[0]) + cfg.lr_fb * H
    rho = np.abs(np.linalg.eigvals(A)).max()
    assert rho < 1                                          # the fixed point is stable for SGD
    batch = 16
    xb = np.repeat(x, batch, axis=0)
    xi = np.array([feedback_update(net, Qs, xb, cfg, seed=1000 + s).ravel() for s in range(60)])
    P = scipy.linalg.solve_discrete_lyapunov(A, cfg.lr_fb ** 2 * np.cov(xi.T))
    spread = np.sqrt(np.trace(P))
    Q0 = feedback.random_gaussian(net, seed=3)
    n_up = int(np.ceil(np.log(1e-4) / np.log(rho)))         # transient below 1e-4 of the start
    Q, log = train_feedback(net, Q0, np.repeat(x, n_up * batch, axis=0), cfg, epochs=1,
                            batch_size=batch, seed=11, log_every=max(1, n_up // 10))
    J = net.jacobian(x[0])
    dist = np.linalg.norm(Q - Qs)
    assert dist < 4 * spread + 1e-4 * np.linalg.norm(Q0 - Qs), (dist, spread)
    assert log.condition2[0] < 0.9
    assert log.condition2[-1] >= 1 - (dist / np.linalg.norm(Q)) ** 2
    assert log.min_real_eig[-1] > -cfg.alpha_fb
    ang = np.degrees(np.arccos(np.sum(Q * Qs) / np.linalg.norm(Q) / np.linalg.norm(Qs)))
    assert fit_damped_gamma(Q, J).angle <= fit_damped_gamma(Qs, J).angle + ang + 1e-9
    # the log records the run
    assert log.updates[-1] == n_up and log.angle_damped.shape == (len(log.updates),
                                                                 len(DEFAULT_GAMMAS))


def test_expected_training_converges_to_solver_root():
    net = small_net("tanh")
    xs = np.random.default_rng(5).uniform(-1, 1, (6, 4))
    cfg = FeedbackConfig(lr_fb=2.0)
    Qs, res = solve_feedback_fixed_point(net, xs, cfg, Q0=feedback.weight_product(net))
    assert res < 1e-10
    Q, log = train_feedback(net, feedback.random_gaussian(net, seed=1), xs, cfg, epochs=1500,
                            expected=True, shuffle=False, log_every=500)
    assert np.linalg.norm(Q - Qs) / np.linalg.norm(Qs) < 1e-6
    assert log.condition2[-1] > log.condition2[0]


def test_finite_tau_v_breaks_condition2_at_the_fixed_point():
    """Theorem 6 assumes tau_v << tau_u.  With the reference's finite somatic time constant
    the layers respond to the noise with different delays, and the fixed point of the rule
    leaves the row space of J slightly; the deviation vanishes with tau_v and is exactly
    zero for the instantaneous system (linear network: J is the same for all inputs)."""
    net = Network.random([6, 5, 3], activation="linear", seed=2)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 6))
    J = net.jacobian(x[0])
    dev = []
    for tau_v in (0.02, 0.01, 0.005, 0.0):
        cfg = FeedbackConfig(tau_v_fb=tau_v)
        Qs, res = solve_feedback_fixed_point(net, x, cfg, Q0=J.T)
        assert res < 1e-9
        dev.append(1 - feedback_metrics(net, Qs, x)["condition2"])
    assert dev[0] > dev[1] > dev[2] > 1e-6 and dev[3] < 1e-12, dev


def test_adam_optimizer_runs_and_improves_alignment():
    net = small_net("linear")
    x = one_input()
    cfg = FeedbackConfig.ideal(1.0, 0.1, dt_fb=0.01, n_steps_fb=100, lr_fb=0.05)
    Q, log = train_feedback(net, feedback.random_gaussian(net, seed=3), np.repeat(x, 3200, 0),
                            cfg, batch_size=16, seed=0, optimizer="adam", log_every=50)
    assert log.angle_transpose[-1] < log.angle_transpose[0] / 4


# ------------------------------------------------------------------ both backends
def _fb_case():
    net = Network.random([5, 6, 4, 3], seed=2, bias_scale=0.1)
    xs = np.random.default_rng(4).uniform(-1, 1, (10, 5))
    Q = feedback.random_gaussian(net, seed=3, scale=0.5)
    cfg = FeedbackConfig(alpha_fb=0.5, k_p_fb=0.2, tau_v_fb=0.01, dt_fb=0.002, n_steps_fb=40,
                         sigma_fb=0.05, sigma_out=0.02, tau_A_fb=0.1, lr_fb=0.05, beta=0.02)
    return net, xs, Q, cfg


def test_feedback_update_is_the_same_on_every_backend(backend):
    """With the noise of one NumPy Generator the Monte Carlo rule gives the same dQ on every
    backend (rounding aside), for weight decay and the homeostatic variant."""
    net, xs, Q, cfg = _fb_case()
    a, ia = feedback_update(net, Q, xs, cfg, seed=np.random.default_rng(8), return_info=True)
    b, ib = backend.call(feedback_update, net, Q, xs, cfg, seed=np.random.default_rng(8),
                         return_info=True)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10 * np.abs(a).max())
    np.testing.assert_allclose(ib["correlation"], ia["correlation"], rtol=1e-10, atol=0)
    assert ib["u_rms"] == pytest.approx(ia["u_rms"], rel=1e-10)
    hom = cfg.replace(decay="homeostatic", homeostatic_C=2.0)
    want = feedback_update(net, Q, xs, hom, seed=np.random.default_rng(1))
    np.testing.assert_allclose(backend.call(feedback_update, net, Q, xs, hom,
                                            seed=np.random.default_rng(1)),
                               want, rtol=0, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_feedback_is_the_same_on_every_backend(optimizer, backend):
    net, xs, Q, cfg = _fb_case()
    Qa, la = train_feedback(net, Q, xs, cfg, epochs=2, batch_size=4, seed=5,
                            optimizer=optimizer)
    Qb, lb = backend.call(train_feedback, net, Q, xs, cfg, epochs=2, batch_size=4, seed=5,
                          optimizer=optimizer)
    np.testing.assert_allclose(Qb, Qa, rtol=0, atol=1e-10 * np.abs(Qa).max())
    for k in ("condition2", "angle_transpose", "angle_damped", "min_real_eig", "q_norm"):
        np.testing.assert_allclose(getattr(lb, k), getattr(la, k), rtol=1e-9, atol=1e-12)
    assert (la.optimizer is None) == (optimizer == "sgd")
