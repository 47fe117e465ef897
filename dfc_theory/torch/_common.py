"""Tensor conversion and validation shared by the torch backend.

Every public function of :mod:`dfc_theory.torch` accepts NumPy arrays, Python sequences or
tensors.  Dtype and device follow one rule: a function working on a network (or system)
converts its array arguments to that network's dtype and device; a constructor given
tensors keeps their dtype and device unless told otherwise, and given anything else uses
``torch.get_default_dtype()`` (float32 unless changed) on the CPU.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["as_tensor", "resolve_device", "resolve_dtype", "check_finite", "to_numpy",
           "as_batch"]


def resolve_device(device):
    """A ``torch.device``; ``"auto"`` means CUDA when available, else the CPU."""
    if device is None:
        return None
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
                         ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available here "
                         f"(torch {torch.__version__}); use device='cpu' or 'auto'")
    return dev


def resolve_dtype(dtype):
    """A floating ``torch.dtype`` from a torch dtype, a NumPy dtype or a name."""
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        out = dtype
    else:
        names = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                 "bfloat16": torch.bfloat16, "float": torch.float32, "double": torch.float64}
        key = dtype if isinstance(dtype, str) else np.dtype(dtype).name
        if key not in names:
            raise ValueError(f"dtype: expected a floating dtype such as 'float32' or "
                             f"'float64', got {dtype!r}")
        out = names[key]
    if not out.is_floating_point:
        raise ValueError(f"dtype: expected a floating dtype, got {out}")
    return out


def as_tensor(value, name, dtype=None, device=None, ndim=None, shape=None,
              allow_nonfinite=False, strict=False):
    """Convert ``value`` to a floating tensor on ``device`` with ``dtype`` and check it.

    ``dtype``/``device`` None: a tensor keeps its own (integers become the default float
    dtype), anything else becomes ``torch.get_default_dtype()`` on the CPU.  ``shape`` may
    hold None for free dimensions.  Errors name the argument.

    Finiteness is checked for NumPy/sequence inputs (as the NumPy core does) and, with
    ``strict``, for tensors too (parameters at construction).  Tensors passed to the
    per-step functions are not scanned: that would cost a device synchronisation per call;
    non-finite values then propagate to the outputs, where simulations and steady states
    report them in their ``diverged`` / ``converged`` flags.
    """
    is_tensor = isinstance(value, torch.Tensor)
    if is_tensor:
        t = value
        if dtype is None and not t.is_floating_point():
            dtype = torch.get_default_dtype()
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a numeric array or tensor, got "
                            f"{type(value).__name__}") from exc
        if not arr.flags.writeable:
            arr = arr.copy()
        t = torch.from_numpy(arr)
        if dtype is None:
            dtype = torch.get_default_dtype()
    t = t.to(device=device if device is not None else t.device,
              dtype=dtype if dtype is not None else t.dtype)
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if t.ndim not in ndims:
            raise ValueError(f"{name}: expected {' or '.join(map(str, ndims))} dimensions, "
                             f"got shape {tuple(t.shape)}")
    if shape is not None:
        if t.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, t.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {tuple(t.shape)}")
    if not allow_nonfinite and (strict or not is_tensor):
        check_finite(t, name)
    return t


def check_finite(t, name):
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains non-finite values (nan or inf)")
    return t


def as_batch(x, name, n, dtype, device):
    """``(x2d, single)`` with ``x2d`` of shape (B, n) on ``device`` with ``dtype``."""
    t = as_tensor(x, name, dtype=dtype, device=device, ndim=(1, 2))
    single = t.ndim == 1
    if single:
        t = t[None, :]
    if t.shape[1] != n:
        raise ValueError(f"{name}: expected shape (B, {n}) or ({n},), got {tuple(t.shape)}")
    return t, single


def to_numpy(t):
    """A float64 NumPy copy of a tensor (or a tuple/list of tensors)."""
    if isinstance(t, (tuple, list)):
        return type(t)(to_numpy(a) for a in t)
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy().copy()
    return np.asarray(t, dtype=np.float64)


def is_real(value):
    return not isinstance(value, bool) and isinstance(value, (numbers.Real, np.floating,
                                                              np.integer))


#: pytorch/pytorch#142815 (open): on the CPU with more than one thread, batched LU-based
#: solves (torch.linalg.solve, solve_ex, lu_factor, inv) of matrices larger than ~150 fail
#: with "Pivots given to lu_solve must all be greater or equal to 1" (MKL ?LASWP errors).
#: Above this size, batched CPU solves are done matrix by matrix, which is unaffected.
LU_BATCH_BUG_SIZE = 128


def _loop_needed(A):
    return (A.device.type == "cpu" and A.ndim > 2 and A.shape[-1] > LU_BATCH_BUG_SIZE
            and torch.get_num_threads() > 1 and A.shape[:-2].numel() > 1)


def solve(A, B):
    """``torch.linalg.solve(A, B)`` for A (..., n, n) and B (..., n, k), working around
    pytorch#142815 (see :data:`LU_BATCH_BUG_SIZE`)."""
    if not _loop_needed(A):
        return torch.linalg.solve(A, B)
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A2 = A.expand(*batch, *A.shape[-2:]).reshape(-1, *A.shape[-2:])
    B2 = B.expand(*batch, *B.shape[-2:]).reshape(-1, *B.shape[-2:])
    X = torch.stack([torch.linalg.solve(a, b) for a, b in zip(A2, B2)])
    return X.reshape(*batch, *X.shape[-2:])


def solve_ex(A, B):
    """``torch.linalg.solve_ex(A, B)`` (solution, info) with the same workaround."""
    if not _loop_needed(A):
        return torch.linalg.solve_ex(A, B)
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A2 = A.expand(*batch, *A.shape[-2:]).reshape(-1, *A.shape[-2:])
    B2 = B.expand(*batch, *B.shape[-2:]).reshape(-1, *B.shape[-2:])
    outs = [torch.linalg.solve_ex(a, b) for a, b in zip(A2, B2)]
    X = torch.stack([o[0] for o in outs]).reshape(*batch, *B.shape[-2:])
    info = torch.stack([o[1] for o in outs]).reshape(batch)
    return X, info
