import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 04: from control to Gauss-Newton")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure

    import dfc_theory as dfc
    from dfc_theory import gauss_newton

    from lesson_tools import show


@app.function
def make_q(kind, net, x):
    """Feedback weights of the chosen kind for the network at input x."""
    if kind == "J^T":
        return dfc.feedback.jacobian_transpose(net, x)
    if kind == "J^+":
        return dfc.feedback.pseudoinverse(net, x)
    if kind == "damped pseudoinverse (gamma 0.1)":
        return dfc.feedback.damped_pseudoinverse(net, x, 0.1)
    if kind == "random J^T M":
        return dfc.feedback.random_condition2(net, x, seed=0)
    if kind == "weight product (fixed)":
        return dfc.feedback.weight_product(net)
    return dfc.feedback.random_gaussian(net, seed=0)


@app.function
def dfc_update(net, Q, x, y, alpha, lam):
    """The steady-state DFC update Delta W_i = (v_i - v_i^ff) r_{i-1}^T at the exact (Newton)
    steady state (weights only), the output error delta_L and that steady state."""
    r_ff = net.forward(x).output
    target = dfc.output_target(r_ff, y, lam)
    system = dfc.DFCSystem(net, Q, dfc.Controller(alpha=alpha, k_p=0.0, leak="total"))
    ss = dfc.steady_state(system, x, target, method="newton")
    update = dfc.rule_at_state(net, x, ss.v, ss.v_ff, "voltage", include_bias=False)
    return update, target - r_ff, ss


@app.cell
def intro():
    mo.md(r"""
    # 4 · From control to Gauss-Newton

    At rest, DFC changes every weight by $\Delta W_i = \eta\,(v_i - v_i^{ff})\,r_{i-1}^T$: the
    push of the controller on neuron $i$ times its input.  Which optimisation method is that?

    * **Theorem 3** (Condition 2, $\lambda, \alpha \to 0$): layer by layer, the update is
      the solution of $\min \sum_i \|r_{i-1}\|^2 \|\Delta W_i\|_F^2$ subject to the
      linearised output reaching its target: a *weighted minimum-norm* update, whose weights
      are the squared layer norms $\|r_{i-1}\|^2$.
    * **Theorem 2** (Conditions 1 and 2): if all layer norms are equal (**Condition 1**),
      the weights are equal and the update is the *Gauss-Newton* step on the weights,
      $\Delta\theta = J_\theta^+\delta_L$.
    * **Proposition 4** (any stable $Q$): with per-layer learning rates
      $\eta_i = \eta/\|r_{i-1}\|^2$ the update lies within 90 degrees of the negative
      gradient (the backpropagation update): it always goes downhill.

    **Learning goals:** read these three statements off one bar chart of angles, and find
    the switch that breaks each of them.

    **References:** THEORY.md section 4 (Condition 1, Theorems 2 and 3, Proposition 4) and
    section 7 (angles); the paper's Theorems 2 and 3 and Proposition 4.

    **Set-up.** A 4-6-6-3 tanh network, one input, squared-error loss; the update is
    computed at the exact steady state (Newton), weights only (the theorems are about
    weights).  Condition 1 is imposed by rescaling the hidden weights so that
    $\|r_0\| = \|r_1\| = \|r_2\|$ (`dfc.rescale_to_condition1`).
    """)
    return


@app.cell
def controls():
    condition1 = mo.ui.switch(value=True, label="impose Condition 1 (equal layer norms)")
    q_kind = mo.ui.dropdown(["J^T", "J^+", "damped pseudoinverse (gamma 0.1)",
                             "random J^T M", "weight product (fixed)", "random Gaussian"],
                            value="J^T", label="feedback Q")
    per_layer = mo.ui.switch(value=False, label="per-layer rates eta_i = eta / |r_(i-1)|^2")
    alpha = mo.ui.slider(steps=[1e-4, 1e-3, 1e-2, 1e-1], value=1e-3, label="leak alpha",
                         show_value=True)
    lam = mo.ui.slider(steps=[1e-4, 1e-3, 1e-2, 1e-1], value=1e-3,
                       label="target stepsize lambda", show_value=True)
    mo.vstack([mo.md("### Controls"), mo.hstack([condition1, per_layer], justify="start"),
               mo.hstack([q_kind, alpha, lam], justify="start")])
    return alpha, condition1, lam, per_layer, q_kind


