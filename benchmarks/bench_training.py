"""Seconds per epoch of Fig 3's training runs at the paper's settings, and the projected
time of ``python -m figures fig3 --preset paper`` (all seven runs).

Usage: python benchmarks/bench_training.py [--epochs 2] [--pretrain 2] [--threads 1]
                                           [--jobs 2]

Each run (DFC, DFC-SS, DFC-SSA with trained and fixed feedback, DFA) is trained for
``--epochs`` epochs at :func:`dfc_theory.training.fig3_config` settings (5000 samples,
batch 128, 1000 Euler steps of dt 0.005, feedback: 50-step noisy sleep phases, 1 + 2
feedback epochs per epoch), with ``--pretrain`` feedback pre-training epochs instead of 50.
Per epoch we report the forward epoch (simulation, update and the metrics of the logged
first batch) and the feedback epochs separately; the projection is
50 * (pre-training s/epoch) + 300 * (forward + feedback s/epoch) per run, summed (one
process) and scheduled longest-first on ``--jobs`` processes (what fig3 does).

BLAS threads are limited with threadpoolctl (``--threads``, default 1: on this 2-core
machine the matrices are small and one thread per process is fastest).  The load average
and each run's CPU/wall ratio are printed: on a shared machine other processes slow every
wall-clock number down, and the projection is repeated with each run's time scaled by its
CPU/wall ratio (what the single-threaded run would take on an otherwise idle machine).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from dfc_theory.datasets import student_teacher  # noqa: E402
from dfc_theory.training import fig3_config, run_label, train  # noqa: E402

RUNS = (("dfc", "trained"), ("dfc", "fixed"), ("dfc-ss", "trained"), ("dfc-ss", "fixed"),
        ("dfc-ssa", "trained"), ("dfc-ssa", "fixed"), ("dfa", "fixed"))
PAPER_EPOCHS = 300
PAPER_PRETRAIN = 50


def makespan(times, jobs):
    """Longest-processing-time-first schedule of ``times`` on ``jobs`` workers."""
    load = [0.0] * jobs
    for t in sorted(times, reverse=True):
        load[int(np.argmin(load))] += t
    return max(load)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pretrain", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, BLAS threads limited to {args.threads} (threadpoolctl; "
          f"{', '.join(sorted({i['internal_api'] for i in threadpool_info()}))})")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    data = student_teacher()
    rows = []
    with threadpool_limits(args.threads):
        for m, f in RUNS:
            c = fig3_config(m, f, epochs=args.epochs, fb_pretrain_epochs=args.pretrain)
            t0, c0 = time.perf_counter(), time.process_time()
            log = train(c, seed=0, data=data, progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            fw = float(np.mean(log.epoch["time_forward"][1:]))
            fb = float(np.mean(log.epoch["time_feedback"][1:]))
            pre = log.meta["time_pretrain_feedback"] / max(args.pretrain, 1) \
                if c.uses_feedback_learning else 0.0
            proj = PAPER_PRETRAIN * pre + PAPER_EPOCHS * (fw + fb)
            rows.append((run_label(m, f), fw, fb, pre, proj, wall, cpu))
    print(f"\n{'run':18s} {'forward s/ep':>12s} {'feedback s/ep':>13s} "
          f"{'pretrain s/ep':>13s} {'projected 300 ep':>17s} {'cpu/wall':>9s}")
    for name, fw, fb, pre, proj, wall, cpu in rows:
        print(f"{name:18s} {fw:12.2f} {fb:13.2f} {pre:13.2f} {proj / 60:14.1f} min "
              f"{cpu / wall:9.2f}")
    total = sum(r[4] for r in rows)
    span = makespan([r[4] for r in rows], args.jobs)
    print(f"\nprojected fig3 paper preset (wall clock as measured): {total / 60:.1f} min in "
          f"one process, {span / 60:.1f} min on {args.jobs} processes (target: 120 min)")
    # a single-threaded process that got the CPU only cpu/wall of the time would have
    # run cpu/wall times faster alone: the projection for an otherwise idle machine
    idle = [r[4] * r[6] / r[5] for r in rows]
    print(f"same, scaled by each run's cpu/wall ratio (an otherwise idle machine): "
          f"{sum(idle) / 60:.1f} min in one process, {makespan(idle, args.jobs) / 60:.1f} "
          f"min on {args.jobs} processes")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    main()
