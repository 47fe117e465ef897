import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="DFC 07: training a network with DFC")

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure

    import dfc_theory as dfc

    from lesson_tools import show


@app.cell
def intro():
    mo.md(r"""
    # 7 · Training a network with DFC

    The previous lessons looked at one update.  Here a small student network learns a
    teacher's function with four rules side by side (the paper's Fig 3 in miniature):

    * **DFC** simulates the controlled dynamics and averages the plasticity rule over time;
    * **DFC-SSA** skips the simulation and uses the linearised steady state (Lemma 1);
    * **BP**, backpropagation, the reference;
    * **DFA**, direct feedback alignment: fixed random feedback, no controller.

    Between forward epochs, DFC and DFC-SSA learn their feedback weights in sleep phases
    (Lesson 6), or keep the "fixed" weight-product feedback.

    **Learning goals**

    * compare the very first update of each rule with backpropagation and with Gauss-Newton
      (the damped GN update, as in the paper's Fig 3D);
    * see all four rules reduce the loss, and follow their alignment during training;
    * see DFC and DFC-SSA make almost the same updates (Lemma 1 at work in training);
    * watch the Condition-2 ratio of the feedback during training.

    **References:** THEORY.md sections 6 (learning rules, training schedule), 7 (metrics)
    and 8 (Fig 3); the paper's Section 5 and Fig 3.

    **Set-up.** The paper's teacher (4 ReLU layers of 1000 units), 1000 training and 500
    test samples, a 15-10-10-5 tanh student, the paper's Fig 3 settings (lambda 0.05 by
    default, k_p 1.5, alpha 0.0015, SGD with clipping, batch size 32 instead of 128) but
    only a few epochs, feedback pre-training shortened to 10 epochs at a 5x rate, and DFC
    simulated with dt = 0.02 for 250 steps (the paper: dt = 0.005, 1000 steps).  A run takes
    a few seconds; the paper's 300-epoch figure is `python -m figures fig3`.
    """)
    return


@app.function
def miniature(method, feedback="trained", epochs=4, lam=0.05):
    """The paper's Fig 3 configuration in miniature (see the set-up above)."""
    return dfc.fig3_config(method, feedback=feedback, n_train=1000, n_val=100, n_test=500,
                           epochs=epochs, batch_size=32, lam=lam, fb_pretrain_epochs=10,
                           fb_batch_size=32, lr_fb_init=0.5, dt=0.02, n_steps=250,
                           n_steps_ssa=100)


@app.cell
def data():
    dataset = dfc.datasets.student_teacher(n_train=1000, n_val=100, n_test=500, seed=42)
    methods = ("dfc-ssa", "dfc", "bp", "dfa")
    return dataset, methods


@app.cell
def first_update_setup(dataset):
    # one untrained student, its feedback weights (fixed: the weight product; trained: the
    # sleep phase of the training runs from a random start, 10 epochs on the first 500
    # inputs, i.e. 160 updates where a training run makes 320), DFA's matrices and one
    # minibatch
    student = dfc.Network.random([15, 10, 10, 5], activation="tanh", seed=0)
    _cfg = miniature("dfc-ssa")
    _fb = dfc.training.feedback_config(_cfg)
    _Q0 = dfc.training.xavier_feedback(student, seed=1)
    Q_trained, _ = dfc.train_feedback(student, _Q0, dataset.x_train[:500], _fb,
                                      epochs=_cfg.fb_pretrain_epochs, batch_size=32, seed=2,
                                      log_every=10**9)
    feedbacks = {"trained": Q_trained, "fixed": dfc.fixed_feedback(student)}
    dfa_matrices = dfc.dfa_feedback(student, seed=3)
    batch_x, batch_y = dataset.x_train[:32], dataset.y_train[:32]
    return batch_x, batch_y, dfa_matrices, feedbacks, student


@app.cell
def plot_task(dataset):
    _student = dfc.Network.random([15, 10, 10, 5], activation="tanh", seed=0)
    _before = _student.forward(dataset.x_test).output
    fig_task = Figure(figsize=(10, 2.8))
    fig_task.subplots_adjust(left=0.06, right=0.99, bottom=0.18, top=0.88, wspace=0.25)
    for _k, _ax in enumerate(fig_task.subplots(1, 3)):
        _ax.scatter(dataset.y_test[:, _k], _before[:, _k], s=4, color="0.5")
        _ax.set_xlabel(f"teacher output {_k + 1}")
        _ax.set_ylabel("an untrained student")
    fig_task.suptitle("the task: 5 teacher outputs (3 shown) of a 15-dimensional input; "
                      "an untrained student is far off", fontsize=10)
    show(fig_task)
    return (fig_task,)


