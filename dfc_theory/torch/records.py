"""Run records of full-scale training: one JSON file per (dataset, method, feedback, seed).

A record holds everything needed to judge a run later (``verification/fullscale.py``) and to
build Table 1 (``figures/table1.py``) without the machine that produced it:

* ``schema``: :data:`SCHEMA`;
* ``config``: every setting of :class:`dfc_theory.torch.train.FullScaleConfig`;
* ``environment``: Python/torch/NumPy versions, device name, dtype, thread count, platform,
  git commit of the checkout (when available);
* ``data``: name, source, split sizes, ``reduced`` (True for the offline 5000-digit subset
  or a truncated training set);
* ``epochs``: per epoch (index 0 = before training) train/val/test loss and error (the
  autoencoder's "error" is its per-pixel MSE), timings, convergence counts;
* ``alignment``: per logged batch the columns of
  :func:`dfc_theory._training_log.alignment_row` (``angle_bp``, ``angle_gn``, ``angle_mn``,
  ``angle_ssa``, per layer ``angle_<ref>_l<i>``, ``cond1_std``/``cond1_ref``), ``cond2``;
  ``angle_ssa_exact`` (DFC-SSA vs the exact Newton steady-state update); ``abscissa`` (of
  the full linearised dynamics at the exact steady state) and ``abscissa_inst``
  (-(J_ss Q + alpha I), Condition 3); ``descent_frac`` (Proposition 4: fraction of samples
  with delta_L^T J Delta v > 0); ``converged``/``diverged``/``samples``;
* ``feedback``: Q metrics after pre-training and after every epoch (trained feedback);
* ``summary``: best validation epoch, test error/loss there, final train loss, status.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from .._checkpoint import _plain, atomic_write
from .._cli import data_errors
from .._methods import DFC_METHODS
from .._methods import run_label as label  # the table label: "BP", "DFC (fixed)"...

__all__ = ["SCHEMA", "RUNS_ENV", "PAPER_TABLE1", "PAPER_EPOCHS", "TABLE1_ROWS",
           "default_runs_dir", "environment", "record_name", "protocol", "write_record",
           "finished_record", "load_records", "summarize", "row_key", "label"]

SCHEMA = "dfc-theory/run-record/1"
#: environment variable naming the folder of run records (default ``runs``)
RUNS_ENV = "DFC_RUNS"

#: Table 1 of the paper (THEORY.md section 9), laid out as there: (mean, std) of the test error
#: in % for MNIST and Fashion-MNIST, the autoencoder's test loss (x 1e-2 in the paper's column)
#: and the MNIST train loss.
PAPER_TABLE1 = {row[0]: dict(zip(("mnist", "fashion_mnist", "mnist_ae", "mnist_train_loss"),
                                 row[1:])) for row in (
    ("BP", (2.08, 0.15), (10.60, 0.34), (9.42e-2, 0.09e-2), (1.53e-7, 0.19e-7)),
    ("DFC", (2.25, 0.094), (11.17, 0.27), (11.28e-2, 0.18e-2), (7.61e-8, 0.65e-8)),
    ("DFC-SSA", (2.18, 0.16), (11.28, 0.27), (11.27e-2, 0.09e-2), (4.89e-8, 1.26e-8)),
    ("DFC-SS", (2.29, 0.097), (11.15, 0.32), (11.21e-2, 0.04e-2), (4.80e-8, 0.70e-8)),
    ("DFC (fixed)", (2.47, 0.12), (11.62, 0.30), (33.37e-2, 0.60e-2), (1.30e-6, 0.15e-6)),
    ("DFC-SSA (fixed)", (2.46, 0.11), (11.44, 0.14), (31.90e-2, 0.77e-2), (1.73e-6, 0.39e-6)),
    ("DFC-SS (fixed)", (2.39, 0.22), (11.55, 0.42), (32.31e-2, 0.37e-2), (1.67e-6, 0.70e-6)),
    ("DFA", (2.69, 0.11), (11.38, 0.25), (29.95e-2, 0.36e-2), (7.09e-7, 1.11e-7)))}
#: epochs of the paper's protocol per data set (5 seeds each)
PAPER_EPOCHS = {"mnist": 100, "fashion_mnist": 100, "mnist_ae": 25}
PAPER_SEEDS = 5
#: Table 1's rows: (label, method, feedback)
TABLE1_ROWS = [(label(m, f), m, f) for m, f in (
    ("bp", None), ("dfc", "trained"), ("dfc-ssa", "trained"), ("dfc-ss", "trained"),
    ("dfc", "fixed"), ("dfc-ssa", "fixed"), ("dfc-ss", "fixed"), ("dfa", None))]


def row_key(record):
    """(dataset, label) of a record."""
    c = record["config"]
    return c["dataset"], label(c["method"], c.get("feedback"))


def default_runs_dir():
    """``$DFC_RUNS`` or ``runs`` (relative to the working directory)."""
    return Path(os.environ.get(RUNS_ENV, "runs"))


def environment(device=None, dtype=None):
    """Versions and hardware of this run (no paths, no host names)."""
    import torch
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "numpy": np.__version__, "platform": platform.platform(terse=True),
           "machine": platform.machine(), "torch_threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count(), "dtype": str(dtype) if dtype is not None else None,
           "device": str(device) if device is not None else None,
           "cuda_available": torch.cuda.is_available(), "git_commit": commit,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    cuda = device is not None and str(device).startswith("cuda") and torch.cuda.is_available()
    env["device_name"] = torch.cuda.get_device_name(torch.device(device)) if cuda else \
        platform.processor() or platform.machine()
    return env


def record_name(config, seed):
    """File name of a record: data set (``-subset`` for the offline digits), method,
    feedback, epochs, and the training-set size / layer widths when they differ from the
    defaults, e.g. ``mnist-subset_dfc-ssa_trained_e100_seed0.json``; so runs of different
    protocols never overwrite each other.  ``config``: a record's config dict."""
    c = config
    parts = [c["dataset"] + ("" if c.get("data_dir") else "-subset"), c["method"]]
    if c["method"] in DFC_METHODS:
        parts.append(c.get("feedback") or "trained")
    parts.append(f"e{c['epochs']}")
    if c.get("n_train"):
        parts.append(f"n{c['n_train']}")
    default = [784, 256, 32, 256, 784] if c["dataset"] == "mnist_ae" else [784, 256, 256, 256, 10]
    if c.get("sizes") and list(c["sizes"]) != default:
        parts.append("w" + "-".join(str(n) for n in c["sizes"]))
    return "_".join(parts) + f"_seed{seed}.json"


