"""Tests of dfc_theory.symbolic: every symbolic statement is checked numerically.

* exact symbolic identities are checked with sympy (simplify(...) == 0);
* symbolic -> numeric substitutions against dfc_theory.stability to 1e-12 relative
  (the same float64 formulas evaluated in a different order);
* characteristic polynomials against numeric eigenvalues through the polynomial's values
  at the eigenvalues (relative residual bounded by the eigenvalue conditioning);
* Routh-Hurwitz / Lienard-Chipart verdicts against the signs of eigenvalue real parts,
  excluding points within a stated margin of the imaginary axis.
"""
import numpy as np
import pytest
import sympy as sp

import dfc_theory as d
from dfc_theory import stability as st
from dfc_theory import symbolic as sy
from dfc_theory.symbolic import ALPHA, K_P, RHO, S
from _cases import make_case

A_SYM, B_SYM = sp.symbols("a b", real=True)


# ---------------------------------------------------------------------------- steady state
def test_alpha_tilde_for_both_conventions():
    assert sp.simplify(sy.alpha_effective("integral") - ALPHA / (1 + ALPHA * K_P)) == 0
    assert sp.simplify(sy.alpha_effective("total") - ALPHA) == 0
    r = sy.controller_rest("integral")
    u = sp.Symbol("u")
    assert sp.simplify(r["u_int"] - u / (1 + ALPHA * K_P)) == 0
    # numerically: the library's Controller.alpha_eff is the same function
    rng = np.random.default_rng(0)
    f = {lk: sp.lambdify((ALPHA, K_P), sy.alpha_effective(lk)) for lk in ("integral", "total")}
    for _ in range(20):
        a, k = rng.uniform(0, 3), rng.uniform(0, 3)
        for lk in ("integral", "total"):
            assert np.isclose(d.Controller(alpha=a, k_p=k, leak=lk).alpha_eff, f[lk](a, k),
                              rtol=1e-14)


@pytest.mark.parametrize("sizes, leak", [((1, 1, 1), "integral"), ((2, 2, 2), "total"),
                                         ((2, 3, 1), "integral")])
