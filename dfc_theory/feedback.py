"""Every construction of the feedback weights Q = [Q_1; ...; Q_L] (N x n_L), THEORY.md
sections 4 and 6, for NumPy and torch networks (random draws always come from NumPy).

Every function takes the ``network`` (a :class:`dfc_theory.Network`) and returns Q in its
namespace, dtype and device.  Those that depend on J take one input ``x`` of shape (n_0,)
and return Q of shape (N, n_L); given a batch (B, n_0) they return one Q per sample,
(B, N, n_L).

Examples
--------
>>> import numpy as np
>>> import dfc_theory as dfc
>>> net, x = dfc.Network.random([3, 5, 2], seed=0), np.ones(3)
>>> Q = dfc.feedback.random_condition2(net, x, seed=1)                    # J^T M
>>> float(np.round(dfc.condition2_ratio(net.jacobian(x), Q), 12))
1.0
"""
from __future__ import annotations

import numpy as np

from ._backend import eigvals, eye, namespace
from ._network import Network
from ._validation import as_array, as_rng, check_int, check_scalar, check_type, is_tensor

__all__ = ["weight_product", "jacobian_transpose", "pseudoinverse", "damped_pseudoinverse",
           "damped_pinv_family", "random_condition2", "random_gaussian", "xavier_normal",
           "dfa_as_feedback"]


def weight_product(network):
    """Q_i = W_{i+1}^T W_{i+2}^T ... W_L^T with Q_L = I (the "(fixed)" feedback of the paper).

    Equals J^T of a linear network; for tanh networks it lacks the D_i factors of J^T.  It
    depends on W, so a training loop that wants it to track the weights must rebuild it.

    Parameters
    ----------
    network : Network

    Returns
    -------
    Q : array (N, n_L), in the network's namespace, dtype and device.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 2], activation="linear", seed=0)
    >>> bool(np.allclose(dfc.feedback.weight_product(net), net.jacobian(np.zeros(3)).T))
    True
    """
    check_type(network, "network", Network)
    blocks = [eye(network.xp, network.n_out, network.weights[0])]  # Q_L, then Q_i prepended
    for W in network.weights[:0:-1]:
        blocks.insert(0, W.T @ blocks[0])
    return network.xp.concat(blocks, axis=0)


def jacobian_transpose(network, x):
    """Q = J^T at the feedforward state of x.

    Parameters
    ----------
    network : Network
    x : array (n_0,) or (B, n_0)

    Returns
    -------
    Q : array (N, n_L), or (B, N, n_L) for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 5, 2], seed=0)
    >>> dfc.feedback.jacobian_transpose(net, np.ones((4, 3))).shape
    (4, 7, 2)
    >>> lin = dfc.Network.random([3, 5, 2], activation="linear", seed=0)  # J^T = weight product
    >>> Q = dfc.feedback.jacobian_transpose(lin, np.ones(3))
    >>> bool(np.allclose(Q, dfc.feedback.weight_product(lin)))
    True
    """
    check_type(network, "network", Network)
    J = network.jacobian(x)
    return J.mT.copy() if isinstance(J, np.ndarray) else J.mT.contiguous()


def damped_pinv_family(J, gammas):
    """J^T (J J^T + gamma I)^{-1} for each gamma, via one eigendecomposition J J^T = U g U^T.

    gamma = 0 gives J^T (J J^T)^+ = J^+ for any rank; gamma = inf returns J^T (the
    gamma -> infinity limit up to scale).

    Parameters
    ----------
    J : array (n_L, N) or (B, n_L, N)
    gammas : sequence of float >= 0 (inf allowed)

    Returns
    -------
    array (n_gamma, [B,] N, n_L)

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.feedback import damped_pinv_family
    >>> J = np.random.default_rng(0).standard_normal((2, 4))
    >>> fam = damped_pinv_family(J, [0.0, np.inf])
    >>> bool(np.allclose(fam[0], np.linalg.pinv(J))), bool(np.allclose(fam[1], J.T))
    (True, True)
    """
    J = J if is_tensor(J) else as_array(J, "J", ndim=(2, 3))
    xp = namespace(J)
    g, U = xp.linalg.eigh(J @ J.mT)
    JtU = J.mT @ U
    out = []
    for gamma in gammas:
        gamma = float(gamma)
        if gamma < 0 or np.isnan(gamma):
            raise ValueError(f"gammas: expected values >= 0, got {gamma}")
        if np.isinf(gamma):
            out.append(J.mT * 1.0)
            continue
        den = g + gamma
        tol = 1e-12 * xp.max(xp.abs(g), axis=-1, keepdims=True)
        inv = xp.where(den > tol, 1.0 / xp.where(den > tol, den, 1.0), 0.0 * den)  # pinv at 0
        out.append((JtU * inv[..., None, :]) @ U.mT)
    return xp.stack(out)


