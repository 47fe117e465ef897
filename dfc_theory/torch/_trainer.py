"""The loop of one full-scale run (:func:`train_run`): feedback pre-training, then per epoch
a feedback epoch and a forward epoch with Adam, logged batches, per-epoch evaluation and a
run record kept on disk while the run goes on."""
from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

from .._adam import Adam
from .._methods import DFC_METHODS
from .._progress import Progress, fmt_time
from .._validation import resolve_device, resolve_dtype
from ..feedback import random_gaussian
from ..feedback_learning import feedback_metrics, feedback_update
from ..learning import dfa_feedback, fixed_feedback, forward_update
from ..targets import loss_gradient, loss_value
from . import records as rec
from ._config import FullScaleConfig
from ._run_log import _alignment_row, _epoch_row
from ._tensors import Network
from .data import load_data

__all__ = ["train_run"]


def train_run(cfg: FullScaleConfig, seed=0, data=None, progress=True, stream=None, out=None):
    """Train one configuration with one seed; returns the run record (a dict) and writes it
    to ``out`` when given.

    ``seed`` initialises the network, Q / DFA matrices, shuffling and the sleep-phase noise
    (four streams spawned from ``numpy.random.SeedSequence(seed)``).
    """
    if not isinstance(cfg, FullScaleConfig):
        raise TypeError(f"cfg: expected a FullScaleConfig, got {type(cfg).__name__}")
    stream = sys.stdout if stream is None else stream
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype)
    say = Progress(f"{cfg.label} {cfg.dataset} seed {seed}", progress, stream)
    t_start = time.perf_counter()
    if data is None:
        data = load_data(cfg.dataset, cfg.data_dir, seed=cfg.data_seed, device=device,
                         dtype=dtype, n_train=cfg.n_train)
    ss_ = np.random.SeedSequence(seed)
    s_net, s_q, s_fb, s_shuffle = (int(s.generate_state(1)[0]) for s in ss_.spawn(4))
    net = Network.random(cfg.sizes, cfg.activation, cfg.output_activation, seed=s_net,
                         dtype=dtype, device=device)
    controller = cfg.controller()
    Q, B_fb, fbcfg, q_opt = None, None, None, None
    fb_log = []
    fb_rng = np.random.default_rng(s_fb)
    shuffle_rng = np.random.default_rng(s_shuffle)
    x_eval = data.x_train[:cfg.batch_size]

    def feedback_epochs(n, when):
        nonlocal Q
        t0 = time.perf_counter()
        for _ in range(n):
            for xb, _y in data.batches(cfg.batch_size, fb_rng):
                dQ = feedback_update(net, Q, xb, fbcfg, seed=int(fb_rng.integers(2**62)))
                if q_opt is None:
                    Q = Q + cfg.lr_fb * dQ
                else:
                    q_opt.step([-dQ])  # Q in place
        m = feedback_metrics(net, Q, x_eval, gammas=(cfg.gn_damping,), alpha=cfg.alpha_fb)
        m = {"when": when, "epochs": n, "seconds": time.perf_counter() - t0, **m}
        fb_log.append(m)
        return m

    if cfg.method == "dfa":
        B_fb = dfa_feedback(net, seed=s_q, scale=cfg.dfa_scale)
    elif cfg.method in DFC_METHODS:
        if cfg.feedback == "fixed":
            Q = fixed_feedback(net)
        else:
            Q = random_gaussian(net, seed=s_q, scale=cfg.q_init_scale)
            fbcfg = cfg.feedback_config()
            q_opt = Adam([Q], cfg.lr_fb) if cfg.fb_optimizer == "adam" else None
            fb_log.append({"when": "init", "epochs": 0, "seconds": 0.0,
                           **feedback_metrics(net, Q, x_eval, gammas=(cfg.gn_damping,),
                                              alpha=cfg.alpha_fb)})
            if cfg.fb_pretrain_epochs:
                m = feedback_epochs(cfg.fb_pretrain_epochs, "pretrain")
                say(f"feedback pre-training: {cfg.fb_pretrain_epochs} epochs in "
                    f"{m['seconds']:.1f} s, Condition-2 ratio {m['condition2']:.3f}, "
                    f"min Re eig(JQ) {m['min_real_eig']:.3g}")
    params = net.parameters()
    if cfg.method == "bp":
        for p in params:
            p.requires_grad_(True)
    opt = Adam(params, lr=cfg.lr)
    scale = float(cfg.batch_size) / cfg.lam  # g = -(B / lambda) Delta theta
    record = {"schema": rec.SCHEMA, "seed": int(seed), "config": cfg.to_dict(),
              "environment": rec.environment(device, dtype),
              "data": {"name": data.name, "source": data.source, "reduced": data.reduced,
                       **data.sizes(), "standardisation": [data.mean, data.std]},
              "epochs": [], "alignment": [], "feedback": fb_log,
              "summary": {"status": "running"}}
    e0 = _epoch_row(net, data, cfg, 0)
    e0.update({"seconds": 0.0, "fb_seconds": fb_log[-1]["seconds"] if fb_log else 0.0})
    record["epochs"].append(e0)
    n_batches = -(-len(data.x_train) // cfg.batch_size)
    step, status = 0, "complete"
    say(f"{cfg.epochs} epochs x {n_batches} batches on {data.source} "
        f"({len(data.x_train)} train), {cfg.sizes}, {device}/{cfg.dtype}")
    t_train = time.perf_counter()
    for ep in range(1, cfg.epochs + 1):
        t_ep = time.perf_counter()
        fb_sec = 0.0
        if cfg.uses_feedback_learning and cfg.fb_epochs_per_epoch:
            fb_sec = feedback_epochs(cfg.fb_epochs_per_epoch, f"epoch {ep}")["seconds"]
        conv = div = skipped = 0
        for b, (x, y) in enumerate(data.batches(cfg.batch_size, shuffle_rng)):
            log_now = b == 0 or (cfg.log_every and b % cfg.log_every == 0)
            if cfg.method == "bp" and not log_now:
                loss = loss_value(net(x), y, cfg.loss, "batch_mean")
                opt.step(torch.autograd.grad(loss, params))
                step += 1
                continue
            with torch.no_grad():
                fp = net.forward(x)
                delta = -cfg.lam * loss_gradient(fp.r[-1], y, cfg.loss, "batch_mean")
                target = fp.r[-1] + delta
                J = net.jacobian(x) if log_now else None
                Qb = fixed_feedback(net) if (Q is not None and cfg.feedback == "fixed"
                                              and cfg.fixed_mode == "recompute") else Q
                res = forward_update(net, x, target, cfg.method, Q=Qb, controller=controller,
                                     rule=cfg.rule, dt=cfg.dt, n_steps=cfg.n_steps,
                                     dfa_feedback=B_fb, J=J, delta_L=delta, forward=fp)
                if res.converged is not None and cfg.method != "dfc-ssa":
                    conv += int(res.converged.sum())
                    div += int(res.diverged.sum())
                if log_now:
                    row = _alignment_row(cfg, net, Qb, controller, x, y, target, delta, fp, J,
                                         res, B_fb)
                    record["alignment"].append({"epoch": ep, "batch": b, "step": step, **row})
                grads = [g for pair in zip(res.update.dW, res.update.db) for g in pair]
                if not all(bool(torch.isfinite(g).all()) for g in grads):
                    skipped += 1
                    step += 1
                    continue
            opt.step(grads, scale=-scale)
            step += 1
            say(f"epoch {ep}: batch {b + 1}/{n_batches}", force=False)
        row = _epoch_row(net, data, cfg, ep)
        sec = time.perf_counter() - t_ep
        row.update({"seconds": sec, "fb_seconds": fb_sec, "converged": conv, "diverged": div,
                    "skipped": skipped})
        record["epochs"].append(row)
        left = (time.perf_counter() - t_train) / ep * (cfg.epochs - ep)
        metric = (f"test err {row['test_error']:.2f}%" if cfg.task == "classification"
                  else f"test mse {row['test_loss']:.4g}")
        say(f"epoch {ep}/{cfg.epochs}: train loss {row['train_loss']:.4g}, {metric}, "
            f"{sec:.1f} s (feedback {fb_sec:.1f} s), ~{fmt_time(left)} left")
        if not math.isfinite(row["train_loss"]):
            status = "diverged"
            say("training loss is not finite: stopping")
            break
        if out is not None:  # keep a partial record on disk during long runs
            record["summary"] = {"status": "running", "epochs_done": ep}
            rec.write_record(record, out)
    summ = rec.summarize(record["epochs"], cfg.task)
    paper_epochs = rec.PAPER_EPOCHS[cfg.dataset]
    summ.update({"status": status, "epochs_done": len(record["epochs"]) - 1,
                 "reduced_data": bool(data.reduced),
                 "reduced_epochs": cfg.epochs < paper_epochs, "paper_epochs": paper_epochs,
                 "total_seconds": time.perf_counter() - t_start,
                 "mean_epoch_seconds": float(np.mean([e["seconds"]
                                                      for e in record["epochs"][1:]]))
                 if len(record["epochs"]) > 1 else None})
    record["summary"] = summ
    if out is not None:
        path = rec.write_record(record, out)
        say(f"record written: {path}")
    return record
