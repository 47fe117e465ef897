"""Training loop for student-teacher regression with DFC and its baselines (THEORY.md 6-8).

One run = one method (``"dfc"``, ``"dfc-ss"``, ``"dfc-ssa"``, ``"dfa"``, ``"bp"``) with one
kind of feedback (``"trained"`` or ``"fixed"`` for the DFC methods; DFA's fixed random
matrices; none for BP).  Schedule (the reference code's, THEORY.md section 6):

1. feedback pre-training: ``fb_pretrain_epochs`` sleep-phase epochs on the training inputs
   (:func:`dfc_theory.feedback_learning.train_feedback`, rate ``lr_fb_init``), from a random
   Xavier-normal Q (per block Q_i, n_i x n_L);
2. then per epoch: ``fb_epochs_per_epoch`` feedback epochs, one forward epoch, and
   ``fb_extra_epochs`` further feedback epochs (rate ``lr_fb``).  The reference code's Fig 3
   uses 50 pre-training epochs at 0.1, then 1 + 2 feedback epochs per epoch at 0.002.

"(fixed)" feedback is the weight product Q_i = W_{i+1}^T ... W_L^T; ``fixed_mode="initial"``
freezes it at initialisation (THEORY.md section 6), ``"recompute"`` rebuilds it from the
current weights after every forward update.

Forward step (SGD with gradient-norm clipping), the reference code's scaling made explicit.
The output targets are r_L* = r_L^- - lambda dLoss/dr_L with ``reduction="mean"`` (PyTorch's
MSELoss: delta_L carries 1/(B n_L)); a rule returns the batch average
Delta theta = (1/B) sum_b (...) (so the step carries 1/B twice, as in the reference code).
The "gradient" stored per parameter tensor is

    G = -rule_scale * Delta theta        (rule_scale = 2: the reference's teaching signal
                                          -2 (v - v_ff), i.e. d||.||^2),

clipped to norm ``clip`` per tensor (W_i and b_i separately, ``clip_mode="per_tensor"``,
the reference's) or over all parameters (``"global"``), and the step is
theta <- theta - lr_eff G with lr_eff = lr / lambda (``normalize_lr``, the paper's
"0.05 / lambda") or lr.  With these settings a step equals, for BP,
-(2 lr / B) grad_theta of the mean loss: an effective rate of 2 * 0.05 / 128 ~ 7.8e-4.

Logging (``log_batches``: ``"first"`` batch of every epoch like the reference code,
``"all"``, or an integer k = every k-th batch), on the batch *before* its update:

* ``loss``: batch loss; per epoch the full train / validation / test losses;
* angles of the method's update with BP (``bp``), the damped Gauss-Newton update
  (``gn``, gamma = ``gn_damping``), the damped minimum-norm update (``mn``, same gamma,
  signal ``mn_rule``) and the DFC-SSA update with the same Q (``ssa``), whole network
  and per layer (``angle_<ref>_l<i>``);
* ``cond1_std`` / ``cond1_ref``: Condition-1 deviation (THEORY.md's std/mean and the
  reference code's variant), batch mean; ``norm_r<i>``: mean ||r_i||;
* ``cond2``: Condition-2 ratio ||P_J Q||_F / ||Q||_F, J at the feedforward state, batch mean;
* ``abscissa``: spectral abscissa of the full system (its own leak convention; ``A_PI`` for
  ``leak="total"``) at the exact steady state, mean over the batch (the reference code's
  Fig 3E), ``abscissa_max`` the max; ``abs_<matrix>`` (mean) and ``abs_<matrix>_max`` for
  the four matrices of THEORY.md section 5 (:mod:`dfc_theory.stability`), ``abs_<matrix>_std``
  the spread over the batch;
* ``normdev_r<i>``: (||r_i|| - mean_j ||r_j||) / mean_j ||r_j|| (j = 0..L-1), batch mean and
  ``_std`` (Fig S1's layer-norm deviations);
* ``converged`` / ``diverged``: counts of the reference convergence test of the
  simulation (DFC-SSA: of a diagnostic ``n_steps_ssa``-step simulation).

Metrics that do not apply are NaN (DFA/BP have no controller: no abscissa, no SSA angle;
DFA's ``cond2`` is that of its stacked feedback [B_1; ...; B_{L-1}; I]).
Logs are saved as CSV and NPZ (:meth:`TrainingLog.save`) and reloaded with
:meth:`TrainingLog.load`, so figures can be redrawn without retraining.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ._validation import check_choice, check_scalar
from .controller import Controller
from .datasets import Dataset, student_teacher
from .dynamics import DFCSystem
from .gauss_newton import bp_update, gn_update, min_norm_update
from .learning import (DFC_METHODS, FORWARD_METHODS, RULES, dfa_as_feedback, dfa_feedback,
                       fixed_feedback, forward_update)
from .metrics import angle, condition1_deviation, condition2_ratio, layer_angles, layer_norms
from .network import Network
from .simulate import simulate
from .steady_state import steady_state
from .targets import loss_value, output_target
from .updates import Update

__all__ = ["TrainingConfig", "TrainingLog", "train", "fig3_config", "FEEDBACK_KINDS",
           "ABSCISSA_MATRICES", "run_label", "label_to_name", "xavier_feedback",
           "feedback_config"]

FEEDBACK_KINDS = ("trained", "fixed")
FIXED_MODES = ("initial", "recompute")
ABSCISSA_MATRICES = ("A_tilde_I", "A_I", "A_inst", "A_PI")
ANGLE_REFS = ("bp", "gn", "mn", "ssa")


@dataclass(frozen=True)
class TrainingConfig:
    """All settings of one training run (defaults: the paper's Fig 3, THEORY.md section 8).

    Network and data
        sizes, activation, output_activation, n_train, n_val, n_test, data_seed.
    Optimisation
        epochs, batch_size, lr, normalize_lr (lr / lambda), rule_scale, clip (gradient-norm
        clipping, None for none), clip_mode ("per_tensor" or "global"), lam (target
        stepsize lambda), loss, reduction (module docstring).
    Method
        method in ``FORWARD_METHODS``; feedback in {"trained", "fixed"} (ignored by DFA/BP);
        fixed_mode in {"initial", "recompute"}; rule in {"voltage", "nonlinear"};
        dfa_scale (std multiplier of the DFA matrices).
    Controller (forward phase)
        alpha, k_p, tau_v (= ratio with tau_u = 1), tau_u, leak, dt, n_steps,
        n_steps_ssa (diagnostic simulation logged for DFC-SSA).
    Feedback learning (sleep phase; THEORY.md sections 6 and 8)
        fb_pretrain_epochs, fb_epochs_per_epoch, fb_extra_epochs, fb_batch_size, q_init_scale
        (multiplier of the Xavier-normal initial Q), alpha_fb, k_p_fb, tau_v_fb (ratio_fb),
        dt_fb, n_steps_fb, tau_A_fb, sigma_fb, sigma_out_fb (None: = sigma_fb), lr_fb_init
        (pre-training rate), lr_fb (rate during training), decay_fb (weight decay beta).
    Logging
        gn_damping (gamma of the GN and min-norm references), mn_rule (signal of the
        min-norm reference: "voltage" a = J^T (J J^T + gamma I)^{-1} delta_L, "nonlinear"
        phi(v^- + a) - phi(v^-), None = the same as ``rule``), log_batches ("first", "all" or
        an int k: every k-th batch), log_eig_samples (spectral abscissae on the first that
        many samples of a logged batch only; None = all, as the reference code).
    """

    # network and data
    sizes: tuple = (15, 10, 10, 5)
    activation: str = "tanh"
    output_activation: str = "linear"
    n_train: int = 5000
    n_val: int = 1000
    n_test: int = 1000
    data_seed: int = 42
    # optimisation
    epochs: int = 300
    batch_size: int = 128
    lr: float = 0.05
    normalize_lr: bool = True
    rule_scale: float = 2.0
    clip: Optional[float] = 1.0
    clip_mode: str = "per_tensor"
    lam: float = 0.05
    loss: str = "mse"
    reduction: str = "mean"
    # method
    method: str = "dfc"
    feedback: str = "trained"
    fixed_mode: str = "initial"
    rule: str = "nonlinear"
    dfa_scale: float = 1.0
    # forward controller
    alpha: float = 0.0015
    k_p: float = 1.5
    tau_v: float = 0.2
    tau_u: float = 1.0
    leak: str = "total"
    dt: float = 0.005
    n_steps: int = 1000
    n_steps_ssa: int = 500
    # feedback learning
    fb_pretrain_epochs: int = 50
    fb_epochs_per_epoch: int = 1
    fb_extra_epochs: int = 2
    fb_batch_size: int = 128
    q_init_scale: float = 1.0
    alpha_fb: float = 0.25
    k_p_fb: float = 0.1
    tau_v_fb: float = 0.01
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    tau_A_fb: Optional[float] = 0.3
    sigma_fb: float = 0.01
    sigma_out_fb: Optional[float] = None
    lr_fb_init: float = 0.1
    lr_fb: float = 0.002
    decay_fb: float = 0.025
    # logging
    gn_damping: float = 0.1
    mn_rule: Optional[str] = None
    log_batches: object = "first"
    log_eig_samples: Optional[int] = None

    def __post_init__(self):
        check_choice(self.method, "method", FORWARD_METHODS)
        check_choice(self.feedback, "feedback", FEEDBACK_KINDS)
        check_choice(self.fixed_mode, "fixed_mode", FIXED_MODES)
        check_choice(self.rule, "rule", RULES)
        if self.mn_rule is not None:
            check_choice(self.mn_rule, "mn_rule", RULES)
        for name in ("epochs", "batch_size", "n_train", "n_steps", "n_steps_ssa",
                     "fb_batch_size", "n_steps_fb"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        for name in ("fb_pretrain_epochs", "fb_epochs_per_epoch", "fb_extra_epochs",
                     "n_val", "n_test"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise ValueError(f"{name}: expected a non-negative integer, got {v!r}")
        check_scalar(self.lr, "lr", low=0.0, low_inclusive=False)
        check_scalar(self.rule_scale, "rule_scale", low=0.0, low_inclusive=False)
        check_choice(self.clip_mode, "clip_mode", ("per_tensor", "global"))
        check_scalar(self.lr_fb, "lr_fb", low=0.0, low_inclusive=False)
        check_scalar(self.lr_fb_init, "lr_fb_init", low=0.0, low_inclusive=False)
        check_scalar(self.lam, "lam", low=0.0, low_inclusive=False)
        if self.clip is not None:
            check_scalar(self.clip, "clip", low=0.0, low_inclusive=False)
        check_scalar(self.gn_damping, "gn_damping", low=0.0)
        # controller settings are validated by Controller; Euler's dt < tau_v up front so a
        # long run does not fail after its pre-training
        self.controller()
        if self.method in ("dfc", "dfc-ss", "dfc-ssa") and self.dt >= self.tau_v > 0:
            raise ValueError(f"dt: forward Euler needs dt < tau_v (the time-constant ratio) "
                             f"= {self.tau_v}, got dt={self.dt}")
        if self.uses_feedback_learning and self.dt_fb >= self.tau_v_fb > 0:
            raise ValueError(f"dt_fb: forward Euler needs dt_fb < tau_v_fb = {self.tau_v_fb}, "
                             f"got dt_fb={self.dt_fb}")
        if self.log_eig_samples is not None and (isinstance(self.log_eig_samples, bool) or
                                                 int(self.log_eig_samples) != self.log_eig_samples
                                                 or self.log_eig_samples < 1):
            raise ValueError(f"log_eig_samples: expected None or a positive integer, "
                             f"got {self.log_eig_samples!r}")
        lb = self.log_batches
        if not (lb in ("first", "all") or (isinstance(lb, int) and not isinstance(lb, bool)
                                           and lb >= 1)):
            raise ValueError(f"log_batches: expected 'first', 'all' or a positive integer, "
                             f"got {lb!r}")

    @property
    def uses_feedback_learning(self):
        return self.method in DFC_METHODS and self.feedback == "trained"

    def controller(self) -> Controller:
        """The forward-phase controller."""
        return Controller(alpha=self.alpha, k_p=self.k_p, tau_v=self.tau_v, tau_u=self.tau_u,
                          leak=self.leak)

    def replace(self, **changes) -> "TrainingConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["sizes"] = list(d["sizes"])
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["sizes"] = tuple(d["sizes"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config: unknown settings {unknown}")
        return cls(**d)


def run_label(method, feedback="trained"):
    """Display label: "DFC", "DFC-SS (fixed)", "DFA", "BP"."""
    name = method.upper()
    if method in DFC_METHODS and feedback == "fixed":
        name += " (fixed)"
    return name


def fig3_config(method="dfc", feedback="trained", **overrides) -> TrainingConfig:
    """The paper's Fig 3 settings (THEORY.md section 8 and the reference code's Fig 3
    configuration) for one method, with overrides.

    15-10-10-5 tanh student, linear output, 5000/1000/1000 teacher samples, 300 epochs,
    batch 128, SGD lr 0.05 / lambda with per-tensor gradient-norm clipping at 1, lambda 0.05,
    nonlinear-difference rule, k_p 1.5, alpha 0.0015, dt 0.005, ratio 0.2, 1000 steps (500
    for the DFC-SSA diagnostic simulation); trained feedback: Xavier-normal init, 50
    pre-training epochs (alpha_fb 0.25, k_p_fb 0.1, sigma_fb 0.01, dt_fb 0.002, 50 steps,
    ratio_fb 0.01, tau_A 0.3, lr 0.1, weight decay 0.025), then 1 + 2 feedback epochs per
    epoch at lr 0.002; GN damping 0.1 (0 for DFA, as in the reference configuration); the
    min-norm reference with the voltage signal a = J^T (J J^T + gamma I)^{-1} delta_L (the
    reference code's ``use_nonlinear_gnt=False``) although the rule is the nonlinear one.
    """
    base = TrainingConfig(method=method, feedback=feedback, mn_rule="voltage")
    if method == "dfa":
        base = base.replace(gn_damping=0.0)
    return base.replace(**overrides)


# ---------------------------------------------------------------------------- the log
@dataclass
class TrainingLog:
    """Per-logged-batch rows and per-epoch rows of one run.

    Attributes
    ----------
    config : TrainingConfig
    batch : dict of 1-D arrays (one entry per logged batch), keys listed in the module
        docstring plus ``epoch``, ``batch``, ``step``.
    epoch : dict of 1-D arrays (one entry per epoch, index 0 = before training):
        ``epoch``, ``train_loss``, ``val_loss``, ``test_loss``, ``time_forward``,
        ``time_feedback``, ``converged``, ``diverged``, ``samples``, ``skipped``.
    meta : dict (label, seed, abscissa source, timings, notes).
    weights, biases, Q : final parameters.
    """

    config: TrainingConfig
    batch: dict
    epoch: dict
    meta: dict = field(default_factory=dict)
    weights: tuple = ()
    biases: tuple = ()
    Q: Optional[np.ndarray] = None

    @property
    def label(self):
        return self.meta.get("label", run_label(self.config.method, self.config.feedback))

    def save(self, out, name):
        """Write ``<out>/<name>_batches.csv``, ``<name>_epochs.csv`` and ``<name>.npz``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for kind, table in (("batches", self.batch), ("epochs", self.epoch)):
            keys = list(table)
            with open(out / f"{name}_{kind}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(keys)
                n = len(table[keys[0]]) if keys else 0
                for k in range(n):
                    w.writerow([_fmt(table[c][k]) for c in keys])
        arrays = {f"b_{k}": np.asarray(v) for k, v in self.batch.items()}
        arrays.update({f"e_{k}": np.asarray(v) for k, v in self.epoch.items()})
        for i, (wt, b) in enumerate(zip(self.weights, self.biases), start=1):
            arrays[f"W{i}"] = wt
            arrays[f"b{i}"] = b
        if self.Q is not None:
            arrays["Q"] = self.Q
        arrays["config_json"] = np.array(json.dumps(self.config.to_dict()))
        arrays["meta_json"] = np.array(json.dumps(self.meta, default=str))
        path = out / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, out, name):
        """Read a log written by :meth:`save`; FileNotFoundError names the missing file."""
        path = Path(out) / f"{name}.npz"
        if not path.exists():
            raise FileNotFoundError(f"out: training log {path} is missing (run without "
                                    f"redraw first, or point out= at the folder holding it)")
        with np.load(path, allow_pickle=False) as z:
            batch = {k[2:]: z[k] for k in z.files if k.startswith("b_")}
            epoch = {k[2:]: z[k] for k in z.files if k.startswith("e_")}
            config = TrainingConfig.from_dict(json.loads(str(z["config_json"])))
            meta = json.loads(str(z["meta_json"]))
            L = len(config.sizes) - 1
            weights = tuple(z[f"W{i}"] for i in range(1, L + 1) if f"W{i}" in z.files)
            biases = tuple(z[f"b{i}"] for i in range(1, L + 1) if f"b{i}" in z.files)
            Q = z["Q"] if "Q" in z.files else None
        return cls(config, batch, epoch, meta, weights, biases, Q)


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


# ---------------------------------------------------------------------------- helpers
def _descent_step(upd: Update, config: TrainingConfig):
    """The parameter change lr_eff * (-G_clipped) of one forward update (module docstring).

    G = -rule_scale * Delta theta per tensor; clipped per tensor or globally.  Returns the
    step as a theta-ordered vector and the unclipped norm of G.
    """
    G = Update(tuple(-config.rule_scale * w for w in upd.dW),
               tuple(-config.rule_scale * b for b in upd.db))
    tensors = [t for pair in zip(G.dW, G.db) for t in pair]
    norms = [float(np.linalg.norm(t)) for t in tensors]
    total = float(np.sqrt(np.sum(np.square(norms))))
    clip = config.clip
    if clip is not None:
        if config.clip_mode == "per_tensor":
            tensors = [t * (clip / n) if n > clip else t for t, n in zip(tensors, norms)]
        elif total > clip:
            tensors = [t * (clip / total) for t in tensors]
    lr = config.lr / config.lam if config.normalize_lr else config.lr
    step = np.concatenate([-lr * t.ravel() for t in tensors])
    return step, total


def _apply(network, step_vec):
    W, b = network.split_params(step_vec)
    return network.with_params([w + d for w, d in zip(network.weights, W)],
                               [bb + d for bb, d in zip(network.biases, b)])


def _feedback_module():
    try:
        from . import feedback_learning
    except ImportError as exc:  # pragma: no cover - depends on the checkout
        raise ImportError("feedback: 'trained' feedback needs dfc_theory.feedback_learning, "
                          "which is not available in this installation") from exc
    return feedback_learning


def _stability_module():
    try:
        from . import stability
    except ImportError:  # pragma: no cover - depends on the checkout
        return None
    return stability


def feedback_config(config: TrainingConfig):
    """The :class:`dfc_theory.feedback_learning.FeedbackConfig` of a training config."""
    fl = _feedback_module()
    return fl.FeedbackConfig(alpha_fb=config.alpha_fb, k_p_fb=config.k_p_fb,
                             tau_v_fb=config.tau_v_fb, tau_u_fb=config.tau_u,
                             dt_fb=config.dt_fb, n_steps_fb=config.n_steps_fb,
                             sigma_fb=config.sigma_fb, sigma_out=config.sigma_out_fb,
                             tau_A_fb=config.tau_A_fb, lr_fb=config.lr_fb_init,
                             beta=config.decay_fb, decay="weight", leak=config.leak)


def _train_feedback(network, Q, xs, config, epochs, seed, lr):
    if epochs == 0:
        return Q
    fl = _feedback_module()
    fb_cfg = feedback_config(config).replace(lr_fb=lr)
    Q, _ = fl.train_feedback(network, Q, xs, fb_cfg, epochs=epochs,
                             batch_size=config.fb_batch_size, seed=seed,
                             log_every=10**9)
    return np.asarray(Q, dtype=np.float64)


def _safe_feedback(network, Q, xs, config, epochs, seed):
    """Feedback epochs during training; a diverging sleep phase (FloatingPointError from
    :func:`~dfc_theory.feedback_learning.feedback_update`) keeps the previous Q and is
    counted (returned as 1) instead of aborting the run."""
    try:
        return _train_feedback(network, Q, xs, config, epochs, seed, config.lr_fb), 0
    except FloatingPointError:
        return Q, 1


def xavier_feedback(network, seed=None, scale=1.0):
    """Random initial feedback weights, Xavier-normal per block: Q_i ~ N(0, scale^2 * 2 /
    (n_i + n_L)) (the reference code's ``initialization_K='xavier_normal'``)."""
    rng = np.random.default_rng(seed)
    nL = network.n_out
    return np.concatenate([rng.normal(0.0, scale * np.sqrt(2.0 / (n + nL)), size=(n, nL))
                           for n in network.sizes[1:]], axis=0)


def _abscissae(system, x, target):
    """Spectral abscissae at the exact steady state, mean and max over the batch.

    Returns ({"abs_<matrix>": mean, "abs_<matrix>_max": max, "abscissa": mean,
    "abscissa_max": max}, source); "abscissa" is the system's own matrix (``A_system``:
    A_PI's spectrum for the "total" leak).  The reference code's Fig 3E plots the batch mean.
    """
    stab = _stability_module()
    out = {}
    for k in ABSCISSA_MATRICES:
        out[f"abs_{k}"] = out[f"abs_{k}_max"] = out[f"abs_{k}_std"] = np.nan
    if stab is not None:
        try:
            mats = stab.system_matrices(system, x, target, at="steady_state")
            source = "stability.system_matrices(at='steady_state')"
        except ValueError:
            mats = stab.system_matrices(system, x, target, at="feedforward")
            source = "stability.system_matrices(at='feedforward'; Newton did not converge)"
        for k in ABSCISSA_MATRICES:
            if mats.get(k) is not None:
                a = np.atleast_1d(stab.spectral_abscissa(mats[k]))
                out[f"abs_{k}"], out[f"abs_{k}_max"] = float(a.mean()), float(a.max())
                out[f"abs_{k}_std"] = float(a.std())
        if system.controller.leak == "total" and mats.get("A_PI") is not None:
            # A_system is A_PI in Delta v coordinates: the same spectrum, not recomputed
            a = np.array([out["abs_A_PI"], out["abs_A_PI_max"]])
            out["abscissa"], out["abscissa_max"] = float(a[0]), float(a[1])
            return out, source
        a = np.atleast_1d(stab.spectral_abscissa(mats["A_system"]))
    else:
        # fallback: the Jacobian of the system's own right-hand side at the Newton steady state
        ss = steady_state(system, x, target, method="newton")
        c = system.controller
        s = ss.u if c.leak == "total" else ss.u - c.k_p * (target - ss.r_L)
        z = s if c.instantaneous else np.concatenate([ss.v, s], axis=1)
        a = np.linalg.eigvals(system.rhs_jacobian(x, target, z)).real.max(axis=-1)
        source = "dynamics.rhs_jacobian at the Newton steady state (stability module absent)"
    out["abscissa"], out["abscissa_max"] = float(a.mean()), float(a.max())
    return out, source


def _log_row(config, network, Q, controller, x, y, target, result, B_fb):
    """Metrics of one batch (before its update); see the module docstring."""
    fp = network.forward(x)
    delta = target - fp.r[-1]
    L = network.depth
    row = {"loss": loss_value(fp.r[-1], y, config.loss, config.reduction
                              if config.reduction != "sum" else "batch_mean")}
    upd = result.update
    refs = {"bp": bp_update(network, x, delta),
            "gn": gn_update(network, x, delta, gamma=config.gn_damping),
            "mn": min_norm_update(network, x, delta, gamma=config.gn_damping,
                                  rule=config.mn_rule or config.rule)}
    system = None
    if config.method in DFC_METHODS:
        system = DFCSystem(network, Q, controller)
        if config.method == "dfc-ssa":
            refs["ssa"] = upd
        else:
            refs["ssa"] = forward_update(network, x, target, "dfc-ssa", Q=Q,
                                         controller=controller, rule=config.rule).update
    finite = np.all(np.isfinite(upd.vector()))
    for k in ANGLE_REFS:
        ref = refs.get(k)
        if ref is None or not finite:
            row[f"angle_{k}"] = np.nan
            for i in range(1, L + 1):
                row[f"angle_{k}_l{i}"] = np.nan
            continue
        row[f"angle_{k}"] = angle(upd, ref)
        for i, a in enumerate(layer_angles(upd, ref), start=1):
            row[f"angle_{k}_l{i}"] = a
    row["cond1_std"] = float(np.mean(condition1_deviation(network, x, "std")))
    row["cond1_ref"] = float(np.mean(condition1_deviation(network, x, "reference")))
    norms = layer_norms(network, x)                      # (B, L): ||r_0|| .. ||r_{L-1}||
    dev = (norms - norms.mean(axis=1, keepdims=True)) / norms.mean(axis=1, keepdims=True)
    for i in range(norms.shape[1]):
        row[f"norm_r{i}"] = float(norms[:, i].mean())
        row[f"normdev_r{i}"] = float(dev[:, i].mean())
        row[f"normdev_r{i}_std"] = float(dev[:, i].std())
    Qm = Q if Q is not None else (dfa_as_feedback(network, B_fb) if B_fb is not None else None)
    row["cond2"] = (float(np.mean(condition2_ratio(network.jacobian(x), Qm)))
                    if Qm is not None else np.nan)
    source = None
    if system is not None:
        k = len(x) if config.log_eig_samples is None else int(config.log_eig_samples)
        abss, source = _abscissae(system, x[:k], target[:k])
        row.update(abss)
        if config.method == "dfc-ssa":
            sim = simulate(system, x, target, dt=config.dt, n_steps=config.n_steps_ssa,
                           record="final")
            conv, div = sim.converged, sim.diverged
        else:
            conv, div = result.converged, result.diverged
        row["converged"] = int(np.sum(conv))
        row["diverged"] = int(np.sum(div))
    else:
        for k in ABSCISSA_MATRICES:
            row[f"abs_{k}"] = row[f"abs_{k}_max"] = row[f"abs_{k}_std"] = np.nan
        row.update({"abscissa": np.nan, "abscissa_max": np.nan, "converged": np.nan,
                    "diverged": np.nan})
    return row, source


def _epoch_losses(network, data, config):
    red = "batch_mean" if config.reduction == "sum" else config.reduction
    out = {}
    for split, (xx, yy) in {"train": (data.x_train, data.y_train),
                            "val": (data.x_val, data.y_val),
                            "test": (data.x_test, data.y_test)}.items():
        out[f"{split}_loss"] = (loss_value(network.forward(xx).r[-1], yy, config.loss, red)
                                if len(xx) else np.nan)
    return out


def _should_log(config, b):
    lb = config.log_batches
    if lb == "first":
        return b == 0
    if lb == "all":
        return True
    return b % lb == 0


def _fmt_time(s):
    if not math.isfinite(s):
        return "?"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


# ---------------------------------------------------------------------------- train
def train(config: TrainingConfig, seed=0, data: Optional[Dataset] = None, progress=True,
          progress_every=10, out=None, name=None, stream=None) -> TrainingLog:
    """Train a student on teacher data with one method; return (and optionally save) its log.

    Parameters
    ----------
    config : TrainingConfig
    seed : int
        Student initialisation, Q / DFA initialisation, shuffling and feedback noise.
    data : Dataset, optional
        Default: :func:`dfc_theory.datasets.student_teacher` with the config's sizes, sample
        counts and ``data_seed`` (the paper's teacher).
    progress : bool
        Print "label epoch k/E  train ... test ...  s/epoch, time left" lines.
    progress_every : int
        Epochs between progress lines (the first and last epochs are always printed).
    out, name : optional
        When given, the log is saved with :meth:`TrainingLog.save` (``name`` defaults to
        the run label in file-name form).
    stream : file, optional
        Where progress goes (default sys.stdout).

    Returns
    -------
    TrainingLog
    """
    if not isinstance(config, TrainingConfig):
        raise TypeError(f"config: expected a TrainingConfig, got {type(config).__name__}")
    stream = sys.stdout if stream is None else stream
    c = config
    if data is None:
        data = student_teacher(n_in=c.sizes[0], n_out=c.sizes[-1], n_train=c.n_train,
                               n_val=c.n_val, n_test=c.n_test, seed=c.data_seed)
    if data.x_train.shape[1] != c.sizes[0] or np.shape(data.y_train)[1] != c.sizes[-1]:
        raise ValueError(f"data: expected inputs of width {c.sizes[0]} and targets of width "
                         f"{c.sizes[-1]}, got {data.x_train.shape[1]} and "
                         f"{np.shape(data.y_train)[1]}")
    label = run_label(c.method, c.feedback)
    ss = np.random.SeedSequence(seed)
    s_net, s_q, s_fb, s_shuffle = (int(s.generate_state(1)[0]) for s in ss.spawn(4))
    network = Network.random(c.sizes, activation=c.activation,
                             output_activation=c.output_activation, seed=s_net)
    controller = c.controller()
    Q, B_fb = None, None
    t_fb_total = 0.0
    if c.method == "dfa":
        B_fb = dfa_feedback(network, seed=s_q, scale=c.dfa_scale)
    elif c.method in DFC_METHODS:
        if c.feedback == "fixed":
            Q = fixed_feedback(network)
        else:
            Q = xavier_feedback(network, seed=s_q, scale=c.q_init_scale)
            t0 = time.perf_counter()
            Q = _train_feedback(network, Q, data.x_train, c, c.fb_pretrain_epochs, s_fb,
                                c.lr_fb_init)
            t_fb_total += time.perf_counter() - t0
            if progress:
                print(f"[{label}] feedback pre-training: {c.fb_pretrain_epochs} epochs in "
                      f"{time.perf_counter() - t0:.1f} s", file=stream, flush=True)
    rows, epochs_rows = [], []
    e0 = {"epoch": 0, **_epoch_losses(network, data, c), "time_forward": 0.0,
          "time_feedback": t_fb_total, "converged": np.nan, "diverged": np.nan,
          "samples": 0, "skipped": 0, "fb_failed": 0, "grad_norm": np.nan}
    epochs_rows.append(e0)
    abscissa_source = None
    rng = np.random.default_rng(s_shuffle)
    fb_seed = np.random.default_rng(s_fb + 1)
    t_start = time.perf_counter()
    step = 0
    n_batches = -(-data.x_train.shape[0] // c.batch_size)
    fb_failed_total = 0
    for ep in range(1, c.epochs + 1):
        t_fb = 0.0
        fb_failed = 0
        if c.uses_feedback_learning and c.fb_epochs_per_epoch:
            t0 = time.perf_counter()
            Q, failed = _safe_feedback(network, Q, data.x_train, c, c.fb_epochs_per_epoch,
                                       int(fb_seed.integers(2**31)))
            fb_failed += failed
            t_fb += time.perf_counter() - t0
        t0 = time.perf_counter()
        conv = div = n_samp = skipped = 0
        gnorms = []
        for b, (x, y) in enumerate(data.batches(c.batch_size, seed=int(rng.integers(2**31)))):
            fp = network.forward(x)
            target = output_target(fp.r[-1], y, c.lam, c.loss, c.reduction)
            Qb = fixed_feedback(network) if (Q is not None and c.feedback == "fixed"
                                              and c.fixed_mode == "recompute") else Q
            res = forward_update(network, x, target, c.method, Q=Qb, controller=controller,
                                 rule=c.rule, dt=c.dt, n_steps=c.n_steps, dfa_feedback=B_fb)
            if res.converged is not None and c.method != "dfc-ssa":
                conv += int(np.sum(res.converged))
                div += int(np.sum(res.diverged))
            n_samp += x.shape[0]
            if _should_log(c, b):
                row, src = _log_row(c, network, Qb, controller, x, y, target, res, B_fb)
                abscissa_source = abscissa_source or src
                rows.append({"epoch": ep, "batch": b, "step": step,
                             "epoch_frac": ep - 1 + b / n_batches, **row})
            upd = res.update
            if not np.all(np.isfinite(upd.vector())):
                skipped += 1
            else:
                step_vec, gn = _descent_step(upd, c)
                gnorms.append(gn)
                network = _apply(network, step_vec)
                if Q is not None and c.feedback == "fixed" and c.fixed_mode == "recompute":
                    Q = fixed_feedback(network)
            step += 1
        t_fw = time.perf_counter() - t0
        if c.uses_feedback_learning and c.fb_extra_epochs:
            t0 = time.perf_counter()
            Q, failed = _safe_feedback(network, Q, data.x_train, c, c.fb_extra_epochs,
                                       int(fb_seed.integers(2**31)))
            fb_failed += failed
            t_fb += time.perf_counter() - t0
        fb_failed_total += fb_failed
        er = {"epoch": ep, **_epoch_losses(network, data, c), "time_forward": t_fw,
              "time_feedback": t_fb,
              "converged": conv if c.method in ("dfc", "dfc-ss") else np.nan,
              "diverged": div if c.method in ("dfc", "dfc-ss") else np.nan,
              "samples": n_samp, "skipped": skipped, "fb_failed": fb_failed,
              "grad_norm": float(np.mean(gnorms)) if gnorms else np.nan}
        epochs_rows.append(er)
        if progress and (ep == 1 or ep == c.epochs or ep % progress_every == 0):
            el = time.perf_counter() - t_start
            left = el / ep * (c.epochs - ep)
            print(f"[{label}] epoch {ep}/{c.epochs}  train {er['train_loss']:.4g}  "
                  f"test {er['test_loss']:.4g}  {el / ep:.2f} s/epoch  "
                  f"~{_fmt_time(left)} left", file=stream, flush=True)
    batch = _columns(rows)
    epoch = _columns(epochs_rows)
    meta = {"label": label, "seed": seed, "abscissa_source": abscissa_source,
            "time_total": time.perf_counter() - t_start,
            "time_pretrain_feedback": t_fb_total,
            "feedback_epochs_failed": fb_failed_total,
            "skipped_updates": int(np.sum(epoch["skipped"])),
            "fixed_mode": c.fixed_mode if c.feedback == "fixed" else None}
    log = TrainingLog(c, batch, epoch, meta, network.weights, network.biases,
                      None if Q is None else np.asarray(Q))
    if out is not None:
        log.save(out, name or label_to_name(label))
    return log


def label_to_name(label):
    """File-name form of a run label: "DFC-SS (fixed)" -> "dfc-ss_fixed"."""
    return label.lower().replace(" (fixed)", "_fixed").replace(" ", "_")


def _columns(rows):
    if not rows:
        return {}
    keys = list(rows[0])
    for r in rows[1:]:
        for k in r:
            if k not in keys:
                keys.append(k)
    out = {}
    for k in keys:
        vals = [r.get(k, np.nan) for r in rows]
        out[k] = np.array(vals, dtype=np.float64) if k not in ("epoch", "batch", "step",
                                                               "samples", "skipped",
                                                               "fb_failed") \
            else np.array(vals, dtype=np.int64)
    return out
