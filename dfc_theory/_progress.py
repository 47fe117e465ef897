"""Progress lines of long runs (the NumPy training loop and the torch trainer)."""
from __future__ import annotations

import math
import sys
import time

__all__ = ["fmt_time", "Progress"]


def fmt_time(s):
    """A duration in seconds as "42 s", "3.5 min" or "1.25 h" ("?" when not finite)."""
    if not math.isfinite(s):
        return "?"
    return f"{s:.0f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h")


class Progress:
    """Prints "[label] message" lines; ``force=False`` lines at most every ``every`` seconds."""

    def __init__(self, label, enabled=True, stream=None, every=15.0):
        self.label, self.enabled, self.every = label, enabled, every
        self.stream = sys.stdout if stream is None else stream
        self.last = time.perf_counter()

    def __call__(self, msg, force=True):
        if not self.enabled:
            return
        now = time.perf_counter()
        if force or now - self.last > self.every:
            print(f"[{self.label}] {msg}", file=self.stream, flush=True)
            self.last = now
