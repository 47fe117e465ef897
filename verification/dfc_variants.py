"""DFC vs DFC-SS vs DFC-SSA updates with the paper's plasticity rule (THEORY.md sections 3, 6
and 8 (Fig 3F)).

* ``dfc_ss_vs_ssa_lambda``: at a converged simulation (``steady_state(method="simulate")``,
  the reference Euler scheme run until the exact residual is 1e-10) the rule phi(v) -
  phi(v^ff) at the simulated rest point approaches the rule at the linearised (SSA) state
  with an angle O(lambda) (Lemma 1 applied to the rule; lambda at voltage displacement eps);
  control: the simulated rest point with the voltage rule against SSA with the paper's rule;
* ``dfc_vs_dfc_ss_horizon``: the rule averaged over a simulation of length T (DFC) differs
  from the rule at its final state (DFC-SS) by the transient's integral over T: angle
  ~ C / T once the transient has decayed (T >= 10 / |a|); control: the same time average
  against the final state's voltage rule (a different rule: a floor, not 1/T);
* ``dfc_variants_paper_settings``: the figure's message at its own settings (15-10-10-5,
  weight-product feedback, k_p 1.5, alpha 0.0015, dt 0.005, 1000 steps, lambda 0.05, batches
  of 8): DFC and DFC-SS within "a few degrees" (read: 5) of DFC-SSA; control: 100 steps.
"""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc
from dfc_theory.learning import forward_update, rule_at_state

from ._common import angle_deg, plot_sweep, simulate_rule
from ._draws import (FIG3, cond_jjt, inputs, lam_for_displacement, net_text, network, q_jt_m,
                     sizes_for)
from ._sweep import (SweepRun, make_draw, minmax, premise_pairs, slope_verdict, theorem_result,
                     worst_of)

#: Fig 3 controller (THEORY.md s.8): reference-code leak, k_p 1.5, alpha 0.0015, ratio 0.2
CTRL = dict(alpha=0.0015, k_p=1.5, tau_v=0.2, tau_u=1.0, leak="total")
DT = 0.005
FEW_DEGREES = 5.0


def _draw(rng, j):
    sizes = sizes_for(j)
    net = network(rng, sizes)
    x = inputs(rng, sizes[0])
    J = net.jacobian(x)
    Q = q_jt_m(rng, J)[0] if j % 2 else dfc.feedback.weight_product(net)
    ctrl = dfc.Controller(alpha=float(rng.uniform(0.1, 0.5)), k_p=float(rng.uniform(0.0, 0.5)),
                          tau_v=float(rng.uniform(0.1, 0.3)), leak="total")
    y = rng.standard_normal(net.n_out)
    return net, x, Q, ctrl, 2.0 * (y - net.forward(x).output)


def _lambda(ctx):
    name = "dfc_ss_vs_ssa_lambda"
    run = SweepRun(ctx, name)
    # eps <= 4e-3: at 1e-2 the O(eps) correction moved a slope to 0.915 (weight product)
    eps = np.array([4e-3, 1.6e-3, 6.4e-4])
    for k, rng, j in run:
        net, x, Q, ctrl, g = _draw(rng, j)
        s = dfc.DFCSystem(net, Q, ctrl)
        rL = net.forward(x).output
        lams = lam_for_displacement(net, Q, x, g, ctrl.alpha_eff, eps)
        draws = [make_draw(s, x, rL + lam * g) for lam in lams]
        pairs = premise_pairs(draws, ["newton_converged", "stable"])
        if not all(h for _, h in pairs):
            run.judge(pairs)
            continue
        sims, conv = [], True
        for lam in lams:
            t = rL + lam * g
            sim = dfc.steady_state(s, x, t, "simulate", dt=ctrl.tau_v / 10, max_steps=64000)
            conv &= bool(np.all(sim.converged))
            sims.append((t, sim))
        if not run.judge(pairs + [("simulation_converged", conv)]):
            continue
        ang, cang = [], []
        x2 = np.atleast_2d(x)
        for t, sim in sims:
            ssa = forward_update(net, x, t, "dfc-ssa", Q=Q, controller=ctrl).update
            ss = rule_at_state(net, x2, sim.v, sim.v_ff, "nonlinear")
            ss_v = rule_at_state(net, x2, sim.v, sim.v_ff, "voltage")
            ang.append(angle_deg(ss, ssa))
            cang.append(angle_deg(ss_v, ssa))
        run.add({"network": net_text(net), "cond(JJ^T)": cond_jjt(net.jacobian(x)),
                 "Q": "J^T M" if j % 2 else "weight product", "angles [deg]": ang,
                 **slope_verdict(lams, ang, cang, 1.0, 0.1)})
        run.add_curves(eps, ang, cang)
    plot = plot_sweep(ctx, name, run.curves, run.control_curves, slope=1, xlabel="eps",
                      ylabel="angle(DFC-SS, DFC-SSA)",
                      title="converged simulation vs linearised steady state (paper's rule)")
    rows = run.rows
    return theorem_result(
        run, name=name,
        claim=("at a converged simulation the DFC-SS update (the paper's rule at the simulated "
               "rest point) approaches the DFC-SSA update with an angle O(lambda) (Lemma 1 "
               "applied to the plasticity rule)"),
        reference="THEORY.md s.3 Lemma 1, s.6", predicted="slope 1 in lambda",
        measured={"slopes (min, max)": minmax(rows, "slope")},
        tolerance="every judged draw: slope in [0.9, 1.1]",
        why=("the states differ by O(lambda^2) (Lemma 1) against an O(lambda) update, so the "
             "angle is lambda (c + O(eps)), eps <= 4e-3 the voltage displacement (at 1e-2 the "
             "correction reached 0.085 on a weight-product draw); the simulation is converged "
             "to an exact-residual 1e-10, far below the O(lambda^2) signal"),
        worst=worst_of(rows, "|slope - 1|", "max |slope - 1|"),
        control_premise=("the same plasticity rule on both sides; control: the voltage rule at "
                         "the simulated rest point against the paper's rule at SSA (angle -> "
                         "angle(D a, a), a floor)"),
        control_measured={"control slopes": [r["control slope"] for r in rows]},
        plot=plot, details={"eps": eps, "simulation": "reference Euler, dt = tau_v/10"})


