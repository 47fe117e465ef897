"""Speed of the torch backend at the paper's scale (issue 6's performance targets).

Setting: the 784-256-256-256-10 tanh classifier (linear output), batch 128, float32,
cross-entropy targets with lambda = 0.078 and the reference code's batch-mean scaling,
leak "total".  Measured from one run, per torch thread setting:

  step_bp        one BP training step: forward, autograd backward, Adam
  step_dfc_ssa   one DFC-SSA training step: forward, J (n_L backward passes at once), the
                 n_L x n_L solve per sample, the nonlinear propagation, the plasticity rule,
                 Adam (trained-feedback settings: k_p 0, tau_v 0.005, alpha 1.39e-3)
  sleep          one sleep-phase feedback update (50 noisy Euler steps), for reference
  newton         exact steady state (Newton in u) to a residual <= 1e-6 (float32)
  euler          the reference Euler scheme, 1000 steps of the same batch (DFC settings:
                 k_p 2, tau_v 0.2, dt 0.02), record="final"
  epoch          one epoch of DFC-SSA on the offline 5000-digit subset (3500 training
                 digits, 28 batches), trained feedback: the sleep-phase epoch, the forward
                 epoch, alignment metrics of the first batch and the evaluation of all splits

Targets: step_dfc_ssa / step_bp <= 4; euler / newton >= 30; epoch < 60 s (CPU).

Each time is the minimum over interleaved rounds (the development machine is shared, so
minima are the stable statistic); the thread count is set with torch.set_num_threads and
printed, as is torch's parallel backend.  ``--device cuda`` times with synchronisation.

Run:  python benchmarks/bench_torch.py [--threads 1 2] [--repeats 5] [--device cpu]
      [--json FILE] [--skip-epoch]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import torch  # noqa: E402

import dfc_theory.torch as dtt  # noqa: E402
from dfc_theory.torch import records  # noqa: E402
from dfc_theory._validation import resolve_device  # noqa: E402
from dfc_theory.torch.data import load_data  # noqa: E402
from dfc_theory.torch.feedback_learning import feedback_update  # noqa: E402
from dfc_theory.torch.learning import fixed_feedback, forward_update  # noqa: E402
from dfc_theory.torch.train import Adam, FullScaleConfig, train_run  # noqa: E402

SIZES = [784, 256, 256, 256, 10]
BATCH = 128
LAM = 0.078
TARGETS = {"dfc_ssa_vs_bp_max": 4.0, "euler_vs_newton_min": 30.0, "epoch_max_s": 60.0,
           "newton_residual_max": 1e-6}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(device, seed=0):
    """Network, a batch of real digits (standardised), labels, and the exact delta_L."""
    data = load_data("mnist", device=device, dtype=torch.float32)
    x, y = data.x_train[:BATCH], data.y_train[:BATCH]
    net = dtt.Network.random(SIZES, seed=seed, dtype=torch.float32, device=device)
    return net, x, y, data


def measure(runs, rounds, device):
    """{name: min seconds} over ``rounds`` interleaved rounds (each run after a warm-up)."""
    for fn in runs.values():
        fn()
    _sync(device)
    best = {k: math.inf for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def bench_once(device, rounds, skip_epoch, log=print):
    net, x, y, data = build(device)
    cfg_ssa = FullScaleConfig(method="dfc-ssa")
    cfg_dfc = FullScaleConfig(method="dfc")
    ctrl_ssa, ctrl_dfc = cfg_ssa.controller(), cfg_dfc.controller()
    Q = fixed_feedback(net)
    params_bp = [p.clone().requires_grad_(True) for p in net.parameters()]
    net_bp = net.clone()
    net_bp.weights, net_bp.biases = params_bp[0::2], params_bp[1::2]
    opt_bp = Adam(params_bp, lr=1e-3)
    net_ssa = net.clone()
    opt_ssa = Adam(net_ssa.parameters(), lr=1e-3)
    scale = BATCH / LAM

    def step_bp():
        loss = dtt.loss_value(net_bp(x), y, "cross_entropy", "batch_mean")
        opt_bp.step(torch.autograd.grad(loss, params_bp))

    def step_dfc_ssa():
        with torch.no_grad():
            fp = net_ssa.forward(x)
            delta = -LAM * dtt.loss_gradient(fp.r[-1], y, "cross_entropy", "batch_mean")
            res = forward_update(net_ssa, x, fp.r[-1] + delta, "dfc-ssa", Q=Q,
                                 controller=ctrl_ssa, delta_L=delta, forward=fp)
            opt_ssa.step([g for pair in zip(res.update.dW, res.update.db) for g in pair],
                         scale=-scale)

    fbcfg = cfg_ssa.feedback_config()

    def sleep():
        feedback_update(net, Q, x, fbcfg, seed=1)

    with torch.no_grad():
        fp = net.forward(x)
        delta = -LAM * dtt.loss_gradient(fp.r[-1], y, "cross_entropy", "batch_mean")
        target = fp.r[-1] + delta
    system = dtt.DFCSystem(net, Q, ctrl_dfc)
    # residual ||F(u)|| <= 1e-6 for every sample (float32's rounding floor for F here is a
    # few 1e-7): absolute tolerance 1e-6, relative 1e-7 (only binding for ||r_L*|| > 10)
    tol = 1e-7
    out = {}

    def newton():
        out["ss"] = dtt.steady_state(system, x, target, method="newton", tol=tol, atol=1e-6)

    def euler():
        out["sim"] = dtt.simulate(system, x, target, dt=cfg_dfc.dt, n_steps=1000,
                                  record="final")

    t = measure({"step_bp": step_bp, "step_dfc_ssa": step_dfc_ssa, "sleep": sleep,
                 "newton": newton}, rounds, device)
    t.update(measure({"euler": euler}, max(1, rounds // 2), device))
    ss, sim = out["ss"], out["sim"]
    # the simulation's end state measured by the same exact residual as Newton's
    from dfc_theory._steady_state import _state_at
    F_sim = _state_at(system, x, target, sim.u_final)[2]
    info = {"newton_iterations": ss.iterations, "newton_residual_max": float(ss.residual.max()),
            "newton_converged": int(ss.converged.sum()),
            "euler_residual_max": float(F_sim.norm(dim=1).max()),
            "euler_converged": int(sim.converged.sum()), "newton_tol_used": tol}
    if not skip_epoch:
        cfg = FullScaleConfig(method="dfc-ssa", epochs=1, fb_pretrain_epochs=0,
                              device=str(device))
        t0 = time.perf_counter()
        r = train_run(cfg, seed=0, data=data, progress=False)
        _sync(device)
        t["epoch"] = time.perf_counter() - t0
        e = r["epochs"][1]
        info.update({"epoch_forward_and_eval_s": e["seconds"] - e["fb_seconds"],
                     "epoch_feedback_s": e["fb_seconds"],
                     "epoch_test_error": e["test_error"], "epoch_batches": 28})
    return t, info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (minimum kept)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="write the numbers to this file")
    p.add_argument("--skip-epoch", action="store_true")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    env = records.environment(device, torch.float32)
    print(f"torch {torch.__version__} on {env['device_name']} ({device}); "
          f"parallel backend: {torch.__config__.parallel_info().splitlines()[0]}; "
          f"cpu_count {os.cpu_count()}; python {platform.python_version()}")
    threads = args.threads if device.type == "cpu" else [torch.get_num_threads()]
    results = {"environment": env, "targets": TARGETS, "runs": []}
    for n in threads:
        torch.set_num_threads(n)
        t, info = bench_once(device, args.repeats, args.skip_epoch)
        ratios = {"dfc_ssa_vs_bp": t["step_dfc_ssa"] / t["step_bp"],
                  "euler_vs_newton": t["euler"] / t["newton"]}
        ok = {"dfc_ssa_vs_bp": ratios["dfc_ssa_vs_bp"] <= TARGETS["dfc_ssa_vs_bp_max"],
              "euler_vs_newton": ratios["euler_vs_newton"] >= TARGETS["euler_vs_newton_min"]
              and info["newton_residual_max"] <= TARGETS["newton_residual_max"]}
        if "epoch" in t:
            ok["epoch"] = t["epoch"] < TARGETS["epoch_max_s"]
        print(f"\n== {device}, torch threads = {torch.get_num_threads()} "
              f"(min of {args.repeats} interleaved rounds)")
        for k, v in t.items():
            print(f"  {k:14s} {v * 1e3:10.2f} ms")
        print(f"  DFC-SSA step / BP step   = {ratios['dfc_ssa_vs_bp']:.2f}  "
              f"(target <= {TARGETS['dfc_ssa_vs_bp_max']:g})  "
              f"{'OK' if ok['dfc_ssa_vs_bp'] else 'MISSED'}")
        print(f"  Euler 1000 / Newton      = {ratios['euler_vs_newton']:.1f}  "
              f"(target >= {TARGETS['euler_vs_newton_min']:g}; Newton residual "
              f"{info['newton_residual_max']:.2e} in {info['newton_iterations']} iterations, "
              f"Euler end residual {info['euler_residual_max']:.2e})  "
              f"{'OK' if ok['euler_vs_newton'] else 'MISSED'}")
        if "epoch" in t:
            print(f"  DFC-SSA epoch (subset)   = {t['epoch']:.1f} s (target < "
                  f"{TARGETS['epoch_max_s']:g} s; sleep phase {info['epoch_feedback_s']:.1f} s, "
                  f"test error after 1 epoch {info['epoch_test_error']:.1f} %)  "
                  f"{'OK' if ok['epoch'] else 'MISSED'}")
        results["runs"].append({"threads": torch.get_num_threads(), "seconds": t,
                                "ratios": ratios, "info": info, "met": ok})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records._clean(results), f, indent=1)
        print(f"\nwritten {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
