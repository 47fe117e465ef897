"""Compare two verification reports and two figure folders number by number.

    python scripts/compare_outputs.py --reports OLD/report.json NEW/report.json \
        --figures OLD_FIGS NEW_FIGS [--tol 1e-12] [--top 15]

* reports: every JSON number (bools included) at the same path in both files; keys that
  hold timings, dates or the machine load (``--ignore-key``, default: seconds, date,
  load_average, time_* and *_seconds) are skipped, strings are not compared (they carry
  paths and timings);
* figures: every array of every ``*_data.npz`` present in either folder (``--glob`` for
  other files), element by element.

A pair of numbers a (old), b (new) agrees when |a - b| <= tol * max(1, |a|) (absolute for
numbers below 1, relative above), nan matches nan, and +-inf matches itself.  A key, file,
array or shape present on one side only is a difference.  Prints a table of the largest
differences and exits 1 if any exceeds the tolerance.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from pathlib import Path

import numpy as np

DEFAULT_IGNORE = ("seconds", "date", "time_*", "*_seconds", "seconds_*", "load_average")


def _ignored(key, patterns):
    return any(fnmatch.fnmatchcase(str(key), p) for p in patterns)


def _walk(a, b, path, ignore, out):
    """Append (path, old, new) for every number in the JSON trees ``a`` and ``b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if _ignored(k, ignore):
                continue
            if k not in a or k not in b:
                out.append((f"{path}/{k}", "missing" if k not in a else "present",
                            "missing" if k not in b else "present"))
                continue
            _walk(a[k], b[k], f"{path}/{k}", ignore, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((f"{path}[len]", len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            name = x.get("name") if isinstance(x, dict) and "name" in x else i
            _walk(x, y, f"{path}[{name}]", ignore, out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        out.append((path, float(a), float(b)))
    elif isinstance(a, str) and isinstance(b, str):
        pass
    elif a is None and b is None:
        pass
    else:
        out.append((path, type(a).__name__, type(b).__name__))


def _npz_pairs(old_dir, new_dir, pattern, out):
    old_files = {p.relative_to(old_dir) for p in Path(old_dir).rglob(pattern)}
    new_files = {p.relative_to(new_dir) for p in Path(new_dir).rglob(pattern)}
    n = 0
    for rel in sorted(old_files | new_files):
        if rel not in old_files or rel not in new_files:
            out.append((str(rel), "missing" if rel not in old_files else "present",
                        "missing" if rel not in new_files else "present"))
            continue
        with np.load(Path(old_dir) / rel, allow_pickle=False) as za, \
                np.load(Path(new_dir) / rel, allow_pickle=False) as zb:
            for k in sorted(set(za.files) | set(zb.files)):
                if k not in za.files or k not in zb.files:
                    out.append((f"{rel}:{k}", "missing" if k not in za.files else "present",
                                "missing" if k not in zb.files else "present"))
                    continue
                x, y = za[k], zb[k]
                if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
                    if x.dtype.kind != y.dtype.kind or x.shape != y.shape:
                        out.append((f"{rel}:{k}", str(x.dtype), str(y.dtype)))
                    continue
                if x.shape != y.shape:
                    out.append((f"{rel}:{k}[shape]", str(x.shape), str(y.shape)))
                    continue
                n += x.size
                out.append((f"{rel}:{k}", x.astype(np.float64), y.astype(np.float64)))
    return n


def _difference(a, b):
    """(scaled difference, absolute difference) of numbers or arrays; inf if unmatched."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0, -1
    same_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & (a == b)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a - b)
        scaled = d / np.maximum(1.0, np.abs(a))
    d = np.where(same_nan | same_inf, 0.0, d)
    scaled = np.where(same_nan | same_inf, 0.0, scaled)
    scaled = np.where(np.isnan(scaled), np.inf, scaled)
    k = int(np.argmax(scaled))
    return float(scaled.flat[k]), float(d.flat[k]), k


def compare(pairs, tol):
    """Rows (path, old, new, abs diff, scaled diff, ok) sorted by scaled difference."""
    rows = []
    for path, a, b in pairs:
        if isinstance(a, str) or isinstance(b, str):  # missing keys, type mismatches
            rows.append((path, a, b, math.inf, math.inf, False))
            continue
        scaled, absd, k = _difference(a, b)
        old = np.asarray(a).flat[k] if k >= 0 else np.nan
        new = np.asarray(b).flat[k] if k >= 0 else np.nan
        label = path if np.ndim(a) == 0 else f"{path}[{k}]"
        rows.append((label, float(old), float(new), absd, scaled, scaled <= tol))
    rows.sort(key=lambda r: -r[4])
    return rows


def _fmt(v):
    return f"{v:.17g}" if isinstance(v, float) else str(v)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", nargs=2, metavar=("OLD", "NEW"), help="two report.json files")
    p.add_argument("--figures", nargs=2, metavar=("OLD", "NEW"), help="two figure folders")
    p.add_argument("--glob", default="*_data.npz", help="figure files to compare")
    p.add_argument("--tol", type=float, default=1e-12)
    p.add_argument("--top", type=int, default=15, help="rows of the table")
    p.add_argument("--ignore-key", action="append", default=None,
                   help=f"JSON keys to skip (glob; default {', '.join(DEFAULT_IGNORE)})")
    args = p.parse_args(argv)
    if not args.reports and not args.figures:
        p.error("give --reports and/or --figures")
    ignore = tuple(args.ignore_key) if args.ignore_key else DEFAULT_IGNORE
    all_rows, counted = [], 0
    if args.reports:
        with open(args.reports[0]) as f:
            old = json.load(f)
        with open(args.reports[1]) as f:
            new = json.load(f)
        pairs = []
        _walk(old, new, "report", ignore, pairs)
        rows = compare(pairs, args.tol)
        counted += len(rows)
        print(f"report.json: {len(rows)} numbers compared, "
              f"{sum(not r[5] for r in rows)} beyond tol {args.tol:g}")
        all_rows += rows
    if args.figures:
        pairs = []
        n = _npz_pairs(args.figures[0], args.figures[1], args.glob, pairs)
        rows = compare(pairs, args.tol)
        counted += n
        files = len({r[0].split(":")[0] for r in rows})
        print(f"figures: {files} files, {len(rows)} arrays, {n} numbers compared, "
              f"{sum(not r[5] for r in rows)} arrays beyond tol {args.tol:g}")
        all_rows += rows
    all_rows.sort(key=lambda r: -r[4])
    print(f"\nlargest differences (|old - new| / max(1, |old|); tol {args.tol:g}):")
    print(f"{'where':70s} {'old':>24s} {'new':>24s} {'abs diff':>10s} {'scaled':>10s}")
    for path, a, b, d, s, ok in all_rows[:args.top]:
        print(f"{path[-70:]:70s} {_fmt(a):>24s} {_fmt(b):>24s} {d:10.3g} {s:10.3g}"
              f"{'' if ok else '  FAIL'}")
    bad = sum(not r[5] for r in all_rows)
    print(f"\n{'OK' if not bad else 'DIFFERENT'}: {bad} of {len(all_rows)} entries beyond "
          f"{args.tol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
