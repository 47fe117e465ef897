"""Theorem 3: with Condition 2 (no Condition 1) the DFC update is, layer by layer, parallel
to the weighted minimum-norm solution, with factor ||r_{i-1}||^2 (THEORY.md section 4)."""
from __future__ import annotations

import numpy as np

import dfc_theory as dfc
from dfc_theory.gauss_newton import weighted_min_norm_update

from ._common import loglog_slope, random_input, random_net, save_loglog
from ._updates import steady_update
from .result import Result


def run(ctx):
    rng = ctx.rng(404)
    scales = np.logspace(-4, -1, 7 if ctx.full else 4)
    n_nets = 5 if ctx.full else 2
    slopes, worst_angle, worst_factor, concat_plain, concat_eta, curves = [], [], [], [], [], {}
    for k in range(n_nets):
        net = random_net(rng, [6, 8, 7, 3], gain=1.5)
        x = random_input(rng, 6, norm=2.0)
        y = rng.standard_normal(3)
        Q = dfc.feedback.random_condition2(net, x, seed=int(rng.integers(2**31)))
        rL = net.forward(x).r[-1]
        norms2 = dfc.metrics.layer_norms(net, x)[0] ** 2
        ferr = []
        for s in scales:
            t = dfc.output_target(rL, y, s)
            up, _ = steady_update(net, Q, x, t, alpha=s, include_bias=False)
            mn = weighted_min_norm_update(net, x, t - rL)
            fac = np.array([np.vdot(a, b) / np.vdot(b, b) for a, b in zip(up.dW, mn.dW)])
            ferr.append(np.max(np.abs(fac / norms2 - 1)))
            if s == scales[0]:
                worst_angle.append(max(dfc.layer_angles(up, mn)))
                worst_factor.append(ferr[-1])
                concat_plain.append(dfc.angle(up, mn))
                concat_eta.append(dfc.angle(up.scaled(1 / norms2), mn))
        slopes.append(loglog_slope(scales, ferr))
        if k == 0:
            curves = {"max_i |factor_i / ||r_{i-1}||^2 - 1|": np.array(ferr)}
    plot = save_loglog(ctx, "theorem3", scales, curves, "alpha = lambda",
                       "relative error of the per-layer factor", slope=1,
                       title="Theorem 3: per-layer factor ||r_{i-1}||^2")
    return [Result(
        name="theorem3_weighted_min_norm",
        claim=("with Condition 2 and alpha, lambda -> 0, Delta W_i = Delta v_i r_{i-1}^T equals "
               "||r_{i-1}||^2 times the weighted minimum-norm solution (J^+ delta)_i r_{i-1}^T / "
               "||r_{i-1}||^2 in every layer; the concatenated updates are parallel only with "
               "eta_i = eta / ||r_{i-1}||^2"),
        reference="THEORY.md s.4, Theorem 3", predicted="factor ||r_{i-1}||^2, error slope 1",
        measured={"slopes": slopes, "max layer angle at 1e-4 [deg]": worst_angle,
                  "max factor error at 1e-4": worst_factor,
                  "concatenated angle, eta_i = eta [deg]": concat_plain,
                  "concatenated angle, eta_i = eta/||r||^2 [deg]": concat_eta},
        tolerance=("slopes in [0.9, 1.1]; layer angles < 0.05 deg and factor error < 1e-3 at "
                   "1e-4; concatenated angle < 0.05 deg with eta_i, > 1 deg without"),
        why=("first-order perturbation in alpha and lambda (O(s), slope 1); layer norms differ "
             "(||x|| = 2 vs tanh layers), so plain concatenation must show an O(1) angle"),
        passed=bool(all(abs(s - 1) <= 0.1 for s in slopes) and max(worst_angle) < 0.05
                    and max(worst_factor) < 1e-3 and max(concat_eta) < 0.05
                    and min(concat_plain) > 1.0),
        plot=plot, details={"networks": n_nets})]
