import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 03: which feedback weights work?")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure

    import dfc_theory as dfc

    from lesson_tools import show


@app.function
def unit_flat(Q):
    """Feedback matrices (..., N, n_L) scaled to unit Frobenius norm and flattened."""
    Q = np.asarray(Q)
    flat = Q.reshape(Q.shape[:-2] + (-1,))
    return flat / np.linalg.norm(flat, axis=-1, keepdims=True)


@app.cell
def intro():
    mo.md(r"""
    # 3 · Which feedback weights work?

    The controller reaches layer $i$ through $Q_i$.  At rest the change of the network's
    pre-activations is $\Delta v = Q(JQ + \alpha I)^{-1}\delta_L$ (Lemma 1).  If the columns
    of $Q$ span the same space as the rows of $J$ (**Condition 2**), then
    $Q(JQ)^{-1} = J^+$ exactly, so as $\alpha \to 0$ the network changes by the
    *minimum-norm* $\Delta v = J^+\delta_L$: the smallest change of all neurons that moves
    the output by $\delta_L$.  This is what makes DFC a Gauss-Newton-like method.

    **Learning goals**

    * recognise feedback matrices that satisfy Condition 2 ($J^T$, $J^+$, the damped
      pseudoinverses $J^T(JJ^T+\gamma I)^{-1}$, any $J^T M$) and one that does not (a random
      Gaussian $Q$);
    * see in the paper's Fig 2 how much wider the family allowed by Conditions 2 and 3 is
      than the three classical choices;
    * watch $\Delta v \to J^+\delta_L$ as $\alpha \to 0$: the error shrinks like $\alpha$
      under Condition 2 and stalls without it;
    * meet Condition 3 (every eigenvalue of $JQ$ has real part $> -\alpha$), needed for the
      controller to settle at all.

    **References:** THEORY.md section 4 (Condition 2, Condition 3, the identity
    $Q(JQ)^{-1} = J^+$) and section 8 (Fig 2); the paper's Condition 2, Fig 2, Theorem 6 (for
    the learned $Q$).

    **Set-up (Fig 2).** A 5-2-2 tanh network, one random input; $J$ is $2 \times 4$.  The
    grey cloud: 2000 matrices $Q = J^T P$ with Gaussian $P$, kept when every eigenvalue of
    $JQ$ has a non-negative real part; all matrices are scaled to unit norm, flattened and
    projected on the two principal components of the whole collection.
    """)
    return


@app.cell
def network():
    net = dfc.Network.random([5, 2, 2], activation="tanh", seed=4)
    x = np.random.default_rng(5).uniform(-1.0, 1.0, 5)
    J = net.jacobian(x)
    r_ff = net.forward(x).output
    target = dfc.output_target(r_ff, np.array([1.0, -1.0]), 0.01)
    delta = target - r_ff
    return J, delta, net, r_ff, target, x


@app.cell
def cloud(J):
    _rng = np.random.default_rng(0)
    _Q = J.T[None] @ _rng.standard_normal((8000, 2, 2))
    _ok = np.all(np.linalg.eigvals(J[None] @ _Q).real >= 0, axis=1)
    cloud_Q = _Q[_ok][:2000]
    gammas = np.logspace(-5, 2, 100)
    damped_family = dfc.feedback_learning.damped_pinv_family(J, gammas)
    classics = np.stack([np.linalg.pinv(J), J.T])
    _all = unit_flat(np.concatenate([cloud_Q, damped_family, classics]))
    pca_mean = _all.mean(axis=0)
    _, _, _vt = np.linalg.svd(_all - pca_mean, full_matrices=False)
    pca_axes = _vt[:2]
    cloud_xy = (unit_flat(cloud_Q) - pca_mean) @ pca_axes.T
    family_xy = (unit_flat(damped_family) - pca_mean) @ pca_axes.T
    classics_xy = (unit_flat(classics) - pca_mean) @ pca_axes.T
    return classics_xy, cloud_Q, cloud_xy, family_xy, pca_axes, pca_mean


@app.cell
def controls():
    q_kind = mo.ui.dropdown(
        ["J^T", "J^+", "damped pseudoinverse", "random J^T M", "random Gaussian",
         "learned (sleep phase)"], value="damped pseudoinverse", label="feedback Q")
    gamma = mo.ui.slider(steps=[0.001, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0], value=1.0,
                         label="damping gamma", show_value=True)
    seed = mo.ui.slider(0, 9, step=1, value=0, label="random seed", show_value=True)
    mo.vstack([mo.md("### Controls"), mo.hstack([q_kind, gamma, seed], justify="start"),
               mo.md("*gamma* acts on the damped pseudoinverse, *seed* on the random ones.")])
    return gamma, q_kind, seed


