"""Probe the project's command lines with bad input and classify every outcome.

    python scripts/probe_cli.py [--repo PATH] [--only figures,table1,train,verification]
        [--json FILE] [--timeout S] [--list]

Runs each case below as a subprocess (``PYTHONPATH=<repo>``, a fresh temporary folder as
working directory, set up by the case) and sorts the outcome into

* ``clear``: the expected exit status (2 bad usage, 1 bad data), no traceback, one line;
* ``clear, multi-line``: the expected status and no traceback, but more than one line
  (argparse's usage dump);
* ``wrong status``: no traceback, but an exit status other than the expected one;
* ``traceback``: a Python traceback on the terminal;
* ``wrong success``: exit status 0 where an error was due (or, for ``table1``, a malformed
  record that entered the table or was dropped without a warning);
* ``skipped with warning``: (``table1`` only, the expected outcome) exit status 0, one
  warning line naming the malformed record, the table written with the good record;
* ``timeout``.

``--repo`` points at another checkout (e.g. a ``git worktree`` of an older commit) to get
the "before" table of the same cases.  The case lists are also used in-process by
``tests/test_cli_errors.py``.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRACEBACK = "Traceback (most recent call last)"
SCHEMA = "dfc-theory/run-record/1"
#: test error of the good record of the table1 cases, and of every malformed one (which
#: must never reach the table)
GOOD_VALUE, BAD_VALUE = 2.7, 55.55


@dataclass
class Case:
    """One probe: ``cli`` (figures, table1, train, verification), a name, the arguments
    after the module (``{tmp}`` = the case's folder), a ``setup(tmp)`` that makes its
    files, and the expected exit status (2 usage, 1 data, 0 for table1's skip cases)."""

    cli: str
    name: str
    argv: list
    expect: int
    setup: object = None
    notes: dict = field(default_factory=dict)

    def args(self, tmp):
        return [a.format(tmp=tmp) for a in self.argv]


# ---------------------------------------------------------------------------- set-ups
def _file(rel, content=b"not a folder\n"):
    def setup(tmp):
        p = Path(tmp) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return setup


def _folder(rel):
    def setup(tmp):
        (Path(tmp) / rel).mkdir(parents=True, exist_ok=True)
    return setup


def _read_only(rel):
    """A folder nobody may write in: mode 555 and, for root (who ignores the mode), the
    immutable attribute (``chattr +i``) where the file system has it."""
    def setup(tmp):
        p = Path(tmp) / rel
        p.mkdir(parents=True, exist_ok=True)
        p.chmod(0o555)
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(p)], capture_output=True, check=False)
    return setup


def _release(tmp):
    """Undo :func:`_read_only` below ``tmp`` so that it can be removed."""
    for p in Path(tmp).rglob("*"):
        if p.is_dir() and not p.is_symlink():
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(p)], capture_output=True, check=False)
            with contextlib.suppress(OSError):
                p.chmod(0o755)


def read_only_works(tmp):
    """Whether :func:`_read_only` really stops writes here (False e.g. for root without
    chattr)."""
    _read_only("ro-check")(tmp)
    try:
        (Path(tmp) / "ro-check" / "x").write_text("x")
        return False
    except OSError:
        return True
    finally:
        _release(tmp)
        shutil.rmtree(Path(tmp) / "ro-check", ignore_errors=True)


def _fig3_logs(manifest=None, raw=None):
    def setup(tmp):
        d = Path(tmp) / "out" / "fig3_logs"
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(raw if raw is not None else json.dumps(manifest))
    return setup


def _chain(*setups):
    def setup(tmp):
        for s in setups:
            s(tmp)
    return setup


# ---------------------------------------------------------------------------- IDX files
def idx_bytes(arr, code=0x08):
    arr = np.asarray(arr)
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(n).to_bytes(4, "big")
                                                      for n in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


