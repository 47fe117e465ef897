"""Full-scale training with the torch backend, one configuration per call, with run records.

    python -m dfc_theory.torch.train --method dfc-ssa --dataset mnist [--feedback fixed]
        [--data-dir D] [--epochs N] [--seeds K] [--device cuda] --out DIR

trains the paper's 784-256-256-256-10 tanh classifier (``--dataset mnist`` or
``fashion_mnist``) or its 784-256-32-256-784 autoencoder (``--dataset mnist_ae``) with Adam
(batch 128) and writes one JSON run record per seed (:mod:`dfc_theory.torch.records`).
Without ``--data-dir`` MNIST is the offline 5000-digit subset (records marked reduced).

Methods (THEORY.md section 6): ``bp`` (autograd), ``dfa``, ``dfc``, ``dfc-ss``, ``dfc-ssa``;
DFC methods with ``--feedback trained`` (random Q, sleep-phase feedback learning: pre-training
epochs, then one feedback epoch before every forward epoch) or ``fixed`` (Q = weight product
at initialisation, frozen).  ``--method dfc-ssa-fixed`` is short for ``--method dfc-ssa
--feedback fixed``.

Forward step.  Output targets r_L* = r_L^- - lambda dLoss/dr_L with the batch-mean loss
(cross-entropy on the linear output for classification, squared error summed over pixels
for the autoencoder; reduction "batch_mean", the reference code's scaling); a rule's update
Delta theta (the change to apply, proportional to lambda / B) becomes the gradient estimate
g = -(B / lambda) Delta theta handed to Adam, which for BP is exactly the loss gradient.

Logged batches (the first of every epoch, and every ``log_every``-th) get the alignment
metrics of the module docstring of :mod:`dfc_theory.torch.records`, computed on the batch
before its update.  Hyper-parameters not given in THEORY.md (learning rates, feedback
learning schedule) are our choices, stated in every record's config.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .._validation import check_choice, check_scalar
from ..controller import Controller
from ..feedback_learning import FeedbackConfig
from ..learning import DFC_METHODS, FORWARD_METHODS, RULES
from . import records as rec
from ._common import resolve_device, resolve_dtype
from .data import DATASETS, load_data
from .dynamics import DFCSystem
from .feedback_learning import _Adam as _QAdam
from .feedback_learning import feedback_metrics, feedback_update
from .gauss_newton import bp_update_from, gn_update_from, min_norm_update_from
from .learning import (dfa_as_feedback, dfa_feedback, fixed_feedback, forward_update,
                       rule_at_state)
from .metrics import angle, condition1_deviation, condition2_ratio, descent_inner_products
from .metrics import layer_angles, spectral_abscissa
from .network import Network
from .steady_state import steady_state
from .targets import loss_gradient, loss_value

__all__ = ["FullScaleConfig", "train_run", "main", "FEEDBACK_KINDS", "default_sizes", "Adam"]

FEEDBACK_KINDS = ("trained", "fixed")
ANGLE_REFS = ("bp", "gn", "mn", "ssa")


def default_sizes(dataset):
    """784-256-256-256-10 (classification) or 784-256-32-256-784 (autoencoder)."""
    return (784, 256, 32, 256, 784) if dataset == "mnist_ae" else (784, 256, 256, 256, 10)


@dataclass(frozen=True)
class FullScaleConfig:
    """All settings of one full-scale run (per seed).

    Controller and lambda defaults are the reference MNIST settings of THEORY.md section 9
    (DFC / DFC-SS: k_p 2, alpha 1.39e-3, dt 0.02, 1000 steps, ratio 0.2, lambda 0.078;
    DFC-SSA: k_p 0, ratio 0.005), leak "total" (the reference code's convention), the
    nonlinear rule phi(v) - phi(v^ff).  Feedback learning: alpha_fb 0.61, k_p_fb 0.157 and
    sigma_fb 1.5e-3 (THEORY.md section 9; we read its "sigma" as the sleep-phase noise), the
    remaining sleep-phase settings are those of Fig 1D; Adam on -dQ with ``lr_fb``.  Learning
    rates and the feedback schedule are our choices (not in the published material we had).
    ``sizes=None`` picks :func:`default_sizes`; ``epochs=None`` the paper's (100; 25 for
    the autoencoder).  Logging: the exact-steady-state metrics (Newton with at most
    ``newton_max_iter`` iterations, Proposition 4, Condition 3, Lemma 1) use the first
    ``metric_samples`` samples of a logged batch (None: all; 16 by default for the
    autoencoder, whose n_L = 784 makes each of them cost B n_L^2 N), the full-system spectral
    abscissa the first ``abscissa_samples``.
    """

    method: str = "dfc-ssa"
    feedback: str = "trained"
    dataset: str = "mnist"
    data_dir: Optional[str] = None
    sizes: Optional[tuple] = None
    activation: str = "tanh"
    output_activation: str = "linear"
    epochs: Optional[int] = None
    batch_size: int = 128
    lr: float = 1e-3
    n_train: Optional[int] = None
    data_seed: int = 0
    # targets
    lam: float = 0.078
    # forward controller (k_p / tau_v None: per-method defaults)
    alpha: float = 1.39e-3
    k_p: Optional[float] = None
    tau_v: Optional[float] = None
    leak: str = "total"
    dt: float = 0.02
    n_steps: int = 1000
    rule: str = "nonlinear"
    fixed_mode: str = "initial"
    dfa_scale: float = 1.0
    # feedback learning (trained feedback)
    fb_pretrain_epochs: int = 5
    fb_epochs_per_epoch: int = 1
    q_init_scale: float = 0.01
    alpha_fb: float = 0.61
    k_p_fb: float = 0.157
    tau_v_fb: float = 0.01
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    tau_A_fb: Optional[float] = 0.3
    sigma_fb: float = 1.5e-3
    lr_fb: float = 0.1
    decay_fb: float = 0.025
    fb_optimizer: str = "sgd"
    # logging
    gn_damping: float = 0.1
    log_every: int = 0
    abscissa_samples: int = 2
    metric_samples: Optional[int] = None
    newton_max_iter: int = 20
    # numerics
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self):
        s = object.__setattr__
        m = self.method
        if isinstance(m, str) and m.endswith("-fixed"):
            s(self, "method", m[:-len("-fixed")])
            s(self, "feedback", "fixed")
        check_choice(self.method, "method", FORWARD_METHODS)
        check_choice(self.feedback, "feedback", FEEDBACK_KINDS)
        check_choice(self.dataset, "dataset", DATASETS)
        check_choice(self.rule, "rule", RULES)
        check_choice(self.fixed_mode, "fixed_mode", ("initial", "recompute"))
        check_choice(self.fb_optimizer, "fb_optimizer", ("sgd", "adam"))
        if self.method not in DFC_METHODS:
            s(self, "feedback", None)
        if self.sizes is None:
            s(self, "sizes", default_sizes(self.dataset))
        s(self, "sizes", tuple(int(n) for n in self.sizes))
        if self.sizes[0] != 784 or (self.dataset != "mnist_ae" and self.sizes[-1] != 10) or \
                (self.dataset == "mnist_ae" and self.sizes[-1] != 784):
            raise ValueError(f"sizes: {self.dataset} needs 784 inputs and "
                             f"{784 if self.dataset == 'mnist_ae' else 10} outputs, got "
                             f"{list(self.sizes)}")
        if self.epochs is None:
            s(self, "epochs", rec.PAPER_EPOCHS[self.dataset])
        if self.metric_samples is None and self.dataset == "mnist_ae":
            s(self, "metric_samples", 16)  # n_L = 784: each exact metric costs B n_L^2 N
        if self.k_p is None:
            s(self, "k_p", 0.0 if self.method == "dfc-ssa" else 2.0)
        if self.tau_v is None:
            s(self, "tau_v", 0.005 if self.method == "dfc-ssa" else 0.2)
        for name in ("epochs", "batch_size", "n_steps", "n_steps_fb", "newton_max_iter") + \
                (("metric_samples",) if self.metric_samples is not None else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        for name in ("fb_pretrain_epochs", "fb_epochs_per_epoch", "log_every",
                     "abscissa_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        for name in ("lr", "lam", "lr_fb", "sigma_fb"):
            check_scalar(getattr(self, name), name, low=0.0, low_inclusive=False)
        check_scalar(self.gn_damping, "gn_damping", low=0.0)
        resolve_dtype(self.dtype)
        self.controller()
        if self.method in ("dfc", "dfc-ss") and self.dt >= self.tau_v > 0:
            raise ValueError(f"dt: forward Euler needs dt < tau_v = {self.tau_v}, got {self.dt}")
        if self.uses_feedback_learning:
            self.feedback_config()

    @property
    def uses_feedback_learning(self):
        return self.method in DFC_METHODS and self.feedback == "trained"

    @property
    def task(self):
        return "autoencoder" if self.dataset == "mnist_ae" else "classification"

    @property
    def loss(self):
        return "mse" if self.task == "autoencoder" else "cross_entropy"

    @property
    def label(self):
        return rec.label(self.method, self.feedback)

    def controller(self):
        return Controller(alpha=self.alpha, k_p=self.k_p, tau_v=self.tau_v, leak=self.leak)

    def feedback_config(self):
        return FeedbackConfig(alpha_fb=self.alpha_fb, k_p_fb=self.k_p_fb,
                              tau_v_fb=self.tau_v_fb, dt_fb=self.dt_fb,
                              n_steps_fb=self.n_steps_fb, sigma_fb=self.sigma_fb,
                              tau_A_fb=self.tau_A_fb, lr_fb=self.lr_fb, beta=self.decay_fb,
                              decay="weight", leak=self.leak)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["sizes"] = list(d["sizes"])
        return d


# ---------------------------------------------------------------------------- evaluation
def _evaluate(network, x, y, cfg, chunk=2000):
    """(loss, error %) on a split: loss = cross-entropy (batch mean) or per-pixel MSE; error
    = misclassified % (None for the autoencoder)."""
    if len(x) == 0:
        return None, None
    tot_loss, wrong = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            out = network(x[s:s + chunk])
            yy = y[s:s + chunk]
            if cfg.task == "classification":
                tot_loss += float(loss_value(out, yy, "cross_entropy", "sum").sum())
                wrong += int((out.argmax(dim=1) != yy).sum())
            else:
                tot_loss += float(loss_value(out, yy, "mse", "sum").sum()) / out.shape[1]
    n = len(x)
    err = 100.0 * wrong / n if cfg.task == "classification" else None
    return tot_loss / n, err


def _epoch_row(network, data, cfg, epoch):
    row = {"epoch": epoch}
    for split in ("train", "val", "test"):
        loss, err = _evaluate(network, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"),
                              cfg)
        row[f"{split}_loss"], row[f"{split}_error"] = loss, err
    return row


# ---------------------------------------------------------------------------- metrics
def _alignment_row(cfg, network, Q, controller, x, y, target, delta, fp, J, res, B_fb):
    """Metrics of one batch before its update (names: :mod:`dfc_theory.torch.records`)."""
    L = network.depth
    row = {"loss": float(loss_value(fp.r[-1], y, cfg.loss, "batch_mean"))}
    Js = network.split(J)  # J_i blocks (B, n_L, n_i)
    upd = res.update
    refs = {"bp": bp_update_from(network, fp, delta),
            "gn": gn_update_from(fp, Js, delta, cfg.gn_damping),
            "mn": min_norm_update_from(network, fp, J, delta, cfg.gn_damping, cfg.rule)}
    system = None
    if cfg.method in DFC_METHODS:
        system = DFCSystem(network, Q, controller)
        if cfg.method == "dfc-ssa":
            ssa_res = res
        else:
            ssa_res = forward_update(network, x, target, "dfc-ssa", Q=Q, controller=controller,
                                     rule=cfg.rule, J=J, delta_L=delta, forward=fp)
        refs["ssa"] = ssa_res.update
    finite = bool(torch.isfinite(upd.vector()).all())
    for k in ANGLE_REFS:
        ref = refs.get(k)
        ok = ref is not None and finite and not (k == "ssa" and cfg.method == "dfc-ssa")
        row[f"angle_{k}"] = angle(upd, ref) if ok else None
        las = layer_angles(upd, ref) if ok else [None] * L
        for i, a in enumerate(las, start=1):
            row[f"angle_{k}_l{i}"] = a
    row["cond1_std"] = float(condition1_deviation(network, x, "std").mean())
    row["cond1_ref"] = float(condition1_deviation(network, x, "reference").mean())
    Qm = Q if Q is not None else (dfa_as_feedback(network, B_fb) if B_fb is not None else None)
    row["cond2"] = float(condition2_ratio(J, Qm).mean()) if Qm is not None else None
    for key in ("angle_ssa_exact", "abscissa", "abscissa_inst", "descent_frac",
                "descent_min_rel", "newton_converged", "converged", "diverged",
                "metric_samples"):
        row[key] = None
    row["samples"] = int(x.shape[0])
    if system is not None:
        row.update(_exact_metrics(cfg, network, Q, controller, x, y))
        if res.converged is not None:
            if cfg.method == "dfc-ssa":  # no simulation: report the exact solve instead
                row["converged"] = row["newton_converged"]
                row["diverged"] = int((~torch.isfinite(res.u[:row["metric_samples"]])
                                       .all(dim=1)).sum())
            else:
                row["converged"] = int(res.converged.sum())
                row["diverged"] = int(res.diverged.sum())
    return row


def _exact_metrics(cfg, network, Q, controller, x, y):
    """Steady-state metrics in float64 (whatever the training dtype): the exact (Newton)
    steady state, the DFC-SSA update's angle with the exact steady-state update (Lemma 1),
    Proposition 4's per-sample inner product delta_L^T J Q u_ss, the Condition-3 abscissa
    max Re eig(-(J_ss Q + alpha I)) / tau_u over the batch, and the spectral abscissa of the
    full linearised dynamics at rest for the first ``abscissa_samples`` samples.

    float64 because the batch-mean targets make delta_L ~ lambda / B small, and for
    well-fitted samples far smaller: in float32 v - v^ff and delta_L^T J Delta v would be
    rounding noise."""
    f64 = torch.float64
    k = x.shape[0] if cfg.metric_samples is None else min(cfg.metric_samples, x.shape[0])
    x, y = x[:k], y[:k]
    net = network.to(dtype=f64)
    Q64 = Q.to(f64)
    x64 = x.to(f64)
    y64 = y.to(f64) if y.is_floating_point() else y
    sys64 = DFCSystem(net, Q64, controller)
    fp = net.forward(x64)
    delta = -cfg.lam * loss_gradient(fp.r[-1], y64, cfg.loss, "batch_mean")
    target = fp.r[-1] + delta
    J = net.jacobian(x64)
    ss = steady_state(sys64, x64, target, method="newton", J=J, max_iter=cfg.newton_max_iter)
    out = {"newton_converged": int(ss.converged.sum()), "metric_samples": int(k)}
    exact = rule_at_state(net, x64, ss.v, ss.v_ff, cfg.rule)
    ssa = steady_state(sys64, x64, target, method="ssa", J=J, delta_L=delta)
    out["angle_ssa_exact"] = angle(rule_at_state(net, x64, ssa.v, ssa.v_ff, cfg.rule), exact)
    ip = descent_inner_products(J, ss.delta_v, delta)
    out["descent_frac"] = float((ip > 0).to(f64).mean())
    out["descent_min_rel"] = float((ip / (delta * delta).sum(dim=1).clamp_min(1e-300)).min())
    J_ss = net.jacobian(x64, ss.v)
    eye = torch.eye(net.n_out, dtype=f64, device=J.device)
    out["abscissa_inst"] = float(spectral_abscissa(
        -(J_ss @ Q64 + controller.alpha_eff * eye) / controller.tau_u).max())
    k = min(cfg.abscissa_samples, x.shape[0])
    if k:
        z = sys64.rest_state(_slice_ss(ss, k, f64), target[:k])
        A = sys64.rhs_jacobian(x64[:k], target[:k], z)
        out["abscissa"] = float(spectral_abscissa(A).max())
    return out


def _slice_ss(ss, k, dtype):
    from .steady_state import SteadyState
    return SteadyState(ss.u[:k].to(dtype), ss.v[:k].to(dtype),
                       tuple(a[:k].to(dtype) for a in ss.r), ss.v_ff[:k].to(dtype),
                       ss.delta_v[:k].to(dtype), ss.converged[:k], ss.residual[:k],
                       ss.iterations, ss.method)


# ---------------------------------------------------------------------------- training
class Adam:
    """Adam on a list of tensors, the update of ``torch.optim.Adam`` (no weight decay, no
    amsgrad): m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

    Our own few lines because importing ``torch.optim`` pulls in ``torch._dynamo`` (seconds
    of start-up, which the quick verification cannot afford); tests/test_torch_train.py
    checks it against ``torch.optim.Adam``.
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.eps = list(params), float(lr), float(eps)
        self.b1, self.b2 = betas
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads, scale=1.0):
        """One step with the gradients ``scale * grads`` (one per parameter, same order)."""
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(self.b1).add_(g, alpha=(1.0 - self.b1) * scale)
            v.mul_(self.b2).addcmul_(g, g, value=(1.0 - self.b2) * scale * scale)
            denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / bc1)


