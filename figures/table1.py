"""Table 1 of the paper from full-scale run records: our mean +- std next to the paper's.

    python -m figures table1 [--data-dir D] [--epochs N] [--seeds K] [--runs DIR]
        [--methods bp,dfc-ssa,...] [--datasets mnist,...] [--device cuda]

reads the JSON run records of ``python -m dfc_theory.torch.train`` from ``--runs`` (default
``$DFC_RUNS`` or ``runs``) and builds the Table 1 layout: rows BP, DFC, DFC-SSA, DFC-SS, the
three "(fixed)" variants and DFA; columns MNIST and Fashion-MNIST test error (%) at the best
validation epoch, MNIST-autoencoder test loss (per-pixel MSE on standardised pixels) and the
MNIST training loss after the last epoch.  Rows run on reduced data (the offline 5000-digit
subset) or fewer epochs than the paper's are marked.

Giving ``--data-dir``, ``--epochs`` or ``--seeds`` (or ``--train``) also trains the missing
records first, with those settings, into the runs folder.  Which configurations are trained
by default depends on the preset: ``quick`` the four cheap MNIST rows (BP, DFC-SSA, DFC-SSA
(fixed), DFA; 1 epoch, 1 seed unless given), ``paper`` every row and data set (the paper's
epochs and 5 seeds; Fashion-MNIST only with ``--data-dir``).  On a CPU the simulated
methods (DFC, DFC-SS: 1000 Euler steps per batch) take minutes per epoch even on the subset.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from dfc_theory._cli import positive_int

from ._common import (FIGURE_FILES, check_int, check_preset, figure_paths, option_parser,
                      parse_with, staged_output, write_figure)

NAME = "table1"
COLUMNS = [("mnist", "MNIST test error [%]"), ("fashion_mnist", "F-MNIST test error [%]"),
           ("mnist_ae", "MNIST-AE test loss"), ("mnist_train_loss", "MNIST train loss")]
DATASETS = ("mnist", "fashion_mnist", "mnist_ae")
QUICK_ROWS = ("bp", "dfc-ssa", "dfc-ssa-fixed", "dfa")
ALL_ROWS = ("bp", "dfc", "dfc-ssa", "dfc-ss", "dfc-fixed", "dfc-ssa-fixed", "dfc-ss-fixed",
            "dfa")


def _csv(choices, what):
    """argparse ``type=``: a comma-separated list of names from ``choices``."""
    def parse(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {what} {bad or text!r}; expected names "
                                             f"from {', '.join(choices)}")
        return names
    return parse


def parse_options(argv):
    """Options of ``python -m figures table1`` (module docstring)."""
    p = option_parser(NAME)
    p.add_argument("--data-dir", dest="data_dir", metavar="D")
    p.add_argument("--epochs", metavar="N", type=positive_int)
    p.add_argument("--seeds", metavar="K", type=positive_int)
    p.add_argument("--runs", metavar="DIR")
    p.add_argument("--methods", metavar="A,B", type=_csv(ALL_ROWS, "method(s)"),
                   help="comma-separated, e.g. bp,dfc-ssa-fixed")
    p.add_argument("--datasets", metavar="A,B", type=_csv(DATASETS, "data set(s)"),
                   help="comma-separated: mnist,fashion_mnist,mnist_ae")
    p.add_argument("--device", metavar="DEV", default="cpu")
    p.add_argument("--train", action="store_true", help="train missing records")
    return parse_with(p, argv)


# ---------------------------------------------------------------------------- records
def _warn(message):
    print(f"{NAME}: warning: {message}", file=sys.stderr, flush=True)


def _number(v):
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _natural(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def record_problem(rec_, schema):
    """Why a parsed run record cannot enter the table (None when it can).  Checks every
    field the table reads: schema, seed, config (data set, method, feedback, epochs, sizes)
    and summary (status, the two metrics, epochs done, reduced-data flag)."""
    if not isinstance(rec_, dict):
        return f"expected a JSON object, got {type(rec_).__name__}"
    if rec_.get("schema") != schema:
        return f"not a run record (schema {rec_.get('schema')!r}, expected {schema!r})"
    c, summ = rec_.get("config"), rec_.get("summary")
    if not isinstance(c, dict):
        return "config: missing or not an object"
    if not isinstance(summ, dict):
        return "summary: missing or not an object"
    if not _natural(rec_.get("seed")):
        return f"seed: expected a non-negative integer, got {rec_.get('seed')!r}"
    if c.get("dataset") not in DATASETS:
        return f"config.dataset: unknown data set {c.get('dataset')!r}"
    method = c.get("method")
    if method not in {_method_feedback(n)[0] for n in ALL_ROWS}:
        return f"config.method: unknown method {method!r}"
    if method in ("dfc", "dfc-ss", "dfc-ssa") and c.get("feedback") not in (None, "trained",
                                                                          "fixed"):
        return f"config.feedback: expected 'trained' or 'fixed', got {c.get('feedback')!r}"
    if not (_natural(c.get("epochs")) and c["epochs"] >= 1):
        return f"config.epochs: expected a positive integer, got {c.get('epochs')!r}"
    sizes = c.get("sizes")
    if sizes is not None and not (isinstance(sizes, list)
                                  and all(_natural(n) for n in sizes)):
        return f"config.sizes: expected a list of widths, got {sizes!r}"
    status = summ.get("status")
    if not isinstance(status, str):
        return f"summary.status: expected a string, got {status!r}"
    if status != "complete":
        return f"status {status!r} (only complete runs enter the table)"
    for key in ("test_metric_at_best_val", "final_train_loss"):
        if key not in summ:
            return f"summary.{key}: missing"
        v = summ[key]
        if not _number(v):
            return f"summary.{key}: expected a number or null, got {v!r}"
        if v is not None and not (0 <= v < math.inf):
            return f"summary.{key}: expected a finite non-negative number, got {v!r}"
    v = summ["test_metric_at_best_val"]
    if c["dataset"] != "mnist_ae" and v is not None and v > 100:
        return f"summary.test_metric_at_best_val: a test error in %, got {v!r} > 100"
    if not _natural(summ.get("epochs_done", 0)):
        return f"summary.epochs_done: expected a non-negative integer, got " \
               f"{summ.get('epochs_done')!r}"
    if not isinstance(summ.get("reduced_data", True), bool):
        return f"summary.reduced_data: expected true or false, got {summ['reduced_data']!r}"
    return None


def read_records(runs, warn=_warn):
    """The complete, well-formed run records (``*.json``) in folder ``runs``, sorted by file
    name, and the skipped files as [{"file", "reason"}]: unreadable or malformed files,
    records of another schema or an unknown method/data set, incomplete runs (status not
    "complete").  ``warn`` (a callable, or None) gets one line per skipped file."""
    from dfc_theory.torch.records import SCHEMA
    runs = Path(runs)
    good, skipped = [], []
    for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
        try:
            rec_ = json.loads(path.read_bytes().decode("utf-8"))
            problem = record_problem(rec_, SCHEMA)
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        except (OSError, RecursionError) as exc:
            problem = f"unreadable ({getattr(exc, 'strerror', None) or exc})"
        if problem is None:
            rec_["_path"] = str(path)
            good.append(rec_)
        else:
            skipped.append({"file": str(path), "reason": problem})
            if warn is not None:
                warn(f"skipped {path}: {problem}")
    return good, skipped


def _method_feedback(name):
    if name.endswith("-fixed"):
        return name[:-len("-fixed")], "fixed"
    return name, ("trained" if name in ("dfc", "dfc-ss", "dfc-ssa") else None)


def _select(records, dataset, label):
    """The records of one cell: of all configurations recorded for it, the one closest to
    the paper's protocol (full data first, then most epochs); all its seeds."""
    from dfc_theory.torch.records import row_key
    cand = [r for r in records if row_key(r) == (dataset, label)]
    if not cand:
        return []

    def proto(r):
        return (not r["summary"].get("reduced_data", True), r["summary"].get("epochs_done", 0))
    best = max(proto(r) for r in cand)
    chosen = [r for r in cand if proto(r) == best]
    by_seed = {}
    for r in chosen:  # one record per seed (the file names are per seed anyway)
        by_seed[r["seed"]] = r
    return [by_seed[s] for s in sorted(by_seed)]


