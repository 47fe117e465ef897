"""Steady states (THEORY.md section 3): SSA (Lemma 1), exact Newton, simulated; the
metamorphic identities of section 4 ("further exact identities"); a Hypothesis property over
generated stable systems.

Oracles: the steady-state equations evaluated independently (forward pass with delta = Q u),
closed forms, long simulations, and identities between solvers.
"""
import numpy as np
import pytest
from hypothesis import assume, given

from dfc_theory import Controller, DFCSystem, Network, simulate, steady_state

from _cases import Q_FAMILIES, make_case, rest_abscissa, rest_state, stabilised
from dfc_theory.testing.strategies import systems

EXACT = 1e-12
# Two evaluations of F(u) at the same u may differ by rounding (BLAS blocks a sub-batch
# differently): ~ depth x width x eps x ||r_L*||, so compare reported residuals to this.
F_ROUNDING = 1e-13

# integral-leak k_p is kept at 0.2: alpha_tilde = alpha/(1 + alpha k_p) < 1/k_p must still
# reach the Condition-3 margin of random feedback weights
SETTINGS = [("integral", 0.0), ("total", 0.0), ("integral", 0.2), ("total", 1.5)]


def _case(leak="integral", k_p=0.0, family="weight_product", activation="tanh",
          out="linear", lam=0.1, tau_v=0.2, alpha=0.1, seed=2, batch=4, margin=None):
    """A fixed case; with ``margin`` alpha is replaced so that alpha_eff I + J Q has
    eigenvalues with real part >= margin (a well-posed steady state for any Q family)."""
    case = make_case((4, 6, 5, 3), activation, out, family, batch=batch, lam=lam, seed=seed,
                     alpha=alpha, k_p=k_p, tau_v=tau_v, leak=leak)
    return case if margin is None else stabilised(case, margin)


def _residual(system, x, target, u):
    """F(u) = alpha_eff u - r_L* + r_L(u), r_L(u) from v_i = W_i phi(v_{i-1}) + b_i + Q_i u."""
    r_L = system.network.forward(x, delta=u @ system.Q.T).output
    return system.controller.alpha_eff * u - target + r_L


# --------------------------------------------------------------------------- Newton and SSA
@pytest.mark.parametrize("family", Q_FAMILIES)
@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_first_newton_step_is_ssa(leak, k_p, family, backend):
    """Newton's first step from u = 0 is u = (J Q + alpha_tilde I)^{-1} delta_L (Lemma 1).

    The identity concerns the full (undamped) step; lambda = 0.02 makes ||F|| after it
    O(lambda^2) < ||F(0)|| = ||delta_L||, so the backtracking line search accepts it."""
    case = _case(leak, k_p, family, out="tanh", lam=0.02, margin=0.3)
    sysm, x, t = case.system, case.x, case.target
    one = backend.call(steady_state, sysm, x, t, max_iter=1)
    ssa = backend.call(steady_state, sysm, x, t, method="ssa")
    assert one.iterations == 1 and not np.any(one.converged)  # one step is not the answer
    F0 = np.linalg.norm(t - sysm.network.forward(x).output, axis=1)
    assert np.all(one.residual < F0)  # the step reduced ||F||
    scale = np.abs(ssa.u).max()
    np.testing.assert_allclose(one.u, ssa.u, rtol=0, atol=EXACT * scale)
    np.testing.assert_allclose(one.v, ssa.v, rtol=0, atol=EXACT * max(1, np.abs(ssa.v).max()))


