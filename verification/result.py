"""The outcome of one verification check (DESIGN.md, "Verification results")."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: what a result is (report sections, README table):
#: "theorem" -- measured from the dynamics or from a steady state computed independently of
#: the formula under test, over a sweep of random draws behind named premises, with a
#: negative control; "consistency" -- an identity that holds by construction (never counts
#: as verifying a theorem); "fullscale" -- judged on training run records of the torch
#: backend (no random-draw sweep and no negative control; reported on its own).
KINDS = ("theorem", "consistency", "fullscale")


@dataclass
class Context:
    """What every check receives: sweep size, seed, and where to put plots.

    ``seed`` is a non-negative integer; every random draw of every check derives its own
    generator from (seed, check name, draw index) (:meth:`draw_rng`), so a draw does not
    depend on how many draws another check made, nor on the order checks run in.
    """

    mode: str = "quick"  # "quick" | "full"
    seed: int = 0
    out: Path = Path("report")
    #: judged draws per sweep when set (tests use a few); None: the mode's count
    n: Optional[int] = None

    @property
    def full(self):
        return self.mode == "full"

    def rng(self, offset=0):
        """A generator for (seed, offset): for choices that are not per-draw."""
        return np.random.default_rng([int(self.seed), int(offset)])

    def draw_rng(self, name, k):
        """The generator of draw ``k`` of the sweep called ``name``."""
        return np.random.default_rng([int(self.seed), zlib.crc32(name.encode()), int(k)])

    def n_draws(self, quick=8, full=50):
        """Judged draws a sweep needs: ``quick`` in quick mode, ``full`` in full mode (or
        ``n`` when set)."""
        if self.n is not None:
            return int(self.n)
        return full if self.full else quick


@dataclass
class Result:
    """One verified statement.

    name: short id; claim: one sentence with its THEORY.md reference; predicted, measured:
    values (numbers or short strings); tolerance: the acceptance rule; why: where that rule
    comes from; passed: the verdict; provenance: "paper", "ours" or "proxy" (THEORY.md
    labels); plot: file name of the plot behind the check (relative to the report folder);
    details: anything else worth reporting (arrays are summarised in report.json).

    kind: one of :data:`KINDS`.  draws: ``{"tried", "judged", "excluded": {premise: n}}`` of
    the sweep (theorem and consistency checks).  control: for theorem checks, the same
    measurement with one named premise broken, ``{"premise_broken", "measured", "passed",
    ...}``; ``passed`` must be False for the check to count.  worst: ``{"what", "value"}``,
    the judged draw farthest from the prediction (for the README table).  per_draw: one row
    per judged draw (network sizes, cond(J J^T), measured values, verdict).
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
    kind: str = "theorem"
    draws: Optional[dict] = None
    control: Optional[dict] = None
    worst: Optional[dict] = None
    per_draw: list = field(default_factory=list)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")

    def to_json(self):
        d = {k: getattr(self, k) for k in ("name", "kind", "claim", "reference", "predicted",
                                           "measured", "tolerance", "why", "passed",
                                           "provenance", "plot", "seconds", "draws",
                                           "control", "worst", "per_draw")}
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
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt(x)}" for k, x in v.items()) + "}"
    return str(v)