def damped_pseudoinverse(network, x, gamma):
    """Q = J^T (J J^T + gamma I)^{-1}, the damped pseudoinverse at the feedforward J of x
    (gamma >= 0; gamma = 0 is J^+, the Moore-Penrose pseudoinverse, for any rank).

    Parameters
    ----------
    network : Network
    x : array (n_0,) or (B, n_0)
    gamma : float >= 0
        Damping.

    Returns
    -------
    Q : array (N, n_L), or (B, N, n_L) for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net, x = dfc.Network.random([3, 5, 2], seed=0), np.ones(3)
    >>> J, Q = net.jacobian(x), dfc.feedback.damped_pseudoinverse(net, x, 0.5)
    >>> bool(np.allclose(Q @ (J @ J.T + 0.5 * np.eye(2)), J.T))   # Q (J J^T + gamma I) = J^T
    True
    """
    check_type(network, "network", Network)
    gamma = check_scalar(gamma, "gamma", low=0.0)
    return damped_pinv_family(network.jacobian(x), [gamma])[0]


def pseudoinverse(network, x):
    """Q = J^+, the Moore-Penrose pseudoinverse of J (any rank).

    Parameters
    ----------
    network : Network
    x : array (n_0,) or (B, n_0)

    Returns
    -------
    Q : array (N, n_L), or (B, N, n_L) for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net, x = dfc.Network.random([3, 5, 2], seed=0), np.ones(3)
    >>> Q = dfc.feedback.pseudoinverse(net, x)
    >>> bool(np.allclose(net.jacobian(x) @ Q, np.eye(2)))   # J full row rank: J Q = I
    True
    """
    check_type(network, "network", Network)
    return network.xp.linalg.pinv(network.jacobian(x))


def random_condition2(network, x, seed=None, require_stable=True, max_tries=1000):
    """Q = J^T M with M ~ N(0, 1) of shape n_L x n_L: satisfies Condition 2.

    With ``require_stable`` M is redrawn until every eigenvalue of J Q has a non-negative
    real part (so Condition 3 holds for every alpha > 0), as in the paper's Fig 2.
    Only single inputs x of shape (n_0,).

    Parameters
    ----------
    network : Network
    x : array (n_0,)
    seed : int or numpy Generator, optional
        Source of M.
    require_stable : bool
        Redraw M until Re eig(J Q) >= 0.
    max_tries : int >= 1
        Draws before a RuntimeError.

    Returns
    -------
    Q : array (N, n_L)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net, x = dfc.Network.random([3, 5, 2], seed=0), np.ones(3)
    >>> J, Q = net.jacobian(x), dfc.feedback.random_condition2(net, x, seed=3)
    >>> float(np.round(dfc.condition2_ratio(J, Q), 12))         # Q = J^T M: Condition 2
    1.0
    >>> bool(np.all(np.linalg.eigvals(J @ Q).real >= 0))          # require_stable
    True
    """
    check_type(network, "network", Network)
    if len(getattr(x, "shape", np.shape(x))) != 1:
        raise ValueError(f"x: random_condition2 takes a single input of shape "
                         f"({network.n_in},), got {tuple(np.shape(x))}")
    max_tries = check_int(max_tries, "max_tries")
    rng = as_rng(seed)
    J = network.jacobian(x)
    n = network.n_out
    for _ in range(max_tries):
        Q = J.T @ network.convert(rng.standard_normal((n, n)), "M")
        if not require_stable or bool((eigvals(J @ Q).real >= 0).all()):
            return Q
    raise RuntimeError(f"random_condition2: no stable M found in {max_tries} draws")


