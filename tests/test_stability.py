"""Tests of dfc_theory.stability: the linearised system matrices (THEORY.md section 5), their
spectra and Lyapunov certificates, Condition 3 / Proposition 5, the Euler limits, and the
agreement of the stability verdict with simulated behaviour.

Tolerances:
* exact identities (the same matrix built two ways, similarity transforms): 1e-12 relative
  to the matrix norm (a few hundred ulps of the O(1)-O(10) entries);
* central finite differences (h = 1e-5): atol 1e-8 (truncation h^2/6 |f'''| + rounding
  eps/h ~ 1e-10, a 100x margin; see tests/_cases.py);
* eigenvalues: first-order perturbation bound kappa(lambda) * ||dA||, with kappa the
  eigenvalue condition number 1/|y^H x| computed from the eigenvectors;
* rates: fitted slopes of log error against time (or log tau_v), with the bias bound derived
  in each test.
"""
import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, event, given, settings
from hypothesis import strategies as hst

import dfc_theory as d
from dfc_theory import stability as st
from _cases import central_jacobian, make_case
from dfc_theory.testing.strategies import systems

EPS = np.finfo(float).eps


def rest_z(system, x, target, at):
    """Dynamical state z = [v; s] of the rest point used by system_matrices."""
    if at == "feedforward":
        return system.initial_state(x)
    p = st.linearisation_point(system, x, target, at="steady_state")
    u = np.atleast_2d(p["u"])
    c = system.controller
    s = u / (1.0 + c.alpha * c.k_p) if c.leak == "integral" else u
    if c.instantaneous:
        return s
    return np.concatenate([np.atleast_2d(p["v"]), s], axis=1)


def leading_eig_tolerance(A, dA_norm):
    """First-order bound on the perturbation of the leading eigenvalue (largest real part):
    kappa * ||dA|| with kappa = ||x|| ||y|| / |y^H x| (right/left eigenvectors x, y)."""
    lam, VL, VR = scipy.linalg.eig(A, left=True, right=True)
    k = np.argmax(lam.real)
    x, y = VR[:, k], VL[:, k]
    kappa = np.linalg.norm(x) * np.linalg.norm(y) / abs(np.vdot(y, x))
    return 10.0 * kappa * dA_norm


CASES = [
    dict(sizes=[3, 4, 3, 2], family="random_gaussian"),
    dict(sizes=[2, 3, 2], family="jacobian_transpose"),
    dict(sizes=[4, 5, 3], family="weight_product", activation="sigmoid"),
    dict(sizes=[2, 2], family="pseudoinverse"),
]


# ---------------------------------------------------------------------------- matrices
@pytest.mark.parametrize("case", CASES)
def test_J_equals_JLo_times_inverse_of_I_minus_Jhat(case):
    c = make_case(**case, seed=1, tau_v=0.2)
    v = c.network.forward(c.x).v_stacked
    Jhat, JLo, _ = c.system.blocks(v)
    N = c.network.n_total
    J = c.network.jacobian(c.x)
    J2 = JLo @ np.linalg.inv(np.eye(N) - Jhat)
    assert np.max(np.abs(J - J2)) <= 1e-12 * max(1.0, np.max(np.abs(J)))


@pytest.mark.parametrize("leak", ["integral", "total"])
@pytest.mark.parametrize("k_p", [0.0, 0.7])
@pytest.mark.parametrize("tau_u", [1.0, 2.5])
@pytest.mark.parametrize("at", ["feedforward", "steady_state"])
def test_A_system_matches_finite_differences_of_rhs(leak, k_p, tau_u, at):
    c = make_case([3, 4, 3, 2], family="random_gaussian", seed=2, lam=0.05, alpha=0.8,
                  k_p=k_p, tau_v=0.3, tau_u=tau_u, leak=leak)
    sysm, x, t = c.system, c.x, c.target
    m = st.system_matrices(sysm, x, t, at=at)
    z = rest_z(sysm, x, t, at)
    if at == "steady_state":   # a rest point (the feedforward state is one only for delta = 0)
        assert np.max(np.abs(sysm.rhs(x, t, z))) <= 1e-10
    A_fd = central_jacobian(lambda zz: sysm.rhs(x, t, zz), z)
    assert np.max(np.abs(m["A_system"] - A_fd)) <= 1e-8 * max(1.0, np.max(np.abs(A_fd)))
    # and the analytic Jacobian of the core agrees to rounding
    A_an = sysm.rhs_jacobian(x, t, z)
    assert np.max(np.abs(m["A_system"] - A_an)) <= 1e-12 * np.max(np.abs(A_an))
    if k_p == 0.0:
        # with k_p = 0 both conventions are integral control: A_tilde_I
        assert np.max(np.abs(m["A_system"] - m["A_tilde_I"])) <= 1e-14 * np.max(np.abs(A_an))


