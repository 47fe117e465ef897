"""Run every verification check, print a table, write report.md / report.json.

    python -m verification [--quick | --full] [--seed S] [--only NAME ...] [--out DIR]
                           [--jobs N] [--debug]
    python -m verification search ARGS ...     (counterexample search, verification.search)

The report is built in a temporary folder next to ``--out`` and moved into place only when
it is complete: an interrupted or crashed run leaves the previous report untouched, and a
new report replaces the old one (plots included) instead of mixing with it.

Exit status: 0 when every check passed, 1 when any failed or crashed, 2 on a bad command
line (one line naming the option; ``--debug`` shows tracebacks of internal errors).
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from . import CHECKS  # noqa: E402
from ._runner import run_checks  # noqa: E402,F401  (re-exported for callers and tests)
from .report import print_table, write_reports  # noqa: E402
from .result import Context  # noqa: E402

PROG = "python -m verification"
SEED_MAX = 2 ** 63  # seeds are non-negative integers below 2**63 (numpy SeedSequence words)


class UsageError(Exception):
    """A bad command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _seed(text):
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    if not 0 <= v < SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected 0 <= seed < 2**63, got {v}")
    return v


def _jobs(text):
    try:
        v = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _parser():
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="sweeps of 8 judged draws per check (default; under 2 minutes)")
    g.add_argument("--full", dest="mode", action="store_const", const="full",
                   help="sweeps of 50 judged draws per check (under 30 minutes)")
    p.set_defaults(mode="quick")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help=f"modules to run, from: {', '.join(CHECKS)}")
    p.add_argument("--out", default="report", help="report folder (default: report)")
    p.add_argument("--seed", type=_seed, default=0,
                   help="non-negative integer below 2**63 (default 0); every draw of every "
                        "check derives its own generator from it")
    p.add_argument("--jobs", type=_jobs, default=1,
                   help="check modules run in N processes (results are identical)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    return p


def _prepare_out(out):
    """Validate --out and create the temporary build folder next to it."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is an existing file, expected a folder")
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise UsageError(f"--out: cannot write a report next to {out} ({exc.strerror or exc})")
    return tmp


def _install(tmp, out):
    """Move the complete report into place, replacing the previous one as a whole."""
    out = out.resolve()
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _cpu_seconds():
    import resource
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _search(argv):
    try:
        search = importlib.import_module("verification.search")
    except ModuleNotFoundError as exc:
        if exc.name != "verification.search":
            raise
        print(f"{PROG} search: the counterexample search (verification/search.py) is not "
              f"installed in this version", file=sys.stderr)
        return 2
    return int(search.main(list(argv)) or 0)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "search":
        return _search(argv[1:])
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        if args.only:
            unknown = [n for n in args.only if n not in CHECKS]
            if unknown:
                raise UsageError(f"--only: unknown check(s) {', '.join(unknown)}; expected "
                                 f"names from {', '.join(CHECKS)}")
        out = Path(args.out)
        tmp = _prepare_out(out)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, out, tmp)
    except KeyboardInterrupt:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"{PROG}: interrupted; the previous report in {out} is unchanged",
              file=sys.stderr)
        return 130
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if debug:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (the previous report in "
              f"{out} is unchanged; --debug shows the traceback)", file=sys.stderr)
        return 1


def _run(args, out, tmp):
    ctx = Context(mode=args.mode, seed=args.seed, out=tmp)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    results = run_checks(ctx, args.only, jobs=args.jobs)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    print_table(results)
    write_reports(results, ctx, elapsed, cpu=cpu, jobs=args.jobs)
    _install(tmp, out)
    failed = [r.name for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed in {elapsed:.1f} s "
          f"(CPU {cpu:.1f} s, load {os.getloadavg()[0]:.2f}); report: {out / 'report.md'} "
          f"and {out / 'report.json'}")
    if failed:
        print("FAILED: " + ", ".join(failed))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
