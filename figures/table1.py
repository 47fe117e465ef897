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
import math
import time
from pathlib import Path

import numpy as np

from ._common import check_preset, out_dir, save_summary

NAME = "table1"
COLUMNS = [("mnist", "MNIST test error [%]"), ("fashion_mnist", "F-MNIST test error [%]"),
           ("mnist_ae", "MNIST-AE test loss"), ("mnist_train_loss", "MNIST train loss")]
QUICK_ROWS = ("bp", "dfc-ssa", "dfc-ssa-fixed", "dfa")
ALL_ROWS = ("bp", "dfc", "dfc-ssa", "dfc-ss", "dfc-fixed", "dfc-ssa-fixed", "dfc-ss-fixed",
            "dfa")


def parse_options(argv):
    """Options of ``python -m figures table1`` (module docstring)."""
    p = argparse.ArgumentParser(prog="python -m figures table1", add_help=False)
    p.add_argument("--data-dir", dest="data_dir", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--runs", default=None)
    p.add_argument("--methods", default=None, help="comma-separated, e.g. bp,dfc-ssa-fixed")
    p.add_argument("--datasets", default=None, help="comma-separated: mnist,fashion_mnist,mnist_ae")
    p.add_argument("--device", default="cpu")
    p.add_argument("--train", action="store_true", help="train missing records")
    try:
        a = p.parse_args(argv)
    except SystemExit:
        raise SystemExit(f"{NAME}: bad options {' '.join(argv)} (known: --data-dir D, "
                         f"--epochs N, --seeds K, --runs DIR, --methods A,B, --datasets A,B, "
                         f"--device DEV, --train)") from None
    opts = {k: v for k, v in vars(a).items() if v is not None and v is not False}
    for key in ("methods", "datasets"):
        if key in opts:
            opts[key] = [s.strip() for s in opts[key].split(",") if s.strip()]
    return opts


# ---------------------------------------------------------------------------- records
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


def _draw(table, out):
    import matplotlib.pyplot as plt

    from ._common import save_figure
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
    paths = save_figure(fig, out, NAME)
    plt.close(fig)
    return paths


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
    n_seeds = seeds if seeds is not None else (rec.PAPER_SEEDS if paper else 1)
    existing = rec.load_records(runs)
    written = []
    for ds in datasets:
        if ds == "fashion_mnist" and data_dir is None:
            raise FileNotFoundError("data_dir: fashion_mnist needs --data-dir with the IDX "
                                    "files (no offline copy ships)")
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
                r = train.train_run(cfg, seed=s, data=data, progress=True, out=runs)
                written.append(str(Path(runs) / rec.record_name(cfg.to_dict(), s)))
                log(f"   {label} {ds} seed {s}: {r['summary']['status']} in "
                    f"{time.perf_counter() - t0:.0f} s")
    return written


# ---------------------------------------------------------------------------- entry
def run(preset="quick", out="figures_out", seed=0, runs=None, data_dir=None, epochs=None,
        seeds=None, methods=None, datasets=None, device="cpu", train=False):
    """Build Table 1 from the records in ``runs`` (training missing ones first when
    ``train`` or any of ``data_dir``/``epochs``/``seeds`` is given); write
    ``<out>/table1.md``, ``table1.png``/``.pdf`` and ``table1_summary.json``.

    Returns a dict with ``summary`` (the Markdown table and notes), ``table``, ``files`` and
    ``trained`` (record paths written by this call).  ``seed`` is unused: seeds are 0..K-1.
    """
    check_preset(preset)
    try:
        from dfc_theory.torch import records as rec
    except ImportError as exc:
        raise ImportError("table1 needs the torch backend: pip install 'dfc-theory[torch]'"
                          ) from exc
    runs = Path(runs) if runs is not None else rec.default_runs_dir()
    trained = []
    if train or data_dir is not None or epochs is not None or seeds is not None:
        trained = train_missing(runs, preset, methods, datasets, data_dir, epochs, seeds,
                                device)
    records = rec.load_records(runs)
    table = build_table(records)
    md = to_markdown(table)
    if not records:
        md += (f"\n\nNo run records in {runs}: train some with `python -m dfc_theory.torch.train "
               f"--method dfc-ssa --dataset mnist --out {runs}` or pass --epochs/--seeds here.")
    o = out_dir(out)
    (o / f"{NAME}.md").write_text(md + "\n")
    files = [str(o / f"{NAME}.md")] + [str(p) for p in _draw(table, out)]
    result = {"summary": md, "table": table, "files": files, "trained": trained,
              "records": len(records), "runs": str(runs)}
    files.append(str(save_summary(out, NAME, result)))
    return result