@pytest.mark.parametrize("tau_u", [1.0, 2.5])
def test_similarity_w_coordinates(tau_u):
    """A_I = T A_tilde_I T^{-1} and A_PI = T A_PI^(dv) T^{-1}, T = blockdiag(I - J_hat, I)."""
    c = make_case([3, 4, 3, 2], family="random_gaussian", seed=3, alpha=0.4, k_p=0.6,
                  tau_v=0.25, tau_u=tau_u, leak="total")
    sysm, x = c.system, c.x
    m = st.system_matrices(sysm, x)
    Jhat, _, _ = sysm.blocks(c.network.forward(x).v_stacked)
    N, nL = c.network.n_total, c.network.n_out
    T = np.zeros((x.shape[0], N + nL, N + nL))
    T[:, :N, :N] = np.eye(N) - Jhat
    T[:, N:, N:] = np.eye(nL)
    for w_key, dv_key in (("A_I", "A_tilde_I"), ("A_PI", "A_system")):
        lhs, rhs = m[w_key] @ T, T @ m[dv_key]
        scale = np.linalg.norm(m[w_key], axis=(1, 2)) * np.linalg.norm(T, axis=(1, 2))
        assert np.all(np.linalg.norm(lhs - rhs, axis=(1, 2)) <= 1e-13 * scale)
        # similar matrices: same leading eigenvalue up to its conditioning
        for b in range(x.shape[0]):
            tol = leading_eig_tolerance(m[dv_key][b], 1e-13 * scale[b]) + 1e-12
            assert abs(st.spectral_abscissa(m[w_key][b])
                       - st.spectral_abscissa(m[dv_key][b])) <= tol


def test_A_PI_is_theory_formula_at_tau_u_1_and_differs_otherwise():
    """THEORY.md section 5 writes the k_p terms of A_PI as (k_p / tau_v) / tau_u: that is the
    linearisation of section 2's "total" dynamics only for tau_u = 1 (time in units of
    tau_u).  Our A_PI uses k_p tau_u / tau_v inside the bracket and matches the dynamics for
    every tau_u (test above); here we pin down the difference."""
    for tau_u, should_match in ((1.0, True), (2.0, False)):
        c = make_case([3, 3, 2], family="random_gaussian", seed=4, alpha=0.3, k_p=0.9,
                      tau_v=0.2, tau_u=tau_u, leak="total")
        sysm, x = c.system, c.x
        ctl = sysm.controller
        m = st.system_matrices(sysm, x)
        v = c.network.forward(x).v_stacked
        Jhat, JLo, D = sysm.blocks(v)
        DL = D[-1]
        J = c.network.jacobian(x)
        N, nL = c.network.n_total, c.network.n_out
        a11 = (np.eye(N) - Jhat) / ctl.tau_v
        lit = np.zeros_like(m["A_PI"])
        lit[:, :N, :N] = -a11
        lit[:, :N, N:] = a11 @ sysm.Q
        lit[:, N:, :N] = -(J - (ctl.k_p / ctl.tau_v) * JLo) / ctl.tau_u
        lit[:, N:, N:] = -(ctl.alpha * np.eye(nL) + (ctl.k_p / ctl.tau_v) * DL[:, :, None]
                           * sysm.Q_blocks[-1]) / ctl.tau_u
        err = np.max(np.abs(lit - m["A_PI"]))
        if should_match:
            assert err <= 1e-13 * np.max(np.abs(lit))
        else:
            assert err > 1e-3


def test_A_inst_and_instantaneous_A_system_match_finite_differences():
    for leak, k_p in (("integral", 0.0), ("total", 0.0), ("total", 0.8)):
        c = make_case([3, 4, 2], family="random_gaussian", seed=5, alpha=0.9, k_p=k_p,
                      tau_v=0.0, tau_u=1.5, leak=leak)
        sysm, x, t = c.system, c.x, c.target
        for at in ("feedforward", "steady_state"):
            m = st.system_matrices(sysm, x, t, at=at)
            assert m["A_tilde_I"] is None and m["A_PI"] is None
            z = rest_z(sysm, x, t, at)
            A_fd = central_jacobian(lambda zz: sysm.rhs(x, t, zz), z)
            if k_p == 0.0 or at == "steady_state":
                # with k_p > 0 the rhs (I + k_p J(u) Q)^{-1} (e - alpha u) / tau_u has an extra
                # derivative term from J(u), proportional to e - alpha u: zero only at rest
                assert np.max(np.abs(m["A_system"] - A_fd)) <= 1e-8
            else:
                assert np.max(np.abs(m["A_system"] - A_fd)) > 1e-6
            if k_p == 0.0:
                assert np.max(np.abs(m["A_inst"] - m["A_system"])) <= 1e-15


def _slow_spectrum_error(c, key_finite, inst_key, inst_ctrl, taus):
    """Distance of the n_L slow eigenvalues of a finite-tau_v matrix from the instantaneous
    spectrum, for each tau_v."""
    errs = []
    for tv in taus:
        s = c.system.replace(controller=c.controller.replace(tau_v=tv))
        A = st.system_matrices(s, c.x[0])[key_finite]
        lam = np.linalg.eigvals(A)
        lam = lam[np.argsort(np.abs(lam))][:c.network.n_out]   # slow modes: O(1/tau_u)
        s0 = c.system.replace(controller=inst_ctrl)
        mu = np.linalg.eigvals(st.system_matrices(s0, c.x[0])[inst_key])
        errs.append(max(np.min(np.abs(lam - m)) for m in mu))
    return np.array(errs)