def random_gaussian(network, seed=None, scale=1.0):
    """Q with i.i.d. N(0, scale^2 / n_L) entries (generally violates Condition 2);
    ``seed`` an int or NumPy Generator.

    Parameters
    ----------
    network : Network
    seed : int or numpy Generator, optional
    scale : float >= 0

    Returns
    -------
    Q : array (N, n_L)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 400, 2], seed=0)
    >>> Q = dfc.feedback.random_gaussian(net, seed=1, scale=2.0)
    >>> Q.shape, bool(abs(Q.std() / (2.0 / np.sqrt(2)) - 1) < 0.05)    # std scale / sqrt(n_L)
    ((402, 2), True)
    >>> bool(dfc.condition2_ratio(net.jacobian(np.ones(3)), Q) < 0.5)  # far from Condition 2
    True
    """
    check_type(network, "network", Network)
    scale = check_scalar(scale, "scale", low=0.0)
    return network.convert(as_rng(seed).normal(0.0, scale / np.sqrt(network.n_out),
                                               size=(network.n_total, network.n_out)), "Q")


def xavier_normal(network, seed=None, scale=1.0):
    """Random Q, Xavier-normal per block: Q_i ~ N(0, scale^2 * 2 / (n_i + n_L)) (the reference
    code's ``initialization_K='xavier_normal'``).

    Parameters
    ----------
    network : Network
    seed : int or numpy Generator, optional
    scale : float >= 0

    Returns
    -------
    Q : array (N, n_L)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 400, 2], seed=0)
    >>> Q = dfc.feedback.xavier_normal(net, seed=1)
    >>> Q.shape, bool(abs(Q[:400].std() / np.sqrt(2 / (400 + 2)) - 1) < 0.05)   # block Q_1
    ((402, 2), True)
    """
    check_type(network, "network", Network)
    scale = check_scalar(scale, "scale", low=0.0)
    rng = as_rng(seed)
    nL = network.n_out
    return network.convert(np.concatenate(
        [rng.normal(0.0, scale * np.sqrt(2.0 / (n + nL)), size=(n, nL))
         for n in network.sizes[1:]], axis=0), "Q")


def dfa_as_feedback(network, B_fb):
    """DFA's fixed random matrices as a DFC feedback matrix Q = [B_1; ...; B_{L-1}; I]
    (N x n_L), so that Q-based metrics (Condition-2 ratio) can describe DFA's pathway.

    Parameters
    ----------
    network : Network
    B_fb : sequence of L - 1 arrays (n_i, n_L)
        The matrices of :func:`dfc_theory.learning.dfa_feedback`.

    Returns
    -------
    Q : array (N, n_L)

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> net = dfc.Network.random([3, 4, 4, 2], seed=0)
    >>> B_fb = dfc.learning.dfa_feedback(net, seed=1)
    >>> Q = dfc.feedback.dfa_as_feedback(net, B_fb)
    >>> Q.shape, bool(np.array_equal(Q[4:8], B_fb[1])), bool(np.array_equal(Q[8:], np.eye(2)))
    ((10, 2), True, True)
    """
    check_type(network, "network", Network)
    sizes, nL = network.sizes[1:-1], network.n_out
    if B_fb is None or len(tuple(B_fb)) != len(sizes):
        raise ValueError(f"dfa_feedback: expected {len(sizes)} matrices B_i (n_i, n_L) "
                         f"(see dfc_theory.learning.dfa_feedback), got "
                         f"{None if B_fb is None else len(tuple(B_fb))}")
    blocks = [network.convert(b, f"dfa_feedback[{i}] (B_{i + 1})", shape=(n, nL))
              for i, (b, n) in enumerate(zip(B_fb, sizes))]
    return network.xp.concat(blocks + [eye(network.xp, nL, network.weights[0])], axis=0)
