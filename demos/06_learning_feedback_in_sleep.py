import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 06: learning the feedback weights in sleep")

with app.setup:
    import marimo as mo
    import numpy as np
    import scipy.linalg
    from matplotlib.figure import Figure

    import dfc_theory as dfc
    from dfc_theory import feedback_learning as fbl

    from lesson_tools import show


@app.function
def damped_angles(Q, J, gammas):
    """Angles (degrees) between Q and J^T (J J^T + gamma I)^{-1} for each gamma (one J)."""
    fam = fbl.damped_pinv_family(J, gammas)
    cos = np.sum(fam * Q, axis=(1, 2)) / (np.linalg.norm(fam, axis=(1, 2)) * np.linalg.norm(Q))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@app.cell
def intro():
    mo.md(r"""
    # 6 · Learning the feedback weights in sleep

    Where do good feedback weights come from?  In DFC they are *learned* in a "sleep" phase:
    no teaching signal ($r_L^* = r_L^-$), white noise $\sigma\xi$ injected into every layer,
    and the controller fighting it.  The noise in layer $i$ raises the output by $J_i\xi_i$;
    the controller answers with $u \approx -J\xi$; the rule
    $\Delta Q_i \propto -\tfrac{1}{\sigma^2}\langle v_i^{fb} u^T\rangle - \beta Q_i$ therefore
    grows $Q$ along $J^T$ while the decay $\beta$ keeps it bounded (**Theorem 6**).

    **Learning goals**

    * watch noisy feedback learning drive the Condition-2 ratio to 1 (Figs S2-S3);
    * compare the learned $Q$ with the damped pseudoinverses $J^T(JJ^T+\gamma I)^{-1}$ and
      find the best-fitting $\gamma$;
    * meet the exact fixed point (**our closed form**, not the paper's):
      $Q^* = J^T h(JJ^T)$, and see when it looks like a damped pseudoinverse with
      $\gamma \approx 2\alpha\beta$ (large $\alpha\beta$), like $\gamma \approx 2\beta/T$
      (short sleep phases), or simply like $J^T$.

    **References:** THEORY.md section 4 (Theorem 6 and our closed form for
    $h(g) = [(g - 2\alpha\beta) + \sqrt{(g - 2\alpha\beta)^2 + 16\alpha\beta g}]/(4\beta g)$),
    section 6 (the feedback rule), section 8 (Figs S2-S4); the paper's Theorem 6.

    **Set-up.** A 20-10-5 network (linear as in Fig S2 or tanh as in Fig S3), inputs uniform
    on $(-1, 1)^{20}$, Euler step $dt = 0.002$.  The noisy sleep phase runs either with the
    reference code's settings ($\tau_v = 0.01$, apical filter $\tau_A = 0.3$) or in the
    *ideal* setting of the closed form ($\tau_v = 0$, $\tau_A = dt$; exact there when
    $k_p = 0$).  For the tanh network the closed form is evaluated at the mean Jacobian (an
    approximation).  The learning rate is $\min(1, 0.025/\beta)$, so that 200 updates
    cover about five decay times $1/(\mathrm{lr}\,\beta)$ whenever $\beta \ge 0.025$.
    """)
    return


@app.cell
def controls():
    network_kind = mo.ui.dropdown(["linear (Fig S2)", "tanh (Fig S3)"],
                                  value="linear (Fig S2)", label="network")
    sigma = mo.ui.slider(steps=[0.001, 0.01, 0.1, 1.0], value=0.01, label="noise sigma",
                         show_value=True)
    beta = mo.ui.slider(steps=[0.01, 0.025, 0.05, 0.1, 0.25, 0.5], value=0.025,
                        label="weight decay beta", show_value=True)
    alpha_fb = mo.ui.slider(steps=[0.0, 0.1, 0.25, 1.0, 5.0, 20.0], value=0.25,
                            label="sleep leak alpha_fb", show_value=True)
    k_p_fb = mo.ui.slider(steps=[0.0, 0.1, 0.5, 1.0], value=0.0, label="sleep gain k_p_fb",
                          show_value=True)
    n_steps_fb = mo.ui.slider(steps=[10, 20, 50, 100, 200, 400], value=50,
                              label="sleep length (steps of dt = 0.002)", show_value=True)
    sleep_setting = mo.ui.dropdown(["reference (tau_v 0.01, tau_A 0.3)",
                                    "ideal (tau_v 0, tau_A = dt)"],
                                   value="reference (tau_v 0.01, tau_A 0.3)",
                                   label="noisy sleep phase")
    mo.vstack([mo.md("### Controls"), mo.hstack([network_kind, sigma, beta], justify="start"),
               mo.hstack([alpha_fb, k_p_fb, n_steps_fb], justify="start"), sleep_setting])
    return alpha_fb, beta, k_p_fb, n_steps_fb, network_kind, sigma, sleep_setting


