"""Every measure of the paper's figures and checks (THEORY.md sections 4, 5 and 7), for
NumPy arrays and torch tensors alike: angles, Condition 1/2/3 measures, spectra.

Angles are 2 atan2(||a - b||, ||a + b||) of the unit-norm arguments: arccos(<a, b> / (||a||
||b||)) but accurate near 0 and 180 degrees (arccos loses ~eps / angle: 1e-11 deg at 0.005).
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import eigvals, errstate, namespace, norm
from ._network import Network
from ._updates import Update
from ._validation import as_array, check_choice, is_tensor

__all__ = ["angle", "layer_angles", "condition1_deviation", "condition2_ratio",
           "layer_norms", "spectra", "spectral_abscissa", "spectral_radius",
           "descent_inner_products"]

_DEG = 180.0 / math.pi


def _float64_pair(a, b, names=("a", "b"), **checks):
    """Both as float64 arrays of one namespace (torch when either is a tensor), checked
    (:func:`dfc_theory._validation.as_array` keywords)."""
    kw = {"dtype": "float64", "device": (a if is_tensor(a) else b).device} \
        if is_tensor(a) or is_tensor(b) else {}
    return tuple(as_array(c, n, **kw, **checks) for c, n in zip((a, b), names))


def angle(a, b, with_bias=True, matrices=False):
    """angle(A, B) = degrees(arccos(<A, B>_F / (||A||_F ||B||_F))) (THEORY.md section 7).

    Parameters
    ----------
    a, b : arrays or :class:`Update`
        Updates are concatenated over layers (biases if ``with_bias``); arrays flattened, or
        with ``matrices`` compared per matrix in the last two axes (broadcast).  In float64.

    Returns
    -------
    float in [0, 180] (nan for a zero norm), or an array with ``matrices``.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import angle
    >>> angle(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    45.0
    >>> angle(np.eye(2), np.stack([np.eye(2), -np.eye(2)]), matrices=True)
    array([  0., 180.])
    """
    x, y = _float64_pair(*(c.vector(with_bias) if isinstance(c, Update) else c for c in (a, b)))
    if matrices:
        mnorm = namespace(x).linalg.matrix_norm
        q, p = x / mnorm(x, keepdims=True), y / mnorm(y, keepdims=True)
        return namespace(x).atan2(mnorm(q - p), mnorm(q + p)) * (2 * _DEG)
    return _flat_angle(x.reshape(-1), y.reshape(-1))


def _flat_angle(x, y):
    if x.shape != y.shape:
        raise ValueError(f"b: expected {x.shape[0]} entries to match a, got {y.shape[0]}")
    nx, ny = float(norm(x)), float(norm(y))
    if nx == 0 or ny == 0:
        return float("nan")
    q, p = x / nx, y / ny
    return float(math.atan2(float(norm(q - p)), float(norm(q + p))) * (2 * _DEG))


def layer_angles(a: Update, b: Update, with_bias=True):
    """Angles per layer i = 1..L between two updates (NumPy array of degrees).

    angle_i = angle([Delta W_i, Delta b_i], [Delta W_i', Delta b_i']) as in :func:`angle`.

    Parameters
    ----------
    a, b : Update
        Updates of the same depth L (NumPy or torch).
    with_bias : bool
        Include the biases (only when both updates have them).

    Returns
    -------
    array (L,), float64 degrees in [0, 180] (nan for a layer with a zero norm).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import Update
    >>> from dfc_theory.metrics import layer_angles
    >>> a = Update((np.ones((3, 2)), np.ones((2, 3))), (np.ones(3), np.ones(2)))
    >>> b = Update((np.ones((3, 2)), np.eye(2, 3)), (np.ones(3), np.zeros(2)))
    >>> np.round(layer_angles(a, b), 9)      # layer 2: cos = 2 / (sqrt(8) sqrt(2)) = 1/2
    array([ 0., 60.])
    """
    if a.depth != b.depth:
        raise ValueError(f"b: expected {a.depth} layers, got {b.depth}")
    wb = with_bias and a.db is not None and b.db is not None
    x, y = _float64_pair(a.vector(wb), b.vector(wb))  # one conversion, then per layer
    offs = np.cumsum([0] + [a.layer(i, wb).shape[0] for i in range(1, a.depth + 1)])
    return np.array([_flat_angle(x[i:j], y[i:j]) for i, j in zip(offs[:-1], offs[1:])])


def layer_norms(network: Network, x):
    """||r_i|| for i = 0..L-1 (output excluded), shape (B, L).

    Parameters
    ----------
    network : Network
        NumPy or torch network.
    x : array (B, n_0) or (n_0,)
        Input r_0.

    Returns
    -------
    array (B, L) (also for a single x), in the network's namespace: column i is ||r_i||
    of the feedforward pass (r_0 = x).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import Network
    >>> from dfc_theory.metrics import layer_norms
    >>> net = Network([2.0 * np.eye(2), np.ones((1, 2))], activation="linear")  # r_1 = 2 x
    >>> layer_norms(net, np.array([3.0, 4.0]))
    array([[ 5., 10.]])
    """
    fp = network._forward(network._input(x)[0])
    xp = network.xp
    return xp.stack([xp.linalg.vector_norm(r, axis=1) for r in fp.r[:-1]], axis=1)


def condition1_deviation(network: Network, x, metric="std"):
    """Condition 1 (equal layer norms ||r_0|| = ... = ||r_{L-1}||), per sample (B,).

    ``metric="std"``: std_i(||r_i||) / mean_i(||r_i||) (THEORY.md's, population std);
    ``metric="reference"``: the reference code's sqrt(mean_i((||r_i|| - m)^2) / m), m the mean
    norm (not scale-free; the paper's Fig 3C).  Both are 0 where every norm is 0.

    Parameters
    ----------
    network : Network
        NumPy or torch network.
    x : array (B, n_0) or (n_0,)
    metric : {"std", "reference"}

    Returns
    -------
    array (B,) in the network's namespace (0 iff Condition 1 holds).

    Examples
    --------
    Norms ||r_0|| = 5, ||r_1|| = 10: mean 7.5, population std 2.5.

    >>> import numpy as np
    >>> from dfc_theory import Network
    >>> from dfc_theory.metrics import condition1_deviation
    >>> net = Network([2.0 * np.eye(2), np.ones((1, 2))], activation="linear")  # r_1 = 2 x
    >>> x = np.array([3.0, 4.0])
    >>> np.round(condition1_deviation(net, x), 6)        # 2.5 / 7.5
    array([0.333333])
    >>> np.round(condition1_deviation(net, x, metric="reference"), 6)   # sqrt(6.25 / 7.5)
    array([0.912871])
    """
    check_choice(metric, "metric", ("std", "reference"))
    n, xp = layer_norms(network, x), network.xp
    m = xp.mean(n, axis=1)
    with errstate(xp, invalid="ignore"):
        dev = xp.std(n, axis=1) / m if metric == "std" else \
            xp.sqrt(xp.mean((n - m[:, None]) ** 2, axis=1) / m)
    return xp.where(m > 0, dev, xp.zeros_like(dev))


def condition2_ratio(J, Q):
    """Condition 2 measure ||P_J Q||_F / ||Q||_F with P_J = J^T (J J^T)^{-1} J = J^+ J the
    projector on the row space of J (1 iff col(Q) lies in row(J)).

    Parameters
    ----------
    J : array (n_L, N) or (B, n_L, N)
    Q : array (N, n_L) or (B, N, n_L)

    Returns
    -------
    array () or (B,), float64 in the namespace of J (pseudoinverse: any rank).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import condition2_ratio
    >>> J = np.random.default_rng(0).standard_normal((2, 5))
    >>> float(np.round(condition2_ratio(J, J.T @ np.array([[1.0, 2.0], [0.0, 1.0]])), 12))
    1.0
    """
    J, Q = _float64_pair(J, Q, ("J", "Q"), ndim=(2, 3))
    if J.shape[-1] != Q.shape[-2] or J.shape[-2] != Q.shape[-1]:
        raise ValueError(f"Q: expected shape (..., {J.shape[-1]}, {J.shape[-2]}) to match J "
                         f"{tuple(J.shape)}, got {tuple(Q.shape)}")
    xp = namespace(J)
    PQ = xp.linalg.pinv(J) @ (J @ Q)
    return xp.linalg.matrix_norm(PQ) / xp.linalg.matrix_norm(Q)


def _square_batch(A, name="A"):
    """(M, M) or (B, M, M), real or complex -> ((B, M, M), single)."""
    arr = as_array(A, name, ndim=(2, 3), complex_ok=True)
    if arr.shape[-1] != arr.shape[-2] or arr.shape[-1] == 0:
        raise ValueError(f"{name}: expected square matrices (M, M) or (B, M, M), "
                         f"got shape {tuple(arr.shape)}")
    return (arr[None], True) if arr.ndim == 2 else (arr, False)


def spectra(A):
    """Eigenvalues of A, sorted by decreasing real part (ties: decreasing imaginary part).

    Parameters
    ----------
    A : array (M, M) or (B, M, M)

    Returns
    -------
    complex array (M,) or (B, M).

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import spectra
    >>> np.round(spectra(np.array([[1.0, -2.0], [2.0, 1.0]])), 12)      # 1 +- 2i
    array([1.+2.j, 1.-2.j])
    >>> np.round(spectra(np.diag([-1.0, 3.0, 0.5])).real, 12)
    array([ 3. ,  0.5, -1. ])
    """
    A2, single = _square_batch(A)
    lam = eigvals(A2)
    xp = namespace(lam)
    for key in (xp.imag, xp.real):  # stable sorts: the last key leads
        lam = xp.take_along_axis(lam, xp.argsort(-key(lam), axis=-1, stable=True), axis=-1)
    return lam[0] if single else lam


def spectral_abscissa(A):
    """a(A) = max_i Re lambda_i(A); A is Hurwitz (locally asymptotically stable) iff a < 0,
    and generically ||z(t)|| ~ e^{a t} for large t.

    Parameters
    ----------
    A : array (M, M) or (B, M, M)

    Returns
    -------
    float, or (B,) array in the namespace of A.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory import spectral_abscissa
    >>> spectral_abscissa(np.array([[-1.0, 5.0], [0.0, -2.0]]))
    -1.0
    """
    A2, single = _square_batch(A)
    xp = namespace(A2)
    a = xp.max(xp.real(eigvals(A2)), axis=-1)
    return float(a[0]) if single else a


def spectral_radius(A):
    """rho(A) = max_i |lambda_i(A)| (float or (B,)).

    Parameters
    ----------
    A : array (M, M) or (B, M, M)

    Returns
    -------
    float, or (B,) array in the namespace of A.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.metrics import spectral_radius
    >>> spectral_radius(np.array([[-1.0, 5.0], [0.0, -2.0]]))
    2.0
    >>> spectral_radius(np.stack([np.eye(2), -3.0 * np.eye(2)]))
    array([1., 3.])
    """
    A2, single = _square_batch(A)
    xp = namespace(A2)
    r = xp.max(xp.abs(eigvals(A2)), axis=-1)
    return float(r[0]) if single else r


def descent_inner_products(J, delta_v, delta_L):
    """Proposition 4's per-sample inner product delta_L^T J Delta v (B,): (lambda / eta) times
    that of the update with rates eta_i = eta / ||r_{i-1}||^2 with -grad_W Loss, so > 0 means
    a descent direction (THEORY.md section 4).

    Parameters
    ----------
    J : array (B, n_L, N)
        Jacobians d r_L / d v per sample.
    delta_v : array (B, N)
        Delta v = v_ss - v_ss^ff per sample.
    delta_L : array (B, n_L)
        delta_L = r_L* - r_L^- per sample.

    Returns
    -------
    array (B,) in the namespace of J.

    Examples
    --------
    With Q = J^T and alpha = 0, Delta v = Q (J Q)^{-1} delta_L gives J Delta v = delta_L, so
    the inner product is ||delta_L||^2 (Proposition 4's limit):

    >>> import numpy as np
    >>> from dfc_theory.metrics import descent_inner_products
    >>> rng = np.random.default_rng(0)
    >>> J, delta_L = rng.standard_normal((1, 2, 5)), rng.standard_normal((1, 2))
    >>> Q = J.transpose(0, 2, 1)
    >>> delta_v = (Q @ np.linalg.solve(J @ Q, delta_L[..., None]))[..., 0]
    >>> bool(np.allclose(descent_inner_products(J, delta_v, delta_L), (delta_L ** 2).sum()))
    True
    """
    return namespace(J).einsum("bk,bkn,bn->b", delta_L, J, delta_v)


