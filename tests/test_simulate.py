"""Integrators (THEORY.md sections 2, 3 and 5): the reference Euler scheme, the stiff ivp
solver and the exact linear trajectory.

Oracles: an independent step-by-step transcription of THEORY.md section 2's reference
discretisation (below), scipy's solve_ivp on DFCSystem.rhs / DFCSystem.linearise, and the
Newton steady state.
"""
import numpy as np
import pytest
import scipy.integrate

from dfc_theory import Controller, DFCSystem, Network, simulate, steady_state

from _cases import make_case, rest_abscissa

EXACT = 1e-12


def _case(leak="integral", k_p=0.0, tau_v=0.2, tau_u=1.0, alpha=0.1, batch=3, seed=1,
          out="linear", family="weight_product", **kw):
    return make_case((3, 5, 4, 3), "tanh", out, family, batch=batch, lam=0.2, seed=seed,
                     alpha=alpha, k_p=k_p, tau_v=tau_v, tau_u=tau_u, leak=leak, **kw)


# --------------------------------------------------------------------------- reference Euler
def reference_euler(system, x, target, dt, n_steps, inst_tx=True, proactive=False, seed=None,
                    sigma_out=None):
    """THEORY.md section 2's reference discretisation, transcribed literally (per layer,
    no caching).  Noise: one standard-normal draw of shape (B, N) per step from
    ``default_rng(seed)``, scaled by sigma sqrt(dt) / tau_A (sigma_out in the output layer).
    Returns the control u and output r_L over time, (T+1, B, n_L) each, and the final v."""
    net, c, Q = system.network, system.controller, system.Q
    L, B, N = net.depth, x.shape[0], net.n_total
    tau_A = dt if c.tau_A is None else c.tau_A
    std = np.full(N, c.sigma * np.sqrt(dt) / tau_A)
    if sigma_out is not None:
        std[-net.n_out:] = sigma_out * np.sqrt(dt) / tau_A
    rng = np.random.default_rng(seed)
    fp = net.forward(x)
    v = [vi.copy() for vi in fp.v]
    r = [x] + [ri.copy() for ri in fp.r[1:]]
    v_fb = np.zeros((B, N))
    u = np.zeros((B, net.n_out))
    u_int = np.zeros((B, net.n_out))
    us, rs = [u], [r[-1]]
    for _ in range(n_steps):
        e = target - r[-1]
        if c.leak == "total":
            u_int = u_int + (dt / c.tau_u) * (e - c.alpha * u)
        else:
            u_int = u_int + (dt / c.tau_u) * (e - c.alpha * u_int)
        u_next = u_int + c.k_p * e
        drive = (u_next if proactive else u) @ Q.T
        v_fb = v_fb + (dt / tau_A) * (-v_fb + drive)
        if np.any(std > 0):
            v_fb = v_fb + std * rng.standard_normal((B, N))
        fb = net.split(v_fb)
        r_prev = list(r)
        for i in range(1, L + 1):
            r_in = r[i - 1] if inst_tx else r_prev[i - 1]
            v_ff = r_in @ net.weights[i - 1].T + net.biases[i - 1]
            if c.tau_v == 0.0:
                v[i - 1] = v_ff + fb[i - 1]
            else:
                v[i - 1] = v[i - 1] + (dt / c.tau_v) * (-v[i - 1] + v_ff + fb[i - 1])
            r[i] = net.phi(i).f(v[i - 1])
        u = u_next
        us.append(u)
        rs.append(r[-1])
    return np.array(us), np.array(rs), np.concatenate(v, axis=1)


EULER_OPTIONS = [
    # (leak, k_p, tau_v, tau_A, inst_tx, proactive, sigma, sigma_out)
    ("integral", 0.0, 0.2, None, True, False, 0.0, None),
    ("integral", 1.5, 0.2, None, True, False, 0.0, None),
    ("total", 1.5, 0.2, None, True, False, 0.0, None),
    ("total", 1.5, 0.2, None, False, False, 0.0, None),
    ("total", 1.5, 0.2, None, True, True, 0.0, None),
    ("total", 1.5, 0.2, 0.05, True, False, 0.0, None),
    ("integral", 0.5, 0.2, 0.05, False, True, 0.0, None),
    ("total", 0.3, 0.0, None, True, False, 0.0, None),     # instantaneous system
    ("integral", 0.0, 0.0, 0.03, True, False, 0.0, None),
    ("total", 1.5, 0.2, 0.05, True, False, 0.01, None),    # Euler-Maruyama
    ("integral", 0.0, 0.2, None, True, False, 0.01, 0.002),
]


