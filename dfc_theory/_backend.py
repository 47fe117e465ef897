"""Array backends: the numerics of the library are written once against the array API
standard (through ``array-api-compat``) and run on NumPy arrays (float64, the exact
reference) or PyTorch tensors (any dtype and device).

A public function resolves its namespace ``xp`` once, from the arrays it owns (a network's
weights) or is given; loops never resolve it again.  Here live the operations the standard
lacks or that need a backend-specific route.  Random numbers come from NumPy generators (the
standard has none; the Euler scheme on torch may use a ``torch.Generator``).  torch is
imported only inside the functions that tensors reach, so importing this module never
imports torch.
"""
from __future__ import annotations

import contextlib

import array_api_compat
import numpy as np

__all__ = ["namespace", "is_torch", "device", "solve", "affine", "eigvals", "norm",
           "no_grad", "errstate", "to_numpy", "eye", "LU_BATCH_BUG_SIZE"]

#: pytorch/pytorch#142815 (open): on the CPU with more than one thread, batched LU-based
#: solves of matrices larger than ~150 fail ("Pivots given to lu_solve must all be greater
#: or equal to 1").  Above this size batched CPU solves go matrix by matrix, which works.
LU_BATCH_BUG_SIZE = 128

NUMPY = array_api_compat.array_namespace(np.empty(0))
device = array_api_compat.device


def namespace(*arrays):
    """The array-API namespace of ``arrays`` (``array_api_compat.numpy`` or ``.torch``)."""
    return array_api_compat.array_namespace(*arrays)


def is_torch(xp):
    """True for the torch namespace."""
    return xp.__name__.endswith("torch")


def eye(xp, n, like):
    """The n x n identity in the dtype and on the device of ``like``."""
    return xp.eye(n, dtype=like.dtype, device=device(like))


def affine(r, WT, b):
    """r W^T + b for r (B, n), W^T (n, m), b (m,): one ``addmm`` on torch."""
    if isinstance(r, np.ndarray):
        out = r @ WT
        out += b
        return out
    import torch  # only reached with tensors, so torch is present
    return torch.addmm(b, r, WT)


def _one_by_one(A, B, fn, lib):
    """fn(a, b) for every matrix pair of the broadcast batches of A and B, restacked."""
    batch = tuple(lib.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    A2 = lib.broadcast_to(A, batch + tuple(A.shape[-2:])).reshape(-1, *A.shape[-2:])
    B2 = lib.broadcast_to(B, batch + tuple(B.shape[-2:])).reshape(-1, *B.shape[-2:])
    return lib.stack([fn(a, b) for a, b in zip(A2, B2)]).reshape(*batch, *B.shape[-2:])


def solve(A, B):
    """X with A X = B for A (..., n, n), B (..., n, k), batched.

    A singular matrix gets the least-squares (minimum-norm) solution instead of an error on
    both backends (NumPy: ``lstsq`` matrix by matrix; torch: ``solve_ex``, then the
    pseudoinverse where LU failed); callers judge it by its residual.  Works around
    pytorch#142815 (:data:`LU_BATCH_BUG_SIZE`).
    """
    if isinstance(A, np.ndarray):
        try:
            return np.linalg.solve(A, B)
        except np.linalg.LinAlgError:
            return _one_by_one(A, B, lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], np)
    import torch
    if A.device.type == "cpu" and A.ndim > 2 and A.shape[-1] > LU_BATCH_BUG_SIZE \
            and torch.get_num_threads() > 1 and A.shape[:-2].numel() > 1:
        return _one_by_one(A, B, solve, torch)
    X, info = torch.linalg.solve_ex(A, B)
    bad = info != 0
    if bool(bad.any()):
        X = torch.where(bad[..., None, None], torch.linalg.pinv(A) @ B, X)
    return X


def norm(a):
    """The 2-norm of all entries of ``a`` (NumPy's ``linalg.norm`` without an axis)."""
    if isinstance(a, np.ndarray):
        return np.linalg.norm(a)
    import torch
    return torch.linalg.vector_norm(a)


def eigvals(A):
    """Eigenvalues of (a batch of) square matrices, complex (outside the array API)."""
    if isinstance(A, np.ndarray):
        return np.linalg.eigvals(A)
    import torch
    return torch.linalg.eigvals(A)


def no_grad(xp):
    """``torch.no_grad()`` for torch, a null context otherwise."""
    if is_torch(xp):
        import torch
        return torch.no_grad()
    return contextlib.nullcontext()


def errstate(xp, **kwargs):
    """``numpy.errstate(**kwargs)`` for NumPy (torch does not warn)."""
    return np.errstate(**kwargs) if not is_torch(xp) else contextlib.nullcontext()


def to_numpy(a):
    """A NumPy copy of an array or tensor (floats as float64), recursing into tuples and
    lists; None stays None.

    Parameters
    ----------
    a : array, tensor, scalar, tuple or list of these, or None
        A tensor is detached and moved to the CPU first.

    Returns
    -------
    ndarray (same shape; float64 if floating), a tuple/list of them, or None
        Always a copy: writing to it never changes ``a``.

    Examples
    --------
    >>> import numpy as np
    >>> from dfc_theory._backend import to_numpy
    >>> a = np.ones(2, dtype=np.float32)
    >>> b, none = to_numpy((a, None))
    >>> b.dtype, none, b is a
    (dtype('float64'), None, False)
    """
    if a is None:
        return None
    if isinstance(a, (tuple, list)):
        return type(a)(to_numpy(b) for b in a)
    if isinstance(a, np.ndarray):
        return a.astype(np.float64) if a.dtype.kind == "f" else a.copy()
    if type(a).__module__.startswith("torch"):
        a = a.detach().cpu()
        if a.is_floating_point():
            a = a.double()
        return a.numpy().copy()
    return np.asarray(a, dtype=np.float64)
