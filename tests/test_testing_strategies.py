"""The public Hypothesis strategies (dfc_theory.testing.strategies) keep their promises.

Each promise is checked by an independent computation (own projectors, eigenvalues of the
analytic right-hand-side Jacobian at the rest state, plain parameter bounds), not only by the
premise predicates the strategies use themselves.  Also: draws shrink to small systems,
rejection rates stay low, health checks pass with Hypothesis' default settings, and bad
arguments raise errors that name the argument.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, find, given, seed, settings
from hypothesis import strategies as st

import dfc_theory as dfc
from dfc_theory.testing import PREMISES, strategies as S
from dfc_theory.testing.strategies import (MIN_RATIO, controllers, feedback_matrices, inputs,
                                           networks, rejection_counts, systems)

ROUNDING = 1e-8  # projector / eigenvalue rounding allowance (cond(J J^T) <= 1e6 here)


def _rowspace_residual(J, Q):
    """||(I - P_J) Q|| / ||Q|| per sample, P_J from the SVD of J (rank tol 1e-12)."""
    out = []
    for Jb in np.atleast_3d(J) if J.ndim == 3 else [J]:
        U, s, Vt = np.linalg.svd(Jb)
        V = Vt[: int(np.sum(s > 1e-12 * s[0]))].T
        out.append(np.linalg.norm(Q - V @ (V.T @ Q)) / np.linalg.norm(Q))
    return np.array(out)


def _rest_abscissa(draw):
    """Max real part of the eigenvalues of d(dz/dt)/dz (DFCSystem.rhs_jacobian) at the rest
    state built from Newton's steady state: a route independent of stability.system_matrices."""
    sysm, c = draw.system, draw.controller
    ss = dfc.steady_state(sysm, draw.x, draw.target)
    s = ss.u - c.k_p * (draw.target - ss.r_L) if c.leak == "integral" else ss.u
    z = s if c.instantaneous else np.concatenate([ss.v, s], axis=1)
    assert np.abs(sysm.rhs(draw.x, draw.target, z)).max() <= 1e-9 * max(
        1.0, np.abs(z).max() / min(c.tau_u, c.tau_v or np.inf))
    return float(np.max(np.linalg.eigvals(sysm.rhs_jacobian(draw.x, draw.target, z)).real))


# ---------------------------------------------------------------------------- networks etc.
@given(networks(min_layers=2, max_layers=3, min_width=2, max_width=4, activations=("tanh",),
                output_activations=("linear", "sigmoid"), max_weight=1.5, max_bias=0.25))
def test_networks_respect_sizes_activations_and_bounds(net):
    assert 2 <= net.depth <= 3
    assert all(2 <= n <= 4 for n in net.sizes)
    assert net.activation.name == "tanh"
    assert net.output_activation.name in ("linear", "sigmoid")
    assert all(np.abs(w).max() <= 1.5 for w in net.weights)
    assert all(np.abs(b).max() <= 0.25 for b in net.biases)


@given(st.data())
def test_inputs_have_batch_shape_and_bounds(data):
    net = data.draw(networks(max_layers=2, max_width=4))
    x = data.draw(inputs(net, min_batch=2, max_batch=3, max_input=0.5))
    assert x.ndim == 2 and 2 <= x.shape[0] <= 3 and x.shape[1] == net.n_in
    assert np.abs(x).max() <= 0.5 and x.dtype == np.float64


@given(controllers(leaks=("integral", "total"), alpha=(0.1, 0.2), k_p=(0.5, 1.0),
                   ratio=(0.0, 0.3), tau_u=2.0))
def test_controllers_respect_ranges(c):
    assert 0.1 <= c.alpha <= 0.2 and c.tau_u == 2.0
    assert c.ratio == 0.0 or MIN_RATIO <= c.ratio <= 0.3
    if c.instantaneous and c.leak == "integral":
        assert c.k_p == 0.0   # u = u_int + k_p e(u) would be implicit
    else:
        assert 0.5 <= c.k_p <= 1.0


# ---------------------------------------------------------------------------- feedback
@pytest.mark.parametrize("condition", S.FEEDBACK_CONDITIONS)
@given(data=st.data())
def test_feedback_matrices_honour_their_condition(condition, data):
    net = data.draw(networks(max_layers=3, max_width=4, activations=S.SMOOTH_ACTIVATIONS))
    x = data.draw(inputs(net, max_batch=1))
    Q = data.draw(feedback_matrices(net, x, condition))
    assert Q.shape == (net.n_total, net.n_out)
    J = net.jacobian(x)
    if condition == "weight_product":
        np.testing.assert_array_equal(Q, dfc.feedback.weight_product(net))
    if condition is None:
        assert np.abs(Q).max() <= 1.0
    if condition in ("condition2", "condition2+3"):
        assert np.all(_rowspace_residual(J, Q) <= ROUNDING)
    if condition in ("condition3", "condition2+3"):
        lam = np.linalg.eigvals(J @ Q)
        assert lam.real.min() >= S.EIG_MARGIN - ROUNDING   # Condition 3 for every alpha >= 0


