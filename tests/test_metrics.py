"""Measures of THEORY.md sections 4, 5 and 7 (dfc_theory.metrics) on every backend.

Oracles: closed forms (angles of known vectors, projectors built from an orthonormal basis
of the row space, eigenvalues of triangular matrices) and the Condition-1 definition
evaluated by hand.
"""
import math

import numpy as np
import pytest

import dfc_theory as dfc
from dfc_theory import metrics
from dfc_theory.gauss_newton import per_layer_from_signal

EXACT = 1e-12


@pytest.mark.parametrize("t", [1e-9, 1e-6, 1e-3, 1.0, 1e3])
def test_angle_is_accurate_near_zero_and_180(t, backend):
    """angle(e1, e1 + t e2) = atan(t) exactly; the arccos form would lose ~eps/angle (its
    value at t = 1e-9 is 0 or ~1e-6 deg off).  With -e1 the angle is 180 - atan(t)."""
    a, b = np.array([1.0, 0.0, 0.0]), np.array([1.0, t, 0.0])
    want = math.degrees(math.atan(t))
    got = backend.call(metrics.angle, a, b)
    assert abs(got - want) <= 4e-16 * 180 + 1e-15 * want
    assert abs(backend.call(metrics.angle, -a, b) - (180 - want)) <= 1e-13
    assert math.isnan(backend.call(metrics.angle, a, 0 * b))


def test_angle_of_updates_and_matrices(backend, rng):
    up = dfc.Update((rng.standard_normal((3, 2)), rng.standard_normal((2, 3))),
                    (rng.standard_normal(3), rng.standard_normal(2)))
    assert backend.call(metrics.angle, up, up) == 0.0
    assert backend.call(metrics.angle, up, -1.0 * up) == pytest.approx(180.0, abs=1e-12)
    la = metrics.layer_angles(up, up.scaled([1.0, -1.0]))
    np.testing.assert_allclose(la, [0.0, 180.0], atol=1e-12)
    Q = rng.standard_normal((4, 2))
    P = np.stack([Q, 2 * Q, -Q, np.linalg.qr(Q)[0]])
    got = backend.call(metrics.angle, Q, P, matrices=True)
    np.testing.assert_allclose(got[:3], [0.0, 0.0, 180.0], atol=1e-12)
    cos = np.sum(Q * P[3]) / (np.linalg.norm(Q) * np.linalg.norm(P[3]))
    assert got[3] == pytest.approx(math.degrees(math.acos(cos)), abs=1e-10)


def test_condition2_ratio_is_the_row_space_projection(backend, rng):
    J = rng.standard_normal((3, 2, 6))
    Q = rng.standard_normal((6, 2))
    got = backend.call(metrics.condition2_ratio, J, np.broadcast_to(Q, (3, 6, 2)).copy())
    for b in range(3):
        U = np.linalg.qr(J[b].T)[0]            # orthonormal basis of the row space of J
        assert got[b] == pytest.approx(np.linalg.norm(U.T @ Q) / np.linalg.norm(Q), abs=EXACT)
    assert backend.call(metrics.condition2_ratio, J[0], J[0].T @ rng.standard_normal((2, 2))) \
        == pytest.approx(1.0, abs=EXACT)


def test_condition2_ratio_handles_rank_deficient_J(backend):
    # relu outputs with a negative pre-activation have a zero row in J: J J^T is singular
    net = dfc.Network.random([4, 6, 3], output_activation="relu", seed=1, bias_scale=1.0)
    x = np.random.default_rng(0).standard_normal((6, 4))
    J = net.jacobian(x)
    assert np.any(np.all(J == 0, axis=2)), "test premise: some J has a zero row"
    Q = dfc.feedback.random_gaussian(net, seed=2)
    got = backend.call(metrics.condition2_ratio, J, np.broadcast_to(Q, (6,) + Q.shape).copy())
    for b in range(6):
        rows = J[b][np.any(J[b] != 0, axis=1)]
        U = np.linalg.qr(rows.T)[0]
        assert got[b] == pytest.approx(np.linalg.norm(U.T @ Q) / np.linalg.norm(Q), abs=EXACT)


def test_condition1_deviation_both_metrics(backend, rng):
    net = dfc.Network.random([4, 6, 5, 2], seed=3)
    x = rng.standard_normal((3, 4))
    n = np.stack([np.linalg.norm(r, axis=1) for r in net.forward(x).r[:-1]], axis=1)
    np.testing.assert_allclose(backend.call(metrics.layer_norms, net, x), n, atol=EXACT)
    m = n.mean(axis=1)
    np.testing.assert_allclose(backend.call(metrics.condition1_deviation, net, x),
                               n.std(axis=1) / m, atol=EXACT)
    np.testing.assert_allclose(backend.call(metrics.condition1_deviation, net, x, "reference"),
                               np.sqrt(((n - m[:, None]) ** 2).mean(axis=1) / m), atol=EXACT)


def test_spectra_abscissa_radius(backend):
    A = np.array([[[-1.0, 5.0, 0.0], [0.0, -3.0, 1.0], [0.0, 0.0, 2.0]],
                  [[0.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -1.0]]])
    np.testing.assert_allclose(backend.call(metrics.spectral_abscissa, A), [2.0, 0.0],
                               atol=EXACT)
    np.testing.assert_allclose(backend.call(metrics.spectral_radius, A), [3.0, 2.0], atol=EXACT)
    lam = backend.call(metrics.spectra, A[1])
    np.testing.assert_allclose(lam, [2j, -2j, -1.0], atol=EXACT)  # by real, then imaginary part
    assert isinstance(backend.call(metrics.spectral_abscissa, A[0]), float)


def test_descent_inner_products(backend, rng):
    J, dv = rng.standard_normal((3, 2, 5)), rng.standard_normal((3, 5))
    d = rng.standard_normal((3, 2))
    want = np.array([d[b] @ J[b] @ dv[b] for b in range(3)])
    np.testing.assert_allclose(backend.call(metrics.descent_inner_products, J, dv, d), want,
                               atol=EXACT)


def test_per_layer_signal_average(backend, rng):
    a = [rng.standard_normal((4, 3)), rng.standard_normal((4, 2))]
    r = [rng.standard_normal((4, 5)), rng.standard_normal((4, 3))]
    up = backend.call(per_layer_from_signal, a, r)
    for ai, ri, dw, db in zip(a, r, up.dW, up.db):
        np.testing.assert_allclose(dw, ai.T @ ri / 4, atol=EXACT)
        np.testing.assert_allclose(db, ai.mean(axis=0), atol=EXACT)
