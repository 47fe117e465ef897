"""Run every verification check, print a table, write report.md / report.json.

Exit status: 0 when every check passed, 1 when any failed or crashed, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from . import CHECKS  # noqa: E402
from .report import print_table, write_reports  # noqa: E402
from .result import Context, Result  # noqa: E402


def _load(name):
    try:
        return importlib.import_module(f"verification.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"verification.{name}":
            return None
        raise


def run_checks(ctx, only=None, log=print):
    """Run the selected check modules; a crash becomes a failed Result, never a silent skip."""
    results = []
    modules = [n for n in CHECKS if _load(n) is not None]
    selected = [n for n in modules if not only or n in only]
    for name in selected:
        mod = _load(name)
        log(f"[{name}] running ...", flush=True)
        t0 = time.perf_counter()
        try:
            out = mod.run(ctx)
        except Exception as exc:  # report the crash as a failure
            out = [Result(name=name, claim=f"module {name} ran to completion", reference="-",
                          predicted="no exception", measured=f"{type(exc).__name__}: {exc}",
                          tolerance="-", why="a crash is a failed check", passed=False,
                          details={"traceback": traceback.format_exc()})]
        dt = time.perf_counter() - t0
        for r in out:
            r.details.setdefault("module", name)
            if not r.seconds:
                r.seconds = dt / max(len(out), 1)
        n_ok = sum(r.passed for r in out)
        log(f"[{name}] {n_ok}/{len(out)} passed in {dt:.1f} s", flush=True)
        results.extend(out)
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["search"]:  # python -m verification search CLAIM ...
        from .search import main as search_main
        return search_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m verification", description=__doc__)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="small sweeps, under 2 minutes on 2 cores (default)")
    g.add_argument("--full", dest="mode", action="store_const", const="full",
                   help="larger sweeps and more networks")
    p.set_defaults(mode="quick")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"modules to run: {', '.join(CHECKS)}")
    p.add_argument("--out", default="report", help="report folder (default: report)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.only:
        unknown = [n for n in args.only if n not in CHECKS]
        if unknown:
            p.error(f"--only: unknown check(s) {unknown}; expected names from {CHECKS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(mode=args.mode, seed=args.seed, out=out)
    t0 = time.perf_counter()
    results = run_checks(ctx, args.only)
    elapsed = time.perf_counter() - t0
    print_table(results)
    md, js = write_reports(results, ctx, elapsed)
    failed = [r.name for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed in {elapsed:.1f} s; "
          f"report: {md} and {js}")
    if failed:
        print("FAILED: " + ", ".join(failed))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
