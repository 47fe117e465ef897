"""SymPy derivations for small DFC systems (THEORY.md sections 2, 3 and 5), each
cross-checked numerically in ``tests/test_symbolic.py``: rest equations, Lemma 1 for linear
networks, the section-5 matrices, their Routh-Hurwitz / Lienard-Chipart criteria
(:mod:`dfc_theory._routh`, re-exported here) and closed-form stability regions of scalar
chains (:func:`condition3_gap`: can Condition 3 hold while the finite-tau_v PI system is
unstable?).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from ._controller import LEAKS
from ._routh import (S, _normalise, characteristic_polynomial,  # noqa: F401
                     hurwitz_conditions, hurwitz_matrix, hurwitz_minors, is_hurwitz_polynomial,
                     positive_by_coefficients, routh_first_column, routh_table)
from ._validation import check_choice, check_sizes
from .stability import linearisation_point

__all__ = ["ALPHA", "K_P", "TAU_V", "TAU_U", "RHO", "S", "controller_rest", "alpha_effective",
           "linear_network_steady_state", "SymbolicSystem", "symbolic_system",
           "symbolic_from_system", "substitutions", "characteristic_polynomial",
           "routh_table", "routh_first_column", "hurwitz_matrix", "hurwitz_minors",
           "hurwitz_conditions", "is_hurwitz_polynomial", "Region", "stability_region",
           "scalar_chain_region", "condition3_gap", "positive_by_coefficients"]

ALPHA = sp.Symbol("alpha", nonnegative=True)
K_P = sp.Symbol("k_p", nonnegative=True)
TAU_V = sp.Symbol("tau_v", positive=True)
TAU_U = sp.Symbol("tau_u", positive=True)
RHO = sp.Symbol("rho", positive=True)      # tau_v / tau_u

KEYS = ("A_tilde_I", "A_I", "A_inst", "A_PI", "A_PI_integral")
_CONTROLLER = ("alpha", "k_p", "tau_v", "tau_u")


# ---------------------------------------------------------------------------- steady state
def controller_rest(leak):
    """Solve the controller's rest equations symbolically.

    * ``"integral"``: u = u_int + k_p e and 0 = e - alpha u_int (tau_u du_int/dt = 0);
    * ``"total"``: 0 = e - alpha u + k_p tau_u de/dt with de/dt = 0 at rest.

    Parameters
    ----------
    leak : {"integral", "total"}
        Which leak the controller has (see :class:`dfc_theory.Controller`).

    Returns
    -------
    dict with ``"e"`` (the error at rest as a function of the control u), ``"alpha_eff"``
    (e / u), ``"equations"`` and, for the integral leak, ``"u_int"`` (u_int at rest).

    Examples
    --------
    >>> from dfc_theory.symbolic import controller_rest
    >>> rest = controller_rest("integral")      # u_int = u / (1 + alpha k_p), e = alpha u_int
    >>> rest["e"], rest["u_int"]
    (alpha*u/(alpha*k_p + 1), u/(alpha*k_p + 1))
    >>> controller_rest("total")["e"]
    alpha*u
    """
    check_choice(leak, "leak", LEAKS)
    e, u, u_int, de = sp.symbols("e u u_int edot")
    if leak == "integral":
        eqs, unknowns = [sp.Eq(u, u_int + K_P * e), sp.Eq(0, e - ALPHA * u_int)], [e, u_int]
    else:
        eqs, unknowns = [sp.Eq(0, e - ALPHA * u + K_P * TAU_U * de)], [e]
    sol = sp.solve([q.subs(de, 0) for q in eqs], unknowns, dict=True)[0]
    out = {str(z): sp.simplify(sol[z]) for z in unknowns}
    out["alpha_eff"] = sp.simplify(out["e"] / u)
    out["equations"] = eqs
    return out


def alpha_effective(leak):
    """alpha_eff with e_ss = alpha_eff u_ss: alpha / (1 + alpha k_p) ("integral") or alpha
    ("total"), as derived by :func:`controller_rest`.

    Parameters
    ----------
    leak : {"integral", "total"}

    Returns
    -------
    SymPy expression in :data:`ALPHA` and :data:`K_P`.

    Examples
    --------
    >>> from dfc_theory import symbolic
    >>> symbolic.alpha_effective("integral"), symbolic.alpha_effective("total")
    (alpha/(alpha*k_p + 1), alpha)
    """
    return controller_rest(leak)["alpha_eff"]


def linear_network_steady_state(sizes=(1, 1, 1), leak="integral"):
    """Exact steady state of a LINEAR network with symbolic weights, solved by SymPy.

    Equations (THEORY.md section 3): v_1 = W_1 x + Q_1 u, v_i = W_i v_{i-1} + Q_i u
    (i = 2..L), and e = r_L* - v_L = alpha_eff u.  For a linear network the linearisation
    is exact, so the solution must equal Lemma 1's u_ss = (J Q + alpha_eff I)^{-1} delta_L
    with J = [W_L ... W_2, ..., W_L, I] and delta_L = r_L* - W_L ... W_1 x.

    Parameters
    ----------
    sizes : (n_0, ..., n_L), optional
        Layer widths, each in 1..3 (symbols ``W{i}_{ab}``, ``q{i}_{ab}``, ``x_a``,
        ``rstar_a``, ``u_a``).
    leak : {"integral", "total"}, optional
        Sets alpha_eff (:func:`alpha_effective`).

    Returns
    -------
    dict with ``u`` (solved), ``u_lemma1`` (the formula), ``difference`` (simplified, the
    zero matrix), ``alpha_eff`` and the symbols used (``J`` (n_L, N), ``Q`` (N, n_L),
    ``delta_L`` (n_L, 1)).

    Examples
    --------
    >>> from dfc_theory.symbolic import linear_network_steady_state
    >>> res = linear_network_steady_state((1, 1, 1), leak="integral")
    >>> res["difference"]                   # solved rest point == Lemma 1
    Matrix([[0]])
    >>> res["J"], res["delta_L"]            # J = [W_2, I], delta_L = r_L* - W_2 W_1 x
    (Matrix([[W2_11, 1]]), Matrix([[-W1_11*W2_11*x_1 + rstar_1]]))
    """
    check_choice(leak, "leak", LEAKS)
    sizes = tuple(check_sizes(sizes))
    if max(sizes) > 3:
        raise ValueError(f"sizes: expected widths in 1..3, got {sizes}")
    L, nL = len(sizes) - 1, sizes[-1]
    W = [_mat(sizes[i + 1], sizes[i], f"W{i + 1}", None)[0] for i in range(L)]
    Qb = [_mat(sizes[i + 1], nL, f"q{i + 1}", None)[0] for i in range(L)]
    x = sp.Matrix(sizes[0], 1, lambda a, b: sp.Symbol(f"x_{a + 1}"))
    rstar = sp.Matrix(nL, 1, lambda a, b: sp.Symbol(f"rstar_{a + 1}"))
    u = sp.Matrix(nL, 1, lambda a, b: sp.Symbol(f"u_{a + 1}"))
    a_eff = alpha_effective(leak)
    v = x
    for i in range(L):
        v = W[i] * v + Qb[i] * u
    sol = sp.solve(list(rstar - v - a_eff * u), list(u), dict=True)[0]
    u_solved = sp.Matrix([sol[ui] for ui in u])
    # Lemma 1: the block of layer l in J is W_L ... W_{l+1}
    J = sp.Matrix.hstack(*[sp.prod(reversed(W[i + 1:]), start=sp.eye(nL)) for i in range(L)])
    Q = sp.Matrix.vstack(*Qb)
    delta = rstar - v.subs({ui: 0 for ui in u})            # r_L* - W_L ... W_1 x
    u_lemma = (J * Q + a_eff * sp.eye(nL)).LUsolve(delta)
    return {"u": u_solved, "u_lemma1": u_lemma, "difference": sp.simplify(u_solved - u_lemma),
            "alpha_eff": a_eff, "J": J, "Q": Q, "delta_L": delta}


# ---------------------------------------------------------------------------- matrices
@dataclass
class SymbolicSystem:
    """A small DFC system in SymPy.

    Attributes
    ----------
    sizes : (n_0, ..., n_L)
    W : list of Matrix, W_1..W_L (W_1 does not enter the matrices).
    D : list of Matrix, D_1..D_L, diagonal (n_i x n_i): phi_i' at the rest point.
    Q : Matrix (N x n_L)
    alpha, k_p, tau_v, tau_u : SymPy expressions (symbols by default).
    symbols : dict name -> Symbol of the free network symbols (weights, D, Q entries).
    N, n_out : properties, N = n_1 + ... + n_L and n_L.

    Examples
    --------
    >>> from dfc_theory.symbolic import symbolic_system
    >>> sym = symbolic_system((1, 1, 1))
    >>> sym.N, sym.n_out
    (2, 1)
    >>> sym.J()                             # J = [D_2 W_2 D_1, D_2]
    Matrix([[W2_11*d1_1*d2_1, d2_1]])
    """

    sizes: tuple
    W: list
    D: list
    Q: sp.Matrix
    alpha: sp.Expr = ALPHA
    k_p: sp.Expr = K_P
    tau_v: sp.Expr = TAU_V
    tau_u: sp.Expr = TAU_U
    symbols: dict = field(default_factory=dict)

    @property
    def N(self):
        return sum(self.sizes[1:])

    @property
    def n_out(self):
        return self.sizes[-1]

    def J_hat(self):
        """Block sub-diagonal N x N matrix, block (i, i-1) = W_i D_{i-1}."""
        N, sz = self.N, self.sizes[1:]
        offs = np.concatenate([[0], np.cumsum(sz)]).astype(int)
        Jh = sp.zeros(N, N)
        for i in range(1, len(sz)):
            Jh[offs[i]:offs[i + 1], offs[i - 1]:offs[i]] = self.W[i] * self.D[i - 1]
        return Jh

    def J_Lo(self):
        """n_L x N, zero except its last block D_L."""
        Jo = sp.zeros(self.n_out, self.N)
        Jo[:, self.N - self.n_out:] = self.D[-1]
        return Jo

    def J(self):
        """J = J_L^o (I - J_hat)^{-1} (J_hat is nilpotent, so the inverse is a finite sum)."""
        Jh, N = self.J_hat(), self.N
        inv, P = sp.eye(N), sp.eye(N)
        for _ in range(len(self.sizes) - 2):
            P = P * Jh
            inv = inv + P
        return self.J_Lo() * inv

    def matrices(self):
        """The matrices of THEORY.md section 5 (see :func:`dfc_theory.stability.system_matrices`).

        Returns
        -------
        dict with ``A_tilde_I``, ``A_I``, ``A_inst``, ``A_PI`` ("total" leak, w coordinates),
        ``A_PI_integral`` ("integral" leak, state [Delta v; u_int]).
        """
        N, nL = self.N, self.n_out
        tv, tu, al, kp = self.tau_v, self.tau_u, self.alpha, self.k_p
        I_N, I_L = sp.eye(N), sp.eye(nL)
        Jh, Jo, J, Q = self.J_hat(), self.J_Lo(), self.J(), self.Q
        a11 = (I_N - Jh) / tv

        def blk(a, b, c, d):
            return sp.Matrix(sp.BlockMatrix([[a, b], [c, d]]))

        QL = Q[N - nL:, :]
        g = kp * tu / tv
        return {
            "A_tilde_I": blk(-a11, Q / tv, -Jo / tu, -al * I_L / tu),
            "A_I": blk(-a11, a11 * Q, -J / tu, -al * I_L / tu),
            "A_inst": -(J * Q + al * I_L) / tu,
            "A_PI": blk(-a11, a11 * Q, -(J - g * Jo) / tu, -(al * I_L + g * self.D[-1] * QL) / tu),
            "A_PI_integral": blk(-(I_N - Jh + kp * Q * Jo) / tv, Q / tv, -Jo / tu,
                                 -al * I_L / tu),
        }

    def dimensionless(self):
        """The same system with tau_u = 1 and tau_v = rho (time in units of tau_u), which loses
        nothing: tau_u A depends on the time constants only through rho = tau_v / tau_u."""
        return replace(self, tau_v=RHO, tau_u=sp.Integer(1))


def _mat(rows, cols, name, given):
    if given is None:
        M = sp.Matrix(rows, cols, lambda a, b: sp.Symbol(f"{name}_{a + 1}{b + 1}"))
        return M, {str(s): s for s in M.free_symbols}
    M = sp.Matrix(given)
    if M.shape != (rows, cols):
        raise ValueError(f"{name}: expected shape ({rows}, {cols}), got {M.shape}")
    return M, {}


def symbolic_system(sizes=(1, 1, 1), weights=None, derivatives=None, Q=None, alpha=ALPHA,
                    k_p=K_P, tau_v=TAU_V, tau_u=TAU_U):
    """Build a :class:`SymbolicSystem` with symbolic or given network quantities.

    Parameters
    ----------
    sizes : (n_0, ..., n_L), each width in 1..4
    weights : list of array-likes W_1..W_L, optional
        Symbols ``W{i}_{ab}`` when omitted (W_1 is irrelevant to the matrices).
    derivatives : list of vectors D_1..D_L (diagonals), optional
        phi_i'(v_i) at the rest point; symbols ``d{i}_{a}`` when omitted.
    Q : array-like (N, n_L), optional
        Symbols ``q_{ab}`` (row a of the stacked Q) when omitted.
    alpha, k_p, tau_v, tau_u : SymPy expressions or numbers (symbols by default).

    Returns
    -------
    SymbolicSystem

    Examples
    --------
    >>> from dfc_theory.symbolic import symbolic_system
    >>> sorted(symbolic_system((1, 1, 1)).symbols)
    ['W1_11', 'W2_11', 'd1_1', 'd2_1', 'q_11', 'q_21']
    >>> sym = symbolic_system((1, 1), weights=[[[1]]], derivatives=[[1]], Q=[[2]])
    >>> sym.matrices()["A_inst"]            # -(J Q + alpha I) / tau_u with J Q = 2
    Matrix([[(-alpha - 2)/tau_u]])
    """
    sizes = tuple(check_sizes(sizes))
    if max(sizes) > 4:
        raise ValueError(f"sizes: expected widths in 1..4, got {sizes}")
    L = len(sizes) - 1
    if weights is not None and len(weights) != L:
        raise ValueError(f"weights: expected {L} matrices, got {len(weights)}")
    if derivatives is not None and len(derivatives) != L:
        raise ValueError(f"derivatives: expected {L} vectors, got {len(derivatives)}")
    W, D, syms = [], [], {}
    for i, n in enumerate(sizes[1:]):                   # layer i + 1, width n
        Wi, s = _mat(n, sizes[i], f"W{i + 1}", None if weights is None else weights[i])
        syms.update(s)
        W.append(Wi)
        if derivatives is None:
            d = [sp.Symbol(f"d{i + 1}_{a + 1}") for a in range(n)]
            syms.update({str(x): x for x in d})
        else:
            d = list(sp.Matrix(derivatives[i]))
            if len(d) != n:
                raise ValueError(f"derivatives[{i}]: expected {n} entries, got {len(d)}")
        D.append(sp.diag(*d))
    Qm, s = _mat(sum(sizes[1:]), sizes[-1], "q", Q)
    syms.update(s)
    return SymbolicSystem(sizes, W, D, Qm, sp.sympify(alpha), sp.sympify(k_p),
                          sp.sympify(tau_v), sp.sympify(tau_u), syms)


def _to_sympy(a, exact):
    a = np.asarray(a, dtype=np.float64)
    entries = [sp.Rational(z) if exact else sp.Float(z, 17) for z in a.ravel().tolist()]
    return sp.Matrix(a.shape[0], a.shape[1] if a.ndim > 1 else 1, entries)


def symbolic_from_system(system, x, target=None, at="feedforward", exact=False,
                         controller="symbolic"):
    """The :class:`SymbolicSystem` of a numeric DFCSystem at one input: numeric W, D, Q.

    Parameters
    ----------
    system : DFCSystem; x : (n_0,) one input; target, at : as in
        :func:`dfc_theory.stability.system_matrices`.
    exact : bool
        Convert floats to exact Rationals (exact arithmetic, slower) instead of Floats.
    controller : {"symbolic", "numeric"}
        Keep alpha, k_p, tau_v, tau_u as symbols, or take the system's values.

    Returns
    -------
    SymbolicSystem
        W, D (phi_i' at the linearisation point) and Q as SymPy Float (or Rational) matrices.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.symbolic import symbolic_from_system
    >>> net = dfc.Network.random([2, 2, 1], seed=0)
    >>> ctrl = dfc.Controller(alpha=0.1, k_p=0.5, tau_v=0.2, leak="total")
    >>> system, x = dfc.DFCSystem(net, dfc.feedback.weight_product(net), ctrl), np.ones(2)
    >>> num = symbolic_from_system(system, x, controller="numeric")
    >>> A = np.array(num.matrices()["A_PI"].evalf(), dtype=np.float64)
    >>> bool(np.allclose(A, dfc.system_matrices(system, x)["A_PI"], rtol=1e-12, atol=0))
    True
    """
    check_choice(controller, "controller", ("symbolic", "numeric"))
    net = system.network
    v = np.asarray(linearisation_point(system, x, target, at)["v"], dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"x: expected a single input of shape ({net.n_in},), got {np.shape(x)}")
    W = [_to_sympy(w, exact) for w in net.weights]
    Dm = [_to_sympy(net.phi(i).df(vi), exact) for i, vi in enumerate(net.split(v), start=1)]
    Q = _to_sympy(system.Q, exact)
    params = {}
    if controller == "numeric":
        values = _to_sympy([getattr(system.controller, k) for k in _CONTROLLER], exact)
        params = dict(zip(_CONTROLLER, values))
    return symbolic_system(tuple(net.sizes), W, Dm, Q, **params)


def substitutions(sym, system, x, target=None, at="feedforward", controller=True):
    """Map every free symbol of a symbolic :class:`SymbolicSystem` (built by
    :func:`symbolic_system` with default names) to the values of a numeric DFCSystem at x.

    Parameters
    ----------
    sym : SymbolicSystem
        Symbolic, with the sizes of ``system.network``.
    system : DFCSystem
    x, target, at : as in :func:`symbolic_from_system` (one input x (n_0,)).
    controller : bool, optional
        Also map alpha, k_p, tau_v, tau_u (where they are symbols).

    Returns
    -------
    dict Symbol -> float (alpha, k_p, tau_v, tau_u included when ``controller``).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.symbolic import symbolic_system, substitutions
    >>> net = dfc.Network.random([2, 2, 1], seed=0)
    >>> ctrl = dfc.Controller(alpha=0.1, k_p=0.5, tau_v=0.2, leak="total")
    >>> system, x = dfc.DFCSystem(net, dfc.feedback.weight_product(net), ctrl), np.ones(2)
    >>> sym = symbolic_system((2, 2, 1))
    >>> values = substitutions(sym, system, x)
    >>> len(values)                 # 4 + 2 weights, 2 + 1 derivatives, 3 Q, 4 controller
    16
    >>> A = np.array(sym.matrices()["A_PI"].subs(values).evalf(), dtype=np.float64)
    >>> bool(np.allclose(A, dfc.system_matrices(system, x)["A_PI"], rtol=1e-12, atol=0))
    True
    """
    net = system.network
    if tuple(net.sizes) != tuple(sym.sizes):
        raise ValueError(f"system: sizes {net.sizes} do not match the symbolic {sym.sizes}")
    num = symbolic_from_system(system, x, target, at)  # Floats that hold the doubles exactly
    out = {s: float(v) for S, N in zip(sym.W + sym.D + [sym.Q], num.W + num.D + [num.Q])
           for s, v in zip(S, N) if isinstance(s, sp.Symbol)}
    if controller:
        out.update({getattr(sym, k): float(getattr(system.controller, k)) for k in _CONTROLLER
                    if isinstance(getattr(sym, k), sp.Symbol)})
    return out


# ---------------------------------------------------------------------------- regions
@dataclass
class Region:
    """Closed-form stability region of one linearised matrix.

    Attributes
    ----------
    key : which matrix (``A_PI_integral``, ``A_PI``, ``A_tilde_I``...).
    poly : characteristic polynomial (Poly in S), leading coefficient > 0.
    conditions : list of (label, expression): stable iff all > 0 (Lienard-Chipart).
    params : the free symbols, in a fixed order, for :meth:`evaluate`.

    Examples
    --------
    >>> from dfc_theory.symbolic import scalar_chain_region
    >>> reg = scalar_chain_region(depth=1, leak="total")
    >>> reg.key, reg.conditions              # depth 1, "total": b_2 is Condition 3
    ('A_PI', [('b_1', a*k_p + alpha*rho + 1), ('b_2', a + alpha)])
    >>> reg.stable(alpha=0.1, k_p=0.0, rho=0.5, a=[1.0, -0.5]).tolist()
    [True, False]
    """

    key: str
    poly: sp.Poly
    conditions: list
    params: tuple
    _f: object = field(default=None, repr=False, compare=False)

    def evaluate(self, **values):
        """Numeric values of every condition (broadcast over array-valued parameters);
        returns an array (n_conditions, ...)."""
        missing = [str(p) for p in self.params if str(p) not in values]
        if missing:
            raise ValueError(f"values: missing parameters {missing}")
        if self._f is None:
            # normalised: exact integer coefficients can exceed the float range
            self._f = sp.lambdify(self.params, [sp.N(_normalise(e), 20)
                                                for _, e in self.conditions], "numpy")
        args = [np.asarray(values[str(p)], dtype=np.float64) for p in self.params]
        out = self._f(*args)
        shape = np.broadcast_shapes(*[a.shape for a in args])
        return np.stack([np.broadcast_to(np.asarray(o, dtype=np.float64), shape) for o in out])

    def stable(self, **values):
        """Verdict of the closed form: all conditions > 0."""
        return np.all(self.evaluate(**values) > 0, axis=0)

    def margin(self, **values):
        """min over conditions (a signed, unnormalised stability indicator)."""
        return np.min(self.evaluate(**values), axis=0)


def stability_region(sym, key="A_PI_integral"):
    """Closed-form (Lienard-Chipart) stability conditions of one matrix of ``sym``, in the
    dimensionless form tau_u = 1, tau_v = rho (``sym`` should leave tau_v, tau_u symbolic or
    be already dimensionless).

    Parameters
    ----------
    sym : SymbolicSystem
    key : {"A_PI_integral", "A_PI", "A_tilde_I", "A_I", "A_inst"}, optional

    Returns
    -------
    Region
        Characteristic polynomial of the (dimensionless) matrix and its Lienard-Chipart
        conditions (:func:`hurwitz_conditions`).

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import stability_region, symbolic_system
    >>> a = sp.Symbol("a", real=True)                   # loop gain J Q of the 1-1 chain
    >>> reg = stability_region(symbolic_system((1, 1), [[[1]]], [[1]], [[a]]), "A_inst")
    >>> reg.poly, reg.conditions                        # Condition 3: a > -alpha
    (Poly(s + a + alpha, s, domain='ZZ[a,alpha]'), [('b_1', a + alpha)])
    """
    check_choice(key, "key", KEYS)
    dsym = sym.dimensionless() if sym.tau_v == TAU_V and sym.tau_u == TAU_U else sym
    A = dsym.matrices()[key]
    poly = characteristic_polynomial(A)
    conds = hurwitz_conditions(poly)
    params = tuple(sorted(set().union(*[e.free_symbols for _, e in conds]) - {S}, key=str))
    return Region(key, poly, conds, params)


def scalar_chain_region(depth=2, leak="integral"):
    """Stability region of the 1-1 (depth 1) or 1-1-1 (depth 2) network, in closed form.

    All network quantities are absorbed into loop gains: for depth 1, a = D_1 Q_1 (= J Q);
    for depth 2, a = D_2 Q_2 (the direct path from u into the output layer) and
    b = D_2 W_2 D_1 Q_1 (the path through the hidden layer), J Q = a + b.  Parameters
    alpha, k_p, rho = tau_v / tau_u (tau_u = 1).

    Returns
    -------
    Region for ``A_PI_integral`` (leak "integral") or ``A_PI`` ("total"); with k_p = 0 both
    are integral control (``A_tilde_I``).  The characteristic polynomials are

    * depth 1: rho s^2 + (1 + alpha rho + k_p a) s + c_0 with c_0 = alpha + a ("total") or
      alpha + (1 + alpha k_p) a ("integral");
    * depth 2: rho^2 s^3 + rho (2 + alpha rho + k_p a) s^2 + c_1 s + c_0 with
      c_1 = 1 + (2 alpha + a) rho + k_p (a + b) [+ alpha k_p a rho for "integral"] and
      c_0 = alpha + a + b ("total") or alpha + (1 + alpha k_p)(a + b) ("integral").

    Parameters
    ----------
    depth : {1, 2}, optional
    leak : {"integral", "total"}, optional

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import scalar_chain_region, ALPHA, K_P, RHO, S
    >>> reg = scalar_chain_region(depth=2, leak="integral")
    >>> a, b = sp.symbols("a b", real=True)
    >>> c1 = 1 + (2 * ALPHA + a) * RHO + K_P * (a + b) + ALPHA * K_P * a * RHO
    >>> c0 = ALPHA + (1 + ALPHA * K_P) * (a + b)
    >>> formula = RHO**2 * S**3 + RHO * (2 + ALPHA * RHO + K_P * a) * S**2 + c1 * S + c0
    >>> sp.expand(reg.poly.as_expr() - formula)
    0
    >>> [lab for lab, _ in reg.conditions]
    ['b_1', 'b_2', 'b_3', 'Delta_2']
    """
    check_choice(leak, "leak", LEAKS)
    check_choice(depth, "depth", (1, 2))
    a, b = sp.symbols("a b", real=True)
    return stability_region(_chain(depth, a, b, tau_v=RHO),
                            "A_PI_integral" if leak == "integral" else "A_PI")


def _chain(depth, a, b, **controller):
    """The 1-1 (depth 1) or 1-1-1 chain with D_i = 1, W_2 = 1 and Q = [b; a] (or [a]), which
    realise the loop gains a and b of :func:`scalar_chain_region`; tau_u = 1."""
    Q = [[b], [a]] if depth == 2 else [[a]]
    return symbolic_system((1,) * (depth + 1), [[[1]]] * depth, [[1]] * depth, Q, tau_u=1,
                           **controller)


def condition3_gap(depth=2, leak="integral", k_p=None):
    """Is there a region where Condition 3 holds but the finite-tau_v system is unstable?

    For the scalar chains of :func:`scalar_chain_region` Condition 3 reads
    ``cond3 = alpha + a (+ b) > 0``; every Lienard-Chipart condition is classified as
    ``"positive"`` (certified by :func:`positive_by_coefficients` with J Q = m - alpha, m > 0:
    it cannot fail while Condition 3 holds), ``"condition3"`` (a positive multiple of it),
    ``"condition3+positive"`` (gains >= 0 only: it plus non-negative terms) or ``"open"``
    (then a witness, Condition 3 true and some condition < 0, is searched on a grid and
    confirmed by the numeric eigenvalues).  ``*_nonneg`` entries restrict the loop gains to
    a, b >= 0 (as for Q = J^T: a = D_L^2, b = (D_2 W_2 D_1)^2).

    Parameters
    ----------
    depth : 1 or 2
    leak : {"integral", "total"}
    k_p : number or None
        Fix k_p (e.g. 0 for pure integral control); None keeps it symbolic (>= 0).

    Returns
    -------
    dict with ``region``, ``conditions``, ``condition3``, ``classification``, ``gap_exists``,
    ``witness``, ``witness_abscissa`` (> 0 for a genuine witness), ``no_gap_proved`` (all
    certified), the same with suffix ``_nonneg``, ``critical_b`` (depth 2: the b at which
    Delta_2 changes sign) and ``explanation`` (text).

    Examples
    --------
    With k_p = 0 Condition 3 suffices for this chain at every tau_v (Proposition 5); with k_p > 0
    and the "total" leak a negative loop gain a > -alpha can be unstable, while gains a >= 0
    cannot (Condition 3 is then only a proxy, THEORY.md section 4).

    >>> from dfc_theory.symbolic import condition3_gap
    >>> condition3_gap(depth=1, leak="total", k_p=0)["no_gap_proved"]
    True
    >>> gap = condition3_gap(depth=1, leak="total")
    >>> gap["classification"]
    {'b_1': 'open', 'b_2': 'condition3'}
    >>> gap["gap_exists"], gap["witness_abscissa"] > 0, gap["no_gap_proved_nonneg"]
    (True, True, True)
    """
    reg = scalar_chain_region(depth, leak)
    a, b = sp.symbols("a b", real=True)
    gains = [a, b][:depth]
    cond3 = ALPHA + sum(gains)
    conds = reg.conditions
    if k_p is not None:
        conds = [(lab, sp.expand(e.subs(K_P, k_p))) for lab, e in conds]
    m = sp.Symbol("m", positive=True)  # Condition-3 margin: J Q = m - alpha
    free_gain = gains[-1]
    nonneg = [ALPHA] + ([K_P] if k_p is None else [])
    (gain_at_m,) = sp.solve(sp.Eq(cond3, m), free_gain)  # cond3 is linear in the gain
    classes, classes_nn = {}, {}
    for lab, e in conds:
        ratio = sp.cancel(e / cond3)
        if ratio.is_number and ratio > 0:
            classes[lab] = classes_nn[lab] = "condition3"
            continue
        e_m = sp.expand(e.subs(free_gain, gain_at_m))
        ok = not (e_m.free_symbols & {a, b}) and positive_by_coefficients(e_m, nonneg, [RHO, m])
        classes[lab] = "positive" if ok else "open"
        if positive_by_coefficients(e, nonneg + gains, [RHO]):
            classes_nn[lab] = "positive"
        elif all(c.is_number and c >= 0 for c in  # e = cond3 + (terms >= 0)
                 sp.Poly(sp.expand(e - cond3), *(nonneg + gains + [RHO])).coeffs()):
            classes_nn[lab] = "condition3+positive"
        else:
            classes_nn[lab] = "open"
    out = {"region": reg, "conditions": conds, "condition3": cond3}
    for suffix, cl, nonneg_gains in (("", classes, False), ("_nonneg", classes_nn, True)):
        proved = "open" not in cl.values()
        witness = None if proved else _find_witness(conds, cond3, k_p, depth, nonneg_gains)
        wit_abs = None if witness is None else _witness_abscissa(depth, reg.key, witness)
        out.update({"classification" + suffix: cl, "no_gap_proved" + suffix: proved,
                    "gap_exists" + suffix: bool(witness is not None and wit_abs > 0),
                    "witness" + suffix: witness, "witness_abscissa" + suffix: wit_abs})
    sol = sp.solve(sp.Eq(dict(conds)["Delta_2"], 0), b) if depth == 2 else []
    out["critical_b"] = sp.factor(sol[0]) if len(sol) == 1 else None
    out["explanation"] = "\n".join(
        f"{lab} = {sp.factor(e)} > 0  [{classes[lab]}; with a, b >= 0: {classes_nn[lab]}]"
        for lab, e in conds)
    return out


def _find_witness(conds, cond3, k_p, depth, nonneg_gains=False):
    """Grid search on the closed form for a point with Condition 3 > 0 and some Hurwitz
    condition < 0; returns the most robust one (max of min(cond3, -min condition))."""
    a, b = sp.symbols("a b", real=True)
    syms = [ALPHA, RHO, a] + ([b] if depth == 2 else []) + ([K_P] if k_p is None else [])
    gains = [0.0, 0.5, 1.0] if nonneg_gains else [-2.0, -0.5, -0.05, 0.0, 0.5, 1.0]
    grids = {ALPHA: [0.0, 0.1, 0.5, 1.0], RHO: [0.05, 0.2, 0.5, 1.0, 2.0],
             a: gains, b: [0.0, 1.0, 5.0, 20.0, 100.0], K_P: [0.0, 0.5, 2.0, 10.0]}
    fs = sp.lambdify(syms, [e for _, e in conds] + [cond3], "numpy")
    mesh = np.meshgrid(*[np.asarray(grids[z]) for z in syms], indexing="ij")
    vals = np.stack([np.broadcast_to(np.asarray(o, float), mesh[0].shape)
                     for o in fs(*mesh)])
    score = np.minimum(vals[-1], -vals[:-1].min(axis=0))
    if not np.any(score > 0):
        return None
    idx = np.unravel_index(np.argmax(score), score.shape)
    w = {str(z): float(mesh[k][idx]) for k, z in enumerate(syms)}
    if k_p is not None:
        w["k_p"] = float(k_p)
    return w


def _witness_abscissa(depth, key, w):
    """Spectral abscissa of the chain's (:func:`_chain`) numeric matrix ``key`` at a witness."""
    sym = _chain(depth, w["a"], w.get("b", 0.0), alpha=w["alpha"], k_p=w["k_p"],
                 tau_v=w["rho"])
    A = np.array(sym.matrices()[key].evalf(), dtype=np.float64)
    return float(np.linalg.eigvals(A).real.max())
