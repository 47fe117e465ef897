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
              allow_nonfinite=False):
    """Convert ``value`` to a floating tensor on ``device`` with ``dtype`` and check it.

    ``dtype``/``device`` None: a tensor keeps its own (integers become the default float
    dtype), anything else becomes ``torch.get_default_dtype()`` on the CPU.  ``shape`` may
    hold None for free dimensions.  Errors name the argument.
    """
    if isinstance(value, torch.Tensor):
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
    if not allow_nonfinite:
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
