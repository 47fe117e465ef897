"""Local stability of the DFC dynamics at a rest point (THEORY.md section 5): the linearised
system matrices (formulas in :func:`system_matrices`), Lyapunov certificates, Conditions 3
and 2, and the step limits of forward Euler and of the reference code's Euler scheme.

Stable means spectral abscissa a(A) = max_i Re lambda_i(A) < 0 (Lyapunov's indirect method;
the spectral measures of :mod:`dfc_theory.metrics` are re-exported here).  SciPy: NumPy
systems only (convert a torch system with ``system.to_numpy()``).
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ._dynamics import DFCSystem
from ._simulate import simulate
from ._steady_state import steady_state
from ._validation import as_batch, check_choice, check_scalar, check_type
from .metrics import _square_batch, spectra, spectral_abscissa, spectral_radius
from .metrics import condition2_ratio as _ratio

__all__ = ["system_matrices", "MATRIX_KEYS", "POINTS", "linearisation_point",
           "spectra", "spectral_abscissa", "spectral_radius", "is_hurwitz",
           "lyapunov_certificate", "LyapunovCertificate", "condition3", "Condition3",
           "condition2_ratio", "euler_stability", "EulerStability",
           "reference_euler_matrix", "simulated_verdict", "SimulatedVerdict"]

MATRIX_KEYS = ("A_tilde_I", "A_I", "A_inst", "A_PI", "A_PI_integral", "A_system")
POINTS = ("feedforward", "steady_state")


# ---------------------------------------------------------------------------- helpers
def _check_system(system):
    check_type(system, "system", DFCSystem)
    if not isinstance(system.Q, np.ndarray):
        raise TypeError("system: dfc_theory.stability is NumPy-only (SciPy); pass "
                        "system.to_numpy()")


def _out(a, single):
    return a[0] if single else a


#: a rest point: v (B, N), u (B, n_L), ``single``, the batched x and target (or None)
_Point = namedtuple("_Point", "v u single x target")


def linearisation_point(system, x, target=None, at="feedforward", tol=None):
    """The rest point of :func:`system_matrices`: ``at="feedforward"``, v = v^- and u = 0
    (the rest point for lambda -> 0), or ``"steady_state"``, the exact (Newton) steady state
    of the system's own controller (``target`` r_L* required, ``tol`` its tolerance).

    Returns a dict with ``v`` (B, N), ``u`` (B, n_L) (squeezed for a single x) and ``at``;
    ValueError when the Newton solve did not converge (no rest point to linearise around).

    Parameters
    ----------
    system, x, target, at, tol : as in :func:`system_matrices`.

    Returns
    -------
    dict
        ``v`` = [v_1; ...; v_L] and ``u`` at the rest point, and ``at`` (shapes above).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([2, 3, 2], seed=0)          # linear output: r_L = v_L
    >>> x = np.array([0.5, -1.0]); target = net.forward(x).output + 0.01
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> ff = dfc.stability.linearisation_point(system, x)
    >>> bool(np.allclose(ff["v"], np.concatenate(net.forward(x).v))), ff["u"].tolist()
    (True, [0.0, 0.0])
    >>> ss = dfc.stability.linearisation_point(system, x, target, at="steady_state")
    >>> bool(np.allclose(0.1 * ss["u"], target - ss["v"][-2:]))  # alpha u = r_L* - r_L (k_p = 0)
    True
    """
    p = _point(system, x, target, at, tol)
    return {"v": _out(p.v, p.single), "u": _out(p.u, p.single), "at": at}


def _point(system, x, target, at, tol=None) -> _Point:
    _check_system(system)
    check_choice(at, "at", POINTS)
    net = system.network
    if target is not None:
        x2, t, single = system.prepare(x, target)
    elif at == "feedforward":
        (x2, single), t = as_batch(x, "x", net.n_in), None
    else:
        raise ValueError("target: at='steady_state' needs the output target r_L* "
                         "(shape (B, n_L) or (n_L,))")
    if at == "feedforward":
        return _Point(net._forward(x2).v_stacked, np.zeros((x2.shape[0], net.n_out)), single,
                      x2, t)
    ss = steady_state(system, x2, t, method="newton", tol=tol)
    if not np.all(ss.converged):
        bad = np.flatnonzero(~ss.converged)
        raise ValueError(
            f"at: the exact (Newton) steady state did not converge for sample(s) "
            f"{bad.tolist()} (residual {ss.residual[bad].tolist()}); there is no rest point "
            f"to linearise around -- use at='feedforward' or a smaller delta_L")
    return _Point(ss.v, ss.u, single, x2, t)


# ---------------------------------------------------------------------------- matrices
def system_matrices(system, x, target=None, at="feedforward", tol=None):
    """Linearised system matrices of THEORY.md section 5 at a rest point, batched.

    Parameters
    ----------
    system : DFCSystem
    x : array (B, n_0) or (n_0,)
    target : array (B, n_L) or (n_L,), optional
        r_L*; needed only for ``at="steady_state"``.
    at, tol : {"feedforward", "steady_state"}, float, optional
        The one rest point where D_i = diag(phi_i'(v_i)) is evaluated for all matrices, as the
        paper's Fig S1 does (:func:`linearisation_point`: v^-, or the exact steady state, J
        becoming J_ss), and its Newton tolerance.

    Returns
    -------
    dict
        Keys ``MATRIX_KEYS``; each value (B, M, M) with M = N + n_L ((n_L, n_L) for
        ``A_inst``), squeezed to (M, M) for a single x.  With N = n_1 + ... + n_L and
        a11 = (I - J_hat) / tau_v:

        - ``A_tilde_I`` = [[-a11, Q/tau_v], [-J_L^o/tau_u, -alpha I/tau_u]]
        - ``A_I`` = [[-a11, a11 Q], [-J/tau_u, -alpha I/tau_u]]
        - ``A_inst`` = -(J Q + alpha I)/tau_u
        - ``A_PI`` = [[-a11, a11 Q], [-(J - (k_p tau_u/tau_v) J_L^o)/tau_u,
          -(alpha I + (k_p tau_u/tau_v) D_L Q_L)/tau_u]]
        - ``A_PI_integral`` = [[-(I - J_hat + k_p Q J_L^o)/tau_v, Q/tau_v],
          [-J_L^o/tau_u, -alpha I/tau_u]]
        - ``A_system``: the system's own convention in DFCSystem coordinates:
          ``A_PI_integral`` (leak "integral", which is ``A_tilde_I`` for k_p = 0) or ``A_PI``
          transformed back to Delta v coordinates (leak "total"); for tau_v = 0,
          -(I + k_p J Q)^{-1} (J Q + alpha I)/tau_u ("total") or
          -((I + k_p J Q)^{-1} J Q + alpha I)/tau_u ("integral", state u_int).

        For the instantaneous system (tau_v = 0) the finite-tau_v entries are ``None``.

    Notes
    -----
    Derivation (ours; Delta v = v - v_rest, Delta e = -J_L^o Delta v), from the network's
    tau_v dDelta v/dt = -(I - J_hat) Delta v + Q Delta u:

    * "integral" leak (u = u_int + k_p e, tau_u du_int/dt = e - alpha u_int): the state
      [Delta v; Delta u_int] obeys ``A_PI_integral``, whose characteristic polynomial has
      constant term proportional to det(alpha I + (1 + alpha k_p) J Q): the static condition
      involves alpha_tilde = alpha / (1 + alpha k_p), not alpha;
    * "total" leak (du/dt = (e - alpha u)/tau_u + k_p de/dt, de/dt = -J_L^o dDelta v/dt): the
      u-rows [-J_L^o/tau_u + (k_p/tau_v) J_L^o (I - J_hat), -alpha I/tau_u - (k_p/tau_v) D_L Q_L]
      in Delta v coordinates, ``A_PI`` in w = (I - J_hat) Delta v.  The reference code
      (tau_u = 1) writes the k_p terms as k_p/tau_v; checked against finite differences of
      ``DFCSystem.rhs`` for any tau_u.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> m = dfc.system_matrices(system, np.array([0.5, -1.0]))    # N = 5, n_L = 2
    >>> m["A_system"].shape, m["A_inst"].shape
    ((7, 7), (2, 2))
    >>> bool(np.allclose(dfc.spectra(m["A_I"]), dfc.spectra(m["A_tilde_I"])))  # w coordinates
    True
    >>> bool(np.allclose(m["A_system"], m["A_PI_integral"]))     # leak "integral"
    True
    """
    p = _point(system, x, target, at, tol)
    net, c, Q, v, single = system.network, system.controller, system.Q, p.v, p.single
    B, N, nL = v.shape[0], net.n_total, net.n_out
    J = net._jacobian(v)                                    # (B, n_L, N)
    I_L = np.eye(nL)
    out = {"A_inst": -(J @ Q + c.alpha * I_L) / c.tau_u}
    if c.instantaneous:
        out["A_system"] = system._instantaneous_jacobian(v)
        return {k: _out(out[k], single) if k in out else None for k in MATRIX_KEYS}
    Jhat, JLo, D = system.blocks(v)
    ImJ = np.eye(N)[None] - Jhat                            # I - J_hat
    a11 = ImJ / c.tau_v
    Qv = np.broadcast_to(Q / c.tau_v, (B, N, nL))

    def assemble(a, b, cc, d):
        A = np.empty((B, N + nL, N + nL))
        A[:, :N, :N], A[:, :N, N:], A[:, N:, :N], A[:, N:, N:] = a, b, cc, d
        return A

    uu_I = np.broadcast_to(-c.alpha * I_L / c.tau_u, (B, nL, nL))
    out["A_tilde_I"] = assemble(-a11, Qv, -JLo / c.tau_u, uu_I)
    a11Q = a11 @ Q
    out["A_I"] = assemble(-a11, a11Q, -J / c.tau_u, uu_I)
    g = c.k_p * c.tau_u / c.tau_v
    DLQL = D[-1][:, :, None] * system.Q_blocks[-1][None]    # D_L Q_L
    out["A_PI"] = assemble(-a11, a11Q, -(J - g * JLo) / c.tau_u,
                           -(c.alpha * I_L + g * DLQL) / c.tau_u)
    out["A_PI_integral"] = assemble(-(ImJ + c.k_p * Q[None] @ JLo) / c.tau_v, Qv,
                                    -JLo / c.tau_u, uu_I)
    if c.leak == "integral":
        out["A_system"] = out["A_PI_integral"].copy()
    else:
        out["A_system"] = assemble(-a11, Qv, -JLo / c.tau_u + (c.k_p / c.tau_v) * JLo @ ImJ,
                                   -(c.alpha * I_L / c.tau_u + (c.k_p / c.tau_v) * DLQL))
    return {k: _out(out[k], single) for k in MATRIX_KEYS}


# ---------------------------------------------------------------------------- spectra
def is_hurwitz(A, margin=0.0):
    """Verdict per sample: spectral abscissa < -margin (bool or (B,) bool).

    Parameters
    ----------
    A : array (M, M) or (B, M, M)
    margin : float >= 0
        Required distance of the spectrum from the imaginary axis.

    Returns
    -------
    bool, or (B,) bool array: a(A) = max_i Re lambda_i(A) < -margin.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.stability import is_hurwitz
    >>> A = np.diag([-1.0, -2.0])
    >>> bool(is_hurwitz(A)), bool(is_hurwitz(A, margin=1.5))  # a(A) = -1
    (True, False)
    >>> is_hurwitz(np.stack([A, -A]))
    array([ True, False])
    """
    margin = check_scalar(margin, "margin", low=0.0)
    return spectral_abscissa(A) < -margin


# ---------------------------------------------------------------------------- Lyapunov
@dataclass(frozen=True)
class LyapunovCertificate:
    """Solution of A^T P + P A = -I per sample.

    Attributes
    ----------
    P : (B, M, M) symmetric part of the solution (nan where the solver failed).
    residual : (B,) ||A^T P + P A + I||_2 (absolute; the right-hand side has norm 1).
    min_eig : (B,) smallest eigenvalue of P.
    certified : (B,) bool, P > 0 and residual < 1/2 (see :func:`lyapunov_certificate`).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import lyapunov_certificate
    >>> A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    >>> cert = lyapunov_certificate(A)
    >>> bool(np.allclose(A.T @ cert.P + cert.P @ A, -np.eye(2))), bool(cert.residual < 1e-12)
    (True, True)
    """

    P: np.ndarray
    residual: np.ndarray
    min_eig: np.ndarray
    certified: np.ndarray


def lyapunov_certificate(A):
    """Lyapunov certificate of stability: P > 0 with A^H P + P A = -I (A^H = A^T for real A).

    A is Hurwitz iff this has a Hermitian positive definite solution P (SciPy's
    ``solve_continuous_lyapunov(a, q)`` solves a X + X a^H = q: called with a = A^H, q = -I).
    ``certified`` (per sample) iff P is positive definite and the residual
    E = A^T P + P A + I has ||E||_2 < 1/2: then A^T P + P A <= -(1/2) I proves stability for
    the P actually computed (the 1/2 leaves room for rounding).  Near the imaginary axis P
    grows like 1 / (2 |a(A)|) and the certificate fails honestly rather than guessing.

    Parameters
    ----------
    A : array (M, M) or (B, M, M)

    Returns
    -------
    LyapunovCertificate (batch axis squeezed for a single A).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import lyapunov_certificate
    >>> cert = lyapunov_certificate(np.array([[-1.0, 10.0], [0.0, -2.0]]))
    >>> bool(cert.certified), bool(cert.min_eig > 0)
    (True, True)
    """
    A2, single = _square_batch(A)
    B, M = A2.shape[:2]
    I = np.eye(M)
    Ps = np.full((B, M, M), np.nan, dtype=A2.dtype)
    res = np.full(B, np.inf)
    mins = np.full(B, -np.inf)
    for b in range(B):
        a, aH = A2[b], A2[b].conj().T
        try:
            with np.errstate(all="ignore"):
                P = scipy.linalg.solve_continuous_lyapunov(aH, -I)
        except (scipy.linalg.LinAlgError, ValueError):
            continue
        if not np.all(np.isfinite(P)):
            continue
        P = 0.5 * (P + P.conj().T)
        Ps[b] = P
        res[b] = np.linalg.norm(aH @ P + P @ a + I, 2)
        mins[b] = np.linalg.eigvalsh(P)[0]
    cert = (mins > 0) & (res < 0.5)
    return LyapunovCertificate(*(_out(a, single) for a in (Ps, res, mins, cert)))


# ---------------------------------------------------------------------------- conditions
@dataclass(frozen=True)
class Condition3:
    """Condition 3 at a rest point: Re lambda_i(J Q) > -alpha for all i.

    Attributes
    ----------
    eigenvalues : (B, n_L) eigenvalues of J Q (sorted by decreasing real part).
    alpha : the leak used.
    margin : (B,) min_i Re lambda_i(J Q) + alpha (> 0 iff Condition 3 holds); equals
        -tau_u a(A_inst).
    holds : (B,) bool.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> x = np.array([0.5, -1.0])
    >>> c3 = dfc.condition3(system, x)
    >>> a = dfc.spectral_abscissa(dfc.system_matrices(system, x)["A_inst"])
    >>> bool(c3.holds), bool(np.isclose(c3.margin, -system.controller.tau_u * a))
    (True, True)
    """

    eigenvalues: np.ndarray
    alpha: float
    margin: np.ndarray
    holds: np.ndarray


def condition3(system, x, target=None, at="feedforward", alpha=None, tol=None):
    """Condition 3: every eigenvalue of J Q (J = J_ss at ``at="steady_state"``) has real
    part > -alpha.

    By Proposition 5 the Hurwitz test of A_inst = -(J Q + alpha I)/tau_u decides local
    stability when tau_u >> tau_v and k_p = 0; otherwise it is only a proxy (THEORY.md
    section 4; :func:`system_matrices`, :mod:`dfc_theory.symbolic`).

    Parameters
    ----------
    system, x, target, at, tol : as in :func:`system_matrices`.
    alpha : float >= 0, optional
        Default ``system.controller.alpha`` (the paper's statement; the "integral" leak's
        static PI criterion uses ``controller.alpha_eff``).

    Returns
    -------
    Condition3 (batch axis squeezed for a single x).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x = np.ones(3)
    >>> system = dfc.DFCSystem(net, -dfc.feedback.jacobian_transpose(net, x),  # Q = -J^T
    ...                        dfc.Controller(alpha=0.01, tau_v=0.0))
    >>> c3 = dfc.condition3(system, x)
    >>> bool(c3.holds), bool(dfc.spectral_abscissa(dfc.system_matrices(system, x)["A_inst"]) > 0)
    (False, True)
    """
    p = _point(system, x, target, at, tol)
    alpha = system.controller.alpha if alpha is None else check_scalar(alpha, "alpha", low=0.0)
    lam = spectra(system.network._jacobian(p.v) @ system.Q)
    margin = lam.real.min(axis=-1) + alpha
    return Condition3(_out(lam, p.single), alpha, _out(margin, p.single),
                      _out(margin > 0, p.single))


def condition2_ratio(system, x, target=None, at="feedforward", tol=None):
    """Condition-2 ratio ||P_J Q||_F / ||Q||_F at the rest point, P_J = J^T (J J^T)^{-1} J.

    :func:`dfc_theory.metrics.condition2_ratio` with J at ``at`` (1 iff Condition 2 holds).

    Parameters
    ----------
    system, x, target, at, tol : as in :func:`system_matrices`.

    Returns
    -------
    float or (B,) array.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> x = np.array([0.5, -1.0])
    >>> system = dfc.DFCSystem(net, dfc.feedback.jacobian_transpose(net, x),  # Q = J^T
    ...                        dfc.Controller(alpha=0.1))
    >>> round(dfc.stability.condition2_ratio(system, x), 12)
    1.0
    """
    p = _point(system, x, target, at, tol)
    J = system.network._jacobian(p.v)
    r = _ratio(J, np.broadcast_to(system.Q, (J.shape[0],) + system.Q.shape))
    return float(r[0]) if p.single else r


# ---------------------------------------------------------------------------- Euler
@dataclass(frozen=True)
class EulerStability:
    """Forward Euler z_{k+1} = (I + dt A) z_k on a linear system.

    Attributes
    ----------
    dt_rho : (B,) dt * rho(A).
    amplification : (B,) max_i |1 + dt lambda_i(A)|.
    dt_max : (B,) largest stable step (:func:`euler_stability`; 0 when A is not Hurwitz).
    stable : (B,) bool, amplification < 1.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import euler_stability
    >>> es = euler_stability(np.diag([-1.0, -4.0]), dt=0.4)    # |1 - 0.4|, |1 - 1.6|
    >>> round(float(es.amplification), 12), round(float(es.dt_rho), 12), bool(es.stable)
    (0.6, 1.6, True)
    """

    dt_rho: np.ndarray
    amplification: np.ndarray
    dt_max: np.ndarray
    stable: np.ndarray


def euler_stability(A, dt):
    """Stability of forward Euler with step ``dt`` on dz/dt = A z: the iteration matrix
    I + dt A is stable iff every |1 + dt lambda_i| < 1, i.e. dt < 2 (-Re lambda_i) / |lambda_i|^2.

    For a real negative spectrum this is dt rho(A) < 2 (THEORY.md section 2); complex
    eigenvalues lower the limit, and an unstable A (a >= 0) is Euler-unstable for every dt.

    Parameters
    ----------
    A : array (M, M) or (B, M, M)
    dt : float > 0

    Returns
    -------
    EulerStability (batch axis squeezed for a single A).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import euler_stability
    >>> es = euler_stability(np.diag([-1.0, -4.0]), dt=0.6)     # dt rho = 2.4 > 2
    >>> bool(es.stable), float(es.dt_max)
    (False, 0.5)
    """
    A2, single = _square_batch(A)
    dt = check_scalar(dt, "dt", low=0.0, low_inclusive=False)
    lam = np.linalg.eigvals(A2)
    amp = np.abs(1.0 + dt * lam).max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = np.where(np.abs(lam) > 0, 2.0 * (-lam.real) / np.abs(lam) ** 2, np.inf)
    dt_max = np.where(lam.real.max(axis=-1) < 0, lim.min(axis=-1), 0.0)
    return EulerStability(_out(dt * np.abs(lam).max(axis=-1), single), _out(amp, single),
                          _out(dt_max, single), _out(amp < 1.0, single))


def reference_euler_matrix(system, x, dt, target=None, at="feedforward", proactive=False,
                           tol=None):
    """One-step matrix of the reference Euler scheme for the instantaneous system, linearised.

    The scheme of THEORY.md section 2 with tau_v = 0 and ``tau_A=None``, h = dt / tau_u and
    e_k = r_L* - r_L(Q u_{k-1}) (the apical compartment sees the PREVIOUS control):
    u_int_{k+1} = u_int_k + h (e_k - alpha u_k) ("total"; alpha u_int_k for "integral"),
    u_{k+1} = u_int_{k+1} + k_p e_k.  Linearised (Delta e_k = -J Q Delta u_{k-1}) it is a
    linear map on [u_int_k; u_k; u_{k-1}]; with ``proactive=True`` (e_k from u_k) on
    [u_int_k; u_k], which for k_p = 0 is forward Euler, u_{k+1} = (I + dt A_inst) u_k.

    Stable iff the spectral radius of this matrix is < 1.  For k_p = 0, proactive=False and
    a real spectrum mu of J Q >= 0, z^2 - (1 - h alpha) z + h mu = 0 gives (Jury) h mu < 1
    and h alpha < 2 + h mu: half the forward-Euler limit.

    Parameters
    ----------
    system : DFCSystem with ``controller.tau_v == 0``
    x, target, at, tol : as in :func:`system_matrices`.
    dt : float > 0
    proactive : bool

    Returns
    -------
    array (B, m, m) (squeezed for a single x), m = 3 n_L (2 n_L when proactive).

    Examples
    --------
    Here dt rho(J Q) = 1.45 > tau_u = 1 but dt rho(J Q + alpha I) = 1.50 < 2 tau_u: the lagged
    scheme is unstable, the proactive one (forward Euler on A_inst) stable.

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.stability import reference_euler_matrix, spectral_radius
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net),
    ...                        dfc.Controller(alpha=0.1, tau_v=0.0))
    >>> x = np.array([0.5, -1.0])
    >>> np.round(dfc.spectra(net.jacobian(x) @ system.Q).real, 2)    # mu, real here
    array([2.9 , 1.07])
    >>> T = reference_euler_matrix(system, x, dt=0.5)
    >>> T.shape, bool(spectral_radius(T) < 1)
    ((6, 6), False)
    >>> Tp = reference_euler_matrix(system, x, dt=0.5, proactive=True)
    >>> A_inst = dfc.system_matrices(system, x)["A_inst"]
    >>> bool(np.isclose(spectral_radius(Tp), spectral_radius(np.eye(2) + 0.5 * A_inst)))
    True
    >>> bool(spectral_radius(Tp) < 1)
    True
    """
    _check_system(system)
    c = system.controller
    if not c.instantaneous:
        raise ValueError(f"system: reference_euler_matrix is for the instantaneous system "
                         f"(controller.tau_v = 0), got tau_v = {c.tau_v}")
    if c.tau_A is not None:
        raise ValueError(f"system: reference_euler_matrix needs an instantaneous apical "
                         f"compartment (controller.tau_A = None), got tau_A = {c.tau_A}")
    dt = check_scalar(dt, "dt", low=0.0, low_inclusive=False)
    p = _point(system, x, target, at, tol)
    JQ = system.network._jacobian(p.v) @ system.Q
    B, n = JQ.shape[0], JQ.shape[-1]
    h, a, kp = dt / c.tau_u, c.alpha, c.k_p
    I = np.broadcast_to(np.eye(n), (B, n, n))
    Z = np.zeros((B, n, n))
    # d u_int_{k+1} = Ci d u_int_k + Cu d u_k + Ce d e_k ; d u_{k+1} = d u_int_{k+1} + k_p d e_k
    Ci, Cu = (I, -h * a * I) if c.leak == "total" else ((1.0 - h * a) * I, Z)
    Ce = -h * JQ
    if proactive:  # d e_k = -JQ d u_k ; state [u_int; u]
        T = np.block([[Ci, Cu + Ce], [Ci, Cu + Ce - kp * JQ]])
    else:  # d e_k = -JQ d u_{k-1} ; state [u_int; u; u_prev]
        T = np.block([[Ci, Cu, Ce], [Ci, Cu, Ce - kp * JQ], [Z, I, Z]])
    return _out(T, p.single)


# ---------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimulatedVerdict:
    """Behaviour of a simulation started at the feedforward state, per sample.

    Attributes
    ----------
    ratio : (B,) ||z(T) - z_ss|| / ||z(0) - z_ss|| with z = [v; u] (u alone for tau_v = 0)
        and z_ss the exact steady state (inf when the run blew up or stopped).
    converged : (B,) ratio < ``converged_below``.
    departed : (B,) ratio > ``departed_above`` or not finite.
    t_end : the horizon actually simulated (shorter than asked when an Euler run was
        stopped because some sample blew up).
    result : the :class:`~dfc_theory.SimulationResult`.
    decided : (B,) bool, converged or departed (property).

    Examples
    --------
    Q = -J^T violates Condition 3 (J Q = -J J^T), so the run leaves the steady state:

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> x = np.array([0.5, -1.0]); target = net.forward(x).output + 0.01
    >>> system = dfc.DFCSystem(net, -dfc.feedback.jacobian_transpose(net, x),
    ...                        dfc.Controller(alpha=0.1))
    >>> verdict = dfc.stability.simulated_verdict(system, x, target, t_end=5.0, method="euler")
    >>> verdict.departed, verdict.converged, bool(verdict.ratio[0] > 10), verdict.t_end
    (array([ True]), array([False]), True, 5.0)
    """

    ratio: np.ndarray
    converged: np.ndarray
    departed: np.ndarray
    t_end: float
    result: object

    @property
    def decided(self):
        return self.converged | self.departed


def simulated_verdict(system, x, target, t_end, method="ivp", dt=None,
                      converged_below=1e-2, departed_above=1.0, **simulate_kwargs):
    """Simulate the nonlinear dynamics from z(0) = [v^-; 0] for ``t_end`` and say, per sample,
    whether they approach or leave the exact steady state: the empirical counterpart of the
    spectral-abscissa verdict.

    The ratio of :class:`SimulatedVerdict` behaves like exp(a T) (a the spectral abscissa), so
    |a| T >= log(1 / converged_below) plus a transient margin decides; shorter horizons may
    leave samples undecided (neither flag).  Unlike the reference convergence flags of
    :func:`dfc_theory.simulate`, it does not depend on alpha (e_ss = alpha_eff u_ss at rest).

    Parameters
    ----------
    system, x, target : as in :func:`system_matrices` (the exact steady state must exist).
    t_end : float > 0
    method : {"ivp", "euler", "linear"} (see :func:`dfc_theory.simulate`)
    dt : float, optional
        Euler step (default min(t_end / 200, tau_v / 4)); output spacing for "ivp"/"linear"
        (default t_end / 200).
    converged_below, departed_above : thresholds on the ratio.  ``departed_above=1``:
        "ended farther from z_ss than it started" (an unstable run often saturates at
        another rest point or a limit cycle, O(1) away, not many times lambda away).
    **simulate_kwargs : passed to :func:`dfc_theory.simulate` (e.g. ``proactive``, ``rtol``).

    Returns
    -------
    SimulatedVerdict
        Fields of shape (B,), also for a single x.

    Examples
    --------
    The simulated verdict agrees with the spectral one, a(A_system) < 0 at the steady state,
    and the ratio is below exp(a T / 2) (a ~ -1.42 here, so exp(a T) ~ 7e-7 at T = 10).

    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.stability import simulated_verdict, spectral_abscissa
    >>> net = dfc.Network.random([2, 3, 2], seed=0)
    >>> system = dfc.DFCSystem(net, dfc.feedback.weight_product(net), dfc.Controller(alpha=0.1))
    >>> x = np.array([0.5, -1.0]); target = net.forward(x).output + 0.01
    >>> a = spectral_abscissa(
    ...     dfc.system_matrices(system, x, target, at="steady_state")["A_system"])
    >>> verdict = simulated_verdict(system, x, target, t_end=10.0, method="euler")
    >>> bool(a < 0), bool(verdict.converged[0]), bool(verdict.ratio[0] < np.exp(a * 10.0 / 2))
    (True, True, True)
    """
    _check_system(system)
    t_end = check_scalar(t_end, "t_end", low=0.0, low_inclusive=False)
    converged_below, departed_above = (
        check_scalar(v, name, low=0.0, low_inclusive=False) for v, name in
        ((converged_below, "converged_below"), (departed_above, "departed_above")))
    c = system.controller
    if dt is None:
        dt = t_end / 200.0
        if method == "euler" and not c.instantaneous:
            dt = min(dt, 0.25 * c.tau_v)
    dt = check_scalar(dt, "dt", low=0.0, low_inclusive=False)
    n_steps = max(1, int(np.ceil(t_end / dt - 1e-9)))
    p = _point(system, x, target, "steady_state")
    with np.errstate(all="ignore"):
        res = simulate(system, p.x, p.target, method=method, dt=dt, n_steps=n_steps,
                       record="final", **simulate_kwargs)
    d0, dT = -p.u, res.u_final - p.u                        # z = u for tau_v = 0
    if not c.instantaneous:                                 # z = [v; u], v(0) = v^-
        d0 = np.concatenate([system.network._forward(p.x).v_stacked - p.v, d0], axis=1)
        dT = np.concatenate([res.v_final - p.v, dT], axis=1)
    with np.errstate(all="ignore"):
        ratio = np.linalg.norm(dT, axis=1) / np.maximum(np.linalg.norm(d0, axis=1), 1e-300)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    if res.n_steps < n_steps:  # stopped early because the state blew up
        ratio = np.where(res.diverged, np.inf, ratio)
    return SimulatedVerdict(ratio, ratio < converged_below, ~(ratio <= departed_above),
                            res.n_steps * dt, res)
