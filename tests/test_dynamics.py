"""The coupled network + controller dynamics (THEORY.md sections 2 and 5): right-hand side,
its analytic Jacobian, linearisation, controller parameters.

Oracles: central finite differences of the right-hand side, the section-5 block matrices
built independently from W_i and phi', and the steady-state equations.
"""
import numpy as np
import pytest

from dfc_theory import Controller, DFCSystem, Network, steady_state

from _cases import central_jacobian, make_case, rest_state

H = 1e-5
FD_RTOL = 1e-8   # finite-difference error ~1e-10 x the size of the entries (h = 1e-5)
EXACT = 1e-12

# (leak, k_p, tau_v); the instantaneous integral-leak system needs k_p = 0
SETTINGS = [(leak, kp, tv) for leak in ("integral", "total") for kp in (0.0, 0.7)
            for tv in (0.2, 0.0) if not (tv == 0.0 and leak == "integral" and kp)]
# The instantaneous PI Jacobian (tau_v = 0, k_p > 0) drops the term from the u-dependence
# of J (documented in DFCSystem.rhs_jacobian): exact at rest only, so it is checked there.
SETTINGS_ANYWHERE = [s for s in SETTINGS if not (s[2] == 0.0 and s[1])]


def _case(leak, k_p, tau_v, tau_u=1.3, alpha=0.15, out="sigmoid", seed=0, **kw):
    # a curved output nonlinearity so that phi_L'' enters the total-leak PI Jacobian
    return make_case((3, 5, 4, 3), "tanh", out, kw.pop("family", "random_gaussian"),
                     batch=3, lam=0.2, seed=seed, alpha=alpha, k_p=k_p, tau_v=tau_v,
                     tau_u=tau_u, leak=leak, **kw)


def _section5_blocks(net, x):
    """J_hat (N x N, blocks W_i D_{i-1} on the sub-diagonal), J_L^o, D per layer, J."""
    v = net.forward(x).v
    D = [net.phi(i + 1).df(vi) for i, vi in enumerate(v)]
    offs = np.concatenate([[0], np.cumsum(net.sizes[1:])])
    N = net.n_total
    Jhat = np.zeros((N, N))
    for i in range(1, net.depth):
        Jhat[offs[i]:offs[i + 1], offs[i - 1]:offs[i]] = net.weights[i] * D[i - 1][None, :]
    JLo = np.zeros((net.n_out, N))
    JLo[:, offs[-2]:] = np.diag(D[-1])
    return Jhat, JLo, D, JLo @ np.linalg.inv(np.eye(N) - Jhat)


# --------------------------------------------------------------------------- right-hand side
@pytest.mark.parametrize("leak,k_p,tau_v", SETTINGS_ANYWHERE)
def test_rhs_jacobian_matches_central_differences(leak, k_p, tau_v, rng, backend):
    case = _case(leak, k_p, tau_v)
    sysm, x, t = case.system, case.x, case.target
    z = sysm.initial_state(x)
    z = z + 0.3 * rng.standard_normal(z.shape)  # a generic state, away from rest
    A = backend.call(backend.system(sysm).rhs_jacobian, x, t, z)
    assert A.shape == (3, sysm.state_size, sysm.state_size)
    A_fd = central_jacobian(lambda zz: sysm.rhs(x, t, zz), z, H)
    np.testing.assert_allclose(A, A_fd, rtol=0, atol=FD_RTOL * max(1.0, np.abs(A).max()))


@pytest.mark.parametrize("leak,k_p,tau_v", SETTINGS)
def test_rhs_vanishes_and_jacobian_is_exact_at_rest(leak, k_p, tau_v, backend):
    """At the exact steady state dz/dt = 0 (THEORY.md section 3), and the analytic Jacobian
    there (the linearised system of section 5) equals finite differences."""
    case = _case(leak, k_p, tau_v)
    sysm, x, t = case.system, case.x, case.target
    bs = backend.system(sysm)
    ss = backend.call(steady_state, sysm, x, t)
    assert np.all(ss.converged)
    z = rest_state(sysm, ss, t)
    np.testing.assert_allclose(backend.call(bs.rest_state, ss, t), z, rtol=0, atol=EXACT)
    f = backend.call(bs.rhs, x, t, z)
    scale = np.abs(t).max() / min(sysm.controller.tau_u, tau_v or np.inf)
    assert np.abs(f).max() <= 1e-11 * scale
    # and it is not zero away from rest: the check can fail
    assert np.abs(sysm.rhs(x, t, sysm.initial_state(x))).max() > 1e-3
    A = backend.call(bs.rhs_jacobian, x, t, z)
    A_fd = central_jacobian(lambda zz: sysm.rhs(x, t, zz), z, H)
    np.testing.assert_allclose(A, A_fd, rtol=0, atol=FD_RTOL * max(1.0, np.abs(A).max()))
    np.testing.assert_allclose(backend.call(bs.control, x, t, z), ss.u, rtol=0, atol=EXACT)


