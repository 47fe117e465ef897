"""Deterministic DFC test cases and dense oracles shared by the test modules.

The Hypothesis strategies live in the public package (:mod:`dfc_theory.testing.strategies`,
one registry for this suite and for users); this private helper keeps what parametrised
tests build by hand.  Everything is float64 and reproducible from an explicit integer seed.

Builders
    ``Q_FAMILIES`` (the feedback constructions of :mod:`dfc_theory.feedback`),
    :func:`make_feedback`  Q of one family;
    :func:`make_case`      a network + Q + controller + batch of inputs and targets;
    :func:`condition3_controller`, :func:`stabilised`  alpha with a Condition-3 margin;
    :func:`rest_state`     the dynamical state z = [v; s] of a steady state;
    :func:`rest_abscissa`  spectral abscissa of the full dynamics linearised at rest.
Oracles
    :func:`central_jacobian`  central finite differences of a batched map.

Conventions (THEORY.md sections 1-3): Q is N x n_L; x is (B, n_0); targets are
r_L* = r_L^- + delta_L with a small delta_L (lambda-sized, so the exact and linearised
steady states are close and Newton starts in its basin).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dfc_theory import Controller, DFCSystem, Network, steady_state
from dfc_theory import feedback
from dfc_theory.testing import Draw

__all__ = ["Q_FAMILIES", "DFCCase", "make_feedback", "make_case", "condition3_controller",
           "stabilised", "rest_state", "rest_abscissa", "central_jacobian"]

#: feedback families of THEORY.md sections 4 and 6, as built by :func:`make_feedback`
Q_FAMILIES = ("weight_product", "jacobian_transpose", "pseudoinverse",
              "damped_pseudoinverse", "random_condition2", "random_gaussian")


# --------------------------------------------------------------------------- builders
def make_feedback(network, x, family, seed=0, gamma=0.1):
    """Feedback weights Q (N x n_L) of one family in ``Q_FAMILIES``.

    J-dependent families (J^T, J^+, damped pseudoinverse, J^T M) are evaluated at the single
    input ``x`` (n_0,) (the first sample when a batch is given).  ``random_condition2`` is
    Q = J^T M with Gaussian M redrawn (up to 200 times) until J Q has no eigenvalue with
    negative real part, as in the paper's Fig 2; when no such M turns up (likely for wide
    outputs) the last draw is kept and the controller's alpha has to provide Condition 3.
    """
    x0 = np.asarray(x, dtype=np.float64)
    x0 = x0[0] if x0.ndim == 2 else x0
    if family == "weight_product":
        return feedback.weight_product(network)
    if family == "jacobian_transpose":
        return feedback.jacobian_transpose(network, x0)
    if family == "pseudoinverse":
        return feedback.pseudoinverse(network, x0)
    if family == "damped_pseudoinverse":
        return feedback.damped_pseudoinverse(network, x0, gamma)
    if family == "random_condition2":
        try:
            return feedback.random_condition2(network, x0, seed=seed, max_tries=200)
        except RuntimeError:
            return feedback.random_condition2(network, x0, seed=seed, require_stable=False)
    if family == "random_gaussian":
        return feedback.random_gaussian(network, seed=seed)
    raise ValueError(f"family: expected one of {Q_FAMILIES}, got {family!r}")


@dataclass(frozen=True, eq=False, repr=False)
class DFCCase(Draw):
    """A :class:`~dfc_theory.testing.Draw` (system, x (B, n_0), target r_L* = r_L^- + delta_L)
    built by hand, with the name of its Q family and the seed everything random came from."""

    family: str = ""
    seed: int = 0

    def __repr__(self):
        c = self.controller
        return (f"DFCCase(sizes={self.network.sizes}, activation={self.network.activation.name}"
                f", output={self.network.output_activation.name}, Q={self.family}, "
                f"alpha={c.alpha:.4g}, k_p={c.k_p:.4g}, tau_v={c.tau_v:.4g}, "
                f"tau_u={c.tau_u:.4g}, leak={c.leak}, B={self.x.shape[0]}, seed={self.seed})")


def make_case(sizes, activation="tanh", output_activation="linear", family="weight_product",
              batch=3, lam=0.1, seed=0, alpha=0.1, **controller_kwargs):
    """A deterministic :class:`DFCCase` (for parametrised tests).

    Everything is drawn from ``default_rng(seed)``: a ``Network.random(sizes, ...,
    bias_scale=0.1)``, x ~ N(0, I), delta_L = lam * xi with xi ~ N(0, I), and Q from
    :func:`make_feedback` at x[0].
    ``controller_kwargs`` go to :class:`Controller` (k_p, tau_v, tau_u, leak, ...).
    """
    rng = np.random.default_rng(seed)
    net = Network.random(sizes, activation=activation, output_activation=output_activation,
                         seed=rng.integers(2**32), bias_scale=0.1)
    x = rng.standard_normal((batch, net.n_in))
    target = net.forward(x).output + lam * rng.standard_normal((batch, net.n_out))
    Q = make_feedback(net, x, family, seed=int(rng.integers(2**32)))
    system = DFCSystem(net, Q, Controller(alpha=alpha, **controller_kwargs))
    return DFCCase(system, x, target, family=family, seed=seed)


def condition3_controller(system, x, margin):
    """The system's controller with alpha chosen so that Condition 3 (THEORY.md section 4)
    holds at the feedforward states of ``x`` with the given margin:
    alpha_eff = margin + max(0, -min Re eig(J Q)) over the batch.

    For ``leak="integral"`` with k_p > 0, alpha_eff = alpha / (1 + alpha k_p) < 1 / k_p, so
    the margin may be unreachable: then None is returned.
    """
    JQ = system.network.jacobian(np.atleast_2d(x)) @ system.Q
    need = margin + max(0.0, float(np.max(-np.linalg.eigvals(JQ).real)))
    ctrl = system.controller
    if ctrl.leak == "integral" and ctrl.k_p:
        if need * ctrl.k_p >= 0.9:
            return None
        return ctrl.replace(alpha=need / (1.0 - need * ctrl.k_p))
    return ctrl.replace(alpha=need)


def stabilised(case, margin=0.2):
    """``case`` with the controller of :func:`condition3_controller` (well-posed steady state:
    alpha_eff I + J Q has eigenvalues with real part >= margin at the feedforward state)."""
    ctrl = condition3_controller(case.system, case.x, margin)
    if ctrl is None:
        raise ValueError(f"margin: {margin} unreachable for k_p = {case.controller.k_p}")
    return DFCCase(case.system.replace(controller=ctrl), case.x, case.target,
                   family=case.family, seed=case.seed)


def rest_state(system, ss, target):
    """The dynamical state z of a steady state ``ss`` (batched :class:`SteadyState`).

    z = [v; s] with s = u_int = u - k_p e for ``leak="integral"`` and s = u for ``"total"``
    (see :class:`dfc_theory.DFCSystem`); z = s alone for the instantaneous system (tau_v = 0).
    """
    c = system.controller
    u = np.atleast_2d(ss.u)
    s = u
    if c.leak == "integral" and c.k_p:
        s = u - c.k_p * (np.atleast_2d(target) - np.atleast_2d(ss.r_L))
    if c.instantaneous:
        return s
    return np.concatenate([np.atleast_2d(ss.v), s], axis=1)


def rest_abscissa(system, x, target, ss=None):
    """Max over the batch of the spectral abscissa (largest real part of an eigenvalue) of
    d(dz/dt)/dz at the exact steady state; negative means locally asymptotically stable.

    A dense-eigenvalue oracle on the analytic Jacobian of :meth:`DFCSystem.rhs_jacobian`
    (which tests/test_dynamics.py checks against finite differences)."""
    if ss is None:
        ss = steady_state(system, x, target)
    A = system.rhs_jacobian(x, target, rest_state(system, ss, target))
    return float(np.max(np.linalg.eigvals(A).real))


# --------------------------------------------------------------------------- oracles
def central_jacobian(f, z, h=1e-5):
    """Central finite differences of a batched map f: (B, n) -> (B, m) at z (B, n).

    Returns (B, m, n).  Error per entry <= h^2/6 max|f'''| (truncation) + ~eps max|f| / h
    (rounding): about 1e-10 for h = 1e-5 and O(1) smooth maps, which is why comparisons
    against it use atol ~ 1e-8 (a 100x margin), never looser.
    """
    z = np.asarray(z, dtype=np.float64)
    cols = []
    for k in range(z.shape[1]):
        dz = np.zeros_like(z)
        dz[:, k] = h
        cols.append((np.asarray(f(z + dz)) - np.asarray(f(z - dz))) / (2.0 * h))
    return np.stack(cols, axis=-1)
