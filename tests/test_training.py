"""The student-teacher training loop (dfc_theory.training): step scaling and clipping, the
feedback schedule, logs (content, save/load), determinism and bad input."""
import numpy as np
import pytest

from dfc_theory import Network, feedback, loss_value
from dfc_theory.datasets import student_teacher
from dfc_theory import Update
from dfc_theory._training_loop import _descent_step
from dfc_theory.training import ABSCISSA_MATRICES, TrainingConfig, TrainingLog, fig3_config, train

SMALL = dict(sizes=(4, 5, 3, 2), n_train=48, n_val=16, n_test=16, batch_size=16, epochs=2,
             n_steps=200, n_steps_ssa=100, fb_pretrain_epochs=1, fb_extra_epochs=1)


@pytest.fixture(scope="module")
def data():
    return student_teacher(n_in=4, n_out=2, n_train=48, n_val=16, n_test=16,
                           hidden=(20, 20), seed=3)


def _cfg(method="dfc-ssa", fb="fixed", **kw):
    return fig3_config(method, fb, **{**SMALL, **kw})


# ----------------------------------------------------------------------- the step
def test_descent_step_scaling_and_per_tensor_clipping():
    c = _cfg(lr=0.05, lam=0.05, rule_scale=2.0, clip=1.0, clip_mode="per_tensor")
    upd = Update((np.full((2, 2), 0.1), np.full((1, 2), 3.0)), (np.zeros(2), np.ones(1)))
    step, gnorm = _descent_step(upd, c)
    lr_eff = 0.05 / 0.05
    # G = -2 * upd per tensor; W_1: norm 0.4 (kept), W_2: norm 2*3*sqrt(2) (clipped to 1),
    # b_1: 0, b_2: norm 2 (clipped to 1); the step is -lr_eff * G = +lr_eff * 2 * upd
    W1 = step[:4].reshape(2, 2)
    np.testing.assert_allclose(W1, lr_eff * 0.2, rtol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(step[6:8]), lr_eff * 1.0, rtol=1e-14)
    np.testing.assert_allclose(step[6:8], step[6], rtol=1e-15)   # direction kept
    np.testing.assert_allclose(step[8], lr_eff * 1.0, rtol=1e-15)
    expected = np.sqrt(0.4 ** 2 + (6 * np.sqrt(2)) ** 2 + 2.0 ** 2)
    np.testing.assert_allclose(gnorm, expected, rtol=1e-14)
    g = _descent_step(upd, c.replace(clip_mode="global"))[0]
    np.testing.assert_allclose(np.linalg.norm(g), lr_eff * 1.0, rtol=1e-14)
    np.testing.assert_allclose(g / np.linalg.norm(g), upd.vector() / upd.norm(), rtol=1e-13)
    g = _descent_step(upd, c.replace(clip=None, normalize_lr=False))[0]
    np.testing.assert_allclose(g, 0.05 * 2.0 * upd.vector(), rtol=1e-15)


def test_full_batch_bp_descends_the_training_loss(data):
    # batch = whole training set and a small step: gradient descent must lower the loss at
    # every epoch (a sign or scaling error in the step would break this)
    c = _cfg("bp", batch_size=48, epochs=5, lr=0.5, clip=None)
    log = train(c, seed=0, data=data, progress=False)
    losses = log.epoch["train_loss"]
    assert np.all(np.diff(losses) < 0)
    # and the recorded loss is the mean-reduced MSE of the final network
    net = Network(log.weights, log.biases)
    np.testing.assert_allclose(losses[-1], loss_value(net.forward(data.x_train).r[-1],
                                                      data.y_train, reduction="mean"),
                               rtol=1e-12)


