"""Helpers shared by the checks: log-log fits, robust angles, plots, and reference updates
the core does not provide publicly yet.

Capabilities written here that belong in ``dfc_theory`` later (listed for the core):

* :func:`angle_deg` -- the angle between two updates accurate near 0 degrees
  (2 atan2(||a - b||, ||a + b||) of unit vectors; ``dfc.angle`` uses arccos, whose
  resolution is ~1e-6 rad near 0);
* :func:`transformed_update` -- a reference update whose per-layer signal a_i is passed
  through the layer's nonlinearity, a_i -> phi_i(v_i^- + a_i) - phi_i(v_i^-), the
  counterpart of the paper's nonlinear plasticity rule for any signal (THEORY.md section 7
  has it for the minimum-norm update only; here also for Gauss-Newton and the weighted
  minimum norm);
* :func:`simulate_rule` -- one reference Euler simulation that yields, at chosen steps, the
  time-averaged plasticity rule (DFC) and the rule at the current state (DFC-SS).
"""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

import dfc_theory as dfc
from dfc_theory.gauss_newton import per_layer_from_signal
from dfc_theory.learning import TimeAveragedRule, rule_at_state


def loglog_slope(x, y):
    """Least-squares slope of log(y) against log(x)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.any(x <= 0) or np.any(y <= 0) or not np.all(np.isfinite(y)):
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def rel(a, b):
    """||a - b|| / ||b|| (Frobenius)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _vec(a, with_bias=True):
    if isinstance(a, dfc.Update):
        return a.vector(with_bias)
    return np.asarray(a, dtype=float).ravel()


def angle_deg(a, b, with_bias=True):
    """angle(a, b) in degrees, = degrees(arccos(<a, b> / (||a|| ||b||))), computed as
    2 atan2(||a^ - b^||, ||a^ + b^||) of the unit vectors (accurate near 0 and 180)."""
    x, y = _vec(a, with_bias), _vec(b, with_bias)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0 or not (np.isfinite(nx) and np.isfinite(ny)):
        return float("nan")
    x, y = x / nx, y / ny
    return float(np.degrees(2 * np.arctan2(np.linalg.norm(x - y), np.linalg.norm(x + y))))


def layer_angles_deg(a, b, with_bias=True):
    """Per-layer :func:`angle_deg` of two Updates."""
    wb = with_bias and a.db is not None and b.db is not None
    return np.array([angle_deg(a.layer(i, wb), b.layer(i, wb)) for i in range(1, a.depth + 1)])


def transformed_update(net, x, a_blocks, transform=True, include_bias=True, weights=None):
    """Delta W_i = (phi_i(v_i^- + a_i) - phi_i(v_i^-)) r_{i-1}^T (``transform``; else a_i
    r_{i-1}^T), times ``weights[i]`` per layer, from per-layer signals a_i (B, n_i) at the
    feedforward state of x (B, n_0)."""
    x2 = np.atleast_2d(x)
    fp = net.forward(x2)
    blocks = [np.atleast_2d(a) for a in a_blocks]
    if transform:
        blocks = [net.phi(i).f(v + a) - net.phi(i).f(v)
                  for i, (v, a) in enumerate(zip(fp.v, blocks), start=1)]
    up = per_layer_from_signal(blocks, fp.r[:-1], include_bias)
    return up if weights is None else up.scaled(weights)


def gn_signal(net, x, delta):
    """Per-layer Gauss-Newton signal a_i with Delta W_i = a_i r_{i-1}^T (biases in theta):
    a_i = J_i^T (J_theta J_theta^T)^{-1} delta_L -- the bias part of ``gn_update`` for one
    sample."""
    return [np.atleast_2d(b) for b in dfc.gauss_newton.gn_update(net, x, delta).db]


def min_norm_signal(net, x, delta):
    """a = J^+ delta_L split per layer (the bias part of the minimum-norm update)."""
    return [np.atleast_2d(b) for b in dfc.gauss_newton.min_norm_update(net, x, delta).db]


def simulate_rule(system, x, target, dt, n_steps, snapshots=None, rule="nonlinear",
                  include_bias=True, **kw):
    """Reference Euler simulation with the plasticity rule.

    Returns (result, snaps) where snaps[n] = (time-averaged update over steps 1..n, update
    at the state of step n) for every n in ``snapshots`` (default: the last step).
    """
    net = system.network
    x2 = np.atleast_2d(x)
    rule_obs = TimeAveragedRule(net, x2.shape[0], rule, include_bias)
    want = set(int(s) for s in (snapshots or [n_steps]))
    snaps = {}

    def observer(st):
        rule_obs(st)
        if rule_obs.n_steps in want:
            v = np.concatenate(st.v, axis=1)
            vff = np.concatenate(st.v_ff, axis=1)
            snaps[rule_obs.n_steps] = (rule_obs.update(x2),
                                       rule_at_state(net, x2, v, vff, rule, include_bias))

    with np.errstate(all="ignore"):
        res = dfc.simulate(system, x2, target, method="euler", dt=dt, n_steps=n_steps,
                           record="final", observer=observer, **kw)
    return res, snaps


