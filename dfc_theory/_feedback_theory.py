"""The theory of the feedback rule (THEORY.md section 4, Theorem 6; the closed form is OUR
derivation, not the paper's, whose full Theorem 6 we lacked, section 10): expected update,
closed-form fixed point, fixed-point solver, damped-pseudoinverse fit.  NumPy/SciPy only.

For a linear network (or any network as sigma -> 0, linearised at the feedforward state)
the sleep phase is a linear Gaussian process: E[dQ] is exact and independent of sigma.  In
the setting of :func:`closed_form_feedback`, with G = J J^T and A = J Q + alpha I,

    du = -A u dt - sigma J dW,      E[dQ] = J^T - Q (S + beta I),
    S = time average of Sigma(t) / sigma^2,   A Sigma + Sigma A^T = sigma^2 G (stationary);

the ansatz Q = J^T h(G) gives, per eigenvalue g (y = g h, a = y + alpha, S = g / (2 a)),
2 beta y^2 + (2 alpha beta - g) y - 2 alpha g = 0, whose positive root is THEORY.md's h(g)
(:func:`closed_form_h`).  From u = 0 over a horizon T, S_T = g / (2 a) [1 - (1 - e^{-2 a T})
/ (2 a T)] and h solves h (S_T + beta) = 1.  Its readings are in THEORY.md; it matches the
expected DISCRETE rule up to O(dt) (``verification/theorem6.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize

from ._feedback_config import FeedbackConfig
from ._network import Network
from ._simulate import noise_std
from ._validation import (as_array, check_choice, check_int, check_nonempty, check_scalar,
                          check_type)
from .feedback import damped_pinv_family
from .metrics import angle

__all__ = ["expected_feedback_update", "closed_form_h", "closed_form_feedback",
           "solve_feedback_fixed_point", "DampedFit", "fit_damped_gamma"]


def _check_inputs(network, Q, x, config):
    """(Q, batched x, config), ``config=None`` meaning ``FeedbackConfig()``."""
    check_type(network, "network", Network)
    config = FeedbackConfig() if config is None else check_type(config, "config", FeedbackConfig)
    Q = network.convert(Q, "Q", shape=(network.n_total, network.n_out))
    x2 = check_nonempty(network._input(x)[0], "x", "the batch-averaged feedback update")
    return Q, x2, config


def _rule_output(corr, Q, config, return_info, **info):
    """dQ = -corr / sigma_fb^2 - decay(Q) of the feedback rule, with its info dict if asked."""
    decay = config.decay_term(Q)
    dQ = -corr / config.sigma_fb ** 2 - decay
    return (dQ, {"correlation": corr, "decay": decay, **info}) if return_info else dQ


def _linear_step(network, Q, D, config, z, xi):
    """One Euler step of the sleep dynamics linearised at the feedforward state.

    z : (B, K, d) deviations [u_int, u, v_fb, v] (row vectors), xi : (B, K, N) apical noise
    (already scaled).  Mirrors dfc_theory._simulate._euler line by line.
    """
    c, net = config, network
    nL, N, L = net.n_out, net.n_total, net.depth
    u_int, u, vfb, v = np.split(z, np.cumsum([nL, nL, N]), axis=-1)
    vb = net.split(v)
    h_u = c.dt_fb / c.tau_u_fb
    h_v = 1.0 if c.tau_v_fb == 0 else c.dt_fb / c.tau_v_fb
    h_A = 1.0 if c.tau_A_fb is None else c.dt_fb / c.tau_A_fb
    e = -D[-1][:, None, :] * vb[-1]
    u_int_new = u_int + h_u * (e - c.alpha_fb * (u if c.leak == "total" else u_int))
    u_new = u_int_new + c.k_p_fb * e
    drive = (u_new if c.proactive else u) @ Q.T
    vfb_new = vfb + h_A * (drive - vfb) + xi
    fb = net.split(vfb_new)
    r_old = [D[i][:, None, :] * vb[i] for i in range(L)]
    v_new, r_new = [], []
    src = r_new if c.instantaneous_transmission else r_old  # r_new grows in the loop
    for i in range(L):
        ff = 0.0 if i == 0 else src[i - 1] @ net.weights[i].T  # x is fixed: no deviation
        v_new.append(vb[i] + h_v * (ff + fb[i] - vb[i]))
        r_new.append(D[i][:, None, :] * v_new[i])
    return np.concatenate([u_int_new, u_new, vfb_new] + v_new, axis=-1)


def expected_feedback_update(network, Q, x, config=None, return_info=False):
    """Exact expectation of :func:`feedback_update` for the linearised sleep dynamics.

    The Euler scheme linearised at the feedforward state (where the noiseless sleep phase
    stays) is z[k+1] = M z[k] + N_xi xi[k+1] with z = [u_int, u, v_fb, v] (deviations).
    With C_0 = 0 and C_{k+1} = M C_k M^T + N_xi N_xi^T,

        E[v_fb[k] u[k+1]^T] = P_fb C_k M^T P_u^T   (xi[k+1] does not reach u[k+1]),
        E[dQ] = -(1 / sigma_fb^2) mean_b (1 / (K - 1)) sum_{k=1}^{K-1} P_fb C_k M^T P_u^T - decay(Q).

    Exact for linear networks (any sigma), the sigma -> 0 limit for nonlinear ones; cost
    O(K B d^3), d = 2 (N + n_L).

    Parameters
    ----------
    network : Network (NumPy)
    Q : array (N, n_L)
    x : array (B, n_0) or (n_0,)
    config : FeedbackConfig, optional (default ``FeedbackConfig()``, the reference settings)
    return_info : bool
        Also return a dict with ``correlation`` (the averaged E[v_fb u^T]), ``decay`` and
        ``covariance_final``, the per-sample C_K.

    Returns
    -------
    dQ : array (N, n_L), or (dQ, info) with ``return_info`` (as :func:`feedback_update`).

    Raises
    ------
    FloatingPointError
        If the linearised sleep dynamics diverge (Condition 3 violated or dt_fb too large).

    Examples
    --------
    With Q = 0 the ideal-setting E[dQ] = J^T - Q (S + beta I) is exactly J^T:

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], activation="linear", seed=0)
    >>> x, cfg = np.ones((1, 3)), dfc.FeedbackConfig.ideal(1.0, 0.1, n_steps_fb=20)
    >>> dQ = dfc.expected_feedback_update(net, np.zeros((6, 2)), x, cfg)
    >>> bool(np.allclose(dQ, net.jacobian(x[0]).T, rtol=1e-10, atol=1e-12))
    True
    """
    Q, x2, config = _check_inputs(network, Q, x, config)
    nL, N, B = network.n_out, network.n_total, x2.shape[0]
    d = 2 * nL + 2 * N
    fp = network._forward(x2)
    D = [network.phi(i).df(fp.v[i - 1]) for i in range(1, network.depth + 1)]
    if all(np.all(Di == Di[:1]) for Di in D):  # e.g. linear networks: one sample suffices
        D, B = [Di[:1] for Di in D], 1
    eye = np.broadcast_to(np.eye(d), (B, d, d))
    Mt = _linear_step(network, Q, D, config, eye, np.zeros((B, d, N)))  # rows: M e_j
    M = np.swapaxes(Mt, 1, 2)
    std = noise_std(N, nL, config.sigma_fb, config.sigma_out, config.dt_fb,
                    config.dt_fb if config.tau_A_fb is None else config.tau_A_fb)
    Nt = _linear_step(network, Q, D, config, np.zeros((B, N, d)),
                      np.broadcast_to(np.diag(std), (B, N, N)))
    W = np.swapaxes(Nt, 1, 2) @ Nt  # N_xi N_xi^T
    MuT = Mt[:, :, nL:2 * nL]  # M^T P_u^T, (B, d, nL)
    C, S = np.zeros((B, d, d)), np.zeros((B, d, d))
    K = config.n_steps_fb
    limit = 1e16 * np.max(np.diagonal(W, axis1=1, axis2=2))  # amplitude x 1e8 of one step
    for k in range(K):
        if k >= 1:
            S += C
        C = M @ C @ Mt + W
        if not np.max(np.diagonal(C, axis1=1, axis2=2)) < limit:
            raise FloatingPointError(
                f"expected_feedback_update: the linearised sleep dynamics diverge (the "
                f"fluctuations grew 1e8-fold within {k + 1} steps); check Condition 3 "
                f"(Re eig(J Q) > -alpha_fb = {-config.alpha_fb}) and dt_fb")
    corr = np.mean(S[:, 2 * nL:2 * nL + N, :] @ MuT, axis=0) / (K - 1)  # P_fb S M^T P_u^T
    return _rule_output(corr, Q, config, return_info, covariance_final=C)


@dataclass(frozen=True)
class DampedFit:
    """Best damped pseudoinverse J^T (J J^T + gamma I)^{-1} for a given Q (up to scale).

    Attributes
    ----------
    gamma : float
        Best damping (0: the pseudoinverse; inf: J^T, the angle decreasing up to the search
        bound; nan for n_L = 1, where every member is a multiple of J^T).
    angle, angle_pinv, angle_transpose : float
        Angles (degrees) of Q with the best member, with gamma = 0 and with J^T.
    scale : float
        c minimising ||Q - c J^T (J J^T + gamma I)^{-1}||_F (batched J: the sample mean).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import fit_damped_gamma
    >>> J = np.random.default_rng(0).standard_normal((3, 6))
    >>> fit = fit_damped_gamma(np.linalg.pinv(J), J)      # Q = J^+: gamma = 0, scale 1
    >>> fit.gamma, round(fit.scale, 10), bool(fit.angle_pinv < 1e-6)
    (0.0, 1.0, True)
    """

    gamma: float
    angle: float
    scale: float
    angle_pinv: float
    angle_transpose: float


def fit_damped_gamma(Q, J, average="angle", log10_range=(-8.0, 8.0)):
    """Fit the damping gamma of J^T (J J^T + gamma I)^{-1} that best aligns with Q.

    Minimises the angle on a log grid (10 per decade over ``log10_range``, plus 0 and inf),
    then by a bounded scalar search in log10 gamma around the best grid point.

    Parameters
    ----------
    Q : (N, n_L)
    J : (n_L, N) or (B, n_L, N)
    average : {"angle", "matrix"}
        Batched J: the mean per-sample angle, or the angle with the sample mean of the damped
        pseudoinverses (Theorem 6's "sample average" for nonlinear networks).

    Returns
    -------
    DampedFit

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import fit_damped_gamma
    >>> from dfc_theory.feedback import damped_pinv_family
    >>> J = np.random.default_rng(0).standard_normal((3, 6))
    >>> fit = fit_damped_gamma(4.0 * damped_pinv_family(J, [2.5])[0], J)
    >>> round(fit.gamma, 4), round(fit.scale, 4), bool(fit.angle < 1e-4)  # to the search's xatol
    (2.5, 4.0, True)
    """
    Q = as_array(Q, "Q", ndim=2)
    J = as_array(J, "J", ndim=(2, 3))
    if J.shape[-1] != Q.shape[0] or J.shape[-2] != Q.shape[1]:
        raise ValueError(f"J: expected shape ([B,] {Q.shape[1]}, {Q.shape[0]}) to match Q "
                         f"{Q.shape}, got {J.shape}")
    check_choice(average, "average", ("angle", "matrix"))
    if np.shape(log10_range) != (2,):
        raise ValueError(f"log10_range: expected (low, high), got {log10_range!r}")
    lo, hi = (check_scalar(v, "log10_range") for v in log10_range)
    if not hi > lo:
        raise ValueError(f"log10_range: expected (low, high) with high > low, got {log10_range}")
    if Q.shape[1] == 1:  # n_L = 1: J J^T is a scalar, every member is a multiple of J^T
        JT = np.swapaxes(J, -1, -2)
        a = float(np.mean(angle(Q, JT, matrices=True)))
        scale = np.sum(Q * JT, axis=(-2, -1)) / np.sum(JT * JT, axis=(-2, -1))
        return DampedFit(float("nan"), a, float(np.mean(scale)), a, a)

    def family(gammas):
        fam = damped_pinv_family(J, gammas)
        return fam.mean(axis=1) if J.ndim == 3 and average == "matrix" else fam

    def angle_of(gammas):
        a = angle(Q, family(gammas), matrices=True)
        return a.mean(axis=-1) if a.ndim == 2 else a

    grid = 10.0 ** np.arange(lo, hi + 1e-9, 0.1)
    a_grid = angle_of(grid)
    a0, ainf = angle_of([0.0, np.inf])
    k = int(np.argmin(a_grid))
    if a0 <= a_grid[k] and a0 <= ainf:
        gamma, best = 0.0, a0
    elif ainf < a_grid[k]:
        gamma, best = np.inf, ainf
    else:
        lk = np.log10(grid[k])
        res = scipy.optimize.minimize_scalar(lambda s: float(angle_of([10.0 ** s])[0]),
                                             bounds=(max(lo, lk - 0.1), min(hi, lk + 0.1)),
                                             method="bounded", options={"xatol": 1e-6})
        gamma, best = (10.0 ** res.x, float(res.fun)) if res.fun <= a_grid[k] \
            else (grid[k], a_grid[k])
    P = family([gamma])[0]
    scale = np.sum(Q * P, axis=(-2, -1)) / np.sum(P * P, axis=(-2, -1))
    return DampedFit(float(gamma), float(best), float(np.mean(scale)), float(a0), float(ainf))


def closed_form_h(g, alpha, beta):
    """OUR closed form (not in the paper): h(g) with Q* = J^T h(J J^T), for each eigenvalue
    g >= 0 of J J^T (the setting of :func:`closed_form_feedback`, T = inf),

        h(g) = [(g - 2 alpha beta) + sqrt((g - 2 alpha beta)^2 + 16 alpha beta g)] / (4 beta g),

    evaluated without cancellation (h(0) = 1 / beta for alpha > 0; alpha = 0 gives
    h = 1 / (2 beta) for every g).  y = g h is the positive root of
    2 beta y^2 + (2 alpha beta - g) y - 2 alpha g = 0 (module docstring).

    Parameters
    ----------
    g : float or array, >= 0
        Eigenvalues of J J^T.
    alpha : float >= 0
        alpha_fb.
    beta : float > 0
        Weight decay.

    Returns
    -------
    h : array of the shape of g, in [1 / (2 beta), 1 / beta].

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.feedback_learning import closed_form_h
    >>> g, alpha, beta = np.array([0.05, 2.0, 40.0]), 1.0, 0.1
    >>> h = closed_form_h(g, alpha, beta)
    >>> y = [max(np.roots([2 * beta, 2 * alpha * beta - gi, -2 * alpha * gi]).real) for gi in g]
    >>> bool(np.allclose(g * h, y, rtol=1e-10))     # y = g h, the quadratic's positive root
    True
    >>> bool(np.all((h > 1 / (2 * beta)) & (h < 1 / beta))), float(closed_form_h(0.0, alpha, beta))
    (True, 10.0)
    """
    alpha, beta = _alpha_beta(alpha, beta)
    g = as_array(g, "g")
    if np.any(g < 0):
        raise ValueError("g: eigenvalues of J J^T must be >= 0")
    b = 2 * alpha * beta - g
    disc = np.sqrt(b * b + 16 * alpha * beta * g)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_pos = (disc - b) / (4 * beta * g)          # stable when b <= 0
        h_neg = 4 * alpha / (b + disc)               # stable when b > 0 (b + disc > 0)
    h = np.where(b > 0, h_neg, h_pos)
    # g = 0: the limit g -> 0+ (irrelevant for Q*: J^T annihilates the null space of J J^T)
    return np.where(g == 0, 1.0 / beta if alpha > 0 else 0.5 / beta, h)


def _alpha_beta(alpha, beta):
    """alpha >= 0 and beta > 0 with a finite 1 / beta."""
    beta = check_scalar(beta, "beta", low=0.0, low_inclusive=False)
    if not np.isfinite(4.0 / beta):
        raise ValueError(f"beta: too small, 1 / beta overflows (got {beta})")
    return check_scalar(alpha, "alpha", low=0.0), beta


def _h_finite(g, alpha, beta, T):
    """Solve h (S_T + beta) = 1 (S_T of the module docstring, a = g h + alpha) for h."""
    def S(h):
        a = g * h + alpha
        x = 2 * a * T
        if x < 1e-6:  # series: 1 - (1 - e^{-x}) / x = x/2 - x^2/6 + ...
            return g / (2 * a) * (x / 2 - x * x / 6) if a > 0 else g * T / 2
        return g / (2 * a) * (1 - (1 - np.exp(-x)) / x)

    f = lambda h: h * (S(h) + beta) - 1.0  # noqa: E731
    return scipy.optimize.brentq(f, 0.0, 1.0 / beta, xtol=1e-15, rtol=1e-14)


def closed_form_feedback(J, alpha, beta, horizon=np.inf):
    """OUR closed-form fixed point of the expected feedback rule, Q* = J^T h(J J^T).

    Setting (derived in the module docstring): linear network, tau_v -> 0, k_p = 0, tau_u = 1,
    instantaneous apical compartment, uniform white noise in v_fb with the rule's 1 / sigma^2
    scaling, weight decay beta > 0, dt -> 0.

    Parameters
    ----------
    J : (n_L, N) or (B, n_L, N)
    alpha : float >= 0
        alpha_fb.
    beta : float > 0
        Weight decay.
    horizon : float > 0 or inf
        Sleep-simulation length T = n_steps_fb dt_fb from u = 0: ``inf`` is
        :func:`closed_form_h`; a finite T solves h (S_T(g, h) + beta) = 1 per eigenvalue.

    Returns
    -------
    Q* : (N, n_L) or (B, N, n_L)

    Notes
    -----
    J Q* = G h(G) is symmetric positive semi-definite: Conditions 2 and 3 hold even for
    alpha = 0.  Q* ~ 2 alpha J^T (J J^T + 2 alpha beta I)^{-1} for T = inf where
    g << 2 alpha beta; Q* ~ (2 / T) J^T (J J^T + (2 beta / T) I)^{-1} where (alpha + g h) T << 1.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import closed_form_feedback, condition2_ratio
    >>> J = np.random.default_rng(0).standard_normal((2, 5))
    >>> Q = closed_form_feedback(J, alpha=0.0, beta=0.5)     # alpha = 0: h = 1 / (2 beta)
    >>> bool(np.allclose(Q, J.T)), float(np.round(condition2_ratio(J, Q), 12))
    (True, 1.0)
    """
    J = as_array(J, "J", ndim=(2, 3))
    alpha, beta = _alpha_beta(alpha, beta)
    if horizon != np.inf:
        horizon = check_scalar(horizon, "horizon", low=0.0, low_inclusive=False)
    g, U = np.linalg.eigh(J @ np.swapaxes(J, -1, -2))
    g = np.clip(g, 0.0, None)
    h = closed_form_h(g, alpha, beta) if np.isinf(horizon) else \
        np.vectorize(lambda gg: _h_finite(gg, alpha, beta, horizon))(g)
    return (np.swapaxes(J, -1, -2) @ U * h[..., None, :]) @ np.swapaxes(U, -1, -2)


def solve_feedback_fixed_point(network, xs, config=None, Q0=None, tol=1e-12, n_warmup=0):
    """Q with E[dQ](Q) = 0 for the expected update over the inputs xs (mean over xs).

    scipy.optimize.root (MINPACK hybrid) from ``Q0`` (default: our closed form at the mean
    Jacobian) after ``n_warmup`` deterministic steps Q <- Q + lr_fb E[dQ].

    Parameters
    ----------
    network : Network (NumPy)
    xs : array (B, n_0)
        Inputs; E[dQ] is their mean (:func:`expected_feedback_update`).
    config : FeedbackConfig, optional (default ``FeedbackConfig()``)
    Q0 : array (N, n_L), optional
        Starting point.
    tol : float > 0
        ``xtol`` of the root finder.
    n_warmup : int >= 0

    Returns
    -------
    (Q, residual) with residual = ||E[dQ](Q)||_F / ||E[dQ] noise term||_F.

    Raises
    ------
    RuntimeError when the root finder does not converge.

    Examples
    --------
    In the ideal setting the discrete fixed point is J^T h(J J^T) (Condition 2) and
    approaches our closed form (derived for dt -> 0) as dt shrinks:

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory import closed_form_feedback
    >>> from dfc_theory.feedback_learning import solve_feedback_fixed_point
    >>> net = dfc.Network.random([3, 4, 2], activation="linear", seed=0)
    >>> x, errs = np.zeros((1, 3)), []
    >>> J = net.jacobian(x[0])
    >>> for dt in (0.01, 0.005):                                        # horizon T = 0.5
    ...     cfg = dfc.FeedbackConfig.ideal(1.0, 0.1, dt_fb=dt, n_steps_fb=round(0.5 / dt))
    ...     Q, res = solve_feedback_fixed_point(net, x, cfg)
    ...     Qc = closed_form_feedback(J, 1.0, 0.1, horizon=cfg.horizon)
    ...     errs.append(np.linalg.norm(Q - Qc) / np.linalg.norm(Qc))
    ...     print(res < 1e-10, round(float(dfc.condition2_ratio(J, Q)), 10))
    True 1.0
    True 1.0
    >>> bool(errs[1] < errs[0])                     # closer to the dt -> 0 closed form
    True
    """
    config = FeedbackConfig() if config is None else config
    xs = as_array(xs, "xs", ndim=2)
    tol = check_scalar(tol, "tol", low=0.0, low_inclusive=False)
    shape = (network.n_total, network.n_out)
    if Q0 is None:
        J = network.jacobian(xs).mean(axis=0)
        beta = config.beta if config.decay == "weight" and config.beta > 0 else 1.0
        Q0 = closed_form_feedback(J, config.alpha_fb, beta, horizon=config.horizon)
    Q0, _, _ = _check_inputs(network, Q0, xs[:1], config)
    for _ in range(check_int(n_warmup, "n_warmup", low=0)):
        Q0 = Q0 + config.lr_fb * expected_feedback_update(network, Q0, xs, config)

    def fun(q):
        return expected_feedback_update(network, q.reshape(shape), xs, config).ravel()

    sol = scipy.optimize.root(fun, Q0.ravel(), method="hybr", options={"xtol": tol})
    Q = sol.x.reshape(shape)
    dQ, info = expected_feedback_update(network, Q, xs, config, return_info=True)
    scale = np.linalg.norm(info["correlation"]) / config.sigma_fb ** 2
    resid = float(np.linalg.norm(dQ) / scale)
    if not sol.success and resid > 1e-8:
        raise RuntimeError(f"solve_feedback_fixed_point: root finder failed ({sol.message}); "
                           f"relative residual {resid:.2e}")
    return Q, resid