@pytest.mark.parametrize("leak,k_p,tau_v,tau_A,inst_tx,proactive,sigma,sigma_out",
                         EULER_OPTIONS)
def test_euler_is_the_reference_discretisation(leak, k_p, tau_v, tau_A, inst_tx, proactive,
                                               sigma, sigma_out, backend):
    case = _case(leak, k_p, tau_v, tau_u=1.3, tau_A=tau_A, sigma=sigma)
    sysm, x, t = case.system, case.x, case.target
    dt, n = 0.01, 150
    res = backend.call(simulate, sysm, x, t, dt=dt, n_steps=n,
                       instantaneous_transmission=inst_tx, proactive=proactive,
                       seed=np.random.default_rng(7), sigma_out=sigma_out, record="full")
    U, R, v_final = reference_euler(sysm, x, t, dt, n, inst_tx, proactive, 7, sigma_out)
    scale = np.abs(U).max()
    np.testing.assert_allclose(res.u, U, rtol=0, atol=EXACT * max(1, scale))
    np.testing.assert_allclose(res.r_L, R, rtol=0, atol=EXACT)
    np.testing.assert_allclose(res.e, t - R, rtol=0, atol=EXACT)
    np.testing.assert_allclose(res.v_final, v_final, rtol=0, atol=EXACT)
    np.testing.assert_array_equal(res.v[-1], res.v_final)
    np.testing.assert_allclose(res.v[0], sysm.network.forward(x).v_stacked, rtol=0, atol=EXACT)
    np.testing.assert_allclose(res.t, dt * np.arange(n + 1), rtol=1e-15)
    assert res.n_steps == n and res.method == "euler"


def test_euler_noise_is_seeded():
    case = _case("total", 1.5, 0.2, tau_A=0.05, sigma=0.05)
    sysm, x, t = case.system, case.x, case.target
    a = simulate(sysm, x, t, dt=0.01, n_steps=50, seed=3).u
    np.testing.assert_array_equal(a, simulate(sysm, x, t, dt=0.01, n_steps=50, seed=3).u)
    assert np.abs(a - simulate(sysm, x, t, dt=0.01, n_steps=50, seed=4).u).max() > 1e-6
    rng = np.random.default_rng(3)  # a Generator is accepted as the seed
    np.testing.assert_array_equal(a, simulate(sysm, x, t, dt=0.01, n_steps=50, seed=rng).u)


def test_euler_records_and_observer(backend):
    case = _case("integral", 0.5, 0.0)  # instantaneous system: v = v_ff + v_fb at each step
    sysm, x, t = case.system, case.x, case.target
    seen = []

    def observer(state):
        seen.append(state.step)
        state = backend.np(state)
        np.testing.assert_allclose(np.concatenate(state.v, axis=1),
                                   np.concatenate(state.v_ff, axis=1) + state.v_fb,
                                   rtol=0, atol=EXACT)
        np.testing.assert_allclose(state.r[-1], sysm.network.phi(3).f(state.v[-1]), atol=0)
        assert state.t == pytest.approx(state.step * 0.01)

    full = backend.call(simulate, sysm, x, t, dt=0.01, n_steps=20, observer=observer)
    assert seen == list(range(1, 21))
    final = backend.call(simulate, sysm, x, t, dt=0.01, n_steps=20, record="final")
    assert final.u is None and final.v is None and final.e is None and final.r_L is None
    np.testing.assert_array_equal(final.u_final, full.u[-1])
    np.testing.assert_array_equal(final.v_final, full.v_final)
    assert full.v is None and full.u.shape == (21, 3, 3)
    single = backend.call(simulate, sysm, x[0], t[0], dt=0.01, n_steps=20)
    assert single.u.shape == (21, 3) and single.v_final.shape == (sysm.network.n_total,)
    assert single.converged.shape == ()
    np.testing.assert_allclose(single.u, full.u[:, 0], atol=EXACT)


