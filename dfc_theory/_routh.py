"""Routh-Hurwitz stability of polynomials, exact (SymPy) and numeric (SymPy 1.14 has no
Routh-Hurwitz helper).  Nothing here is specific to DFC; :mod:`dfc_theory.symbolic` applies
it to the system matrices of THEORY.md section 5 and re-exports it.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from ._validation import check_choice

__all__ = ["S", "characteristic_polynomial", "routh_table", "routh_first_column",
           "hurwitz_matrix", "hurwitz_minors", "hurwitz_conditions", "is_hurwitz_polynomial",
           "positive_by_coefficients"]

S = sp.Symbol("s")                          # Laplace variable of the characteristic polynomial


def _rationalise(expr):
    """Replace every Float by the exact Rational of its binary value."""
    expr = sp.sympify(expr)
    floats = expr.atoms(sp.Float)
    return expr.xreplace({f: sp.Rational(f) for f in floats}) if floats else expr


def _normalise(e):
    """e divided by its largest |numeric coefficient| as a polynomial in its free symbols
    (same sign, values O(1)); e itself when it has no non-zero numeric coefficient."""
    e = sp.expand(e)
    gens = sorted(e.free_symbols, key=str)
    cs = [abs(c) for c in (sp.Poly(e, *gens).coeffs() if gens else [e]) if c.is_number]
    m = max(cs, default=0)
    return sp.expand(e / m) if m > 0 else e


def characteristic_polynomial(A, s=S):
    """det(s I - A) with the (positive) denominators cleared, as a Poly in s.

    With L the least common (positive: tau_v, tau_u, rho) denominator of the entries,
    det(L s I - L A) = L^M det(s I - A) has the same roots; its content is divided out.
    Floats become the exact rationals they represent; fraction-free DomainMatrix arithmetic.

    Parameters
    ----------
    A : SymPy Matrix or array-like (M, M)
        Entries numbers or expressions (e.g. a section-5 matrix of :class:`SymbolicSystem`).
    s : Symbol, optional
        The Laplace variable (default :data:`S`).

    Returns
    -------
    Poly in s
        Degree M, proportional to det(s I - A) by a positive factor; integer coefficients with
        no common factor when A has free symbols; leading coefficient > 0 (for positive
        symbols).

    Raises
    ------
    ValueError
        ``A`` not square, or a denominator that is not known to be positive.

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import characteristic_polynomial, routh_table, TAU_V, ALPHA
    >>> p = characteristic_polynomial([[0, 1], [-2, -3]])   # roots -1, -2
    >>> p
    Poly(s**2 + 3*s + 2, s, domain='ZZ')
    >>> routh_table(p)                      # first column 1, 3, 2 > 0: Hurwitz
    [[1, 2], [3, 0], [2, 0]]

    A_tilde_I of the 1-1 chain (D_1 = Q = 1, tau_u = 1): det(s I - A) times tau_v.

    >>> characteristic_polynomial(sp.Matrix([[-1 / TAU_V, 1 / TAU_V], [-1, -ALPHA]]))
    Poly(tau_v*s**2 + (alpha*tau_v + 1)*s + alpha + 1, s, domain='ZZ[alpha,tau_v]')
    """
    A = sp.Matrix(A)
    if A.rows != A.cols:
        raise ValueError(f"A: expected a square matrix, got shape {A.shape}")
    A = A.applyfunc(lambda e: sp.together(_rationalise(e)))
    Lden = sp.lcm_list([sp.fraction(e)[1] for e in A])
    if not (Lden.is_positive or all(z.is_positive for z in Lden.free_symbols)):
        raise ValueError(f"A: denominators {Lden} are not known to be positive; declare the "
                         f"symbols positive (tau_v, tau_u, rho are)")
    Ap = (A * Lden).applyfunc(lambda e: sp.expand(sp.cancel(e)))
    dM = DomainMatrix.from_Matrix(Ap)
    cp = [dM.domain.to_sympy(c) for c in dM.charpoly()]
    Mdim = A.rows
    coeffs = [sp.expand(c * Lden ** (Mdim - k)) for k, c in enumerate(cp)]
    g = sp.gcd_list([c for c in coeffs if c != 0])
    coeffs = [sp.expand(sp.cancel(c / g)) for c in coeffs]
    expr = sum(c * s ** (Mdim - k) for k, c in enumerate(coeffs))
    gens = sorted(set().union(*[c.free_symbols for c in coeffs]), key=str)
    if gens:  # integer coefficients with no common integer factor (exact, fast in ZZ[params])
        expr = sp.Poly(expr, s, *gens).clear_denoms()[1].primitive()[1].as_expr()
    poly = sp.Poly(expr, s)
    lc = poly.LC()
    return -poly if lc.subs({z: 1 for z in lc.free_symbols}) < 0 else poly


def _coeffs(p, exact=False):
    """(b_0..b_n, n) of a Poly or coefficients (highest power first); ``exact``: floats
    become Rationals."""
    b = list(p.all_coeffs()) if isinstance(p, sp.Poly) else [sp.sympify(c) for c in p]
    return ([_rationalise(c) for c in b] if exact else b), len(b) - 1


def routh_table(p, simplify=True):
    """Routh table of a polynomial (Poly, or coefficients from the highest power down).

    Rows r_0 = [b_0, b_2, ...], r_1 = [b_1, b_3, ...] and
    r_k[j] = (r_{k-1}[0] r_{k-2}[j+1] - r_{k-2}[0] r_{k-1}[j+1]) / r_{k-1}[0]; with b_0 > 0
    the polynomial is Hurwitz iff the first column is positive (no zero-pivot handling: for
    numbers use :func:`is_hurwitz_polynomial`).

    Parameters
    ----------
    p : Poly or sequence of numbers / expressions
        b_0 s^n + b_1 s^{n-1} + ... + b_n given as a Poly in s or as [b_0, b_1, ..., b_n].
    simplify : bool, optional
        ``sp.cancel`` every new entry (default True).

    Returns
    -------
    list of rows (lists of SymPy expressions), n + 1 rows for degree n.

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import routh_first_column, is_hurwitz_polynomial
    >>> a = sp.Symbol("a")
    >>> routh_first_column([1, 3, a])       # s^2 + 3 s + a: Hurwitz iff a > 0
    [1, 3, a]
    >>> is_hurwitz_polynomial([1, 3, 2]), is_hurwitz_polynomial([1, -1, 2])
    (True, False)
    >>> from dfc_theory.symbolic import routh_table
    >>> routh_table([1, 2, 3, 4])           # s^3 + 2 s^2 + 3 s + 4: r_2[0] = (2*3 - 1*4)/2
    [[1, 3], [2, 4], [1, 0], [4, 0]]
    """
    b, n = _coeffs(p)
    if n < 1:
        raise ValueError(f"p: expected degree >= 1, got coefficients {b}")
    rows = [b[0::2], (b + [sp.Integer(0)])[1::2]]       # r_1 padded to the width of r_0
    for _ in range(n - 1):
        p2, p1 = rows[-2], rows[-1]
        new = [(p1[0] * p2[j + 1] - p2[0] * p1[j + 1]) / p1[0] for j in range(len(p1) - 1)]
        rows.append([sp.cancel(e) if simplify else e for e in new] + [sp.Integer(0)])
    return rows


def routh_first_column(p):
    """First column of the Routh table (n + 1 entries).

    With b_0 > 0 the polynomial is Hurwitz iff every entry is > 0; the column equals
    b_0, Delta_1, Delta_2 / Delta_1, ..., Delta_n / Delta_{n-1} (:func:`hurwitz_minors`).

    Parameters
    ----------
    p : Poly or sequence [b_0, b_1, ..., b_n] (highest power first)

    Returns
    -------
    list of n + 1 SymPy expressions, r_0[0], ..., r_n[0].

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import routh_first_column
    >>> b0, b1, b2, b3 = sp.symbols("b0:4", positive=True)
    >>> routh_first_column([b0, b1, b2, b3])    # cubic: Hurwitz iff b_1 b_2 > b_0 b_3
    [b0, b1, (-b0*b3 + b1*b2)/b1, b3]
    >>> routh_first_column([1, 2, 3, 4])        # 2*3 > 4: Hurwitz
    [1, 2, 1, 4]
    """
    return [row[0] for row in routh_table(p)]


def hurwitz_matrix(p):
    """Hurwitz matrix H (n x n) of b_0 s^n + b_1 s^{n-1} + ... + b_n: H[i, j] = b_{2j - i}
    (1-based i, j; zero outside 0..n).

    Parameters
    ----------
    p : Poly or sequence [b_0, b_1, ..., b_n] (highest power first)

    Returns
    -------
    SymPy Matrix (n, n).

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import hurwitz_matrix
    >>> hurwitz_matrix(sp.symbols("b0:4"))
    Matrix([
    [b1, b3,  0],
    [b0, b2,  0],
    [ 0, b1, b3]])
    """
    b, n = _coeffs(p)
    return sp.Matrix(n, n, lambda i, j: b[2 * (j + 1) - (i + 1)]
                     if 0 <= 2 * (j + 1) - (i + 1) <= n else 0)


def hurwitz_minors(p, orders=None):
    """Leading principal minors Delta_k of the Hurwitz matrix (expanded polynomials).

    With b_0 > 0 the polynomial is Hurwitz iff all Delta_1..Delta_n > 0 (the Routh first
    column is b_0, Delta_1, Delta_2/Delta_1, ...); exact, fraction-free determinants.

    Parameters
    ----------
    p : Poly or coefficients (highest power first)
    orders : iterable of k in 1..n, optional (default all)

    Returns
    -------
    list of the requested minors, in the order asked.

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import hurwitz_minors
    >>> hurwitz_minors(sp.symbols("b0:4"))      # Delta_3 = b_3 Delta_2
    [b1, -b0*b3 + b1*b2, -b0*b3**2 + b1*b2*b3]
    >>> hurwitz_minors([1, 2, 3, 4]), hurwitz_minors([1, 2, 3, 4], orders=[3])
    ([2, 2, 8], [8])
    """
    b, n = _coeffs(p, exact=True)
    orders = list(range(1, n + 1)) if orders is None else [int(k) for k in orders]
    if any(k < 1 or k > n for k in orders):
        raise ValueError(f"orders: expected values in 1..{n}, got {orders}")
    H = hurwitz_matrix(b)
    cache = {}

    def minor(k):
        if k not in cache:
            if k == n and n > 1:
                cache[k] = sp.expand(b[n] * minor(n - 1))
            else:
                dM = DomainMatrix.from_Matrix(H[:k, :k])
                cache[k] = sp.expand(dM.domain.to_sympy(dM.det()))
        return cache[k]

    return [minor(k) for k in orders]


def hurwitz_conditions(p, form="lienard_chipart"):
    """Expressions that must all be > 0 for the polynomial to be Hurwitz (given b_0 > 0).

    ``form="lienard_chipart"``: b_1, ..., b_n > 0 and Delta_{n-1}, Delta_{n-3}, ... > 0
    (equivalent, with lower-degree minors); ``form="hurwitz"``: Delta_1..Delta_n > 0.

    Parameters
    ----------
    p : Poly or sequence [b_0, b_1, ..., b_n] (highest power first)
    form : {"lienard_chipart", "hurwitz"}, optional

    Returns
    -------
    list of (label, expression), labels ``"b_k"`` and ``"Delta_k"``.

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import hurwitz_conditions
    >>> b = sp.symbols("b0:4")
    >>> hurwitz_conditions(b)
    [('b_1', b1), ('b_2', b2), ('b_3', b3), ('Delta_2', -b0*b3 + b1*b2)]
    >>> [lab for lab, _ in hurwitz_conditions(b, form="hurwitz")]
    ['Delta_1', 'Delta_2', 'Delta_3']
    """
    check_choice(form, "form", ("lienard_chipart", "hurwitz"))
    b, n = _coeffs(p, exact=True)
    if form == "hurwitz":
        return [(f"Delta_{k}", m) for k, m in enumerate(hurwitz_minors(b), start=1)]
    conds = [(f"b_{k}", sp.expand(b[k])) for k in range(1, n + 1)]
    ks = list(range(n - 1, 1, -2))          # Delta_1 = b_1 is already a condition
    conds += [(f"Delta_{k}", m) for k, m in zip(ks, hurwitz_minors(b, ks))]
    return conds


def is_hurwitz_polynomial(coeffs):
    """Numeric Routh test: True iff every root of the real polynomial (coefficients from the
    highest power down, leading one non-zero) has a negative real part; a zero in the first
    column (a root on or right of the imaginary axis) gives False.

    Parameters
    ----------
    coeffs : sequence of real numbers [b_0, ..., b_n], n >= 1, b_0 != 0

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.symbolic import is_hurwitz_polynomial
    >>> is_hurwitz_polynomial([1, 3, 2])                  # roots -1, -2
    True
    >>> is_hurwitz_polynomial([1, -1, 1])                 # roots (1 +- i sqrt 3) / 2
    False
    >>> bool(np.roots([1, -1, 1]).real.max() > 0)
    True
    >>> is_hurwitz_polynomial([1, 0, 1])                  # roots +-i: not asymptotically stable
    False
    """
    b = np.asarray(coeffs, dtype=np.float64)
    if b.ndim != 1 or b.size < 2 or b[0] == 0:
        raise ValueError(f"coeffs: expected >= 2 coefficients with a non-zero leading one, "
                         f"got {coeffs!r}")
    b = b / b[0]                    # r_0[0] = 1: the loop checks r_1[0], ..., r_n[0]
    r0, r1 = b[0::2], np.append(b, 0.0)[1::2]
    for _ in range(b.size - 1):
        if not r1[0] > 0:
            return False
        r0, r1 = r1, np.append((r1[0] * r0[1:] - r0[0] * r1[1:]) / r1[0], 0.0)
    return True


def positive_by_coefficients(expr, nonneg_symbols, positive_symbols=()):
    """A sufficient positivity certificate for a polynomial.

    True if ``expr``, expanded in ``nonneg_symbols`` (>= 0) and ``positive_symbols`` (> 0),
    is a monomial in the positive symbols times a polynomial with non-negative coefficients
    and a positive constant term; False means "not certified".

    Parameters
    ----------
    expr : SymPy expression, a polynomial in the symbols below
    nonneg_symbols : sequence of Symbol, each assumed >= 0
    positive_symbols : sequence of Symbol, optional, each assumed > 0

    Returns
    -------
    bool
        True: ``expr`` > 0 wherever the assumptions hold.

    Examples
    --------
    >>> import sympy as sp
    >>> from dfc_theory.symbolic import positive_by_coefficients, ALPHA, K_P, RHO
    >>> positive_by_coefficients(1 + ALPHA * RHO + K_P, [ALPHA, K_P], [RHO])
    True
    >>> positive_by_coefficients(RHO * (1 + ALPHA), [ALPHA], [RHO])   # positive factor rho
    True
    >>> positive_by_coefficients(ALPHA * (1 + K_P), [ALPHA, K_P])     # zero at alpha = 0
    False
    >>> positive_by_coefficients(1 + ALPHA - K_P, [ALPHA, K_P])       # not certified
    False
    """
    gens = tuple(nonneg_symbols) + tuple(positive_symbols)
    poly = sp.Poly(sp.expand(expr), *gens)
    if poly.is_zero or not all(c.is_number and c >= 0 for c in poly.coeffs()):
        return False
    monoms = poly.monoms()
    # common power of each strictly positive symbol (a positive factor)
    shift = tuple(min(mm[j] for mm in monoms) for j in range(len(nonneg_symbols), len(gens)))
    return bool(poly.as_dict().get((0,) * len(nonneg_symbols) + shift, 0) > 0)