@app.cell
def network(condition1):
    _base = dfc.Network.random([4, 6, 6, 3], activation="tanh", seed=7)
    x = np.random.default_rng(8).uniform(-1.0, 1.0, 4)
    y = np.array([1.0, -1.0, 0.5])
    net = dfc.rescale_to_condition1(_base, x) if condition1.value else _base
    norms2 = np.array([np.sum(r * r) for r in net.forward(x).r[:-1]])   # |r_{i-1}|^2
    return net, norms2, x, y


@app.cell
def updates(alpha, lam, net, norms2, per_layer, q_kind, x, y):
    Q = make_q(q_kind.value, net, x)
    update, delta, ss = dfc_update(net, Q, x, y, alpha.value, lam.value)
    if per_layer.value:
        update = update.scaled(1.0 / norms2)
    references = {
        "Gauss-Newton": gauss_newton.gn_update(net, x, delta, include_bias=False),
        "weighted min-norm (Thm 3)": gauss_newton.weighted_min_norm_update(net, x, delta),
        "backprop (-gradient)": gauss_newton.bp_update(net, x, delta, include_bias=False),
    }
    angles = {name: (dfc.layer_angles(update, ref, with_bias=False),
                     dfc.angle(update, ref, with_bias=False))
              for name, ref in references.items()}
    J = net.jacobian(x)
    ratio = float(dfc.condition2_ratio(J, Q))
    min_re = float(np.linalg.eigvals(J @ Q).real.min())
    return J, Q, angles, delta, min_re, ratio, references, ss, update