def test_linear_network_steady_state_equals_lemma1_and_newton(sizes, leak):
    out = sy.linear_network_steady_state(sizes, leak)
    assert out["difference"] == sp.zeros(*out["difference"].shape)
    # numeric: substitute a random linear network and compare with Newton's steady state
    rng = np.random.default_rng(1)
    net = d.Network.random(list(sizes), activation="linear", seed=2)
    Q = rng.standard_normal((net.n_total, net.n_out))
    alpha, k_p = 0.7, 0.4
    sysm = d.DFCSystem(net, Q, d.Controller(alpha=alpha, k_p=k_p, leak=leak, tau_v=0.2))
    x = rng.standard_normal(sizes[0])
    target = rng.standard_normal(sizes[-1])
    ss = d.steady_state(sysm, x, target)
    subs = {ALPHA: alpha, K_P: k_p}
    for i, w in enumerate(net.weights, start=1):
        for a in range(w.shape[0]):
            for b in range(w.shape[1]):
                subs[sp.Symbol(f"W{i}_{a + 1}{b + 1}")] = w[a, b]
    row = 0
    for i, n_i in enumerate(sizes[1:], start=1):
        for a in range(n_i):
            for b in range(sizes[-1]):
                subs[sp.Symbol(f"q{i}_{a + 1}{b + 1}")] = Q[row + a, b]
        row += n_i
    for a in range(sizes[0]):
        subs[sp.Symbol(f"x_{a + 1}")] = x[a]
    for a in range(sizes[-1]):
        subs[sp.Symbol(f"rstar_{a + 1}")] = target[a]
    u_sym = np.array(out["u"].subs(subs).evalf(), dtype=float).ravel()
    assert np.allclose(u_sym, ss.u, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- matrices
@pytest.mark.parametrize("sizes", [(1, 1, 1), (2, 2, 2)])
@pytest.mark.parametrize("at", ["feedforward", "steady_state"])
def test_symbolic_matrices_equal_numeric(sizes, at):
    sym = sy.symbolic_system(sizes)
    M = sym.matrices()
    rng = np.random.default_rng(3)
    for trial in range(3):
        net = d.Network.random(list(sizes), seed=10 + trial, bias_scale=0.5)
        Q = rng.standard_normal((net.n_total, net.n_out))
        ctrl = d.Controller(alpha=rng.uniform(0, 1), k_p=rng.uniform(0, 2),
                            tau_v=rng.uniform(0.05, 1), tau_u=rng.uniform(0.5, 2))
        sysm = d.DFCSystem(net, Q, ctrl)
        x = rng.standard_normal(sizes[0])
        target = net.forward(x).output + 0.1 * rng.standard_normal(sizes[-1])
        num = st.system_matrices(sysm, x, target, at=at)
        subs = sy.substitutions(sym, sysm, x, target, at=at)
        # every symbol is substituted (W_1 has a value too but does not enter the matrices)
        assert set().union(*[m.free_symbols for m in M.values()]) <= set(subs)
        for key, A in M.items():
            An = np.array(A.subs(subs).evalf(), dtype=float)
            assert np.max(np.abs(An - num[key])) <= 1e-12 * max(1.0, np.max(np.abs(num[key])))
        # the numeric-weight variant with a numeric controller agrees too
        ns = sy.symbolic_from_system(sysm, x, target, at=at, controller="numeric")
        An = np.array(ns.matrices()["A_PI_integral"].evalf(), dtype=float)
        assert np.max(np.abs(An - num["A_PI_integral"])) <= 1e-12 * np.max(np.abs(An))


def test_symbolic_A_I_is_similar_to_A_tilde_I():
    """Exact: A_I T = T A_tilde_I with T = blockdiag(I - J_hat, I), symbolically."""
    sym = sy.symbolic_system((2, 2, 2))
    M = sym.matrices()
    T = sp.diag(sp.eye(sym.N) - sym.J_hat(), sp.eye(sym.n_out))
    assert sp.simplify(M["A_I"] * T - T * M["A_tilde_I"]) == sp.zeros(6, 6)


# ---------------------------------------------------------------------------- polynomials
def test_characteristic_polynomial_roots_are_eigenvalues():
    sym = sy.symbolic_system((1, 1, 1))
    rng = np.random.default_rng(4)
    for key in ("A_tilde_I", "A_PI", "A_PI_integral"):
        poly = sy.characteristic_polynomial(sym.matrices()[key])
        assert poly.degree() == 3
        for _ in range(5):
            subs = {z: rng.uniform(0.2, 2.0) for z in poly.free_symbols - {S}}
            coeffs = np.array([float(c.subs(subs)) for c in poly.all_coeffs()])
            A = np.array(sym.matrices()[key].subs(subs).evalf(), dtype=float)
            lam = np.linalg.eigvals(A)
            assert coeffs[0] > 0
            # p(lambda) = 0 relative to the size of its terms
            for l in lam:
                terms = np.abs(coeffs) * np.abs(l) ** np.arange(len(coeffs) - 1, -1, -1)
                assert abs(np.polyval(coeffs, l)) <= 1e-10 * terms.sum()


def test_routh_first_column_is_ratio_of_hurwitz_minors():
    """For a generic quartic: first column = [b0, D1, D2/D1, D3/D2, D4/D3] exactly."""
    b = sp.symbols("b0:5", positive=True)
    col = sy.routh_first_column(b)
    D = sy.hurwitz_minors(b)
    expected = [b[0], D[0], D[1] / D[0], D[2] / D[1], D[3] / D[2]]
    for c, e in zip(col, expected):
        assert sp.simplify(c - e) == 0
    # classic cubic condition b1 b2 > b0 b3
    cub = sp.symbols("c0:4", positive=True)
    conds = dict(sy.hurwitz_conditions(cub))
    assert sp.simplify(conds["Delta_2"] / (cub[1] * cub[2] - cub[0] * cub[3])).is_number


def test_numeric_routh_matches_roots():
    rng = np.random.default_rng(5)
    n_checked = 0
    for deg in range(1, 8):
        for _ in range(150):
            roots = rng.standard_normal(deg) * 1.0 + rng.uniform(-0.6, 0.2)
            # real polynomials: pair up complex roots
            k = deg // 2
            cr = rng.uniform(-1, 0.3, k) + 1j * rng.uniform(0.1, 2, k)
            rr = list(cr) + list(cr.conj()) + list(roots[: deg - 2 * k])
            coeffs = np.real(np.poly(rr)) * rng.uniform(0.5, 3)
            a = max(np.real(rr))
            if abs(a) < 1e-3:
                continue
            assert sy.is_hurwitz_polynomial(coeffs) == (a < 0), (coeffs, rr)
            n_checked += 1
    assert n_checked > 900
    assert not sy.is_hurwitz_polynomial([1.0, 0.0, 1.0])        # roots +-i: not strictly
    with pytest.raises(ValueError, match="coeffs"):
        sy.is_hurwitz_polynomial([0.0, 1.0])


def test_positivity_certificate():
    x, y = sp.symbols("x y", nonnegative=True)
    r = sp.Symbol("r", positive=True)
    assert sy.positive_by_coefficients(1 + x + x * y, [x, y])
    assert not sy.positive_by_coefficients(x + y, [x, y])              # zero at the origin
    assert sy.positive_by_coefficients(r * (2 + x), [x], [r])           # positive factor r
    assert not sy.positive_by_coefficients(1 - x, [x])


# ---------------------------------------------------------------------------- regions
def _chain_matrix(depth, leak, a, b, alpha, k_p, rho, w2=1.7):
    """Numeric A (dfc_theory.stability, no SymPy) of a 1-1 / 1-1-1 chain realising the loop
    gains a = D_L Q_L and b = D_2 W_2 D_1 Q_1, with a tanh hidden layer at v_1 = 0.8
    (D_1 = 1 - tanh(0.8)^2 != 1) and W_2 = w2 != 1."""
    if depth == 1:
        net = d.Network([[[1.0]]], activation="tanh", output_activation="linear")
        Q = [[a]]
    else:
        net = d.Network([[[1.0]], [[w2]]], biases=[[0.8], [0.0]], activation="tanh",
                        output_activation="linear")
        d1 = 1.0 - np.tanh(0.8) ** 2
        Q = [[b / (w2 * d1)], [a]]
    ctrl = d.Controller(alpha=alpha, k_p=k_p, tau_v=rho, tau_u=1.0, leak=leak)
    key = "A_PI_integral" if leak == "integral" else "A_PI"
    return st.system_matrices(d.DFCSystem(net, np.array(Q), ctrl), np.zeros(1))[key]


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("leak", ["integral", "total"])
def test_scalar_chain_region_matches_eigenvalues(depth, leak):
    """The closed form depends on the network only through a, b (checked with W_2, D_i
    != 1) and its verdict equals the sign of the spectral abscissa at random points at
    distance >= 1e-6 from the imaginary axis."""
    reg = sy.scalar_chain_region(depth, leak)
    cf = sp.lambdify(reg.params, reg.poly.all_coeffs())
    rng = np.random.default_rng(6 + depth)
    n = 0
    for _ in range(150):
        vals = dict(alpha=rng.uniform(0, 1.5), k_p=rng.choice([0.0, rng.uniform(0, 3)]),
                    rho=rng.uniform(0.02, 2.0), a=rng.uniform(-2, 2), b=rng.uniform(-2, 30))
        A = _chain_matrix(depth, leak, vals["a"], vals["b"], vals["alpha"], vals["k_p"],
                          vals["rho"])
        a_ = st.spectral_abscissa(A)
        if abs(a_) < 1e-6:
            continue
        args = {str(p): vals[str(p)] for p in reg.params}
        assert bool(reg.stable(**args)) == (a_ < 0), (vals, a_)
        # characteristic polynomial values at the eigenvalues vanish
        coeffs = np.array(cf(*[vals[str(p)] for p in reg.params]), dtype=float)
        for l in np.linalg.eigvals(A):
            terms = np.abs(coeffs) * np.abs(l) ** np.arange(len(coeffs) - 1, -1, -1)
            assert abs(np.polyval(coeffs, l)) <= 1e-10 * terms.sum()
        n += 1
    assert n > 140


def test_222_numeric_weight_region_matches_eigenvalues():
    """2-2-2 tanh network, numeric W, D, Q (exact rationals), symbolic alpha, k_p, rho:
    Lienard-Chipart verdict vs eigenvalues at 120 random (alpha, k_p, rho)."""
    c = make_case([2, 2, 2], family="random_gaussian", seed=7, batch=1, alpha=0.1, tau_v=0.3)
    ss = sy.symbolic_from_system(c.system, c.x[0], exact=True)
    rng = np.random.default_rng(8)
    for key in ("A_PI_integral", "A_PI"):
        reg = sy.stability_region(ss, key)
        assert [str(p) for p in reg.params] == ["alpha", "k_p", "rho"]
        n = 0
        for _ in range(120):
            al, kp, rho = rng.uniform(0, 2), rng.uniform(0, 3), rng.uniform(0.02, 2)
            ctrl = d.Controller(alpha=al, k_p=kp, tau_v=rho, tau_u=1.0)
            A = st.system_matrices(c.system.replace(controller=ctrl), c.x[0])[key]
            a_ = st.spectral_abscissa(A)
            if abs(a_) < 1e-6:
                continue
            assert bool(reg.stable(alpha=al, k_p=kp, rho=rho)) == (a_ < 0), (al, kp, rho, a_)
            n += 1
        assert n > 110


def test_222_fully_symbolic_charpoly_matches_numeric():
    """Fully symbolic 2-2-2 A_tilde_I (weights, D, Q symbolic; tau_u = 1): its
    characteristic polynomial, substituted, vanishes at the numeric eigenvalues."""
    sym = sy.symbolic_system((2, 2, 2), tau_v=RHO, tau_u=1)
    poly = sy.characteristic_polynomial(sym.matrices()["A_tilde_I"])
    assert poly.degree() == 6
    rng = np.random.default_rng(9)
    net = d.Network.random([2, 2, 2], seed=11, bias_scale=0.3)
    Q = rng.standard_normal((4, 2))
    sysm = d.DFCSystem(net, Q, d.Controller(alpha=0.3, tau_v=0.4, tau_u=1.0))
    x = rng.standard_normal(2)
    subs = sy.substitutions(sym, sysm, x, controller=False)
    subs[ALPHA], subs[RHO] = 0.3, 0.4
    coeffs = np.array([float(cf.subs(subs)) for cf in poly.all_coeffs()])
    lam = np.linalg.eigvals(st.system_matrices(sysm, x)["A_tilde_I"])
    for l in lam:
        terms = np.abs(coeffs) * np.abs(l) ** np.arange(len(coeffs) - 1, -1, -1)
        # the eigenvalue -1/tau_v has multiplicity 2 (J_hat nilpotent): p(lambda) is then
        # accurate only to sqrt(eps)-perturbed roots -> relative residual ~ 1e-8
        assert abs(np.polyval(coeffs, l)) <= 1e-7 * terms.sum()


# ---------------------------------------------------------------------------- findings
@pytest.mark.parametrize("leak", ["integral", "total"])
def test_single_layer_integral_control_no_gap(leak):
    """1-1 network, k_p = 0: every Hurwitz condition is either Condition 3 or positive
    (proved by the positivity certificate) -- Condition 3 <=> stability for every
    tau_v / tau_u.  Checked numerically on a grid too."""
    g = sy.condition3_gap(depth=1, leak=leak, k_p=0)
    assert g["no_gap_proved"] and not g["gap_exists"]
    assert set(g["classification"].values()) <= {"positive", "condition3"}
    for a in np.linspace(-2, 2, 9):
        for alpha in (0.0, 0.3, 1.0):
            for rho in (0.01, 0.5, 5.0):
                A = _chain_matrix(1, leak, a, 0.0, alpha, 0.0, rho)
                if abs(a + alpha) > 1e-9:
                    assert (st.spectral_abscissa(A) < 0) == (a + alpha > 0)


def test_single_layer_pi_gap_needs_negative_gain():
    """1-1 network, k_p > 0: a gap exists only for a = J Q < 0 ("total": b_1 = 1 + alpha rho
    + k_p a fails for k_p >= (1 + alpha rho) / |a|); with a >= 0 it is proved absent.  The
    "integral" leak's static condition is alpha + (1 + alpha k_p) a > 0, i.e. a > -alpha_tilde,
    stricter than Condition 3 (a > -alpha)."""
    for leak in ("integral", "total"):
        g = sy.condition3_gap(depth=1, leak=leak)
        assert g["gap_exists"] and g["witness_abscissa"] > 0 and g["witness"]["a"] < 0
        assert g["no_gap_proved_nonneg"] and not g["gap_exists_nonneg"]
    # total: threshold k_p* = (1 + alpha rho) / |a|, checked on both sides
    a, alpha, rho = -0.4, 0.7, 0.3
    kstar = (1 + alpha * rho) / abs(a)
    assert st.spectral_abscissa(_chain_matrix(1, "total", a, 0, alpha, 0.99 * kstar, rho)) < 0
    assert st.spectral_abscissa(_chain_matrix(1, "total", a, 0, alpha, 1.01 * kstar, rho)) > 0
    # integral: unstable for -alpha < a < -alpha_tilde even as rho -> 0 (static condition)
    alpha, k_p = 1.0, 1.0
    a_tilde = alpha / (1 + alpha * k_p)
    a = -0.5 * (alpha + a_tilde)
    for rho in (1e-3, 0.1):
        assert st.spectral_abscissa(_chain_matrix(1, "integral", a, 0, alpha, k_p, rho)) > 0
        assert st.spectral_abscissa(_chain_matrix(1, "total", a, 0, alpha, k_p, rho)) < 0


def test_two_layer_gap_exists_with_positive_gains():
    """1-1-1 network, k_p = 0: Condition 3 (alpha + a + b > 0) can hold while the finite-tau_v
    system is unstable, even with a, b >= 0 (as for Q = J^T): Delta_2 < 0 iff
    b > b* = (1 + alpha rho)(2 + (2 alpha + a) rho) / rho.  b* -> infinity as rho -> 0
    (Proposition 5 recovered)."""
    for leak in ("integral", "total"):
        g = sy.condition3_gap(depth=2, leak=leak, k_p=0)
        assert g["gap_exists"] and g["gap_exists_nonneg"]
        w = g["witness_nonneg"]
        assert w["a"] >= 0 and w["b"] >= 0 and w["alpha"] + w["a"] + w["b"] > 0
        assert g["witness_abscissa_nonneg"] > 0
        bstar = (1 + ALPHA * RHO) * (2 + (2 * ALPHA + A_SYM) * RHO) / RHO
        assert sp.simplify(g["critical_b"] - bstar) == 0
        assert sp.limit(bstar, RHO, 0) == sp.oo
    # numeric: crossing b* flips the sign of the spectral abscissa
    rng = np.random.default_rng(12)
    f = sp.lambdify((ALPHA, A_SYM, RHO), bstar)
    for _ in range(30):
        alpha, a, rho = rng.uniform(0, 1), rng.uniform(0, 2), rng.uniform(0.05, 2)
        b = f(alpha, a, rho)
        for leak in ("integral", "total"):
            assert st.spectral_abscissa(_chain_matrix(2, leak, a, 0.999 * b, alpha, 0, rho)) < 0
            assert st.spectral_abscissa(_chain_matrix(2, leak, a, 1.001 * b, alpha, 0, rho)) > 0


def test_proportional_gain_closes_the_two_layer_gap():
    """1-1-1, "total" leak, a = alpha = 0: Delta_2 / rho = 2 + (2 k_p - rho) b, so for
    k_p >= rho / 2 no hidden-path gain b > 0 destabilises; below it b* = 2 / (rho - 2 k_p)."""
    g = sy.condition3_gap(depth=2, leak="total")
    bstar = sp.simplify(g["critical_b"].subs({A_SYM: 0, ALPHA: 0}))
    assert sp.simplify(bstar - 2 / (RHO - 2 * K_P)) == 0
    rho = 0.5
    for b in (1.0, 10.0, 1e3):
        assert st.spectral_abscissa(_chain_matrix(2, "total", 0.0, b, 0.0, 0.26, rho)) < 0
    assert st.spectral_abscissa(_chain_matrix(2, "total", 0.0, 2 / (rho - 0.2) * 1.01, 0.0,
                                              0.1, rho)) > 0


def test_prop5_limit_of_the_closed_form():
    """As rho -> 0 the 1-1-1 integral-control conditions reduce to Condition 3: every other
    Lienard-Chipart condition, divided by its power of rho, tends to a positive constant."""
    reg = sy.scalar_chain_region(2, "integral")
    conds = dict(reg.conditions)
    cond3 = ALPHA + A_SYM + B_SYM
    for lab, e in conds.items():
        e0 = e.subs(K_P, 0)
        if sp.simplify(e0 / cond3).is_number:
            continue
        lead = sp.Poly(e0, RHO).terms()[-1]           # lowest power of rho
        assert lead[1].is_number and lead[1] > 0, (lab, e0)


# ---------------------------------------------------------------------------- bad input
def test_bad_input():
    with pytest.raises(ValueError, match="leak"):
        sy.controller_rest("leaky")
    with pytest.raises(ValueError, match="sizes"):
        sy.symbolic_system((1,))
    with pytest.raises(ValueError, match="W2"):
        sy.symbolic_system((1, 1, 1), weights=[[[1]], [[1, 2]]])
    with pytest.raises(ValueError, match="key"):
        sy.stability_region(sy.symbolic_system((1, 1)), key="A_X")
    with pytest.raises(ValueError, match="A"):
        sy.characteristic_polynomial(sp.zeros(2, 3))
    with pytest.raises(ValueError, match="depth"):
        sy.scalar_chain_region(3)
    with pytest.raises(ValueError, match="values"):
        sy.scalar_chain_region(1).evaluate(alpha=1.0)
    c = make_case([2, 2, 2], family="random_gaussian", seed=1, tau_v=0.2)
    with pytest.raises(ValueError, match="system"):
        sy.substitutions(sy.symbolic_system((1, 1, 1)), c.system, c.x[0])
    with pytest.raises(ValueError, match="x"):
        sy.symbolic_from_system(c.system, c.x)
    x = sp.Symbol("x", real=True)
    with pytest.raises(ValueError, match="positive"):
        sy.characteristic_polynomial(sp.Matrix([[1 / x]]))