@pytest.mark.parametrize("leak, k_p", [("integral", 0.0), ("integral", 0.5), ("total", 0.5)])
def test_instantaneous_limit_rate(leak, k_p):
    """As tau_v -> 0 the n_L slow eigenvalues of the finite-tau_v matrix converge to the
    spectrum of the instantaneous system at rate O(tau_v) (singular perturbation): fitted
    log-log slope in [0.9, 1.1].  For the integral leak with k_p > 0 the limit is our
    derived -((I + k_p J Q)^{-1} J Q + alpha I) / tau_u."""
    c = make_case([3, 4, 2], family="jacobian_transpose", seed=6, alpha=0.5, k_p=k_p,
                  tau_v=0.01, tau_u=1.0, leak=leak)
    key = "A_PI_integral" if leak == "integral" else "A_PI"
    taus = np.array([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    inst = c.controller.replace(tau_v=0.0)
    if leak == "integral" and k_p:
        # DFCSystem's instantaneous integral-leak system needs k_p = 0; build the limit here
        JQ = c.network.jacobian(c.x[0]) @ c.system.Q
        A0 = -(np.linalg.solve(np.eye(2) + k_p * JQ, JQ) + inst.alpha * np.eye(2)) / inst.tau_u
        errs = []
        for tv in taus:
            s = c.system.replace(controller=c.controller.replace(tau_v=tv))
            lam = np.linalg.eigvals(st.system_matrices(s, c.x[0])[key])
            lam = lam[np.argsort(np.abs(lam))][:2]
            errs.append(max(np.min(np.abs(lam - m)) for m in np.linalg.eigvals(A0)))
        errs = np.array(errs)
    else:
        errs = _slow_spectrum_error(c, key, "A_system", inst, taus)
    slope = np.polyfit(np.log(taus), np.log(errs), 1)[0]
    assert 0.9 <= slope <= 1.1, (slope, errs)


# ---------------------------------------------------------------------------- spectra
def test_spectra_sorted_and_abscissa_radius():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((5, 4, 4))
    lam = st.spectra(A)
    assert lam.shape == (5, 4)
    assert np.all(np.diff(lam.real, axis=1) <= 0)
    assert np.allclose(st.spectral_abscissa(A), lam.real[:, 0], rtol=0, atol=0)
    assert np.allclose(st.spectral_radius(A), np.abs(np.linalg.eigvals(A)).max(axis=1))
    assert isinstance(st.spectral_abscissa(A[0]), float)
    assert np.array_equal(st.is_hurwitz(A), lam.real[:, 0] < 0)


# ---------------------------------------------------------------------------- Lyapunov
def test_lyapunov_sign_convention_and_residual():
    """P solves A^T P + P A = -I (not the transposed equation A P + P A^T = -I, which is what
    a naive call of scipy's solver would give) for a strongly non-normal Hurwitz A."""
    A = np.array([[-1.0, 10.0, 0.0], [0.0, -2.0, 5.0], [0.0, 0.0, -0.5]])
    cert = st.lyapunov_certificate(A)
    P = cert.P
    I = np.eye(3)
    scale = np.linalg.norm(A) * np.linalg.norm(P)
    assert np.linalg.norm(A.T @ P + P @ A + I) <= 1e-12 * scale
    assert np.linalg.norm(A @ P + P @ A.T + I) > 1.0        # the wrong equation fails
    assert cert.certified and cert.min_eig > 0
    # V = z^T P z decreases at rate ||z||^2 along dz/dt = A z
    z = np.array([0.3, -1.0, 2.0])
    assert np.isclose(2 * z @ P @ (A @ z), -z @ z, rtol=1e-10)


def test_lyapunov_verdict_matches_abscissa_random():
    """Over random matrices with |a(A)| >= 0.05 ||A||-scale margin, certified iff Hurwitz;
    residual <= 1e-10 relative for the certified ones."""
    rng = np.random.default_rng(8)
    n_checked = 0
    for M in (2, 3, 5, 8):
        A = rng.standard_normal((60, M, M)) - rng.uniform(0, 2.5, (60, 1, 1)) * np.eye(M)
        a = st.spectral_abscissa(A)
        keep = np.abs(a) >= 0.05
        cert = st.lyapunov_certificate(A[keep])
        assert np.array_equal(cert.certified, a[keep] < 0)
        ok = cert.certified
        rel = cert.residual[ok] / (np.linalg.norm(A[keep][ok], axis=(1, 2))
                                   * np.linalg.norm(cert.P[ok], axis=(1, 2)))
        assert np.all(rel <= 1e-10)
        n_checked += keep.sum()
    assert n_checked > 150


def test_lyapunov_on_system_matrices():
    c = make_case([3, 4, 2], family="jacobian_transpose", seed=9, alpha=0.2, k_p=0.5,
                  tau_v=0.2, leak="integral")
    m = st.system_matrices(c.system, c.x, c.target, at="steady_state")
    for key in ("A_tilde_I", "A_I", "A_PI", "A_PI_integral", "A_inst"):
        a = st.spectral_abscissa(m[key])
        cert = st.lyapunov_certificate(m[key])
        assert np.array_equal(cert.certified, a < 0), key


# ---------------------------------------------------------------------------- conditions
def test_condition3_is_hurwitz_test_of_A_inst():
    rng = np.random.default_rng(10)
    for seed in range(6):
        c = make_case([3, 4, 2], family="random_gaussian", seed=seed,
                      alpha=float(rng.uniform(0, 1.5)), tau_v=0.2, tau_u=1.7)
        for at in ("feedforward", "steady_state"):
            try:
                c3 = st.condition3(c.system, c.x, c.target, at=at)
            except ValueError:
                continue
            m = st.system_matrices(c.system, c.x, c.target, at=at)
            a = st.spectral_abscissa(m["A_inst"])
            assert np.allclose(c3.margin, -c.controller.tau_u * a, rtol=0, atol=1e-12)
            assert np.array_equal(c3.holds, a < 0)
            p = st.linearisation_point(c.system, c.x, c.target, at=at)
            JQ = c.network.jacobian(c.x, p["v"]) @ c.system.Q
            assert np.allclose(np.sort_complex(c3.eigenvalues),
                               np.sort_complex(np.linalg.eigvals(JQ)), atol=1e-12)


def test_condition3_with_J_transpose_holds_for_any_alpha():
    c = make_case([3, 4, 2], family="jacobian_transpose", seed=11, alpha=0.0, tau_v=0.2)
    c3 = st.condition3(c.system, c.x[:1])
    # J Q = J J^T is symmetric positive semi-definite
    assert np.all(c3.eigenvalues.real >= -1e-12)
    assert np.all(np.abs(c3.eigenvalues.imag) <= 1e-12)
    assert st.condition3(c.system, c.x[:1], alpha=1e-3).holds


def test_condition2_ratio_at_rest_points():
    c = make_case([3, 4, 2], family="jacobian_transpose", seed=12, batch=1, lam=0.5,
                  alpha=0.05, tau_v=0.2)
    r_ff = st.condition2_ratio(c.system, c.x[0])
    assert abs(r_ff - 1.0) <= 1e-12
    r_ss = st.condition2_ratio(c.system, c.x[0], c.target[0], at="steady_state")
    assert r_ss < 1.0 - 1e-6           # J_ss differs from the feedforward J
    c2 = make_case([3, 4, 2], family="random_gaussian", seed=12, batch=2, tau_v=0.2)
    r = st.condition2_ratio(c2.system, c2.x)
    assert r.shape == (2,) and np.all(r < 1.0)


# ---------------------------------------------------------------------------- Euler
def test_euler_stability_formulas():
    A = np.diag([-1.0, -4.0, -10.0])
    e = st.euler_stability(A, 0.1)
    assert np.isclose(e.dt_rho, 1.0) and np.isclose(e.dt_max, 0.2) and e.stable
    assert not st.euler_stability(A, 0.21).stable
    # complex pair -1 +- 3i: |1 + dt lambda| < 1 iff dt < 2 * 1 / 10
    B = np.array([[-1.0, 3.0], [-3.0, -1.0]])
    eb = st.euler_stability(B, 0.19)
    assert np.isclose(eb.dt_max, 0.2) and eb.stable
    assert eb.dt_rho < 2.0 and not st.euler_stability(B, 0.21).stable
    # continuous-time unstable: no stable step
    assert st.euler_stability(-A, 1e-6).dt_max == 0.0 and not st.euler_stability(-A, 1e-6).stable


def _linear_instantaneous_case(seed, alpha, family="jacobian_transpose"):
    net = d.Network.random([3, 4, 2], activation="linear", seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3))
    Q = d.feedback.jacobian_transpose(net, x[0]) if family == "jacobian_transpose" else \
        d.feedback.random_gaussian(net, seed=seed)
    sysm = d.DFCSystem(net, Q, d.Controller(alpha=alpha, tau_v=0.0, tau_u=1.0))
    target = net.forward(x).output + 0.1 * rng.standard_normal((2, 2))
    return sysm, x, target


def _log_error_slope(sysm, x, target, dt, factor, proactive):
    """Fitted slope of log ||u_k - u_ss|| per step.  The run lasts until the predicted error
    factor reaches e^{-18} (decay) or e^{+12} (growth, below the simulator's blow-up guard);
    the fit uses the second half, where the dominant mode leads (subdominant modes are
    down by their ratio to the power n/2)."""
    n = int(np.ceil((18.0 if np.all(factor < 1) else 12.0) / np.min(np.abs(np.log(factor)))))
    res = d.simulate(sysm, x, target, method="euler", dt=dt, n_steps=n, proactive=proactive)
    u_ss = d.steady_state(sysm, x, target).u
    err = np.linalg.norm(res.u - u_ss[None], axis=2)          # (T+1, B)
    k = np.arange(err.shape[0])
    half = slice(err.shape[0] // 2, None)
    return np.array([np.polyfit(k[half], np.log(err[half, b]), 1)[0]
                     for b in range(err.shape[1])])


def test_forward_euler_limit_detected_in_simulation():
    """Linear network (the linearisation is exact), proactive Euler = forward Euler on
    du/dt = A_inst u: the error contracts per step by the spectral radius of I + dt A_inst,
    so the fitted slope of log error equals log max|1 + dt lambda|; and the stability limit
    dt * rho(A_inst) < 2 (real spectrum, Q = J^T) is where the slope changes sign."""
    sysm, x, t = _linear_instantaneous_case(13, alpha=0.1)
    A = st.system_matrices(sysm, x)["A_inst"]
    dt_max = st.euler_stability(A, 1.0).dt_max
    assert np.allclose(dt_max, 2.0 / st.spectral_radius(A))       # real spectrum
    dt_lim = float(np.min(dt_max))
    for f in (0.8, 1.1):
        dt = f * dt_lim
        e = st.euler_stability(A, dt)
        slope = _log_error_slope(sysm, x, t, dt, e.amplification, proactive=True)
        # each sample's error follows its amplification factor (its dominant mode)
        assert np.allclose(slope, np.log(e.amplification), atol=1e-3), (f, slope)
        assert (slope < 0).tolist() == e.stable.tolist()
    assert np.all(st.euler_stability(A, 0.8 * dt_lim).stable)
    assert not np.all(st.euler_stability(A, 1.1 * dt_lim).stable)


def _euler_states(sysm, x, target, dt, n, proactive):
    """Deviation states of the reference Euler scheme from its fixed point, reconstructed
    from the recorded u and e: y_k = [u_int_k; u_k; u_{k-1}] ([u_int_k; u_k] if proactive),
    with u_int_k = u_k - k_p e_{k-1} (the error used at step k-1)."""
    c = sysm.controller
    res = d.simulate(sysm, x, target, method="euler", dt=dt, n_steps=n, proactive=proactive)
    U, E = res.u, res.e
    ss = d.steady_state(sysm, x, target)
    u_ss = ss.u
    ui_ss = u_ss - c.k_p * (target - ss.r_L)
    ks = range(1, U.shape[0])
    if proactive:
        Y = [np.concatenate([U[k] - c.k_p * E[k - 1] - ui_ss, U[k] - u_ss], 1) for k in ks]
    else:
        Y = [np.concatenate([U[k] - c.k_p * E[k - 1] - ui_ss, U[k] - u_ss, U[k - 1] - u_ss], 1)
             for k in ks]
    return np.stack(Y)                                        # (n, B, m)


@pytest.mark.parametrize("leak, k_p", [("total", 0.0), ("total", 0.6), ("integral", 0.0)])
@pytest.mark.parametrize("proactive", [False, True])
def test_reference_euler_matrix_is_the_one_step_map(leak, k_p, proactive):
    """Linear network: the simulated reference Euler scheme obeys y_{k+1} = T y_k exactly
    (to rounding) with T from reference_euler_matrix."""
    sysm, x, t = _linear_instantaneous_case(25, alpha=0.3)
    sysm = sysm.replace(controller=sysm.controller.replace(leak=leak, k_p=k_p))
    dt = 0.05
    T = st.reference_euler_matrix(sysm, x, dt, proactive=proactive)
    Y = _euler_states(sysm, x, t, dt, 40, proactive)
    pred = np.einsum("bij,kbj->kbi", T, Y[:-1])
    assert np.max(np.abs(pred - Y[1:])) <= 1e-12 * np.max(np.abs(Y))


def test_reference_euler_scheme_has_half_the_limit():
    """The reference scheme (apical compartment sees the previous control) is a two-step
    recursion; for alpha -> 0 and a real spectrum mu of J Q >= 0 its limit is dt mu < tau_u,
    half of forward Euler's (Jury: z^2 - (1 - h alpha) z + h mu, |h mu| < 1).  At
    dt = 1.5 / rho(J Q) forward Euler (proactive) converges and the reference scheme
    diverges, as the spectral radii of their one-step matrices say."""
    sysm, x, t = _linear_instantaneous_case(14, alpha=0.01)
    JQ = sysm.network.jacobian(x) @ sysm.Q
    rho = float(np.max(np.abs(np.linalg.eigvals(JQ))))
    A = st.system_matrices(sysm, x)["A_inst"]
    for f, ref_stable in ((0.9, True), (1.5, False)):
        dt = f / rho
        r_ref = st.spectral_radius(st.reference_euler_matrix(sysm, x, dt))
        r_pro = st.spectral_radius(st.reference_euler_matrix(sysm, x, dt, proactive=True))
        assert bool(np.all(r_ref < 1)) == ref_stable
        assert np.all(r_pro < 1)
        # the proactive map is forward Euler: I + dt A_inst (plus n_L zero eigenvalues)
        assert np.allclose(r_pro, st.euler_stability(A, dt).amplification, atol=1e-12)
        for proactive, r in ((False, r_ref), (True, r_pro)):
            n = 300
            Y = _euler_states(sysm, x, t, dt, n, proactive)
            growth = np.linalg.norm(Y[-1], axis=1) / np.linalg.norm(Y[0], axis=1)
            # ||T^n y|| / ||y|| <= C r^n; for r < 1 tiny, for r > 1 (r^n ~ 1e26) huge
            if np.all(r < 1):
                assert np.all(growth < 1e-3), (f, proactive, growth)
            else:
                assert np.all(growth > 1e3), (f, proactive, growth)


# ---------------------------------------------------------------------------- decay rates
def _slope_bias_terms(A, err0, t1):
    """Ingredients of the bias bound of a least-squares slope of log ||err(t)|| against t
    over a window of length W starting at t1, for err(t) = sum_i c_i v_i e^{lambda_i t}:
    a bounded perturbation p(t) of log ||err|| with range R biases the slope by at most
    1.5 R / W.  Returns R = R_envelope + R_subdominant:

    * R_envelope = log(max/min over theta of ||Re(w e^{i theta})||) for a complex leading
      pair (w = c_1 v_1), 0 for a real leading eigenvalue;
    * R_subdominant = 2 sum_{i>lead} |c_i| ||v_i|| e^{-(a - Re lambda_i) t1} / m_lead, with
      m_lead the smallest norm of the leading part (log(1 + x) <= x)."""
    lam, V = np.linalg.eig(A)
    coef = np.linalg.solve(V, err0)
    a = lam.real.max()
    lead = np.abs(lam.real - a) < 1e-9
    th = np.linspace(0, 2 * np.pi, 1441)
    w = (coef[lead][:, None] * V[:, lead].T).sum(axis=0)        # leading part at t = 0
    if np.any(np.abs(lam[lead].imag) > 1e-12):
        k = np.flatnonzero(lead)[0]
        wk = coef[k] * V[:, k]
        norms = 2 * np.linalg.norm(np.real(wk[None] * np.exp(1j * th)[:, None]), axis=1)
    else:
        norms = np.array([np.linalg.norm(w.real)])
    R_env = float(np.log(norms.max() / norms.min()))
    sub = np.sum(np.abs(coef[~lead]) * np.linalg.norm(V[:, ~lead], axis=0)
                 * np.exp(-(a - lam[~lead].real) * t1))
    return R_env + 2 * float(sub / norms.min()), a, float(np.min(a - lam[~lead].real))


@pytest.mark.parametrize("seed, leak, k_p", [(30, "integral", 0.0), (30, "total", 0.8),
                                             (30, "integral", 2.0)])
def test_linear_trajectory_decay_rate_is_spectral_abscissa(seed, leak, k_p):
    """The exact linearised trajectory (simulate method="linear") approaches its equilibrium
    z* = z0 - A^{-1} c like e^{a t}, a = spectral abscissa of A_system: the least-squares
    slope of log ||z(t) - z*|| matches a within the derived bias bound (complex leading pair:
    envelope oscillation; subdominant modes; rounding).  Cases: 3-4-1 tanh nets with a
    spectral gap (the first has a complex leading pair)."""
    c = make_case([3, 4, 1], family="jacobian_transpose", seed=seed, batch=1, lam=0.5,
                  alpha=0.05, k_p=k_p, tau_v=0.5, tau_u=1.0, leak=leak)
    sysm, x, t = c.system, c.x, c.target
    A = st.system_matrices(sysm, x)["A_system"][0]
    lin = sysm.linearise(x, t)
    assert np.allclose(lin.A[0], A, rtol=0, atol=1e-14)
    z_star = lin.z0 - np.linalg.solve(lin.A, lin.c[..., None])[..., 0]
    err0 = (lin.z0 - z_star)[0]
    a0 = st.spectral_abscissa(A)
    gap = _slope_bias_terms(A, err0, 0.0)[2]
    t1 = 13.8 / gap                    # subdominant modes down by e^{-13.8} = 1e-6
    # leading mode down by a further e^{-10} (e^{-14} for a complex pair: more periods)
    complex_pair = abs(st.spectra(A)[0].imag) > 1e-12
    t2 = t1 + (14.0 if complex_pair else 10.0) / abs(a0)
    R, a, _ = _slope_bias_terms(A, err0, t1)
    res = d.simulate(sysm, x, t, method="linear", dt=t2 / 800, n_steps=800, record="full")
    z = np.concatenate([res.v[:, 0], res.u[:, 0] if leak == "total" else
                        (res.u[:, 0] - k_p * res.e[:, 0])], axis=1)
    err = np.linalg.norm(z - z_star, axis=1)
    assert np.isclose(err[0], np.linalg.norm(err0), rtol=1e-12)
    win = res.t >= t1
    W = res.t[win][-1] - res.t[win][0]
    rounding = 1e-14 * np.linalg.norm(lin.z0) / err[win].min()
    tol = 1.5 * (R + rounding) / W
    slope = np.polyfit(res.t[win], np.log(err[win]), 1)[0]
    assert abs(slope - a) <= tol, (slope, a, tol)
    assert tol < 0.1 * abs(a)          # the check is sharp enough to mean something


def test_nonlinear_trajectory_decay_rate_is_abscissa_at_steady_state():
    """The exact (ivp) nonlinear trajectory approaches the steady state at the rate of the
    matrix linearised THERE, not at the feedforward state (here they differ by 15%).
    Window: distance between 1e-3 and 1e-8 of its start.  Bias bound 1.5 R / W with R the
    subdominant-mode term at the window start (A at the steady state), plus the nonlinear
    correction (relative size <= 10 x distance: |tanh''| <= 0.77, O(1) weights) and the
    solver error (1e-10 |z| absolute against the smallest distance)."""
    c = make_case([3, 4, 1], family="jacobian_transpose", seed=33, batch=1, lam=2.0,
                  alpha=0.05, k_p=2.0, tau_v=0.5, tau_u=1.0, leak="integral")
    sysm, x, t = c.system, c.x, c.target
    A_ss = st.system_matrices(sysm, x, t, at="steady_state")["A_system"][0]
    a_ss = st.spectral_abscissa(A_ss)
    a_ff = st.spectral_abscissa(st.system_matrices(sysm, x, t)["A_system"][0])
    assert abs(a_ss - a_ff) > 0.1 * abs(a_ss)    # the two rest points are distinguishable
    T = 20.0 / abs(a_ss)
    res = d.simulate(sysm, x, t, method="ivp", dt=T / 800, n_steps=800, record="full",
                     rtol=1e-11, atol=1e-14)
    p = st.linearisation_point(sysm, x, t, at="steady_state")
    u_ss = p["u"][0]
    zs = np.concatenate([p["v"][0], u_ss / (1 + 0.05 * 2.0)])          # s = u_int
    z = np.concatenate([res.v[:, 0], res.u[:, 0] - 2.0 * res.e[:, 0]], axis=1)
    dist = np.linalg.norm(z - zs, axis=1)
    win = (dist < 1e-3 * dist[0]) & (dist > 1e-8 * dist[0])
    assert win.sum() > 100
    i1 = np.flatnonzero(win)[0]
    R, a, _ = _slope_bias_terms(A_ss, z[i1] - zs, 0.0)
    assert np.isclose(a, a_ss)
    R += 10 * dist[i1] + 1e-10 * np.linalg.norm(zs) / dist[win].min()
    W = res.t[win][-1] - res.t[win][0]
    tol = 1.5 * R / W
    slope = np.polyfit(res.t[win], np.log(dist[win]), 1)[0]
    assert abs(slope - a_ss) <= tol, (slope, a_ss, a_ff, tol)
    assert tol < 0.1 * abs(a_ss - a_ff)          # sharp enough to tell the two apart


# ---------------------------------------------------------------------------- agreement
K_DECISIVE = 12.0     # |a| T >= 12: exp(-12) = 6e-6, far below the 1e-2 threshold
T_MAX = 300.0         # horizon cap (units of tau_u): |a| tau_u < 12/300 = 0.04 is "marginal"


def _sweep_prop5(n_systems, seed):
    """Proposition 5's setting: tau_v = 0, k_p = 0, tanh nets, random Q, alpha around the
    Condition-3 threshold; forward Euler (proactive) with dt = dt_max / 4 of the stable
    samples (Euler-stable iff continuous-stable then).  Returns rows
    (verdict_stable, sim_converged, sim_departed, |a| T, abscissa)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_systems):
        sizes = [int(rng.integers(1, 4))] + [int(rng.integers(1, 5))
                                             for _ in range(int(rng.integers(1, 3)))] + \
            [int(rng.integers(1, 4))]
        fam = ["random_gaussian", "jacobian_transpose", "weight_product"][i % 3]
        c = make_case(sizes, family=fam, seed=int(rng.integers(2**31)), batch=4, lam=1e-3,
                      alpha=0.0, tau_v=0.0, tau_u=1.0)
        JQ = c.network.jacobian(c.x) @ c.system.Q
        thr = float(np.median(np.max(-np.linalg.eigvals(JQ).real, axis=1)))
        alpha = max(0.0, thr + float(rng.uniform(-0.5, 0.5)))
        sysm = c.system.replace(controller=c.controller.replace(alpha=alpha))
        try:
            m = st.system_matrices(sysm, c.x, c.target, at="steady_state")
        except ValueError:
            continue
        A = m["A_inst"]
        a = st.spectral_abscissa(A)
        if np.any(np.abs(a) < 1e-12):
            continue
        es = st.euler_stability(A, 1.0)
        dtm = es.dt_max[a < 0]
        rho = st.spectral_radius(A)
        dt = 0.25 * (float(dtm.min()) if dtm.size else 2.0 / float(rho.max()))
        dt = min(dt, 0.25 * 2.0 / float(rho.max()))
        amp = st.euler_stability(A, dt).amplification
        # steps so that the slowest sample's discrete factor reaches e^{-12} (or e^{+12})
        n = int(min(np.ceil(K_DECISIVE / np.min(np.abs(np.log(amp)))), T_MAX / dt))
        sv = st.simulated_verdict(sysm, c.x, c.target, t_end=n * dt, method="euler", dt=dt,
                                  proactive=True)
        # (a blow-up stops the batch early: decisiveness counts the steps actually taken)
        decisive = np.abs(np.log(amp)) * sv.result.n_steps
        for b in range(len(a)):
            rows.append((a[b] < 0, sv.converged[b], sv.departed[b], decisive[b], a[b]))
    return np.array(rows, dtype=float)


def _sweep_pi(n_systems, seed):
    """Finite tau_v with PI control (both leaks), tanh nets, matrices at the exact steady
    state; continuous-time ivp simulation over T = min(12 / min|a|, T_MAX)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_systems):
        sizes = [int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 3))]
        fam = ["random_gaussian", "jacobian_transpose", "random_condition2"][i % 3]
        leak = ["integral", "total"][i % 2]
        c = make_case(sizes, family=fam, seed=int(rng.integers(2**31)), batch=3, lam=1e-3,
                      alpha=float(rng.uniform(0.0, 1.0)), k_p=float(rng.choice([0, 0.5, 2])),
                      tau_v=float(rng.uniform(0.05, 1.0)), tau_u=1.0, leak=leak)
        # scale Q so that roughly half the systems are unstable
        sysm = c.system.replace(Q=c.system.Q * float(rng.choice([-1.0, 1.0])
                                                     * rng.uniform(0.3, 4.0)))
        try:
            m = st.system_matrices(sysm, c.x, c.target, at="steady_state")
        except ValueError:
            continue
        a = st.spectral_abscissa(m["A_system"])
        T = float(min(K_DECISIVE / np.min(np.abs(a)), T_MAX))
        sv = st.simulated_verdict(sysm, c.x, c.target, t_end=T, method="ivp",
                                  rtol=1e-8, atol=1e-12)
        for b in range(len(a)):
            rows.append((a[b] < 0, sv.converged[b], sv.departed[b], abs(a[b]) * T, a[b]))
    return np.array(rows, dtype=float)


