import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 05: when does the controller settle?")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure

    import dfc_theory as dfc
    from dfc_theory import stability

    from lesson_tools import show


@app.function
def euler_radius(net, Q, x, alpha, k_p, dt, proactive=False):
    """Spectral radius of the one-step matrix of the reference Euler scheme for the
    instantaneous system (tau_v = 0) at the feedforward state."""
    system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha, k_p=k_p, tau_v=0.0,
                                                  leak="integral"))
    T = stability.reference_euler_matrix(system, x, dt, proactive=proactive)
    return float(np.abs(np.linalg.eigvals(T)).max())


@app.cell
def intro():
    mo.md(r"""
    # 5 · When does the controller settle?

    Everything DFC computes happens at the rest point of the network plus controller.  That
    rest point is only useful if the dynamics reach it: the linearised system
    $\dot z = A z$ must be stable, i.e. every eigenvalue of $A$ must have a negative real part
    (spectral abscissa $a(A) < 0$).

    * **Condition 3:** every eigenvalue of $JQ$ has real part $> -\alpha$.
    * **Proposition 5:** for a fast network ($\tau_v \ll \tau_u$) and $k_p = 0$, the system is
      stable *if and only if* Condition 3 holds (the instantaneous system
      $\tau_u\dot u = -(JQ+\alpha I)u + \delta_L$).
    * With a slow network (finite $\tau_v/\tau_u$) the full matrix decides: Condition 3 can
      hold while the system oscillates out of control, and a proportional gain $k_p$ can save
      it.  With the paper's leak on the integral the static condition uses
      $\tilde\alpha = \alpha/(1+\alpha k_p)$ instead of $\alpha$.
    * **The Euler limit:** a simulation with step $dt$ is stable only if the discrete map is;
      the reference scheme (the apical compartment sees the previous control) needs
      $dt\,\rho(JQ) < \tau_u$, half the forward-Euler bound $dt\,\rho(JQ+\alpha I) < 2\tau_u$.

    **Learning goals:** tell Condition 3, the full spectrum and the Euler limit apart; find
    a point where Condition 3 holds but the controller cannot settle.

    **References:** THEORY.md sections 2 (reference Euler scheme), 4 (Condition 3,
    Proposition 5) and 5 (system matrices); the paper's Condition 3 and Proposition 5.

    **Set-up.** A 2-2-2 tanh network (the one of the project's stability figure), input
    $x = (0.5, -0.5)$, the paper's leak on the integral, and $Q = c\,J^T$: for $c > 0$
    Condition 3 holds for every $\alpha \ge 0$; for $c < 0$ only while $\alpha$ is large.
    """)
    return


@app.cell
def network():
    net = dfc.Network.random([2, 2, 2], seed=0, gain=2.0, bias_scale=0.3)
    x = np.array([0.5, -0.5])
    J = net.jacobian(x)
    r_ff = net.forward(x).output
    target = dfc.output_target(r_ff, np.array([1.0, -1.0]), 0.01)
    return J, net, target, x


@app.cell
def controls():
    k_p = mo.ui.slider(0.0, 1.0, step=0.05, value=0.0, label="k_p", show_value=True)
    tau_ratio = mo.ui.slider(steps=[0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0], value=0.2,
                             label="tau_v / tau_u", show_value=True)
    alpha = mo.ui.slider(steps=[0.0, 0.01, 0.1, 0.3, 1.0, 3.0], value=0.01,
                         label="leak alpha", show_value=True)
    c = mo.ui.slider(steps=[-1.0, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0],
                     value=1.0, label="scale c of Q = c J^T", show_value=True)
    dt = mo.ui.slider(steps=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.01,
                      label="Euler step dt", show_value=True)
    mo.vstack([mo.md("### Controls"), mo.hstack([k_p, tau_ratio, alpha], justify="start"),
               mo.hstack([c, dt], justify="start")])
    return alpha, c, dt, k_p, tau_ratio


@app.cell
def analyse(J, alpha, c, k_p, net, target, tau_ratio, x):
    Q = c.value * J.T
    controller = dfc.Controller(alpha=alpha.value, k_p=k_p.value, tau_v=tau_ratio.value,
                                leak="integral")
    system = dfc.DFCSystem(net, Q, controller)
    exact = dfc.steady_state(system, x, target, method="newton")
    matrices = dfc.system_matrices(system, x, target, at="steady_state")
    A = matrices["A_system"]
    spectrum = dfc.spectra(A)
    abscissa = float(spectrum[0].real)
    eig_JQ = np.linalg.eigvals(J @ Q)
    cond3 = dfc.condition3(system, x)
    cond3_tilde = bool(eig_JQ.real.min() > -controller.alpha_eff)
    return (A, Q, abscissa, cond3, cond3_tilde, controller, eig_JQ, exact, spectrum, system)