@app.cell
def controls():
    epochs = mo.ui.slider(1, 6, step=1, value=4, label="epochs", show_value=True)
    feedback_kind = mo.ui.dropdown(["trained", "fixed"], value="trained",
                                   label="DFC feedback")
    lam = mo.ui.slider(steps=[0.01, 0.05, 0.2], value=0.05, label="target stepsize lambda",
                       show_value=True)
    mo.vstack([mo.md("### Controls"), mo.hstack([epochs, feedback_kind, lam],
                                                justify="start")])
    return epochs, feedback_kind, lam


@app.cell
def first_update(batch_x, batch_y, dfa_matrices, feedback_kind, feedbacks, lam, methods,
                 student):
    _cfg = miniature("dfc", feedback=feedback_kind.value, lam=lam.value)
    _target = dfc.output_target(student.forward(batch_x).output, batch_y, lam.value,
                                reduction=_cfg.reduction)
    _delta = _target - student.forward(batch_x).output
    _refs = {"BP": dfc.gauss_newton.bp_update(student, batch_x, _delta),
             "damped GN": dfc.gauss_newton.gn_update(student, batch_x, _delta,
                                                    gamma=_cfg.gn_damping)}
    first_angles = {}
    for _m in methods:
        _res = dfc.forward_update(student, batch_x, _target, _m,
                                  Q=feedbacks[feedback_kind.value],
                                  controller=_cfg.controller(), rule=_cfg.rule, dt=_cfg.dt,
                                  n_steps=_cfg.n_steps, dfa_feedback=dfa_matrices)
        first_angles[_m] = {k: dfc.angle(_res.update, r) for k, r in _refs.items()}
    return (first_angles,)


@app.cell
def plot_first_update(feedback_kind, first_angles, lam):
    fig_first = Figure(figsize=(10, 2.6))
    fig_first.subplots_adjust(left=0.07, right=0.8, bottom=0.12, top=0.86)
    _ax = fig_first.subplots()
    _names = list(first_angles)
    for _k, _ref in enumerate(("BP", "damped GN")):
        _ax.bar(np.arange(len(_names)) + (_k - 0.5) * 0.38,
                [first_angles[_m][_ref] for _m in _names], 0.38, label=f"angle with {_ref}")
    _ax.set_xticks(np.arange(len(_names)), [n.upper() for n in _names])
    _ax.set_ylabel("degrees")
    _ax.set_title(f"the first update on one batch (lambda = {lam.value:g}, "
                  f"{feedback_kind.value} feedback)", fontsize=10)
    _ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    show(fig_first)
    return (fig_first,)


@app.cell
def run_controls():
    train_button = mo.ui.run_button(label="Train all four (a few seconds)")
    train_button
    return (train_button,)


@app.cell
def train_all(dataset, epochs, feedback_kind, lam, methods, train_button):
    mo.stop(not train_button.value,
            mo.md("*Press the button to train DFC-SSA, DFC, BP and DFA.*"))
    logs = {}
    for _m in mo.status.progress_bar(methods, title="training"):
        _cfg = miniature(_m, feedback=feedback_kind.value, epochs=epochs.value, lam=lam.value)
        logs[_m] = dfc.train(_cfg, seed=0, data=dataset, progress=False)
    return (logs,)


