"""The named premise filters (dfc_theory.testing.premises): each can hold and can fail."""
import numpy as np
import pytest

import dfc_theory as dfc
from dfc_theory.testing import PREMISES, Draw, Sweep, check_premises


def _draw(Q_kind="jt", alpha=0.1, k_p=0.0, tau_v=0.2, leak="total", seed=0, scale=1.0):
    net = dfc.Network.random([4, 5, 3], seed=seed)
    x = np.random.default_rng(seed).standard_normal((2, 4))
    J = net.jacobian(x[0])
    Q = {"jt": J.T, "neg": -J.T, "gauss": dfc.feedback.random_gaussian(net, seed=seed)}[Q_kind]
    ctrl = dfc.Controller(alpha=alpha, k_p=k_p, tau_v=tau_v, leak=leak)
    rL = net.forward(x).output
    return Draw(dfc.DFCSystem(net, scale * Q, ctrl), x, rL + 1e-3)


def test_premises_hold_for_jt():
    d = _draw()
    failed, out = check_premises(d, ["newton_converged", "stable", "condition3", "full_row_rank"])
    assert failed is None, out
    assert out["stable"].value < 0 and out["condition3"].value > 0


def test_condition2_fails_for_gaussian_q_and_holds_for_jt():
    # J^T of the first sample is not in the row space of the second sample's J
    assert not PREMISES["condition2"](_draw("gauss"))
    single = _draw()
    one = Draw(single.system, single.x[:1], single.target[:1])
    assert PREMISES["condition2"](one).value == pytest.approx(1.0, abs=1e-12)


def test_stable_and_condition3_fail_for_negative_feedback():
    d = _draw("neg", alpha=0.01)
    assert not PREMISES["condition3"](d)
    assert not PREMISES["stable"](d)


def test_condition3_alpha_tilde_is_stricter_for_integral_leak():
    # choose alpha so that min Re eig(J Q) + alpha > 0 > min Re eig(J Q) + alpha_tilde
    d = _draw("neg", alpha=10.0, k_p=5.0, leak="integral", tau_v=0.0, scale=0.2)
    lam = np.linalg.eigvals(d.jacobian_ss @ d.Q).real.min(axis=-1)
    a, at = d.controller.alpha, d.controller.alpha_eff
    assert np.all(lam + a > 0) and np.any(lam + at < 0)
    assert PREMISES["condition3"](d) and not PREMISES["condition3_alpha_tilde"](d)


def test_reference_euler_stable_depends_on_dt():
    d = _draw(tau_v=0.0)
    assert PREMISES["reference_euler_stable"](d, dt=1e-3)
    assert not PREMISES["reference_euler_stable"](d, dt=50.0)
    with pytest.raises(ValueError, match="reference_euler_stable"):
        PREMISES["reference_euler_stable"](_draw(tau_v=0.2), dt=1e-3)


def test_sweep_counts_every_draw():
    sweep = Sweep(["newton_converged", "condition3"])
    assert sweep.judge(_draw())
    assert not sweep.judge(_draw("neg", alpha=0.01))
    assert not sweep.judge(_draw(), extra=[("well_conditioned", False)])
    assert sweep.counts() == {"tried": 3, "judged": 1,
                              "excluded": {"condition3": 1, "well_conditioned": 1}}
    with pytest.raises(ValueError, match="premises: unknown premise"):
        Sweep(["stabel"])


# ---------------------------------------------------------------- appended premises (issue 9)
def test_settles_depends_on_the_horizon():
    d = _draw()
    a = PREMISES["stable"](d).value
    assert PREMISES["settles"](d, horizon=30.0 / abs(a), factor=1e-10)
    out = PREMISES["settles"](d, horizon=1.0 / abs(a), factor=1e-10)
    assert not out and out.value == pytest.approx(np.exp(-1.0))
    assert not PREMISES["settles"](_draw("neg", alpha=0.01), horizon=1e6)


def test_boundary_layer_stable_holds_for_jt_and_fails_for_strong_negative_feedback():
    assert PREMISES["boundary_layer_stable"](_draw())
    assert PREMISES["boundary_layer_stable"](_draw(tau_v=0.0)).value == -np.inf
    # J Q = -3 I with k_p = 1 ('total' leak): the proportional loop k_p de/dt flips the
    # sign of the fast subsystem (tau_v -> 0 limit unstable although tau_v = 0 is stable)
    net = dfc.Network.random([4, 5, 3], seed=0)
    x = np.random.default_rng(0).standard_normal((1, 4))
    Q = -3.0 * np.linalg.pinv(net.jacobian(x[0]))
    ctrl = dfc.Controller(alpha=0.3, k_p=1.0, tau_v=0.1, leak="total")
    d = Draw(dfc.DFCSystem(net, Q, ctrl), x, net.forward(x).output)
    out = PREMISES["boundary_layer_stable"](d)
    assert not out and out.value > 0


def test_condition1_holds_after_rescaling_only():
    net = dfc.Network.random([6, 8, 8, 3], seed=2, gain=1.5)
    x = np.random.default_rng(2).uniform(-1, 1, 6)
    ctrl = dfc.Controller(alpha=0.1)
    for n, holds in ((net, False), (dfc.rescale_to_condition1(net, x), True)):
        J = n.jacobian(x)
        d = Draw(dfc.DFCSystem(n, J.T, ctrl), x[None], n.forward(x[None]).output)
        assert bool(PREMISES["condition1"](d)) is holds


def test_damped_family_spread_needs_an_ill_conditioned_jacobian():
    net = dfc.Network.random([5, 2, 2], activation="linear", seed=0)
    x = np.zeros((1, 5))
    ctrl = dfc.Controller(alpha=0.1)
    J = net.jacobian(x[0])
    U, s, Vt = np.linalg.svd(J, full_matrices=False)
    for sv, holds in ((np.array([1.0, 1.0]), False), (np.array([10.0, 1.0]), True)):
        Jm = (U * sv) @ Vt  # a 2 x 4 Jacobian with singular values sv
        Q = Jm.T
        d = Draw(dfc.DFCSystem(net, Q, ctrl), x, net.forward(x).output)
        object.__setattr__(d, "jacobian", Jm[None])  # the premise reads draw.jacobian
        out = PREMISES["damped_family_spread"](d, min_angle=40.0)
        assert bool(out) is holds, out


def test_dominant_mode_separated_depends_on_the_ratio():
    d = _draw()
    v = PREMISES["dominant_mode_separated"](d).value
    assert v > 0
    assert PREMISES["dominant_mode_separated"](d, ratio=0.5 * v)
    assert not PREMISES["dominant_mode_separated"](d, ratio=2 * v)