@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_ssa_is_lemma1_propagated_nonlinearly(leak, k_p, backend):
    case = _case(leak, k_p, "random_gaussian", out="sigmoid", alpha=0.8)
    sysm, x, t = case.system, case.x, case.target
    net, Q, c = sysm.network, sysm.Q, sysm.controller
    ssa = backend.call(steady_state, sysm, x, t, method="ssa")
    delta = t - net.forward(x).output
    u = np.stack([np.linalg.solve(net.jacobian(x[b]) @ Q + c.alpha_eff * np.eye(3), delta[b])
                  for b in range(len(x))])
    np.testing.assert_allclose(ssa.u, u, rtol=0, atol=EXACT * np.abs(u).max())
    # v_i = Delta v_i + W_i r_{i-1}^ssa + b_i, layer by layer from the input
    dv = net.split(u @ Q.T)
    r = x
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        v = dv[i] + r @ W.T + b
        np.testing.assert_allclose(net.split(ssa.v)[i], v, rtol=0, atol=EXACT)
        r = net.phi(i + 1).f(v)
    np.testing.assert_allclose(ssa.r_L, r, rtol=0, atol=EXACT)
    np.testing.assert_allclose(ssa.delta_v, u @ Q.T, rtol=0, atol=EXACT)
    assert ssa.method == "ssa" and ssa.iterations == 0
    # SSA is not the exact steady state: its residual is O(lambda^2) but not zero, so it is
    # not converged at the default tolerance; ``converged`` follows the stated tolerance
    assert np.all(ssa.residual > 1e-8) and not np.any(ssa.converged)
    tol = 2 * ssa.residual.max() / np.maximum(1, np.linalg.norm(t, axis=1)).min()
    loose = backend.call(steady_state, sysm, x, t, method="ssa", tol=tol)
    assert np.all(loose.converged) and loose.info["tol"] == tol


@pytest.mark.parametrize("activation,out", [("tanh", "linear"), ("sigmoid", "tanh"),
                                            ("softplus", "sigmoid"), ("leaky_relu", "linear")])
@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_newton_solves_the_steady_state_equations(leak, k_p, activation, out, backend):
    case = _case(leak, k_p, "random_gaussian", activation, out, lam=0.3, margin=0.1)
    sysm, x, t = case.system, case.x, case.target
    ss = backend.call(steady_state, sysm, x, t)
    assert np.all(ss.converged) and ss.method == "newton" and 1 <= ss.iterations <= 10
    F = _residual(sysm, x, t, ss.u)
    tol = EXACT * np.maximum(1, np.linalg.norm(t, axis=1))
    assert np.all(np.linalg.norm(F, axis=1) <= tol)
    np.testing.assert_allclose(ss.residual, np.linalg.norm(F, axis=1), rtol=0,
                               atol=F_ROUNDING * max(1.0, np.linalg.norm(t, axis=1).max()))
    # every layer at rest: v = v^ff(v) + Q u, with v_ff the basal drive at that state
    net = sysm.network
    np.testing.assert_allclose(ss.v_ff, net.basal(x, ss.v), rtol=0, atol=EXACT)
    np.testing.assert_allclose(ss.delta_v, ss.u @ sysm.Q.T, rtol=0, atol=EXACT)
    np.testing.assert_allclose(ss.v, ss.v_ff + ss.delta_v, rtol=0, atol=EXACT)
    np.testing.assert_allclose(ss.r_L, net.phi(3).f(ss.v[:, -3:]), rtol=0, atol=EXACT)


def test_newton_converges_quadratically(backend):
    """Order of convergence p = log(r_{k+1}/r_k) / log(r_k/r_{k-1}) ~ 2 on the last three
    residuals above the rounding floor (a wrong Jacobian would give p ~ 1)."""
    case = _case("integral", 0.2, "random_gaussian", "tanh", "tanh", lam=0.3, margin=0.1)
    sysm, x, t = case.system, case.x, case.target
    res = [np.linalg.norm(_residual(sysm, x, t, np.zeros_like(t)), axis=1)]
    for k in range(1, 9):
        res.append(backend.call(steady_state, sysm, x, t, max_iter=k,
                                reuse_jacobian=False).residual)
    res = np.array(res).T  # (B, iterations + 1)
    assert np.all(res[:, -1] <= 1e-12)
    for seq in res:
        seq = seq[seq > 1e-13]  # below, rounding rather than convergence is measured
        assert len(seq) >= 4, seq
        r0, r1, r2 = seq[-3:]
        p = np.log(r2 / r1) / np.log(r1 / r0)
        assert p > 1.6, (p, seq)