@app.cell
def run_controls():
    train_button = mo.ui.run_button(label="Learn Q in sleep (200 noisy updates, a few seconds)")
    train_button
    return (train_button,)


@app.cell
def network(network_kind):
    _act = "linear" if network_kind.value.startswith("linear") else "tanh"
    net = dfc.Network.random([20, 10, 5], activation=_act, seed=0, init="xavier_normal")
    xs = np.random.default_rng(1).uniform(-1.0, 1.0, (6400, 20))
    x_eval = xs[:32]
    J_eval = net.jacobian(x_eval)
    J_mean = J_eval.mean(axis=0)
    return J_eval, J_mean, net, x_eval, xs


@app.cell
def closed_form(J_mean, alpha_fb, beta, n_steps_fb):
    horizon = 0.002 * n_steps_fb.value
    Q_star = fbl.closed_form_feedback(J_mean, alpha_fb.value, beta.value, horizon=horizon)
    fit_star = dfc.fit_damped_gamma(Q_star, J_mean)
    curve_gammas = np.logspace(-3, 4, 57)
    curve_angles = damped_angles(Q_star, J_mean, curve_gammas)
    eig_G = np.linalg.eigvalsh(J_mean @ J_mean.T)
    return Q_star, curve_angles, curve_gammas, eig_G, fit_star, horizon