def test_rhs_matches_the_equations_written_out(rng, backend):
    """dz/dt of THEORY.md section 2 written out by hand, both leaks, k_p > 0."""
    for leak in ("integral", "total"):
        case = _case(leak, 0.7, 0.2, tau_u=1.3)
        sysm, x, t = case.system, case.x, case.target
        net, c, Q = sysm.network, sysm.controller, sysm.Q
        N = net.n_total
        z = sysm.initial_state(x) + 0.2 * rng.standard_normal((3, sysm.state_size))
        v, s = z[:, :N], z[:, N:]
        rates = [x] + [net.phi(i + 1).f(vi) for i, vi in enumerate(net.split(v))]
        vff = np.concatenate([r @ W.T + b for r, W, b in zip(rates, net.weights, net.biases)],
                             axis=1)
        e = t - rates[-1]
        u = s + c.k_p * e if leak == "integral" else s
        dv = (-v + vff + u @ Q.T) / c.tau_v
        if leak == "integral":
            ds = (e - c.alpha * s) / c.tau_u
        else:  # tau_u du/dt = e - alpha u + k_p tau_u de/dt, de/dt = -phi_L'(v_L) dv_L/dt
            ds = (e - c.alpha * u) / c.tau_u - c.k_p * net.phi(3).df(v[:, -3:]) * dv[:, -3:]
        np.testing.assert_allclose(backend.call(backend.system(sysm).rhs, x, t, z),
                                   np.concatenate([dv, ds], axis=1), rtol=EXACT, atol=EXACT)


@pytest.mark.parametrize("k_p", [0.0, 0.7])
def test_instantaneous_rhs_matches_the_equations_written_out(k_p, rng, backend):
    """tau_v = 0: v slaved to u, (I + k_p J Q) tau_u du/dt = e - alpha u (total leak)."""
    case = _case("total", k_p, 0.0, tau_u=1.3)
    sysm, x, t = case.system, case.x, case.target
    net, c = sysm.network, sysm.controller
    u = 0.2 * rng.standard_normal((3, 3))
    v = net.forward(x, delta=u @ sysm.Q.T).v_stacked
    e = t - net.forward(x, delta=u @ sysm.Q.T).output
    G = np.eye(3) + k_p * net.jacobian(x, v) @ sysm.Q
    want = np.linalg.solve(G, (e - c.alpha * u)[..., None])[..., 0] / c.tau_u
    bs = backend.system(sysm)
    np.testing.assert_allclose(backend.call(bs.rhs, x, t, u), want, rtol=EXACT, atol=EXACT)
    assert bs.state_size == 3 and backend.call(bs.initial_state, x).shape == (3, 3)


# --------------------------------------------------------------------------- linearisation
def test_linearise_is_rhs_and_jacobian_at_the_initial_state(backend):
    case = _case("total", 0.7, 0.2)
    sysm, x, t = case.system, case.x, case.target
    lin = backend.call(backend.system(sysm).linearise, x, t)
    z0 = backend.call(backend.system(sysm).initial_state, x, t)
    np.testing.assert_allclose(z0, sysm.initial_state(x, t), rtol=0, atol=EXACT)
    z0, x, t = sysm.initial_state(x, t), backend.np(x), backend.np(t)
    lin = type(lin)(*(np.asarray(a) for a in (lin.A, lin.c, lin.z0)))
    if backend.torch:  # the NumPy system is the oracle of the torch one
        np.testing.assert_allclose(lin.A, sysm.rhs_jacobian(x, t, z0), rtol=0, atol=EXACT)
        np.testing.assert_allclose(lin.c, sysm.rhs(x, t, z0), rtol=0, atol=EXACT)
        return
    np.testing.assert_array_equal(lin.z0, z0)
    np.testing.assert_array_equal(lin.c, sysm.rhs(x, t, z0))
    np.testing.assert_array_equal(lin.A, sysm.rhs_jacobian(x, t, z0))
    # z0 = [v^-; k_p delta_L]: the feedforward pass and the reference scheme's u(0+) for the
    # "total" leak (u = u_int + k_p e with u_int(0) = 0); without a target u(0) = 0
    np.testing.assert_array_equal(z0[:, :-3], sysm.network.forward(x).v_stacked)
    np.testing.assert_allclose(z0[:, -3:], 0.7 * (t - sysm.network.forward(x).output))
    np.testing.assert_array_equal(sysm.initial_state(x)[:, -3:], 0.0)