@app.cell
def choose_q(J, gamma, net, q_kind, seed, x):
    if q_kind.value == "J^T":
        Q = J.T.copy()
    elif q_kind.value == "J^+":
        Q = dfc.feedback.pseudoinverse(net, x)
    elif q_kind.value == "damped pseudoinverse":
        Q = dfc.feedback.damped_pseudoinverse(net, x, gamma.value)
    elif q_kind.value == "random J^T M":
        Q = dfc.feedback.random_condition2(net, x, seed=seed.value)
    elif q_kind.value == "random Gaussian":
        Q = dfc.feedback.random_gaussian(net, seed=seed.value)
    else:
        # the fixed point of the sleep-phase rule (Theorem 6), our closed form for
        # alpha_fb = 1, beta = 0.1 and long sleep phases
        Q = dfc.feedback_learning.closed_form_feedback(J, 1.0, 0.1)
    ratio = float(dfc.condition2_ratio(J, Q))
    eig_JQ = np.linalg.eigvals(J @ Q)
    return Q, eig_JQ, ratio


@app.cell
def alpha_limit(J, Q, delta, net, target, x):
    alphas = np.logspace(-6, 0, 25)
    dv_pinv = np.linalg.pinv(J) @ delta
    errors = np.empty(len(alphas))
    for _k, _a in enumerate(alphas):
        _system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=_a, k_p=0.0, leak="total"))
        _ssa = dfc.steady_state(_system, x, target, method="ssa")
        errors[_k] = np.linalg.norm(_ssa.delta_v - dv_pinv) / np.linalg.norm(dv_pinv)
    return alphas, dv_pinv, errors


@app.cell
def plot_feedback(Q, alphas, classics_xy, cloud_xy, eig_JQ, errors, family_xy, pca_axes,
                  pca_mean, q_kind):
    fig_feedback = Figure(figsize=(10, 3.3))
    fig_feedback.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.9, wspace=0.3)
    ax_pca, ax_lim, ax_eig = fig_feedback.subplots(1, 3)
    ax_pca.scatter(cloud_xy[:, 0], cloud_xy[:, 1], s=2, color="0.75", label="Conditions 2+3")
    ax_pca.plot(family_xy[:, 0], family_xy[:, 1], color="C2", lw=2, label="damped pinv")
    ax_pca.plot(*classics_xy[0], "o", color="C0", label="J^+")
    ax_pca.plot(*classics_xy[1], "s", color="C1", label="J^T")
    here_xy = (unit_flat(Q) - pca_mean) @ pca_axes.T
    ax_pca.plot(*here_xy, "*", color="C3", ms=14, label="your Q")
    ax_pca.set_title("Fig 2: unit-norm Q, 2 principal components", fontsize=10)
    ax_pca.legend(fontsize=7, loc="lower left")
    ax_lim.loglog(alphas, np.maximum(errors, 1e-17), "o-", ms=3, color="C3")
    ax_lim.loglog(alphas, errors[-1] * alphas / alphas[-1], "k--", lw=1, label="slope 1")
    ax_lim.set_xlabel("alpha")
    ax_lim.set_title("|dv - J^+ delta| / |J^+ delta|", fontsize=10)
    ax_lim.legend(fontsize=8)
    ax_eig.axvspan(min(eig_JQ.real.min(), 0) - 1, 0, color="C3", alpha=0.08)
    ax_eig.axvline(0, color="k", lw=0.8)
    ax_eig.plot(eig_JQ.real, eig_JQ.imag, "x", color="C3", ms=10, mew=2)
    ax_eig.set_xlim(min(eig_JQ.real.min(), 0) - 0.5, max(eig_JQ.real.max(), 0) + 0.5)
    ax_eig.set_ylim(-max(1, np.abs(eig_JQ.imag).max() * 1.3),
                    max(1, np.abs(eig_JQ.imag).max() * 1.3))
    ax_eig.set_xlabel("Re")
    ax_eig.set_ylabel("Im")
    ax_eig.set_title("eigenvalues of JQ (shaded: Re < 0)", fontsize=10)
    show(fig_feedback)
    return (fig_feedback,)


