import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 01: the controller as teacher")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure
    from scipy.signal import argrelmax

    import dfc_theory as dfc

    from lesson_tools import show


@app.function
def decay_rate(t, d, lo=1e-2, hi=1e-9):
    """Exponential decay rate of a distance d(t) > 0, measured from the data alone.

    Window: from the moment d stays below lo * d(0) to the moment it first falls below
    hi * d(0) (or the end).  If log d oscillates (at least two local maxima in the
    window), the rate is the slope of the line through its peaks: for a dominant complex
    pair consecutive peaks are exactly half a period apart and scale by e^{a pi / omega}.
    Otherwise it is the least-squares slope of log d over the window.
    Returns (rate, (t_start, t_end)); nan when the window holds fewer than 10 samples.
    """
    above = np.flatnonzero(d > lo * d[0])
    i0 = above[-1] + 1 if above.size else 0
    below = np.flatnonzero(d[i0:] < hi * d[0])
    i1 = i0 + below[0] if below.size else len(d)
    if i1 - i0 < 10:
        return float("nan"), (float("nan"), float("nan"))
    tt, ld = t[i0:i1], np.log(d[i0:i1])
    peaks = argrelmax(ld)[0]
    if len(peaks) >= 2:
        tt, ld = tt[peaks], ld[peaks]
    return float(np.polyfit(tt, ld, 1)[0]), (float(t[i0]), float(t[i1 - 1]))


@app.cell
def intro():
    mo.md(r"""
    # 1 · The controller as teacher

    A feedback controller watches the output $r_L$ of a network and pushes it towards a
    target $r_L^* = r_L^- - \lambda\,\partial\mathcal{L}/\partial r_L$ (the output nudged a
    little downhill on the loss).  The control signal $u(t)$ reaches every layer through the
    feedback weights $Q$; the change it causes in each neuron is the teaching signal that
    Deep Feedback Control turns into a weight update.

    **Learning goals**

    * see a PI controller drive $r_L(t)$ onto (just short of) its target, as in Fig 1D of the
      paper;
    * read the speed of convergence off a log plot: $\|z(t) - z_{ss}\|$ decays like
      $e^{a t}$, with $a$ the *spectral abscissa* (largest real part of an eigenvalue) of the
      linearised system matrix;
    * see why a leak $\alpha > 0$ leaves a residual error $e_{ss} = \tilde\alpha\, u_{ss}$, and
      how the two PI conventions differ ($\tilde\alpha = \alpha/(1+\alpha k_p)$ for the
      paper's leak on the integral, $\alpha$ for the reference code's leak on the whole control).

    **References:** THEORY.md sections 2 (dynamics, PI conventions), 3 (steady state) and 5
    (system matrices); the paper (Meulemans et al., NeurIPS 2021, arXiv:2106.07887), Fig 1D
    and Eqs. 2-5.

    **Set-up.** A 15-10-10-1 tanh network (linear output), one input $x$ and the label
    $y = 1$, squared-error loss.  For one output every feedback matrix that satisfies
    Condition 2 is a multiple of $J^T$; we use $Q = J^+$, so that $J Q = 1$ at the
    feedforward state.  The dynamics are integrated in continuous time (SciPy's LSODA at
    tolerance $10^{-11}$; the paper's figure uses the reference Euler scheme, whose decay
    rate differs from the continuous one by $O(dt)$).
    """)
    return


@app.cell
def network():
    net = dfc.Network.random([15, 10, 10, 1], activation="tanh", seed=0)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, 15)
    y = np.array([1.0])
    r_ff = net.forward(x).output
    Q = dfc.feedback.pseudoinverse(net, x)
    return Q, net, r_ff, x, y


@app.cell
def controls():
    k_p = mo.ui.slider(0.0, 5.0, step=0.25, value=1.0, label="proportional gain k_p",
                       show_value=True)
    alpha = mo.ui.slider(steps=[0.0, 0.001, 0.0015, 0.003, 0.01, 0.03, 0.1], value=0.0015,
                         label="leak alpha", show_value=True)
    tau_ratio = mo.ui.slider(0.02, 0.5, step=0.02, value=0.2, label="tau_v / tau_u",
                             show_value=True)
    lam = mo.ui.slider(0.01, 0.5, step=0.01, value=0.05, label="target stepsize lambda",
                       show_value=True)
    leak = mo.ui.dropdown(["total", "integral"], value="total",
                          label="leak convention")
    mo.vstack([mo.md("### Controls"), mo.hstack([k_p, alpha], justify="start"),
               mo.hstack([tau_ratio, lam], justify="start"), leak])
    return alpha, k_p, lam, leak, tau_ratio


