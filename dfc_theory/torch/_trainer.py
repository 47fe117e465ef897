"""The loop of one full-scale run (:func:`train_run`): feedback pre-training, then per epoch
a feedback epoch and a forward epoch with Adam, logged batches, per-epoch evaluation, and a
run record and a checkpoint kept on disk while the run goes on."""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np
import torch

from .. import _checkpoint as ckpt
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


def train_run(cfg: FullScaleConfig, seed=0, data=None, progress=True, stream=None, out=None,
              resume=False, overwrite=False):
    """Train one configuration with one seed; returns the run record (a dict).

    ``seed`` spawns the streams of the network, Q / DFA matrices, shuffling and sleep-phase
    noise.  ``out`` (a folder): the record is written there after every epoch (status
    "running") and at the end, the state checkpointed in ``<out>/checkpoints/``
    (:mod:`dfc_theory._checkpoint`) until the run is finished.  A finished record of this
    run in ``out`` is returned as it is (``"_path"`` names it) unless ``overwrite``;
    ``resume`` continues a checkpointed run (the record equals an uninterrupted run's,
    timings and ``resumed`` aside); with neither a checkpoint raises ValueError.  Ctrl-C or
    SIGTERM marks the record "interrupted" and raises :class:`dfc_theory._cli.Interrupted`.

    Parameters
    ----------
    cfg : FullScaleConfig
    seed : int
        The run's seed (above).
    data : dfc_theory.torch.data.TensorData, optional
        Default: :func:`dfc_theory.torch.data.load_data` of ``cfg.dataset``, ``data_dir``,
        ``data_seed``, ``n_train`` on ``cfg.device`` in ``cfg.dtype``.
    progress, stream : bool, file
        Progress lines (default sys.stdout).
    out : path, optional
        Folder of the record and its checkpoint (above).
    resume, overwrite : bool
        Need ``out`` (ValueError otherwise).

    Returns
    -------
    dict
        The run record (:mod:`dfc_theory.torch.records`: ``config``, ``environment``,
        ``data``, ``epochs`` (``cfg.epochs + 1`` rows, 0 = before training), ``alignment``
        (the logged batches), ``feedback``, ``summary``), as written to ``out``.

    Examples
    --------
    One epoch of DFC-SSA on 8 random "images" (two batches, the first logged).  With a
    single linear layer the network is affine in v, so the linearised (SSA) steady state
    is the exact one: their updates' angle is 0.

    >>> import torch
    >>> from dfc_theory.torch.train import FullScaleConfig, train_run
    >>> from dfc_theory.torch.data import TensorData
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.rand(12, 784, generator=g), torch.arange(12) % 10
    >>> data = TensorData("mnist", "classification", x[:8], y[:8], x[8:10], y[8:10], x[10:],
    ...                   y[10:], reduced=True, source="random pixels", mean=0.0, std=1.0)
    >>> cfg = FullScaleConfig(method="dfc-ssa", sizes=(784, 10), epochs=1, batch_size=4,
    ...                       fb_pretrain_epochs=0, fb_epochs_per_epoch=0)
    >>> r = train_run(cfg, seed=0, data=data, progress=False)
    >>> r["summary"]["status"], len(r["epochs"]), r["data"]["train"], len(r["alignment"])
    ('complete', 2, 8, 1)
    >>> row = r["alignment"][0]
    >>> row["newton_converged"], round(row["angle_ssa_exact"], 6)
    (4, 0.0)
    """
    if not isinstance(cfg, FullScaleConfig):
        raise TypeError(f"cfg: expected a FullScaleConfig, got {type(cfg).__name__}")
    if out is None and (resume or overwrite):
        raise ValueError("out: resume and overwrite need the folder of the run")
    device = resolve_device(cfg.device)
    dtype = resolve_dtype(cfg.dtype)
    say = Progress(f"{cfg.label} {cfg.dataset} seed {seed}", progress, stream)
    t_start = time.perf_counter()
    if data is None:
        data = load_data(cfg.dataset, cfg.data_dir, seed=cfg.data_seed, device=device,
                         dtype=dtype, n_train=cfg.n_train)
    identity = {"config": cfg.to_dict(), "seed": int(seed),
                "data": {"name": data.name, "source": data.source, "reduced": data.reduced,
                         **data.sizes(), "standardisation": [data.mean, data.std]}}
    run = _Files(out, identity, resume, overwrite) if out is not None else None
    if run is not None and run.finished is not None and not overwrite:
        say(f"already complete: {run.path}")
        return run.finished
    try:
        record = _train(cfg, seed, data, device, dtype, identity, run, say, t_start)
    except KeyboardInterrupt as exc:
        if run is None:
            raise
        raise ckpt.interrupted(exc, run.interrupted(cfg)) from None
    if run is not None:
        run.write(record, final=True)
        say(f"record written: {run.path}")
    return record