#: the transient counts as decayed when the state is this close to the exact rest point,
#: relative to its initial distance (the 1/T law's relative correction is about as large)
DECAYED = 1e-6


def _decayed_after(system, x, t, draw, dt):
    """The first of T |a| = 10, 20, 40 (in Euler steps) at which the simulated state is within
    DECAYED of the exact steady state (relative to the start), or None.  The spectral
    abscissa a alone is not enough: non-normal transients can grow by orders of magnitude
    before they decay."""
    ss = draw.exact
    z_ss = np.concatenate([ss.v, ss.u], axis=1)
    z0 = np.concatenate([system.network.forward(draw.x).v_stacked, np.zeros_like(ss.u)],
                        axis=1)
    a = float(np.max(draw.abscissa))
    for m in (10.0, 20.0, 40.0):
        n = int(np.ceil(m / abs(a) / dt))
        sim = dfc.simulate(system, draw.x, draw.target, "euler", dt=dt, n_steps=n,
                           record="final")
        z = np.concatenate([sim.v_final, sim.u_final], axis=1)
        if np.linalg.norm(z - z_ss) <= DECAYED * np.linalg.norm(z0 - z_ss):
            return n
    return None


def _horizon(ctx):
    name = "dfc_vs_dfc_ss_horizon"
    run = SweepRun(ctx, name)
    for k, rng, j in run:
        net, x, Q, ctrl, g = _draw(rng, j)
        s = dfc.DFCSystem(net, Q, ctrl)
        rL = net.forward(x).output
        lam = float(lam_for_displacement(net, Q, x, g, ctrl.alpha_eff, 1e-2))
        t = rL + lam * g
        d = make_draw(s, x, t)
        pairs = premise_pairs([d], ["newton_converged", "stable", "settles"],
                              {"settles": {"horizon": 100.0, "factor": np.exp(-10.0)}})
        dt = ctrl.tau_v / 10
        n0 = _decayed_after(s, x, t, d, dt) if all(h for _, h in pairs) else None
        pairs.append((f"transient_decayed_by_{DECAYED:g}", n0 is not None))
        if not run.judge(pairs):
            continue
        a = float(np.max(d.abscissa))
        snaps = [n0, 2 * n0, 4 * n0]
        res, sn = simulate_rule(s, x, t, dt, snaps[-1], snapshots=snaps, rule="nonlinear")
        if len(sn) < 3:
            raise RuntimeError(f"the Euler run stopped after {res.n_steps} steps")
        x2 = np.atleast_2d(x)
        ang, cang = [], []
        volt = rule_at_state(net, x2, res.v_final, res.v_ff_final, "voltage")
        for n in snaps:
            avg, final = sn[n]
            ang.append(_rel_diff(avg, final))
            cang.append(_rel_diff(avg, volt))  # control: against the voltage rule
        Ts = np.array(snaps) * dt
        run.add({"network": net_text(net), "abscissa": a, "T": Ts,
                 "||DFC - DFC-SS|| / ||DFC-SS||": ang, **slope_verdict(Ts, ang, cang, -1.0, 0.1)})
        run.add_curves(Ts * abs(a), ang, cang)
    plot = plot_sweep(ctx, name, run.curves, run.control_curves, slope=-1, xlabel="T |a|",
                      ylabel="||DFC - DFC-SS|| / ||DFC-SS||",
                      title="time-averaged DFC vs steady-state DFC-SS")
    rows = run.rows
    return theorem_result(
        run, name=name,
        claim=("the time-averaged DFC update differs from the steady-state (final-state) update "
               "by the transient's integral divided by T: the difference decays like 1/T"),
        reference="THEORY.md s.6 (DFC averages the rule over the simulation)",
        predicted="slope -1 in T", measured={
            "slopes (min, max)": minmax(rows, "slope")},
        tolerance="every judged draw: slope in [-1.1, -0.9] over T0, 2 T0, 4 T0",
        why=("(1/T) int_0^T a(t) dt = a_ss + (1/T) int_0^T (a(t) - a_ss) dt, and the integral "
             f"has converged once the transient has decayed: T0 is the first of T |a| = 10, "
             f"20, 40 (a: spectral abscissa) at which the simulated state is within "
             f"{DECAYED:g} of the rest point, relative to its start (premise "
             "'transient_decayed'; e^{-|a| T} alone misses non-normal transient growth, seen "
             "to steepen the slope to -3.4), so the difference is C/T (1 + O(1e-6)); the norm "
             "of the difference, not an angle, whose denominator would add the transient's "
             "share (~1/(|a| T)) to the slope"),
        worst=worst_of(rows, "|slope + 1|", "max |slope + 1|"),
        control_premise=("the same rule for both; control: the time average against the "
                         "final state's voltage rule (a floor: slope ~0)"),
        control_measured={"control slopes": [r["control slope"] for r in rows]},
        plot=plot)


