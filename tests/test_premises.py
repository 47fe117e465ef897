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
