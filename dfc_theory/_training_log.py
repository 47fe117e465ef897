"""Logging of training runs (the columns: :mod:`dfc_theory.training`): the metrics of one
logged batch, per-epoch losses, and :class:`TrainingLog` with its CSV/NPZ files."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import stability
from ._checkpoint import read_npz
from ._dynamics import DFCSystem
from ._methods import DFC_METHODS, run_label
from ._simulate import simulate
from ._training_config import TrainingConfig
from .feedback import dfa_as_feedback
from .gauss_newton import _bp, _gn, _min_norm
from .learning import forward_update
from .metrics import angle, condition1_deviation, condition2_ratio, layer_angles, layer_norms
from .targets import loss_value

__all__ = ["TrainingLog", "ABSCISSA_MATRICES", "ANGLE_REFS", "alignment_row"]

ABSCISSA_MATRICES = ("A_tilde_I", "A_I", "A_inst", "A_PI")
ANGLE_REFS = ("bp", "gn", "mn", "ssa")


@dataclass
class TrainingLog:
    """Per-logged-batch rows and per-epoch rows of one run.

    Attributes
    ----------
    config : TrainingConfig
    batch : dict of 1-D arrays (one entry per logged batch), keys listed in
        :mod:`dfc_theory.training` plus ``epoch``, ``batch``, ``step``, ``epoch_frac``.
    epoch : dict of 1-D arrays (one entry per epoch, index 0 = before training):
        ``epoch``, ``train_loss``, ``val_loss``, ``test_loss``, ``time_forward``,
        ``time_feedback``, ``converged``, ``diverged``, ``samples``, ``skipped``,
        ``fb_failed`` (sleep phases that diverged), ``grad_norm`` (mean unclipped norm of G).
    meta : dict (label, seed, abscissa source, timings, notes).
    weights, biases, Q : final parameters.

    Examples
    --------
    Obtained from :func:`dfc_theory.training.train`; :meth:`save` and :meth:`load` round-trip
    it exactly.

    >>> import tempfile, numpy as np
    >>> from dfc_theory.training import TrainingConfig, TrainingLog, train
    >>> from dfc_theory.datasets import student_teacher
    >>> c = TrainingConfig(sizes=(3, 2), epochs=1, batch_size=4, method="dfc-ssa",
    ...                    feedback="fixed")
    >>> data = student_teacher(3, 2, n_train=8, n_val=2, n_test=2, hidden=(20,))
    >>> log = train(c, data=data, progress=False)
    >>> log.label, sorted(log.epoch)[:3], log.Q.shape
    ('DFC-SSA (fixed)', ['converged', 'diverged', 'epoch'], (2, 2))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = log.save(d, "run")
    ...     back = TrainingLog.load(d, "run")
    >>> path.name, back.config == c, bool(np.array_equal(back.batch["loss"], log.batch["loss"]))
    ('run.npz', True, True)
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
            with open(out / f"{name}_{kind}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(list(table))
                w.writerows([_fmt(v) for v in row] for row in zip(*table.values()))
        arrays = {f"b_{k}": np.asarray(v) for k, v in self.batch.items()}
        arrays.update({f"e_{k}": np.asarray(v) for k, v in self.epoch.items()})
        arrays.update({f"{k}{i}": a for i, pair in enumerate(zip(self.weights, self.biases), 1)
                       for k, a in zip("Wb", pair)})
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
        with read_npz(path) as z:
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


def _abscissae(system, x, target):
    """(the abscissa columns, source) of a batch at the exact steady state: "abscissa" is the
    system's own matrix (``A_system``: A_PI's spectrum for the "total" leak).  The reference
    code's Fig 3E plots the batch mean."""
    out = _no_abscissae()
    try:
        mats = stability.system_matrices(system, x, target, at="steady_state")
        source = "stability.system_matrices(at='steady_state')"
    except ValueError:
        mats = stability.system_matrices(system, x, target, at="feedforward")
        source = "stability.system_matrices(at='feedforward'; Newton did not converge)"
    for k in ABSCISSA_MATRICES:
        if mats.get(k) is not None:
            a = np.atleast_1d(stability.spectral_abscissa(mats[k]))
            out[f"abs_{k}"], out[f"abs_{k}_max"] = float(a.mean()), float(a.max())
            out[f"abs_{k}_std"] = float(a.std())
    if system.controller.leak == "total" and mats.get("A_PI") is not None:
        # A_system is A_PI in Delta v coordinates: the same spectrum, not recomputed
        out["abscissa"], out["abscissa_max"] = out["abs_A_PI"], out["abs_A_PI_max"]
        return out, source
    a = np.atleast_1d(stability.spectral_abscissa(mats["A_system"]))
    out["abscissa"], out["abscissa_max"] = float(a.mean()), float(a.max())
    return out, source


def _no_abscissae():
    """The abscissa columns of :func:`_abscissae`, all NaN (no controller)."""
    return {f"abs_{k}{s}": np.nan for k in ABSCISSA_MATRICES for s in ("", "_max", "_std")}


def alignment_row(network, x, fp, J, delta, upd, ssa, gamma, mn_rule, missing):
    """The alignment columns of both training logs (:mod:`dfc_theory.training`,
    :mod:`dfc_theory.torch.records`) at the forward pass ``fp`` (J its Jacobian, delta_L
    ``delta``): the angles of ``upd`` with the BP, damped GN and damped min-norm (signal
    ``mn_rule``) updates and ``ssa``, whole and per layer, and the two Condition-1
    deviations; an angle without a reference or of a non-finite ``upd`` is ``missing``."""
    refs = {"bp": _bp(network, fp, delta), "gn": _gn(fp, network.split(J), delta, gamma),
            "mn": _min_norm(network, fp, J, delta, gamma, mn_rule), "ssa": ssa}
    xp, row = network.xp, {}
    finite = bool(xp.all(xp.isfinite(upd.vector())))
    for k in ANGLE_REFS:
        ok = refs[k] is not None and finite
        row[f"angle_{k}"] = angle(upd, refs[k]) if ok else missing
        las = layer_angles(upd, refs[k]) if ok else [missing] * network.depth
        row.update({f"angle_{k}_l{i}": a for i, a in enumerate(las, start=1)})
    for metric, key in (("std", "cond1_std"), ("reference", "cond1_ref")):
        row[key] = float(xp.mean(condition1_deviation(network, x, metric)))
    return row


def _log_row(config, network, Q, controller, x, y, target, result, B_fb):
    """Metrics of one batch (before its update); see the module docstring."""
    fp = network.forward(x)
    delta = target - fp.r[-1]
    row = {"loss": loss_value(fp.r[-1], y, config.loss, config.reduction
                              if config.reduction != "sum" else "batch_mean")}
    upd = result.update
    system = ssa = None
    if config.method in DFC_METHODS:
        system = DFCSystem(network, Q, controller)
        ssa = upd if config.method == "dfc-ssa" else forward_update(
            network, x, target, "dfc-ssa", Q=Q, controller=controller, rule=config.rule).update
    J = network.jacobian(x)
    row.update(alignment_row(network, x, fp, J, delta, upd, ssa, config.gn_damping,
                             config.mn_rule or config.rule, np.nan))
    norms = layer_norms(network, x)                      # (B, L): ||r_0|| .. ||r_{L-1}||
    dev = (norms - norms.mean(axis=1, keepdims=True)) / norms.mean(axis=1, keepdims=True)
    for i in range(norms.shape[1]):
        row[f"norm_r{i}"] = float(norms[:, i].mean())
        row[f"normdev_r{i}"] = float(dev[:, i].mean())
        row[f"normdev_r{i}_std"] = float(dev[:, i].std())
    Qm = Q if Q is not None else (dfa_as_feedback(network, B_fb) if B_fb is not None else None)
    row["cond2"] = float(np.mean(condition2_ratio(J, Qm))) if Qm is not None else np.nan
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
        row.update(converged=int(np.sum(conv)), diverged=int(np.sum(div)))
    else:
        row.update(_no_abscissae(), abscissa=np.nan, abscissa_max=np.nan, converged=np.nan,
                   diverged=np.nan)
    return row, source


def _epoch_losses(network, data, config):
    red = "batch_mean" if config.reduction == "sum" else config.reduction
    out = {}
    for split in ("train", "val", "test"):
        xx, yy = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        out[f"{split}_loss"] = (loss_value(network.forward(xx).r[-1], yy, config.loss, red)
                                if len(xx) else np.nan)
    return out


def _should_log(config, b):
    lb = config.log_batches
    return b == 0 if lb == "first" else (lb == "all" or b % lb == 0)


#: log columns that hold counts (int64); the others are float64 (NaN: not available)
INT_COLUMNS = ("epoch", "batch", "step", "samples", "skipped", "fb_failed")


def _columns(rows):
    """Rows (dicts) as columns (1-D arrays) over the union of their keys, in order."""
    keys = dict.fromkeys(k for r in rows for k in r)
    return {k: np.array([r.get(k, np.nan) for r in rows],
                        dtype=np.int64 if k in INT_COLUMNS else np.float64) for k in keys}
