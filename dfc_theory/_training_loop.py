"""The training loop of student-teacher runs (schedule, step and logs: the module docstring
of :mod:`dfc_theory.training`)."""
from __future__ import annotations

import hashlib
import time
from typing import Optional

import numpy as np

from . import _checkpoint as ckpt
from ._methods import DFC_METHODS, label_to_name, run_label
from ._network import Network
from ._training_config import TrainingConfig, feedback_config
from ._progress import Progress, fmt_time
from ._training_log import TrainingLog, _columns, _epoch_losses, _log_row, _should_log
from .datasets import Dataset, student_teacher
from .feedback import weight_product, xavier_normal
from .feedback_learning import train_feedback
from .learning import dfa_feedback, forward_update
from .targets import output_target

__all__ = ["train"]


def _descent_step(upd, config: TrainingConfig):
    """The step -lr_eff G_clipped of one forward update (:mod:`dfc_theory.training`) as a
    theta-ordered vector, and the unclipped norm of G."""
    tensors = [-config.rule_scale * t for pair in zip(upd.dW, upd.db) for t in pair]
    norms = [float(np.linalg.norm(t)) for t in tensors]
    total = float(np.sqrt(np.sum(np.square(norms))))
    clip = config.clip
    if clip is not None:
        if config.clip_mode == "per_tensor":
            tensors = [t * (clip / n) if n > clip else t for t, n in zip(tensors, norms)]
        elif total > clip:
            tensors = [t * (clip / total) for t in tensors]
    lr = config.lr / config.lam if config.normalize_lr else config.lr
    return np.concatenate([-lr * t.ravel() for t in tensors]), total


def _train_feedback(network, Q, xs, config, epochs, seed, lr):
    if epochs == 0:
        return Q
    fb_cfg = feedback_config(config).replace(lr_fb=lr)
    Q, _ = train_feedback(network, Q, xs, fb_cfg, epochs=epochs,
                          batch_size=config.fb_batch_size, seed=seed, log_every=10**9)
    return np.asarray(Q, dtype=np.float64)


def train(config: TrainingConfig, seed=0, data: Optional[Dataset] = None, progress=True,
          progress_every=10, out=None, name=None, stream=None, checkpoint=None, resume=False,
          overwrite=False) -> TrainingLog:
    """Train a student on teacher data with one method; return (and optionally save) its log.

    Parameters
    ----------
    config : TrainingConfig
    seed : int
        Student initialisation, Q / DFA initialisation, shuffling and feedback noise.
    data : Dataset, optional
        Default: :func:`dfc_theory.datasets.student_teacher` with the config's sizes, sample
        counts and ``data_seed`` (the paper's teacher).
    progress, progress_every, stream : bool, int, file
        Print a progress line every that many epochs (and the first and last) to ``stream``
        (default sys.stdout).
    out, name : optional
        Save the log there (:meth:`TrainingLog.save`; ``name`` default: the run label).
    checkpoint : path, optional
        A ``.npz`` file (:mod:`dfc_theory._checkpoint`) keeping the run's state after the
        feedback pre-training and every epoch, and the finished log.
    resume, overwrite : bool
        Continue the run in ``checkpoint`` (the log equals an uninterrupted run's, timings
        aside; a finished one is returned as it is), or start anew over it.  With neither,
        an existing checkpoint raises ValueError; another run's is never resumed.

    Returns
    -------
    TrainingLog
        Per-epoch rows (``config.epochs + 1``: row 0 before training), the logged batches'
        rows, the final weights, biases and Q (None for BP and DFA).

    Raises
    ------
    dfc_theory._cli.Interrupted
        On Ctrl-C or SIGTERM with a ``checkpoint``, saying how far the checkpoint goes.

    Examples
    --------
    A tiny BP run (2 batches of 4 per epoch, the first one logged; a small teacher, as the
    paper's 4 x 1000 one takes most of the time): BP's update is the BP reference of the
    log, so their angle is 0 (up to rounding).

    >>> import numpy as np
    >>> from dfc_theory.training import TrainingConfig, train
    >>> from dfc_theory.datasets import student_teacher
    >>> c = TrainingConfig(sizes=(3, 2), epochs=2, batch_size=4, method="bp")
    >>> data = student_teacher(3, 2, n_train=8, n_val=2, n_test=2, hidden=(20,))
    >>> log = train(c, seed=0, data=data, progress=False)
    >>> log.label, log.epoch["samples"], log.batch["step"], log.Q
    ('BP', array([0, 8, 8]), array([0, 2]), None)
    >>> np.round(log.batch["angle_bp"], 6)
    array([0., 0.])
    """
    if not isinstance(config, TrainingConfig):
        raise TypeError(f"config: expected a TrainingConfig, got {type(config).__name__}")
    c = config
    if data is None:
        data = student_teacher(n_in=c.sizes[0], n_out=c.sizes[-1], n_train=c.n_train,
                               n_val=c.n_val, n_test=c.n_test, seed=c.data_seed)
    widths = (data.x_train.shape[1], np.shape(data.y_train)[1])
    if widths != (c.sizes[0], c.sizes[-1]):
        raise ValueError(f"data: expected inputs of width {c.sizes[0]} and targets of width "
                         f"{c.sizes[-1]}, got {widths[0]} and {widths[1]}")
    label = run_label(c.method, c.feedback)
    identity = {"config": c.to_dict(), "seed": int(seed), "data": _digest(data)}
    saved = None if checkpoint is None else ckpt.start(checkpoint, identity, resume, overwrite)
    try:
        log = _train(c, seed, data, label, saved, checkpoint, identity, progress,
                     progress_every, stream)
    except KeyboardInterrupt as exc:
        if checkpoint is None:
            raise
        kept = ckpt.saved_run(checkpoint, identity)
        where = ("during the feedback pre-training (nothing saved)" if kept is None else
                 f"after epoch {kept[0]['state']['epoch']} of {c.epochs}: {checkpoint} keeps "
                 f"it; resume=True continues")
        raise ckpt.interrupted(exc, f"{label} (seed {seed}) interrupted {where}") from None
    if out is not None:
        log.save(out, name or label_to_name(label))
    return log