class _Files:
    """The record and checkpoint of one run in ``out`` (see :func:`train_run`)."""

    def __init__(self, out, identity, resume, overwrite):
        self.out, self.identity = Path(out), identity
        self.path = self.out / rec.record_name(identity["config"], identity["seed"])
        self.checkpoint = self.out / "checkpoints" / (self.path.stem + ".npz")
        self.finished = rec.finished_record(self.path)
        if self.finished is not None:
            same = (self.finished.get("config") == ckpt.plain(identity["config"])
                    and self.finished.get("seed") == identity["seed"])
            if not (same or overwrite):
                raise ValueError(f"out: {self.path} holds the finished record of another "
                                 f"configuration; pass overwrite=True (--overwrite) to "
                                 f"replace it, or another out")
        self.saved = ckpt.start(self.checkpoint, identity, resume, overwrite)

    def write(self, record, final=False):
        """The record as it is now; a finished record is replaced by a finished one only,
        and then the checkpoint is removed (signals held until both are done)."""
        with ckpt.deferred_signals():
            if final or self.finished is None:
                rec.write_record(record, self.out)
            if final:
                self.checkpoint.unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # the folder too, once empty
                    self.checkpoint.parent.rmdir()

    def interrupted(self, cfg):
        """Mark the record interrupted (as far as the checkpoint goes); the message."""
        kept = ckpt.saved_run(self.checkpoint, self.identity)
        if kept is None:
            return f"{cfg.label} seed {self.identity['seed']} interrupted before its first " \
                   f"checkpoint (during the feedback pre-training): nothing kept"
        record, done = kept[0]["state"]["record"], kept[0]["state"]["epoch"]
        record["summary"] = {"status": "interrupted", "epochs_done": done}
        self.write(record)
        where, how = ((f"{self.path} kept as it was (finished)", "--overwrite --resume")
                      if self.finished is not None else (f"{self.path} marked interrupted",
                                                         "--resume"))
        return (f"{cfg.label} seed {self.identity['seed']} interrupted after epoch {done} of "
                f"{cfg.epochs}: {where}, state in {self.checkpoint}; {how} continues it")