class _Progress:
    def __init__(self, label, enabled, stream):
        self.label, self.enabled, self.stream = label, enabled, stream
        self.last = time.perf_counter()

    def __call__(self, msg, force=True):
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or now - self.last > 15.0:
            print(f"[{self.label}] {msg}", file=self.stream, flush=True)
            self.last = now


def _fmt_time(s):
    if not math.isfinite(s):
        return "?"
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h")


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
    say = _Progress(f"{cfg.label} {cfg.dataset} seed {seed}", progress, stream)
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
        nonlocal Q, q_opt
        t0 = time.perf_counter()
        for _ in range(n):
            for xb, _y in data.batches(cfg.batch_size, fb_rng):
                dQ = feedback_update(net, Q, xb, fbcfg, seed=int(fb_rng.integers(2**62)))
                if q_opt is None:
                    Q = Q + cfg.lr_fb * dQ
                else:
                    Q = q_opt.step(Q, dQ)
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
            rng_q = np.random.default_rng(s_q)
            Q = net.tensor(rng_q.normal(0.0, cfg.q_init_scale / math.sqrt(net.n_out),
                                        size=(net.n_total, net.n_out)), "Q")
            fbcfg = cfg.feedback_config()
            q_opt = _QAdam(cfg.lr_fb) if cfg.fb_optimizer == "adam" else None
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
            f"{sec:.1f} s (feedback {fb_sec:.1f} s), ~{_fmt_time(left)} left")
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