@app.cell
def stability_map(J, alpha, c, net, x):
    map_kp = np.linspace(0.0, 1.0, 17)
    map_rho = np.logspace(np.log10(0.02), np.log10(2.0), 17)
    map_a = np.empty((len(map_rho), len(map_kp)))
    for _i, _rho in enumerate(map_rho):
        for _j, _kp in enumerate(map_kp):
            _s = dfc.DFCSystem(net, c.value * J.T,
                               dfc.Controller(alpha=alpha.value, k_p=_kp, tau_v=_rho,
                                              leak="integral"))
            map_a[_i, _j] = dfc.spectral_abscissa(dfc.system_matrices(_s, x)["A_system"])
    return map_a, map_kp, map_rho


@app.cell
def trajectory(abscissa, exact, system, target, x):
    # stable: long enough to fall 10 decades; unstable: the growth phase (six e-foldings
    # take the distance from lambda-sized to saturation), not the fast limit cycle that
    # follows (expensive to integrate, and not the lesson)
    _T = min(24.0 / abs(abscissa), 100.0) if abscissa < 0 else min(6.0 / abscissa, 40.0)
    sim = dfc.simulate(system, x, target, method="ivp", ivp_method="LSODA",
                       rtol=1e-9 if abscissa < 0 else 1e-7, atol=1e-12, dt=_T / 800,
                       n_steps=800, record="full")
    _s_ss = exact.u - system.controller.k_p * (target - exact.r_L)       # u_int at rest
    _s = sim.u - system.controller.k_p * sim.e
    distance = np.linalg.norm(np.concatenate([sim.v - exact.v, _s - _s_ss], axis=1), axis=1)
    return distance, sim


@app.cell
def plot_stability(abscissa, alpha, distance, eig_JQ, k_p, map_a, map_kp, map_rho, sim,
                   spectrum, tau_ratio):
    fig_stability = Figure(figsize=(10, 6.2))
    fig_stability.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.95, wspace=0.28,
                                  hspace=0.38)
    (ax_jq, ax_full), (ax_map, ax_traj) = fig_stability.subplots(2, 2)
    _lim = max(1.0, alpha.value, np.abs(eig_JQ).max()) * 1.3
    ax_jq.axvspan(-10 * _lim, -alpha.value, color="C3", alpha=0.1)
    ax_jq.axvline(-alpha.value, color="C3", lw=1)
    ax_jq.plot(eig_JQ.real, eig_JQ.imag, "x", ms=10, mew=2)
    ax_jq.set_xlim(-_lim, _lim)
    ax_jq.set_ylim(-_lim / 2, _lim / 2)
    ax_jq.set_title("Condition 3: eig(JQ) right of -alpha", fontsize=10)
    ax_full.axvline(0, color="k", lw=0.8)
    ax_full.plot(spectrum.real, spectrum.imag, "o", ms=5, color="C1")
    ax_full.set_title(f"full linearised system: a = {abscissa:.3f}", fontsize=10)
    ax_full.set_xlabel("Re")
    ax_map.pcolormesh(map_kp, map_rho, np.clip(map_a, -1, 1), cmap="RdBu_r", vmin=-1, vmax=1,
                      shading="nearest")
    if map_a.min() < 0 < map_a.max():
        ax_map.contour(map_kp, map_rho, map_a, levels=[0.0], colors="k", linewidths=1)
    ax_map.plot(k_p.value, tau_ratio.value, "*", color="yellow", mec="k", ms=14)
    ax_map.set_yscale("log")
    ax_map.set_xlabel("k_p")
    ax_map.set_ylabel("tau_v / tau_u")
    ax_map.set_title("spectral abscissa: blue < 0 < red (clipped at 1)", fontsize=10)
    ax_traj.semilogy(sim.t, np.maximum(distance, 1e-300), color="C0",
                     label="|z(t) - z_ss| (nonlinear)")
    if abscissa < 0:
        ax_traj.semilogy(sim.t, distance[0] * np.exp(abscissa * sim.t), "k--", lw=1,
                         label="slope a")
    ax_traj.set_ylim(max(distance.min(), 1e-9 * distance[0]) / 3, 3 * distance.max())
    ax_traj.set_xlabel("t / tau_u")
    ax_traj.set_title("trajectory from the feedforward state", fontsize=10)
    ax_traj.legend(fontsize=8)
    show(fig_stability)
    return (fig_stability,)