# --------------------------------------------------------------------------- Euler vs ODE
def _ode_solution(system, x, target, z0, t_eval):
    """An independent integrator (explicit DOP853, rtol 1e-12; the library's ivp is Radau)
    of dz/dt = DFCSystem.rhs.  Its global error here is ~1e-12."""
    B, M = z0.shape

    def f(_, y):
        return system.rhs(x, target, y.reshape(B, M)).ravel()

    sol = scipy.integrate.solve_ivp(f, (0, t_eval[-1]), z0.ravel(), "DOP853", t_eval=t_eval,
                                    rtol=1e-12, atol=1e-14)
    assert sol.success
    return sol.y.T.reshape(-1, B, M)


@pytest.mark.parametrize("leak,k_p,tau_v", [("integral", 1.5, 0.2), ("total", 1.5, 0.2),
                                            ("total", 0.5, 0.0)])
def test_ivp_matches_an_independent_integrator(leak, k_p, tau_v):
    """method="ivp" (Radau, analytic Jacobian, rtol 1e-10) against DOP853 at rtol 1e-12,
    on the whole grid, from the library's initial state."""
    case = _case(leak, k_p, tau_v, tau_u=1.3, batch=2, out="tanh")
    sysm, x, t = case.system, case.x, case.target
    res = simulate(sysm, x, t, method="ivp", dt=0.05, n_steps=20, record="full" if tau_v
                   else "output")
    Z = _ode_solution(sysm, x, t, sysm.initial_state(x, t), res.t)
    U = np.stack([sysm.control(x, t, z) for z in Z])
    np.testing.assert_allclose(res.u, U, rtol=0, atol=1e-8 * np.abs(U).max())
    if tau_v:
        np.testing.assert_allclose(res.v, Z[:, :, :-3], rtol=0, atol=1e-8 * np.abs(Z).max())


@pytest.mark.parametrize("leak,k_p", [("integral", 0.0), ("total", 0.0), ("integral", 1.5),
                                      ("total", 1.5)])
def test_euler_is_first_order_accurate_for_the_continuous_dynamics(leak, k_p):
    """Halving dt halves the Euler error against the continuous-time solution (order 1).

    The continuous trajectory the reference scheme approximates starts with the controller's
    integral state at 0, u(0+) = u_int(0) + k_p e(0) = k_p delta_L, for both leaks.  For
    ``leak="integral"`` that is the library's initial state (state u_int = 0); for
    ``leak="total"`` the library's state is u itself and its ivp starts from u(0) = 0, which
    for k_p > 0 is a different transient (with the same steady state), so the comparison
    integrates DFCSystem.rhs from [v^-; k_p delta_L].
    """
    case = _case(leak, k_p, 0.2, tau_u=1.3, batch=2)
    sysm, x, t = case.system, case.x, case.target
    T, dts = 1.0, (0.01, 0.005, 0.0025)
    z0 = sysm.initial_state(x, t)
    if leak == "total":
        np.testing.assert_array_equal(z0[:, -3:], k_p * (t - sysm.network.forward(x).output))
    t_ref = np.arange(0, int(round(T / dts[-1])) + 1) * dts[-1]
    Z = _ode_solution(sysm, x, t, z0, t_ref)
    u_ref = np.stack([sysm.control(x, t, z) for z in Z])
    errs = []
    for dt in dts:
        res = simulate(sysm, x, t, dt=dt, n_steps=int(round(T / dt)))
        stride = int(round(dt / dts[-1]))
        # from t = dt on: the Euler record at t = 0 is the pre-step u = 0
        errs.append(np.abs(res.u[1:] - u_ref[::stride][1:]).max())
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.3)), (errs, ratios)


# --------------------------------------------------------------------------- steady states
STEADY_SETTINGS = [("integral", 0.0, 0.2), ("total", 0.0, 0.2), ("integral", 1.5, 0.2),
                   ("total", 1.5, 0.2), ("integral", 0.0, 0.0), ("total", 0.2, 0.0)]