# ---------------------------------------------------------------------------- plots
def plot_sweep(ctx, name, curves, control=(), slope=None, xlabel="eps", ylabel="error",
               title=None, normalise=True):
    """All judged draws of a sweep on log-log axes: ``curves`` and ``control`` are lists of
    (x, y); with ``normalise`` each curve is divided by its value at its largest x, so that
    draws of different scales share one picture.  The predicted slope is drawn through 1 at
    the largest x."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    xmax = None
    for i, (x, y) in enumerate(curves):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            continue
        yy = y / y[np.argmax(x)] if normalise else y
        ax.loglog(x, yy, "-", color="C0", alpha=0.6, lw=1,
                  label="judged draws" if i == 0 else None)
        xmax = x.max() if xmax is None else max(xmax, x.max())
    for i, (x, y) in enumerate(control):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            continue
        yy = y / y[np.argmax(x)] if normalise else y
        ax.loglog(x, yy, "--", color="C3", alpha=0.6, lw=1,
                  label="negative control" if i == 0 else None)
    if slope is not None and curves:
        x = np.asarray(curves[0][0], float)
        xs = np.array([x.min(), x.max()])
        ax.loglog(xs, (xs / xs[1]) ** slope, "k:", lw=1.5, label=f"predicted slope {slope:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (normalised)" if normalise else ""))
    if title:
        ax.set_title(title, fontsize=9)
    _legend(ax, 7)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(ctx, fig, name)


def _legend(ax, size):
    if ax.get_legend_handles_labels()[0]:  # an empty sweep has nothing to label
        ax.legend(fontsize=size)


def save_figure(ctx, fig, name):
    fname = f"{name}.png"
    fig.tight_layout()
    fig.savefig(ctx.out / fname, dpi=100)
    plt.close(fig)
    return fname


# ---------------------------------------------------------------------------- Theorem 6
def fd_jacobian(f, q0, h=None, central=False):
    """Finite-difference Jacobian of f: R^n -> R^n at q0 (forward, or central)."""
    q0 = np.asarray(q0, float)
    f0 = f(q0)
    n = q0.size
    h = 1e-6 * max(1.0, float(np.max(np.abs(q0)))) if h is None else h
    Jm = np.empty((f0.size, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        Jm[:, i] = (f(q0 + e) - f(q0 - e)) / (2 * h) if central else (f(q0 + e) - f0) / h
    return Jm, f0


def chord_newton(f, q0, jac=None, tol=1e-12, max_iter=60, scale=1.0):
    """Root of f by chord-Newton steps with a fixed Jacobian ``jac`` (finite differences at
    q0 when None), step halving when f cannot be evaluated (FloatingPointError) or the
    residual grows, and a fresh Jacobian when the contraction stalls.  Converged when
    ||f|| <= tol * scale.  Returns (q, ||f|| / scale, evaluations, jac)."""
    q = np.asarray(q0, float).copy()
    if jac is None:
        jac, fq = fd_jacobian(f, q)
        n_eval = q.size + 1
    else:
        fq = f(q)
        n_eval = 1
    lu = _lu(jac)
    r = np.linalg.norm(fq)
    for _ in range(max_iter):
        if r <= tol * scale:
            break
        step = -_lu_solve(lu, fq)
        t, accepted = 1.0, False
        while t > 1e-4:
            try:
                fn = f(q + t * step)
                n_eval += 1
            except FloatingPointError:
                t /= 2
                continue
            rn = np.linalg.norm(fn)
            if np.isfinite(rn) and rn < r:
                accepted = True
                break
            t /= 2
        if not accepted:
            break
        q, fq = q + t * step, fn
        if rn > 0.3 * r:  # slow contraction: refresh the Jacobian
            jac, fq = fd_jacobian(f, q)
            n_eval += q.size + 1
            lu = _lu(jac)
        r = np.linalg.norm(fq)
    return q, r / scale, n_eval, jac


def _lu(A):
    import scipy.linalg
    return scipy.linalg.lu_factor(A)


def _lu_solve(lu, b):
    import scipy.linalg
    return scipy.linalg.lu_solve(lu, b)


def plot_points(ctx, name, groups, xlabel, ylabel, title=None, lines=(), logy=False,
                logx=False, diagonal=False):
    """Scatter plot of per-draw values: ``groups`` = {label: (x, y)}; ``lines`` = [(value,
    "h" | "v", label)] reference lines; ``diagonal`` draws y = x."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for i, (label, (x, y)) in enumerate(groups.items()):
        ax.plot(x, y, "o" if i == 0 else "x", ms=5, label=label, alpha=0.8)
    for value, kind, label in lines:
        (ax.axhline if kind == "h" else ax.axvline)(value, color="k", ls="--", lw=1,
                                                     label=label)
    if diagonal:
        allv = np.concatenate([np.ravel(v) for xy in groups.values() for v in xy])
        allv = allv[np.isfinite(allv)]
        if allv.size:
            lo, hi = allv.min(), allv.max()
            ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="y = x")
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    _legend(ax, 7)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(ctx, fig, name)