def test_jacobian_reuse_reaches_the_same_root_with_fewer_jacobians(backend):
    """Chord steps (reuse_jacobian=True, the default) converge to the plain-Newton root at
    the same tolerance; they evaluate J Q fewer times (the dominant cost)."""
    case = _case("total", 1.0, "weight_product", "tanh", "linear", lam=0.05, margin=0.1)
    sysm, x, t = case.system, case.x, case.target
    plain = backend.call(steady_state, sysm, x, t, reuse_jacobian=False)
    chord = backend.call(steady_state, sysm, x, t)
    assert np.all(plain.converged) and np.all(chord.converged)
    # F(u) = G (u - u*) + O(|u - u*|^2): two roots within their residuals differ by at most
    # ||G^{-1}|| (||F(u_chord)|| + ||F(u_plain)||), up to that second-order term
    G = sysm.network.jacobian(x, chord.v) @ sysm.Q + sysm.controller.alpha_eff * np.eye(3)
    bound = np.linalg.norm(np.linalg.inv(G), 2, axis=(1, 2)) * (chord.residual + plain.residual)
    assert np.all(np.linalg.norm(chord.u - plain.u, axis=1) <= 1.01 * bound + 1e-15)
    assert chord.info["jacobian_evaluations"] < plain.info["jacobian_evaluations"]


def test_newton_reports_failure_instead_of_raising(backend):
    """J = 0 (all units off) and alpha = 0: the Newton matrix is singular and F cannot be
    reduced; the result says so (converged False, residual ||delta_L||)."""
    ws = [np.ones((3, 2)), np.ones((2, 3))]
    bs = [-10 * np.ones(3), -10 * np.ones(2)]
    net = Network(ws, bs, activation="relu", output_activation="relu")
    sysm = DFCSystem(net, np.ones((5, 2)), Controller(alpha=0.0))
    x, t = np.zeros((2, 2)), np.full((2, 2), 0.5)
    ss = backend.call(steady_state, sysm, x, t, max_iter=3)
    assert not np.any(ss.converged)
    np.testing.assert_allclose(ss.residual, np.linalg.norm(t, axis=1), rtol=1e-12)
    # too few iterations on a solvable problem: also reported, not raised
    case = _case("total", 1.5, "random_gaussian", out="tanh", lam=0.5, margin=0.3)
    ss2 = backend.call(steady_state, case.system, case.x, case.target, max_iter=1)
    assert not np.any(ss2.converged) and np.all(ss2.residual > 1e-8)


def test_target_at_feedforward_output_gives_zero_control(backend):
    case = _case("total", 1.5)
    sysm, x = case.system, case.x
    fp = backend.call(sysm.network.forward if not backend.torch else
                      backend.net(sysm.network).forward, x)  # the backend's own r_L^-
    for method in ("ssa", "newton"):
        ss = backend.call(steady_state, sysm, x, fp.output, method=method)
        np.testing.assert_array_equal(ss.u, 0.0)
        np.testing.assert_allclose(ss.v, fp.v_stacked, atol=EXACT)
        assert np.all(ss.converged)


def test_single_sample_is_squeezed(backend):
    case = _case("integral", 1.5)
    sysm, x, t = case.system, case.x, case.target
    one = backend.call(steady_state, sysm, x[1], t[1])
    assert one.u.shape == (3,) and one.v.shape == (sysm.network.n_total,)
    assert one.converged.shape == () and one.residual.shape == ()
    np.testing.assert_allclose(one.u, backend.call(steady_state, sysm, x, t).u[1], atol=EXACT)


