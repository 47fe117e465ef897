"""Learning the feedback weights Q in a noisy "sleep" phase (THEORY.md sections 4, Theorem 6,
and 6): the Monte Carlo rule (:func:`feedback_update`) and feedback training, for NumPy and
torch networks.  The rule's theory (our closed form among it) lives in the NumPy/SciPy-only
:mod:`dfc_theory._feedback_theory`, re-exported here; the settings are :class:`FeedbackConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._adam import Adam
from ._backend import device, eigvals, errstate, no_grad, norm, to_numpy
from ._dynamics import DFCSystem
from ._feedback_config import DECAYS, FeedbackConfig
from ._feedback_theory import (DampedFit, _check_inputs, _rule_output,  # noqa: F401
                               closed_form_feedback, closed_form_h, expected_feedback_update,
                               fit_damped_gamma, solve_feedback_fixed_point)
from ._simulate import simulate
from ._validation import (as_batch, as_rng, check_choice, check_int, check_nonempty,
                          check_scalar)
from .feedback import damped_pinv_family
from .metrics import angle, condition2_ratio

__all__ = ["FeedbackConfig", "FeedbackLog", "DampedFit", "DECAYS", "DEFAULT_GAMMAS",
           "OPTIMIZERS", "feedback_update", "expected_feedback_update", "train_feedback",
           "feedback_metrics", "damped_pinv_family", "fit_damped_gamma",
           "closed_form_h", "closed_form_feedback", "solve_feedback_fixed_point"]

OPTIMIZERS = ("sgd", "adam")
#: The damping values of the paper's Figs S2-S4 (gamma = 0 is the pseudoinverse J^+).
DEFAULT_GAMMAS = (0.0, 0.1, 1.0, 5.0, 10.0, 100.0, 1000.0)


def feedback_update(network, Q, x, config=None, seed=None, return_info=False):
    """One sleep-phase feedback update direction dQ (N, n_L), batch-averaged.

    Simulates the reference Euler scheme (:func:`dfc_theory.simulate`) with target
    r_L* = r_L^- (no teaching signal) and apical noise of std sigma sqrt(dt) / tau_A per
    step in v_fb[k+1], and returns, with K = ``n_steps_fb``,

        dQ = -(1 / sigma_fb^2) (1 / (K - 1)) sum_{k=1}^{K-1} mean_b v_fb[k] u[k+1]^T - decay(Q),

    so that a step is Q <- Q + lr_fb dQ.  The one-step lag carries the noise correlation
    (noise in v_fb[k] raises r_L[k] by J xi, lowering e[k] and u[k+1]); the pair
    (v_fb[0] = 0, u[1]) is identically zero and left out, so the noise term is exactly +J^T
    in the ideal setting (the reference code's mean over all K steps is (K - 1) / K times
    it).  decay(Q) = beta Q, or beta (||Q||_F^2 - C) Q (our reading of THEORY.md's
    homeostatic "b (||Q||_F^2 - C)": the gradient of (beta / 4)(||Q||_F^2 - C)^2).

    Parameters
    ----------
    network : Network
    Q : array (N, n_L)
    x : array (B, n_0) or (n_0,)
        Inputs; the batch is simulated in parallel.
    config : FeedbackConfig, optional (default ``FeedbackConfig()``, the reference settings)
    seed : int or numpy Generator
        Noise source, as the ``seed`` of :func:`dfc_theory.simulate`.
    return_info : bool
        Also return a dict with ``correlation`` (the averaged v_fb u^T), ``decay``, ``u_rms``.

    Returns
    -------
    dQ : array (N, n_L), or (dQ, info) with ``return_info``.

    Raises
    ------
    ValueError
        For an empty batch, or non-finite tensors ``x``, ``Q`` (found when the run fails).
    FloatingPointError
        If the sleep-phase simulation blows up (Condition 3 violated or dt_fb too large).

    Examples
    --------
    The Monte Carlo update of a large batch is close to its exact expectation:

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], activation="linear", seed=0)
    >>> Q = dfc.feedback.random_gaussian(net, seed=1)
    >>> xs, cfg = np.ones((1000, 3)), dfc.FeedbackConfig.ideal(1.0, 0.1, n_steps_fb=50)
    >>> dQ = dfc.feedback_update(net, Q, xs, cfg, seed=0)
    >>> E = dfc.expected_feedback_update(net, Q, xs, cfg)
    >>> dQ.shape, bool(np.linalg.norm(dQ - E) < 0.1 * np.linalg.norm(E))
    ((6, 2), True)
    """
    Q, x2, config = _check_inputs(network, Q, x, config)
    system = DFCSystem(network, Q, config.controller())
    xp = network.xp
    target = network._forward(x2).r[-1]
    acc = xp.zeros((network.n_total, network.n_out), dtype=Q.dtype, device=device(Q))
    state = {"prev": None, "u2": 0.0}

    def observer(st):
        if st.step >= 2:
            acc[...] += state["prev"].T @ st.u
        state["prev"] = st.v_fb
        state["u2"] = state["u2"] + xp.sum(st.u * st.u)

    with errstate(xp, over="ignore", invalid="ignore"):
        res = simulate(system, x2, target, method="euler", dt=config.dt_fb,
                       n_steps=config.n_steps_fb, record="final", seed=seed,
                       sigma_out=config.sigma_out, observer=observer,
                       instantaneous_transmission=config.instantaneous_transmission,
                       proactive=config.proactive)
    B, K = x2.shape[0], config.n_steps_fb
    if res.info.get("blew_up") or res.n_steps < K or not bool(xp.all(xp.isfinite(acc))):
        for a, name in ((x2, "x"), (Q, "Q")):  # tensors are not scanned up front
            if not bool(xp.all(xp.isfinite(a))):
                raise ValueError(f"{name}: contains non-finite values (nan or inf)")
        raise FloatingPointError(
            f"feedback_update: the sleep-phase simulation diverged after {res.n_steps} steps "
            f"(alpha_fb={config.alpha_fb}, k_p_fb={config.k_p_fb}, dt_fb={config.dt_fb}); "
            f"check Condition 3 (Re eig(J Q) > -alpha_fb) and the Euler step")
    return _rule_output(acc / (B * (K - 1)), Q, config, return_info,
                        u_rms=math.sqrt(float(state["u2"]) / (B * K * network.n_out)))


def feedback_metrics(network, Q, x, gammas=DEFAULT_GAMMAS, alpha=0.0, J=None):
    """Alignment and condition measures of Q on inputs x (B, n_0) at the feedforward J (or
    the caller's ``J``, (B, n_L, N)): a dict with the batch means ``condition2``
    (||P_J Q||_F / ||Q||_F), ``angle_transpose`` (with J^T, degrees) and ``angle_damped``
    ((n_gamma,), with J^T (J J^T + gamma I)^{-1}), the batch minimum ``min_real_eig`` of
    Re eig(J Q), ``condition3`` (it exceeds -alpha) and ``q_norm`` ||Q||_F.

    Parameters
    ----------
    network : Network
    Q : array (N, n_L)
    x : array (B, n_0) or (n_0,)
    gammas : sequence of float >= 0
        Dampings of ``angle_damped`` (default: the paper's Figs S2-S4).
    alpha : float >= 0
        The alpha of Condition 3.
    J : array (B, n_L, N), optional

    Returns
    -------
    dict of float (``angle_damped``: NumPy array (n_gamma,); ``condition3``: bool).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net, x = dfc.Network.random([3, 5, 2], seed=0), np.ones((1, 3))
    >>> m = dfc.feedback_learning.feedback_metrics(net, dfc.feedback.pseudoinverse(net, x[0]), x)
    >>> round(m["condition2"], 10), round(float(m["angle_damped"][0]), 6)   # gamma = 0: J^+
    (1.0, 0.0)
    >>> round(m["min_real_eig"], 10), m["condition3"]                       # J J^+ = I
    (1.0, True)
    """
    Q = network.convert(Q, "Q", shape=(network.n_total, network.n_out))
    alpha = check_scalar(alpha, "alpha", low=0.0)
    xp = network.xp
    with no_grad(xp):
        x2 = check_nonempty(network._input(x)[0], "x", "the batch mean of the metrics")
        J = network._jacobian(network._forward(x2).v_stacked) if J is None else J
        fam = damped_pinv_family(J, gammas)  # (n_gamma, B, N, nL)
        minre = float(xp.min(xp.real(eigvals(J @ Q))))
        ratio = condition2_ratio(J, xp.broadcast_to(Q, (J.shape[0],) + tuple(Q.shape)))
        return {"condition2": float(xp.mean(ratio)),
                "angle_transpose": float(xp.mean(angle(Q, J.mT, matrices=True))),
                "angle_damped": to_numpy(xp.mean(angle(Q, fam, matrices=True), axis=-1)),
                "min_real_eig": minre,
                "condition3": bool(minre > -alpha),
                "q_norm": float(norm(Q))}


@dataclass
class FeedbackLog:
    """Metrics of Q during :func:`train_feedback`, one row per log point.

    Attributes
    ----------
    gammas : array (n_gamma,)
        Dampings of ``angle_damped``.
    updates, epochs : (n_log,)
        Updates done and epochs (fractional) at each log point.
    condition2, angle_transpose, min_real_eig, q_norm : (n_log,)
        The :func:`feedback_metrics` of the same names (every entry but ``condition3``).
    angle_damped : (n_log, n_gamma)
    optimizer : Adam or None
        The Adam state, to continue with ``state=``.

    The rows are lists while training, arrays once finished.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 5, 2], seed=0)
    >>> xs, cfg = np.ones((16, 3)), dfc.FeedbackConfig.ideal(1.0, 0.1, n_steps_fb=20)
    >>> Q, log = dfc.train_feedback(net, dfc.feedback.random_gaussian(net, seed=1), xs, cfg,
    ...                             epochs=3, batch_size=8, expected=True)
    >>> log.updates, log.epochs, log.angle_damped.shape    # start + one row per epoch
    (array([0., 2., 4., 6.]), array([0., 1., 2., 3.]), (4, 7))
    """

    gammas: np.ndarray
    updates: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    condition2: list = field(default_factory=list)
    angle_transpose: list = field(default_factory=list)
    angle_damped: list = field(default_factory=list)
    min_real_eig: list = field(default_factory=list)
    q_norm: list = field(default_factory=list)
    optimizer: object = None

    _KEYS = ("updates", "epochs", "condition2", "angle_transpose", "angle_damped",
             "min_real_eig", "q_norm")

    def _add(self, n_up, epoch, m):
        for key, value in zip(self._KEYS, (n_up, epoch) + tuple(m[k] for k in self._KEYS[2:])):
            getattr(self, key).append(value)

    def finish(self):
        """Convert the lists to arrays (done by :func:`train_feedback`)."""
        for key in self._KEYS:
            setattr(self, key, np.asarray(getattr(self, key), dtype=np.float64))
        return self

    def as_dict(self):
        """The log as a dict of arrays (``gammas`` and every logged quantity)."""
        return {k: np.asarray(getattr(self, k)) for k in ("gammas",) + self._KEYS}


def train_feedback(network, Q, xs, config=None, epochs=1, batch_size=None, seed=None,
                   optimizer="sgd", x_eval=None, gammas=DEFAULT_GAMMAS, log_every=None,
                   expected=False, shuffle=True, noise="numpy", state=None):
    """Train the feedback weights alone (sleep phases only; forward weights fixed).

    Per minibatch: dQ from :func:`feedback_update` (or :func:`expected_feedback_update`
    when ``expected``), then Q <- Q + lr_fb dQ ("sgd") or an Adam step on -dQ ("adam").

    Parameters
    ----------
    network : Network
    Q : (N, n_L) initial feedback weights (not modified).
    xs : (n, n_0) training inputs.
    config : FeedbackConfig (default: the reference settings).
    epochs : int >= 1
    batch_size : int, optional (default: all of xs)
    seed : int or None
        Seeds shuffling and noise (one numpy Generator).
    optimizer : {"sgd", "adam"}
    x_eval : (B, n_0), optional
        Inputs of the logged metrics (default: the first minibatch, as the reference code).
    gammas : damping values of the logged angles.
    log_every : int, optional
        Log every that many updates (always at the start and the end); default: per epoch.
    expected : bool
        Use the exact expected update (deterministic; linearised sleep dynamics; NumPy).
    shuffle : bool
    noise : {"numpy", "torch"}
        The one Generator in every :func:`feedback_update` (same numbers on every backend),
        or a torch Generator per batch seeded from it (fast on a GPU).
    state : Adam, optional
        Continue with this optimizer (``log.optimizer`` of an earlier call).

    Returns
    -------
    (Q, FeedbackLog)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([4, 3, 2], activation="linear", seed=0)
    >>> Q0 = dfc.feedback.random_gaussian(net, seed=1)
    >>> xs = np.random.default_rng(2).standard_normal((32, 4))
    >>> Q, log = dfc.train_feedback(net, Q0, xs, dfc.FeedbackConfig.ideal(1.0, 0.1, n_steps_fb=50),
    ...                             epochs=20, batch_size=32, expected=True)
    >>> bool(log.condition2[-1] > log.condition2[0])     # Q moves into the row space of J
    True
    """
    xs = check_nonempty(network.convert(xs, "xs", shape=(None, network.n_in)), "xs",
                        "training on it")
    Q, _, config = _check_inputs(network, Q, xs[:1], config)
    Q = network.xp.asarray(Q, copy=True)
    epochs = check_int(epochs, "epochs")
    n = xs.shape[0]
    bs = min(check_int(n if batch_size is None else batch_size, "batch_size"), n)
    n_batches = -(-n // bs)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    check_choice(noise, "noise", ("numpy", "torch"))
    every = n_batches if log_every is None else check_int(log_every, "log_every")
    rng = as_rng(seed)
    order0 = rng.permutation(n) if shuffle else np.arange(n)
    x_eval = xs[order0[:bs]] if x_eval is None else as_batch(x_eval, "x_eval", network.n_in,
                                                                   like=xs)[0]
    log = FeedbackLog(np.asarray(gammas, dtype=np.float64))
    log._add(0, 0.0, feedback_metrics(network, Q, x_eval, gammas, config.alpha_fb))
    opt = None
    if optimizer == "adam":  # updates Q in place; ``state`` carries the moments over
        opt = Adam([Q], config.lr_fb) if state is None else state
        opt.params = [Q]
    for ep in range(epochs):
        order = order0 if ep == 0 else (rng.permutation(n) if shuffle else np.arange(n))
        for j in range(n_batches):
            xb = xs[order[j * bs:(j + 1) * bs]]
            if expected:
                dQ = expected_feedback_update(network, Q, xb, config)
            else:
                src = rng if noise == "numpy" else int(rng.integers(2**62))
                dQ = feedback_update(network, Q, xb, config, seed=src)
            if opt is None:
                Q = Q + config.lr_fb * dQ
            else:
                opt.step([-dQ])
            n_up = ep * n_batches + j + 1
            if n_up % every == 0 or n_up == epochs * n_batches:  # default: per epoch; the end
                log._add(n_up, ep + (j + 1) / n_batches,
                         feedback_metrics(network, Q, x_eval, gammas, config.alpha_fb))
    log.optimizer = opt
    return Q, log.finish()
