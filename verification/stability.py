"""Condition 3 / Proposition 5: the stability verdict of the linearised system matrices
against the simulated behaviour, and decay rate against spectral abscissa (THEORY.md 4-5)."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

import dfc_theory as dfc
from dfc_theory import stability as stab

from ._common import random_input, random_net
from .result import Result

N_QUICK, N_FULL = 16, 60  # random systems per setting
MARGIN = 0.02  # |spectral abscissa| below this (in 1/tau_u) counts as marginal
CONV, DEPART = 1e-2, 1.0
WHY_AGREE = (f"Lyapunov's indirect method makes the verdict exact for local stability; the "
             f"simulation starts lambda-close to the rest point and runs until "
             f"exp(|a| T) <= {CONV} / 20 for |a| >= {MARGIN}, so every case outside the margin "
             f"is decided; cases within {MARGIN} of the imaginary axis are counted, not judged")


def _cases(ctx, rng, n, finite_tau):
    """Random small tanh systems: alternately a Gaussian Q (mostly unstable: eig(JQ) often
    has a negative real part) and Q = J^T (I + G/2) (mostly stable), scaled at random."""
    out = []
    while len(out) < n:
        net = random_net(rng, [3, 4, 2])
        x = np.stack([random_input(rng, 3)])
        scale = float(rng.uniform(0.3, 2.0))
        if len(out) % 2:
            Q = dfc.feedback.random_gaussian(net, seed=int(rng.integers(2**31)), scale=scale)
        else:
            M = np.eye(2) + 0.5 * rng.standard_normal((2, 2))
            Q = scale * net.jacobian(x[0]).T @ M
        alpha = float(rng.uniform(0.02, 0.5))
        if finite_tau:
            ctrl = dfc.Controller(alpha=alpha, k_p=float(rng.uniform(0.0, 2.0)),
                                  tau_v=float(rng.uniform(0.05, 0.5)), leak="total")
        else:
            ctrl = dfc.Controller(alpha=alpha, k_p=0.0, tau_v=0.0, leak="total")
        system = dfc.DFCSystem(net, Q, ctrl)
        rL = net.forward(x).r[-1]
        target = rL + 0.01 * rng.standard_normal(rL.shape)
        try:
            key = "A_system" if finite_tau else "A_inst"
            A = stab.system_matrices(system, x, target, at="steady_state")[key]
        except ValueError:  # no exact steady state: nothing to linearise around
            continue
        out.append((system, x, target, float(stab.spectral_abscissa(A)[0])))
    return out


def _agreement(cases, finite_tau):
    agree, disagree, marginal, c3_proxy_wrong = 0, [], 0, 0
    for system, x, target, a in cases:
        if abs(a) < MARGIN:
            marginal += 1
            continue
        T = (np.log(20 / CONV)) / abs(a) + 5.0 * max(system.controller.tau_v, 0.2)
        sv = stab.simulated_verdict(system, x, target, t_end=min(T, 2000.0), method="ivp",
                                    converged_below=CONV, departed_above=DEPART,
                                    rtol=1e-8, atol=1e-10)
        stable = a < 0
        ok = bool(sv.converged[0]) if stable else bool(sv.departed[0])
        if ok:
            agree += 1
        else:
            disagree.append({"abscissa": a, "ratio": float(sv.ratio[0])})
        if finite_tau:
            c3 = bool(stab.condition3(system, x, target, at="steady_state").holds[0])
            c3_proxy_wrong += int(c3 != stable)
    return agree, disagree, marginal, c3_proxy_wrong


def run(ctx):
    rng = ctx.rng(606)
    n = N_FULL if ctx.full else N_QUICK
    res = []
    for finite_tau in (False, True):
        cases = _cases(ctx, rng, n, finite_tau)
        agree, disagree, marginal, c3_wrong = _agreement(cases, finite_tau)
        judged = agree + len(disagree)
        n_stable = sum(a < -MARGIN for *_, a in cases)
        label = "pi_finite_tau" if finite_tau else "prop5_instantaneous"
        claim = ("with finite tau_v and PI control (k_p > 0, 'total' leak) the spectral abscissa "
                 "of the full linearised system at the steady state predicts whether the "
                 "simulation converges" if finite_tau else
                 "for the instantaneous system with k_p = 0, the dynamics are locally "
                 "asymptotically stable iff Condition 3 holds (A_inst = -(J_ss Q + alpha I) "
                 "Hurwitz)")
        details = {"cases": len(cases), "stable": n_stable, "marginal": marginal,
                   "disagreements": disagree}
        if finite_tau:
            details["Condition 3 (proxy) verdict wrong in"] = c3_wrong
        res.append(Result(
            name=f"stability_{label}", claim=claim,
            reference="THEORY.md s.4 Prop 5, s.5",
            predicted="agreement 100% outside the margin",
            measured={"agreement": f"{agree}/{judged}", "stable/unstable": (n_stable,
                                                                             judged - n_stable)},
            tolerance=f"all judged cases agree; both verdicts occur; margin {MARGIN}",
            why=WHY_AGREE,
            passed=bool(judged > 0 and not disagree and 0 < n_stable < judged),
            provenance="paper" if not finite_tau else "ours",
            details=details))
    res.append(_decay_rate(ctx, rng))
    return res


def _envelope_rate(t, err, a, ev):
    """Decay rate of ||z(t)|| from its envelope: max over one oscillation period at two
    times t1 < t2, a whole number of periods apart (so the dominant pair has the same phase),
    chosen so that the secondary modes have faded (e^{-6}) and the error is still far above
    rounding.  Returns None when the modes are not separable in range."""
    re = np.sort(np.unique(np.round(ev.real, 12)))[::-1]
    gap = re[0] - re[1] if len(re) > 1 else np.inf
    im = np.abs(ev[np.argmax(ev.real)].imag)
    period = 2 * np.pi / im if im > 1e-9 else 0.0
    t1 = 4.0 / abs(a) + 6.0 / gap
    step = 12.0 / abs(a)
    if period:  # whole periods apart: the dominant pair then repeats its phase exactly
        step = np.ceil(step / period) * period
    t2 = t1 + step
    if t2 + period + (t[1] - t[0]) > t[-1] or np.exp(a * (t2 + period)) < 1e-11:
        return None
    span = max(period, t[1] - t[0])  # at least one grid point per window
    w1 = (t >= t1) & (t <= t1 + span)
    w2 = (t >= t2) & (t <= t2 + span)
    return float(np.log(err[w2].max() / err[w1].max()) / (t2 - t1))


def _decay_rate(ctx, rng):
    """Decay rate of the exact linearised trajectory vs the spectral abscissa."""
    rows, skipped, plotted = [], 0, None
    n = 6 if ctx.full else 3
    while len(rows) < n:
        k = len(rows) + skipped
        net = random_net(rng, [3, 5, 2])
        x = random_input(rng, 3)
        Q = dfc.feedback.random_condition2(net, x, seed=int(rng.integers(2**31)))
        ctrl = dfc.Controller(alpha=0.1, k_p=float(rng.uniform(0, 1.5)), tau_v=0.3,
                              leak=("total", "integral")[k % 2])
        system = dfc.DFCSystem(net, Q, ctrl)
        rL = net.forward(x).r[-1]
        target = rL + 0.01 * rng.standard_normal(2)
        lin = system.linearise(x, target, z0=system.initial_state(x))  # at the rest point
        A = lin.A[0]
        ev = np.linalg.eigvals(A)
        a = float(ev.real.max())
        T = 40.0 / abs(a)
        sim = dfc.simulate(system, x, target, method="linear", dt=T / 4000, n_steps=4000,
                           record="full")
        z = np.concatenate([sim.v, sim.u if ctrl.leak == "total" else
                            sim.u - ctrl.k_p * sim.e], axis=1)
        z_inf = lin.z0[0] - np.linalg.solve(A, lin.c[0])
        err = np.linalg.norm(z - z_inf, axis=1)
        rate = _envelope_rate(sim.t, err, a, ev)
        if rate is None:
            skipped += 1
            continue
        rows.append((a, rate))
        if plotted is None:
            plotted = (sim.t, err, a)
    rel_err = [abs(f - a) / abs(a) for a, f in rows]
    t, err, a = plotted
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(t, err, label="||z(t) - z_inf|| (exact linearised trajectory)")
    ax.semilogy(t, err[0] * np.exp(a * t), "k--", lw=1, label=f"exp(a t), a = {a:.3f}")
    ax.set_xlabel("t / tau_u")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ctx.out / "stability_decay.png", dpi=110)
    plt.close(fig)
    return Result(
        name="stability_decay_rate",
        claim=("the exponential decay rate of a linearised trajectory equals the spectral "
               "abscissa of its system matrix"),
        reference="THEORY.md s.5", predicted=[a for a, _ in rows],
        measured=[f for _, f in rows], tolerance="relative difference <= 0.02",
        why=("the envelope (max over one oscillation period) of ||z(t)|| is C e^{a t} up to "
             "secondary modes, which have faded by e^{-6} = 0.25% at t1 = 4/|a| + 6/gap; the two "
             "windows are whole periods apart, so over >= 12 e-foldings the rate moves by "
             "< 0.1% (grid resolution adds < 0.1%); 2% is generous yet far below the gap "
             "between distinct modes"),
        passed=bool(max(rel_err) <= 0.02), plot="stability_decay.png",
        details={"relative errors": rel_err, "cases skipped (modes not separable)": skipped})
