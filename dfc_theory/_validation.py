"""Input checks shared by the public API: every error names the argument."""
from __future__ import annotations

import numbers

import numpy as np


def as_float_array(value, name, ndim=None, shape=None, allow_nonfinite=False):
    """Convert ``value`` to a float64 array and check its rank, shape and finiteness.

    ``shape`` may contain ``None`` for free dimensions.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}") from exc
    if ndim is not None:
        ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in ndims:
            raise ValueError(f"{name}: expected {' or '.join(map(str, ndims))} dimensions, "
                             f"got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite values (nan or inf)")
    return arr


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


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def as_batch(x, name, n):
    """Return ``(x2d, single)`` with ``x2d`` of shape (B, n); ``single`` if ``x`` was 1-D."""
    arr = as_float_array(x, name, ndim=(1, 2))
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.shape[1] != n:
        raise ValueError(f"{name}: expected shape (B, {n}) or ({n},), got {np.shape(x)}")
    return arr, single