# --------------------------------------------------------------------------- Lemma 1
@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_ssa_error_is_second_order_in_lambda(leak, k_p, backend):
    """Lemma 1: u_ssa - u_exact = O(lambda^2); log-log slope in [1.8, 2.2]."""
    case = _case(leak, k_p, "damped_pseudoinverse", out="tanh", lam=1.0, alpha=0.2, batch=2)
    sysm, x = case.system, case.x
    r0 = sysm.network.forward(x).output
    direction = case.target - r0
    lams = np.array([0.04, 0.02, 0.01, 0.005])
    errs = []
    for lam in lams:
        t = r0 + lam * direction
        errs.append(np.linalg.norm(backend.call(steady_state, sysm, x, t, method="ssa").u
                                   - backend.call(steady_state, sysm, x, t).u))
    slope = np.polyfit(np.log(lams), np.log(errs), 1)[0]
    assert 1.8 < slope < 2.2, (slope, errs)


# --------------------------------------------------------------------------- invariance
@pytest.mark.parametrize("method", ["newton", "ssa"])
@pytest.mark.parametrize("leak,k_p,scale_k_p", [("total", 0.0, False), ("total", 1.5, False),
                                                ("integral", 0.0, False),
                                                ("integral", 0.2, True)])
def test_q_alpha_scaling_invariance(leak, k_p, scale_k_p, method, backend):
    """(Q, alpha) -> (cQ, c alpha): v_ss unchanged, u_ss -> u_ss / c (THEORY.md section 4).

    The steady state only sees alpha_eff: alpha for leak="total" (any k_p), and
    alpha_tilde = alpha/(1 + alpha k_p) for "integral", which scales by c only when k_p
    scales by 1/c as well (c alpha / (1 + c alpha k_p / c) = c alpha_tilde)."""
    case = _case(leak, k_p, "random_gaussian", "tanh", "sigmoid", lam=0.3, alpha=0.7)
    sysm, x, t = case.system, case.x, case.target
    ref = backend.call(steady_state, sysm, x, t, method=method)
    for c in (0.1, 3.0, 17.0):
        ctrl = sysm.controller.replace(alpha=c * sysm.controller.alpha,
                                       k_p=k_p / c if scale_k_p else k_p)
        ss = backend.call(steady_state, DFCSystem(sysm.network, c * sysm.Q, ctrl), x, t,
                          method=method)
        np.testing.assert_allclose(ss.v, ref.v, rtol=0, atol=1e-10 * np.abs(ref.v).max())
        np.testing.assert_allclose(c * ss.u, ref.u, rtol=0, atol=1e-10 * np.abs(ref.u).max())


def test_q_alpha_scaling_breaks_for_integral_leak_with_fixed_k_p():
    """The counterpart: integral leak, k_p > 0 kept fixed -> alpha_tilde does not scale by c,
    and v_ss changes (so the invariance test above is not vacuous)."""
    case = _case("integral", 0.2, "random_gaussian", "tanh", "sigmoid", lam=0.3, alpha=0.7)
    sysm, x, t = case.system, case.x, case.target
    ref = steady_state(sysm, x, t)
    c = 3.0
    ctrl = sysm.controller.replace(alpha=c * sysm.controller.alpha)
    ss = steady_state(DFCSystem(sysm.network, c * sysm.Q, ctrl), x, t)
    assert np.abs(ss.v - ref.v).max() > 1e-3 * np.abs(ref.v).max()


# --------------------------------------------------------------------------- simulated
@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_simulate_method_agrees_with_newton(leak, k_p, backend):
    case = _case(leak, k_p, "pseudoinverse", batch=3, alpha=0.3)
    sysm, x, t = case.system, case.x, case.target
    sim = backend.call(steady_state, sysm, x, t, method="simulate")
    ss = backend.call(steady_state, sysm, x, t)
    assert np.all(sim.converged) and sim.method == "simulate" and sim.iterations >= 1000
    np.testing.assert_allclose(sim.u, ss.u, rtol=0, atol=1e-8 * np.abs(ss.u).max())
    np.testing.assert_allclose(sim.v, ss.v, rtol=0, atol=1e-8 * np.abs(ss.v).max())
    assert np.all(sim.residual <= 1e-10 * np.maximum(1, np.linalg.norm(t, axis=1)))