@pytest.mark.parametrize("method", ["euler", "ivp"])
@pytest.mark.parametrize("leak,k_p,tau_v", STEADY_SETTINGS)
def test_long_simulation_reaches_the_newton_steady_state(leak, k_p, tau_v, method, backend):
    """Newton (exact, THEORY.md section 3; alpha_tilde = alpha/(1 + alpha k_p) for the
    integral leak) equals a long simulation to 1e-8.  Horizon: 35 e-folds of the slowest
    mode (the spectral abscissa at rest), so the transient is below 1e-15 of its size."""
    if backend.torch and method == "ivp":
        pytest.skip("method='ivp' is NumPy-only (SciPy)")
    case = _case(leak, k_p, tau_v)
    sysm, x, t = case.system, case.x, case.target
    ss = backend.call(steady_state, sysm, x, t)
    assert np.all(ss.converged)
    absc = rest_abscissa(sysm, x, t, ss)
    assert absc < -0.1  # the case is stable, with margin
    T = 35.0 / -absc
    if method == "euler":
        dt = 0.02
        res = backend.call(simulate, sysm, x, t, dt=dt, n_steps=int(np.ceil(T / dt)),
                           record="final")
    else:
        res = simulate(sysm, x, t, method="ivp", dt=T / 5, n_steps=5, record="final")
    assert np.all(res.converged) and not np.any(res.diverged)
    np.testing.assert_allclose(res.u_final, ss.u, rtol=0, atol=1e-8 * np.abs(ss.u).max())
    np.testing.assert_allclose(res.v_final, ss.v, rtol=0, atol=1e-8 * max(1, np.abs(ss.v).max()))
    np.testing.assert_allclose(res.v_fb_final, ss.delta_v, rtol=0,
                               atol=1e-8 * max(1, np.abs(ss.v).max()))
    # the integral leak's rest state obeys e = alpha_tilde u, not e = alpha u
    e = t - sysm.network.forward(x, delta=res.u_final @ sysm.Q.T).output
    np.testing.assert_allclose(e, sysm.controller.alpha_eff * res.u_final, rtol=0,
                               atol=1e-8 * np.abs(e).max())
    if leak == "integral" and k_p:
        assert np.abs(e - sysm.controller.alpha * res.u_final).max() > 1e-3


# --------------------------------------------------------------------------- linear method
@pytest.mark.parametrize("leak,k_p,tau_v", STEADY_SETTINGS)
def test_linear_method_is_the_trajectory_of_the_linearised_system(leak, k_p, tau_v):
    """method="linear" = solve_ivp of dz/dt = c + A (z - z0) with (A, c, z0) from
    DFCSystem.linearise at the rest point z0 = [v^-; 0] (THEORY.md section 5), started from
    DFCSystem.initial_state(x, target), on the whole grid."""
    case = _case(leak, k_p, tau_v, tau_u=1.3, out="tanh", family="random_condition2",
                 alpha=0.3)
    sysm, x, t = case.system, case.x, case.target
    dt, n = 0.05, 80
    res = simulate(sysm, x, t, method="linear", dt=dt, n_steps=n, record="full")
    lin = sysm.linearise(x, t, z0=sysm.initial_state(x))
    B, M = lin.z0.shape
    w0 = (sysm.initial_state(x, t) - lin.z0).ravel()
    t_eval = dt * np.arange(n + 1)

    def f(_, w):
        return (lin.c + np.einsum("bij,bj->bi", lin.A, w.reshape(B, M))).ravel()

    sol = scipy.integrate.solve_ivp(f, (0, t_eval[-1]), w0, "DOP853",
                                    t_eval=t_eval, rtol=1e-12, atol=1e-14)
    Z = lin.z0 + sol.y.T.reshape(-1, B, M)
    U = np.stack([sysm.control(x, t, z) for z in Z])
    np.testing.assert_allclose(res.u, U, rtol=0, atol=1e-9 * np.abs(U).max())
    if tau_v:
        np.testing.assert_allclose(res.v, Z[:, :, :-3], rtol=0, atol=1e-9 * np.abs(Z).max())
    # the linearised and the nonlinear dynamics differ (the check can fail)
    nonlin = simulate(sysm, x, t, method="ivp", dt=dt, n_steps=n, rtol=1e-8, atol=1e-10)
    assert np.abs(nonlin.u - U).max() > 1e-4 * np.abs(U).max()