def test_linearisation_is_section5_A_tilde_I(backend):
    """Integral control, k_p = 0, around [v^-; 0]: A = A_tilde_I, c = [0; delta_L / tau_u],
    and in w = (I - J_hat) Delta v coordinates A becomes A_I (THEORY.md section 5)."""
    case = _case("integral", 0.0, 0.2, tau_u=1.3, family="weight_product")
    sysm, x, t = case.system, case.x[:1], case.target[:1]
    net, c, Q = sysm.network, sysm.controller, sysm.Q
    Jhat, JLo, _, J = _section5_blocks(net, x[0])
    N, n = net.n_total, net.n_out
    a11 = (np.eye(N) - Jhat) / c.tau_v
    A_tilde = np.block([[-a11, Q / c.tau_v], [-JLo / c.tau_u, -c.alpha * np.eye(n) / c.tau_u]])
    lin = backend.call(backend.system(sysm).linearise, x, t)
    np.testing.assert_allclose(lin.A[0], A_tilde, rtol=EXACT, atol=EXACT)
    delta = t[0] - net.forward(x[0]).output
    np.testing.assert_allclose(lin.c[0], np.concatenate([np.zeros(N), delta / c.tau_u]),
                               atol=EXACT)
    A_I = np.block([[-a11, a11 @ Q], [-J / c.tau_u, -c.alpha * np.eye(n) / c.tau_u]])
    T = np.block([[np.eye(N) - Jhat, np.zeros((N, n))], [np.zeros((n, N)), np.eye(n)]])
    np.testing.assert_allclose(T @ lin.A[0] @ np.linalg.inv(T), A_I, rtol=1e-10, atol=1e-10)


def test_linearisation_is_section5_A_PI_for_total_leak():
    """Total-leak PI control around [v^-; 0] in w coordinates is THEORY.md section 5's A_PI.

    A_PI as written there divides the k_p terms by tau_u as well; the dynamics of section 2
    (tau_u du/dt = e + k_p tau_u de/dt - alpha u) give k_p/tau_v without 1/tau_u, so the two
    agree for the reference time unit tau_u = 1, which is what this test uses.
    """
    case = _case("total", 0.7, 0.2, tau_u=1.0, family="weight_product")
    sysm, x, t = case.system, case.x[:1], case.target[:1]
    net, c, Q = sysm.network, sysm.controller, sysm.Q
    Jhat, JLo, D, J = _section5_blocks(net, x[0])
    N, n = net.n_total, net.n_out
    a11 = (np.eye(N) - Jhat) / c.tau_v
    kv = c.k_p / c.tau_v
    A_PI = np.block([[-a11, a11 @ Q],
                     [-(J - kv * JLo) / c.tau_u,
                      -(c.alpha * np.eye(n) + kv * np.diag(D[-1]) @ Q[-n:]) / c.tau_u]])
    T = np.block([[np.eye(N) - Jhat, np.zeros((N, n))], [np.zeros((n, N)), np.eye(n)]])
    A = sysm.linearise(x, t, z0=sysm.initial_state(x)).A[0]  # at the rest point u = 0
    np.testing.assert_allclose(T @ A @ np.linalg.inv(T), A_PI, rtol=1e-10, atol=1e-10)


def test_instantaneous_linearisation_is_A_inst(backend):
    """tau_v = 0, k_p = 0: A = -(J Q + alpha I)/tau_u (THEORY.md section 5)."""
    case = _case("integral", 0.0, 0.0, tau_u=1.3)
    sysm, x, t = case.system, case.x, case.target
    J = sysm.network.jacobian(x)
    want = -(J @ sysm.Q + sysm.controller.alpha * np.eye(3)) / 1.3
    np.testing.assert_allclose(backend.call(backend.system(sysm).linearise, x, t).A, want,
                               rtol=EXACT, atol=EXACT)


# --------------------------------------------------------------------------- parameters
def test_controller_alpha_eff_and_ratio():
    c = Controller(alpha=0.5, k_p=2.0, tau_v=0.1, tau_u=0.5, leak="integral")
    assert c.alpha_eff == pytest.approx(0.5 / (1 + 0.5 * 2.0), rel=1e-15)
    assert c.replace(leak="total").alpha_eff == 0.5
    assert c.replace(k_p=0.0).alpha_eff == 0.5  # both conventions agree without k_p
    assert c.ratio == pytest.approx(0.2) and not c.instantaneous
    assert c.replace(tau_v=0.0).instantaneous
    assert Controller(alpha=1).leak == "integral"  # the paper's convention is the default
    with pytest.raises(AttributeError):
        c.alpha = 1.0  # frozen


def test_system_accepts_q_blocks_and_splits_them(rng):
    net = Network.random([3, 4, 2], seed=0)
    blocks = [rng.standard_normal((4, 2)), rng.standard_normal((2, 2))]
    sysm = DFCSystem(net, blocks, Controller(alpha=0.1))
    np.testing.assert_array_equal(sysm.Q, np.vstack(blocks))
    for got, want in zip(sysm.Q_blocks, blocks):
        np.testing.assert_array_equal(got, want)
    assert sysm.state_size == 8
    other = sysm.replace(controller=Controller(alpha=0.3))
    assert other.controller.alpha == 0.3 and other.Q is sysm.Q
