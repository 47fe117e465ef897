"""Input checks and conversions shared by every public entry point of both backends.

Every error names the argument and says what was expected.  Arrays are converted with
:func:`as_array`: into the namespace, dtype and device of ``like`` (the network or system a
function works on) when given; otherwise a tensor keeps its own dtype and device and
anything else becomes a float64 NumPy array.  Finiteness is checked for NumPy and Python
inputs; tensors only with ``strict`` (parameters at construction), since scanning a tensor
on a GPU costs a device synchronisation -- non-finite values then reach the results, whose
``converged`` / ``diverged`` flags report them.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._backend import device as _device

__all__ = ["as_array", "as_batch", "check_scalar", "check_choice", "check_int",
           "resolve_dtype", "resolve_device", "is_tensor"]

_DTYPES = ("float16", "bfloat16", "float32", "float64")


def is_tensor(value):
    """True for a torch tensor (without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def resolve_dtype(dtype):
    """A floating ``torch.dtype`` from a torch dtype, a NumPy dtype or a name (None stays)."""
    if dtype is None:
        return None
    import torch
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    key = dtype if isinstance(dtype, str) else str(dtype)[6:] if isinstance(
        dtype, torch.dtype) else np.dtype(dtype).name
    key = {"float": "float32", "double": "float64"}.get(key, key)
    if key not in _DTYPES:
        raise ValueError(f"dtype: expected a floating dtype such as 'float32' or "
                         f"'float64', got {dtype!r}")
    return getattr(torch, key)


def resolve_device(dev):
    """A ``torch.device``; ``"auto"`` means CUDA when available, else the CPU (None stays)."""
    if dev is None:
        return None
    import torch
    if dev == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(dev)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {dev!r}"
                         ) from exc
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {dev!r} requested but CUDA is not available here "
                         f"(torch {torch.__version__}); use device='cpu' or 'auto'")
    return out


def _to_tensor(value, name, dtype, dev):
    import torch
    if not is_tensor(value):
        arr = _numeric(value, name)
        if dtype is None:
            dtype = torch.from_numpy(arr[:0]).dtype if arr.dtype.kind == "f" \
                and arr.dtype != np.float16 else torch.get_default_dtype()
        value = torch.from_numpy(np.array(arr, copy=True))
    elif dtype is None and not value.is_floating_point():
        dtype = torch.get_default_dtype()
    return value.to(device=dev if dev is not None else value.device,
                    dtype=dtype if dtype is not None else value.dtype)


def _numeric(value, name):
    try:
        return np.asarray(value) if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
            else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}") \
            from exc


def as_array(value, name, like=None, ndim=None, shape=None, allow_nonfinite=False,
             strict=False, dtype=None, device=None, tensor=False):
    """Convert ``value`` to a floating array and check its rank, shape and finiteness.

    Parameters
    ----------
    like : array, optional
        Convert into its namespace, dtype and device (NumPy: float64).
    ndim : int or tuple of int, optional
    shape : tuple, optional
        ``None`` entries are free dimensions.
    allow_nonfinite, strict : bool
        Skip the finiteness check; check tensors too (module docstring).
    dtype, device : optional
        Torch only: the target dtype / device (they imply a tensor result).
    tensor : bool
        Return a tensor even without ``dtype`` / ``device`` (float NumPy arrays keep their
        dtype, anything else gets torch's default dtype).
    """
    was_tensor = is_tensor(value)
    if like is not None and not isinstance(like, np.ndarray):
        arr = _to_tensor(value, name, like.dtype, _device(like))
    elif like is None and (tensor or was_tensor or dtype is not None or device is not None):
        arr = _to_tensor(value, name, resolve_dtype(dtype), resolve_device(device))
    else:
        if was_tensor:
            value = value.detach().cpu().double().numpy()
        arr, was_tensor = _numeric(value, name).astype(np.float64, copy=False), False
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in ndims:
            raise ValueError(f"{name}: expected {' or '.join(map(str, ndims))} dimensions, "
                             f"got shape {tuple(arr.shape)}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a
                                         for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {tuple(arr.shape)}")
    if not allow_nonfinite and (strict or not was_tensor):
        finite = np.all(np.isfinite(arr)) if isinstance(arr, np.ndarray) \
            else bool(arr.isfinite().all())
        if not finite:
            raise ValueError(f"{name}: contains non-finite values (nan or inf)")
    return arr


def as_batch(x, name, n, like=None):
    """``(x2, single)`` with ``x2`` of shape (B, n); ``single`` if ``x`` was 1-D."""
    arr = as_array(x, name, like=like, ndim=(1, 2))
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.shape[1] != n:
        raise ValueError(f"{name}: expected shape (B, {n}) or ({n},), "
                         f"got {tuple(np.shape(x)) if not is_tensor(x) else tuple(x.shape)}")
    return arr, single


def check_scalar(value, name, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """Check a real scalar lies in [low, high] (or the open variants) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        rel = ">=" if low_inclusive else ">"
        raise ValueError(f"{name}: must be {rel} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        rel = "<=" if high_inclusive else "<"
        raise ValueError(f"{name}: must be {rel} {high}, got {value}")
    return value


def check_int(value, name, low=1):
    """Check an integer >= ``low`` (bools rejected) and return it as int."""
    ok = not isinstance(value, bool) and isinstance(value, (numbers.Real, np.integer))
    if not ok or int(value) != value or value < low:
        what = {1: "a positive integer", 0: "a non-negative integer"}.get(
            low, f"an integer >= {low}")
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def check_choice(value, name, choices):
    """Check ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value
