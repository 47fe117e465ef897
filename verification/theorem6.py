"""Theorem 6: feedback learning in a noisy "sleep" phase drives Q to a damped-pseudoinverse-
like matrix satisfying Conditions 2 and 3 (THEORY.md sections 4 and 6).

The closed form Q* = J^T h(J J^T) is OUR derivation (THEORY.md labels it so), checked here
against the exact expectation of the discrete rule and against noisy learning.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
import scipy.linalg

import dfc_theory as dfc
from dfc_theory import feedback
from dfc_theory.feedback_learning import (FeedbackConfig, closed_form_feedback,
                                          expected_feedback_update, feedback_update,
                                          fit_damped_gamma, solve_feedback_fixed_point,
                                          train_feedback)

from ._common import loglog_slope, save_loglog
from .result import Result

ALPHA, BETA = 1.0, 0.1


def _linear_case(seed):
    net = dfc.Network.random([5, 4, 3], activation="linear", seed=seed)
    x = np.random.default_rng(seed).uniform(-1, 1, (1, 5))
    return net, x


def run(ctx):
    return [_closed_form(ctx), *_sgd(ctx), _sample_average(ctx)]


def _closed_form(ctx):
    net, x = _linear_case(ctx.seed + 61)
    J = net.jacobian(x[0])
    T, beta = 3.0, 1.0  # beta = 1 keeps dt (g h + alpha) << 1, the Euler error's scale
    Qc = closed_form_feedback(J, ALPHA, beta, horizon=T)
    dts = [0.004, 0.002, 0.001] if ctx.full else [0.004, 0.002]
    errs, c2, minre = [], [], []
    for dt in dts:
        cfg = FeedbackConfig.ideal(ALPHA, beta, dt_fb=dt, n_steps_fb=int(round(T / dt)))
        Qfp, res = solve_feedback_fixed_point(net, x, cfg)
        errs.append(np.linalg.norm(Qfp - Qc) / np.linalg.norm(Qc))
        c2.append(abs(float(dfc.condition2_ratio(J, Qfp)) - 1))
        minre.append(float(np.linalg.eigvals(J @ Qfp).real.min()))
    slope = loglog_slope(dts, errs)
    return Result(
        name="theorem6_closed_form",
        claim=("in the ideal setting (linear net, tau_v -> 0, k_p = 0, white apical noise) the "
               "fixed point of the expected sleep-phase rule is Q* = J^T h(J J^T) (our closed "
               "form, finite horizon T); it satisfies Condition 2 exactly and Condition 3 even "
               "for alpha = 0 (J Q* is symmetric positive definite)"),
        reference="THEORY.md s.4 Theorem 6 (closed form: ours)", predicted="error slope 1 in dt",
        measured={"slope": slope, "relative errors": errs, "max |c2 ratio - 1|": max(c2),
                  "min Re eig(J Q_fp)": min(minre)},
        tolerance="slope in [0.9, 1.1]; |ratio - 1| <= 1e-10; min Re eig(J Q) > 0",
        why=("the exact fixed point of the discrete (Euler) rule differs from the continuous-"
             "time closed form only through the discretisation, an O(dt) effect; Condition 2 "
             "is an identity of the ideal setting"),
        passed=bool(abs(slope - 1) <= 0.1 and max(c2) <= 1e-10 and min(minre) > 0),
        provenance="ours", details={"alpha_fb": ALPHA, "beta": beta, "T": T, "dts": dts,
                                    "eigenvalues of J J^T": np.linalg.eigvalsh(J @ J.T)})


def _sgd(ctx):
    """Noisy learning from a random Q: reaches Q* within the predicted SGD spread; the spread
    is independent of sigma for a linear network and scales like sqrt(lr)."""
    net, x = _linear_case(ctx.seed + 62)
    J = net.jacobian(x[0])
    batch = 8
    cfg = FeedbackConfig.ideal(ALPHA, BETA, dt_fb=0.01, n_steps_fb=100, sigma_fb=0.05,
                               lr_fb=1.0)
    Qs, _ = solve_feedback_fixed_point(net, x, cfg)
    # learning Jacobian H of the expected rule at Q* (central differences) and update noise
    f = lambda q: expected_feedback_update(net, q.reshape(Qs.shape), x, cfg).ravel()  # noqa
    n = Qs.size
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1e-6
        H[:, i] = (f(Qs.ravel() + e) - f(Qs.ravel() - e)) / 2e-6
    xb = np.repeat(x, batch, axis=0)
    xi = np.array([feedback_update(net, Qs, xb, cfg, seed=5000 + s).ravel()
                   for s in range(40 if not ctx.full else 120)])
    cov = np.cov(xi.T)

    def spread(lr):
        A = np.eye(n) + lr * H
        return float(np.sqrt(np.trace(scipy.linalg.solve_discrete_lyapunov(A, lr ** 2 * cov)))), \
            float(np.abs(np.linalg.eigvals(A)).max())

    sp, rho = spread(cfg.lr_fb)
    Q0 = feedback.random_gaussian(net, seed=ctx.seed + 3)
    n_up = int(np.ceil(np.log(1e-4) / np.log(rho)))
    Q, log = train_feedback(net, Q0, np.repeat(x, n_up * batch, axis=0), cfg, epochs=1,
                            batch_size=batch, seed=ctx.seed + 11, log_every=max(1, n_up // 40))
    dist = float(np.linalg.norm(Q - Qs))
    # sigma: a linear network's sleep dynamics scale with sigma, the rule divides by sigma^2
    cfg2 = FeedbackConfig.ideal(ALPHA, BETA, dt_fb=0.01, n_steps_fb=100, sigma_fb=0.005,
                                lr_fb=1.0)
    Q2, _ = train_feedback(net, Q0, np.repeat(x, n_up * batch, axis=0), cfg2, epochs=1,
                           batch_size=batch, seed=ctx.seed + 11)
    sigma_diff = float(np.linalg.norm(Q2 - Q) / np.linalg.norm(Q))
    lrs = [1.0, 0.5, 0.25]
    spreads = [spread(lr)[0] for lr in lrs]
    lr_slope = loglog_slope(lrs, spreads)
    fit_learned = fit_damped_gamma(Q, J)
    fit_star = fit_damped_gamma(Qs, J)
    ang_q = dfc.angle(Q, Qs)

    fig, ax = plt.subplots(1, 2, figsize=(8, 3.2))
    ax[0].plot(log.updates, log.condition2)
    ax[0].set_xlabel("feedback updates")
    ax[0].set_ylabel("Condition-2 ratio")
    ax[1].plot(log.updates, log.angle_transpose, label="angle(Q, J^T)")
    ax[1].set_xlabel("feedback updates")
    ax[1].set_ylabel("degrees")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ctx.out / "theorem6_learning.png", dpi=110)
    plt.close(fig)
    learn = Result(
        name="theorem6_noisy_learning",
        claim=("noisy sleep-phase learning from a random Q converges to the fixed point Q* "
               "(Condition-2 ratio -> 1, Condition 3 holds) and its damped-pseudoinverse fit "
               "matches that of Q*"),
        reference="THEORY.md s.4 Theorem 6, s.6", predicted={"||Q - Q*||": f"< 4 x {sp:.3g}",
                                                             "fit angle": fit_star.angle},
        measured={"||Q - Q*||": dist, "Condition-2 ratio start/end": (log.condition2[0],
                                                                      log.condition2[-1]),
                  "min Re eig(JQ)": float(log.min_real_eig[-1]),
                  "fitted gamma": fit_learned.gamma, "fit angle [deg]": fit_learned.angle},
        tolerance=("||Q - Q*|| < 4 sqrt(tr P) (P: stationary covariance of linearised SGD); "
                   "ratio >= 1 - (||Q - Q*||/||Q||)^2; Re eig(JQ) > -alpha; "
                   "|fit angle - fit angle(Q*)| <= angle(Q, Q*)"),
        why=("around Q* SGD is Q_{n+1} - Q* = (I + lr H)(Q_n - Q*) + lr xi_n, whose covariance "
             "P solves P = A P A^T + lr^2 Cov(xi) (measured update noise); 4 standard "
             "deviations; the ratio bound holds because Q* lies in row(J); the fit-angle bound "
             "is the triangle inequality for angles"),
        passed=bool(dist < 4 * sp + 1e-4 * np.linalg.norm(Q0 - Qs)
                    and log.condition2[0] < 0.9
                    and log.condition2[-1] >= 1 - (dist / np.linalg.norm(Q)) ** 2
                    and log.min_real_eig[-1] > -ALPHA
                    and abs(fit_learned.angle - fit_star.angle) <= ang_q + 1e-9),
        plot="theorem6_learning.png", provenance="paper",
        details={"updates": n_up, "batch": batch, "sigma_fb": cfg.sigma_fb, "lr_fb": 1.0,
                 "fitted gamma of Q*": fit_star.gamma, "angle(Q, Q*) [deg]": ang_q,
                 "note": ("with long sleep simulations (alpha T >> 1) our closed form is "
                          "J^T-like (best gamma -> inf), not a strongly damped pseudoinverse; "
                          "the damped-pseudoinverse shape with gamma = 2 beta / T appears for "
                          "short horizons (see dfc_theory.feedback_learning)")})
    scaling = Result(
        name="theorem6_error_scaling",
        claim=("the remaining error of noisy feedback learning does not depend on sigma for a "
               "linear network (the dynamics scale with sigma, the rule divides by sigma^2) and "
               "its predicted spread scales like sqrt(lr)"),
        reference="THEORY.md s.6 (rule scaling); SGD spread: ours",
        predicted={"sigma effect": 0.0, "lr slope": 0.5},
        measured={"||Q(sigma=0.005) - Q(sigma=0.05)|| / ||Q||": sigma_diff,
                  "spread slope in lr": lr_slope, "spreads": spreads},
        tolerance="sigma effect <= 1e-10; lr slope in [0.4, 0.6]",
        why=("same noise draws: identical trajectories up to rounding; the Lyapunov spread is "
             "lr^(1/2) (Cov/(2H))^(1/2) (1 + O(lr ||H||)), and ||H|| lr <= 0.3 here moves the "
             "slope by < 0.1"),
        passed=bool(sigma_diff <= 1e-10 and abs(lr_slope - 0.5) <= 0.1),
        provenance="ours", details={"lrs": lrs})
    return [learn, scaling]


def _sample_average(ctx):
    """tanh network: the fixed point of the rule averaged over inputs is the sample average of
    the per-input fixed points up to O(spread^2)."""
    net = dfc.Network.random([5, 4, 3], activation="tanh", seed=ctx.seed + 63)
    rng = np.random.default_rng(ctx.seed + 63)
    x0 = rng.uniform(-1, 1, 5)
    xi = rng.standard_normal((6, 5))
    cfg = FeedbackConfig.ideal(ALPHA, BETA, dt_fb=0.01, n_steps_fb=300)
    spreads = [0.4, 0.2, 0.1]
    errs, fits = [], []
    for s in spreads:
        xs = x0 + s * xi
        Qfp, _ = solve_feedback_fixed_point(net, xs, cfg)
        Qavg = np.mean([solve_feedback_fixed_point(net, xs[i:i + 1], cfg)[0]
                        for i in range(len(xs))], axis=0)
        errs.append(np.linalg.norm(Qfp - Qavg) / np.linalg.norm(Qfp))
        fits.append(fit_damped_gamma(Qfp, net.jacobian(xs), average="matrix").angle)
    slope = loglog_slope(spreads, errs)
    plot = save_loglog(ctx, "theorem6_sample_average", spreads,
                       {"||Q_fp(avg rule) - avg Q_fp|| / ||Q||": errs}, "input spread s",
                       "relative difference", slope=2,
                       title="tanh net: learned Q vs sample average")
    return Result(
        name="theorem6_tanh_sample_average",
        claim=("for a tanh network the learned Q (fixed point of the input-averaged rule, "
               "sigma -> 0) is the sample average of the per-input fixed points, up to "
               "O(spread^2) of the inputs"),
        reference="THEORY.md s.4 Theorem 6 (nonlinear networks)", predicted="slope 2",
        measured={"slope": slope, "relative differences": errs,
                  "fit angle with the sample-averaged damped pinv [deg]": fits},
        tolerance="slope in [1.8, 2.2]",
        why=("the root of the averaged map is the average of the roots plus a term quadratic "
             "in the deviations of the per-input maps (first-order terms average out)"),
        passed=bool(abs(slope - 2) <= 0.2), plot=plot,
        details={"inputs": len(xi), "sigma": "-> 0 (exact expected rule)"})
