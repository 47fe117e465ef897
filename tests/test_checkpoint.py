"""Runs are never lost (dfc_theory._checkpoint and the two trainers that use it).

* the checkpoint file: atomic replacement (a failed or interrupted write leaves the previous
  file), signals held during a write, the resume / overwrite decisions, unreadable files;
* interrupt-then-resume equals an uninterrupted run, number for number (timings aside), for
  the NumPy training loop, the torch trainer and the seven trainings of Fig 3.  The
  interrupt is a real SIGINT (``signal.raise_signal``) raised right after the checkpoint of
  epoch k is written, so the run stops inside epoch k + 1 and loses it;
* a finished record is never replaced or downgraded by a rerun (the issue's first case: a
  complete record, an interrupted ``--overwrite`` rerun);
* a true subprocess of the torch command line stopped by SIGINT / SIGTERM: one line, exit
  status 128 + signal, the record marked interrupted, ``--resume`` completes it to the
  uninterrupted record.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dfc_theory import _checkpoint as ckpt
from dfc_theory._cli import DataError, Interrupted
from dfc_theory.datasets import student_teacher
from dfc_theory.training import fig3_config, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(sizes=(4, 5, 3, 2), n_train=48, n_val=16, n_test=16, batch_size=16, epochs=3,
             n_steps=60, n_steps_ssa=30, fb_pretrain_epochs=2, fb_extra_epochs=1,
             log_batches="all")


@pytest.fixture
def interrupt_after(monkeypatch):
    """``interrupt_after(k, signum, when)``: deliver ``signum`` to this process right after
    the checkpoint of epoch ``k`` is written (of the ``when(path)``-th run, default any)."""
    def arm(k, signum=signal.SIGINT, when=lambda path: True):
        real = ckpt.save

        def save(path, status, identity, state, arrays):
            out = real(path, status, identity, state, arrays)
            if state["epoch"] == k and status == "running" and when(path):
                monkeypatch.setattr(ckpt, "save", real)
                signal.raise_signal(signum)
            return out
        monkeypatch.setattr(ckpt, "save", save)
    return arm


# ---------------------------------------------------------------------------- the file
def test_atomic_write_keeps_the_old_file_on_failure_and_holds_signals(tmp_path):
    path = tmp_path / "f.bin"
    ckpt.atomic_write(path, lambda f: f.write(b"old"))

    def failing(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        ckpt.atomic_write(path, failing)
    assert path.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [path]

    def interrupted(f):              # Ctrl-C in the middle of a write: held until it is done
        f.write(b"new ")
        signal.raise_signal(signal.SIGINT)
        f.write(b"and complete")
    with pytest.raises(KeyboardInterrupt):
        ckpt.atomic_write(path, interrupted)
    assert path.read_bytes() == b"new and complete" and sorted(tmp_path.iterdir()) == [path]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):   # nested: held until the outer block is done
        with ckpt.deferred_signals():
            ckpt.atomic_write(path, interrupted)
            path.write_bytes(b"after the inner write")
    assert path.read_bytes() == b"after the inner write"


def test_start_decides_resume_overwrite_and_refuses_other_runs(tmp_path):
    path = tmp_path / "run.npz"
    ident = {"config": {"epochs": 3, "sizes": (2, 2)}, "seed": 0}
    assert ckpt.start(path, ident) is None                              # nothing there
    ckpt.save(path, "running", ident, {"epoch": 1}, {"W1": np.eye(2)})
    meta, arrays = ckpt.start(path, ident, resume=True)
    assert meta["state"] == {"epoch": 1} and np.array_equal(arrays["W1"], np.eye(2))
    with pytest.raises(ValueError, match=r"^resume: .*run.npz holds an unfinished run \(1 of "
                                         r"3 epochs done\)"):
        ckpt.start(path, ident)
    assert ckpt.start(path, ident, overwrite=True) is None
    other = {**ident, "seed": 1}
    with pytest.raises(ValueError, match="^checkpoint: .*holds another run"):
        ckpt.start(path, other, resume=True)
    assert ckpt.start(path, other, resume=True, overwrite=True) is None
    ckpt.save(path, "complete", ident, {"epoch": 3}, {})
    with pytest.raises(ValueError, match="holds a complete run"):
        ckpt.start(path, ident)
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="run.npz: not a readable checkpoint"):
        ckpt.start(path, ident, resume=True)


# ---------------------------------------------------------------------------- NumPy loop
@pytest.fixture(scope="module")
def data():
    return student_teacher(n_in=4, n_out=2, n_train=48, n_val=16, n_test=16,
                           hidden=(20, 20), seed=3)


def _same_log(a, b):
    """Every logged number, the parameters and Q equal bit for bit (timings aside)."""
    assert a.batch.keys() == b.batch.keys() and a.epoch.keys() == b.epoch.keys()
    for k in a.batch:
        np.testing.assert_array_equal(a.batch[k], b.batch[k], err_msg=k)
    for k in a.epoch:
        if not k.startswith("time"):
            np.testing.assert_array_equal(a.epoch[k], b.epoch[k], err_msg=k)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)
    assert (a.Q is None) == (b.Q is None)
    if a.Q is not None:
        np.testing.assert_array_equal(a.Q, b.Q)
    def meta(log):    # (the manifest: when and how fig3 trained)
        return {k: v for k, v in log.meta.items() if not k.startswith(("time", "manifest"))}
    assert meta(a) == meta(b)


@pytest.mark.parametrize("method, feedback, k", [("dfc", "trained", 1), ("dfc-ssa", "fixed", 0),
                                                 ("dfa", "fixed", 2)])
def test_numpy_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, data, method,
                                                                 feedback, k, interrupt_after):
    c = fig3_config(method, feedback, **SMALL)
    ref = train(c, seed=1, data=data, progress=False)
    path = tmp_path / "run.npz"
    interrupt_after(k)
    with pytest.raises(Interrupted, match=rf"interrupted after epoch {k} of 3: .*run.npz keeps "
                                          rf"it; resume=True continues") as exc:
        train(c, seed=1, data=data, progress=False, checkpoint=path)
    assert exc.value.signum == signal.SIGINT
    assert ckpt.load(path)[0]["state"]["epoch"] == k
    with pytest.raises(ValueError, match="^resume: "):          # no silent restart
        train(c, seed=1, data=data, progress=False, checkpoint=path)
    _same_log(ref, train(c, seed=1, data=data, progress=False, checkpoint=path, resume=True))
    # a complete checkpoint is returned as it is, without training
    assert ckpt.load(path)[0]["status"] == "complete"
    _same_log(ref, train(c, seed=1, data=data, progress=False, checkpoint=path, resume=True))
    # and a checkpoint of another seed or configuration is never resumed
    with pytest.raises(ValueError, match="^checkpoint: .*holds another run"):
        train(c, seed=2, data=data, progress=False, checkpoint=path, resume=True)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum=signum)


def test_numpy_sigterm_and_interrupt_during_pretraining(tmp_path, data, interrupt_after,
                                                        monkeypatch):
    c = fig3_config("dfc", "trained", **SMALL)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)   # as under a command line
    try:
        interrupt_after(2, signal.SIGTERM)
        with pytest.raises(Interrupted, match="after epoch 2 of 3") as exc:
            train(c, seed=0, data=data, progress=False, checkpoint=tmp_path / "a.npz")
        assert exc.value.signum == signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
    import dfc_theory._training_loop as loop

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(loop, "_train_feedback", ctrl_c)
    with pytest.raises(Interrupted, match="during the feedback pre-training .nothing saved"):
        train(c, seed=0, data=data, progress=False, checkpoint=tmp_path / "b.npz")
    assert not (tmp_path / "b.npz").exists()


# ---------------------------------------------------------------------------- fig3
TINY_FIG3 = dict(n_train=64, n_val=16, n_test=16, batch_size=32, fb_batch_size=32,
                 fb_pretrain_epochs=1, n_steps=20, n_steps_ssa=10, log_eig_samples=4,
                 log_batches="first")


def test_fig3_keeps_its_trainings_and_resumes_them(tmp_path, interrupt_after):
    from figures import fig3
    configs = fig3.preset_configs("quick", epochs=2, overrides=TINY_FIG3)
    ref = fig3.train_runs(configs, 0, tmp_path / "a", jobs=1)
    out = tmp_path / "b"
    names = list(configs)
    interrupt_after(1, when=lambda p: Path(p).name.startswith(names[2] + "-"))
    with pytest.raises(Interrupted, match="fig3 interrupted: 2 of 7 trainings complete, 1 "
                                          "more checkpointed at their last epoch"):
        fig3.run(out=out, jobs=1, epochs=2, overrides=TINY_FIG3)
    assert sorted(p.name for p in out.iterdir()) == ["fig3_runs"]    # no figure, no stage
    assert len(list((out / "fig3_runs").glob("*.npz"))) == 3
    res = fig3.run(out=out, jobs=1, epochs=2, overrides=TINY_FIG3)
    assert "(2 reused, 1 resumed from fig3_runs)" in res["summary"]
    for name in names:
        _same_log(ref[name], fig3._load_log(out / "fig3_logs", name))
    fig3.train_runs(configs, 0, out, jobs=1)
    manifest = json.loads((out / "fig3_logs" / "manifest.json").read_text())
    assert manifest["reused"] == names and manifest["resumed"] == []


# ---------------------------------------------------------------------------- torch
torch = pytest.importorskip("torch")
from dfc_theory.torch import records as rec  # noqa: E402
from dfc_theory.torch import train as ttrain  # noqa: E402

TINY = ["--method", "dfc-ssa", "--sizes", "784,16,10", "--n-train", "256", "--epochs", "3",
        "--log-every", "1", "--quiet", "--threads", "1", "--set", "fb_pretrain_epochs=1",
        "--set", "fb_optimizer=adam", "--set", "n_steps=30"]
RECORD = "mnist-subset_dfc-ssa_trained_e3_n256_w784-16-10_seed0.json"


def _numbers(path):
    """A record without what may differ between equal runs: timings, environment,
    resume provenance."""
    r = json.loads(Path(path).read_text())
    for k in ("environment", "resumed"):
        r.pop(k, None)
    for row in r["epochs"] + r["feedback"]:
        for k in ("seconds", "fb_seconds"):
            row.pop(k, None)
    for k in ("total_seconds", "mean_epoch_seconds"):
        r["summary"].pop(k)
    return r


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted record of TINY."""
    out = tmp_path_factory.mktemp("ref")
    assert ttrain.main([*TINY, "--out", str(out)]) == 0
    return _numbers(out / RECORD)