def test_simulate_method_reports_non_convergence():
    case = _case("integral", 0.0, "jacobian_transpose", alpha=0.01, batch=2)
    sysm = case.system.replace(Q=-case.system.Q)  # Condition 3 violated: unstable
    sim = steady_state(sysm, case.x, case.target, method="simulate", chunk=200)
    assert not np.any(sim.converged)


# --------------------------------------------------------------------------- honest flags
def _on(backend, sysm, x, t, **kw):
    """steady_state on the backend, with its lazily computed abscissa and stable flag."""
    ss = steady_state(backend.system(sysm), backend.arr(x), backend.arr(t), **kw)
    return backend.np(ss), backend.np(ss.abscissa), backend.np(ss.stable)


@pytest.mark.parametrize("tau_v", [0.2, 0.0])
@pytest.mark.parametrize("leak,k_p", SETTINGS)
def test_stable_is_the_sign_of_the_abscissa_of_A_system(leak, k_p, tau_v, backend):
    """``abscissa`` equals the spectral abscissa of ``A_system`` of
    stability.system_matrices (an independent NumPy assembly of the blocks) at the Newton
    state, for every controller convention; ``stable`` is its sign where converged."""
    from dfc_theory.stability import spectral_abscissa, system_matrices
    case = _case(leak, k_p, "random_gaussian", tau_v=tau_v, margin=0.3)
    sysm, x, t = case.system, case.x, case.target
    ss, a, stable = _on(backend, sysm, x, t)
    want = spectral_abscissa(system_matrices(sysm, x, t, at="steady_state")["A_system"])
    assert np.all(ss.converged) and np.all(np.abs(want) > 1e-6)
    np.testing.assert_allclose(a, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(stable, want < 0)


def test_unstable_rest_point_is_converged_but_not_stable(backend):
    """A rest point exists but is unstable: linear net, Q = -c J^T with c g_min > alpha makes
    J Q + alpha I negative definite (invertible, so Newton solves it exactly) and
    -(J Q + alpha I) / tau_u positive definite."""
    net = Network.random([3, 4, 2], activation="linear", seed=1)
    x = np.random.default_rng(3).standard_normal((4, 3))
    J = net.jacobian(x[0])
    Q = -(2.0 / np.linalg.eigvalsh(J @ J.T)[0]) * J.T
    for tau_v in (0.2, 0.0):
        sysm = DFCSystem(net, Q, Controller(alpha=0.1, tau_v=tau_v))
        ss, a, stable = _on(backend, sysm, x, net.forward(x).output + 0.01)
        assert np.all(ss.converged) and np.all(a > 0) and not np.any(stable)
        ssa, a_ssa, _ = _on(backend, sysm, x, net.forward(x).output + 0.01, method="ssa")
        assert np.all(ssa.converged)  # linear network: SSA is exact
        np.testing.assert_allclose(a_ssa, a, rtol=1e-10)


def test_converged_means_a_small_finite_residual(backend):
    """SSA of a tanh output asked to reach 3 (residual ~2.8), a singular J Q + alpha I
    (the least-squares u = 0 leaves ||delta_L||), and a target whose residual overflows:
    never converged; the stated tolerance is reported."""
    tanh = _case("integral", 0.0, out="tanh")
    far = np.full((4, 3), 3.0)
    ss = backend.call(steady_state, tanh.system, tanh.x, far, method="ssa")
    assert not np.any(ss.converged) and np.all(ss.residual > 1) and ss.info["tol"] == EXACT
    case = _case("integral", 0.0)
    singular = case.system.replace(Q=0 * case.system.Q, controller=Controller(alpha=0.0))
    for method in ("ssa", "newton"):
        ss = backend.call(steady_state, singular, case.x, case.target, method=method)
        assert not np.any(ss.converged) and np.all(np.isfinite(ss.u))
    with np.errstate(over="ignore"):
        huge = backend.call(steady_state, case.system, case.x, np.full((4, 3), 1e300))
    assert not np.any(huge.converged) and not np.all(np.isfinite(huge.residual))


@pytest.mark.parametrize("method", ["newton", "ssa"])
def test_unknown_keywords_are_refused(method):
    case = _case("integral", 0.0)
    with pytest.raises(TypeError, match="'max_iters'"):
        steady_state(case.system, case.x, case.target, method=method, max_iters=1)
    with pytest.raises(TypeError, match="'max_iters'"):
        steady_state(case.system, case.x, case.target, method="simulate", max_iters=1)


# --------------------------------------------------------------------------- property
@given(systems(stable_initial=True, margin=0.1))
def test_property_newton_is_exact_and_simulation_agrees(case):
    """Random depth 1-4, widths 1-8, every activation, every Q family, both leaks, k_p,
    tau_v (including the instantaneous system), with a controller for which the dynamics
    linearised at the initial state are stable (dfc_theory.testing.strategies.systems).

    * Newton's reported residual is the true one.
    * Newton may give up only where the dynamics do not settle either: stability at the
      initial state does not guarantee a steady state (Hypothesis found e.g. a 1-7 softplus
      net whose D_L Q loses Condition 3 on the way, so the dynamics run away; and relu /
      leaky_relu make F(u) piecewise linear, possibly without a root).  So when Newton
      reports failure, a simulation over 40 initial e-folds must not have settled either.
    * When Newton converges: residual at the requested tolerance, dz/dt = 0 at the rest
      state, and if that rest state is stable with margin (it normally is; a relu kink can
      change J abruptly), a continuous-time simulation over 40 e-folds of its slowest mode
      lands on the same steady state (1e-8).
    """
    sysm, x, t = case.system, case.x, case.target
    tol_F = EXACT * np.maximum(1, np.linalg.norm(t, axis=1))
    ss = steady_state(sysm, x, t)
    F = _residual(sysm, x, t, ss.u)
    np.testing.assert_allclose(ss.residual, np.linalg.norm(F, axis=1), rtol=0,
                               atol=F_ROUNDING * max(1.0, np.linalg.norm(t, axis=1).max()))
    np.testing.assert_array_equal(ss.converged, ss.residual <= tol_F)
    if not np.all(ss.converged):
        T = 40.0 / -case.meta["checked"]["stable_initial"]
        # a run that spends max_nfev (e.g. at a singular point of I + k_p J Q, where
        # LSODA's steps shrink without end) is flagged diverged: it did not settle
        sim = simulate(sysm, x, t, method="ivp", ivp_method="LSODA", dt=T / 4, n_steps=4,
                       record="final", max_nfev=20_000)
        settled = np.all(np.isfinite(sim.u_final), axis=1)
        u_fin = np.where(settled[:, None], sim.u_final, 0.0)
        settled &= np.linalg.norm(_residual(sysm, x, t, u_fin), axis=1) <= 1e-6 * (tol_F / EXACT)
        assert not np.any(settled & ~ss.converged), (ss.residual, sim.u_final)
        return
    z = rest_state(sysm, ss, t)
    rhs_scale = np.abs(t).max() / min(sysm.controller.tau_u, sysm.controller.tau_v or np.inf)
    assert np.abs(sysm.rhs(x, t, z)).max() <= 1e-10 * max(1.0, rhs_scale)
    absc = rest_abscissa(sysm, x, t, ss)
    assume(absc < -0.05 / sysm.controller.tau_u)
    T = 40.0 / -absc
    res = simulate(sysm, x, t, method="ivp", ivp_method="LSODA", dt=T / 4, n_steps=4,
                   record="final")
    u_scale = max(np.abs(ss.u).max(), 1e-300)
    np.testing.assert_allclose(res.u_final, ss.u, rtol=0, atol=1e-8 * u_scale)
    np.testing.assert_allclose(res.v_final, ss.v, rtol=0, atol=1e-8 * max(1, np.abs(ss.v).max()))
