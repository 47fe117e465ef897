"""Stability maps: where Condition 3 is, and is not, enough (THEORY.md sections 4-5).

A small tanh network (2-2-2) at one input, with Condition-2 feedback Q = J^T (so J Q is
symmetric positive definite and Condition 3 holds for every alpha >= 0):

(a) spectral abscissa of the full linearised system (the paper's "integral" leak, state
    [Delta v; u_int]) over (k_p, rho = tau_v / tau_u) at a small alpha.  The solid contour
    is the closed-form (Lienard-Chipart) boundary from :mod:`dfc_theory.symbolic`; markers
    are simulated runs of the nonlinear dynamics (ivp) started at the feedforward state:
    o converged to the exact steady state, x departed from it.  Condition 3 holds in the
    whole panel, yet the system is unstable for slow somata (large rho) and small k_p.
(b) the same over (alpha, c) for Q = c J^T at k_p = 0 and the reference ratio rho = 0.2.
    Dashed: the Condition-3 boundary (alpha = |c| lambda_max(J J^T) for c < 0), which is the
    exact boundary of the instantaneous system (Proposition 5).  For c > 0 Condition 3
    holds but a large loop gain destabilises the finite-tau_v system (hatched).
(c) spectral abscissa against rho along k_p = 0 and k_p = 0.5, with -margin of Condition 3
    (tau_u a(A_inst), independent of rho): Condition 3 keeps its margin while the full
    system crosses the imaginary axis; proportional control restores stability.

Usage: ``python -m figures stability`` or ``python -m figures.stability [--preset paper]``.
"""
from __future__ import annotations

import argparse
import dataclasses

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from dfc_theory import Controller, DFCSystem, Network, feedback  # noqa: E402
from dfc_theory import stability as st  # noqa: E402
from dfc_theory import symbolic as sy  # noqa: E402

from dfc_theory._cli import (ArgumentParser, check_output_folder, command,  # noqa: E402
                             int_at_least, non_negative_int)

from ._common import (FIGURE_FILES, check_int, check_preset, check_seed, figure_paths,  # noqa: E402
                      option_parser, parse_with, write_figure)

NAME = "stability"
GRID = {"quick": 41, "paper": 121}        # colour-map resolution per axis
MARKERS = {"quick": 6, "paper": 12}       # simulated runs per axis
ALPHA_A = 0.01                            # small leak of panel (a), as in the paper's runs
RHO_B = 0.2                               # the reference code's tau_v / tau_u
KP_RANGE, RHO_RANGE = (0.0, 1.0), (0.02, 2.0)
ALPHA_RANGE, C_RANGE = (0.0, 3.0), (-1.0, 4.0)
LAMBDA = 1e-3                             # size of delta_L for the simulated markers
K_DECISIVE, T_MAX = 12.0, 60.0            # horizon: |a| T >= 12, T <= 60 tau_u (closer to
                                          # the axis than |a| = 0.2: may stay undecided)


def _example(seed, max_tries=20):
    """The first network (seeds seed, seed+1, ...) whose panel-(a) map at k_p = 0 has both
    stable and unstable points: 2-2-2 tanh, Xavier gain 2, x = (0.5, -0.5), Q = J^T."""
    x = np.array([0.5, -0.5])
    for i in range(max_tries):
        net = Network.random([2, 2, 2], seed=seed + i, gain=2.0, bias_scale=0.3)
        Q = feedback.jacobian_transpose(net, x)
        a = [_abscissa(net, Q, x, Controller(alpha=ALPHA_A, k_p=0.0, tau_v=r))
             for r in (RHO_RANGE[0], RHO_RANGE[1])]
        if a[0] < 0 < a[1]:
            return net, Q, x, seed + i
    raise ValueError(f"seed: no example with a stability boundary in {max_tries} networks")


def _abscissa(net, Q, x, ctrl, key="A_system"):
    return st.spectral_abscissa(st.system_matrices(DFCSystem(net, Q, ctrl), x)[key])