def test_feedback_matrices_condition2_on_a_linear_batch():
    """J does not depend on x for a linear network: Condition 2 holds at every sample."""
    net = dfc.Network.random([3, 4, 2], activation="linear", seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    Q = find(feedback_matrices(net, x, "condition2"), lambda q: True)
    assert np.all(_rowspace_residual(net.jacobian(x), Q) <= ROUNDING)


# ---------------------------------------------------------------------------- systems
@given(systems(condition2=True))
def test_systems_condition2_at_every_sample(draw):
    assert np.all(_rowspace_residual(draw.jacobian, draw.Q) <= ROUNDING)
    assert PREMISES["condition2"](draw)


@given(systems(condition3=True))
def test_systems_condition3_at_the_exact_steady_state(draw):
    c3 = dfc.stability.condition3(draw.system, draw.x, draw.target, at="steady_state")
    assert np.all(c3.holds), c3.margin


@given(systems(stable=True, margin=0.01))
def test_systems_stable_by_the_rhs_jacobian(draw):
    ss = dfc.steady_state(draw.system, draw.x, draw.target)
    assert np.all(ss.converged)
    assert _rest_abscissa(draw) < -0.01 + 1e-9


@given(systems(stable_initial=True))
def test_systems_stable_initial(draw):
    A = draw.system.linearise(draw.x, draw.target).A
    assert np.linalg.eigvals(A).real.max() < 0


@given(systems(condition2=False, condition3=False))
def test_systems_false_promises(draw):
    assert np.any(_rowspace_residual(draw.jacobian, draw.Q) > 1e-6)
    assert not PREMISES["condition3"](draw)
    assert draw.network.depth >= 2


@given(systems(stable=False))
def test_systems_unstable(draw):
    ss = dfc.steady_state(draw.system, draw.x, draw.target)
    assert not np.all(ss.converged) or _rest_abscissa(draw) >= 0


@given(systems(condition2=True, condition3=True, stable=True, leaks=("integral",),
               min_layers=2, activations=("tanh",), max_batch=3))
def test_systems_all_promises_together(draw):
    assert PREMISES["condition2"](draw) and PREMISES["condition3"](draw)
    assert PREMISES["stable"](draw) and draw.controller.leak == "integral"
    # Condition 2 at every sample of a nonlinear batch: only where the row spaces coincide
    assert draw.x.shape[0] <= draw.meta["batch_drawn"]


def test_draws_shrink_to_small_simple_systems():
    quick = settings(database=None, phases=(Phase.generate, Phase.shrink))
    d = find(systems(), lambda d: True, settings=quick)
    assert d.network.sizes == [1, 1] and d.x.shape == (1, 1)
    assert np.all(d.network.weights[0] == 0) and np.all(d.x == 0)
    assert d.controller.k_p == 0 and d.controller.instantaneous
    net = find(networks(), lambda n: n.depth >= 2, settings=quick)
    assert net.sizes == [1, 1, 1] and net.activation.name == "linear"


def test_default_health_checks_pass_in_process():
    """Hypothesis' default profile (no suppressed health check), not this suite's ``ci``."""
    base = settings.get_profile("default")
    seen = []

    @seed(7)
    @settings(base, max_examples=25, database=None)
    @given(systems(condition2=True, condition3=True, stable=True, max_batch=3))
    def prop(draw):
        seen.append(draw.network.sizes)

    prop()
    assert len(seen) >= 25


REJECTION_CASES = {
    "systems()": {},
    "condition2=True": dict(condition2=True),
    "condition3=True": dict(condition3=True),
    "stable=True": dict(stable=True),
    "condition2/3, stable": dict(condition2=True, condition3=True, stable=True),
    "condition2=False": dict(condition2=False),
    "condition3=False": dict(condition3=False),
    "stable_initial=True": dict(stable_initial=True),
}
_DEFAULT_RUN = ("stable=True", "condition2/3, stable")


@pytest.mark.parametrize("case", [c if c in _DEFAULT_RUN else
                                  pytest.param(c, marks=pytest.mark.slow)
                                  for c in REJECTION_CASES])
def test_rejection_rates_are_low(case):
    """Measured rejection rate (assume) of 100 draws; the construction keeps it small."""
    rejection_counts(reset=True)

    @seed(0)
    @settings(max_examples=100, database=None, deadline=None, derandomize=False)
    @given(systems(**REJECTION_CASES[case]))
    def prop(draw):
        pass

    prop()
    rec = rejection_counts(reset=True)["systems"]
    rate = sum(rec["rejected"].values()) / rec["drawn"]
    assert rate <= 0.10, (case, rec)


@pytest.mark.parametrize("call, match", [
    (lambda: systems(condition2="yes"), "condition2"),
    (lambda: systems(stable=False, condition3=True), "stable"),
    (lambda: systems(condition2=False, max_layers=1), "max_layers"),
    (lambda: systems(feedback="condition3", condition2=True), "feedback"),
    (lambda: systems(feedback="pinv"), "feedback"),
    (lambda: networks(min_width=0), "min_width"),
    (lambda: networks(activations=("tanh", "swish")), "activations"),
    (lambda: networks(max_layers=0), "max_layers"),
    (lambda: controllers(alpha=(1.0, 0.5)), "alpha"),
    (lambda: controllers(tau_u=0.0), "tau_u"),
    (lambda: controllers(leaks=("both",)), "leaks"),
    (lambda: inputs("net"), "network"),
    (lambda: feedback_matrices(dfc.Network.random([2, 2]), np.zeros((1, 3))), "x"),
    (lambda: feedback_matrices(dfc.Network.random([2, 2]), np.zeros((1, 2)), "J^T"),
     "condition"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=f"^{match}"):
        call()