def _check_agreement(rows, name):
    verdict, conv, dep, decisive, a = rows.T
    verdict, conv, dep = verdict.astype(bool), conv.astype(bool), dep.astype(bool)
    agree = (verdict & conv) | (~verdict & dep)
    strong = decisive >= K_DECISIVE - 1e-9
    rate_all = agree.mean()
    rate_strong = agree[strong].mean()
    msg = (f"{name}: {len(rows)} samples ({int(verdict.sum())} stable), agreement "
           f"{rate_all:.3f} overall, {rate_strong:.3f} on the {int(strong.sum())} samples with "
           f"|a| T >= {K_DECISIVE}; disagreements at |a| = "
           f"{np.sort(np.abs(a[~agree]))[:8].tolist()}")
    print(msg)
    # every decisive sample must agree; every disagreement must be a marginal one
    assert np.all(agree[strong]), msg
    assert np.all(~strong[~agree]), msg
    assert verdict.sum() >= 5 and (~verdict).sum() >= 5, msg
    return rate_all, rate_strong


def test_agreement_prop5_seeded_sweep():
    rows = _sweep_prop5(24, seed=19)
    _check_agreement(rows, "Prop 5 (tau_v = 0, k_p = 0, forward Euler)")


def test_agreement_pi_seeded_sweep():
    rows = _sweep_pi(16, seed=20)
    _check_agreement(rows, "finite tau_v, PI (ivp)")


