"""The claims registry (dfc_theory.testing.claims) and the counterexample search.

Each claim can hold and can fail: hand-built draws on both sides of the known ones, a short
search per claim (true claims: none found; known false extrapolations: found), and a
deliberately false claim of our own that the search finds and shrinks to a small system.
"""
from __future__ import annotations

import numpy as np
import pytest

import dfc_theory as dfc
from dfc_theory.testing import (CLAIMS, PREMISES, Claim, Draw, NotApplicable, Verdict,
                                get_claim, load_counterexample, regression_test_source,
                                save_counterexample, search)
from dfc_theory.testing.strategies import systems

FAST_TRUE = ["lemma1-quadratic", "condition2-pinv-limit", "theorem2-gauss-newton",
             "proposition4-descent"]
FAST_FALSE = ["pinv-limit-without-condition2", "theorem2-without-condition1",
              "proposition4-without-eta"]


def _linear_chain(alpha, k_p, ratio, leak, w=1.0, q=1.0):
    """1-1-1-1 linear chain with weights w and Q = q x the weight product [w^2; w; 1], so
    J = [w^2, w, 1] and J Q = q (w^4 + w^2 + 1)."""
    net = dfc.Network([np.array([[w]])] * 3, activation="linear")
    Q = q * dfc.feedback.weight_product(net)
    ctrl = dfc.Controller(alpha=alpha, k_p=k_p, tau_v=ratio, tau_u=1.0, leak=leak)
    x = np.array([[0.5]])
    return Draw(dfc.DFCSystem(net, Q, ctrl), x, net.forward(x).output + 0.01)


def _chain_abscissa(alpha, ratio, w):
    """Closed form for the chain above (integral leak, k_p = 0, q = 1, tau_u = 1): with
    g = 1/(tau_v s + 1), v_3 = (w^4 g^3 + w^2 g^2 + g) u and s u = -v_3 - alpha u, so the
    characteristic polynomial is (s + alpha)(tau_v s + 1)^3 + w^4 + w^2 (tau_v s + 1)
    + (tau_v s + 1)^2."""
    p1 = np.poly1d([ratio, 1.0])
    char = np.poly1d([1.0, alpha]) * p1**3 + w**4 + w**2 * p1 + p1**2
    return float(np.max(np.roots(char.coeffs).real))


def test_registry_has_at_least_eight_claims_both_kinds():
    assert len(CLAIMS) >= 8
    assert sum(c.expected for c in CLAIMS.values()) >= 4
    assert sum(not c.expected for c in CLAIMS.values()) >= 4
    for name, c in CLAIMS.items():
        assert c.name == name and "\n" not in c.statement and c.reference
        assert all(p in PREMISES for p in c.premises)
    assert get_claim("condition3-implies-stable") is CLAIMS["condition3-implies-stable"]
    with pytest.raises(ValueError, match="^name: unknown claim"):
        get_claim("condition3-implies-stabel")


def test_condition3_implies_stable_both_ways():
    """Chain with w = 2: J Q = 21, Condition 3 holds for every alpha >= 0; the three lags of
    the layers destabilise the loop at tau_v/tau_u = 0.5 but not at 0.01 (closed form)."""
    claim = CLAIMS["condition3-implies-stable"]
    bad = _linear_chain(alpha=0.01, k_p=0.0, ratio=0.5, leak="integral", w=2.0)
    good = _linear_chain(alpha=0.01, k_p=0.0, ratio=0.01, leak="integral", w=2.0)
    assert PREMISES["condition3"](bad) and PREMISES["condition3"](good)
    v = claim(bad)
    assert not v.holds
    assert v.measured == pytest.approx(_chain_abscissa(0.01, 0.5, 2.0), rel=1e-8)
    assert _chain_abscissa(0.01, 0.5, 2.0) > 0.5
    v = claim(good)
    assert v.holds and v.measured == pytest.approx(_chain_abscissa(0.01, 0.01, 2.0), rel=1e-8)


