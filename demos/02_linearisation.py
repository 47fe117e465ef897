import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 02: when is the linearised steady state good enough?")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure

    import dfc_theory as dfc

    from lesson_tools import show


@app.function
def loglog_slope(x, y):
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@app.cell
def intro():
    mo.md(r"""
    # 2 · When is the linearised steady state good enough?

    At rest the controlled network satisfies
    $v_i = W_i\phi(v_{i-1}) + b_i + Q_i u$ and $\tilde\alpha u = r_L^* - r_L(u)$: a nonlinear
    equation in $u$ that we solve exactly with Newton's method.  Lemma 1 of the paper replaces
    it by its linearisation at the feedforward state,

    $$u_{ss} \approx (JQ + \tilde\alpha I)^{-1}\delta_L, \qquad
      \delta_L = r_L^* - r_L^- = O(\lambda),$$

    which is what the method **DFC-SSA** uses instead of simulating the dynamics
    (**DFC-SS** applies the plasticity rule at the exact steady state).

    **Learning goals**

    * measure the error of the linearisation and see it shrink like $\lambda^2$
      (slope 2 on a log-log plot): Lemma 1 is a statement about small target steps;
    * see that the weight updates of DFC-SS and DFC-SSA differ by an angle of order
      $\lambda$, and that the linearisation is exact for a linear network;
    * see what the leak $\alpha$ does (nothing to the order, something to the constant).

    **References:** THEORY.md section 3 (exact and linearised steady state) and section 4
    (Lemma 1); section 6 (DFC-SS and DFC-SSA); the paper's Lemma 1 and Section 3.

    **Set-up.** A 5-8-8-3 network (hidden activation from the menu, linear output), one input,
    squared-error loss with label $y = (1, -1, 0.5)$, feedback $Q = J^T$ at the feedforward
    state, the reference code's leak convention ($\tilde\alpha = \alpha$), and target steps
    $\lambda$ from $10^{-4}$ to 1.
    """)
    return


@app.cell
def controls():
    lam = mo.ui.slider(steps=[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
                       value=0.05, label="target stepsize lambda", show_value=True)
    alpha = mo.ui.slider(steps=[0.0, 0.001, 0.01, 0.1, 1.0], value=0.01, label="leak alpha",
                         show_value=True)
    activation = mo.ui.dropdown(["tanh", "sigmoid", "softplus", "linear"], value="tanh",
                                label="hidden activation")
    mo.vstack([mo.md("### Controls"), mo.hstack([lam, alpha, activation], justify="start")])
    return activation, alpha, lam


@app.cell
def sweep(activation, alpha):
    net = dfc.Network.random([5, 8, 8, 3], activation=activation.value, seed=2)
    x = np.random.default_rng(3).uniform(-1.0, 1.0, 5)
    y = np.array([1.0, -1.0, 0.5])
    r_ff = net.forward(x).output
    Q = dfc.feedback.jacobian_transpose(net, x)
    system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha.value, k_p=0.0, leak="total"))
    lams = np.logspace(-4, 0, 17)
    xs = np.repeat(x[None], len(lams), axis=0)
    targets = dfc.output_target(np.repeat(r_ff[None], len(lams), axis=0),
                                np.repeat(y[None], len(lams), axis=0), 1.0)
    targets = r_ff + lams[:, None] * (targets - r_ff)     # r_L* for each lambda
    exact = dfc.steady_state(system, xs, targets, method="newton")
    ssa = dfc.steady_state(system, xs, targets, method="ssa")
    err_u = np.linalg.norm(ssa.u - exact.u, axis=1)
    err_v = np.linalg.norm(ssa.v - exact.v, axis=1)
    angles = np.array([
        dfc.angle(dfc.rule_at_state(net, x, exact.v[k], exact.v_ff[k], "nonlinear"),
                  dfc.rule_at_state(net, x, ssa.v[k], ssa.v_ff[k], "nonlinear"))
        for k in range(len(lams))])
    exact_here = err_u.max() <= 1e-12 * np.linalg.norm(exact.u, axis=1).max()
    small = lams <= 1e-3
    slope_u = float("nan") if exact_here else loglog_slope(lams[small], err_u[small])
    return (Q, angles, err_u, err_v, exact, exact_here, lams, net, r_ff, slope_u, ssa, system,
            targets, x, xs, y)


@app.cell
def here(lam, net, system, x, y, r_ff):
    target_here = dfc.output_target(r_ff, y, lam.value)
    exact_1 = dfc.steady_state(system, x, target_here, method="newton")
    ssa_1 = dfc.steady_state(system, x, target_here, method="ssa")
    update_ss = dfc.rule_at_state(net, x, exact_1.v, exact_1.v_ff, "nonlinear")
    update_ssa = dfc.rule_at_state(net, x, ssa_1.v, ssa_1.v_ff, "nonlinear")
    angle_here = dfc.angle(update_ss, update_ssa)
    return angle_here, exact_1, ssa_1, target_here


