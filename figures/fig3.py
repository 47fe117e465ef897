"""Fig 3: student-teacher training, six alignment/stability panels per method (THEORY.md 8).

Runs (all from the same student initialisation, ``seed``): DFC, DFC-SS, DFC-SSA with trained
feedback (pre-trained, then learned during training) and with fixed feedback (the weight
product, frozen at initialisation), and DFA.  Panels against epoch, rolling mean +- std
over the logged batches (the first batch of every epoch, as in the reference code):

    (A) Condition-2 ratio ||P_J Q|| / ||Q||    (C) Condition-1 deviation (reference metric)
    (E) spectral abscissa of the full PI system at its steady state (batch mean)
    (B) angle with the damped minimum-norm update   (D) angle with the damped GN update
    (F) angle with the DFC-SSA update (same Q)

The layout follows the paper: A, C, E on the top row and B, D, F below.

Presets
-------
``paper``: :func:`dfc_theory.training.fig3_config` unchanged (THEORY.md section 8 and the
reference code's Fig 3 configuration: 300 epochs, 5000 samples, lr 0.05/lambda, ...).
``quick``: 1280 training samples, 32 epochs, every 5th batch logged (abscissae on 32 of
its samples), the forward and feedback learning rates multiplied by 8 so that the drift that
separates trained from fixed feedback happens within 320 forward steps (the paper has
12000), 500 Euler steps of dt 0.01 (the paper: 1000 of 0.005, the same horizon T = 5), and
30 feedback pre-training epochs at rate 0.3 (300 updates instead of 2000 at 0.1; this
reaches the same Condition-2 ratio, about 0.97).  About 70 s of CPU time, run as two
processes.

Runs are never lost: every training is checkpointed after every epoch in
``<out>/fig3_runs`` (beside the figure, not in its staging folder).  After Ctrl-C, SIGTERM
or a crash the same command reuses the complete trainings and resumes the others from
their last epoch (the logs equal an uninterrupted run's); delete ``fig3_runs`` to train
everything anew.

Options (``run(**opts)`` or ``python -m figures fig3 --preset quick --redraw``):
``redraw`` (bool): redraw from the logs in ``<out>/fig3_logs`` instead of training;
``jobs`` (int): parallel training processes (default 2 where 2 cores exist);
``window`` (int): rolling window (default 30 for paper, 5 for quick);
``epochs``, ``n_train`` (int): override the preset's values.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dfc_theory import _checkpoint as ckpt  # noqa: E402
from dfc_theory._cli import DataError, data_errors, positive_int  # noqa: E402
from dfc_theory.datasets import student_teacher  # noqa: E402
from dfc_theory.training import (TrainingLog, fig3_config, label_to_name,  # noqa: E402
                                 run_label, train)

from ._common import (ALL_FILES, Stage, check_int, check_preset, check_seed,  # noqa: E402
                      figure_paths, option_parser, out_dir, parse_with, staged_output,
                      write_figure)

NAME = "fig3"
LOG_DIR = "fig3_logs"
#: training checkpoints, beside the figure (kept when it is interrupted)
RUN_DIR = "fig3_runs"
#: (method, feedback), longest first (load balancing of parallel runs)
RUNS = (("dfc", "trained"), ("dfc", "fixed"), ("dfc-ss", "trained"), ("dfc-ss", "fixed"),
        ("dfc-ssa", "trained"), ("dfc-ssa", "fixed"), ("dfa", "fixed"))
DFC_RUNS = tuple(r for r in RUNS if r[0] != "dfa")
PRESET_OVERRIDES = {
    "paper": {},
    "quick": dict(n_train=1280, n_val=256, n_test=256, epochs=32, fb_pretrain_epochs=30,
                  lr_fb_init=0.3, lr=0.4, lr_fb=0.016, log_batches=5, log_eig_samples=32,
                  dt=0.01, n_steps=500, n_steps_ssa=250),
}
WINDOW = {"paper": 30, "quick": 8}
COLORS = {"dfc": "royalblue", "dfc-ss": "green", "dfc-ssa": "purple", "dfa": "red"}
#: y ranges of the paper's Fig 3 panels (tanh student), read from the reference plotting
#: script; used only to say whether our curves stay where the paper's are drawn
PAPER_RANGES = {"cond2": (0.7, 1.0), "cond1_ref": (0.0, 0.45), "abscissa": (-0.6, -0.4),
                "angle_mn": (0.0, 70.0), "angle_gn": (0.0, 70.0), "angle_ssa": (0.0, 8.0)}
PANELS = (("A", "cond2", "Condition 2: $\\|P_J Q\\|_F / \\|Q\\|_F$"),
          ("C", "cond1_ref", "Condition 1 deviation (ref. metric)"),
          ("E", "abscissa", "spectral abscissa of $A_{PI}$ at rest"),
          ("B", "angle_mn", "$\\angle(\\Delta W, \\Delta W^{MN})$ [deg]"),
          ("D", "angle_gn", "$\\angle(\\Delta W, \\Delta W^{GN})$ [deg]"),
          ("F", "angle_ssa", "$\\angle(\\Delta W, \\Delta W^{SSA})$ [deg]"))
#: metrics DFA is drawn in (it has no controller and no learned Q), as in the paper
DFA_PANELS = ("angle_mn", "angle_gn")
FEW_DEGREES = 5.0       # "DFC and DFC-SS within a few degrees of DFC-SSA"
FAR_LARGER = 10.0       # "DFA's angles far larger": by at least this many degrees


def parse_options(argv):
    """--redraw, --jobs N, --window N, --epochs N, --n-train N (every N >= 1)."""
    p = option_parser(NAME)
    add_options(p)
    return parse_with(p, argv)


def add_options(p):
    """The options of Fig 3 (and Fig S1, which draws Fig 3's runs) on parser ``p``."""
    p.add_argument("--redraw", action="store_true",
                   help=f"redraw from the logs in <out>/{LOG_DIR} instead of training")
    for opt in ("--jobs", "--window", "--epochs"):
        p.add_argument(opt, metavar="N", type=positive_int)
    p.add_argument("--n-train", "--n_train", dest="n_train", metavar="N", type=positive_int)


# ---------------------------------------------------------------------------- training
def preset_configs(preset, epochs=None, n_train=None, overrides=None):
    """{run name: TrainingConfig} of a preset (names like "dfc", "dfc-ss_fixed", "dfa");
    ``overrides`` (dict) changes any further :class:`~dfc_theory.training.TrainingConfig`
    field for every run."""
    check_preset(preset)
    ov = dict(PRESET_OVERRIDES[preset])
    ov.update(overrides or {})
    if epochs is not None:
        ov["epochs"] = int(epochs)
    if n_train is not None:
        ov["n_train"] = int(n_train)
    return {label_to_name(run_label(m, f)): fig3_config(m, f, **ov) for m, f in RUNS}


def _worker_signals():
    """Pool initializer: Ctrl-C reaches the parent only (no KeyboardInterrupt traceback from
    every worker), which terminates the workers; that SIGTERM ends a worker at once (the
    parent's SIGTERM handler is not inherited): its checkpoint always holds whole epochs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker(args):
    name, config, seed, data, checkpoint = args
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        train(config, seed=seed, data=data, progress=True,  # a stale file is retrained
              progress_every=max(1, config.epochs // 10), checkpoint=checkpoint, resume=True,
              overwrite=True)
    return name


def checkpoint_path(out, name, config, seed):
    """Where run ``name`` of ``config`` and ``seed`` is checkpointed: ``<out>/fig3_runs/
    <name>-<hash of config and seed>.npz`` (runs of other presets keep their own files)."""
    key = json.dumps({"config": config.to_dict(), "seed": int(seed)}, sort_keys=True)
    return Path(out) / RUN_DIR / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def _status(path):
    saved = ckpt.load(path)
    return None if saved is None else saved[0]["status"]


def train_runs(configs, seed, out, jobs=None):
    """Train every run of ``configs`` (in parallel processes when ``jobs > 1``), save the
    logs in ``<out>/fig3_logs`` with a manifest, and return {name: TrainingLog}.

    ``out`` is a folder or a :class:`~figures._common.Stage` (then the logs move into
    place with the figure).  Every run is checkpointed after every epoch in
    ``fig3_runs`` of the final folder (:func:`checkpoint_path`; outside the staging folder,
    so that an interrupted figure keeps them): complete runs found there are reused,
    unfinished ones continued (their logs equal uninterrupted runs'), the others trained.
    Ctrl-C or SIGTERM raises :class:`dfc_theory._cli.Interrupted` saying what was kept."""
    jobs = min(2, os.cpu_count() or 1) if jobs is None else check_int(jobs, "jobs", 1)
    root = out.out if isinstance(out, Stage) else out_dir(out)
    logdir = out_dir(out) / LOG_DIR
    logdir.mkdir(exist_ok=True)
    (root / RUN_DIR).mkdir(exist_ok=True)
    paths = {name: checkpoint_path(root, name, c, seed) for name, c in configs.items()}
    t0 = time.perf_counter()
    try:
        first = next(iter(configs.values()))
        data = student_teacher(n_in=first.sizes[0], n_out=first.sizes[-1],
                               n_train=first.n_train, n_val=first.n_val, n_test=first.n_test,
                               seed=first.data_seed)
        found = {name: _status(p) for name, p in paths.items()}
        tasks = [(name, c, seed, data, paths[name]) for name, c in configs.items()
                 if found[name] != "complete"]
        if jobs == 1 or len(tasks) <= 1:
            for t in tasks:
                _worker(t)
        else:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(jobs, initializer=_worker_signals) as pool:
                list(pool.imap_unordered(_worker, tasks))
    except KeyboardInterrupt as exc:
        kept = [_status(p) for p in paths.values()]
        raise ckpt.interrupted(exc, f"fig3 interrupted: {kept.count('complete')} of "
                                    f"{len(kept)} trainings complete, {kept.count('running')} "
                                    f"more checkpointed at their last epoch, in "
                                    f"{root / RUN_DIR}; the same command resumes them") from None
    logs = {name: train(c, seed=seed, data=data, progress=False, checkpoint=paths[name],
                        resume=True, overwrite=True) for name, c in configs.items()}
    for name, lg in logs.items():
        lg.save(logdir, name)
    manifest = {"seed": seed, "runs": list(configs), "wall_time_s": time.perf_counter() - t0,
                "jobs": jobs, "configs": {n: c.to_dict() for n, c in configs.items()},
                "reused": [n for n in configs if found[n] == "complete"],
                "resumed": [n for n in configs if found[n] == "running"]}
    (logdir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return load_logs(logdir.parent)


def load_logs(out):
    """{name: TrainingLog} from ``<out>/fig3_logs``: FileNotFoundError naming what is
    missing when no manifest is there, DataError (a ValueError) naming the file when the
    manifest or a log is malformed."""
    logdir = Path(out) / LOG_DIR
    mf = logdir / "manifest.json"
    if not mf.exists():
        raise FileNotFoundError(f"out: no fig3 training logs in {logdir} (missing "
                                f"{mf.name}); run fig3 without redraw first")
    with data_errors(f"{mf} (fig3 manifest)"):
        manifest = json.loads(mf.read_text())
        if not isinstance(manifest, dict):
            raise ValueError(f"expected a JSON object, got {type(manifest).__name__}")
        missing = [k for k in ("seed", "runs", "wall_time_s", "jobs") if k not in manifest]
        if missing:
            raise ValueError(f"missing keys {missing}")
        runs = manifest["runs"]
        if not isinstance(runs, list) or not runs or not all(isinstance(n, str) and n
                                                             for n in runs):
            raise ValueError(f"runs: expected a non-empty list of run names, got {runs!r}")
    logs = {name: _load_log(logdir, name) for name in runs}
    for lg in logs.values():
        lg.meta["manifest"] = {k: manifest[k] for k in ("seed", "wall_time_s", "jobs",
                                                        "reused", "resumed") if k in manifest}
    return logs


def _load_log(logdir, name):
    """One TrainingLog; a missing file stays FileNotFoundError, anything unreadable in it
    becomes DataError naming the file."""
    path = Path(logdir) / f"{name}.npz"
    try:
        return TrainingLog.load(logdir, name)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: unreadable fig3 training log ({type(exc).__name__}: "
                        f"{exc})") from exc


def logs_match(logs, configs, seed):
    """True when saved logs were made with exactly these configs and seed."""
    return (set(logs) == set(configs)
            and all(logs[n].config == configs[n] for n in configs)
            and all(int(lg.meta.get("seed", -1)) == int(seed) for lg in logs.values()))


# ---------------------------------------------------------------------------- drawing
def rolling(y, window):
    """Trailing rolling mean and std (ddof 1; 0 where only one point) with min_periods 1."""
    y = np.asarray(y, dtype=np.float64)
    m = np.empty_like(y)
    s = np.empty_like(y)
    for k in range(len(y)):
        w = y[max(0, k - window + 1):k + 1]
        w = w[np.isfinite(w)]
        m[k] = w.mean() if len(w) else np.nan
        s[k] = w.std(ddof=1) if len(w) > 1 else 0.0
    return m, s


def style(log):
    c = log.config
    return COLORS[c.method], ("--" if (c.feedback == "fixed" and c.method != "dfa") else "-")


def draw(logs, window, title=None):
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.5), sharex=True)
    for ax, (letter, key, ylabel) in zip(axes.ravel(), PANELS):
        for name, lg in logs.items():
            if lg.config.method == "dfa" and key not in DFA_PANELS:
                continue
            x = lg.batch["epoch_frac"]
            m, s = rolling(lg.batch[key], window)
            color, ls = style(lg)
            ax.plot(x, m, color=color, ls=ls, lw=1.2, label=lg.label)
            ax.fill_between(x, m - s, m + s, color=color, alpha=0.12, lw=0)
        ax.set_ylabel(ylabel)
        ax.set_title(f"({letter})", loc="left", fontweight="bold")
        if key == "abscissa":
            ax.axhline(0.0, color="k", lw=0.6)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=7, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97 if title else 1))
    return fig


# ---------------------------------------------------------------------------- checks
def _end(log, key, frac=0.1):
    y = np.asarray(log.batch[key], dtype=np.float64)
    n = max(3, int(np.ceil(frac * len(y))))
    return float(np.nanmean(y[-n:]))


def checks(logs):
    """The paper's messages as pass/fail checks (values at the end = mean of the last 10%
    of the logged batches, at least 3)."""
    out = []
    for m in ("dfc", "dfc-ss", "dfc-ssa"):
        tr, fx = logs.get(m), logs.get(f"{m}_fixed")
        if tr is None or fx is None:
            continue
        a, b = _end(tr, "cond2"), _end(fx, "cond2")
        out.append(dict(name=f"{m}: trained Q has the higher Condition-2 ratio at the end",
                        passed=a > b, measured={"trained": a, "fixed": b}))
        a, b = _end(tr, "angle_mn"), _end(fx, "angle_mn")
        out.append(dict(name=f"{m}: trained Q has the smaller min-norm angle at the end",
                        passed=a < b, measured={"trained": a, "fixed": b}))
    worst = {n: float(np.nanmax(lg.batch["abscissa_max"])) for n, lg in logs.items()
             if lg.config.method != "dfa"}
    if worst:
        out.append(dict(name="all DFC runs stable: largest spectral abscissa (over every "
                             "logged sample) < 0", passed=max(worst.values()) < 0,
                        measured=worst))
    near = {n: float(np.nanmean(lg.batch["angle_ssa"])) for n, lg in logs.items()
            if lg.config.method in ("dfc", "dfc-ss")}
    if near:
        out.append(dict(name=f"DFC and DFC-SS within a few ({FEW_DEGREES:g}) degrees of "
                             f"DFC-SSA (mean angle over training)",
                        passed=max(near.values()) < FEW_DEGREES, measured=near))
    if "dfa" in logs:
        trained = [n for n in ("dfc", "dfc-ss", "dfc-ssa") if n in logs]
        for key in ("angle_mn", "angle_gn"):
            d = _end(logs["dfa"], key)
            others = {n: _end(logs[n], key) for n in trained}
            out.append(dict(name=f"DFA's {key.split('_')[1].upper()} angle at least "
                                 f"{FAR_LARGER:g} degrees larger than trained DFC's",
                            passed=all(d - v >= FAR_LARGER for v in others.values()),
                            measured={"dfa": d, **others}))
    return out


def paper_ranges(logs):
    """Fraction of each run's logged values inside the paper's plotted y range, per panel."""
    res = {}
    for key, (lo, hi) in PAPER_RANGES.items():
        for n, lg in logs.items():
            if lg.config.method == "dfa" and key not in DFA_PANELS:
                continue
            y = lg.batch[key][np.isfinite(lg.batch[key])]
            if len(y):
                res.setdefault(key, {})[n] = float(np.mean((y >= lo) & (y <= hi)))
    return res


def _summary_text(preset, logs, chk, ranges, wall):
    mf = next(iter(logs.values())).meta.get("manifest", {})
    kept = ", ".join(f"{len(mf[k])} {k}" for k in ("reused", "resumed") if mf.get(k))
    lines = [f"Fig 3 ({preset} preset): {len(logs)} runs, "
             f"{next(iter(logs.values())).config.epochs} epochs"
             + (f", trained in {wall:.0f} s" if wall is not None else " (redrawn from logs)")
             + (f" ({kept} from {RUN_DIR})" if kept and wall is not None else "")]
    for c in chk:
        meas = ", ".join(f"{k} {v:.3g}" for k, v in c["measured"].items())
        lines.append(f"  [{'PASS' if c['passed'] else 'FAIL'}] {c['name']}: {meas}")
    inside = {k: min(v.values()) for k, v in ranges.items()}
    lines.append("  inside the paper's plotted ranges (smallest fraction over runs): "
                 + ", ".join(f"{k} {v:.0%}" for k, v in inside.items()))
    lines.append(
        "  Differences from the paper: our teacher/data and initial weights are our own "
        "seeded draws (same recipe), so curves differ in detail; Condition 1 is the reference "
        "code's metric, the abscissa is A_PI's at the exact (Newton) steady state for every "
        "method; our feedback learning has no norm clipping of the feedback update (the "
        "reference clips it at 1)."
        + (" The quick preset trains 320 forward steps (the paper: 12000) with 8x learning "
           "rates and simulates 500 Euler steps of dt 0.01 (the paper: 1000 of 0.005, the "
           "same horizon), so its curves are compressed in time."
           if preset == "quick" else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- entry point
def run(preset="quick", out="figures_out", seed=0, redraw=False, jobs=None, window=None,
        epochs=None, n_train=None, overrides=None):
    """Train (or reload) the seven runs, draw Fig 3, save PNG/PDF/data/summary.

    ``overrides`` (dict of TrainingConfig fields) adjusts the preset further (tests).

    Returns a dict with ``summary`` (text), ``checks`` (list of pass/fail dicts),
    ``paper_ranges``, ``files`` and ``wall_time_s``.
    """
    check_preset(preset)
    seed = check_seed(seed)
    configs = preset_configs(preset, epochs, n_train, overrides)
    w = WINDOW[preset] if window is None else check_int(window, "window", 1)
    wall = None
    logs = load_logs(out) if redraw else None
    with staged_output(out, NAME) as stage:
        if logs is None:
            t0 = time.perf_counter()
            logs = train_runs(configs, seed, stage, jobs)
            wall = time.perf_counter() - t0
        fig = draw(logs, w, title=f"Fig 3 ({preset} preset, seed {seed})")
        arrays = {}
        for n, lg in logs.items():
            for k in ("epoch_frac",) + tuple(p[1] for p in PANELS):
                arrays[f"{n}/{k}"] = lg.batch[k]
        chk = checks(logs)
        ranges = paper_ranges(logs)
        text = _summary_text(preset, logs, chk, ranges, wall)
        files = [str(p) for p in figure_paths(out, NAME, ALL_FILES)]
        result = {"summary": text, "checks": chk, "paper_ranges": ranges, "files": files,
                  "wall_time_s": wall, "all_passed": all(c["passed"] for c in chk)}
        write_figure(out, NAME, fig, result, stage=stage, **arrays)
    return result