@pytest.mark.slow
def test_agreement_large_sweeps():
    _check_agreement(_sweep_prop5(150, seed=21), "Prop 5 large sweep")
    _check_agreement(_sweep_pi(120, seed=22), "PI large sweep")


@settings(max_examples=12)
@given(case=systems(feedback=(None, "condition2"), max_layers=2, max_width=3,
                    activations=("tanh", "sigmoid", "linear"),
                    output_activations=("linear", "tanh"), alpha=(0.0, 1.5), k_p=(0.0, 2.0),
                    max_batch=2, lam=(1e-4, 1e-3)),
       q_scale=hst.sampled_from([-2.0, 0.5, 1.0, 3.0]))
def test_agreement_hypothesis(case, q_scale):
    """Any generated system: if the spectral abscissa at the exact steady state is decisive
    (|a| T >= 12 within T <= 300 tau_u), the continuous-time simulation converges iff a < 0."""
    sysm = case.system.replace(Q=case.system.Q * q_scale)
    try:
        m = st.system_matrices(sysm, case.x, case.target, at="steady_state")
    except ValueError:
        assume(False)
    a = st.spectral_abscissa(m["A_system"])
    assume(np.all(np.abs(a) * T_MAX >= K_DECISIVE))
    T = float(K_DECISIVE / np.min(np.abs(a)))
    sv = st.simulated_verdict(sysm, case.x, case.target, t_end=T, method="ivp",
                              rtol=1e-8, atol=1e-12)
    event(f"{int(np.sum(a < 0))} stable / {int(np.sum(a > 0))} unstable samples, "
          f"tau_v {'= 0' if sysm.controller.instantaneous else '> 0'}")
    assert np.array_equal(sv.converged, a < 0), (a, sv.ratio)
    assert np.array_equal(sv.departed, a > 0), (a, sv.ratio)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    c = make_case([3, 4, 2], family="random_gaussian", seed=23, tau_v=0.2)
    sysm, x, t = c.system, c.x, c.target
    with pytest.raises(ValueError, match="at"):
        st.system_matrices(sysm, x, t, at="equilibrium")
    with pytest.raises(ValueError, match="target"):
        st.system_matrices(sysm, x, at="steady_state")
    with pytest.raises(ValueError, match="target"):
        st.system_matrices(sysm, x, np.zeros((3, 5)), at="steady_state")
    with pytest.raises(ValueError, match="x"):
        st.system_matrices(sysm, np.zeros((3, 7)))
    with pytest.raises(TypeError, match="system"):
        st.system_matrices("not a system", x)
    with pytest.raises(ValueError, match="Q"):
        d.DFCSystem(c.network, np.zeros((5, 2)), c.controller)
    with pytest.raises(ValueError, match="A"):
        st.spectral_abscissa(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="A"):
        st.lyapunov_certificate(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="A"):
        st.spectra(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="dt"):
        st.euler_stability(np.eye(2), 0.0)
    with pytest.raises(ValueError, match="alpha"):
        st.condition3(sysm, x, alpha=-1.0)
    with pytest.raises(ValueError, match="margin"):
        st.is_hurwitz(np.eye(2), margin=-1)
    with pytest.raises(ValueError, match="system"):
        st.reference_euler_matrix(sysm, x, 0.01)
    with pytest.raises(ValueError, match="alpha"):
        d.Controller(alpha=-0.1)
    with pytest.raises(ValueError, match="tau_u"):
        d.Controller(alpha=0.1, tau_u=0.0)