# ----------------------------------------------------------------------- the logs
def test_log_contents_and_shapes(data):
    log = train(_cfg("dfc-ssa", "fixed"), seed=0, data=data, progress=False)
    assert len(log.epoch["epoch"]) == 3 and list(log.epoch["epoch"]) == [0, 1, 2]
    assert list(log.batch["batch"]) == [0, 0]            # first batch of every epoch
    for k in ("loss", "angle_bp", "angle_gn", "angle_mn", "angle_ssa", "cond1_std",
              "cond1_ref", "cond2", "abscissa", "converged", "diverged", "angle_mn_l3",
              "normdev_r0", "epoch_frac") + tuple(f"abs_{m}" for m in ABSCISSA_MATRICES):
        assert k in log.batch, k
        assert log.batch[k].shape == (2,)
    # DFC-SSA against itself: arccos(1 - k eps) ~ sqrt(2 k eps) rad, < 1e-5 degrees
    assert np.all(log.batch["angle_ssa"] < 1e-5)
    assert np.all((log.batch["cond2"] > 0) & (log.batch["cond2"] <= 1 + 1e-12))
    assert np.all(log.batch["abscissa"] < 0)             # a stable controller
    # the main abscissa is A_PI's for the "total" leak
    np.testing.assert_array_equal(log.batch["abscissa"], log.batch["abs_A_PI"])
    # A_tilde_I and A_I are the same system in two coordinate systems
    np.testing.assert_allclose(log.batch["abs_A_I"], log.batch["abs_A_tilde_I"], atol=1e-9)
    all_rows = train(_cfg("dfc-ssa", "fixed", log_batches="all"), seed=0, data=data,
                     progress=False)
    assert list(all_rows.batch["batch"]) == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(all_rows.batch["epoch_frac"], [0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3])