@app.cell
def plot_closed_form(alpha_fb, beta, curve_angles, curve_gammas, fit_star, horizon):
    fig_closed_form = Figure(figsize=(10, 3.0))
    fig_closed_form.subplots_adjust(left=0.07, right=0.7, bottom=0.17, top=0.88)
    ax = fig_closed_form.subplots()
    ax.semilogx(curve_gammas, curve_angles, color="k", label="Q* vs damped pinv(gamma)")
    if np.isfinite(fit_star.gamma) and 0 < fit_star.gamma < np.inf:
        ax.axvline(fit_star.gamma, color="C3", label=f"best gamma = {fit_star.gamma:.3g}")
    _two_ab = 2 * alpha_fb.value * beta.value
    if _two_ab > 0:
        ax.axvline(_two_ab, color="C0", ls="--", label=f"2 alpha beta = {_two_ab:.3g}")
    ax.axvline(2 * beta.value / horizon, color="C2", ls=":",
               label=f"2 beta / T = {2 * beta.value / horizon:.3g}")
    ax.set_xlim(curve_gammas[0], curve_gammas[-1])
    ax.set_xlabel("gamma")
    ax.set_ylabel("degrees")
    ax.set_title("closed-form fixed point Q* against the damped pseudoinverses", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    show(fig_closed_form)
    return (fig_closed_form,)


@app.cell
def readout_closed_form(J_mean, Q_star, eig_G, fit_star, horizon):
    mo.md(f"""
    **Closed form** (sleep length T = {horizon:g} tau_u): eigenvalues of J J^T from
    {eig_G.min():.3g} to {eig_G.max():.3g}.  Best damped pseudoinverse: gamma =
    **{fit_star.gamma:.4g}** at {fit_star.angle:.3f} degrees; angle with J^T
    {fit_star.angle_transpose:.3f}, with J^+ {fit_star.angle_pinv:.3f} degrees;
    Condition-2 ratio of Q*: {float(dfc.condition2_ratio(J_mean, Q_star)):.12f}.
    """)
    return


@app.cell
def train(
    J_eval,
    alpha_fb,
    beta,
    k_p_fb,
    n_steps_fb,
    net,
    sigma,
    sleep_setting,
    train_button,
    x_eval,
    xs,
):
    mo.stop(not train_button.value,
            mo.md("*Press the button to run the noisy sleep phase with these settings.*"))
    _reference = sleep_setting.value.startswith("reference")
    config = dfc.FeedbackConfig(
        alpha_fb=alpha_fb.value, k_p_fb=k_p_fb.value, tau_v_fb=0.01 if _reference else 0.0,
        dt_fb=0.002, n_steps_fb=n_steps_fb.value, sigma_fb=sigma.value,
        tau_A_fb=0.3 if _reference else None, lr_fb=min(1.0, 0.025 / beta.value),
        beta=beta.value)
    # a small random start (scale 0.1): J Q0 is then small, so the sleep controller is
    # stable from the first update even with k_p_fb > 0 and alpha_fb = 0
    _Q0 = dfc.feedback.random_gaussian(net, seed=2, scale=0.1)
    try:
        with mo.status.spinner(title="sleeping..."):
            Q_learned, fb_log = dfc.train_feedback(net, _Q0, xs, config, epochs=1,
                                                   batch_size=32, seed=3, x_eval=x_eval,
                                                   log_every=10, shuffle=False)
    except FloatingPointError as _err:
        mo.stop(True, mo.callout(mo.md(
            f"**The sleep phase diverged** ({_err}).  With an instantaneous network the "
            "reference Euler scheme applies the proportional term one step late, which is "
            "unstable once k_p_fb rho(JQ) > 1, whatever dt (Lesson 5); as Q grows towards "
            "J^T / beta, rho(JQ) reaches about 200.  Use the reference setting (its soma "
            "and apical filters damp the loop) or k_p_fb = 0."), kind="danger"))
    fit_learned = dfc.fit_damped_gamma(Q_learned, J_eval)
    return Q_learned, config, fb_log, fit_learned


@app.cell
def plot_training(Q_learned, Q_star, config, fb_log, fit_learned):
    fig_training = Figure(figsize=(10, 3.2))
    fig_training.subplots_adjust(left=0.07, right=0.78, bottom=0.16, top=0.9, wspace=0.3)
    ax_c2, ax_ang = fig_training.subplots(1, 2)
    ax_c2.plot(fb_log.updates, fb_log.condition2, color="k")
    ax_c2.set_xlabel("updates")
    ax_c2.set_title("Condition-2 ratio", fontsize=10)
    for _k, _g in enumerate(fb_log.gammas):
        ax_ang.plot(fb_log.updates, fb_log.angle_damped[:, _k], label=f"gamma = {_g:g}")
    ax_ang.set_xlabel("updates")
    ax_ang.set_ylabel("degrees")
    ax_ang.set_title(f"angle with damped pinv; best gamma {fit_learned.gamma:.3g}",
                     fontsize=10)
    ax_ang.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    show(fig_training)
    return (fig_training,)


@app.cell
def readout_training(J_mean, Q_learned, Q_star, config, fb_log, fit_learned):
    _cos = np.sum(Q_learned * Q_star) / (np.linalg.norm(Q_learned) * np.linalg.norm(Q_star))
    mo.md(f"""
    **Learned Q** after {int(fb_log.updates[-1])} updates (lr_fb = {config.lr_fb:.3g}):
    Condition-2 ratio {fb_log.condition2[-1]:.6f} (from {fb_log.condition2[0]:.3f});
    best damped pseudoinverse gamma = {fit_learned.gamma:.4g} at {fit_learned.angle:.2f}
    degrees; angle with the closed form Q*: {np.degrees(np.arccos(np.clip(_cos, -1, 1))):.2f}
    degrees (the closed form assumes the ideal setting with k_p_fb = 0, a linear network
    and dt -> 0).
    """)
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **Closed form:** with the defaults the best $\gamma$ (37) is far above
      $2\alpha\beta = 0.0125$ and the angle with $J^T$ is below 2 degrees: the fixed point
      is $J^T$-like.  Longer sleep phases push $\gamma$ up (400 steps: about 200), shorter
      ones down, and with $\alpha = 20$, $\beta = 0.5$ the best $\gamma$ (about 35) is of the
      order of $2\alpha\beta = 20$: the damped-pseudoinverse reading of Theorem 6 needs
      $2\alpha\beta$ above the eigenvalues of $JJ^T$ (here 1.5 to 4.8).
    * **Noisy learning** (button): the Condition-2 ratio climbs from about 0.6 to 0.99 or
      more within a few dozen updates.  In the ideal setting the learned $Q$ lands about 3
      degrees from the closed form (SGD noise and the finite step); the reference setting
      (slow apical filter) settles elsewhere, about 8 degrees away and nearer the
      pseudoinverse.
    * **sigma** does not matter for the linear network (the same $Q$ to the last digit): the
      rule divides by $\sigma^2$ and every correlation scales with $\sigma^2$.  For tanh a
      large noise probes the nonlinearity and moves $Q$ (compare $\sigma = 0.01$ and 1).
    * **k_p_fb** (reference setting) moves the fixed point towards the pseudoinverse: the
      best $\gamma$ falls from about 19 to 3.5 as $k_p$ goes from 0 to 1.
    """)
    return


@app.cell
def test_closed_form_is_the_fixed_point_of_the_expected_rule(J_mean, Q_star, alpha_fb, beta,
                                                            horizon):
    # Independent of the closed form's algebra: in the ideal setting the expected update is
    # J^T - Q (S_T + beta I), with S_T the time average over [0, T] of Sigma(t) / sigma^2,
    # dSigma/dt = -A Sigma - Sigma A^T + J J^T, Sigma(0) = 0, A = J Q + alpha I.  Here S_T
    # comes from the matrix exponential of that linear ODE (vectorised, Kronecker form).
    _n = J_mean.shape[0]
    _A = J_mean @ Q_star + alpha_fb.value * np.eye(_n)
    _L = -(np.kron(np.eye(_n), _A) + np.kron(_A, np.eye(_n)))
    _g = (J_mean @ J_mean.T).reshape(-1)
    _Linv_g = np.linalg.solve(_L, _g)
    _E = scipy.linalg.expm(_L * horizon)
    # Sigma(t) = L^{-1} (e^{L t} - I) g, so its average over [0, T] is
    # L^{-1} ((e^{L T} - I) L^{-1} g / T - g)
    _avg = np.linalg.solve(_L, (_E - np.eye(_n * _n)) @ _Linv_g / horizon - _g)
    _S = _avg.reshape(_n, _n)
    _residual = J_mean.T - Q_star @ (_S + beta.value * np.eye(_n))
    assert np.linalg.norm(_residual) <= 1e-8 * np.linalg.norm(J_mean), np.linalg.norm(
        _residual)
    return


@app.cell
def test_fitted_gamma_is_the_best_damped_pseudoinverse(J_mean, Q_star, fit_star):
    # The reported best gamma: the angle there (recomputed with a direct solve) is the
    # minimum over a fine independent grid, to the grid's resolution.
    def _angle(g):
        _P = J_mean.T @ np.linalg.inv(J_mean @ J_mean.T + g * np.eye(J_mean.shape[0]))
        _c = np.sum(_P * Q_star) / (np.linalg.norm(_P) * np.linalg.norm(Q_star))
        return np.degrees(np.arccos(np.clip(_c, -1, 1)))

    _grid = np.logspace(-6, 6, 241)
    _best = min(_angle(_g) for _g in _grid)
    if np.isfinite(fit_star.gamma):
        assert abs(_angle(fit_star.gamma) - fit_star.angle) <= 1e-6
    assert fit_star.angle <= _best + 1e-6, (fit_star.angle, _best)
    return


@app.cell
def test_learned_condition2_ratio(J_eval, Q_learned, fb_log):
    # The Condition-2 ratio shown for the learned Q, recomputed per input by projecting Q
    # on the row space of J (orthonormal basis from the SVD) and averaged.
    _ratios = []
    for _J in J_eval:
        _, _s, _vt = np.linalg.svd(_J)
        _V = _vt[: len(_s)].T
        _ratios.append(np.linalg.norm(_V @ (_V.T @ Q_learned)) / np.linalg.norm(Q_learned))
    assert abs(np.mean(_ratios) - fb_log.condition2[-1]) <= 1e-12
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. Why does the rule divide by $\sigma^2$?  What happens to the learned $Q$ of the linear
       network when you change $\sigma$ by a factor 100, and why?
    2. With the default settings, is the fixed point closer to $J^T$ or to $J^+$?  Which
       parameter would you change to get closer to the pseudoinverse?
    3. Set $\beta = 0.5$ and $\alpha_{fb} = 20$.  Compare the best $\gamma$ with
       $2\alpha\beta$.  Why does the approximation $\gamma \approx 2\alpha\beta$ need
       $2\alpha\beta$ larger than the eigenvalues of $JJ^T$?
    4. Shorten the sleep phase to 10 steps.  Which formula predicts the best $\gamma$ now?
    5. Every $Q^* = J^T h(JJ^T)$ satisfies Condition 2 and makes $JQ^*$ symmetric positive
       definite.  Why does that guarantee Condition 3 even with $\alpha = 0$?

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