@pytest.mark.parametrize("leak,k_p,tau_v", STEADY_SETTINGS)
def test_linear_method_settles_on_the_linearised_steady_state(leak, k_p, tau_v):
    """The equilibrium of the system linearised at [v^-; 0] is Lemma 1's
    u = (J Q + alpha_tilde I)^{-1} delta_L, i.e. method="ssa" (exact identity).

    method="linear" reads u, e and r_L out of the linear state through the nonlinear maps
    (u = u_int + k_p e(v) for the integral leak); the linearised system's own control is
    u_int + k_p e_lin with e_lin = delta_L - D_L Delta v_L, which is what is compared here.
    """
    case = _case(leak, k_p, tau_v, out="tanh", family="random_condition2", alpha=0.3)
    sysm, x, t = case.system, case.x, case.target
    net = sysm.network
    ssa = steady_state(sysm, x, t, method="ssa")
    lin = sysm.linearise(x, t, z0=sysm.initial_state(x))
    absc = np.max(np.linalg.eigvals(lin.A).real)
    assert absc < -0.05
    T = 40.0 / -absc
    res = simulate(sysm, x, t, method="linear", dt=T / 50, n_steps=50)
    u = res.u_final
    fp = net.forward(x)
    if tau_v:
        dv = res.v_final - fp.v_stacked
        e_lin = t - fp.output - net.phi(3).df(fp.v[-1]) * dv[:, -3:]
        if leak == "integral":  # u_int = u - k_p e(v) exactly; the linear control follows
            u = (res.u_final - k_p * res.e[-1]) + k_p * e_lin
        # Delta v = (I - J_hat)^{-1} Q u, so the output block obeys D_L Delta v_L = J Q u
        np.testing.assert_allclose(net.phi(3).df(fp.v[-1]) * dv[:, -3:],
                                   np.einsum("bij,bj->bi", net.jacobian(x) @ sysm.Q, u),
                                   rtol=0, atol=1e-10 * np.abs(dv).max())
    np.testing.assert_allclose(u, ssa.u, rtol=0, atol=1e-10 * np.abs(ssa.u).max())


# --------------------------------------------------------------------------- flags
@pytest.mark.parametrize("method", ["euler", "ivp", "linear"])
def test_unstable_system_is_flagged_diverged(method, backend):
    """Q = -J^T violates Condition 3 (J Q + alpha I has eigenvalues -s_i^2 + alpha < 0)."""
    if backend.torch and method != "euler":
        pytest.skip(f"method={method!r} is NumPy-only (SciPy)")
    case = _case("integral", 0.0, 0.2, family="jacobian_transpose", alpha=0.01, batch=2)
    sysm = case.system.replace(Q=-case.system.Q)
    T = 30.0 if method == "euler" else 10.0
    res = backend.call(simulate, sysm, case.x, case.target, method=method, dt=0.05,
                       n_steps=int(T / 0.05), record="final", rtol=1e-6, atol=1e-9)
    assert np.all(res.diverged) and not np.any(res.converged)


@pytest.mark.parametrize("tau_v", [0.0, 0.2])
def test_overflowing_ivp_run_is_flagged_not_raised(tau_v):
    """An unstable linear system integrated long enough for its state to overflow (T = 200):
    the integrator stops or returns inf/nan, and ``simulate`` reports
    divergence.  The cause of a rare test_stability.py::test_agreement_hypothesis failure:
    the solvers' internal forward passes validated their arguments and raised "delta:
    contains non-finite values" from inside solve_ivp (tau_v = 0) instead."""
    net = Network.random([3, 4, 2], activation="linear", seed=1)
    x = np.full((2, 3), 0.3)
    sysm = DFCSystem(net, -3.0 * net.jacobian(x[0]).T, Controller(alpha=0.1, tau_v=tau_v))
    with np.errstate(all="ignore"):
        res = simulate(sysm, x, net.forward(x).output + 0.01, method="ivp", dt=1.0,
                       n_steps=200, ivp_method="RK45", rtol=1e-3, atol=1e-6, record="final")
    assert np.all(res.diverged) and not np.any(res.converged)