@pytest.mark.torch
def test_torch_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, reference,
                                                                 interrupt_after, capsys):
    interrupt_after(1)
    assert ttrain.main([*TINY, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m dfc_theory.torch: DFC-SSA seed 0 interrupted after "
                          "epoch 1 of 3: ") and "--resume continues it" in err, err
    r = json.loads((tmp_path / RECORD).read_text())
    assert r["summary"] == {"status": "interrupted", "epochs_done": 1}
    assert [e["epoch"] for e in r["epochs"]] == [0, 1] and len(r["alignment"]) == 2
    assert [f["when"] for f in r["feedback"]] == ["init", "pretrain", "epoch 1"]
    assert rec.load_records(tmp_path) == []                        # not complete
    assert ttrain.main([*TINY, "--out", str(tmp_path)]) == 2       # neither flag: refused
    assert "pass resume=True (--resume)" in capsys.readouterr().err
    assert ttrain.main([*TINY, "--out", str(tmp_path), "--resume"]) == 0
    assert _numbers(tmp_path / RECORD) == reference
    assert json.loads((tmp_path / RECORD).read_text())["resumed"][0]["after_epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD]   # checkpoint removed


@pytest.mark.torch
def test_ctrl_c_while_the_final_record_is_written_keeps_it_complete(tmp_path, monkeypatch,
                                                                   reference, capsys):
    real = rec.atomic_write

    def write(path, fn):
        def interrupted(f):
            signal.raise_signal(signal.SIGINT)
            fn(f)
        complete = json.loads(_bytes(fn)).get("summary", {}).get("status") == "complete"
        return real(path, interrupted if complete else fn)
    monkeypatch.setattr(rec, "atomic_write", write)
    assert ttrain.main([*TINY, "--out", str(tmp_path)]) == 130
    assert _one_line_err(capsys) == "python -m dfc_theory.torch: interrupted"
    assert _numbers(tmp_path / RECORD) == reference              # complete, not downgraded
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD]   # checkpoint removed


def _bytes(fn):
    import io
    buf = io.BytesIO()
    fn(buf)
    return buf.getvalue()


def _one_line_err(capsys):
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.torch
def test_torch_finished_record_is_never_replaced_or_downgraded(tmp_path, reference,
                                                               interrupt_after, capsys):
    assert ttrain.main([*TINY, "--out", str(tmp_path)]) == 0
    done = (tmp_path / RECORD).read_bytes()
    capsys.readouterr()
    assert ttrain.main([*TINY, "--out", str(tmp_path)]) == 0         # rerun: already complete
    out = capsys.readouterr()
    assert out.out.strip() == f"{tmp_path / RECORD}: already complete (--overwrite trains it " \
                              f"again)" and out.err == ""
    assert (tmp_path / RECORD).read_bytes() == done
    # the case: rerun over the complete record, Ctrl-C after epoch 1
    interrupt_after(1)
    assert ttrain.main([*TINY, "--out", str(tmp_path), "--overwrite"]) == 130
    assert "kept as it was (finished)" in capsys.readouterr().err
    assert (tmp_path / RECORD).read_bytes() == done
    assert ttrain.main([*TINY, "--out", str(tmp_path), "--overwrite", "--resume"]) == 0
    assert _numbers(tmp_path / RECORD) == reference
    assert (tmp_path / RECORD).read_bytes() != done                 # a new complete record
    # a finished record of another configuration under the same file name
    assert ttrain.main([*TINY, "--set", "lr=5e-4", "--out", str(tmp_path)]) == 2
    assert "holds the finished record of another configuration" in capsys.readouterr().err


SUB = ["--method", "dfa", "--sizes", "784,16,10", "--n-train", "256", "--epochs", "20",
       "--threads", "1"]


@pytest.fixture(scope="module")
def sub_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("sub")
    assert ttrain.main([*SUB, "--quiet", "--out", str(out)]) == 0
    return _numbers(next(out.glob("*.json")))


@pytest.mark.torch
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_a_running_trainer_then_resume(tmp_path, signum, sub_reference):
    """A true subprocess, signalled once it reports epoch 1 (of 20): one line, status
    128 + signal, the record marked interrupted; --resume completes it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "dfc_theory.torch", *SUB, "--out",
                             str(tmp_path)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "epoch 1/20" in line:
                proc.send_signal(signum)
                break
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    path = tmp_path / "mnist-subset_dfa_e20_n256_w784-16-10_seed0.json"
    r = json.loads(path.read_text())
    k = r["summary"]["epochs_done"]
    assert r["summary"]["status"] == "interrupted" and 1 <= k < 20, r["summary"]
    assert lines[0].startswith(f"python -m dfc_theory.torch: DFA seed 0 interrupted after "
                               f"epoch {k} of 20: ")
    assert ttrain.main([*SUB, "--quiet", "--out", str(tmp_path), "--resume"]) == 0
    assert _numbers(path) == sub_reference