def test_condition3_alpha_integral_gap():
    """J Q = -0.5, alpha = 1: Condition 3 (alpha) holds; with k_p = 2, alpha_tilde = 1/3 and
    J Q + alpha_tilde < 0: unstable even at tau_v/tau_u = 1e-3 (THEORY.md s.4); with
    k_p = 0.5, alpha_tilde = 2/3 > 0.5: stable."""
    claim = CLAIMS["condition3-alpha-integral"]
    d = _linear_chain(alpha=1.0, k_p=2.0, ratio=1e-3, leak="integral", q=-0.5 / 3)
    assert (d.jacobian[0] @ d.Q).item() == pytest.approx(-0.5)
    assert PREMISES["condition3"](d) and not PREMISES["condition3_alpha_tilde"](d)
    assert not claim(d).holds
    d_ok = _linear_chain(alpha=1.0, k_p=0.5, ratio=1e-3, leak="integral", q=-0.5 / 3)
    assert claim(d_ok).holds


def test_proposition4_with_and_without_eta_on_one_draw():
    """1-1-1 linear net, W = (0.25, 1), x = 2: ||r_0|| = 2, ||r_1|| = 0.5, J = [1, 1].
    With Q = [q_1; q_2], J Q = q_1 + q_2 = 1, the plain inner product with -grad_W is
    delta^2 (4 q_1 + q_2 / 4) < 0 for q_1 = -1, q_2 = 2, while eta_i = eta/||r_{i-1}||^2 gives
    delta^2 (q_1 + q_2) = delta^2 > 0 (Proposition 4)."""
    net = dfc.Network([np.array([[0.25]]), np.array([[1.0]])], activation="linear")
    J = net.jacobian(np.array([2.0]))
    Q = np.array([[-1.0], [2.0]])
    d = Draw(dfc.DFCSystem(net, Q, dfc.Controller(alpha=0.1, tau_v=0.0, leak="total")),
             np.array([[2.0]]), net.forward(np.array([[2.0]])).output + 0.1)
    assert (J @ Q).item() == pytest.approx(1.0)
    with_eta, without = CLAIMS["proposition4-descent"](d), CLAIMS["proposition4-without-eta"](d)
    assert with_eta.holds and with_eta.measured < 90
    assert not without.holds and without.measured > 90


@pytest.mark.parametrize("name", FAST_TRUE)
def test_true_claims_hold_in_a_short_search(name):
    res = search(name, examples=15, seed=1)
    assert not res.found, (res.draw and res.draw.label, res.verdict, res.error)
    assert res.judged >= 10


@pytest.mark.parametrize("name", FAST_FALSE)
def test_false_claims_are_found(name):
    res = search(name, examples=60, seed=0, shrink=False)
    assert res.found and res.error is None and not res.verdict.holds
    assert not CLAIMS[name](res.draw).holds      # the reported draw reproduces the verdict


@pytest.mark.slow
@pytest.mark.parametrize("name", ["proposition5-instantaneous", "newton-matches-simulation"])
def test_expensive_true_claims_hold(name):
    res = search(name, examples=40, seed=1)
    assert not res.found, (res.draw and res.draw.label, res.verdict, res.error)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["condition3-alpha-integral",
                                  "stable-initial-implies-steady-state"])
def test_expensive_false_claims_are_found(name):
    res = search(name, examples=200, seed=0, shrink=False)
    assert res.found and not res.verdict.holds


def _weight_product_condition2(draw):
    out = PREMISES["condition2"](draw)
    return Verdict(out.holds, out.value, ">= 1 - 1e-8", out.what)


WEIGHT_PRODUCT_CLAIM = Claim(
    "weight-product-condition2",
    "the weight product Q_i = W_{i+1}^T ... W_L^T satisfies Condition 2 (false unless linear)",
    "deliberately false (true only for linear networks)", False,
    lambda: systems(feedback="weight_product", min_layers=2,
                    activations=("tanh", "sigmoid", "softplus")),
    _weight_product_condition2, premises=())


