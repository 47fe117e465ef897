"""Random draws of the theorem checks and the asymptotic regimes chosen from each draw.

Networks: toys, Fig 3's 15-10-10-5 (THEORY.md section 8) and a wide 100-64-64-10; every
sweep cycles through :data:`SCHEDULE` by its count of *judged* draws, so the networks beyond
toys are judged in every sweep even when some of their draws are excluded.  Inputs are
uniform on (-1, 1) (the paper's student-teacher inputs); weights Xavier-normal with a gain
drawn log-uniformly, so cond(J J^T) varies from draw to draw (reported per draw).

Feedback matrices (Q = N x n_L), all built at the feedforward state of the draw's input:

* ``jt_m``: Q = J^T M with M = S + K random, S symmetric positive definite, K skew: J Q =
  (J J^T) M has every eigenvalue in the open right half-plane (J J^T M is similar to
  G^{1/2} M G^{1/2}, whose symmetric part is positive definite), so Condition 3 holds for
  every alpha >= 0 and M is invertible: Condition 2 with "M random invertible";
* ``pinv_s``: Q = J^+ S with a prescribed J Q = S (chosen spectrum, real or complex);
* ``perp``: any of the above plus (I - P_J) G, a Gaussian part outside the row space of J:
  J Q is unchanged (same spectrum, same stability) but Condition 2 is broken -- the
  negative control of the Condition-2 claims;
* ``weight_product``: the paper's fixed feedback Q_i = W_{i+1}^T ... W_L^T;
* ``learned``: the feedback the sleep phase learns, in closed form: the fixed point
  J^T h(J J^T) of the expected feedback rule at the draw's J (ours; the reference sleep
  settings alpha_fb 0.25, beta 0.025, horizon 0.1).

Regimes: an O(lambda) or O(alpha) claim is fitted over a grid of a dimensionless parameter
eps, with lambda chosen so that the largest voltage displacement |Q u|_inf of the
linearised steady state equals eps (tanh curves on the scale 1, so the expansion of the
steady state in lambda is an expansion in eps), and alpha = eps * sigma_min(J Q) (the
Neumann series of (J Q + alpha I)^{-1} converges with ratio alpha ||(J Q)^{-1}|| = eps).
"""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc

TOYS = ((5, 6, 6, 3), (4, 7, 2), (6, 8, 8, 8, 3), (8, 6, 4), (3, 5, 5, 2))
FIG3 = (15, 10, 10, 5)
WIDE = (100, 64, 64, 10)
#: judged draw j of a sweep uses SCHEDULE[j % 4]: a toy, Fig 3's network, a toy, the wide
#: network -- so 8 judged draws include each network beyond toys twice
SCHEDULE = ("toy", FIG3, "toy", WIDE)