@app.cell
def plot_training(logs):
    fig_training = Figure(figsize=(10, 3.2))
    fig_training.subplots_adjust(left=0.06, right=0.99, bottom=0.16, top=0.9, wspace=0.3)
    ax_loss, ax_gn, ax_c2 = fig_training.subplots(1, 3)
    for _m, _log in logs.items():
        _label = _log.label
        ax_loss.semilogy(_log.epoch["epoch"], _log.epoch["test_loss"], "o-", ms=3,
                         label=_label)
        ax_gn.plot(_log.batch["epoch"], _log.batch["angle_gn"], "o-", ms=3, label=_label)
        if np.all(np.isfinite(_log.batch["cond2"])):
            ax_c2.plot(_log.batch["epoch"], _log.batch["cond2"], "o-", ms=3, label=_label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title("test loss (mean squared error)", fontsize=10)
    ax_loss.legend(fontsize=8)
    ax_gn.set_xlabel("epoch")
    ax_gn.set_ylabel("degrees")
    ax_gn.set_title("angle with the damped Gauss-Newton update", fontsize=10)
    ax_c2.set_xlabel("epoch")
    ax_c2.set_title("Condition-2 ratio of the feedback", fontsize=10)
    ax_c2.legend(fontsize=8)
    show(fig_training)
    return (fig_training,)


@app.cell
def readout(logs):
    _rows = []
    for _m, _log in logs.items():
        _b = _log.batch
        _rows.append(
            f"| {_log.label} | {_log.epoch['test_loss'][0]:.1f} -> "
            f"{_log.epoch['test_loss'][-1]:.1f} | {np.nanmean(_b['angle_bp']):.1f} | "
            f"{np.nanmean(_b['angle_gn']):.1f} | "
            + (f"{np.nanmean(_b['angle_ssa']):.2f}" if np.any(np.isfinite(_b["angle_ssa"]))
               else "-") + " |")
    mo.md("| method | test loss | angle with BP | with GN | with DFC-SSA |\n"
          "|---|---|---|---|---|\n" + "\n".join(_rows) +
          "\n\nAngles in degrees, averaged over the logged batches (first batch of every "
          "epoch).")
    return


@app.cell
def look_for():
    mo.md(r"""
    ### What to look for

    * **First update:** DFC and DFC-SSA are tens of degrees away from BP but closer to
      Gauss-Newton; DFA is far from both.  A larger lambda barely changes the picture
      (the rules are linear in the teaching signal to first order).
    * **Loss:** all four rules learn.  In this miniature BP and DFA are fastest; the paper's
      point is not speed but *what* the DFC update is.
    * **Gauss-Newton:** DFC and DFC-SSA make updates that differ from BP's gradient by tens
      of degrees, by design: they approximate a Gauss-Newton step instead.  Over the 300
      epochs of the paper, trained feedback keeps the alignment best.
    * **DFC vs DFC-SSA:** the last column (angle between the simulated DFC update and its
      linearisation, on the same network) stays at a degree or two.
    * **Condition 2:** pre-training lifts the ratio of the trained feedback well above a
      random start; the fixed weight-product feedback starts near 1 and drifts as the
      forward weights change.
    """)
    return


@app.cell
def test_reported_test_loss_matches_an_independent_forward_pass(dataset, logs):
    # Rebuild each trained student from its final weights and evaluate the test loss with
    # plain numpy (tanh hidden layers, linear output, mean squared error).
    for _m, _log in logs.items():
        _r = dataset.x_test
        for _i, (_W, _b) in enumerate(zip(_log.weights, _log.biases)):
            _v = _r @ _W.T + _b
            _r = _v if _i == len(_log.weights) - 1 else np.tanh(_v)
        _loss = np.mean((dataset.y_test - _r) ** 2)
        assert abs(_loss - _log.epoch["test_loss"][-1]) <= 1e-10 * _loss, (_m, _loss)
    return


@app.cell
def test_every_rule_learns(logs):
    # Every rule is a descent method at these settings: the final test loss is below the
    # initial one (same student initialisation for all four).
    _initial = {_m: _log.epoch["test_loss"][0] for _m, _log in logs.items()}
    assert len(set(np.round(list(_initial.values()), 10))) == 1, _initial
    for _m, _log in logs.items():
        assert _log.epoch["test_loss"][-1] < _log.epoch["test_loss"][0], _m
    return


@app.cell
def questions():
    mo.md(r"""
    ### Questions

    1. Which rule reduces the loss fastest here, and why is that not an argument against
       DFC?
    2. Compare the angle with Gauss-Newton of DFC-SSA and DFA.  Which feedback pathway
       explains the difference?
    3. DFC simulates the dynamics for 250 steps per batch, DFC-SSA solves one linear system.
       The last column shows how different their updates are.  What does that say about
       Lemma 1 during training?
    4. Switch the feedback to *fixed*.  How do the Condition-2 ratio and the alignment
       change within these few epochs?  What does the paper report after 300 epochs?
    5. Raise lambda to 0.2.  Which quantity in the table reacts most, and why?

    Answers: `demos/README.md`.
    """)
    return


if __name__ == "__main__":
    app.run()