def protocol(record):
    """What makes two records comparable: (data set, layer widths, training-set size,
    epochs, reduced data)."""
    c = record["config"]
    return (c["dataset"], tuple(c.get("sizes") or ()), c.get("n_train"), c.get("epochs"),
            bool(record.get("data", {}).get("reduced", True)))


def _clean(o):
    """``o`` as JSON data: NumPy values as Python ones, tuples as lists, nan/inf as None."""
    return json.loads(json.dumps(o, default=_plain), parse_constant=lambda _: None)


def write_record(record, out_dir):
    """Write ``record`` as JSON into ``out_dir`` (created) atomically (a complete file or
    the previous one, :func:`dfc_theory._checkpoint.atomic_write`); returns the path.
    nan/inf become null ("not available")."""
    path = Path(out_dir) / record_name(record["config"], record["seed"])
    text = json.dumps(_clean(record), indent=1).encode()
    return atomic_write(path, lambda f: f.write(text))


#: statuses of a run that has ended (a rerun would give the same)
FINISHED = ("complete", "diverged")


def finished_record(path):
    """The record in file ``path`` (with ``"_path"``) when its run has ended
    (:data:`FINISHED`), else None; DataError naming the file when it is not JSON."""
    path = Path(path)
    if not path.exists():
        return None
    with data_errors(f"{path} (pass --overwrite to replace it)"):
        r = json.loads(path.read_text())
    summary = r.get("summary") if isinstance(r, dict) else None
    if not isinstance(summary, dict) or summary.get("status") not in FINISHED:
        return None
    return {**r, "_path": str(path)}


def load_records(folder, complete_only=True):
    """All run records (``*.json`` with :data:`SCHEMA`) in ``folder`` (not recursive), sorted
    by file name.  Files with another schema are ignored; unreadable JSON raises ValueError
    naming the file.  ``complete_only`` drops runs whose status is not "complete"."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.json")):
        with data_errors(f"{p}: not valid JSON"):
            rec = json.loads(p.read_text())
        if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
            continue
        if complete_only and rec.get("summary", {}).get("status") != "complete":
            continue
        rec["_path"] = str(p)
        out.append(rec)
    return out


def summarize(epochs, task):
    """Summary of per-epoch rows: the best validation epoch (>= 1), the test error (%) or
    test loss there, and the final train loss."""
    rows = [e for e in epochs if e["epoch"] >= 1]
    if not rows:
        return dict.fromkeys(("best_val_epoch", "test_metric_at_best_val", "final_train_loss"))
    metric = "error" if task == "classification" else "loss"
    vals = np.array([e[f"val_{metric}"] for e in rows], dtype=float)  # None becomes nan
    best = rows[int(np.argmin(np.where(np.isfinite(vals), vals, np.inf)))]
    return {"best_val_epoch": best["epoch"],
            "test_metric": f"test_{metric}",
            "test_metric_at_best_val": best[f"test_{metric}"],
            "final_train_loss": rows[-1]["train_loss"],
            "final_test_error": rows[-1].get("test_error")}
