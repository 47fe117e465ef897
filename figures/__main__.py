"""Command line: python -m figures NAME|all [--preset quick|paper] [--out DIR] [--seed N]
[figure options] [--debug].

Bad usage (an unknown figure or option, a bad value, --out a file or not writable) ends
with one line and exit status 2, bad data (a missing or malformed file) with one line and
exit status 1, Ctrl-C with exit status 130; --debug shows the traceback instead.  Each
figure's files are moved into --out only once complete, so a failed or interrupted run
leaves the previous ones untouched.
"""
from __future__ import annotations

import importlib
import sys
import time

import matplotlib

matplotlib.use("Agg")

from dfc_theory._cli import (ArgumentParser, UsageError, check_output_folder,  # noqa: E402
                             command, non_negative_int)

from . import FIGURES, PRESETS  # noqa: E402

PROG = "python -m figures"


def available():
    """Figure names whose module exists in this installation."""
    names = []
    for name in FIGURES:
        try:
            importlib.import_module(f"figures.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"figures.{name}":
                raise
            continue
        names.append(name)
    return names


def build_parser():
    parser = ArgumentParser(prog=PROG, description=__doc__, allow_abbrev=False)
    parser.add_argument("name", help=f"one of {', '.join(FIGURES)} or 'all'")
    parser.add_argument("--preset", default="quick", choices=PRESETS)
    parser.add_argument("--out", default="figures_out", help="output folder")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="non-negative integer (NumPy seeds)")
    return parser


@command(PROG)
def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    have = available()
    if args.name == "all":
        names = [n for n in have if n != "table1"]
    elif args.name in FIGURES:
        if args.name not in have:
            raise UsageError(f"figure {args.name!r} is not available in this installation")
        names = [args.name]
    else:
        raise UsageError(f"unknown figure {args.name!r}; expected one of "
                         f"{', '.join(FIGURES)} or all")
    # every option is checked before any figure runs
    modules, options = {}, {}
    for name in names:
        modules[name] = importlib.import_module(f"figures.{name}")
        if extra and not hasattr(modules[name], "parse_options"):
            raise UsageError(f"figure {name!r} takes no extra options: {' '.join(extra)}")
        options[name] = modules[name].parse_options(extra) if extra else {}
    check_output_folder(args.out, "--out")
    for name in names:
        t0 = time.perf_counter()
        print(f"== {name}: {FIGURES[name]} (preset {args.preset})", flush=True)
        res = modules[name].run(preset=args.preset, out=args.out, seed=args.seed,
                                **options[name])
        print(res.get("summary", ""))
        print(f"   [{name} done in {time.perf_counter() - t0:.1f} s -> {args.out}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