def test_ivp_stalling_at_a_singular_point_stops_at_max_nfev():
    """Found by Hypothesis (test_steady_state's property test): in the instantaneous
    total-leak system du/dt = (I + k_p J Q)^{-1} (e - alpha u) / tau_u the matrix
    I + k_p J Q turns singular at t ~ 1.107 on this 2-4 linear/softplus draw (smallest
    singular value 0.14 at t = 0, 7e-4 there); LSODA then shrinks its steps without end.
    ``max_nfev`` bounds the work; the run is reported diverged with the reason."""
    W = np.array([[0.0, -0.6900847690111094], [0.0, 0.391802739305517],
                  [-1.5253247580201865, -0.785925668819641],
                  [-0.22563197998700124, 1.9102089946130194]])
    b = np.array([0.0, -0.435742759275739, -0.17793813470882197, 0.0])
    Q = np.array([[-0.6658625710940895, 0.1402345412196302, 0.0, 0.21861512742504474],
                  [0.5972383712064233, -0.2054500587064838, 0.41249521306159953,
                   0.840593900995517],
                  [0.8992880524390499, -0.5, 0.0, -0.6188163346278984],
                  [1.0, 0.0, 0.931002928906254, -0.17635334868972952]])
    ctrl = Controller(alpha=0.5499969616183034, k_p=1.928772165031941, tau_v=0.0,
                      tau_u=1.8359269389259092, leak="total")
    sysm = DFCSystem(Network([W], [b], activation="linear", output_activation="softplus"),
                     Q, ctrl)
    x = np.array([0.48354188066696446, 0.0])
    t = np.array([0.574752216613662, 0.49882434590677993, 0.33669921386014745,
                  0.8091311725231811])
    with np.errstate(all="ignore"):
        res = simulate(sysm, x, t, method="ivp", ivp_method="LSODA", dt=0.5, n_steps=4,
                       record="final", max_nfev=2000)
    assert res.info["status"] == -1 and res.info["nfev"] == 2000
    assert "max_nfev" in res.info["message"]
    stop = float(res.info["message"].split("t = ")[1].split()[0])
    assert 1.0 < stop < 1.2
    assert not res.converged and np.all(np.isnan(res.u_final))
    with pytest.raises(ValueError, match="^max_nfev"):
        simulate(sysm, x, t, method="ivp", max_nfev=0)


def test_instantaneous_euler_with_k_p_needs_contraction(backend):
    """Ours, from THEORY.md section 2's scheme: with tau_v = 0 each Euler step applies
    u <- u_int + k_p e(u) once, a fixed-point iteration whose linearisation is -k_p J Q; near
    rest it converges iff rho(k_p J Q) < 1, whatever dt.  The same stable system (continuous
    time) is simulated with k_p on both sides of that threshold."""
    case = _case("total", 0.2, 0.0, alpha=0.1, batch=3)
    sysm, x, t = case.system, case.x, case.target
    rho = np.abs(np.linalg.eigvals(sysm.network.jacobian(x) @ sysm.Q)).max(axis=1)
    for k_p in (0.8 / rho.max(), 1.25 / rho.min()):
        s2 = sysm.replace(controller=sysm.controller.replace(k_p=k_p))
        assert rest_abscissa(s2, x, t) < 0  # the continuous-time system is stable
        res = backend.call(simulate, s2, x, t, dt=0.01, n_steps=3000, record="final")
        if k_p * rho.max() < 1:
            assert np.all(res.converged)
        else:
            assert np.all(res.diverged)


def test_short_simulation_is_not_converged_and_not_diverged(backend):
    case = _case("total", 1.5, 0.2)
    res = backend.call(simulate, case.system, case.x, case.target, dt=0.01, n_steps=20)
    assert not np.any(res.converged) and not np.any(res.diverged)
    assert np.all(res.error_ratio < 1) and np.all(res.ratio > 1e-5)


def test_blow_up_stops_early_and_is_flagged(backend):
    # forward Euler with dt * rho(J Q + alpha I) >> 2 explodes; the run stops and says so
    case = _case("integral", 0.0, 0.0, family="weight_product", alpha=0.1)
    sysm = case.system.replace(Q=60.0 * case.system.Q)
    res = backend.call(simulate, sysm, case.x, case.target, dt=0.1, n_steps=2000)
    assert res.info["blew_up"] and res.n_steps < 2000 and np.all(res.diverged)
    assert res.u.shape[0] == res.n_steps + 1 == res.t.shape[0]


def test_target_at_feedforward_output_keeps_the_controller_silent():
    """delta_L = 0: the feedforward state is the steady state, u stays 0 for all methods."""
    case = _case("total", 1.5, 0.2)
    sysm, x = case.system, case.x
    t = sysm.network.forward(x).output
    for method in ("euler", "ivp", "linear"):
        res = simulate(sysm, x, t, method=method, dt=0.05, n_steps=40)
        assert np.abs(res.u).max() < 1e-14
        assert np.all(res.converged)