def _rel_diff(a, b):
    va, vb = a.vector(), b.vector()
    return float(np.linalg.norm(va - vb) / np.linalg.norm(vb))


def _paper(ctx):
    name = "dfc_variants_paper_settings"
    run = SweepRun(ctx, name)
    c = dfc.Controller(**CTRL)
    for k, rng, j in run:
        net = dfc.Network.random(list(FIG3), seed=int(rng.integers(2**63)))
        x = rng.uniform(-1, 1, size=(8, 15))
        y = rng.standard_normal((8, 5))
        t = dfc.output_target(net.forward(x).output, y, 0.05)
        Q = dfc.feedback.weight_product(net)
        run.sweep.judge(None, extra=[])
        out = {}
        for n in (1000, 100):
            r = {m: forward_update(net, x, t, m, Q=Q, controller=c, dt=DT, n_steps=n)
                 for m in ("dfc", "dfc-ss", "dfc-ssa")}
            out[n] = (angle_deg(r["dfc"].update, r["dfc-ssa"].update),
                      angle_deg(r["dfc-ss"].update, r["dfc-ssa"].update),
                      int(np.sum(r["dfc-ss"].converged)))
        worst = max(out[1000][:2])
        run.add({"network": "15-10-10-5 tanh", "cond(JJ^T)": cond_jjt(net.jacobian(x)),
                 "angle(DFC, SSA) [deg]": out[1000][0], "angle(DFC-SS, SSA) [deg]": out[1000][1],
                 "DFC-SS converged (of 8)": out[1000][2], "worst": worst,
                 "control (100 steps) angles [deg]": out[100][:2],
                 "passed": bool(worst < FEW_DEGREES),
                 "control": bool(max(out[100][:2]) < FEW_DEGREES)})
    rows = run.rows
    mean = {k: float(np.mean([r[k] for r in rows])) for k in
            ("angle(DFC, SSA) [deg]", "angle(DFC-SS, SSA) [deg]")}
    cmean = [float(np.mean([r["control (100 steps) angles [deg]"][i] for r in rows]))
             for i in (0, 1)]
    return theorem_result(
        run, name=name,
        claim=("at the paper's Fig 3 settings (1000 steps of dt 0.005, lambda 0.05, fixed "
               "feedback at initialisation) DFC and DFC-SS stay within a few degrees of DFC-SSA"),
        reference="THEORY.md s.8, Fig 3F (figure message)",
        predicted=f"mean over batches < {FEW_DEGREES:g} deg",
        measured={"mean angle(DFC, SSA) [deg]": mean["angle(DFC, SSA) [deg]"],
                  "mean angle(DFC-SS, SSA) [deg]": mean["angle(DFC-SS, SSA) [deg]"],
                  "max angle(DFC, SSA) [deg]": max(r["angle(DFC, SSA) [deg]"] for r in rows),
                  "max angle(DFC-SS, SSA) [deg]": max(r["angle(DFC-SS, SSA) [deg]"]
                                                      for r in rows)},
        tolerance=(f"the mean over the judged draws (batches of 8) of each angle < "
                   f"{FEW_DEGREES:g} deg; per-batch values reported"),
        why=("'a few degrees' is the figure's qualitative claim, not a theorem; 5 deg is our "
             "reading of it, and Fig 3F plots means over batches: single batches exceed 5 deg "
             "on rare initialisations (5.1 deg seen), so the verdict is on the mean, every "
             "batch reported.  Unconverged samples in 1000 steps are expected (slow PI mode) "
             "and reported, not hidden"),
        aggregate=(max(mean.values()) < FEW_DEGREES, max(cmean) < FEW_DEGREES),
        worst=worst_of(rows, "worst", "max angle with DFC-SSA [deg]"),
        control_premise=("a simulation long enough to settle (1000 steps = 5 tau_u); "
                         "control: 100 steps"),
        control_measured={"control mean angles (DFC, DFC-SS) [deg]": cmean},
        details={"controller": CTRL, "dt": DT, "batch": 8})


def run(ctx):
    return [_lambda(ctx), _horizon(ctx), _paper(ctx)]
