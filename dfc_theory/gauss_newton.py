"""Reference updates that DFC is compared with (THEORY.md sections 4 and 7).

All return the batch-averaged :class:`~dfc_theory.Update` (parameters as :func:`gn_update`).

J_theta is never materialised: with J_theta = [J_1 (x) r_0^T, I-part J_1, ...],

    J_theta J_theta^T = sum_i (||r_{i-1}||^2 + 1) J_i J_i^T     (the +1 from the bias),
    (J_theta^T c)_{W_i} = (J_i^T c) r_{i-1}^T,  (J_theta^T c)_{b_i} = J_i^T c,

so a Gauss-Newton step costs n_L x n_L solves per sample (THEORY.md section 4, Theorem 2).
"""
from __future__ import annotations

from ._backend import eye, namespace, solve
from ._network import Network
from ._updates import Update
from ._validation import check_choice, check_nonempty, check_scalar, check_type

__all__ = ["gn_update", "min_norm_update", "weighted_min_norm_update", "bp_update",
           "per_layer_from_signal"]


def _prep(network, x, delta_L):
    check_type(network, "network", Network)
    x2 = check_nonempty(network._input(x)[0], "x", "the batch-averaged update")
    fp = network._forward(x2)
    d = network.convert(delta_L, "delta_L", ndim=(1, 2))
    d = d[None] if d.ndim == 1 else d
    if d.shape != fp.r[-1].shape:
        raise ValueError(f"delta_L: expected shape {tuple(fp.r[-1].shape)}, "
                         f"got {tuple(d.shape)}")
    return fp, d


def per_layer_from_signal(a_blocks, r, with_bias=True):
    """Delta W_i = (1/B) sum_b a_i r_{i-1}^T and Delta b_i = (1/B) sum_b a_i, from per-layer
    signals a_i (B, n_i) and presynaptic rates r = (r_0, ..., r_{L-1}) (B, n_{i-1}).

    Parameters
    ----------
    a_blocks : sequence of arrays a_i (B, n_i), i = 1..L
    r : sequence of arrays r_{i-1} (B, n_{i-1}), i = 1..L
    with_bias : bool
        Also return Delta b_i (else ``db`` is None).

    Returns
    -------
    Update

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory.gauss_newton import per_layer_from_signal
    >>> up = per_layer_from_signal([np.array([[1.0], [3.0]])], [np.array([[2.0], [4.0]])])
    >>> up.dW, up.db                                 # (1*2 + 3*4) / 2, (1 + 3) / 2
    ((array([[7.]]),), (array([2.]),))
    """
    xp = namespace(a_blocks[0])
    B = a_blocks[0].shape[0]
    dW = tuple(a.T @ ri / B for a, ri in zip(a_blocks, r))
    db = tuple(xp.mean(a, axis=0) for a in a_blocks) if with_bias else None
    return Update(dW, db)


def gn_update(network, x, delta_L, gamma=0.0, include_bias=True):
    """Damped Gauss-Newton update on the parameters, minibatch-size-1 curvature per sample:

        Delta theta = (1/B) sum_b J_theta^T (J_theta J_theta^T + gamma I)^{-1} delta_L

    (gamma = 0: the minimum-norm solution J_theta^+ delta_L of Theorem 2 when J_theta has
    full row rank).  ``include_bias`` adds the biases to theta.

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    delta_L : array (B, n_L) or (n_L,)
        r_L* - r_L^- (= -lambda dLoss/dr_L).
    gamma : float >= 0
        Damping ("gn damping").
    include_bias : bool

    Returns
    -------
    Update

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.gauss_newton import gn_update
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x, d = np.ones(3), np.array([0.01, -0.02])
    >>> theta = gn_update(net, x, d).vector()        # J_theta theta = delta_L (min-norm)
    >>> bool(np.allclose(net.weight_jacobian(x) @ theta, d))
    True
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    fp, d = _prep(network, x, delta_L)
    return _gn(fp, network._jacobian_blocks(list(fp.v)), d, gamma, include_bias)


def _gn(fp, Js, d, gamma=0.0, include_bias=True):
    """:func:`gn_update` from a forward pass, the layer Jacobians J_i and delta_L."""
    xp = namespace(d)
    G = gamma * eye(xp, d.shape[1], d) + sum(
        (xp.sum(r * r, axis=1) + (1.0 if include_bias else 0.0))[:, None, None]
        * (Ji @ Ji.mT) for Ji, r in zip(Js, fp.r[:-1]))
    c = solve(G, d[..., None])  # (B, n_L, 1)
    a = [(Ji.mT @ c)[..., 0] for Ji in Js]
    return per_layer_from_signal(a, fp.r[:-1], include_bias)


def min_norm_update(network, x, delta_L, gamma=0.0, rule="voltage", include_bias=True):
    """Damped minimum-norm ("GNT"/"MN") update on the pre-activations, propagated to weights:

        a = J^T (J J^T + gamma I)^{-1} delta_L,   Delta W_i = (1/B) sum_b a_i r_{i-1}^T

    ``rule="nonlinear"`` uses a_i <- phi(v_i^- + a_i) - phi(v_i^-) (THEORY.md section 7).

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    delta_L : array (B, n_L) or (n_L,)
        r_L* - r_L^- (= -lambda dLoss/dr_L).
    gamma : float >= 0
        Damping.
    rule : {"voltage", "nonlinear"}
    include_bias : bool

    Returns
    -------
    Update

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.gauss_newton import min_norm_update
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x, d = np.ones((1, 3)), np.array([[0.1, -0.2]])
    >>> a = net.split(np.linalg.pinv(net.jacobian(x)[0]) @ d[0])          # J^+ delta_L
    >>> bool(np.allclose(min_norm_update(net, x, d).dW[0], np.outer(a[0], x[0])))
    True
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    fp, d = _prep(network, x, delta_L)  # _min_norm checks ``rule``
    return _min_norm(network, fp, network._jacobian(fp.v_stacked), d, gamma, rule,
                     include_bias)


