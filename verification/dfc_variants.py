"""DFC vs DFC-SS vs DFC-SSA updates on one batch (THEORY.md sections 3, 6 and 8 (Fig 3F))."""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc
from dfc_theory.learning import forward_update

from ._common import loglog_slope, save_loglog
from .result import Result

# Fig 3 controller (THEORY.md s.8): reference-code leak, k_p 1.5, alpha 0.0015, ratio 0.2
CTRL = dict(alpha=0.0015, k_p=1.5, tau_v=0.2, tau_u=1.0, leak="total")
DT = 0.005


def _setup(ctx):
    rng = ctx.rng(909)
    net = dfc.Network.random([15, 10, 10, 5], seed=int(rng.integers(2**31)))
    x = rng.uniform(-1, 1, size=(8, 15))
    y = rng.standard_normal((8, 5))
    return net, x, y, dfc.feedback.weight_product(net), dfc.Controller(**CTRL)


def _upd(net, x, t, method, Q, ctrl, n_steps):
    res = forward_update(net, x, t, method, Q=Q, controller=ctrl, dt=DT, n_steps=n_steps,
                         rule="nonlinear")
    return res


def run(ctx):
    net, x, y, Q, ctrl = _setup(ctx)
    rL = net.forward(x).r[-1]
    out = []

    # (a) converged simulation: DFC-SS -> DFC-SSA with angle O(lambda)
    lams = np.logspace(-3.5, -1.5, 5 if ctx.full else 3)
    n_conv = 4000
    ang, conv = [], []
    for lam in lams:
        t = dfc.output_target(rL, y, lam)
        ss = _upd(net, x, t, "dfc-ss", Q, ctrl, n_conv)
        ssa = _upd(net, x, t, "dfc-ssa", Q, ctrl, n_conv)
        ang.append(dfc.angle(ss.update, ssa.update))
        conv.append(bool(np.all(ss.converged)))
    slope = loglog_slope(lams, ang)
    plot = save_loglog(ctx, "dfc_variants_lambda", lams, {"angle(DFC-SS, DFC-SSA)": ang},
                       "lambda", "angle [deg]", slope=1,
                       title=f"DFC-SS vs DFC-SSA, {n_conv} Euler steps (converged)")
    out.append(Result(
        name="dfc_ss_vs_ssa_lambda",
        claim=("at a converged simulation the DFC-SS update approaches the DFC-SSA update "
               "with an angle O(lambda) (Lemma 1 applied to the plasticity rule)"),
        reference="THEORY.md s.3 Lemma 1, s.6", predicted="slope 1",
        measured={"slope": slope, "angles [deg]": ang},
        tolerance="every simulation converged (reference test); slope in [0.9, 1.1]",
        why=("the states differ by O(lambda^2) against an O(lambda) update, so the angle is "
             "O(lambda) with an O(lambda^2) correction"),
        passed=bool(all(conv) and abs(slope - 1) <= 0.1), plot=plot,
        details={"lambdas": lams, "n_steps": n_conv, "controller": CTRL, "dt": DT}))

    # (b) DFC (time average) vs DFC-SS: the transient's share decays like 1/T
    lam = 1e-3
    t = dfc.output_target(rL, y, lam)
    Ts = np.array([2000, 4000, 8000] if not ctx.full else [2000, 4000, 8000, 16000])
    ang_T = []
    for n in Ts:
        a = _upd(net, x, t, "dfc", Q, ctrl, int(n)).update
        b = _upd(net, x, t, "dfc-ss", Q, ctrl, int(n)).update
        ang_T.append(dfc.angle(a, b))
    slope_T = loglog_slope(Ts * DT, ang_T)
    plot2 = save_loglog(ctx, "dfc_variants_T", Ts * DT, {"angle(DFC, DFC-SS)": ang_T},
                        "simulated time T", "angle [deg]", slope=-1,
                        title="time-averaged DFC vs steady-state DFC-SS")
    out.append(Result(
        name="dfc_vs_dfc_ss_horizon",
        claim=("the time-averaged DFC update differs from the steady-state update by the "
               "transient's integral divided by T, so the angle decays like 1/T"),
        reference="THEORY.md s.6 (DFC averages the rule over the simulation)",
        predicted="slope -1 in T", measured={"slope": slope_T, "angles [deg]": ang_T},
        tolerance="slope in [-1.1, -0.9]",
        why=("(1/T) int_0^T a(t) dt = a_ss + (1/T) int_0^T (a(t) - a_ss) dt and the integral "
             "converges once the transient has decayed (T >= 10 time units here), so the "
             "difference is C/T + o(1/T)"),
        passed=bool(abs(slope_T + 1) <= 0.1), plot=plot2,
        details={"lambda": lam, "T": Ts * DT}))

    # (c) the paper's Fig 3F message at its own settings (1000 steps, lambda 0.05)
    t = dfc.output_target(rL, y, 0.05)
    res = {m: _upd(net, x, t, m, Q, ctrl, 1000) for m in ("dfc", "dfc-ss", "dfc-ssa")}
    a_dfc = dfc.angle(res["dfc"].update, res["dfc-ssa"].update)
    a_ss = dfc.angle(res["dfc-ss"].update, res["dfc-ssa"].update)
    out.append(Result(
        name="dfc_variants_paper_settings",
        claim=("at the paper's Fig 3 settings (1000 steps of dt 0.005, lambda 0.05, fixed "
               "feedback at initialisation) DFC and DFC-SS stay within a few degrees of DFC-SSA"),
        reference="THEORY.md s.8, Fig 3F (figure message)", predicted="< 5 deg",
        measured={"angle(DFC, SSA)": a_dfc, "angle(DFC-SS, SSA)": a_ss,
                  "DFC-SS converged": int(np.sum(res["dfc-ss"].converged))},
        tolerance="both angles < 5 deg",
        why=("'a few degrees' is the figure's qualitative claim, not a theorem; 5 deg is our "
             "reading of it. Unconverged samples in 1000 steps are expected (slow PI mode) and "
             "reported, not hidden"),
        passed=bool(a_dfc < 5 and a_ss < 5), provenance="paper",
        details={"batch": x.shape[0]}))
    return out