IDX = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
       "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def _idx_set(n_train=300, n_test=50, gz=False, **override):
    """An MNIST-format folder ``{tmp}/data``; ``override``: file key -> bytes, or a
    function of the well-formed bytes."""
    def setup(tmp):
        rng = np.random.default_rng(0)
        files = {"train_images": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
                 "train_labels": idx_bytes(rng.integers(0, 10, n_train)),
                 "test_images": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
                 "test_labels": idx_bytes(rng.integers(0, 10, n_test))}
        d = Path(tmp) / "data"
        d.mkdir(parents=True, exist_ok=True)
        for key, raw in files.items():
            stem = IDX[key] + (".gz" if gz else "")
            if gz:
                raw = gzip.compress(raw, mtime=0)
            o = override.get(key)
            raw = o(raw) if callable(o) else (raw if o is None else o)
            (d / stem).write_bytes(raw)
    return setup


# ---------------------------------------------------------------------------- records
def record(dataset="mnist", method="dfa", feedback=None, seed=0, test=GOOD_VALUE,
           train_loss=1e-3):
    """A complete run record with the fields Table 1 reads."""
    return {"schema": SCHEMA, "seed": seed,
            "config": {"dataset": dataset, "method": method, "feedback": feedback,
                       "epochs": 1},
            "data": {"reduced": True}, "epochs": [],
            "summary": {"status": "complete", "test_metric_at_best_val": test,
                        "final_train_loss": train_loss, "reduced_data": True,
                        "epochs_done": 1}}


def _bad(**changes):
    """A record with BAD_VALUE as its test error, then ``changes`` applied: a dotted key
    set to a value, or to ``DELETE``."""
    r = record(method="bp", test=BAD_VALUE)
    for key, v in changes.items():
        *path, last = key.split("__")
        d = r
        for k in path:
            d = d[k]
        if v is DELETE:
            del d[last]
        else:
            d[last] = v
    return json.dumps(r).encode()