def test_deliberately_false_claim_is_found_and_shrunk():
    """The minimal counterexample needs one hidden layer (N > n_L) with phi' != 1: a 1-1-1
    network.  Measured over seeds 0..7: 1-1-1 in six, 1-2-1 and 1-4-1 otherwise."""
    res = search(WEIGHT_PRODUCT_CLAIM, examples=50, seed=2)
    assert res.found
    d = res.draw
    assert d.network.depth == 2 and d.network.sizes == [1, 1, 1] and d.x.shape == (1, 1)
    assert not WEIGHT_PRODUCT_CLAIM(d).holds


def test_counterexample_json_round_trip_and_regression_source(tmp_path):
    d = _linear_chain(alpha=0.01, k_p=0.0, ratio=0.5, leak="integral", w=2.0)
    claim = CLAIMS["condition3-implies-stable"]
    v = claim(d)
    path = save_counterexample(tmp_path / "ce.json", d, claim, v, extra={"seed": 0})
    d2 = load_counterexample(path)
    for a, b in zip(d.network.weights + (d.Q, d.x, d.target), d2.network.weights + (d2.Q, d2.x,
                                                                                    d2.target)):
        np.testing.assert_array_equal(a, b)
    assert d2.controller == d.controller and d2.meta["claim"] == claim.name
    assert d2.meta["measured"] == v.measured
    src = regression_test_source(d2, claim.name, expect_holds=False)
    ns = {}
    exec(compile(src, "regression.py", "exec"), ns)
    tests = [f for k, f in ns.items() if k.startswith("test_")]
    assert len(tests) == 1
    tests[0]()            # passes: the counterexample is pinned
    with pytest.raises(FileNotFoundError, match="^path"):
        load_counterexample(tmp_path / "missing.json")


def test_not_applicable_is_counted_not_reported():
    calls = []

    def check(draw):
        calls.append(1)
        raise NotApplicable("always")

    claim = Claim("never-judged", "no draw is judged", "test", True,
                  lambda: systems(max_layers=1, max_width=2), check, premises=())
    res = search(claim, examples=5, seed=0)
    assert not res.found and res.judged == 0 and res.excluded.get("always", 0) >= 5


def test_search_is_reproducible():
    a = search("proposition4-without-eta", examples=60, seed=3, shrink=False)
    b = search("proposition4-without-eta", examples=60, seed=3, shrink=False)
    assert a.found and b.found and a.first_found_at == b.first_found_at
    np.testing.assert_array_equal(a.draw.Q, b.draw.Q)
    np.testing.assert_array_equal(a.draw.x, b.draw.x)


def test_saturated_output_is_not_applicable_not_a_counterexample():
    """Found by ``search condition2-pinv-limit --seed 31337``: a tanh output at v_L = 10 has
    J ~ 8e-9 and Q ~ 1/J (so J Q = 1); a Delta v of size 1e-7 then needs delta_L ~ 1e-15,
    below Newton's residual tolerance, and u = 0 passed as the exact steady state (relative
    error 1 at every alpha).  Such draws are excluded by name, not judged."""
    from dfc_theory.testing.claims import _dv_scaled_targets
    net = dfc.Network([np.array([[10.0]])], [np.zeros(1)], activation="linear",
                  output_activation="tanh")
    x = np.ones((1, 1))
    J = net.jacobian(x)[0]
    sysm = dfc.DFCSystem(net, 1.0 / J.T, dfc.Controller(alpha=1e-2, tau_v=0.0))
    with pytest.raises(NotApplicable, match="saturated output layer"):
        _dv_scaled_targets(sysm, x, np.ones((1, 1)), 1e-7)
    # the same construction one unit off saturation is judged
    net = dfc.Network([np.array([[1.0]])], [np.zeros(1)], activation="linear",
                  output_activation="tanh")
    sysm = dfc.DFCSystem(net, 1.0 / net.jacobian(x)[0].T, dfc.Controller(alpha=1e-2, tau_v=0.0))
    t = _dv_scaled_targets(sysm, x, np.ones((1, 1)), 1e-7)
    assert np.all(np.abs(t - net.forward(x).output) > 1e-9)