@app.cell
def plot_angles(angles, condition1, per_layer, q_kind):
    fig_angles = Figure(figsize=(9, 3.3))
    fig_angles.subplots_adjust(left=0.1, right=0.72, bottom=0.12, top=0.9)
    ax = fig_angles.subplots()
    groups = ["layer 1", "layer 2", "layer 3", "all layers"]
    width = 0.26
    for k, (name, (per, total)) in enumerate(angles.items()):
        values = np.maximum(np.append(per, total), 1e-4)
        ax.bar(np.arange(4) + (k - 1) * width, values, width, label=name)
    ax.axhline(90, color="k", ls=":", lw=1)
    ax.text(3.45, 90, "90 deg", va="bottom", ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 300)
    ax.set_xticks(np.arange(4), groups)
    ax.set_ylabel("angle with the DFC update (deg)")
    ax.set_title(f"Q = {q_kind.value}; Condition 1 {'on' if condition1.value else 'off'}; "
                 f"per-layer rates {'on' if per_layer.value else 'off'}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    show(fig_angles)
    return (fig_angles,)


@app.cell
def readout(alpha, angles, min_re, net, ratio, x):
    _c1 = float(dfc.condition1_deviation(net, x)[0])
    _stable = min_re > -alpha.value
    _rows = "\n".join(f"| {name} | {', '.join(f'{a:.3g}' for a in per)} | {total:.3g} |"
                      for name, (per, total) in angles.items())
    _warn = mo.callout(mo.md(
        f"**Condition 3 fails:** min Re eig(JQ) = {min_re:.3f} < -alpha.  The rest point "
        "exists (Newton finds it) but the controller would never settle there, so none of the "
        "theorems applies."), kind="warn") if not _stable else mo.md("")
    mo.vstack([_warn, mo.md(f"""
    Condition-1 deviation std/mean of the layer norms: **{_c1:.3g}** ·
    Condition-2 ratio: **{ratio:.6f}** · min Re eig(JQ): **{min_re:.3f}**

    | angle (degrees) with | layers 1, 2, 3 | all layers |
    |---|---|---|
    {_rows}
    """)])
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **Theorem 3:** with any Condition-2 feedback ($J^T$, $J^+$, damped, $J^T M$) the
      per-layer angles with the weighted minimum-norm update are small, and shrink tenfold
      when $\alpha$ and $\lambda$ shrink tenfold.  The weight product and a random Gaussian
      $Q$ violate Condition 2 and stay off.
    * **Theorem 2:** with Condition 1 *on*, Gauss-Newton and the weighted minimum-norm
      update coincide and the DFC update matches both.  Switch Condition 1 *off*: every layer
      stays aligned with the weighted minimum-norm update (Theorem 3 needs no Condition 1),
      but the concatenated update turns away from it (layers weighted by
      $\|r_{i-1}\|^2$), and Gauss-Newton, which now spreads the change differently over the
      layers, is tens of degrees away in every layer.  Per-layer rates undo the weighting
      for the minimum-norm reference, not for Gauss-Newton.
    * **Proposition 4:** with a stable $Q$ the angle with the backpropagation update stays
      below 90 degrees.  The random Gaussian $Q$ violates Condition 3 (see the warning):
      there the update points uphill in some layers.
    """)
    return


@app.cell
def test_gauss_newton_reference_is_the_dense_pseudoinverse(delta, net, references, x):
    # Independent: minimum-norm solution of J_theta dtheta = delta_L by dense least squares
    # on the network's weight Jacobian, bias columns removed (theta = [vec W_1, b_1, ...]).
    _J_theta = net.weight_jacobian(x)
    _keep = np.concatenate([np.r_[np.ones(_w.size, bool), np.zeros(_w.shape[0], bool)]
                            for _w in net.weights])
    _dtheta = np.linalg.lstsq(_J_theta[:, _keep], delta, rcond=None)[0]
    _got = references["Gauss-Newton"].vector(with_bias=False)
    assert np.allclose(_got, _dtheta, rtol=1e-9, atol=1e-12 * np.abs(_dtheta).max())
    return


@app.cell
def test_weighted_min_norm_reference(delta, net, norms2, references, x):
    # Independent: min sum_i |r_{i-1}|^2 |dW_i|^2 s.t. J_theta dW = delta_L, solved as the
    # minimum-norm problem in z = D^{1/2} dW (D = |r_{i-1}|^2 on the weights of layer i).
    _J_theta = net.weight_jacobian(x)
    _keep = np.concatenate([np.r_[np.ones(_w.size, bool), np.zeros(_w.shape[0], bool)]
                            for _w in net.weights])
    _d = np.concatenate([np.full(_w.size, _n2) for _w, _n2 in zip(net.weights, norms2)])
    _z = np.linalg.lstsq(_J_theta[:, _keep] / np.sqrt(_d), delta, rcond=None)[0]
    _got = references["weighted min-norm (Thm 3)"].vector(with_bias=False)
    assert np.allclose(_got, _z / np.sqrt(_d), rtol=1e-9, atol=1e-12 * np.abs(_z).max())
    return


@app.cell
def test_theorem3_first_order(J, Q, alpha, angles, lam, min_re, net, ss, x, y):
    # The steady state is exact (residual of an independent forward pass), and under
    # Conditions 2 and 3 the per-layer angle with the weighted minimum-norm update shown in
    # the chart is O(alpha + lambda): ten times smaller parameters give an angle at least
    # five times smaller.
    _target = dfc.output_target(net.forward(x).output, y, lam.value)
    _r_L = net.forward(x, delta=Q @ ss.u).output
    assert np.linalg.norm(alpha.value * ss.u - _target + _r_L) <= 1e-10 * max(
        1.0, np.linalg.norm(_target))
    _, _s, _vt = np.linalg.svd(J)
    _V = _vt[: len(_s)].T
    _condition2 = np.linalg.norm(_V @ (_V.T @ Q)) / np.linalg.norm(Q) > 1 - 1e-9
    if _condition2 and min_re > -alpha.value:
        _here = np.max(angles["weighted min-norm (Thm 3)"][0])
        _upd10, _delta10, _ = dfc_update(net, Q, x, y, alpha.value / 10, lam.value / 10)
        _mn10 = gauss_newton.weighted_min_norm_update(net, x, _delta10)
        _there = np.max(dfc.layer_angles(_upd10, _mn10, with_bias=False))
        assert _there <= _here / 5 or _here < 1e-6, (_here, _there)
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. With $Q = J^T$ and Condition 1 on, divide $\alpha$ and $\lambda$ by ten.  By how much
       do the angles shrink?  What does that tell you about the order of the error?
    2. Turn Condition 1 off.  Which angles stay small and which grow?  Explain with the
       weights $\|r_{i-1}\|^2$ of Theorem 3.
    3. Still without Condition 1, switch the per-layer rates on.  Which reference does the
       update align with now, and why not with Gauss-Newton?
    4. Choose the weight product (the paper's "fixed" feedback).  Its Condition-2 ratio is
       close to, but not exactly, 1.  What happens to the angles as $\alpha, \lambda \to 0$?
    5. Choose the random Gaussian $Q$ with $\alpha = 0.1$ and with $\alpha = 10^{-4}$.  Why
       may the update point uphill (angle with backprop above 90 degrees)?

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