def sizes_for(j, wide=WIDE, toys=TOYS):
    """Layer sizes of the j-th judged draw (see :data:`SCHEDULE`)."""
    s = SCHEDULE[j % len(SCHEDULE)]
    if s == "toy":
        return toys[(j // 2) % len(toys)]
    return wide if s == WIDE else s


def label_sizes(sizes):
    return "-".join(map(str, sizes))


def network(rng, sizes, activation=None, gain=(0.8, 2.0), bias=True):
    """A random network: tanh hidden layers (softplus for some toys), linear output,
    Xavier-normal weights with gain log-uniform in ``gain`` and biases N(0, 0.2^2) for half
    of the draws."""
    sizes = tuple(int(s) for s in sizes)
    if activation is None:
        activation = "tanh" if sizes in (FIG3, WIDE) or rng.random() < 0.7 else "softplus"
    g = float(np.exp(rng.uniform(np.log(gain[0]), np.log(gain[1])))) \
        if isinstance(gain, tuple) else float(gain)
    bs = 0.2 if bias and rng.random() < 0.5 else 0.0
    return dfc.Network.random(list(sizes), activation=activation, output_activation="linear",
                              seed=int(rng.integers(2**63)), gain=g, bias_scale=bs)


def net_text(net):
    return f"{label_sizes(net.sizes)} {net.activation.name}"


def inputs(rng, n0, batch=None):
    """x ~ U(-1, 1)^n0 (one sample, or ``batch`` samples)."""
    shape = (n0,) if batch is None else (batch, n0)
    return rng.uniform(-1.0, 1.0, size=shape)


def target_direction(rng, net, x):
    """g = -dLoss/dr_L = 2 (y - r_L^-) for a random label y ~ N(0, I): delta_L = lambda g."""
    rL = net.forward(x).output
    return 2.0 * (rng.standard_normal(rL.shape) - rL)


def cond_jjt(J):
    s = np.linalg.svd(J, compute_uv=False)
    return float((s[..., 0] / s[..., -1]).max() ** 2)


def positive_real_m(rng, n, skew=0.5):
    """M = S + K: S symmetric positive definite (eigenvalues log-uniform in [0.3, 3]),
    K skew-symmetric Gaussian (scale ``skew``); every eigenvalue of G M (G SPD) has a
    positive real part."""
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    S = (U * np.exp(rng.uniform(np.log(0.3), np.log(3.0), n))) @ U.T
    K = rng.standard_normal((n, n)) * skew / np.sqrt(n)
    return S + (K - K.T) / 2


def spectrum_matrix(rng, mu, cond_p=0.3):
    """A real matrix with real eigenvalues ``mu``: P diag(mu) P^{-1}, P = I + cond_p G/sqrt(n)
    (well conditioned)."""
    n = len(mu)
    P = np.eye(n) + cond_p * rng.standard_normal((n, n)) / np.sqrt(n)
    return P @ np.diag(mu) @ np.linalg.inv(P)


def q_jt_m(rng, J):
    """Q = J^T M (Condition 2, J Q in the right half-plane); returns (Q, M)."""
    M = positive_real_m(rng, J.shape[0])
    return J.T @ M, M


def q_learned(J, alpha_fb=0.25, beta=0.025, horizon=0.1):
    """The learned feedback in closed form, Q = J^T h(J J^T) (the fixed point of the expected
    sleep-phase rule; reference settings by default)."""
    return dfc.feedback_learning.closed_form_feedback(J, alpha_fb, beta, horizon=horizon)


def q_pinv(J, S):
    """Q = J^+ S, so that J Q = S (Condition 2 holds)."""
    return np.linalg.pinv(J) @ S


def perp_part(rng, J, scale=1.0):
    """(I - P_J) G with G Gaussian, scaled to Frobenius norm ``scale``: J (I - P_J) G = 0."""
    N, n = J.shape[1], J.shape[0]
    G = rng.standard_normal((N, n))
    P = G - np.linalg.pinv(J) @ (J @ G)
    return scale * P / np.linalg.norm(P)


def break_condition2(rng, J, Q, rel=1.0):
    """The Condition-2 negative control of Q: Q + (I - P_J) G with ||(I - P_J) G|| =
    rel ||Q||; J Q is unchanged."""
    return Q + perp_part(rng, J, rel * np.linalg.norm(Q))


def linear_u(net, Q, x, g, alpha):
    """u1 = (J Q + alpha I)^{-1} g at the feedforward state (the linearised steady state per
    unit lambda)."""
    J = net.jacobian(x)
    return np.linalg.solve(J @ Q + alpha * np.eye(net.n_out), g)


def lam_for_displacement(net, Q, x, g, alpha, eps):
    """lambda such that the linearised voltage displacement max_j |(Q u)_j| equals eps (one
    value or an array of eps)."""
    u1 = linear_u(net, Q, x, g, alpha)
    return np.asarray(eps, dtype=float) / np.max(np.abs(Q @ u1))


def sigma_min(A):
    return float(np.linalg.svd(A, compute_uv=False)[-1])
