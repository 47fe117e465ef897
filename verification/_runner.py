"""Running check modules, in this process or in worker processes (``--jobs``).

The worker function lives here, not in ``verification.__main__``: a spawned worker imports
it by module name, which ``python -m verification``'s ``__main__`` module does not offer.
"""
from __future__ import annotations

import importlib
import time
import traceback

from . import CHECKS
from .result import Result


def _load(name):
    try:
        return importlib.import_module(f"verification.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"verification.{name}":
            return None
        raise


def _run_module(name, ctx):
    """Run one check module; a crash becomes a failed Result, never a silent skip."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):  # small matrices: one BLAS thread, reproducible sums
        mod = _load(name)
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
    return name, out, dt


def _worker(args):
    import matplotlib
    matplotlib.use("Agg")
    return _run_module(*args)


def run_checks(ctx, only=None, log=print, jobs=1):
    """Run the selected check modules (in ``jobs`` processes); results in CHECKS order."""
    modules = [n for n in CHECKS if _load(n) is not None]
    selected = [n for n in modules if not only or n in only]
    done = {}

    def report(name, out, dt):
        n_ok = sum(r.passed for r in out)
        log(f"[{name}] {n_ok}/{len(out)} passed in {dt:.1f} s", flush=True)
        done[name] = out

    if jobs <= 1 or len(selected) <= 1:
        for name in selected:
            log(f"[{name}] running ...", flush=True)
            report(*_run_module(name, ctx))
    else:
        import concurrent.futures as cf
        import multiprocessing as mp
        log(f"running {len(selected)} modules in {jobs} processes ...", flush=True)
        with cf.ProcessPoolExecutor(max_workers=jobs,
                                    mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(_worker, (name, ctx)) for name in selected]
            for f in cf.as_completed(futs):
                report(*f.result())
    return [r for name in selected for r in done[name]]