def _rng():
    """torch's global generators (CPU; CUDA once initialised) by checkpoint name: the trainer
    draws from NumPy and seeded torch Generators, these are kept for code that does not."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {f"torch_rng{i}": s for i, s in enumerate([torch.get_rng_state(), *cuda])}


def _train(cfg, seed, data, device, dtype, identity, run, say, t_start):
    saved = run.saved if run is not None else None
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
        """``n`` sleep-phase epochs, then the feedback metrics: the ``fb_log`` entry."""
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
        fb_log.append({"when": when, "epochs": n,
                       "seconds": time.perf_counter() - t0 if n else 0.0, **m})
        return fb_log[-1]

    if cfg.method == "dfa":
        B_fb = dfa_feedback(net, seed=s_q, scale=cfg.dfa_scale)
    elif cfg.method in DFC_METHODS:
        if cfg.feedback == "fixed":
            Q = fixed_feedback(net)
        else:
            Q = random_gaussian(net, seed=s_q, scale=cfg.q_init_scale)
            fbcfg = cfg.feedback_config()
            q_opt = Adam([Q], cfg.lr_fb) if cfg.fb_optimizer == "adam" else None
            if saved is None:
                feedback_epochs(0, "init")
            if cfg.fb_pretrain_epochs and saved is None:
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

    def tensors():
        """Every tensor of the run's state, by checkpoint name."""
        out = {f"param{i}": p for i, p in enumerate(params)}
        out.update({f"adam_{k}{i}": t for k in "mv" for i, t in enumerate(getattr(opt, k))})
        if Q is not None:
            out["Q"] = Q
        if q_opt is not None:
            out.update({"q_adam_m": q_opt.m[0], "q_adam_v": q_opt.v[0]})
        return out

    def save(ep):
        if run is None:
            return
        st = {"epoch": ep, "record": record, "seconds": time.perf_counter() - t_start,
              "adam_t": opt.t, "q_adam_t": q_opt.t if q_opt else None,
              "rng": [g.bit_generator.state for g in (fb_rng, shuffle_rng)]}
        arrays = {k: t.detach().cpu().numpy() for k, t in {**tensors(), **_rng()}.items()}
        ckpt.save(run.checkpoint, "running", identity, st, arrays)

    if saved is None:
        record = {"schema": rec.SCHEMA, "seed": int(seed), "config": cfg.to_dict(),
                  "environment": rec.environment(device, dtype), "data": identity["data"],
                  "epochs": [{**_epoch_row(net, data, cfg, 0), "seconds": 0.0,
                              "fb_seconds": fb_log[-1]["seconds"] if fb_log else 0.0}],
                  "alignment": [], "feedback": fb_log, "summary": {"status": "running"}}
        save(0)
        first = 1
    else:
        st, arrays = saved[0]["state"], saved[1]
        with torch.no_grad():
            for k, t in tensors().items():
                t.copy_(torch.from_numpy(arrays[k]))
        states = [torch.from_numpy(arrays[f"torch_rng{i}"]) for i in range(len(arrays))
                  if f"torch_rng{i}" in arrays]  # _rng's
        torch.set_rng_state(states[0])
        if len(states) > 1:
            torch.cuda.set_rng_state_all(states[1:])
        opt.t = st["adam_t"]
        if q_opt is not None:
            q_opt.t = st["q_adam_t"]
        fb_rng.bit_generator.state, shuffle_rng.bit_generator.state = st["rng"]
        record, first = st["record"], st["epoch"] + 1
        fb_log = record["feedback"]
        t_start -= st["seconds"]
        record.setdefault("resumed", []).append(
            {"after_epoch": st["epoch"], "environment": rec.environment(device, dtype)})
        say(f"resuming after epoch {st['epoch']} from {run.checkpoint}")
    n_batches = -(-len(data.x_train) // cfg.batch_size)
    status = "complete"
    say(f"{cfg.epochs} epochs x {n_batches} batches on {data.source} "
        f"({len(data.x_train)} train), {cfg.sizes}, {device}/{cfg.dtype}")
    for ep in range(first, cfg.epochs + 1):
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
                    record["alignment"].append({"epoch": ep, "batch": b,
                                                "step": (ep - 1) * n_batches + b, **row})
                grads = [g for pair in zip(res.update.dW, res.update.db) for g in pair]
                if not all(bool(torch.isfinite(g).all()) for g in grads):
                    skipped += 1
                    continue
            opt.step(grads, scale=-scale)
            say(f"epoch {ep}: batch {b + 1}/{n_batches}", force=False)
        row = _epoch_row(net, data, cfg, ep)
        sec = time.perf_counter() - t_ep
        row.update({"seconds": sec, "fb_seconds": fb_sec, "converged": conv, "diverged": div,
                    "skipped": skipped})
        record["epochs"].append(row)
        finite = math.isfinite(row["train_loss"])
        if run is not None and finite:  # keep the state and a partial record on disk
            record["summary"] = {"status": "running", "epochs_done": ep}
            save(ep)
            run.write(record)
        left = np.mean([e["seconds"] for e in record["epochs"][1:]]) * (cfg.epochs - ep)
        metric = (f"test err {row['test_error']:.2f}%" if cfg.task == "classification"
                  else f"test mse {row['test_loss']:.4g}")
        say(f"epoch {ep}/{cfg.epochs}: train loss {row['train_loss']:.4g}, {metric}, "
            f"{sec:.1f} s (feedback {fb_sec:.1f} s), ~{fmt_time(left)} left")
        if not finite:
            status = "diverged"
            say("training loss is not finite: stopping")
            break
    summ = rec.summarize(record["epochs"], cfg.task)
    paper_epochs = rec.PAPER_EPOCHS[cfg.dataset]
    seconds = [e["seconds"] for e in record["epochs"][1:]]
    summ.update({"status": status, "epochs_done": len(seconds), "reduced_data": bool(data.reduced),
                 "reduced_epochs": cfg.epochs < paper_epochs, "paper_epochs": paper_epochs,
                 "total_seconds": time.perf_counter() - t_start,
                 "mean_epoch_seconds": float(np.mean(seconds)) if seconds else None})
    record["summary"] = summ
    return record
