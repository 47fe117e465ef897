"""The outcome of one verification check (DESIGN.md, "Verification results")."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass
class Context:
    """What every check receives: sweep size, seed, and where to put plots."""

    mode: str = "quick"  # "quick" | "full"
    seed: int = 0
    out: Path = Path("report")

    @property
    def full(self):
        return self.mode == "full"

    def rng(self, offset=0):
        return np.random.default_rng(self.seed + offset)


@dataclass
class Result:
    """One verified statement.

    name: short id; claim: one sentence with its THEORY.md reference; predicted, measured:
    values (numbers or short strings); tolerance: the acceptance rule; why: where that rule
    comes from; passed: the verdict; provenance: "paper", "ours" or "proxy" (THEORY.md
    labels); plot: file name of the plot behind the check (relative to the report folder);
    details: anything else worth reporting (arrays are summarised in report.json).
    """

    name: str
    claim: str
    reference: str
    predicted: Any
    measured: Any
    tolerance: str
    why: str
    passed: bool
    provenance: str = "paper"
    plot: Optional[str] = None
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self):
        d = {k: getattr(self, k) for k in ("name", "claim", "reference", "predicted", "measured",
                                           "tolerance", "why", "passed", "provenance", "plot",
                                           "seconds")}
        d["details"] = self.details
        return _jsonable(d)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if np.isfinite(f) else str(f)
    if isinstance(o, Path):
        return str(o)
    return o


def fmt(v):
    """Compact text for tables."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + "}"
    return str(v)