def test_save_load_roundtrip_and_missing_log(tmp_path, data):
    log = train(_cfg("dfa"), seed=1, data=data, progress=False)
    log.save(tmp_path, "run")
    for f in ("run.npz", "run_batches.csv", "run_epochs.csv"):
        assert (tmp_path / f).exists()
    back = TrainingLog.load(tmp_path, "run")
    assert back.config == log.config
    for k in log.batch:
        np.testing.assert_array_equal(back.batch[k], log.batch[k])
    for k in log.epoch:
        np.testing.assert_array_equal(back.epoch[k], log.epoch[k])
    for a, b in zip(back.weights, log.weights):
        np.testing.assert_array_equal(a, b)
    header = (tmp_path / "run_batches.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["epoch", "batch", "step"]
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        TrainingLog.load(tmp_path, "nothere")


def test_same_seed_same_log_and_dfa_has_no_controller_metrics(data):
    a = train(_cfg("dfa"), seed=5, data=data, progress=False)
    b = train(_cfg("dfa"), seed=5, data=data, progress=False)
    for k in a.batch:
        np.testing.assert_array_equal(a.batch[k], b.batch[k])
    assert np.all(np.isnan(a.batch["abscissa"])) and np.all(np.isnan(a.batch["angle_ssa"]))
    assert np.all(np.isfinite(a.batch["cond2"]))   # of the stacked DFA feedback [B; I]


# ----------------------------------------------------------------------- feedback kinds
def test_fixed_feedback_initial_is_frozen_and_recompute_tracks_the_weights(data):
    init = Network.random((4, 5, 3, 2), seed=int(np.random.SeedSequence(0).spawn(4)[0]
                                                 .generate_state(1)[0]))
    frozen = train(_cfg("dfc-ssa", "fixed"), seed=0, data=data, progress=False)
    np.testing.assert_array_equal(frozen.Q, feedback.weight_product(init))
    rec = train(_cfg("dfc-ssa", "fixed", fixed_mode="recompute"), seed=0, data=data,
                progress=False)
    final = Network(rec.weights, rec.biases)
    np.testing.assert_array_equal(rec.Q, feedback.weight_product(final))
    assert not np.allclose(rec.Q, frozen.Q)


def test_trained_feedback_is_pretrained_and_updated_during_training(data):
    c = _cfg("dfc", "trained", n_steps=100)
    log = train(c, seed=0, data=data, progress=False)
    assert log.Q is not None and np.all(np.isfinite(log.Q))
    assert log.epoch["time_feedback"][0] > 0 and np.all(log.epoch["time_feedback"][1:] > 0)
    assert np.all(log.epoch["fb_failed"] == 0)
    assert np.all(log.epoch["samples"][1:] == 48)
    assert np.all(log.epoch["converged"][1:] + log.epoch["diverged"][1:] <= 48)
    # no feedback learning -> the same run with a frozen random Q differs
    no_fb = train(c.replace(fb_pretrain_epochs=0, fb_epochs_per_epoch=0, fb_extra_epochs=0),
                  seed=0, data=data, progress=False)
    assert not np.allclose(no_fb.Q, log.Q)


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize("changes,match", [
    (dict(method="dfc-foo"), "method"),
    (dict(feedback="learned"), "feedback"),
    (dict(fixed_mode="sometimes"), "fixed_mode"),
    (dict(rule="hebb"), "rule"),
    (dict(dt=0.2), "dt"),
    (dict(dt_fb=0.02), "dt_fb"),
    (dict(log_batches=0), "log_batches"),
    (dict(epochs=0), "epochs"),
    (dict(clip_mode="layer"), "clip_mode"),
    (dict(alpha=-1.0), "alpha"),
])
def test_bad_config_names_the_argument(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainingConfig(**changes)


def test_bad_data_and_config_types(data):
    with pytest.raises(ValueError, match="data"):
        train(_cfg(sizes=(3, 5, 2)), data=data, progress=False)
    with pytest.raises(TypeError, match="config"):
        train({"method": "dfc"}, data=data)


# ----------------------------------------------------------------------- figures (smoke)
TINY_FIG = dict(fb_pretrain_epochs=5, n_steps=100, n_steps_ssa=50, n_val=32, n_test=32,
                log_eig_samples=8, log_batches=1)


def test_fig3_and_figS1_smoke(tmp_path):
    from figures import fig3, figS1
    res = fig3.run(preset="quick", out=tmp_path, seed=0, jobs=1, epochs=2, n_train=256,
                   overrides=TINY_FIG)
    for f in ("fig3.png", "fig3.pdf", "fig3_data.npz", "fig3_summary.json",
              "fig3_logs/manifest.json", "fig3_logs/dfc-ss_fixed.npz",
              "fig3_logs/dfa_batches.csv"):
        assert (tmp_path / f).exists(), f
    assert "Fig 3 (quick preset)" in res["summary"]
    names = [c["name"] for c in res["checks"]]
    assert any("Condition-2" in n for n in names) and any("stable" in n for n in names)
    again = fig3.run(preset="quick", out=tmp_path, redraw=True)
    assert [c["measured"] for c in again["checks"]] == [c["measured"] for c in res["checks"]]
    s1 = figS1.run(preset="quick", out=tmp_path, seed=0, epochs=2, n_train=256,
                   overrides=TINY_FIG)
    assert s1["source"] == "reused fig3's training logs"
    assert (tmp_path / "figS1.png").exists() and (tmp_path / "figS1.pdf").exists()
    assert s1["checks"][0]["passed"]          # A_I and A_tilde_I: the same spectrum


def test_figures_bad_input(tmp_path):
    from figures import fig3, figS1
    with pytest.raises(ValueError, match="preset"):
        fig3.run(preset="full", out=tmp_path)
    with pytest.raises(FileNotFoundError, match="fig3_logs"):
        fig3.run(preset="quick", out=tmp_path, redraw=True)
    with pytest.raises(FileNotFoundError, match="fig3_logs"):
        figS1.run(preset="quick", out=tmp_path, redraw=True)
    with pytest.raises(SystemExit, match="unknown option"):
        fig3.parse_options(["--frobnicate"])
    assert fig3.parse_options(["--redraw", "--jobs", "1"]) == {"redraw": True, "jobs": 1}