def test_non_converged_steady_state_raises():
    """tanh output layer, alpha = 0: the steady state needs r_L = r_L*, impossible for
    |r_L*| > 1, so Newton cannot converge and there is no rest point to linearise around."""
    net = d.Network.random([2, 3, 1], output_activation="tanh", seed=24)
    x = np.array([[0.5, -0.2]])
    sysm = d.DFCSystem(net, d.feedback.jacobian_transpose(net, x[0]),
                       d.Controller(alpha=0.0, tau_v=0.2))
    with pytest.raises(ValueError, match="at: the exact .* did not converge"):
        st.system_matrices(sysm, x, np.array([[3.0]]), at="steady_state")
    with pytest.raises(ValueError, match="did not converge"):
        st.condition3(sysm, x, np.array([[3.0]]), at="steady_state")
    # the feedforward matrices do not need a steady state
    assert st.system_matrices(sysm, x)["A_tilde_I"].shape == (1, 5, 5)


@pytest.mark.slow
def test_stability_figure_smoke(tmp_path):
    """figures.stability runs end to end at a coarse resolution, writes its files, and its
    closed-form boundaries agree with the numeric spectral abscissa."""
    from figures import stability as fig
    res = fig.run(out=tmp_path, grid=9, markers=2)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"stability.{ext}").stat().st_size > 1000
    data = np.load(tmp_path / "stability_data.npz")
    assert data["abscissa_a"].shape == (9, 9)
    assert res["symbolic_vs_numeric_agreement"] == [1.0, 1.0]
    assert res["unstable_fraction_a_with_condition3"] > 0
    assert "Condition 3" in res["summary"]