def _cell(recs, column):
    from dfc_theory.torch.records import PAPER_EPOCHS
    if not recs:
        return None
    if column == "mnist_train_loss":
        vals = [r["summary"]["final_train_loss"] for r in recs]
    else:
        vals = [r["summary"]["test_metric_at_best_val"] for r in recs]
    vals = np.array([np.nan if v is None else float(v) for v in vals])
    ds = "mnist" if column == "mnist_train_loss" else column
    epochs = min(r["summary"].get("epochs_done", 0) for r in recs)
    return {"mean": float(np.nanmean(vals)), "std": float(np.nanstd(vals)) if len(vals) > 1
            else float("nan"), "n": int(np.isfinite(vals).sum()), "epochs": int(epochs),
            "paper_epochs": PAPER_EPOCHS[ds],
            "reduced_data": any(r["summary"].get("reduced_data", True) for r in recs),
            "files": [Path(r.get("_path", "")).name for r in recs]}


def _fmt(mean, std, column):
    if mean is None or not math.isfinite(mean):
        return "-"
    if column in ("mnist", "fashion_mnist"):
        s = f"{mean:.2f}"
        return s + (f" +- {std:.2f}" if math.isfinite(std) else "")
    s = f"{mean:.3g}"
    return s + (f" +- {std:.2g}" if math.isfinite(std) else "")