DELETE = object()
_truncated = json.dumps(record(method="bp", test=BAD_VALUE), indent=1).encode()
MALFORMED_RECORDS = {
    "not JSON": b"this is not JSON {",
    "truncated file": _truncated[:len(_truncated) // 2],
    "empty file": b"",
    "top level a list": json.dumps([record(method="bp", test=BAD_VALUE)]).encode(),
    "not UTF-8": b"\xff\xfe\x00garbage",
    "config missing": _bad(config=DELETE),
    "config not an object": _bad(config="bp"),
    "summary metric missing": _bad(summary__test_metric_at_best_val=DELETE),
    "summary metric a string": _bad(summary__test_metric_at_best_val="2.3%"),
    "test error > 100 %": _bad(summary__test_metric_at_best_val=1e300),
    "seed a string": _bad(seed="zero"),
    "unknown method": _bad(config__method="sgd"),
    "unknown dataset": _bad(config__dataset="cifar10"),
    "epochs_done a string": _bad(summary__epochs_done="all"),
}


def _runs_with(bad):
    def setup(tmp):
        d = Path(tmp) / "runs"
        d.mkdir()
        (d / "good.json").write_text(json.dumps(record()))
        (d / "bad.json").write_bytes(bad)
    return setup


# ---------------------------------------------------------------------------- cases
def figure_cases():
    out = ["--out", "{tmp}/out"]
    small = ["--samples", "50"]
    return [
        Case("figures", "no arguments", [], 2),
        Case("figures", "unknown figure", ["fig9"], 2),
        Case("figures", "--preset fast", ["fig2", "--preset", "fast", *small, *out], 2),
        Case("figures", "--seed -1", ["fig2", "--seed", "-1", *small, *out], 2),
        Case("figures", "--seed x", ["fig2", "--seed", "x", *small, *out], 2),
        Case("figures", "--out a file", ["fig2", *small, "--out", "{tmp}/file"], 2,
             _file("file")),
        Case("figures", "--out read-only", ["fig2", *small, "--out", "{tmp}/ro/out"], 2,
             _read_only("ro"), notes={"read_only": True}),
        Case("figures", "--out inside a file", ["fig2", *small, "--out", "{tmp}/file/out"],
             2, _file("file")),
        Case("figures", "fig3 --redraw without a manifest", ["fig3", "--redraw", *out], 1,
             _folder("out")),
        Case("figures", "fig3 --redraw, manifest not JSON", ["fig3", "--redraw", *out], 1,
             _fig3_logs(raw="{oops")),
        Case("figures", "fig3 --redraw, manifest names a missing log",
             ["fig3", "--redraw", *out], 1,
             _fig3_logs({"seed": 0, "runs": ["dfc"], "wall_time_s": 1.0, "jobs": 1})),
        Case("figures", "fig3 --jobs 0", ["fig3", "--jobs", "0", "--redraw", *out], 2),
        Case("figures", "fig2 --samples (no value)", ["fig2", "--samples", *out], 2),
        Case("figures", "fig2 --samples x", ["fig2", "--samples", "x", *out], 2),
        Case("figures", "fig2 --samples 0", ["fig2", "--samples", "0", *out], 2),
        Case("figures", "fig2 --bogus", ["fig2", "--bogus", *out], 2),
        Case("figures", "fig1d --epochs 0", ["fig1d", "--epochs", "0", *out], 2),
        Case("figures", "figS2 --updates 0", ["figS2", "--updates", "0", *out], 2),
        Case("figures", "figS4 --activation relu", ["figS4", "--activation", "relu", *out], 2),
        Case("figures", "stability --grid 1", ["stability", "--grid", "1", *out], 2),
        Case("figures", "all --bogus", ["all", "--bogus", *out], 2),
        Case("figures", "table1 --runs missing", ["table1", "--runs", "{tmp}/none", *out], 1),
        Case("figures", "table1 --runs a file", ["table1", "--runs", "{tmp}/file", *out], 2,
             _file("file")),
        Case("figures", "table1 --epochs 0", ["table1", "--epochs", "0", *out], 2),
        Case("figures", "table1 --datasets cifar",
             ["table1", "--datasets", "cifar", "--epochs", "1", "--runs", "{tmp}/runs",
              *out], 2),
    ]


def table1_cases():
    return [Case("table1", name, ["table1", "--runs", "{tmp}/runs", "--out", "{tmp}/out"], 0,
                 _runs_with(bad)) for name, bad in MALFORMED_RECORDS.items()]


def train_cases():
    base = ["--method", "bp", "--epochs", "1", "--sizes", "784,8,10", "--quiet"]
    out = ["--out", "{tmp}/runs"]
    data = ["--data-dir", "{tmp}/data"]
    tiny = ["--n-train", "64"]
    cases = [
        Case("train", "no arguments", [], 2),
        Case("train", "--method sgd", ["--method", "sgd", *out], 2),
        Case("train", "--epochs 0", [*base, "--epochs", "0", *out], 2),
        Case("train", "--epochs x", [*base, "--epochs", "x", *out], 2),
        Case("train", "--seeds 0", [*base, "--seeds", "0", *out], 2),
        Case("train", "--seed-start -1", [*base, *tiny, "--seed-start", "-1", *out], 2),
        Case("train", "--dataset cifar", [*base, "--dataset", "cifar", *out], 2),
        Case("train", "--device bogus", [*base, "--device", "bogus", *out], 2),
        Case("train", "--dtype float16", [*base, "--dtype", "float16", *out], 2),
        Case("train", "--threads -1", [*base, *tiny, "--threads", "-1", *out], 2),
        Case("train", "--n-train 0", [*base, "--n-train", "0", *out], 2),
        Case("train", "--sizes 784,10,5", [*base, "--sizes", "784,10,5", *out], 2),
        Case("train", "--sizes abc", [*base, "--sizes", "abc", *out], 2),
        Case("train", "--set lr=abc", [*base, "--set", "lr=abc", *out], 2),
        Case("train", "--set bogus=1", [*base, "--set", "bogus=1", *out], 2),
        Case("train", "--set lr (no value)", [*base, "--set", "lr", *out], 2),
        Case("train", "--log-every -1", [*base, "--log-every", "-1", *out], 2),
        Case("train", "--out a file", [*base, *tiny, "--out", "{tmp}/file"], 2, _file("file")),
        Case("train", "fashion_mnist without --data-dir",
             [*base, "--dataset", "fashion_mnist", *out], 2),
        Case("train", "--data-dir missing", [*base, *data, *out], 1),
        Case("train", "--data-dir a file", [*base, *data, *out], 1, _file("data")),
        Case("train", "--data-dir empty", [*base, *data, *out], 1, _folder("data")),
    ]
    rng = np.random.default_rng(1)
    bad_data = {
        "non-gzip .gz": _idx_set(gz=True, train_images=b"plain text, not gzip"),
        "truncated .gz": _idx_set(gz=True, train_images=lambda raw: raw[:len(raw) // 2]),
        "200-image set (empty training split)": _idx_set(n_train=200),
        "label count mismatch (test 50 images, 49 labels)":
            _idx_set(test_labels=idx_bytes(rng.integers(0, 10, 49))),
        "labels 0-255": _idx_set(train_labels=idx_bytes(np.arange(300) % 256)),
        "10,300 images with 10,200 labels":
            _idx_set(n_train=10300, train_labels=idx_bytes(rng.integers(0, 10, 10200))),
        "bad magic number": _idx_set(train_images=b"\x08\x03" + bytes(200)),
        "20x20 images": _idx_set(train_images=idx_bytes(np.zeros((300, 20, 20)))),
        "truncated plain file": _idx_set(train_images=lambda raw: raw[:-100]),
    }
    cases += [Case("train", name, [*base, *data, *out], 1, setup)
              for name, setup in bad_data.items()]
    return cases


def verification_cases():
    only = ["--only", "identities"]
    return [
        Case("verification", "--bogus", ["--bogus"], 2),
        Case("verification", "--only nosuch", ["--only", "nosuch"], 2),
        Case("verification", "--only (no name)", ["--only"], 2),
        Case("verification", "--seed x", ["--seed", "x"], 2),
        Case("verification", "--quick --full", ["--quick", "--full"], 2),
        Case("verification", "--seed -1", [*only, "--seed", "-1", "--out", "{tmp}/r"], 2),
        Case("verification", "--out a file", [*only, "--out", "{tmp}/file"], 2, _file("file")),
        Case("verification", "--out read-only", [*only, "--out", "{tmp}/ro/r"], 2,
             _read_only("ro"), notes={"read_only": True}),
    ]


def all_cases():
    return figure_cases() + table1_cases() + train_cases() + verification_cases()


# ---------------------------------------------------------------------------- running
def module_argv(cli, repo):
    """The ``-m`` part of the command line of ``cli`` in checkout ``repo``."""
    if cli in ("figures", "table1"):
        return ["-m", "figures"]
    if cli == "verification":
        return ["-m", "verification"]
    torch_main = Path(repo) / "dfc_theory" / "torch" / "__main__.py"
    return ["-m", "dfc_theory.torch" if torch_main.exists() else "dfc_theory.torch.train"]


def error_lines(text):
    """Non-empty lines of stderr that are not progress or notes."""
    return [ln for ln in text.splitlines() if ln.strip()]


def classify(case, rc, out, err, tmp):
    """The outcome class (module docstring) and the one line that says why."""
    text = out + err
    lines = error_lines(err)
    last = lines[-1] if lines else (out.strip().splitlines() or [""])[-1]
    if rc is None:
        return "timeout", last
    if TRACEBACK in text:
        return "traceback", last
    if case.cli == "table1":
        md = Path(tmp) / "out" / "table1.md"
        table = md.read_text() if md.exists() else ""
        warned = [ln for ln in lines if "bad.json" in ln]
        if rc != 0:
            return ("wrong status", last)
        if f"{BAD_VALUE}" in table:
            return "wrong success", "the malformed record entered the table"
        if f"{GOOD_VALUE:.2f} (n=1)" not in table:
            return "wrong success", "the good record is missing from the table"
        if len(warned) != 1:
            return "wrong success", f"{len(warned)} warning lines name the malformed record"
        return "skipped with warning", warned[0]
    if rc == 0:
        return "wrong success", last
    if rc != case.expect:
        return "wrong status", last
    return ("clear" if len(lines) == 1 else "clear, multi-line"), last


def run_case(case, repo, timeout):
    tmp = tempfile.mkdtemp(prefix="probe-")
    try:
        if case.setup is not None:
            case.setup(tmp)
        env = dict(os.environ, PYTHONPATH=str(repo), MPLBACKEND="Agg",
                   OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        env.pop("DFC_RUNS", None)
        cmd = [sys.executable, *module_argv(case.cli, repo), *case.args(tmp)]
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                               timeout=timeout)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out, err = None, exc.stdout or "", exc.stderr or ""
            out = out.decode() if isinstance(out, bytes) else out
            err = err.decode() if isinstance(err, bytes) else err
        outcome, why = classify(case, rc, out, err, tmp)
        return {"cli": case.cli, "case": case.name, "expect": case.expect, "rc": rc,
                "outcome": outcome, "message": why.replace(tmp, "{tmp}"),
                "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        _release(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


GOOD = ("clear", "skipped with warning")
COLUMNS = ("clear", "skipped with warning", "clear, multi-line", "wrong status",
           "traceback", "wrong success", "timeout")


def summary_table(results):
    """Markdown: outcome counts per command line."""
    clis = list(dict.fromkeys(r["cli"] for r in results))
    head = "| command line | cases | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---|---|" + "---|" * len(COLUMNS)]
    for cli in clis:
        rs = [r for r in results if r["cli"] == cli]
        counts = [sum(r["outcome"] == c for r in rs) for c in COLUMNS]
        lines.append(f"| {cli} | {len(rs)} | " + " | ".join(map(str, counts)) + " |")
    return "\n".join(lines)


def case_table(results, only_bad=False):
    lines = ["| command line | case | expected | exit | outcome | message |",
             "|---|---|---|---|---|---|"]
    for r in results:
        if only_bad and r["outcome"] in GOOD:
            continue
        msg = r["message"].replace("|", "/")
        msg = msg if len(msg) <= 110 else msg[:107] + "..."
        lines.append(f"| {r['cli']} | {r['case']} | {r['expect']} | {r['rc']} | "
                     f"{r['outcome']} | {msg} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python scripts/probe_cli.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=str(HERE.parent), help="checkout to probe")
    p.add_argument("--only", default=None, help="comma-separated: figures,table1,train,"
                                                 "verification")
    p.add_argument("--json", default=None, help="write the results to this file")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    p.add_argument("--list", action="store_true", help="list the cases and stop")
    args = p.parse_args(argv)
    cases = all_cases()
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c.cli in keep]
    if args.list:
        for c in cases:
            print(f"{c.cli:13s} {c.name:45s} expect {c.expect}  {' '.join(c.argv)}")
        return 0
    repo = Path(args.repo).resolve()
    with tempfile.TemporaryDirectory() as t:
        if not read_only_works(t):
            print("note: read-only folders cannot be made here; those cases are skipped",
                  file=sys.stderr)
            cases = [c for c in cases if not c.notes.get("read_only")]
    results = []
    for k, case in enumerate(cases, 1):
        r = run_case(case, repo, args.timeout)
        results.append(r)
        print(f"[{k}/{len(cases)}] {case.cli} | {case.name}: {r['outcome']} (exit {r['rc']}, "
              f"{r['seconds']} s)", file=sys.stderr, flush=True)
    print(summary_table(results))
    print()
    print(case_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