def _min_norm(network, fp, J, d, gamma=0.0, rule="voltage", include_bias=True):
    """:func:`min_norm_update` from a forward pass, the stacked J (B, n_L, N) and delta_L."""
    check_choice(rule, "rule", ("voltage", "nonlinear"))
    G = J @ J.mT + gamma * eye(network.xp, network.n_out, d)
    a = (J.mT @ solve(G, d[..., None]))[..., 0]
    blocks = network.split(a)
    if rule == "nonlinear":
        blocks = [network.phi(i).f(v + ai) - network.phi(i).f(v)
                  for i, (v, ai) in enumerate(zip(fp.v, blocks), start=1)]
    return per_layer_from_signal(blocks, fp.r[:-1], include_bias)


def weighted_min_norm_update(network, x, delta_L):
    """Theorem 3's solution: min sum_i ||r_{i-1}||^2 ||Delta W_i||_F^2 subject to
    sum_i J_i Delta W_i r_{i-1} = delta_L, i.e.
    Delta W_i = (J^+ delta_L)_i r_{i-1}^T / ||r_{i-1}||^2 (weights only; batch-averaged).

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    delta_L : array (B, n_L) or (n_L,)
        r_L* - r_L^- (= -lambda dLoss/dr_L).

    Returns
    -------
    Update
        Delta W_i only (``db`` is None).

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.gauss_newton import weighted_min_norm_update
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x, d = np.ones((1, 3)), np.array([[0.1, -0.2]])
    >>> up, fp = weighted_min_norm_update(net, x, d), net.forward(x)
    >>> lhs = sum(J[0] @ dW @ r[0]                   # the constraint sum_i J_i Delta W_i r_{i-1}
    ...           for J, dW, r in zip(net.layer_jacobians(x), up.dW, fp.r[:-1]))
    >>> bool(np.allclose(lhs, d[0])), up.db
    (True, None)
    """
    fp, d = _prep(network, x, delta_L)
    xp = network.xp
    a = xp.einsum("bij,bj->bi", xp.linalg.pinv(network._jacobian(fp.v_stacked)), d)
    blocks = [ai / xp.maximum(xp.sum(r * r, axis=1, keepdims=True), 1e-300)
              for ai, r in zip(network.split(a), fp.r[:-1])]
    return per_layer_from_signal(blocks, fp.r[:-1], with_bias=False)


def bp_update(network, x, delta_L, include_bias=True):
    """Backpropagation of the output error: (1/B) sum_b J_theta^T delta_L.

    With delta_L = -lambda dLoss/dr_L this is -lambda grad_theta Loss (a descent direction).
    Computed by the backward recursion e_L = D_L delta_L, e_i = D_i W_{i+1}^T e_{i+1}.

    Parameters
    ----------
    network : Network
    x : array (B, n_0) or (n_0,)
    delta_L : array (B, n_L) or (n_L,)
        r_L* - r_L^- (= -lambda dLoss/dr_L).
    include_bias : bool

    Returns
    -------
    Update

    Examples
    --------
    >>> import numpy as np
    >>> import dfc_theory as dfc
    >>> from dfc_theory.gauss_newton import bp_update
    >>> net = dfc.Network.random([3, 4, 2], seed=0)
    >>> x, d = np.ones((1, 3)), np.array([[0.1, -0.2]])
    >>> bool(np.allclose(bp_update(net, x, d).vector(), net.weight_jacobian(x)[0].T @ d[0]))
    True
    """
    fp, d = _prep(network, x, delta_L)
    return _bp(network, fp, d, include_bias)


def _bp(network, fp, d, include_bias=True):
    """:func:`bp_update` from a forward pass and delta_L."""
    e = [network.phi(network.depth).df(fp.v[-1]) * d]  # e_L, then e_i prepended
    for i in range(network.depth - 1, 0, -1):
        e.insert(0, network.phi(i).df(fp.v[i - 1]) * (e[0] @ network.weights[i]))
    return per_layer_from_signal(e, fp.r[:-1], include_bias)
