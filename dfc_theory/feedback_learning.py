"""Learning the feedback weights Q in a noisy "sleep" phase (THEORY.md sections 4, Theorem 6,
and 6).

The sleep phase
---------------
The network runs its controller with the feedforward output as target, r_L* = r_L^- (no
teaching signal), while white noise is injected into the apical compartment of every layer.
The reference Euler scheme (:func:`dfc_theory.simulate`, THEORY.md section 2) then reads, per
step k (noise std sigma sqrt(dt) / tau_A per step, tau_A = dt for an instantaneous apical
compartment):

    e[k]       = r_L^- - r_L[k]
    u[k+1]     = PI controller update from e[k] and u[k]
    v_fb[k+1]  = v_fb[k] + (dt / tau_A)(-v_fb[k] + Q u[k]) + sigma sqrt(dt) / tau_A xi[k+1]
    v[k+1]     = v[k] + (dt / tau_v)(-v[k] + v_ff[k+1] + v_fb[k+1])

Learning rule (reference code; THEORY.md section 6), applied once per simulated batch:

    Delta Q = lr * dQ,
    dQ = -(1 / sigma^2) (1 / (K - 1)) sum_{k=1}^{K-1} mean_b v_fb[k] u[k+1]^T  -  decay(Q),

with K = ``n_steps_fb``.  The one-step lag carries the noise correlation: the noise in
v_fb[k] raises r_L[k] by J xi, which lowers e[k] and hence u[k+1].  The pair
(v_fb[0] = 0, u[1]) is identically zero and is left out of the average, so that the
noise-correlation term is exactly +J^T in the ideal setting below (the reference code's
plain mean over all K steps is this times (K - 1) / K).  ``decay(Q)`` is weight decay
beta Q, or the homeostatic variant beta (||Q||_F^2 - C) Q (our reading of THEORY.md's
"b (||Q||_F^2 - C)": the gradient of (beta / 4)(||Q||_F^2 - C)^2).

Expected update and its fixed point (OUR derivation, not the paper's)
--------------------------------------------------------------------
For a linear network -- or for any network in the small-noise limit, linearised around
the feedforward state, which the noiseless sleep dynamics never leave -- the sleep phase is
a linear Gaussian process and the expectation of dQ is exact and independent of sigma
(every second moment is proportional to sigma^2):
:func:`expected_feedback_update` propagates the covariance of the discrete scheme.

In the ideal setting (tau_v -> 0, k_p = 0, tau_u = 1, instantaneous apical compartment,
dt -> 0, uniform noise sigma) one has, with G = J J^T and A = J Q + alpha I,

    du = -A u dt - sigma J dW,      E[v_fb[k] u[k+1]^T] = Q Sigma_k - sigma^2 J^T,
    E[dQ] = J^T - Q (S + beta I),   S = time average of Sigma(t) / sigma^2,
    A Sigma + Sigma A^T = sigma^2 G  (stationary, long horizon).

The ansatz Q = J^T h(G) makes everything a function of G; eigenvalue by eigenvalue
(y = g h, a = y + alpha, S = g / (2 a)) the fixed point solves
2 beta y^2 + (2 alpha beta - g) y - 2 alpha g = 0, whose positive root gives THEORY.md's

    h(g) = [(g - 2 alpha beta) + sqrt((g - 2 alpha beta)^2 + 16 alpha beta g)] / (4 beta g).

For a finite horizon T = K dt started from u = 0, Sigma(t) / sigma^2 = g (1 - e^{-2 a t}) / (2 a)
and S_T = g / (2 a) [1 - (1 - e^{-2 a T}) / (2 a T)]; h then solves h (S_T + beta) = 1
(:func:`closed_form_feedback` with ``horizon``).  Two consequences worth knowing:

* h(g) is monotone between 1/beta (g -> 0) and 1/(2 beta) (g -> infinity) for T = infinity:
  the stationary fixed point is never further than a factor 2 per eigen-direction from
  J^T / beta.  It is close to the damped pseudoinverse 2 alpha J^T (G + 2 alpha beta I)^{-1}
  (gamma = 2 alpha beta) only where g << 2 alpha beta, i.e. where that damped pseudoinverse
  is itself close to J^T / beta.  So with long simulations the learned Q is J^T-like.
* For short sleep simulations, (alpha + g h) T << 1, S_T = g T / 2 (1 - 2 a T / 3 + ...) and
  the fixed point is a damped pseudoinverse, Q ~ (2 / T) J^T (G + (2 beta / T) I)^{-1},
  gamma = 2 beta / T, whatever alpha.  Self-consistency limits this too: h <= 1 / beta makes
  the regime need g T << beta, where gamma = 2 beta / T >> g, again J^T-like.

Verification status (``tests/test_feedback_learning.py``)
-------------------------------------------------------
* Monte-Carlo means of :func:`feedback_update` agree with :func:`expected_feedback_update`
  within sampling error (linear networks, any sigma; tanh networks as sigma -> 0, with a
  detectable bias at sigma = 1).
* The closed form agrees with the exact fixed point of the expected DISCRETE rule in its
  setting up to the Euler error: e.g. 4-3-2 linear net, alpha = 1, beta = 0.1, T = 5:
  relative error 4.2% at dt = 0.01 and 1.9% at dt = 0.005 (slope ~1.1; the error is about
  dt a / 2 with a = alpha + g h ~ 9).  So neither the code nor the derivation is wrong; the
  tolerance must be an O(dt) slope, not a fixed number.
* THEORY.md's large-alpha reading "gamma ~ 2 alpha beta" is right only asymptotically
  (2 alpha beta >> g; relative error of h about g^2 / (2 alpha^2 beta^2)).  At moderate
  alpha the best-fitting gamma of Q* is much larger: on a 20-10-5 linear net with
  eig(J J^T) in [1.2, 4.1] and beta = 0.1, alpha = 1, 10, 100, 1000 give best gamma 37, 14,
  30, 211 against 2 alpha beta = 0.2, 2, 20, 200 (angles with the best member < 0.6 deg).
* Outside the ideal setting (the reference sleep phase: tau_v = 0.01 against T = 0.1,
  k_p_fb = 0.1, tau_A = 0.3) the fixed point of the rule leaves the row space of J slightly
  (Condition-2 ratio 0.996 on a 20-10-5 linear net; exactly 1 for tau_v = 0), alpha_fb
  hardly matters (alpha_fb T << 1) and a larger k_p_fb lowers the best gamma (towards J^+).

The paper states only that the expected Q is approximately proportional to a damped
pseudoinverse; its appendix (the full Theorem 6) was not available to us (THEORY.md
section 10).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import scipy.optimize

from ._validation import as_batch, as_float_array, check_choice, check_scalar
from .controller import LEAKS, Controller
from .dynamics import DFCSystem
from .metrics import condition2_ratio
from .network import Network
from .simulate import simulate

__all__ = ["FeedbackConfig", "FeedbackLog", "DampedFit", "DECAYS", "DEFAULT_GAMMAS",
           "feedback_update", "expected_feedback_update", "train_feedback",
           "feedback_metrics", "damped_pinv_family", "fit_damped_gamma",
           "closed_form_h", "closed_form_feedback", "solve_feedback_fixed_point"]

DECAYS = ("weight", "homeostatic")
OPTIMIZERS = ("sgd", "adam")
#: The damping values of the paper's Figs S2-S4 (gamma = 0 is the pseudoinverse J^+).
DEFAULT_GAMMAS = (0.0, 0.1, 1.0, 5.0, 10.0, 100.0, 1000.0)


# ---------------------------------------------------------------------------- config
@dataclass(frozen=True)
class FeedbackConfig:
    """Settings of the sleep phase and of the feedback learning rule.

    Defaults are the feedback settings of the paper's Fig 1D (THEORY.md section 8) with
    the reference code's "total" leak; :meth:`ideal` gives the setting of our closed form.

    Parameters
    ----------
    alpha_fb, k_p_fb : float >= 0
        Leak and proportional gain of the sleep-phase controller.
    tau_v_fb : float >= 0
        Somatic time constant (the reference code's ``ratio_fb`` since tau_u = 1);
        0 is the instantaneous system.
    tau_u_fb : float > 0
        Controller time constant (1: the reference time unit).
    dt_fb : float > 0
        Euler step; needs dt_fb < tau_v_fb unless tau_v_fb = 0, and dt_fb <= tau_A_fb.
    n_steps_fb : int >= 2
        Simulated steps K per update (the rule averages K - 1 lagged pairs).
    sigma_fb : float > 0
        Apical noise std in the hidden layers; the rule is scaled by 1 / sigma_fb^2.
    sigma_out : float >= 0 or None
        Output-layer noise std (None: sigma_fb).  With sigma_out != sigma_fb the noise
        term of the output block is scaled by (sigma_out / sigma_fb)^2.
    tau_A_fb : float > 0 or None
        Apical time constant; None = instantaneous apical compartment (tau_A = dt).
    lr_fb : float > 0
        Learning rate of :func:`train_feedback`.
    beta : float >= 0
        Weight decay (``decay="weight"``) or the homeostatic rate b (``"homeostatic"``).
    decay : {"weight", "homeostatic"}
        decay(Q) = beta Q, or beta (||Q||_F^2 - C) Q with C = ``homeostatic_C``.
    homeostatic_C : float > 0 or None
        Target squared Frobenius norm C of the homeostatic variant.
    leak : {"integral", "total"}
        PI convention (THEORY.md section 2); "total" is the reference code's.
    proactive, instantaneous_transmission : bool
        Euler options of :func:`dfc_theory.simulate`.
    """

    alpha_fb: float = 0.25
    k_p_fb: float = 0.1
    tau_v_fb: float = 0.01
    tau_u_fb: float = 1.0
    dt_fb: float = 0.002
    n_steps_fb: int = 50
    sigma_fb: float = 0.01
    sigma_out: Optional[float] = None
    tau_A_fb: Optional[float] = 0.3
    lr_fb: float = 0.1
    beta: float = 0.025
    decay: str = "weight"
    homeostatic_C: Optional[float] = None
    leak: str = "total"
    proactive: bool = False
    instantaneous_transmission: bool = True

    def __post_init__(self):
        s = object.__setattr__
        s(self, "alpha_fb", check_scalar(self.alpha_fb, "alpha_fb", low=0.0))
        s(self, "k_p_fb", check_scalar(self.k_p_fb, "k_p_fb", low=0.0))
        s(self, "tau_v_fb", check_scalar(self.tau_v_fb, "tau_v_fb", low=0.0))
        s(self, "tau_u_fb", check_scalar(self.tau_u_fb, "tau_u_fb", low=0.0,
                                         low_inclusive=False))
        s(self, "dt_fb", check_scalar(self.dt_fb, "dt_fb", low=0.0, low_inclusive=False))
        n = self.n_steps_fb
        if isinstance(n, bool) or int(n) != n or n < 2:
            raise ValueError(f"n_steps_fb: expected an integer >= 2 (the rule needs one lagged "
                             f"pair), got {n!r}")
        s(self, "n_steps_fb", int(n))
        s(self, "sigma_fb", check_scalar(self.sigma_fb, "sigma_fb", low=0.0,
                                         low_inclusive=False))
        if self.sigma_out is not None:
            s(self, "sigma_out", check_scalar(self.sigma_out, "sigma_out", low=0.0))
        if self.tau_A_fb is not None:
            s(self, "tau_A_fb", check_scalar(self.tau_A_fb, "tau_A_fb", low=0.0,
                                             low_inclusive=False))
            if self.dt_fb > self.tau_A_fb:
                raise ValueError(f"dt_fb: must be <= tau_A_fb = {self.tau_A_fb}, "
                                 f"got {self.dt_fb}")
        if self.tau_v_fb > 0 and self.dt_fb >= self.tau_v_fb:
            raise ValueError(f"dt_fb: forward Euler needs dt_fb < tau_v_fb = {self.tau_v_fb} "
                             f"(or tau_v_fb = 0, the instantaneous system), got {self.dt_fb}")
        s(self, "lr_fb", check_scalar(self.lr_fb, "lr_fb", low=0.0, low_inclusive=False))
        s(self, "beta", check_scalar(self.beta, "beta", low=0.0))
        check_choice(self.decay, "decay", DECAYS)
        if self.decay == "homeostatic":
            if self.homeostatic_C is None:
                raise ValueError("homeostatic_C: required (C > 0) for decay='homeostatic'")
            s(self, "homeostatic_C", check_scalar(self.homeostatic_C, "homeostatic_C",
                                                  low=0.0, low_inclusive=False))
        check_choice(self.leak, "leak", LEAKS)
        if self.tau_v_fb == 0 and not self.instantaneous_transmission:
            raise ValueError("instantaneous_transmission: the instantaneous system "
                             "(tau_v_fb = 0) needs instantaneous transmission")
        if self.tau_v_fb == 0 and self.leak == "integral" and self.k_p_fb > 0:
            raise ValueError("leak: the instantaneous system with k_p_fb > 0 needs "
                             "leak='total' (u = u_int + k_p e(u) is implicit otherwise)")

    @classmethod
    def ideal(cls, alpha_fb, beta, dt_fb=0.01, n_steps_fb=2000, sigma_fb=0.01, lr_fb=0.1):
        """The setting of our closed form: instantaneous network (tau_v = 0), k_p = 0,
        tau_u = 1, instantaneous apical compartment, uniform white noise, weight decay."""
        return cls(alpha_fb=alpha_fb, k_p_fb=0.0, tau_v_fb=0.0, tau_u_fb=1.0, dt_fb=dt_fb,
                   n_steps_fb=n_steps_fb, sigma_fb=sigma_fb, sigma_out=None, tau_A_fb=None,
                   lr_fb=lr_fb, beta=beta, decay="weight", leak="total")

    @property
    def ratio_fb(self):
        """tau_v_fb / tau_u_fb (the reference code's ``time_constant_ratio_fb``)."""
        return self.tau_v_fb / self.tau_u_fb

    @property
    def horizon(self):
        """Simulated time T = n_steps_fb * dt_fb."""
        return self.n_steps_fb * self.dt_fb

    def controller(self) -> Controller:
        """The sleep-phase :class:`Controller` (noise sigma_fb)."""
        return Controller(alpha=self.alpha_fb, k_p=self.k_p_fb, tau_v=self.tau_v_fb,
                          tau_u=self.tau_u_fb, leak=self.leak, tau_A=self.tau_A_fb,
                          sigma=self.sigma_fb)

    def decay_term(self, Q):
        """decay(Q): beta Q, or beta (||Q||_F^2 - C) Q for the homeostatic variant."""
        if self.decay == "weight":
            return self.beta * Q
        return self.beta * (np.sum(Q * Q) - self.homeostatic_C) * Q

    def replace(self, **changes) -> "FeedbackConfig":
        """A validated copy with some fields changed."""
        return replace(self, **changes)


# ---------------------------------------------------------------------------- checks
def _check_inputs(network, Q, x, config):
    if not isinstance(network, Network):
        raise TypeError(f"network: expected a dfc_theory.Network, got {type(network).__name__}")
    if not isinstance(config, FeedbackConfig):
        raise TypeError(f"config: expected a FeedbackConfig, got {type(config).__name__}")
    Q = as_float_array(Q, "Q", shape=(network.n_total, network.n_out))
    x2, _ = as_batch(x, "x", network.n_in)
    return Q, x2


# ---------------------------------------------------------------------------- the rule
def feedback_update(network, Q, x, config=None, seed=None, return_info=False):
    """One sleep-phase feedback update direction dQ (N, n_L), batch-averaged.

    Simulates the reference Euler scheme with target r_L* = r_L^- and apical noise, and
    returns

        dQ = -(1 / sigma_fb^2) (1 / (K - 1)) sum_{k=1}^{K-1} mean_b v_fb[k] u[k+1]^T - decay(Q)

    (v_fb including its noise; module docstring), so that a step is Q <- Q + lr_fb dQ.

    Parameters
    ----------
    network : Network
    Q : array (N, n_L)
    x : array (B, n_0) or (n_0,)
        Inputs; the batch is simulated in parallel.
    config : FeedbackConfig, optional (default ``FeedbackConfig()``, the reference settings)
    seed : int or numpy Generator
        Noise source.
    return_info : bool
        Also return a dict with ``correlation`` (the averaged v_fb u^T, before -1/sigma^2),
        ``decay`` and ``u_rms``.

    Raises
    ------
    FloatingPointError
        If the sleep-phase simulation blows up (unstable controller, Condition 3 violated,
        or dt_fb too large); never returns a non-finite update.
    """
    config = FeedbackConfig() if config is None else config
    Q, x2 = _check_inputs(network, Q, x, config)
    system = DFCSystem(network, Q, config.controller())
    target = network.forward(x2).r[-1]
    acc = np.zeros((network.n_total, network.n_out))
    state = {"prev": None, "u2": 0.0}

    def observer(st):
        if st.step >= 2:
            acc[...] += state["prev"].T @ st.u
        state["prev"] = st.v_fb
        state["u2"] += float(np.sum(st.u * st.u))

    with np.errstate(over="ignore", invalid="ignore"):
        res = simulate(system, x2, target, method="euler", dt=config.dt_fb,
                       n_steps=config.n_steps_fb, record="final", seed=seed,
                       sigma_out=config.sigma_out, observer=observer,
                       instantaneous_transmission=config.instantaneous_transmission,
                       proactive=config.proactive)
    B, K = x2.shape[0], config.n_steps_fb
    if res.info.get("blew_up") or res.n_steps < K or not np.all(np.isfinite(acc)):
        raise FloatingPointError(
            f"feedback_update: the sleep-phase simulation diverged after {res.n_steps} steps "
            f"(alpha_fb={config.alpha_fb}, k_p_fb={config.k_p_fb}, dt_fb={config.dt_fb}); "
            f"check Condition 3 (Re eig(J Q) > -alpha_fb) and the Euler step")
    corr = acc / (B * (K - 1))
    decay = config.decay_term(Q)
    dQ = -corr / config.sigma_fb ** 2 - decay
    if return_info:
        return dQ, {"correlation": corr, "decay": decay,
                    "u_rms": np.sqrt(state["u2"] / (B * K * network.n_out))}
    return dQ


def _linear_step(network, Q, D, config, z, xi):
    """One Euler step of the sleep dynamics linearised at the feedforward state.

    z : (B, K, d) deviations [u_int, u, v_fb, v] (row vectors), xi : (B, K, N) apical noise
    (already scaled).  Mirrors dfc_theory.simulate._euler line by line.
    """
    c, net = config, network
    nL, N, L = net.n_out, net.n_total, net.depth
    u_int, u, vfb, v = np.split(z, np.cumsum([nL, nL, N]), axis=-1)
    vb = net.split(v)
    h_u = c.dt_fb / c.tau_u_fb
    h_v = 1.0 if c.tau_v_fb == 0 else c.dt_fb / c.tau_v_fb
    h_A = 1.0 if c.tau_A_fb is None else c.dt_fb / c.tau_A_fb
    e = -D[-1][:, None, :] * vb[-1]
    if c.leak == "total":
        u_int_new = u_int + h_u * (e - c.alpha_fb * u)
    else:
        u_int_new = u_int + h_u * (e - c.alpha_fb * u_int)
    u_new = u_int_new + c.k_p_fb * e
    drive = (u_new if c.proactive else u) @ Q.T
    vfb_new = vfb + h_A * (drive - vfb) + xi
    fb = net.split(vfb_new)
    r_old = [D[i][:, None, :] * vb[i] for i in range(L)]
    v_new, r_new = [], []
    for i in range(L):
        if i == 0:
            ff = np.zeros_like(vb[0])
        else:
            src = r_new[i - 1] if c.instantaneous_transmission else r_old[i - 1]
            ff = src @ net.weights[i].T
        vi = vb[i] + h_v * (ff + fb[i] - vb[i])
        v_new.append(vi)
        r_new.append(D[i][:, None, :] * vi)
    return np.concatenate([u_int_new, u_new, vfb_new] + v_new, axis=-1)


def _noise_std(network, config):
    tau_A = config.dt_fb if config.tau_A_fb is None else config.tau_A_fb
    std = np.full(network.n_total, config.sigma_fb * np.sqrt(config.dt_fb) / tau_A)
    if config.sigma_out is not None:
        std[network.n_total - network.n_out:] = config.sigma_out * np.sqrt(config.dt_fb) / tau_A
    return std


def expected_feedback_update(network, Q, x, config=None, return_info=False):
    """Exact expectation of :func:`feedback_update` for the linearised sleep dynamics.

    The Euler scheme linearised at the feedforward state (where the noiseless sleep phase
    stays) is z[k+1] = M z[k] + N_xi xi[k+1] with z = [u_int, u, v_fb, v] (deviations).
    With C_0 = 0 and C_{k+1} = M C_k M^T + N_xi N_xi^T,

        E[v_fb[k] u[k+1]^T] = P_fb C_k M^T P_u^T   (xi[k+1] does not reach u[k+1]),
        E[dQ] = -(1 / sigma_fb^2) mean_b (1 / (K - 1)) sum_{k=1}^{K-1} P_fb C_k M^T P_u^T - decay(Q).

    Exact for linear networks (for every sigma: all moments scale with sigma^2); the
    sigma -> 0 limit of the expected update for nonlinear ones.  Cost O(K B d^3),
    d = 2 (N + n_L).

    Parameters and returns as :func:`feedback_update` (``return_info`` adds ``correlation``
    and ``covariance_final``, the per-sample C_K).
    """
    config = FeedbackConfig() if config is None else config
    Q, x2 = _check_inputs(network, Q, x, config)
    net = network
    nL, N = net.n_out, net.n_total
    d = 2 * nL + 2 * N
    B = x2.shape[0]
    fp = net.forward(x2)
    D = [net.phi(i).df(fp.v[i - 1]) for i in range(1, net.depth + 1)]
    if all(np.all(Di == Di[:1]) for Di in D):  # e.g. linear networks: one sample suffices
        D, B = [Di[:1] for Di in D], 1
    eye = np.broadcast_to(np.eye(d), (B, d, d))
    Mt = _linear_step(net, Q, D, config, eye, np.zeros((B, d, N)))  # rows: M e_j
    M = np.swapaxes(Mt, 1, 2)
    Nt = _linear_step(net, Q, D, config, np.zeros((B, N, d)),
                      np.broadcast_to(np.diag(_noise_std(net, config)), (B, N, N)))
    Nz = np.swapaxes(Nt, 1, 2)  # (B, d, N)
    W = Nz @ np.swapaxes(Nz, 1, 2)
    fb = slice(2 * nL, 2 * nL + N)
    uu = slice(nL, 2 * nL)
    MuT = Mt[:, :, uu]  # M^T P_u^T, (B, d, nL)
    C = np.zeros((B, d, d))
    S = np.zeros((B, d, d))
    K = config.n_steps_fb
    limit = 1e16 * np.max(np.diagonal(W, axis1=1, axis2=2))  # amplitude x 1e8 of one step
    for k in range(K):
        if k >= 1:
            S += C
        C = M @ C @ Mt + W
        if not np.max(np.diagonal(C, axis1=1, axis2=2)) < limit:
            raise FloatingPointError(
                f"expected_feedback_update: the linearised sleep dynamics diverge (the "
                f"fluctuations grew 1e8-fold within {k + 1} steps); check Condition 3 "
                f"(Re eig(J Q) > -alpha_fb = {-config.alpha_fb}) and dt_fb")
    corr = np.mean(S[:, fb, :] @ MuT, axis=0) / (K - 1)
    decay = config.decay_term(Q)
    dQ = -corr / config.sigma_fb ** 2 - decay
    if return_info:
        return dQ, {"correlation": corr, "decay": decay, "covariance_final": C}
    return dQ


# ---------------------------------------------------------------------------- metrics
def damped_pinv_family(J, gammas):
    """J^T (J J^T + gamma I)^{-1} for each gamma (gamma = 0 gives J^T (J J^T)^+ = J^+ for
    any rank; gamma = inf returns J^T, the gamma -> infinity limit up to scale).

    J : (n_L, N) or (B, n_L, N).  Returns (n_gamma, [B,] N, n_L), via one eigendecomposition
    J J^T = U diag(g) U^T.
    """
    J = as_float_array(J, "J", ndim=(2, 3))
    g, U = np.linalg.eigh(J @ np.swapaxes(J, -1, -2))
    JtU = np.swapaxes(J, -1, -2) @ U
    out = []
    for gamma in gammas:
        gamma = float(gamma)
        if gamma < 0 or np.isnan(gamma):
            raise ValueError(f"gammas: expected values >= 0, got {gamma}")
        if np.isinf(gamma):
            out.append(np.swapaxes(J, -1, -2).copy())
            continue
        den = g + gamma
        tol = 1e-12 * np.max(np.abs(g), axis=-1, keepdims=True)
        inv = np.where(den > tol, 1.0 / np.where(den > tol, den, 1.0), 0.0)  # (J J^T)^+ at 0
        out.append((JtU * inv[..., None, :]) @ np.swapaxes(U, -1, -2))
    return np.stack(out)


def _angles(Q, P):
    """Angles (degrees) between Q (..., N, n_L) and each P (..., N, n_L) (broadcast), as
    2 atan2(||q - p||, ||q + p||) of the unit-norm matrices: the same value as
    degrees(arccos(<Q, P>_F / (||Q||_F ||P||_F))) but accurate near 0 and 180 degrees."""
    q = Q / np.linalg.norm(Q, axis=(-2, -1), keepdims=True)
    p = P / np.linalg.norm(P, axis=(-2, -1), keepdims=True)
    return np.degrees(2 * np.arctan2(np.linalg.norm(q - p, axis=(-2, -1)),
                                     np.linalg.norm(q + p, axis=(-2, -1))))


def feedback_metrics(network, Q, x, gammas=DEFAULT_GAMMAS, alpha=0.0):
    """Alignment and condition measures of Q on inputs x (B, n_0), at the feedforward J.

    Returns a dict of per-sample means over the batch:

    * ``condition2``: ||P_J Q||_F / ||Q||_F (1 under Condition 2).
    * ``angle_transpose``: angle(Q, J^T) in degrees.
    * ``angle_damped``: (n_gamma,) angle(Q, J^T (J J^T + gamma I)^{-1}).
    * ``min_real_eig``: min over samples of min Re eig(J Q) (Condition 3 for ``alpha``
      holds when it exceeds -alpha; reported as ``condition3``).
    * ``q_norm``: ||Q||_F.
    """
    Q = as_float_array(Q, "Q", shape=(network.n_total, network.n_out))
    x2, _ = as_batch(x, "x", network.n_in)
    J = network.jacobian(x2)
    fam = damped_pinv_family(J, gammas)  # (n_gamma, B, N, nL)
    minre = float(np.min(np.linalg.eigvals(J @ Q).real))
    return {
        "condition2": float(np.mean(condition2_ratio(J, np.broadcast_to(Q, (len(x2),) + Q.shape)))),
        "angle_transpose": float(np.mean(_angles(Q, np.swapaxes(J, -1, -2)))),
        "angle_damped": np.mean(_angles(Q, fam), axis=-1),
        "min_real_eig": minre,
        "condition3": bool(minre > -alpha),
        "q_norm": float(np.linalg.norm(Q)),
    }


@dataclass(frozen=True)
class DampedFit:
    """Best damped pseudoinverse J^T (J J^T + gamma I)^{-1} for a given Q (up to scale).

    Attributes
    ----------
    gamma : float
        Best damping (0: the pseudoinverse is best; inf: J^T is best, i.e. the angle keeps
        decreasing up to the upper bound of the search; nan for n_L = 1, where every damped
        pseudoinverse is a multiple of J^T and gamma is not identifiable).
    angle : float
        Angle (degrees) of Q with the best member.
    scale : float
        c minimising ||Q - c J^T (J J^T + gamma I)^{-1}||_F (single J; for batched J the
        mean over samples).
    angle_pinv, angle_transpose : float
        Angles with gamma = 0 and with J^T.
    """

    gamma: float
    angle: float
    scale: float
    angle_pinv: float
    angle_transpose: float


def fit_damped_gamma(Q, J, average="angle", log10_range=(-8.0, 8.0)):
    """Fit the damping gamma of J^T (J J^T + gamma I)^{-1} that best aligns with Q.

    Minimises the angle over gamma on a log grid (10 points per decade over
    ``log10_range``, plus gamma = 0 and gamma = inf), then refines with a bounded scalar
    search in log10 gamma around the best grid point.

    Parameters
    ----------
    Q : (N, n_L)
    J : (n_L, N) or (B, n_L, N)
    average : {"angle", "matrix"}
        For batched J: minimise the mean over samples of the per-sample angle ("angle"), or
        the angle with the sample mean of the damped pseudoinverses ("matrix", the "sample
        average" of Theorem 6 for nonlinear networks).

    Returns
    -------
    DampedFit
    """
    Q = as_float_array(Q, "Q", ndim=2)
    J = as_float_array(J, "J", ndim=(2, 3))
    if J.shape[-1] != Q.shape[0] or J.shape[-2] != Q.shape[1]:
        raise ValueError(f"J: expected shape ([B,] {Q.shape[1]}, {Q.shape[0]}) to match Q "
                         f"{Q.shape}, got {J.shape}")
    check_choice(average, "average", ("angle", "matrix"))
    lo, hi = float(log10_range[0]), float(log10_range[1])
    if not hi > lo:
        raise ValueError(f"log10_range: expected (low, high) with high > low, got {log10_range}")
    if Q.shape[1] == 1:  # n_L = 1: J J^T is a scalar, every member is a multiple of J^T
        a = _angles(Q, np.swapaxes(J, -1, -2))
        a = float(np.mean(a))
        JT = np.swapaxes(J, -1, -2)
        scale = np.sum(Q * JT, axis=(-2, -1)) / np.sum(JT * JT, axis=(-2, -1))
        return DampedFit(float("nan"), a, float(np.mean(scale)), a, a)

    def angle_of(gammas):
        fam = damped_pinv_family(J, gammas)
        if J.ndim == 3 and average == "matrix":
            fam = fam.mean(axis=1)
        a = _angles(Q, fam)
        return a.mean(axis=-1) if a.ndim == 2 else a

    grid = 10.0 ** np.arange(lo, hi + 1e-9, 0.1)
    a_grid = angle_of(grid)
    a0, ainf = angle_of([0.0, np.inf])
    k = int(np.argmin(a_grid))
    if a0 <= a_grid[k] and a0 <= ainf:
        gamma, best = 0.0, a0
    elif ainf < a_grid[k]:
        gamma, best = np.inf, ainf
    else:
        lk = np.log10(grid[k])
        res = scipy.optimize.minimize_scalar(lambda s: float(angle_of([10.0 ** s])[0]),
                                             bounds=(max(lo, lk - 0.1), min(hi, lk + 0.1)),
                                             method="bounded",
                                             options={"xatol": 1e-6})
        gamma, best = (10.0 ** res.x, float(res.fun)) if res.fun <= a_grid[k] \
            else (grid[k], a_grid[k])
    P = damped_pinv_family(J, [gamma])[0]
    if J.ndim == 3 and average == "matrix":
        P = P.mean(axis=0)
    scale = np.sum(Q * P, axis=(-2, -1)) / np.sum(P * P, axis=(-2, -1))
    return DampedFit(float(gamma), float(best), float(np.mean(scale)), float(a0), float(ainf))


# ---------------------------------------------------------------------------- closed form
def closed_form_h(g, alpha, beta):
    """OUR closed form (not in the paper): h(g) with Q* = J^T h(J J^T), for each eigenvalue
    g >= 0 of J J^T,

        h(g) = [(g - 2 alpha beta) + sqrt((g - 2 alpha beta)^2 + 16 alpha beta g)] / (4 beta g),

    the positive root y = g h of 2 beta y^2 + (2 alpha beta - g) y - 2 alpha g = 0 (module
    docstring).  Evaluated without cancellation (h(0) = 1 / beta for alpha > 0; alpha = 0
    gives h = 1 / (2 beta) for every g).  Setting: linear network, tau_v -> 0, k_p = 0, tau_u = 1, white
    apical noise with the 1 / sigma^2 scaling, stationary (long) sleep simulations.
    """
    alpha = check_scalar(alpha, "alpha", low=0.0)
    beta = check_scalar(beta, "beta", low=0.0, low_inclusive=False)
    g = np.asarray(g, dtype=np.float64)
    if np.any(g < 0):
        raise ValueError("g: eigenvalues of J J^T must be >= 0")
    b = 2 * alpha * beta - g
    disc = np.sqrt(b * b + 16 * alpha * beta * g)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_pos = (disc - b) / (4 * beta * g)          # stable when b <= 0
        h_neg = 4 * alpha / (b + disc)               # stable when b > 0 (b + disc > 0)
    h = np.where(b > 0, h_neg, h_pos)
    # g = 0: the limit g -> 0+, 1/beta for alpha > 0 and 1/(2 beta) for alpha = 0 (irrelevant
    # for Q* = J^T h(J J^T), whose null directions of J J^T are annihilated by J^T)
    return np.where(g == 0, 1.0 / beta if alpha > 0 else 0.5 / beta, h)


def _h_finite(g, alpha, beta, T):
    """Solve h (S_T + beta) = 1, S_T = g / (2 a) [1 - (1 - e^{-2 a T}) / (2 a T)], a = g h + alpha."""
    def S(h):
        a = g * h + alpha
        x = 2 * a * T
        if x < 1e-6:  # series: 1 - (1 - e^{-x}) / x = x/2 - x^2/6 + ...
            return g / (2 * a) * (x / 2 - x * x / 6) if a > 0 else g * T / 2
        return g / (2 * a) * (1 - (1 - np.exp(-x)) / x)

    f = lambda h: h * (S(h) + beta) - 1.0  # noqa: E731
    return scipy.optimize.brentq(f, 0.0, 1.0 / beta, xtol=1e-15, rtol=1e-14)


def closed_form_feedback(J, alpha, beta, horizon=np.inf):
    """OUR closed-form fixed point of the expected feedback rule, Q* = J^T h(J J^T).

    Not in the paper (its Theorem 6 only states Q ~ a damped pseudoinverse).  Setting:
    linear network, tau_v -> 0, k_p = 0, tau_u = 1, instantaneous apical compartment, white
    noise in v_fb in every layer with the 1 / sigma^2 scaling of the rule, weight decay
    beta > 0, dt -> 0 (module docstring for the derivation).

    Parameters
    ----------
    J : (n_L, N) or (B, n_L, N)
    alpha : float >= 0
        alpha_fb.
    beta : float > 0
        Weight decay.
    horizon : float > 0 or inf
        Sleep-simulation length T = n_steps_fb dt_fb, starting from u = 0.  ``inf`` uses the
        stationary covariance and the closed-form h of :func:`closed_form_h`; a finite T
        solves h (S_T(g, h) + beta) = 1 per eigenvalue (brentq).

    Returns
    -------
    Q* : (N, n_L) or (B, N, n_L)

    Notes
    -----
    J Q* = G h(G) is symmetric positive semi-definite, so Q* satisfies Condition 2 and
    Condition 3 even for alpha = 0.  For T = inf and large alpha beta relative to g,
    Q* ~ 2 alpha J^T (J J^T + 2 alpha beta I)^{-1}; for (alpha + g h) T << 1,
    Q* ~ (2 / T) J^T (J J^T + (2 beta / T) I)^{-1}.
    """
    J = as_float_array(J, "J", ndim=(2, 3))
    alpha = check_scalar(alpha, "alpha", low=0.0)
    beta = check_scalar(beta, "beta", low=0.0, low_inclusive=False)
    horizon = float(horizon)
    if not horizon > 0:
        raise ValueError(f"horizon: expected T > 0 (or inf), got {horizon}")
    g, U = np.linalg.eigh(J @ np.swapaxes(J, -1, -2))
    g = np.clip(g, 0.0, None)
    if np.isinf(horizon):
        h = closed_form_h(g, alpha, beta)
    else:
        h = np.vectorize(lambda gg: _h_finite(gg, alpha, beta, horizon))(g)
    return (np.swapaxes(J, -1, -2) @ U * h[..., None, :]) @ np.swapaxes(U, -1, -2)


# ---------------------------------------------------------------------------- training
@dataclass
class FeedbackLog:
    """Metrics of Q during :func:`train_feedback`, one row per log point.

    Attributes
    ----------
    updates : (n_log,) number of updates done; ``epochs`` (n_log,) epoch (fractional).
    condition2 : (n_log,) Condition-2 ratio (mean over the evaluation inputs).
    angle_transpose : (n_log,) angle(Q, J^T) in degrees.
    angle_damped : (n_log, n_gamma) angle with J^T (J J^T + gamma I)^{-1}, gamma in ``gammas``.
    min_real_eig : (n_log,) min Re eig(J Q) over the evaluation inputs (Condition 3 holds
        for alpha when > -alpha).
    q_norm : (n_log,) ||Q||_F.
    gammas : the damping values.
    """

    gammas: np.ndarray
    updates: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    condition2: list = field(default_factory=list)
    angle_transpose: list = field(default_factory=list)
    angle_damped: list = field(default_factory=list)
    min_real_eig: list = field(default_factory=list)
    q_norm: list = field(default_factory=list)

    def _add(self, n_up, epoch, m):
        self.updates.append(n_up)
        self.epochs.append(epoch)
        for key in ("condition2", "angle_transpose", "angle_damped", "min_real_eig", "q_norm"):
            getattr(self, key).append(m[key])

    def finish(self):
        """Convert the lists to arrays (done by :func:`train_feedback`)."""
        for key in ("updates", "epochs", "condition2", "angle_transpose", "angle_damped",
                    "min_real_eig", "q_norm"):
            setattr(self, key, np.asarray(getattr(self, key), dtype=np.float64))
        return self

    def as_dict(self):
        return {k: np.asarray(getattr(self, k)) for k in
                ("gammas", "updates", "epochs", "condition2", "angle_transpose",
                 "angle_damped", "min_real_eig", "q_norm")}


class _Adam:
    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = self.v = None
        self.t = 0

    def step(self, Q, dQ):
        g = -dQ  # Adam descends the "gradient" -dQ
        if self.m is None:
            self.m, self.v = np.zeros_like(g), np.zeros_like(g)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mh = self.m / (1 - self.b1 ** self.t)
        vh = self.v / (1 - self.b2 ** self.t)
        return Q - self.lr * mh / (np.sqrt(vh) + self.eps)


def train_feedback(network, Q, xs, config=None, epochs=1, batch_size=None, seed=None,
                   optimizer="sgd", x_eval=None, gammas=DEFAULT_GAMMAS, log_every=None,
                   expected=False, shuffle=True):
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
        Inputs of the logged metrics (default: the first minibatch of the first epoch,
        as the reference code logs its first batch).
    gammas : damping values of the logged angles.
    log_every : int, optional
        Log every that many updates (always at the start and the end); default: per epoch.
    expected : bool
        Use the exact expected update (deterministic; linearised sleep dynamics).

    Returns
    -------
    (Q, FeedbackLog)
    """
    config = FeedbackConfig() if config is None else config
    xs = as_float_array(xs, "xs", ndim=2)
    Q, _ = _check_inputs(network, Q, xs[:1], config)
    Q = Q.copy()
    if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs: expected a positive integer, got {epochs!r}")
    n = xs.shape[0]
    bs = n if batch_size is None else batch_size
    if isinstance(bs, bool) or int(bs) != bs or bs < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    bs = min(int(bs), n)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    if log_every is not None and (int(log_every) != log_every or log_every < 1):
        raise ValueError(f"log_every: expected a positive integer, got {log_every!r}")
    rng = np.random.default_rng(seed)
    order0 = rng.permutation(n) if shuffle else np.arange(n)
    x_eval = xs[order0[:bs]] if x_eval is None else as_batch(x_eval, "x_eval", network.n_in)[0]
    log = FeedbackLog(np.asarray(gammas, dtype=np.float64))
    log._add(0, 0.0, feedback_metrics(network, Q, x_eval, gammas, config.alpha_fb))
    opt = _Adam(config.lr_fb) if optimizer == "adam" else None
    n_batches = -(-n // bs)
    n_up = 0
    for ep in range(int(epochs)):
        order = order0 if ep == 0 else (rng.permutation(n) if shuffle else np.arange(n))
        for j in range(n_batches):
            xb = xs[order[j * bs:(j + 1) * bs]]
            if expected:
                dQ = expected_feedback_update(network, Q, xb, config)
            else:
                dQ = feedback_update(network, Q, xb, config, seed=rng)
            Q = Q + config.lr_fb * dQ if opt is None else opt.step(Q, dQ)
            n_up += 1
            last = ep == epochs - 1 and j == n_batches - 1
            if last or (log_every is not None and n_up % int(log_every) == 0) or \
                    (log_every is None and j == n_batches - 1):
                log._add(n_up, ep + (j + 1) / n_batches,
                         feedback_metrics(network, Q, x_eval, gammas, config.alpha_fb))
    return Q, log.finish()


def solve_feedback_fixed_point(network, xs, config=None, Q0=None, tol=1e-12, n_warmup=0):
    """Q with E[dQ](Q) = 0 for the expected update over the inputs xs (mean over xs).

    Root of :func:`expected_feedback_update` by scipy.optimize.root (MINPACK hybrid method),
    started from ``Q0`` (default: our closed form at the mean Jacobian, which is exact for
    linear networks in the ideal setting up to O(dt)) after ``n_warmup`` deterministic
    steps Q <- Q + lr_fb E[dQ] (useful when Q0 is far from the root).

    Returns
    -------
    (Q, residual) with residual = ||E[dQ](Q)||_F / ||E[dQ] noise term||_F.

    Raises
    ------
    RuntimeError when the root finder does not converge.
    """
    config = FeedbackConfig() if config is None else config
    xs = as_float_array(xs, "xs", ndim=2)
    shape = (network.n_total, network.n_out)
    if Q0 is None:
        J = network.jacobian(xs).mean(axis=0)
        beta = config.beta if config.decay == "weight" and config.beta > 0 else 1.0
        Q0 = closed_form_feedback(J, config.alpha_fb, beta, horizon=config.horizon)
    Q0, _ = _check_inputs(network, Q0, xs[:1], config)
    for _ in range(int(n_warmup)):
        Q0 = Q0 + config.lr_fb * expected_feedback_update(network, Q0, xs, config)

    def fun(q):
        return expected_feedback_update(network, q.reshape(shape), xs, config).ravel()

    sol = scipy.optimize.root(fun, Q0.ravel(), method="hybr", options={"xtol": tol})
    Q = sol.x.reshape(shape)
    _, info = expected_feedback_update(network, Q, xs, config, return_info=True)
    scale = np.linalg.norm(info["correlation"]) / config.sigma_fb ** 2
    resid = float(np.linalg.norm(fun(sol.x)) / scale)
    if not sol.success and resid > 1e-8:
        raise RuntimeError(f"solve_feedback_fixed_point: root finder failed ({sol.message}); "
                           f"relative residual {resid:.2e}")
    return Q, resid