@app.cell
def plot_lemma1(activation, angle_here, angles, err_u, err_v, exact_1, exact_here, lam, lams,
                r_ff, ssa_1, target_here):
    fig_lemma1 = Figure(figsize=(10, 3.2))
    fig_lemma1.subplots_adjust(left=0.07, right=0.99, bottom=0.16, top=0.9, wspace=0.3)
    ax_err, ax_ang, ax_out = fig_lemma1.subplots(1, 3)
    floor = 1e-17
    ax_err.loglog(lams, np.maximum(err_u, floor), "o-", ms=3, label="|u_SSA - u_ss|")
    ax_err.loglog(lams, np.maximum(err_v, floor), "s-", ms=3, label="|v_SSA - v_ss|")
    if not exact_here:
        ax_err.loglog(lams, err_u[0] * (lams / lams[0]) ** 2, "k--", lw=1, label="slope 2")
    ax_err.axvline(lam.value, color="C3", lw=1)
    ax_err.set_xlabel("lambda")
    ax_err.set_title("error of the linearisation")
    ax_err.legend(fontsize=8)
    ax_ang.loglog(lams, np.maximum(angles, floor), "o-", ms=3, color="C2",
                  label="angle(DFC-SS, DFC-SSA)")
    if not exact_here:
        ax_ang.loglog(lams, angles[0] * lams / lams[0], "k--", lw=1, label="slope 1")
    ax_ang.axvline(lam.value, color="C3", lw=1)
    ax_ang.set_xlabel("lambda")
    ax_ang.set_ylabel("degrees")
    ax_ang.set_title("weight updates")
    ax_ang.legend(fontsize=8)
    k = np.arange(len(r_ff))
    w = 0.2
    ax_out.bar(k - 1.5 * w, r_ff, w, color="0.7", label="feedforward r_L-")
    ax_out.bar(k - 0.5 * w, target_here, w, color="k", label="target r_L*")
    ax_out.bar(k + 0.5 * w, exact_1.r_L, w, color="C0", label="exact steady state")
    ax_out.bar(k + 1.5 * w, ssa_1.r_L, w, color="C1", label="DFC-SSA")
    ax_out.set_xticks(k, [f"unit {i + 1}" for i in k])
    ax_out.set_title(f"outputs at lambda = {lam.value:g} ({activation.value})")
    ax_out.legend(fontsize=7)
    show(fig_lemma1)
    return (fig_lemma1,)


@app.cell
def readout(angle_here, exact_1, exact_here, lam, slope_u, ssa_1):
    gap = np.linalg.norm(ssa_1.u - exact_1.u)
    note = ("**Linear network:** the linearisation is exact; every error is zero up to "
            "rounding." if exact_here else
            f"Fitted slope of the $u$ error for $\\lambda \\le 10^{{-3}}$: **{slope_u:.3f}** "
            f"(Lemma 1 predicts 2).")
    mo.md(f"""
    At $\\lambda$ = {lam.value:g}: $\\|u_{{SSA}} - u_{{ss}}\\|$ = {gap:.3e}
    (relative {gap / np.linalg.norm(exact_1.u):.2e}), angle between the DFC-SS and
    DFC-SSA weight updates = {angle_here:.3f} degrees; Newton residual
    {exact_1.residual:.1e}.

    {note}
    """)
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **Left:** the error of the linearised steady state follows the dashed slope-2 line for
      small $\lambda$: halving the target step divides the error by four.  Near $\lambda = 1$
      the line bends: the linearisation is a small-step statement.
    * **Middle:** the weight updates of DFC-SS and DFC-SSA differ by an angle proportional to
      $\lambda$ (slope 1): the relative error of $u$ is $O(\lambda)$.
    * **Right:** at large $\lambda$ the exact steady state stops short of the target (by
      $\alpha u$) while DFC-SSA, propagated through the nonlinear network, misses it in
      either direction.
    * **Activation:** smoother, flatter activations (sigmoid, softplus) have smaller second
      derivatives and smaller errors; a linear network makes them vanish.
    """)
    return


@app.cell
def test_ssa_is_the_linear_solve(Q, alpha, net, ssa, targets, xs):
    # Independent: u = (J Q + alpha I)^{-1} delta_L with J from the network's own Jacobian.
    _J = net.jacobian(xs)
    _delta = targets - net.forward(xs).output
    _u = np.linalg.solve(_J @ Q + alpha.value * np.eye(3), _delta[..., None])[..., 0]
    assert np.allclose(ssa.u, _u, rtol=1e-10, atol=1e-14)
    return


@app.cell
def test_exact_steady_state_solves_the_rest_equations(Q, alpha, exact, net, targets, xs):
    # Independent forward pass with v_i = W_i phi(v_{i-1}) + b_i + Q_i u:
    # F(u) = alpha u - r_L* + r_L(u) must vanish.
    _r_L = net.forward(xs, delta=exact.u @ Q.T).output
    _F = alpha.value * exact.u - targets + _r_L
    assert np.all(np.linalg.norm(_F, axis=1)
                  <= 1e-10 * np.maximum(1.0, np.linalg.norm(targets, axis=1)))
    return


@app.cell
def test_lemma1_error_is_second_order(err_u, exact, exact_here, slope_u):
    # Lemma 1: the error is O(lambda^2): fitted log-log slope 2 +- 0.1 at lambda <= 1e-3,
    # unless the network is linear, where the linearisation is exact.
    if exact_here:
        assert err_u.max() <= 1e-12 * np.linalg.norm(exact.u, axis=1).max()
    else:
        assert abs(slope_u - 2.0) <= 0.1, slope_u
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. Read the error at $\lambda = 10^{-3}$ and at $10^{-2}$ off the left plot.  What ratio
       do you expect, and what do you get?
    2. Why is the relative error of $u$ of order $\lambda$ when the absolute error is of
       order $\lambda^2$?
    3. Switch to the linear network.  Why does the error vanish, whatever $\lambda$ and
       $\alpha$?
    4. Increase $\alpha$ to 1.  Does the slope change?  Does the size of the error change?
       Why?
    5. The paper trains with $\lambda = 0.05$ (Fig 3).  Is DFC-SSA a good stand-in for the
       simulated steady state there?  What would make it worse?

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
