"""Input checks and conversions shared by every public entry point of both backends.

Every error names the argument and says what was expected.  :func:`as_array` converts into
the namespace, dtype and device of ``like`` (the network a function works on) when given;
otherwise a tensor keeps its own and anything else becomes float64 NumPy.  Only real numbers
pass (complex only where documented: the spectral measures).  Finiteness is checked for
NumPy and Python inputs, for tensors only with ``strict`` (a GPU scan costs a
synchronisation; non-finite values then reach the results' ``converged`` flags).  Public
entry points validate once; the private loops behind them never again.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._backend import device as _device

__all__ = ["as_array", "as_batch", "check_scalar", "check_choice", "check_int", "check_sizes",
           "check_nonempty", "check_type", "as_rng", "resolve_dtype", "resolve_device",
           "is_tensor"]


def is_tensor(value):
    """True for a torch tensor (without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def resolve_dtype(dtype):
    """A floating ``torch.dtype`` from a torch dtype, a NumPy dtype or a name (None stays)."""
    if dtype is None:
        return None
    import torch
    key = (str(dtype)[len("torch."):] if isinstance(dtype, torch.dtype)
           else dtype if isinstance(dtype, str) else np.dtype(dtype).name)
    key = {"float": "float32", "double": "float64"}.get(key, key)
    if key not in ("float16", "bfloat16", "float32", "float64"):
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


def _reject(name, what):
    raise TypeError(f"{name}: expected a numeric array of real numbers, got {what}")


def _numeric(value, name, complex_ok=False):
    """``value`` as a NumPy array of real (or, with ``complex_ok``, complex) numbers."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested sequences
        _reject(name, f"{type(value).__name__} (not a rectangular array)")
    kind = arr.dtype.kind
    if kind not in "fiu" and not (complex_ok and kind == "c"):
        _reject(name, type(value).__name__ if arr.ndim == 0 else {
            "b": "booleans", "c": "complex numbers", "O": "objects", "U": "strings"}.get(
                kind, str(arr.dtype)))
    return arr


def _tensor_kind(value, name, complex_ok):
    """Refuse bool and (unless ``complex_ok``) complex tensors; True for complex ones."""
    if str(value.dtype) == "torch.bool" or (value.dtype.is_complex and not complex_ok):
        _reject(name, "booleans" if str(value.dtype) == "torch.bool" else "complex numbers")
    return value.dtype.is_complex


def _to_tensor(value, name, dtype, dev, complex_ok=False):
    import torch
    if not is_tensor(value):
        value = torch.from_numpy(np.array(_numeric(value, name, complex_ok), copy=True))
    elif _tensor_kind(value, name, complex_ok):
        dtype = None
    if dtype is None and not (value.is_floating_point() or value.dtype.is_complex):
        dtype = torch.get_default_dtype()  # floating and complex inputs keep their dtype
    return value.to(device=dev, dtype=dtype)


def as_array(value, name, like=None, ndim=None, shape=None, allow_nonfinite=False,
             strict=False, dtype=None, device=None, tensor=False, complex_ok=False):
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
    complex_ok : bool
        Keep complex input complex (NumPy: complex128) instead of refusing it.
    """
    was_tensor = is_tensor(value)
    if like is not None and not isinstance(like, np.ndarray):
        arr = _to_tensor(value, name, like.dtype, _device(like))
    elif like is None and (tensor or was_tensor or dtype is not None or device is not None):
        arr = _to_tensor(value, name, resolve_dtype(dtype), resolve_device(device), complex_ok)
    else:
        if was_tensor:
            value = value.detach().cpu()
            value = (value if _tensor_kind(value, name, complex_ok) else value.double()).numpy()
        arr, was_tensor = _numeric(value, name, complex_ok), False
        arr = arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64, copy=False)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims is not None and arr.ndim not in ndims:
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
        raise ValueError(f"{name}: expected shape (B, {n}) or ({n},), got {tuple(np.shape(x))}")
    return arr, single


def check_nonempty(arr, name, what="the batch average"):
    """Refuse an empty batch (B = 0) where ``what`` (e.g. a batch mean) is undefined."""
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (B = 0); {what} is undefined")
    return arr


def check_scalar(value, name, low=None, high=None, low_inclusive=True, high_inclusive=True,
                 optional=False):
    """Check a real scalar lies in [low, high] (or the open variants) and return it as float
    (-0.0 becomes 0.0); ``optional`` lets None through."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    value = float(value) + 0.0
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise ValueError(f"{name}: must be {'>=' if low_inclusive else '>'} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise ValueError(f"{name}: must be {'<=' if high_inclusive else '<'} {high}, got {value}")
    return value


def check_int(value, name, low=1):
    """Check an integer >= ``low`` (bools rejected; an integral float such as 3.0 passes)
    and return it as int."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
    if not (ok and math.isfinite(value) and int(value) == value and value >= low):
        what = {1: "a positive integer", 0: "a non-negative integer"}.get(
            low, f"an integer >= {low}")
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def check_sizes(sizes):
    """Layer widths [n_0, ..., n_L]: a sequence of at least two positive integers."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes: expected a sequence of layer widths, got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes: need >= 2 widths, got {list(sizes)}")
    return [check_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]


def as_rng(seed, name="seed"):
    """``numpy.random.default_rng(seed)`` for None, an integer >= 0 (bools refused) or a
    numpy Generator (returned as is)."""
    if not (seed is None or isinstance(seed, np.random.Generator)):
        seed = check_int(seed, name, low=0)
    return np.random.default_rng(seed)


def check_type(value, name, cls):
    """Check ``value`` is an instance of ``cls`` (a class of the library) and return it."""
    if not isinstance(value, cls):
        raise TypeError(f"{name}: expected a {cls.__module__.split('.')[0]}.{cls.__name__}, "
                        f"got {type(value).__name__}")
    return value


def check_choice(value, name, choices):
    """Check ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value