@app.cell
def run_control(Q, alpha, k_p, lam, leak, net, r_ff, tau_ratio, x, y):
    controller = dfc.Controller(alpha=alpha.value, k_p=k_p.value, tau_v=tau_ratio.value,
                                tau_u=1.0, leak=leak.value)
    system = dfc.DFCSystem(net, Q, controller)
    target = dfc.output_target(r_ff, y, lam.value)
    exact = dfc.steady_state(system, x, target, method="newton")
    A = dfc.system_matrices(system, x, target, at="steady_state")["A_system"]
    eigenvalues = dfc.spectra(A)
    abscissa = float(eigenvalues[0].real)
    stable = abscissa < 0
    horizon = 24.0 / abs(abscissa) if stable else 20.0
    sim = dfc.simulate(system, x, target, method="ivp", ivp_method="LSODA", rtol=1e-11,
                       atol=1e-14, dt=horizon / 2000, n_steps=2000, record="full")
    distance = np.linalg.norm(np.concatenate([sim.v - exact.v, sim.u - exact.u], axis=1),
                              axis=1)
    e_ss = target - exact.r_L
    measured, window = decay_rate(sim.t, distance) if stable else (float("nan"),) * 2
    return (abscissa, controller, distance, e_ss, eigenvalues, exact, measured, sim, stable,
            target, window)


@app.cell
def plot_control(abscissa, distance, e_ss, exact, r_ff, sim, stable, target, window):
    fig_control = Figure(figsize=(10, 3.2))
    fig_control.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.91, wspace=0.28)
    ax_r, ax_u, ax_log = fig_control.subplots(1, 3)
    settle = np.flatnonzero(distance > 1e-3 * distance[0])
    t_show = sim.t[: max(settle[-1] + 2 if settle.size else 2, 50)]
    n = len(t_show)
    ax_r.plot(t_show, sim.r_L[:n, 0], label="r_L(t)")
    ax_r.axhline(target[0], color="k", ls="--", lw=1, label="target r_L*")
    ax_r.axhline(r_ff[0], color="0.6", ls=":", lw=1, label="feedforward r_L-")
    ax_r.set_xlabel("t / tau_u")
    ax_r.set_title("output")
    ax_r.legend(fontsize=8)
    ax_u.plot(t_show, sim.u[:n, 0], color="C1")
    ax_u.axhline(exact.u[0], color="k", ls="--", lw=1, label="u_ss (Newton)")
    ax_u.set_xlabel("t / tau_u")
    ax_u.set_title("control u(t)")
    ax_u.legend(fontsize=8)
    err = np.abs(sim.e[:, 0] - e_ss[0])
    ax_log.semilogy(sim.t, distance, label="|z(t) - z_ss|")
    ax_log.semilogy(sim.t, np.maximum(err, 1e-300), lw=0.8, alpha=0.7,
                    label="|e(t) - e_ss|")
    if stable:
        ax_log.semilogy(sim.t, distance[0] * np.exp(abscissa * sim.t), "k--", lw=1,
                        label=f"slope a = {abscissa:.3f}")
        ax_log.axvspan(*window, color="0.9", zorder=0)
    ax_log.set_ylim(max(distance.min(), 1e-14 * distance[0]) / 3, 3 * distance.max())
    ax_log.set_xlabel("t / tau_u")
    ax_log.set_title("distance to the steady state")
    ax_log.legend(fontsize=8)
    show(fig_control)
    return (fig_control,)