def _markers(net, Q, x, ctrls):
    """Simulate each controller from the feedforward state (nonlinear, ivp) towards a target
    delta_L of size LAMBDA; return +1 converged, -1 departed, 0 undecided / no steady
    state."""
    rng = np.random.default_rng(0)
    target = net.forward(x).output + LAMBDA * rng.standard_normal(net.n_out)
    out = []
    for ctrl in ctrls:
        sysm = DFCSystem(net, Q, ctrl)
        try:
            a = st.spectral_abscissa(
                st.system_matrices(sysm, x, target, at="steady_state")["A_system"])
        except ValueError:
            out.append(0)
            continue
        T = float(min(K_DECISIVE / max(abs(a), 1e-12), T_MAX))
        # loose tolerances suffice: the verdict thresholds are 1e-2 and 1 on a ratio
        sv = st.simulated_verdict(sysm, x, target, t_end=T, method="ivp", rtol=1e-6,
                                  atol=1e-10)
        out.append(1 if sv.converged[0] else (-1 if sv.departed[0] else 0))
    return np.array(out)


def _region(net, Q_sym, x, alpha, k_p, tau_v):
    """Closed-form region of the integral-leak PI system with numeric W, D and the given
    (possibly symbolic) Q, alpha, k_p, tau_v (tau_u = 1)."""
    base = sy.symbolic_from_system(DFCSystem(net, np.zeros((net.n_total, net.n_out)),
                                             Controller(alpha=0.0)), x, exact=True)
    sym = dataclasses.replace(base, Q=Q_sym, alpha=alpha, k_p=k_p, tau_v=tau_v,
                              tau_u=sp.Integer(1))
    return sy.stability_region(sym, "A_PI_integral")


MIN_GRID, MIN_MARKERS = 3, 1     # a contour needs 3 points per axis


def _add_options(p):
    p.add_argument("--grid", metavar="N", type=int_at_least(MIN_GRID, "a contour needs 3"),
                   help="colour-map points per axis")
    p.add_argument("--markers", metavar="M", type=int_at_least(MIN_MARKERS),
                   help="simulated runs per axis")


def parse_options(argv):
    """--grid N (colour-map points per axis, >= 3), --markers M (simulated runs per axis,
    >= 1)."""
    p = option_parser(NAME)
    _add_options(p)
    return parse_with(p, argv)