def _digest(data):
    """A fingerprint of a Dataset's arrays (part of a checkpoint's identity)."""
    h = hashlib.sha256()
    for a in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _train(c, seed, data, label, saved, checkpoint, identity, progress, progress_every, stream):
    ss = np.random.SeedSequence(seed)
    s_net, s_q, s_fb, s_shuffle = (int(s.generate_state(1)[0]) for s in ss.spawn(4))
    network = Network.random(c.sizes, activation=c.activation,
                             output_activation=c.output_activation, seed=s_net)
    controller = c.controller()
    Q, B_fb = None, None
    if c.method == "dfa":
        B_fb = dfa_feedback(network, seed=s_q, scale=c.dfa_scale)
    elif c.method in DFC_METHODS:
        Q = (weight_product(network) if c.feedback == "fixed"
             else xavier_normal(network, seed=s_q, scale=c.q_init_scale))
    rng = np.random.default_rng(s_shuffle)
    fb_seed = np.random.default_rng(s_fb + 1)
    say = Progress(label, progress, stream)

    def feedback_epochs(n):
        """``n`` feedback epochs during training; a diverging sleep phase (FloatingPointError
        of :func:`~dfc_theory.feedback_learning.feedback_update`) keeps the previous Q and
        is counted instead of aborting the run."""
        nonlocal Q, t_fb, fb_failed
        if not (c.uses_feedback_learning and n):
            return
        t0 = time.perf_counter()
        try:
            Q = _train_feedback(network, Q, data.x_train, c, n, int(fb_seed.integers(2**31)),
                                c.lr_fb)
        except FloatingPointError:
            fb_failed += 1
        t_fb += time.perf_counter() - t0

    def save(status, ep):
        if checkpoint is None:
            return
        st.update(epoch=ep, seconds=time.perf_counter() - t_start,
                  rng=[g.bit_generator.state for g in (rng, fb_seed)])
        arrays = {f"{k}{i}": a for i, pair in enumerate(zip(network.weights, network.biases), 1)
                  for k, a in zip("Wb", pair)}
        ckpt.save(checkpoint, status, identity, st, {**arrays, **({} if Q is None else {"Q": Q})})

    if saved is None:
        t_fb_total = 0.0
        if c.uses_feedback_learning:
            t0 = time.perf_counter()
            Q = _train_feedback(network, Q, data.x_train, c, c.fb_pretrain_epochs, s_fb,
                                c.lr_fb_init)
            t_fb_total = time.perf_counter() - t0
            say(f"feedback pre-training: {c.fb_pretrain_epochs} epochs in {t_fb_total:.1f} s")
        e0 = {"epoch": 0, **_epoch_losses(network, data, c), "time_forward": 0.0,
              "time_feedback": t_fb_total, "converged": np.nan, "diverged": np.nan,
              "samples": 0, "skipped": 0, "fb_failed": 0, "grad_norm": np.nan}
        st = {"rows": [], "epochs": [e0], "abscissa_source": None}
        t_start = time.perf_counter()
        save("running", 0)
    else:
        meta, arrays = saved
        st = meta["state"]
        network = network.with_params([arrays[f"W{i}"] for i in range(1, network.depth + 1)],
                                      [arrays[f"b{i}"] for i in range(1, network.depth + 1)])
        Q = arrays.get("Q")
        rng.bit_generator.state, fb_seed.bit_generator.state = st["rng"]
        t_start = time.perf_counter() - st["seconds"]
        say(("complete in " if meta["status"] == "complete" else
             f"resuming after epoch {st['epoch']} from ") + str(checkpoint))
    rows, epochs_rows = st["rows"], st["epochs"]
    n_batches = -(-data.x_train.shape[0] // c.batch_size)
    simulated = c.method in ("dfc", "dfc-ss")  # the forward phase counts converged samples
    for ep in range(st["epoch"] + 1 if saved else 1, c.epochs + 1):
        t_fb, fb_failed = 0.0, 0
        feedback_epochs(c.fb_epochs_per_epoch)
        t0 = time.perf_counter()
        conv = div = n_samp = skipped = 0
        gnorms = []
        for b, (x, y) in enumerate(data.batches(c.batch_size, seed=int(rng.integers(2**31)))):
            fp = network.forward(x)
            target = output_target(fp.r[-1], y, c.lam, c.loss, c.reduction)
            res = forward_update(network, x, target, c.method, Q=Q, controller=controller,
                                 rule=c.rule, dt=c.dt, n_steps=c.n_steps, dfa_feedback=B_fb)
            if res.converged is not None and c.method != "dfc-ssa":
                conv += int(np.sum(res.converged))
                div += int(np.sum(res.diverged))
            n_samp += x.shape[0]
            if _should_log(c, b):
                row, src = _log_row(c, network, Q, controller, x, y, target, res, B_fb)
                st["abscissa_source"] = st["abscissa_source"] or src
                rows.append({"epoch": ep, "batch": b, "step": (ep - 1) * n_batches + b,
                             "epoch_frac": ep - 1 + b / n_batches, **row})
            if not np.all(np.isfinite(res.update.vector())):
                skipped += 1
            else:
                step_vec, gn = _descent_step(res.update, c)
                gnorms.append(gn)
                W, bias = network.split_params(step_vec)
                network = network.with_params([w + d for w, d in zip(network.weights, W)],
                                              [bb + d for bb, d in zip(network.biases, bias)])
                if Q is not None and c.feedback == "fixed" and c.fixed_mode == "recompute":
                    Q = weight_product(network)  # rebuilt: the next batch's Q (and the log's)
        t_fw = time.perf_counter() - t0
        feedback_epochs(c.fb_extra_epochs)
        er = {"epoch": ep, **_epoch_losses(network, data, c), "time_forward": t_fw,
              "time_feedback": t_fb, "converged": conv if simulated else np.nan,
              "diverged": div if simulated else np.nan, "samples": n_samp, "skipped": skipped,
              "fb_failed": fb_failed, "grad_norm": float(np.mean(gnorms)) if gnorms else np.nan}
        epochs_rows.append(er)
        save("running", ep)
        if progress and (ep == 1 or ep == c.epochs or ep % progress_every == 0):
            el = time.perf_counter() - t_start
            say(f"epoch {ep}/{c.epochs}  train {er['train_loss']:.4g}  "
                f"test {er['test_loss']:.4g}  {el / ep:.2f} s/epoch  "
                f"~{fmt_time(el / ep * (c.epochs - ep))} left")
    batch = _columns(rows)
    epoch = _columns(epochs_rows)
    if saved is None or saved[0]["status"] != "complete":
        st["time_total"] = time.perf_counter() - t_start
        save("complete", c.epochs)
    meta = {"label": label, "seed": seed, "abscissa_source": st["abscissa_source"],
            "time_total": st["time_total"],
            "time_pretrain_feedback": epochs_rows[0]["time_feedback"],
            "feedback_epochs_failed": int(np.sum(epoch["fb_failed"])),
            "skipped_updates": int(np.sum(epoch["skipped"])),
            "fixed_mode": c.fixed_mode if c.feedback == "fixed" else None}
    return TrainingLog(c, batch, epoch, meta, network.weights, network.biases, Q)
