"""Condition 3 / Proposition 5: stability verdicts of the linearised system matrices against
simulated behaviour, the measured decay rate against the spectral abscissa, and the
tau_v / tau_u -> 0 limit (THEORY.md sections 4-5).

Draws are balanced by construction: Q = J^+ S with J Q = S of prescribed real spectrum,
its smallest eigenvalue mu_0 placed at a margin above or below -alpha_eff (the others in
[0.5, 2]), optionally plus a part outside row(J) (which does not change J Q).  A verdict
is judged only outside a margin of the imaginary axis (premise ``outside_margin``).
Simulations are stiff (scipy Radau) and start at the feedforward state with a small output
error (voltage displacement 1e-3 at the linearised steady state), so they probe local
stability; a run converged when ||z(T) - z_ss|| < 1e-2 ||z(0) - z_ss|| and departed when
it ended farther from z_ss than it started.
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

import dfc_theory as dfc
from dfc_theory import stability as stab

from ._common import loglog_slope, plot_points, plot_sweep, save_figure
from ._draws import (cond_jjt, inputs, lam_for_displacement, net_text, network, perp_part,
                     q_pinv, sizes_for, spectrum_matrix)
from ._sweep import (SweepRun, extreme, make_draw, minmax, premise_pairs, theorem_result,
                     worst_of)

MARGIN = 0.02  # |spectral abscissa| below this (in 1/tau_u) counts as marginal, not judged
CONV, DEPART = 1e-2, 1.0
WHY_AGREE = (f"Lyapunov's indirect method makes the sign of the spectral abscissa a decides "
             f"local stability; the simulation starts 1e-3-close to the rest point and runs "
             f"T = log(20/{CONV})/|a| + 5 tau_v, so a stable run ends below {CONV} of its "
             f"initial distance (e^{{aT}} = {CONV / 20:g}) and an unstable one has grown "
             f"2000-fold; draws within {MARGIN} of the imaginary axis are excluded, not judged")


def _placed_q(rng, net, x, mu0, perp=0.0, others=(0.5, 2.0)):
    """Q = J^+ S (+ (I - P_J) G of norm ``perp`` ||J^+ S||) with J Q = S of real spectrum
    {mu0, U(others), ...}."""
    J = net.jacobian(x)
    mu = np.concatenate([[mu0], rng.uniform(*others, net.n_out - 1)])
    Q = q_pinv(J, spectrum_matrix(rng, mu))
    if perp:
        Q = Q + perp_part(rng, J, perp * np.linalg.norm(Q))
    return Q


def _balanced(rng, j, k):
    """A draw of the balanced verdict sweeps: judged draw j even places mu_0 at a margin
    m alpha above -alpha (Condition 3 holds), odd below; m ~ U(0.3, 1), alpha ~ U(0.1, 0.5);
    every other draw adds a part outside row(J).  Returns (net, x, y, alpha, Q)."""
    sizes = sizes_for(j)
    net = network(rng, sizes)
    x = inputs(rng, sizes[0])
    y = rng.standard_normal(net.n_out)
    alpha = float(rng.uniform(0.1, 0.5))
    side = 1.0 if j % 2 == 0 else -1.0
    mu0 = -alpha + side * float(rng.uniform(0.3, 1.0)) * alpha
    return net, x, y, alpha, _placed_q(rng, net, x, mu0, perp=float(k % 2))


def _target(net, Q, x, y, alpha):
    g = 2.0 * (y - net.forward(x).output)
    lam = float(lam_for_displacement(net, Q, x, g, alpha, 1e-3))
    return net.forward(x).output + lam * g


def _abscissa(system, x, t, key="A_system"):
    A = stab.system_matrices(system, x, t, at="steady_state")[key]
    return float(np.max(stab.spectral_abscissa(A)))


def _simulate(system, x, t, a):
    T = np.log(20 / CONV) / abs(a) + 5.0 * system.controller.tau_v
    sv = stab.simulated_verdict(system, x, t, t_end=float(T), method="ivp",
                                converged_below=CONV, departed_above=DEPART,
                                rtol=1e-6, atol=1e-9)
    return bool(sv.converged[0]), bool(sv.departed[0]), float(sv.ratio[0]), float(T)


def _agrees(stable, conv, dep):
    return conv if stable else dep


def _prop5_instantaneous(ctx):
    name = "stability_prop5_instantaneous"
    run = SweepRun(ctx, name)
    for k, rng, j in run:
        net, x, y, alpha, Q = _balanced(rng, j, k)
        system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha, k_p=0.0, tau_v=0.0,
                                                      leak="total"))
        t = _target(net, Q, x, y, alpha)
        d = make_draw(system, x, t)
        pairs = premise_pairs([d], ["newton_converged"])
        c3 = dfc.condition3(system, x, t, at="steady_state")
        margin = float(np.min(c3.margin))
        pairs.append(("outside_margin", abs(margin) >= MARGIN))
        if not run.judge(pairs):
            continue
        stable = margin > 0
        conv, dep, ratio, T = _simulate(system, x, t, margin)
        # control: Proposition 5's premises k_p = 0, tau_v -> 0 broken -- the paper's
        # integral leak with k_p > 0 and mu0 in (-alpha, -alpha_tilde)
        ca, ck = float(rng.uniform(0.3, 0.5)), float(rng.uniform(1.0, 2.0))
        cctrl = dfc.Controller(alpha=ca, k_p=ck, tau_v=0.02, leak="integral")
        cQ = _placed_q(rng, net, x, -(ca + cctrl.alpha_eff) / 2)
        csys = dfc.DFCSystem(net, cQ, cctrl)
        ct = _target(net, cQ, x, y, cctrl.alpha_eff)
        cc, cm, cr = None, None, None
        if premise_pairs([make_draw(csys, x, ct)], ["newton_converged"])[0][1]:
            cm = float(np.min(dfc.condition3(csys, x, ct, at="steady_state").margin))
            cconv, cdep, cr, _ = _simulate(csys, x, ct, _abscissa(csys, x, ct))
            cc = _agrees(cm > 0, cconv, cdep)
        run.add({"network": net_text(net), "cond(JJ^T)": cond_jjt(net.jacobian(x)),
                 "Condition 3 margin": margin, "predicted": "stable" if stable else "unstable",
                 "simulated ratio": ratio, "T": T, "control Condition 3 margin": cm,
                 "control simulated ratio": cr,
                 "passed": _agrees(stable, conv, dep), "control": cc})
    rows = run.rows
    plot = _verdict_plot(ctx, name, rows, "Condition 3 margin", "control Condition 3 margin",
                         "min Re eig(J_ss Q) + alpha (Condition 3 margin)")
    n_st = sum(r["predicted"] == "stable" for r in rows)
    return theorem_result(
        run, name=name, plot=plot,
        claim=("for the instantaneous system (tau_v -> 0) with k_p = 0, the dynamics are "
               "locally asymptotically stable iff Condition 3 holds: every eigenvalue of "
               "J_ss Q has real part > -alpha"),
        reference="THEORY.md s.4, Proposition 5", predicted="simulation agrees with Condition 3",
        measured={"stable / unstable judged": (n_st, len(rows) - n_st)},
        tolerance="every judged draw agrees; both verdicts occur",
        why=WHY_AGREE, extra_ok=0 < n_st < len(rows),
        extra_why="the judged draws do not contain both verdicts",
        worst=worst_of(rows, "Condition 3 margin", "smallest |Condition-3 margin| judged",
                       mode="absmin"),
        control_premise=("k_p = 0 and tau_v -> 0; control: the paper's integral leak with "
                         "k_p in [1, 2], tau_v = 0.02 and mu_0 in (-alpha, -alpha_tilde), where "
                         "Condition 3 (with alpha) predicts stable"),
        control_measured={"control draws agreeing with Condition 3":
                          sum(bool(r["control"]) for r in rows if r["control"] is not None)},
        details={"margin": MARGIN, "integrator": "ivp (Radau), rtol 1e-6, atol 1e-9"})


def _verdict_plot(ctx, name, rows, key, ckey, xlabel):
    """Predicted stability margin (> 0: stable) against the simulated distance ratio."""
    g = {"judged draws": ([r[key] for r in rows], [r["simulated ratio"] for r in rows])}
    c = [r for r in rows if r.get(ckey) is not None and r.get("control simulated ratio")]
    if c:
        g["negative control"] = ([r[ckey] for r in c], [r["control simulated ratio"]
                                                       for r in c])
    for label, (xx, yy) in g.items():
        g[label] = (np.asarray(xx, float), np.clip(np.asarray(yy, float), 1e-12, 1e12))
    return plot_points(ctx, name, g, xlabel, "||z(T) - z_ss|| / ||z(0) - z_ss||",
                       lines=[(CONV, "h", "converged below"), (DEPART, "h", "departed above"),
                              (0.0, "v", "predicted boundary")], logy=True,
                       title="stable (margin > 0) must converge, unstable must depart")


def _high_gain(system, x, y, alpha):
    """Scale Q by 1, 2, ..., 256 until the full system is unstable by at least 0.3 (while
    Condition 3, scale invariant for a spectrum in the right half-plane, still holds); a
    clear instability keeps the simulated horizon short."""
    net = system.network
    for p in range(0, 9):
        s = system.replace(Q=system.Q * 2.0 ** p)
        t = _target(net, s.Q, x, y, alpha)
        try:
            a = _abscissa(s, x, t)
        except ValueError:
            continue
        if a >= 0.3:
            return s, t, a
    return None


def _pi_finite_tau(ctx):
    name = "stability_pi_finite_tau"
    run = SweepRun(ctx, name)
    for k, rng, j in run:
        net, x, y, alpha, Q = _balanced(rng, j, k)
        ctrl = dfc.Controller(alpha=alpha, k_p=float(rng.uniform(0.5, 2.0)),
                              tau_v=float(rng.uniform(0.05, 0.3)), leak="total")
        system = dfc.DFCSystem(net, Q, ctrl)
        t = _target(net, Q, x, y, alpha)
        pairs = premise_pairs([make_draw(system, x, t)], ["newton_converged"])
        a = _abscissa(system, x, t) if pairs[0][1] else float("nan")
        pairs.append(("outside_margin", bool(abs(a) >= MARGIN)))
        if not run.judge(pairs):
            continue
        stable = a < 0
        conv, dep, ratio, T = _simulate(system, x, t, a)
        c3 = bool(np.min(dfc.condition3(system, x, t, at="steady_state").margin) > 0)
        # control: a Q with J Q in the right half-plane (Condition 3 holds at every scale)
        # and a large part outside row(J), scaled to high gain
        hq = _placed_q(rng, net, x, float(rng.uniform(0.3, 1.0)), perp=5.0)
        hg = _high_gain(system.replace(Q=hq), x, y, alpha)
        cc, cm, cr = None, None, None
        if hg is not None:
            hs, ht, ha = hg
            cm = float(np.min(dfc.condition3(hs, x, ht, at="steady_state").margin))
            hconv, hdep, cr, _ = _simulate(hs, x, ht, ha)
            cc = _agrees(cm > 0, hconv, hdep)
        run.add({"network": net_text(net), "cond(JJ^T)": cond_jjt(net.jacobian(x)),
                 "abscissa": a, "predicted": "stable" if stable else "unstable",
                 "Condition 3 (proxy) agrees": c3 == stable, "simulated ratio": ratio,
                 "T": T, "k_p": ctrl.k_p, "tau_v": ctrl.tau_v,
                 "control Condition 3 margin": cm, "control simulated ratio": cr,
                 "passed": _agrees(stable, conv, dep), "control": cc})
    rows = run.rows
    for r in rows:
        r["-abscissa"] = -r["abscissa"]
    plot = _verdict_plot(ctx, name, rows, "-abscissa", "control Condition 3 margin",
                         "-spectral abscissa (full system) / Condition 3 margin (control)")
    for r in rows:
        del r["-abscissa"]
    n_st = sum(r["predicted"] == "stable" for r in rows)
    return theorem_result(
        run, name=name, plot=plot,
        claim=("with finite tau_v and PI control (k_p > 0, 'total' leak) the spectral abscissa "
               "of the full linearised system at the steady state predicts whether the "
               "simulation converges"),
        reference="THEORY.md s.4 Prop 5, s.5", predicted="simulation agrees with A_system",
        measured={"stable / unstable judged": (n_st, len(rows) - n_st),
                  "Condition 3 (proxy) wrong in": sum(not r["Condition 3 (proxy) agrees"]
                                                      for r in rows)},
        tolerance="every judged draw agrees; both verdicts occur",
        why=WHY_AGREE, extra_ok=0 < n_st < len(rows),
        extra_why="the judged draws do not contain both verdicts",
        worst=worst_of(rows, "abscissa", "smallest |abscissa| judged", mode="absmin"),
        control_premise=("the criterion is the full linearised system; control: Condition 3 "
                         "(the tau_v -> 0, k_p = 0 criterion) on the same network and "
                         "controller with Q = J^+ S + (I - P_J) G, J Q in the right half-plane, "
                         "scaled to high gain (2^p until the full system is unstable by >= "
                         "0.3; draws where no gain up to 256 destabilises have no control)"),
        control_measured={"control draws (high gain) agreeing with Condition 3":
                          sum(bool(r["control"]) for r in rows if r["control"] is not None),
                          "control draws": sum(r["control"] is not None for r in rows)},
        provenance="ours", details={"margin": MARGIN})


# ---------------------------------------------------------------------------- decay rate
RATE_TOL = 0.02


def _envelope_rate(t, err, a, ev):
    """Decay rate of ||z(t) - z_ss|| from its envelope (max over one oscillation period) at
    t1 = 9.2/gap + 2/|a| (secondary modes faded by 1e-4) and t2 = t1 + 6/|a| rounded to whole
    periods (the dominant pair repeats its phase)."""
    re = np.sort(np.unique(np.round(ev.real, 10)))[::-1]
    gap = re[0] - re[1] if len(re) > 1 else np.inf
    im = np.abs(ev[np.argmax(ev.real)].imag)
    period = 2 * np.pi / im if im > 1e-9 else 0.0
    t1 = 9.2 / gap + 2.0 / abs(a)
    step = 6.0 / abs(a)
    if period:
        step = np.ceil(step / period) * period
    t2 = t1 + step
    span = max(period, t[1] - t[0])
    w1 = (t >= t1) & (t <= t1 + span)
    w2 = (t >= t2) & (t <= t2 + span)
    if not w1.any() or not w2.any():
        return None
    return float(np.log(err[w2].max() / err[w1].max()) / (t2 - t1))


def _horizon(ev, a):
    re = np.sort(np.unique(np.round(ev.real, 10)))[::-1]
    gap = re[0] - re[1] if len(re) > 1 else np.inf
    im = np.abs(ev[np.argmax(ev.real)].imag)
    period = 2 * np.pi / im if im > 1e-9 else 0.0
    step = 6.0 / abs(a)
    if period:
        step = np.ceil(step / period) * period
    return 9.2 / gap + 2.0 / abs(a) + step + period, period


def _decay_rate(ctx):
    name = "stability_decay_rate"
    run = SweepRun(ctx, name)
    plotted = None
    for k, rng, j in run:
        sizes = sizes_for(j)
        net = network(rng, sizes)
        x = inputs(rng, sizes[0])
        y = rng.standard_normal(net.n_out)
        alpha = float(rng.uniform(0.02, 0.1))
        mu0 = float(rng.uniform(0.3, 0.5))
        Q = _placed_q(rng, net, x, mu0, perp=float(k % 2), others=(3.0, 5.0))
        ctrl = dfc.Controller(alpha=alpha, k_p=float(rng.uniform(0.5, 1.0)),
                              tau_v=float(rng.uniform(0.1, 0.3)),
                              leak=("total", "integral")[k % 2])
        system = dfc.DFCSystem(net, Q, ctrl)
        t = _target(net, Q, x, y, ctrl.alpha_eff)
        if not run.judge(premise_pairs([make_draw(system, x, t)],
                                       ["newton_converged", "stable", "dominant_mode_separated"],
                                       {"dominant_mode_separated": {"ratio": 1.0}})):
            continue
        A = stab.system_matrices(system, x, t, at="steady_state")["A_system"]
        ev = np.linalg.eigvals(A)
        a = float(ev.real.max())
        T, period = _horizon(ev, a)
        dt_out = min(period / 40 if period else np.inf, 1.0 / (20 * abs(a)))
        n = int(np.ceil(T / dt_out)) + 3  # the last window needs one more sample
        sim = dfc.simulate(system, x, t, method="ivp", dt=dt_out, n_steps=n, record="full",
                           rtol=1e-10, atol=1e-13)
        ss = dfc.steady_state(system, x, t, "newton", tol=1e-14, reuse_jacobian=False)
        z = np.concatenate([sim.v, sim.u], axis=1)
        z_ss = np.concatenate([ss.v, ss.u])
        err = np.linalg.norm(z - z_ss, axis=1)
        rate = _envelope_rate(sim.t, err, a, ev)
        a_inst = float(np.max(np.linalg.eigvals(-(net.jacobian(x, ss.v) @ Q
                                                    + ctrl.alpha * np.eye(net.n_out))).real))
        rel_err = abs(rate - a) / abs(a)
        rel_ctrl = abs(rate - a_inst) / abs(a_inst)
        run.add({"network": net_text(net), "cond(JJ^T)": cond_jjt(net.jacobian(x)),
                 "leak": ctrl.leak, "k_p": ctrl.k_p, "tau_v": ctrl.tau_v,
                 "abscissa": a, "measured rate": rate, "relative error": rel_err,
                 "Condition-3 matrix abscissa": a_inst, "control relative error": rel_ctrl,
                 "passed": bool(rel_err <= RATE_TOL), "control": bool(rel_ctrl <= RATE_TOL)})
        if plotted is None:
            plotted = (sim.t, err, a)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    if plotted:
        tt, err, a = plotted
        ax.semilogy(tt, err, label="||z(t) - z_ss|| (nonlinear ivp simulation)")
        ax.semilogy(tt, err[0] * np.exp(a * tt), "k--", lw=1, label=f"exp(a t), a = {a:.3f}")
    ax.set_xlabel("t / tau_u")
    ax.legend(fontsize=8)
    plot = save_figure(ctx, fig, name)
    rows = run.rows
    return theorem_result(
        run, name=name,
        claim=("the exponential decay rate of the simulated (nonlinear) dynamics near the "
               "steady state equals the spectral abscissa of the full linearised system"),
        reference="THEORY.md s.5", predicted="measured rate = spectral abscissa of A_system",
        measured={"max relative error": extreme(rows, "relative error")},
        tolerance=f"relative difference <= {RATE_TOL:g} on every judged draw",
        why=("the envelope (max over one period) of ||z(t) - z_ss|| is C e^{a t} up to the "
             "secondary modes, faded by e^{-9.2} = 1e-4 at t1 (premise: the next mode decays "
             ">= 2|a|), measured over 6 e-foldings between whole periods: contamination and "
             "sampling move the rate by < 0.1%, the nonlinearity (amplitude <= 1e-3) by less; "
             "2% is generous yet far below the distance to the next mode"),
        worst=worst_of(rows, "relative error", "max relative error of the rate"),
        control_premise=("the rate is the full system's (finite tau_v, k_p > 0); control: the "
                         "abscissa of Condition 3's matrix -(J_ss Q + alpha I) (premises "
                         "tau_v -> 0, k_p = 0 broken)"),
        control_measured={"control relative error (min)":
                          extreme(rows, "control relative error", "min")},
        plot=plot, details={"integrator": "ivp (Radau), rtol 1e-10, atol 1e-13"})


# ---------------------------------------------------------------------------- tau_v -> 0
def _tau_grid(ctx):
    return np.logspace(-1, -4, 7)


def _timescale_limit(ctx):
    name = "proposition5_timescale_limit"
    run = SweepRun(ctx, name)
    taus = _tau_grid(ctx)
    curves = []
    for k, rng, j in run:
        sizes = sizes_for(j)
        net = network(rng, sizes)
        x = inputs(rng, sizes[0])
        leak = ("integral", "total")[k % 2]
        alpha, k_p = float(rng.uniform(0.2, 0.4)), float(rng.uniform(1.0, 1.5))
        ctrl0 = dfc.Controller(alpha=alpha, k_p=k_p, tau_v=0.0, leak=leak)
        at = alpha / (1 + alpha * k_p)
        w = alpha - at
        cat = ("stable", "unstable", "gap")[j % 3]
        m = float(rng.uniform(0.3, 1.0))
        mu0 = {"stable": -at + m * w, "unstable": -alpha - m * w,
               "gap": -(alpha + at) / 2 + (m - 0.65) * 0.4 * w}[cat]
        Q = _placed_q(rng, net, x, mu0, perp=float(k % 3 == 0))
        t = net.forward(x).output  # delta_L = 0: the rest point is the feedforward state
        sys0 = dfc.DFCSystem(net, Q, ctrl0)
        draw = make_draw(sys0.replace(controller=ctrl0.replace(tau_v=float(taus[-1]))), x, t)
        if not run.judge(premise_pairs([draw], ["newton_converged",
                                                "boundary_layer_stable"])):
            continue
        a = np.array([_abscissa(sys0.replace(controller=ctrl0.replace(tau_v=float(tv))), x, t)
                      for tv in taus])
        a0 = _abscissa(sys0, x, t)
        lam = np.linalg.eigvals(net.jacobian(x) @ Q).real.min()
        c3_eff = lam + ctrl0.alpha_eff > 0
        c3_other = lam + (alpha if leak == "integral" else at) > 0
        full = a[-1] < 0
        conv = np.abs(a[-3:] - a0)
        slope = loglog_slope(taus[-3:], conv) if np.all(conv > 0) else float("inf")
        run.add({"network": net_text(net), "leak": leak, "category": cat,
                 "mu_0 + alpha_tilde": float(lam + ctrl0.alpha_eff),
                 "abscissa at tau_v/tau_u = 1e-4": float(a[-1]),
                 "abscissa at tau_v = 0": a0, "convergence slope": slope,
                 "verdict agrees with Condition 3 (alpha_tilde)": bool(c3_eff == full),
                 "passed": bool(c3_eff == full and slope >= 0.9),
                 "control": bool(c3_other == full)})
        curves.append((taus[-3:], conv))
    plot = plot_sweep(ctx, name, curves, slope=1, xlabel="tau_v / tau_u",
                      ylabel="|a(tau_v) - a(0)|",
                      title="Proposition 5: slow spectrum converges as tau_v/tau_u -> 0")
    rows = run.rows
    cats = {c: sum(r["category"] == c for r in rows) for c in ("stable", "unstable", "gap")}
    return theorem_result(
        run, name=name,
        claim=("as tau_v / tau_u -> 0 the stability verdict of the full linearised system "
               "converges to Condition 3 with the leak seen at rest, alpha_tilde = alpha/(1 + "
               "alpha k_p) for the paper's integral leak (alpha for the total leak), with an "
               "O(tau_v) error of the spectral abscissa; balanced stable, unstable and "
               "(-alpha, -alpha_tilde) draws, both conventions"),
        reference="THEORY.md s.4 Prop 5 (alpha_tilde: found in this project), s.5",
        predicted="sign(a(tau_v -> 0)) = Condition 3 (alpha_tilde); |a - a(0)| = O(tau_v)",
        measured={"draws per category": cats,
                  "convergence slopes (min, max)": minmax(rows, "convergence slope")},
        tolerance="every judged draw: verdict at tau_v/tau_u = 1e-4 agrees; slope >= 0.9",
        why=("singular perturbation (Tikhonov; premise: the fast subsystem is Hurwitz): the "
             "slow eigenvalues are those of the tau_v = 0 system plus O(tau_v), whose real "
             "parts are -(mu/(1 + k_p mu) + alpha) (integral) and -(mu + alpha)/(1 + k_p mu) "
             "(total) for real mu, i.e. the sign of mu + alpha_tilde resp. mu + alpha; margins "
             ">= 0.3 (alpha - alpha_tilde) >= 0.01 exceed the O(1e-4) shift"),
        worst=worst_of(rows, "convergence slope", "min convergence slope", mode="min"),
        control_premise=("the leak of the controller's own convention; control: Condition 3 "
                         "with the other convention's leak (paper's alpha for the integral "
                         "leak: the (-alpha, -alpha_tilde) interval), wrong on gap draws"),
        control_measured={"control verdicts wrong": sum(not r["control"] for r in rows)},
        plot=plot, provenance="paper",
        details={"tau_v / tau_u grid": taus, "alpha": "U(0.2, 0.4)", "k_p": "U(1, 1.5)",
                 "real spectra": "Condition 3 with alpha_tilde is exact for real eigenvalues "
                                 "of JQ; for complex mu the tau_v -> 0 criterion is "
                                 "Re(mu/(1 + k_p mu)) > -alpha (integral leak)"})


def run(ctx):
    return [_prop5_instantaneous(ctx), _pi_finite_tau(ctx), _decay_rate(ctx),
            _timescale_limit(ctx)]