# ---------------------------------------------------------------------------- CLI
def _parse_set(items):
    out = {}
    fields = {f.name: f for f in dataclasses.fields(FullScaleConfig)}
    for it in items or []:
        if "=" not in it:
            raise ValueError(f"--set: expected KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in fields:
            raise ValueError(f"--set: unknown setting {k!r}; known: {sorted(fields)}")
        if v.lower() in ("none", "null"):
            out[k] = None
        elif k == "sizes":
            out[k] = tuple(int(a) for a in v.replace("-", ",").split(","))
        else:
            for typ in (int, float):
                try:
                    v = typ(v)
                    break
                except ValueError:
                    pass
            out[k] = v
    return out


def build_parser():
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(prog="python -m dfc_theory.torch.train", description=head,
                                epilog=rest,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True,
                   help="bp, dfa, dfc, dfc-ss, dfc-ssa (append -fixed for fixed feedback)")
    p.add_argument("--feedback", default="trained", choices=FEEDBACK_KINDS,
                   help="DFC methods: learned (default) or fixed weight-product feedback")
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST/Fashion-MNIST IDX files (default: the offline "
                        "5000-digit subset, MNIST only)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: the paper's (100; 25 for mnist_ae)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds (0..K-1)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--n-train", type=int, default=None, help="use only N training samples")
    p.add_argument("--sizes", default=None, help="layer widths, e.g. 784,64,64,10")
    p.add_argument("--log-every", type=int, default=0,
                   help="also log alignment every K batches (the first batch of every epoch "
                        "is always logged)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other FullScaleConfig setting, e.g. --set lr=5e-4")
    p.add_argument("--out", required=True, help="folder for the JSON run records")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(args):
    kw = dict(method=args.method, feedback=args.feedback, dataset=args.dataset,
              data_dir=args.data_dir, epochs=args.epochs, device=args.device,
              dtype=args.dtype, n_train=args.n_train, log_every=args.log_every)
    if args.sizes:
        kw["sizes"] = tuple(int(a) for a in args.sizes.replace("-", ",").split(","))
    kw.update(_parse_set(args.set))
    return FullScaleConfig(**kw)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds: expected a positive integer, got {args.seeds}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = config_from_args(args)
        device = resolve_device(cfg.device)
        data = load_data(cfg.dataset, cfg.data_dir, seed=cfg.data_seed, device=device,
                         dtype=resolve_dtype(cfg.dtype), n_train=cfg.n_train)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if data.reduced and not args.quiet:
        print(f"note: {data.source} with {len(data.x_train)} training samples: records are "
              f"marked reduced (pass --data-dir with the IDX files for the paper's protocol)",
              flush=True)
    paths = []
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        r = train_run(cfg, seed=seed, data=data, progress=not args.quiet, out=args.out)
        paths.append(rec.record_name(cfg.to_dict(), seed))
        if r["summary"]["status"] != "complete":
            print(f"error: seed {seed} {r['summary']['status']}", file=sys.stderr)
            return 1
    print(f"{len(paths)} record(s) in {Path(args.out)}: {', '.join(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