@app.cell
def readout(abscissa, controller, eigenvalues, exact, measured, sim, stable, target):
    rest_ratio = (target[0] - sim.r_L[-1, 0]) / sim.u[-1, 0] if sim.u[-1, 0] else float("nan")
    numbers = mo.md(f"""
    | quantity | value |
    |---|---|
    | spectral abscissa a of the full linearised system (at the steady state) | {abscissa:.4f} |
    | slowest eigenvalues | {", ".join(f"{z.real:.3f}{z.imag:+.3f}i" for z in eigenvalues[:3])} |
    | measured decay rate of the simulation (grey window) | {measured:.4f} |
    | steady-state control u_ss (Newton) | {exact.u[0]:.5f} |
    | residual error e_ss = r_L* - r_L,ss | {target[0] - exact.r_L[0]:.3e} |
    | e / u at the end of the simulation | {rest_ratio:.6f} |
    | predicted alpha_eff ({controller.leak} leak) | {controller.alpha_eff:.6f} |
    """)
    warning = mo.callout(mo.md("**Unstable:** the spectral abscissa is positive, the "
                               "controller cannot settle."), kind="danger")
    numbers if stable else mo.vstack([warning, numbers])
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **Left:** with $k_p = 0$ and a slow network ($\tau_v/\tau_u \to 0.5$) the output
      overshoots and rings; a proportional gain damps the ringing.  The curves for different
      $k_p$ look alike at first sight.
    * **Right:** the log plot tells them apart.  After a transient the distance to the
      steady state falls on a straight line whose slope is the spectral abscissa $a$ (dashed).
      Larger $k_p$ makes the first response faster but the final approach *slower*: for one
      output the slowest eigenvalue moves towards $-(JQ+\alpha)/(1 + k_p JQ)$.
    * **Leak:** with $\alpha > 0$ the output stops short of the target by
      $e_{ss} = \tilde\alpha u_{ss}$; switch the convention to see $\tilde\alpha$ change.
    * **lambda:** a larger target step makes $u_{ss}$ proportionally larger; the decay rate
      barely moves (it depends on the network only through $J$ at the steady state).
    """)
    return


@app.cell
def test_decay_rate_matches_spectral_abscissa(abscissa, measured, stable):
    # Independent: `measured` comes from the simulated trajectory only, `abscissa` from the
    # eigenvalues of the system matrix.  The window starts once the distance has fallen
    # 100-fold (the faster modes have faded) and spans seven decades.  Over the corners of
    # the slider box and a 150-point interior grid the two agreed to 0.7% at worst (k_p = 0.5,
    # tau_v/tau_u = 0.5, where two slow modes are close); 2% leaves room for the
    # integrator's tolerance.  The slider ranges keep alpha k_p < 1: at
    # alpha k_p = 1 the total-leak PI controller cancels its slowest pole, which the
    # trajectory then never shows.
    if stable:
        assert abs(measured - abscissa) <= 0.02 * abs(abscissa), (measured, abscissa)
    return


@app.cell
def test_rest_point_and_leak_convention(controller, exact, sim, stable, target):
    # The simulation ends at the Newton steady state, where e = alpha_eff u with
    # alpha_eff = alpha / (1 + alpha k_p) (integral leak) or alpha (total leak).
    if stable:
        _e_end = target[0] - sim.r_L[-1, 0]
        _u_end = sim.u[-1, 0]
        _predicted = (controller.alpha / (1 + controller.alpha * controller.k_p)
                     if controller.leak == "integral" else controller.alpha)
        assert abs(_u_end - exact.u[0]) <= 1e-6 * max(1.0, abs(exact.u[0]))
        assert abs(_e_end - _predicted * _u_end) <= 1e-8 * max(1.0, abs(_u_end))
        assert exact.residual <= 1e-10
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. Set $\alpha = 0$.  Where does $r_L(t)$ end, and why can a pure integral controller
       reach the target exactly?
    2. With $\alpha = 0.1$, read $e_{ss}$ and $u_{ss}$ from the table and check
       $e_{ss} = \tilde\alpha u_{ss}$ for both leak conventions.  Which convention leaves the
       larger error when $k_p = 5$?
    3. Move $k_p$ from 0 to 5 at $\tau_v/\tau_u = 0.2$.  How does the slope of the log plot
       change?  Why is a large proportional gain not "faster" in the long run?
    4. Which slider changes the oscillation of $r_L(t)$ most?  Relate it to the imaginary
       parts of the slowest eigenvalues.
    5. Why does the slope not depend on $\lambda$ (to first order)?

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