def run(preset="quick", out="figures_out", seed=0, grid=None, markers=None):
    """Draw the stability maps; write <out>/stability.png/.pdf, stability_data.npz and
    stability_summary.json; return a dict with "summary" (text) and the numbers.

    ``grid`` / ``markers`` override the preset's resolution (points per axis of the colour
    maps, simulated runs per axis)."""
    check_preset(preset)
    seed = check_seed(seed)
    n = GRID[preset] if grid is None else check_int(grid, "grid", MIN_GRID)
    m = MARKERS[preset] if markers is None else check_int(markers, "markers", MIN_MARKERS)
    net, Q, x, used_seed = _example(seed)
    JJt = np.linalg.eigvalsh(net.jacobian(x) @ Q)
    lam_max = float(JJt.max())

    # ---------------------------------------------------------------- panel (a)
    kps = np.linspace(*KP_RANGE, n)
    rhos = np.geomspace(*RHO_RANGE, n)
    absc_a = np.array([[_abscissa(net, Q, x, Controller(alpha=ALPHA_A, k_p=k, tau_v=r))
                        for k in kps] for r in rhos])                  # (rho, k_p)
    Qx = sp.Matrix(Q.shape[0], Q.shape[1], [sp.Rational(float(q)) for q in Q.ravel()])
    reg_a = _region(net, Qx, x, sp.Rational(ALPHA_A), sy.K_P, sy.RHO)
    KK, RR = np.meshgrid(kps, rhos)
    marg_a = reg_a.margin(k_p=KK, rho=RR)
    mk_k = np.linspace(*KP_RANGE, m + 2)[1:-1]
    mk_r = np.geomspace(*RHO_RANGE, m + 2)[1:-1]
    MK, MR = np.meshgrid(mk_k, mk_r)
    sim_a = _markers(net, Q, x, [Controller(alpha=ALPHA_A, k_p=k, tau_v=r)
                                 for k, r in zip(MK.ravel(), MR.ravel())]).reshape(MK.shape)

    # ---------------------------------------------------------------- panel (b)
    alphas = np.linspace(*ALPHA_RANGE, n)
    cs = np.linspace(*C_RANGE, n)
    absc_b = np.array([[_abscissa(net, c * Q, x, Controller(alpha=a, tau_v=RHO_B))
                        for a in alphas] for c in cs])                 # (c, alpha)
    csym = sp.Symbol("c", real=True)
    reg_b = _region(net, csym * Qx, x, sy.ALPHA, sp.Integer(0), sp.Rational(RHO_B))
    AA, CC = np.meshgrid(alphas, cs)
    marg_b = reg_b.margin(alpha=AA, c=CC)
    cond3_b = AA + np.minimum(CC * JJt.min(), CC * JJt.max()) > 0      # alpha + min Re eig(cJQ)
    mk_a = np.linspace(*ALPHA_RANGE, m + 2)[1:-1]
    mk_c = np.linspace(*C_RANGE, m + 2)[1:-1]
    MA, MC = np.meshgrid(mk_a, mk_c)
    sim_b = np.array([_markers(net, c * Q, x, [Controller(alpha=a, tau_v=RHO_B)])[0]
                      for a, c in zip(MA.ravel(), MC.ravel())]).reshape(MA.shape)

    # ---------------------------------------------------------------- panel (c)
    rho_line = np.geomspace(*RHO_RANGE, 4 * n)
    line = {k: np.array([_abscissa(net, Q, x, Controller(alpha=ALPHA_A, k_p=k, tau_v=r))
                         for r in rho_line]) for k in (0.0, 0.5)}
    inst = _abscissa(net, Q, x, Controller(alpha=ALPHA_A, tau_v=0.0), key="A_inst")
    inst_pi = _abscissa(net, Q, x, Controller(alpha=ALPHA_A, k_p=0.5, tau_v=0.0))

    # ---------------------------------------------------------------- checks
    def agreement(absc, marg):
        ok = np.abs(absc) > 1e-3          # away from the imaginary axis
        return float(np.mean((absc[ok] < 0) == (marg[ok] > 0)))

    def sim_agreement(sim, absc_at):
        dec = sim != 0
        return float(np.mean((sim[dec] > 0) == (absc_at[dec] < 0))), int(dec.sum())

    absc_mk_a = np.array([[_abscissa(net, Q, x, Controller(alpha=ALPHA_A, k_p=k, tau_v=r))
                           for k in mk_k] for r in mk_r])
    absc_mk_b = np.array([[_abscissa(net, c * Q, x, Controller(alpha=a, tau_v=RHO_B))
                           for a in mk_a] for c in mk_c])
    sym_agree = (agreement(absc_a, marg_a), agreement(absc_b, marg_b))
    sim_agree = (sim_agreement(sim_a, absc_mk_a), sim_agreement(sim_b, absc_mk_b))
    gap_a = float(np.mean(absc_a > 0))                    # Condition 3 holds everywhere in (a)
    gap_b = float(np.mean(cond3_b & (absc_b > 0)) / max(np.mean(cond3_b), 1e-300))
    rho_crit0 = float(rho_line[np.argmax(line[0.0] > 0)]) if np.any(line[0.0] > 0) else None
    kp05_stable = bool(np.all(line[0.5] < 0))

    # ---------------------------------------------------------------- figure
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 5.6), constrained_layout=True)
    vmax = float(np.nanmax(np.abs(np.concatenate([absc_a.ravel(), absc_b.ravel()]))))
    vlim = min(vmax, 2.0)
    norm = mcolors.TwoSlopeNorm(vmin=-vlim, vcenter=0.0, vmax=vlim)
    cmap = plt.get_cmap("RdBu_r")

    def markers(ax, X, Y, sim):
        for val, mk, col, lab in ((1, "o", "k", "simulated: converged"),
                                  (-1, "x", "k", "simulated: departed"),
                                  (0, ".", "0.4", "simulated: undecided")):
            sel = sim == val
            if np.any(sel):
                kw = dict(facecolors="none", edgecolors=col) if mk == "o" else dict(c=col)
                ax.scatter(X[sel], Y[sel], marker=mk, s=28 if mk != "." else 10,
                           linewidths=1.1, label=lab, zorder=5, **kw)

    ax = axes[0]
    pc = ax.pcolormesh(KK, RR, np.clip(absc_a, -vlim, vlim), cmap=cmap, norm=norm,
                       shading="auto")
    ax.contour(KK, RR, marg_a, levels=[0.0], colors="k", linewidths=2.0)
    markers(ax, MK, MR, sim_a)
    ax.set_yscale("log")
    ax.set_xlabel("proportional gain $k_p$")
    ax.set_ylabel(r"$\rho = \tau_v / \tau_u$")
    ax.set_title(f"(a) Q = J$^T$, alpha = {ALPHA_A}: Condition 3 holds everywhere", fontsize=10)
    ax.text(0.97, 0.97, "unstable\n(Cond. 3 holds)", transform=ax.transAxes, ha="right",
            va="top", fontsize=9, color="darkred")
    ax.plot([], [], "k-", lw=2, label="closed-form boundary")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)

    ax = axes[1]
    ax.pcolormesh(AA, CC, np.clip(absc_b, -vlim, vlim), cmap=cmap, norm=norm, shading="auto")
    ax.contour(AA, CC, marg_b, levels=[0.0], colors="k", linewidths=2.0)
    ax.contourf(AA, CC, (cond3_b & (marg_b < 0)).astype(float), levels=[0.5, 1.5],
                colors="none", hatches=["///"])
    cc = np.linspace(C_RANGE[0], 0, 50)
    ax.plot(-cc * lam_max, cc, "--", color="gold", lw=2.0, zorder=4,
            label="Condition 3 boundary (= Prop. 5)")
    ax.plot([], [], "k-", lw=2, label=rf"closed-form boundary, $\rho$ = {RHO_B}")
    markers(ax, MA, MC, sim_b)
    ax.set_xlim(*ALPHA_RANGE)
    ax.set_ylim(*C_RANGE)
    ax.set_xlabel(r"leak $\alpha$")
    ax.set_ylabel(r"feedback scale $c$ in $Q = c J^T$")
    ax.set_title(r"(b) $k_p = 0$: hatched = Condition 3 holds but unstable", fontsize=10)
    ax.text(0.97, 0.03, "Condition 3 fails", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=9, color="white")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)

    ax = axes[2]
    for k, ls in ((0.0, "-"), (0.5, "-.")):
        ax.plot(rho_line, line[k], ls, color="C3" if k == 0 else "C0",
                label=rf"full system, $k_p$ = {k}")
    ax.axhline(inst, color="k", ls="--",
               label=r"$\tau_v \to 0$, $k_p$ = 0: $a(A_{inst})$ = -Cond. 3 margin")
    ax.axhline(inst_pi, color="C0", ls=":", label=r"$\tau_v \to 0$, $k_p$ = 0.5")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\rho = \tau_v / \tau_u$")
    ax.set_ylabel("spectral abscissa (units of 1/tau_u)")
    ax.set_title(rf"(c) along $\alpha$ = {ALPHA_A}, Q = J$^T$", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    cb = fig.colorbar(pc, ax=axes[:2], shrink=0.9, pad=0.01)
    cb.set_label("spectral abscissa of the linearised system (clipped)")
    fig.suptitle("Local stability of DFC (integral-leak PI control): Condition 3 is only a "
                 "proxy once tau_v > 0", fontsize=12)
    arrays = dict(k_p=kps, rho=rhos, abscissa_a=absc_a, margin_a=marg_a, marker_k_p=MK,
                  marker_rho=MR, simulated_a=sim_a, alpha=alphas, c=cs, abscissa_b=absc_b,
                  margin_b=marg_b, condition3_b=cond3_b, marker_alpha=MA, marker_c=MC,
                  simulated_b=sim_b, rho_line=rho_line, line_kp0=line[0.0],
                  line_kp05=line[0.5], inst_abscissa=inst, inst_pi_abscissa=inst_pi,
                  eig_JJt=JJt, Q=Q, x=x)
    lines = [
        f"2-2-2 tanh network (seed {used_seed}), Q = J^T: eig(J Q) = {np.round(JJt, 3).tolist()}"
        f" > 0, so Condition 3 holds for every alpha >= 0.",
        f"(a) alpha = {ALPHA_A}: unstable on {100 * gap_a:.0f}% of the (k_p, rho) map although "
        f"Condition 3 holds there; at k_p = 0 stability is lost at rho ~ "
        f"{rho_crit0 if rho_crit0 is None else round(rho_crit0, 3)} (tau_v no longer << tau_u);"
        f" with k_p = 0.5 the system is "
        f"{'stable on the whole rho range' if kp05_stable else 'still unstable somewhere'}.",
        f"(b) rho = {RHO_B}, k_p = 0: Condition 3 fails left of the dashed line (c < 0, "
        f"alpha < |c| {lam_max:.2f}) -- exactly where the instantaneous system is unstable; "
        f"for c > 0 Condition 3 holds but {100 * gap_b:.0f}% of that region is unstable "
        f"(large loop gain c with slow somata).",
        f"Closed-form (Lienard-Chipart) verdict = sign of the numeric spectral abscissa on "
        f"{100 * sym_agree[0]:.1f}% / {100 * sym_agree[1]:.1f}% of grid points with |a| > 1e-3.",
        f"Simulated runs (nonlinear, ivp) agree with the linear verdict on "
        f"{100 * sim_agree[0][0]:.0f}% of {sim_agree[0][1]} / {100 * sim_agree[1][0]:.0f}% of "
        f"{sim_agree[1][1]} decided markers.",
        "Lesson: Condition 3 is the exact criterion only when tau_v << tau_u and k_p = 0 "
        "(Proposition 5); with slow somata a strong feedback path through hidden layers "
        "adds phase lag and can destabilise a Condition-3 controller, and proportional "
        "gain k_p counteracts it.",
    ]
    summary = {
        "summary": "\n".join(lines), "seed": used_seed, "eig_JQ": JJt.tolist(),
        "unstable_fraction_a_with_condition3": gap_a,
        "unstable_fraction_b_within_condition3": gap_b,
        "rho_critical_kp0": rho_crit0, "kp05_stable_all_rho": kp05_stable,
        "symbolic_vs_numeric_agreement": list(sym_agree),
        "simulated_vs_linear_agreement": [list(s) for s in sim_agree],
        "files": [str(p) for p in figure_paths(out, NAME, FIGURE_FILES + ("_data.npz",))],
    }
    write_figure(out, NAME, fig, summary, **arrays)
    return summary


@command("python -m figures.stability")
def main(argv=None):
    p = ArgumentParser(prog="python -m figures.stability", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=["quick", "paper"])
    p.add_argument("--out", default="figures_out")
    p.add_argument("--seed", type=non_negative_int, default=0)
    _add_options(p)
    args = p.parse_args(argv)
    check_output_folder(args.out, "--out")
    res = run(preset=args.preset, out=args.out, seed=args.seed, grid=args.grid,
              markers=args.markers)
    print(res["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