def build_table(records):
    """{label: {column: {"ours": cell or None, "paper": (mean, std)}}} for Table 1's rows."""
    from dfc_theory.torch.records import PAPER_TABLE1, TABLE1_ROWS
    table = {}
    for label, _m, _f in TABLE1_ROWS:
        row = {}
        for col, _title in COLUMNS:
            ds = "mnist" if col == "mnist_train_loss" else col
            row[col] = {"ours": _cell(_select(records, ds, label), col),
                        "paper": PAPER_TABLE1[label][col]}
        table[label] = row
    return table


def to_markdown(table):
    """The table as Markdown: per column "ours" and "paper", with markers for reduced runs."""
    head = "| method | " + " | ".join(f"{t} (ours) | (paper)" for _c, t in COLUMNS) + " |"
    sep = "|---|" + "---|---|" * len(COLUMNS)
    lines = [head, sep]
    notes = set()
    for label, row in table.items():
        cells = []
        for col, _t in COLUMNS:
            c = row[col]
            o = c["ours"]
            if o is None:
                ours = "-"
            else:
                ours = _fmt(o["mean"], o["std"], col) + f" (n={o['n']})"
                marks = []
                if o["reduced_data"]:
                    marks.append("R")
                    notes.add("R")
                if o["epochs"] < o["paper_epochs"]:
                    marks.append(f"{o['epochs']}/{o['paper_epochs']} ep")
                    notes.add("E")
                if marks:
                    ours += " [" + ", ".join(marks) + "]"
            pm, ps = c["paper"]
            cells += [ours, _fmt(pm, ps, col)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Ours: mean +- std over seeds (n = seeds), test value at the best validation "
                 "epoch; train loss after the last epoch; paper: Table 1 (5 seeds).")
    if "R" in notes:
        lines.append("[R] reduced data: the offline 5000-digit MNIST subset (3500 train), not "
                     "the paper's 60000 images; not comparable with the paper's numbers.")
    if "E" in notes:
        lines.append("[k/N ep] trained k epochs instead of the paper's N.")
    lines.append("MNIST-AE: per-pixel MSE on pixels standardised with the training mean/std "
                 "(our reading of the paper's preprocessing).")
    return "\n".join(lines)


def _draw(table):
    """The table as a matplotlib figure (ours | paper per cell)."""
    import matplotlib.pyplot as plt

    cols = ["method"] + [f"{t}\nours | paper" for _c, t in COLUMNS]
    rows = []
    for label, row in table.items():
        r = [label]
        for col, _t in COLUMNS:
            o = row[col]["ours"]
            ours = "-" if o is None else _fmt(o["mean"], o["std"], col) + \
                ("*" if (o["reduced_data"] or o["epochs"] < o["paper_epochs"]) else "")
            r.append(f"{ours} | {_fmt(*row[col]['paper'], col)}")
        rows.append(r)
    fig, ax = plt.subplots(figsize=(15, 0.45 * len(rows) + 1.2))
    ax.axis("off")
    t = ax.table(cellText=rows, colLabels=cols, loc="center", cellLoc="center")
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.scale(1, 1.6)
    ax.set_title("Table 1: ours | paper  (* reduced data or epochs)", fontsize=10)
    return fig