@app.cell
def euler(J, Q, alpha, dt, k_p, net, x):
    euler_dts = np.logspace(-3, 1, 41)
    euler_ref = np.array([euler_radius(net, Q, x, alpha.value, k_p.value, _h)
                          for _h in euler_dts])
    euler_pro = np.array([euler_radius(net, Q, x, alpha.value, k_p.value, _h, True)
                          for _h in euler_dts])
    euler_here = euler_radius(net, Q, x, alpha.value, k_p.value, dt.value)
    rho_JQ = float(np.abs(np.linalg.eigvals(J @ Q)).max())
    return euler_dts, euler_here, euler_pro, euler_ref, rho_JQ


@app.cell
def plot_euler(alpha, dt, euler_dts, euler_here, euler_pro, euler_ref, k_p, rho_JQ):
    fig_euler = Figure(figsize=(10, 2.8))
    fig_euler.subplots_adjust(left=0.07, right=0.7, bottom=0.17, top=0.88)
    ax = fig_euler.subplots()
    ax.loglog(euler_dts, euler_ref, label="reference scheme (u one step late)")
    ax.loglog(euler_dts, euler_pro, "--", label="proactive scheme (forward Euler)")
    ax.axhline(1.0, color="k", lw=0.8)
    if k_p.value == 0:
        ax.axvline(1.0 / rho_JQ, color="C0", lw=0.8, ls=":", label="tau_u / rho(JQ)")
        ax.axvline(2.0 / (rho_JQ + alpha.value), color="C1", lw=0.8, ls=":",
                   label="2 tau_u / rho(JQ + alpha I)")
    ax.plot(dt.value, euler_here, "*", color="C3", ms=12, label=f"your dt: {euler_here:.3f}")
    ax.set_xlabel("dt / tau_u")
    ax.set_title("spectral radius of one Euler step (instantaneous system; > 1 diverges)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    show(fig_euler)
    return (fig_euler,)


@app.cell
def readout(abscissa, alpha, cond3, cond3_tilde, controller, eig_JQ, euler_here):
    _msg = []
    if abscissa >= 0:
        _msg.append(mo.callout(mo.md(
            f"**Unstable:** spectral abscissa {abscissa:.3f} >= 0; the trajectory leaves "
            f"the rest point{' although Condition 3 holds' if bool(cond3.holds) else ''}."),
            kind="danger"))
    if euler_here >= 1:
        _msg.append(mo.callout(mo.md(
            f"**Euler-unstable:** one step of the reference scheme amplifies by "
            f"{euler_here:.3f} > 1 at this dt."), kind="warn"))
    mo.vstack(_msg + [mo.md(f"""
    | | |
    |---|---|
    | eigenvalues of JQ | {", ".join(f"{z.real:.3f}{z.imag:+.3f}i" for z in eig_JQ)} |
    | Condition 3 with alpha = {alpha.value:g} | {"holds" if bool(cond3.holds) else "fails"} (margin {float(cond3.margin):.3f}) |
    | the same with alpha_tilde = {controller.alpha_eff:.4g} | {"holds" if cond3_tilde else "fails"} |
    | spectral abscissa of the full system | {abscissa:.4f} |
    | spectral radius of an Euler step | {euler_here:.4f} |
    """)])
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * Start at $k_p = 0$, $c = 1$ and raise $\tau_v/\tau_u$: Condition 3 (top left) never
      changes, but the full spectrum (top right) moves right and crosses the axis near
      $\tau_v/\tau_u \approx 0.3$; the trajectory starts to grow.  The map (bottom left)
      shows the whole red region; raise $k_p$ to leave it.
    * Set $c < 0$: now $JQ$ has negative eigenvalues and Condition 3 needs
      $\alpha > |c|\,\lambda_{\max}(JJ^T)$.  With a fast network this is exactly the
      stability boundary (Proposition 5).
    * Euler (bottom figure): the reference scheme diverges once
      $dt > \tau_u/\rho(JQ)$, the proactive one only at twice that step.  Large $c$ needs a
      small $dt$.  With $k_p > 0$ a second limit appears: the proportional term also acts one
      step late, and that loop is unstable once $k_p\,\rho(JQ) > 1$, whatever $dt$ (here
      $\rho(JQ) = 8.2\,c$, so $k_p = 0.2$ at $c = 1$ already diverges).  A finite $\tau_v$
      filters this loop, which is why the reference code never uses $\tau_v = 0$.
    """)
    return


@app.cell
def test_lyapunov_certificate_agrees_with_spectral_abscissa(A, abscissa):
    # Independent: solve A^T P + P A = -I (Lyapunov).  A stable A has a positive definite P;
    # an unstable one has none.  Within 1e-2 of the imaginary axis P grows like 1/(2|a|) and
    # the verdict is not decisive, so only decisive cases are judged.
    _cert = dfc.lyapunov_certificate(A)
    if abscissa < -1e-2:
        assert bool(_cert.certified), (abscissa, _cert.residual, _cert.min_eig)
    elif abscissa > 1e-2:
        assert not bool(_cert.certified)
    return


@app.cell
def test_condition3_is_the_fast_network_limit(Q, alpha, eig_JQ, k_p, net, x):
    # Proposition 5 (and its PI variant): with a very fast soma (tau_v = 1e-4 tau_u) the full
    # system is stable iff every eigenvalue of JQ has real part > -alpha_tilde,
    # alpha_tilde = alpha / (1 + alpha k_p) for the integral leak.  Decisive margins only.
    _alpha_t = alpha.value / (1 + alpha.value * k_p.value)
    _margin = eig_JQ.real.min() + _alpha_t
    _fast = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha.value, k_p=k_p.value,
                                                 tau_v=1e-4, leak="integral"))
    _a = dfc.spectral_abscissa(dfc.system_matrices(_fast, x)["A_system"])
    if abs(_margin) > 1e-2:
        assert (_a < 0) == (_margin > 0), (_a, _margin)
    return


@app.cell
def test_euler_limit(Q, alpha, dt, euler_here, k_p, net, rho_JQ, target, x):
    # (1) k_p = 0, real positive spectrum mu_i of JQ (c > 0): the reference scheme is stable
    # iff dt mu_i < tau_u and dt (alpha - mu_i) < 2 tau_u for every i (Jury's conditions for
    # z^2 - (1 - h alpha) z + h mu); the largest stable step, found here by bisection on the
    # spectral radius of the one-step matrix, must equal that closed form.
    # (2) the verdict at the student's dt against an actual Euler simulation of the
    # instantaneous system: it settles when rho < 0.99, departs when rho > 1.01.
    _mu = np.linalg.eigvals(net.jacobian(x) @ Q)
    if k_p.value == 0 and np.all(_mu.real > 0) and np.all(np.abs(_mu.imag) < 1e-12):
        _mu = _mu.real
        _limit = min(np.min(1 / _mu), np.min(np.where(alpha.value > _mu,
                                                      2 / np.maximum(alpha.value - _mu, 1e-300),
                                                      np.inf)))
        _lo, _hi = 1e-4, 10.0
        for _ in range(60):
            _mid = np.sqrt(_lo * _hi)
            if euler_radius(net, Q, x, alpha.value, 0.0, _mid) < 1:
                _lo = _mid
            else:
                _hi = _mid
        assert abs(_lo / _limit - 1) <= 1e-6, (_lo, _limit, 1 / rho_JQ)
    _inst = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha.value, k_p=k_p.value,
                                                 tau_v=0.0, leak="integral"))
    if abs(euler_here - 1) > 0.01:
        _steps = int(np.ceil(np.log(1e-4) / np.log(euler_here) if euler_here < 1
                             else np.log(1e4) / np.log(euler_here)))
        with np.errstate(all="ignore"):
            _sim = dfc.simulate(_inst, x, target, method="euler", dt=dt.value,
                                n_steps=min(_steps, 20000), record="final")
        _u_ss = dfc.steady_state(_inst, x, target).u
        _ratio = np.linalg.norm(_sim.u_final - _u_ss) / np.linalg.norm(_u_ss)
        if euler_here < 1:
            assert _ratio < 1e-2, _ratio
        else:
            assert _sim.info["blew_up"] or not _ratio < 1, _ratio
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. At $k_p = 0$, $c = 1$, $\alpha = 0.01$: find the smallest $\tau_v/\tau_u$ on the
       slider at which the controller cannot settle.  Does Condition 3 hold there?
    2. Which $k_p$ brings that point back to stability?  Why can a proportional term help
       against oscillations?
    3. Set $c = -0.5$ and a fast network ($\tau_v/\tau_u = 0.02$).  For which $\alpha$ does the
       system become stable?  Compare with the eigenvalues of $JQ$.
    4. With $c = 4$, what is the largest stable Euler step for the reference scheme, and
       for the proactive one?  Why does the one-step lag halve it?
    5. (Integral leak.) Why does the static condition use $\tilde\alpha = \alpha/(1 +
       \alpha k_p)$ rather than $\alpha$?  Find settings where this matters.

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
