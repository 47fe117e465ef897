"""Command line: python -m figures NAME|all [--preset quick|paper] [--out DIR] [--seed N]."""
from __future__ import annotations

import argparse
import importlib
import sys
import time

import matplotlib

matplotlib.use("Agg")

from . import FIGURES, PRESETS  # noqa: E402


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("name", help=f"one of {', '.join(FIGURES)} or 'all'")
    parser.add_argument("--preset", default="quick", help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--out", default="figures_out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args, extra = parser.parse_known_args(argv)
    if args.preset not in PRESETS:
        parser.error(f"--preset: expected one of {', '.join(PRESETS)}, got {args.preset!r}")
    have = available()
    if args.name == "all":
        names = [n for n in have if n != "table1"]
    elif args.name in FIGURES:
        if args.name not in have:
            parser.error(f"figure {args.name!r} is not available in this installation")
        names = [args.name]
    else:
        parser.error(f"unknown figure {args.name!r}; expected one of {', '.join(FIGURES)} or all")
    for name in names:
        mod = importlib.import_module(f"figures.{name}")
        t0 = time.perf_counter()
        print(f"== {name}: {FIGURES[name]} (preset {args.preset})", flush=True)
        kwargs = {}
        if extra:
            if not hasattr(mod, "parse_options"):
                parser.error(f"figure {name!r} takes no extra options: {' '.join(extra)}")
            kwargs = mod.parse_options(extra)
        res = mod.run(preset=args.preset, out=args.out, seed=args.seed, **kwargs)
        print(res.get("summary", ""))
        print(f"   [{name} done in {time.perf_counter() - t0:.1f} s -> {args.out}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