# ---------------------------------------------------------------------------- training
def train_missing(runs, preset, methods=None, datasets=None, data_dir=None, epochs=None,
                  seeds=None, device="cpu", log=print):
    """Train the configurations of the table that have no record with these settings yet;
    returns the list of record paths written."""
    from dfc_theory.torch import records as rec
    from dfc_theory.torch import train
    from dfc_theory.torch.data import load_data
    paper = preset == "paper"
    methods = list(methods or (ALL_ROWS if paper else QUICK_ROWS))
    datasets = list(datasets or (["mnist", "mnist_ae"] + (["fashion_mnist"] if data_dir else [])
                                 if paper else ["mnist"]))
    unknown = [m for m in methods if m not in ALL_ROWS]
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; expected names from {list(ALL_ROWS)}")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"datasets: unknown {unknown}; expected names from {list(DATASETS)}")
    if "fashion_mnist" in datasets and data_dir is None:
        raise FileNotFoundError("data_dir: fashion_mnist needs --data-dir with the IDX "
                                "files (no offline copy ships)")
    if epochs is not None:
        check_int(epochs, "epochs", 1)
    n_seeds = check_int(seeds, "seeds", 1) if seeds is not None else (rec.PAPER_SEEDS
                                                                       if paper else 1)
    existing, _skipped = read_records(runs, warn=None)  # run() warns when it reads them
    written = []
    for ds in datasets:
        n_ep = epochs if epochs is not None else (rec.PAPER_EPOCHS[ds] if paper else 1)
        data = None
        for name in methods:
            m, f = _method_feedback(name)
            label = rec.label(m, f)
            default = list(train.default_sizes(ds))
            have = {r["seed"] for r in existing if rec.row_key(r) == (ds, label)
                    and r["config"]["epochs"] == n_ep and not r["config"].get("n_train")
                    and list(r["config"].get("sizes") or default) == default
                    and bool(r["config"].get("data_dir")) == (data_dir is not None)}
            todo = [s for s in range(n_seeds) if s not in have]
            if not todo:
                continue
            cfg = train.FullScaleConfig(method=m, feedback=f or "trained", dataset=ds,
                                        data_dir=data_dir, epochs=n_ep, device=device)
            if data is None:
                data = load_data(ds, data_dir, seed=cfg.data_seed, device=device,
                                 dtype=cfg.dtype)
            for s in todo:
                t0 = time.perf_counter()
                r = train.train_run(cfg, seed=s, data=data, progress=True, out=runs,
                                    resume=True)  # continue an interrupted one
                written.append(str(Path(runs) / rec.record_name(cfg.to_dict(), s)))
                log(f"   {label} {ds} seed {s}: {r['summary']['status']} in "
                    f"{time.perf_counter() - t0:.0f} s")
    return written


# ---------------------------------------------------------------------------- entry
def run(preset="quick", out="figures_out", seed=0, runs=None, data_dir=None, epochs=None,
        seeds=None, methods=None, datasets=None, device="cpu", train=False, warn=_warn):
    """Build Table 1 from the records in ``runs`` (training missing ones first when
    ``train`` or any of ``data_dir``/``epochs``/``seeds`` is given); write
    ``<out>/table1.md``, ``table1.png``/``.pdf`` and ``table1_summary.json`` (all four
    moved into place together).

    Malformed or incomplete records are skipped with one ``warn`` line each (default: to
    stderr) and listed in the result.  A ``runs`` folder given explicitly must exist
    (unless training creates it); the default one (``$DFC_RUNS`` or ``runs``) may be
    missing, which gives the paper's column and a hint.

    Returns a dict with ``summary`` (the Markdown table and notes), ``table``, ``files``,
    ``trained`` (record paths written by this call) and ``skipped``.  ``seed`` is unused:
    seeds are 0..K-1.
    """
    check_preset(preset)
    try:
        from dfc_theory.torch import records as rec
    except ImportError as exc:
        raise ImportError("table1 needs the torch backend: pip install 'dfc-theory[torch]'"
                          ) from exc
    training = train or data_dir is not None or epochs is not None or seeds is not None
    if runs is not None:
        runs = Path(runs)
        if runs.exists() and not runs.is_dir():
            raise ValueError(f"runs: {runs} is a file; expected the folder of run records")
        if not runs.exists() and not training:
            raise FileNotFoundError(f"runs: folder {runs} does not exist (no run records)")
    else:
        runs = rec.default_runs_dir()
    trained = []
    if training:
        trained = train_missing(runs, preset, methods, datasets, data_dir, epochs, seeds,
                                device)
    records, skipped = read_records(runs, warn)
    table = build_table(records)
    md = to_markdown(table)
    if skipped:
        md += (f"\nSkipped {len(skipped)} record file(s) in {runs} (malformed or "
               f"incomplete; reasons in table1_summary.json).")
    if not records:
        md += (f"\n\nNo run records in {runs}: train some with `python -m dfc_theory.torch.train "
               f"--method dfc-ssa --dataset mnist --out {runs}` or pass --epochs/--seeds here.")
    files = [str(p) for p in figure_paths(out, NAME,
                                          (".md",) + FIGURE_FILES + ("_summary.json",))]
    result = {"summary": md, "table": table, "files": files, "trained": trained,
              "records": len(records), "runs": str(runs), "skipped": skipped}
    with staged_output(out, NAME) as stage:
        (stage.path / f"{NAME}.md").write_text(md + "\n")
        write_figure(out, NAME, _draw(table), result, stage=stage)
    return result