@app.cell
def readout(J, Q, eig_JQ, errors, q_kind, ratio):
    _cos = lambda A, B: np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B))  # noqa: E731
    _deg = lambda A, B: np.degrees(np.arccos(np.clip(_cos(A, B), -1, 1)))  # noqa: E731
    _c3 = eig_JQ.real.min() > 0
    _verdict = mo.callout(mo.md(
        "**Condition 3 fails for small alpha:** an eigenvalue of JQ has a negative real "
        "part, so for alpha below " f"{-eig_JQ.real.min():.3f}" " the controller diverges "
        "instead of settling (the formula for dv is then the rest point of an unstable "
        "system)."), kind="warn") if not _c3 else mo.md("")
    mo.vstack([_verdict, mo.md(f"""
    | {q_kind.value} | value |
    |---|---|
    | Condition-2 ratio ‖P_J Q‖ / ‖Q‖ | {ratio:.12f} |
    | angle with J^T / with J^+ (degrees) | {_deg(Q, J.T):.2f} / {_deg(Q, np.linalg.pinv(J)):.2f} |
    | eigenvalues of JQ | {", ".join(f"{z.real:.3f}{z.imag:+.3f}i" for z in eig_JQ)} |
    | relative error of dv at alpha = 1e-6 | {errors[0]:.2e} |
    """)])
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **Left:** $J^T$ and $J^+$ are two points and the damped pseudoinverses a curve between
      them (move *gamma*: small gamma sits at $J^+$, large gamma at $J^T$).  The grey cloud of
      matrices that satisfy Conditions 2 and 3 is far wider: feedback learning only needs to
      land somewhere in it.
    * **Middle:** for every $Q$ with Condition-2 ratio 1 the error falls on the slope-1 line:
      $\Delta v = J^+\delta_L + O(\alpha)$.  A random Gaussian $Q$ (ratio < 1) leaves an error
      that no $\alpha$ removes: the network changes in directions that do not move the
      output.
    * **Right:** $J^T$, $J^+$ and the damped family make $JQ$ symmetric positive definite
      (real positive eigenvalues).  $J^T M$ gives complex or even negative eigenvalues
      (the cloud keeps only those with non-negative real parts); a random Gaussian $Q$ may
      violate Condition 3.
    """)
    return


@app.cell
def test_condition2_ratio_matches_projection(J, Q, ratio):
    # Independent: project Q on the row space of J with an orthonormal basis from the SVD.
    _, _s, _vt = np.linalg.svd(J)
    _V = _vt[: int(np.sum(_s > 1e-12 * _s[0]))].T
    assert abs(ratio - np.linalg.norm(_V @ (_V.T @ Q)) / np.linalg.norm(Q)) <= 1e-12
    return


@app.cell
def test_alpha_to_zero_limit(J, Q, alphas, delta, dv_pinv, errors):
    # Condition 2 (checked independently): dv = J^+ delta + O(alpha), a log-log slope of 1
    # over alpha in [1e-6, 1e-4].  Without it: the error tends to the alpha = 0 value
    # |Q (JQ)^{-1} delta - J^+ delta| / |J^+ delta|, computed here directly.
    _, _s, _vt = np.linalg.svd(J)
    _V = _vt[:2].T
    _condition2 = np.linalg.norm(_V @ (_V.T @ Q)) / np.linalg.norm(Q) > 1 - 1e-9
    _small = alphas <= 1e-4
    if _condition2:
        _slope = np.polyfit(np.log(alphas[_small]), np.log(errors[_small]), 1)[0]
        assert abs(_slope - 1) <= 0.05, _slope
    else:
        _limit = np.linalg.norm(Q @ np.linalg.solve(J @ Q, delta) - dv_pinv)
        _limit /= np.linalg.norm(dv_pinv)
        assert abs(errors[0] - _limit) <= 1e-3 * _limit, (errors[0], _limit)
    return


@app.cell
def test_cloud_satisfies_conditions_2_and_3(J, cloud_Q):
    # Every grey point: column space of Q in the row space of J, and Re eig(JQ) >= 0.
    _, _s, _vt = np.linalg.svd(J)
    _V = _vt[:2].T
    _ratios = np.linalg.norm(_V @ (_V.T @ cloud_Q), axis=(1, 2)) / np.linalg.norm(
        cloud_Q, axis=(1, 2))
    assert len(cloud_Q) == 2000
    assert np.all(np.abs(_ratios - 1) <= 1e-12)
    assert np.all(np.linalg.eigvals(J @ cloud_Q).real >= 0)
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. Choose $J^+$ and then $J^T$.  Both satisfy Condition 2; why is only one of them the
       pseudoinverse, and why does it not matter as $\alpha \to 0$?
    2. Move *gamma* from 0.001 to 100 with the damped pseudoinverse.  Where does the star
       travel in the left plot, and why does the middle plot not change its slope?
    3. Pick *random Gaussian*.  What is its Condition-2 ratio, and what does the middle plot
       show as $\alpha \to 0$?  Which part of $\Delta v$ is "wasted"?
    4. Try several seeds of *random J^T M*.  Do the eigenvalues of $JQ$ stay real?  Why does
       the cloud only keep matrices with non-negative real parts?
    5. The learned $Q$ (the fixed point of the sleep phase) lies in the cloud.  Is it close
       to $J^T$, to $J^+$, or to a damped pseudoinverse?  (Demo 6 explores why.)

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
