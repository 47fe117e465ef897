"""Helpers shared by the checks: log-log fits, plots, standard test systems."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

import dfc_theory as dfc


def loglog_slope(x, y):
    """Least-squares slope of log(y) against log(x)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("loglog_slope: x and y must be positive")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def rel(a, b):
    """||a - b|| / ||b|| (Frobenius)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def random_input(rng, n, norm=1.0):
    x = rng.standard_normal(n)
    return norm * x / np.linalg.norm(x)


def random_net(rng, sizes, activation="tanh", output_activation="linear", gain=1.0,
               bias_scale=0.0):
    return dfc.Network.random(sizes, activation=activation, output_activation=output_activation,
                              seed=int(rng.integers(2**31)), gain=gain, bias_scale=bias_scale)


def stable_random_q(net, x, rng, max_tries=500):
    """A Gaussian Q (violating Condition 2) with every eigenvalue of J Q in the open right
    half-plane, so the dynamics are stable for every alpha > 0 (Condition 3)."""
    J = net.jacobian(x)
    for _ in range(max_tries):
        Q = dfc.feedback.random_gaussian(net, seed=int(rng.integers(2**31)))
        if np.all(np.linalg.eigvals(J @ Q).real > 0):
            return Q
    raise RuntimeError("no stable Gaussian Q found")


def save_loglog(ctx, name, x, series, xlabel, ylabel, slope=None, title=None, anchor=None):
    """Plot y-series against x on log-log axes; draw the predicted slope through ``anchor``
    (default: the first series' first point).  Returns the file name (relative to ctx.out)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for label, y in series.items():
        ax.loglog(x, y, "o-", ms=4, label=label)
    if slope is not None:
        y0 = anchor if anchor is not None else list(series.values())[0][0]
        ax.loglog(x, y0 * (np.asarray(x) / x[0]) ** slope, "k--", lw=1,
                  label=f"predicted slope {slope:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fname = f"{name}.png"
    fig.tight_layout()
    fig.savefig(ctx.out / fname, dpi=110)
    plt.close(fig)
    return fname
