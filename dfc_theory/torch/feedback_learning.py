"""Sleep-phase feedback learning on tensors (THEORY.md Theorem 6 and section 6), mirroring
:func:`dfc_theory.feedback_learning.feedback_update` and ``train_feedback`` with the same
:class:`~dfc_theory.feedback_learning.FeedbackConfig`:

    target r_L* = r_L^- (no teaching signal), apical noise sigma_fb in every layer, and
    dQ = -(1 / sigma_fb^2) (1 / (K - 1)) sum_{k=1}^{K-1} mean_b v_fb[k] u[k+1]^T - decay(Q),

applied as Q <- Q + lr_fb dQ ("sgd") or an Adam step on -dQ ("adam").  See the NumPy module
for the derivation of the expected update and its fixed point.  Noise: a NumPy Generator as
``seed`` reproduces the NumPy core's numbers exactly; an int uses a torch Generator on the
device (fast, what the full-scale trainer uses).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_choice
from ..feedback_learning import DEFAULT_GAMMAS, FeedbackConfig
from ._common import solve
from .dynamics import DFCSystem
from .metrics import condition2_ratio
from .network import Network
from .simulate import simulate

__all__ = ["FeedbackConfig", "feedback_update", "feedback_metrics", "train_feedback",
           "decay_term", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adam")


def _check(network, Q, x, config):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.torch.Network, got "
                        f"{type(network).__name__}")
    if not isinstance(config, FeedbackConfig):
        raise TypeError(f"config: expected a FeedbackConfig, got {type(config).__name__}")
    Q = network.tensor(Q, "Q", shape=(network.n_total, network.n_out))
    x2 = network.tensor(x, "x", ndim=(1, 2))
    x2 = x2[None] if x2.ndim == 1 else x2
    if x2.shape[1] != network.n_in:
        raise ValueError(f"x: expected shape (B, {network.n_in}), got {tuple(x2.shape)}")
    return Q, x2


def decay_term(config, Q):
    """beta Q (weight decay) or beta (||Q||_F^2 - C) Q (homeostatic), on a tensor."""
    if config.decay == "weight":
        return config.beta * Q
    return config.beta * (float((Q * Q).sum()) - config.homeostatic_C) * Q


def feedback_update(network, Q, x, config=None, seed=None, return_info=False):
    """One sleep-phase update direction dQ (N, n_L), batch-averaged (module docstring).

    Raises FloatingPointError when the sleep simulation diverges (never returns non-finite
    numbers).
    """
    config = FeedbackConfig() if config is None else config
    Q, x2 = _check(network, Q, x, config)
    system = DFCSystem(network, Q, config.controller())
    with torch.no_grad():
        target = network.forward(x2).r[-1]
        acc = torch.zeros_like(Q)
        state = {"prev": None, "u2": torch.zeros((), dtype=Q.dtype, device=Q.device)}

        def observer(st):
            if st.step >= 2:
                acc.addmm_(state["prev"].T, st.u)
            state["prev"] = st.v_fb
            state["u2"] += (st.u * st.u).sum()

        res = simulate(system, x2, target, method="euler", dt=config.dt_fb,
                       n_steps=config.n_steps_fb, record="final", seed=seed,
                       sigma_out=config.sigma_out, observer=observer,
                       instantaneous_transmission=config.instantaneous_transmission,
                       proactive=config.proactive)
        B, K = x2.shape[0], config.n_steps_fb
        if res.info.get("blew_up") or res.n_steps < K or not bool(torch.isfinite(acc).all()):
            raise FloatingPointError(
                f"feedback_update: the sleep-phase simulation diverged after {res.n_steps} "
                f"steps (alpha_fb={config.alpha_fb}, k_p_fb={config.k_p_fb}, "
                f"dt_fb={config.dt_fb}); check Condition 3 (Re eig(J Q) > -alpha_fb) and the "
                f"Euler step")
        corr = acc / (B * (K - 1))
        decay = decay_term(config, Q)
        dQ = -corr / config.sigma_fb ** 2 - decay
    if return_info:
        return dQ, {"correlation": corr, "decay": decay,
                    "u_rms": math.sqrt(float(state["u2"]) / (B * K * network.n_out))}
    return dQ


def _angles(Q, P):
    """Angle in degrees between Q (N, n_L) and each P (..., N, n_L), per leading index."""
    Qd, Pd = Q.to(torch.float64), P.to(torch.float64)
    cos = (Qd * Pd).sum(dim=(-2, -1)) / (torch.linalg.matrix_norm(Qd)
                                         * torch.linalg.matrix_norm(Pd))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def feedback_metrics(network, Q, x, gammas=DEFAULT_GAMMAS, alpha=0.0, J=None):
    """Measures of Q on inputs x at the feedforward J, batch means (as the NumPy core's
    :func:`~dfc_theory.feedback_learning.feedback_metrics`): ``condition2``,
    ``angle_transpose`` (Q vs J^T), ``angle_damped`` (list over ``gammas``, Q vs
    J^T (J J^T + gamma I)^{-1}), ``min_real_eig`` (min Re eig(J Q), Condition 3 holds for
    ``alpha`` when > -alpha), ``condition3``, ``q_norm``."""
    Q = network.tensor(Q, "Q", shape=(network.n_total, network.n_out))
    with torch.no_grad():
        if J is None:
            J = network.jacobian(network.tensor(x, "x", ndim=2))
        JT = J.transpose(-1, -2)
        G = J @ JT
        eye = torch.eye(J.shape[-2], dtype=J.dtype, device=J.device)
        damped = []
        for g in gammas:
            P = JT @ torch.linalg.pinv(G) if g == 0 else \
                solve(G + g * eye, J).transpose(-1, -2)
            damped.append(float(_angles(Q, P).mean()))
        minre = float(torch.linalg.eigvals(J @ Q).real.min())
        return {"condition2": float(condition2_ratio(J, Q).mean()),
                "angle_transpose": float(_angles(Q, JT).mean()),
                "angle_damped": damped, "min_real_eig": minre,
                "condition3": bool(minre > -alpha),
                "q_norm": float(torch.linalg.matrix_norm(Q))}


class _Adam:
    """Adam on the "gradient" -dQ (the NumPy core's update, on tensors)."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = self.v = None
        self.t = 0

    def step(self, Q, dQ):
        g = -dQ
        if self.m is None:
            self.m, self.v = torch.zeros_like(g), torch.zeros_like(g)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mh = self.m / (1 - self.b1 ** self.t)
        vh = self.v / (1 - self.b2 ** self.t)
        return Q - self.lr * mh / (torch.sqrt(vh) + self.eps)


def train_feedback(network, Q, xs, config=None, epochs=1, batch_size=None, seed=None,
                   optimizer="sgd", noise="numpy", shuffle=True, state=None):
    """Train Q alone with sleep phases (forward weights fixed); returns ``(Q, state)``.

    Shuffling draws from ``numpy.random.default_rng(seed)`` exactly as
    :func:`dfc_theory.feedback_learning.train_feedback`; ``noise="numpy"`` passes that same
    generator to every :func:`feedback_update` (bit-compatible with the NumPy core),
    ``noise="torch"`` seeds a torch Generator per batch from it (fast on a GPU).
    ``state`` (returned) carries the Adam moments across calls, so a training loop can keep
    one optimizer over many feedback epochs.
    """
    config = FeedbackConfig() if config is None else config
    xs_t = network.tensor(xs, "xs", ndim=2)
    Q, _ = _check(network, Q, xs_t[:1], config)
    Q = Q.clone()
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs: expected a positive integer, got {epochs!r}")
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    check_choice(noise, "noise", ("numpy", "torch"))
    n = xs_t.shape[0]
    bs = n if batch_size is None else batch_size
    if isinstance(bs, bool) or int(bs) != bs or bs < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    bs = min(int(bs), n)
    rng = np.random.default_rng(seed)
    opt = (state if state is not None else _Adam(config.lr_fb)) if optimizer == "adam" else None
    n_batches = -(-n // bs)
    for _ in range(int(epochs)):
        order = rng.permutation(n) if shuffle else np.arange(n)
        idx_all = torch.as_tensor(order, device=xs_t.device)
        for j in range(n_batches):
            xb = xs_t[idx_all[j * bs:(j + 1) * bs]]
            src = rng if noise == "numpy" else int(rng.integers(2**62))
            dQ = feedback_update(network, Q, xb, config, seed=src)
            Q = Q + config.lr_fb * dQ if opt is None else opt.step(Q, dQ)
    return Q, opt
