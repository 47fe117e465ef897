"""What a full-scale run logs (names: :mod:`dfc_theory.torch.records`): losses and errors
per split and epoch, and the alignment and exact steady-state metrics of a logged batch."""
from __future__ import annotations

import torch

from .._methods import DFC_METHODS
from .._steady_state import steady_state
from .._training_log import alignment_row
from ..feedback import dfa_as_feedback
from ..learning import forward_update, rule_at_state
from ..metrics import angle, condition2_ratio, descent_inner_products, spectral_abscissa
from ..targets import loss_gradient, loss_value
from ._tensors import DFCSystem

__all__ = []


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


def _alignment_row(cfg, network, Q, controller, x, y, target, delta, fp, J, res, B_fb):
    """Metrics of one batch before its update (names: :mod:`dfc_theory.torch.records`)."""
    row = {"loss": float(loss_value(fp.r[-1], y, cfg.loss, "batch_mean"))}
    system = ssa = None
    if cfg.method in DFC_METHODS:
        system = DFCSystem(network, Q, controller)
        if cfg.method != "dfc-ssa":  # the angle of DFC-SSA with itself is not logged
            ssa = forward_update(network, x, target, "dfc-ssa", Q=Q, controller=controller,
                                 rule=cfg.rule, J=J, delta_L=delta, forward=fp).update
    row.update(alignment_row(network, x, fp, J, delta, res.update, ssa, cfg.gn_damping,
                             cfg.rule, None))
    Qm = Q if Q is not None else (dfa_as_feedback(network, B_fb) if B_fb is not None else None)
    row["cond2"] = float(condition2_ratio(J, Qm).mean()) if Qm is not None else None
    row.update(dict.fromkeys(("angle_ssa_exact", "abscissa", "abscissa_inst", "descent_frac",
                              "descent_min_rel", "newton_converged", "converged", "diverged",
                              "metric_samples")))
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
    """The exact (Newton) steady-state columns of :mod:`dfc_theory.torch.records`, in float64
    whatever the training dtype: the batch-mean targets make delta_L ~ lambda / B small, and
    for well-fitted samples far smaller, so in float32 v - v^ff and delta_L^T J Delta v would
    be rounding noise."""
    f64 = torch.float64
    x, y = x[:cfg.metric_samples], y[:cfg.metric_samples]  # None: all
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
    out = {"newton_converged": int(ss.converged.sum()), "metric_samples": x.shape[0]}
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
        z = sys64.rest_state(ss, target)[:k]
        A = sys64.rhs_jacobian(x64[:k], target[:k], z)
        out["abscissa"] = float(spectral_abscissa(A).max())
    return out
