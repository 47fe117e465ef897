"""Speed of this checkout against an earlier revision, measured side by side in one run.

    python benchmarks/compare_revisions.py [--base REV] [--rounds 5] [--threads 1]

The earlier revision is extracted with ``git archive`` into a temporary folder; then, round
after round, a fresh subprocess per revision (old, new, old, new, ...; the order alternates
every round) imports that revision's ``dfc_theory`` and times, with the same thread settings
(threadpoolctl for BLAS, ``torch.set_num_threads`` for torch):

* bench_core's setting (784-256-256-256-10 tanh, batch 128, MNIST controller): the exact
  Newton steady state and 1000 reference Euler steps (NumPy float64);
* bench_torch's setting (same network, float32, CPU): one DFC-SSA training step (forward,
  targets, the linearised steady state, the rule, Adam) and one BP step (autograd, Adam).

Each subprocess reports the minimum CPU time of several calls (less sensitive to other
load than wall time); the table shows the median over rounds and the ratios the targets
are stated in: Euler / Newton (bench_core) and DFC-SSA step / BP step (bench_torch), old
and new, and new / old.  The machine's load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]

# Runs inside each revision (only names both revisions have); prints one JSON line.
WORKER = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threads = int(sys.argv[1])
sys.path.insert(0, "benchmarks")
import bench_core, bench_torch
import torch
torch.set_num_threads(threads)
from dfc_theory import simulate, steady_state
import dfc_theory.torch as dtt
from dfc_theory.torch.learning import fixed_feedback, forward_update
from dfc_theory.torch.train import Adam, FullScaleConfig

def best(fn, n):
    fn()
    t = []
    for _ in range(n):
        c0 = time.process_time(); fn(); t.append(time.process_time() - c0)
    return min(t)

out = {}
with threadpool_limits(limits=threads, user_api="blas"):
    system, x, target = bench_core.build()
    out["newton"] = best(lambda: steady_state(system, x, target, method="newton"), 5)
    out["euler"] = best(lambda: simulate(system, x, target, dt=bench_core.DT,
                                         n_steps=bench_core.N_STEPS, record="final"), 2)
    net, xb, yb, _ = bench_torch.build(torch.device("cpu"))
    ctrl = FullScaleConfig(method="dfc-ssa").controller()
    Q = fixed_feedback(net)
    params = [p.clone().requires_grad_(True) for p in net.parameters()]
    net_bp = net.clone()
    net_bp.weights, net_bp.biases = params[0::2], params[1::2]
    opt_bp = Adam(params, lr=1e-3)
    net_ssa = net.clone()
    opt_ssa = Adam(net_ssa.parameters(), lr=1e-3)
    lam = bench_torch.LAM
    scale = bench_torch.BATCH / lam

    def step_bp():
        loss = dtt.loss_value(net_bp(xb), yb, "cross_entropy", "batch_mean")
        opt_bp.step(torch.autograd.grad(loss, params))

    def step_ssa():
        with torch.no_grad():
            fp = net_ssa.forward(xb)
            delta = -lam * dtt.loss_gradient(fp.r[-1], yb, "cross_entropy", "batch_mean")
            res = forward_update(net_ssa, xb, fp.r[-1] + delta, "dfc-ssa", Q=Q, controller=ctrl,
                                 delta_L=delta, forward=fp)
            opt_ssa.step([g for pair in zip(res.update.dW, res.update.db) for g in pair],
                         scale=-scale)

    for _ in range(3):
        out["step_bp"] = min(out.get("step_bp", 9e9), best(step_bp, 10))
        out["step_dfc_ssa"] = min(out.get("step_dfc_ssa", 9e9), best(step_ssa, 10))
print(json.dumps(out))
"""


def extract(rev, dest):
    """``git archive rev`` of this repository, unpacked into ``dest``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_worker(tree, threads):
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(threads))
    res = subprocess.run([sys.executable, "-c", WORKER, str(threads)], cwd=tree, env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker failed in {tree}:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="10fc1e4", help="the earlier revision (git rev)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        extract(args.base, old)
        trees = {"old": old, "new": ROOT}
        samples = {"old": [], "new": []}
        for k in range(args.rounds):
            order = ("old", "new") if k % 2 == 0 else ("new", "old")
            for name in order:
                samples[name].append(run_worker(trees[name], args.threads))
                print(f"round {k + 1}/{args.rounds} {name}: " + ", ".join(
                    f"{key} {v * 1e3:.1f} ms" for key, v in samples[name][-1].items()),
                    flush=True)
    load1 = os.getloadavg()
    keys = list(samples["old"][0])
    med = {n: {k: median(s[k] for s in samples[n]) for k in keys} for n in samples}
    ratios = {n: {"euler / newton": median(s["euler"] / s["newton"] for s in samples[n]),
                  "dfc-ssa step / bp step": median(s["step_dfc_ssa"] / s["step_bp"]
                                                   for s in samples[n])} for n in samples}
    print(f"\n{args.base} (old) vs this checkout (new); {args.threads} BLAS / torch thread(s); "
          f"medians over {args.rounds} rounds of per-process minimum CPU times; load average "
          f"(1 min) {load0[0]:.2f} before, {load1[0]:.2f} after, on {os.cpu_count()} CPUs")
    print(f"{'':24s} {'old':>11s} {'new':>11s} {'new / old':>10s}")
    for k in keys:
        print(f"{k + ' [ms]':24s} {med['old'][k] * 1e3:11.2f} {med['new'][k] * 1e3:11.2f} "
              f"{med['new'][k] / med['old'][k]:10.3f}")
    for k in ratios["old"]:
        print(f"{k:24s} {ratios['old'][k]:11.2f} {ratios['new'][k]:11.2f} "
              f"{ratios['new'][k] / ratios['old'][k]:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
