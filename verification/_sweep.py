"""A theorem check as a sweep over independent random draws behind named premise filters.

Every draw of a sweep gets its own generator (``Context.draw_rng(name, k)``); premises are
evaluated with :mod:`dfc_theory.testing.premises` (``check_premises`` on the
:class:`~dfc_theory.testing.premises.Draw` of each grid point) and counted with its
``Sweep``: a draw that violates a premise is excluded under the premise's name, never
silently dropped.  A sweep stops once it has judged the required number of draws, or after
``max_tries`` draws (then the check fails for want of judged draws).

The verdict of a theorem check (:func:`theorem_result`): every judged draw passes, at least
the required number were judged, and the negative control -- the same measurement with one
named premise broken, on the same draws -- fails on at least one of them (a check whose
control passes cannot tell the claim from its negation, so it fails).
"""
from __future__ import annotations

import numpy as np

from dfc_theory.testing.premises import Draw, Sweep, check_premises

from ._common import loglog_slope
from .result import Result


class SweepRun:
    """Draw loop and bookkeeping of one sweep.

    Iterating yields ``(k, rng, j)``: the draw index, its generator and the number of draws
    judged so far (for :func:`verification._draws.sizes_for`).
    """

    def __init__(self, ctx, name, n=None, max_tries=None):
        self.ctx = ctx
        self.name = name
        self.n = int(n if n is not None else ctx.n_draws())
        self.max_tries = int(max_tries if max_tries is not None else 4 * self.n + 12)
        self.sweep = Sweep([])
        self.rows = []
        self.curves, self.control_curves = [], []

    def __iter__(self):
        for k in range(self.max_tries):
            if self.sweep.judged >= self.n:
                return
            yield k, self.ctx.draw_rng(self.name, k), self.sweep.judged

    def judge(self, pairs):
        """Count a draw: ``pairs`` = [(premise name, holds), ...]; True when all hold."""
        return self.sweep.judge(None, extra=list(pairs))

    def exclude(self, reason):
        """Count a draw excluded before its premises could be evaluated."""
        self.sweep.exclude(reason)

    def add(self, row):
        """Record a judged draw: a dict with ``passed`` (bool) and ``control`` (bool or None:
        did the control measurement pass its rule), plus anything worth reporting."""
        self.rows.append(row)

    def add_curves(self, x, y, yc=None):
        """Keep a judged draw's curve (and its control's) for the sweep's plot."""
        self.curves.append((np.asarray(x, float), np.asarray(y, float)))
        if yc is not None:
            self.control_curves.append((np.asarray(x, float), np.asarray(yc, float)))

    @property
    def judged(self):
        return self.sweep.judged

    def counts(self):
        return self.sweep.counts()


def premise_pairs(draws, names, params=None):
    """Evaluate the named premises on every grid-point Draw; return [(name, holds)] with the
    first failure (or every premise holding)."""
    for d in draws:
        failed, _ = check_premises(d, names, params)
        if failed is not None:
            return [(failed, False)]
    return [(n, True) for n in names]


def make_draw(system, x, target, label="", **meta):
    return Draw(system, np.atleast_2d(x), np.atleast_2d(target), label=label, meta=meta)


def theorem_result(run, *, name, claim, reference, predicted, tolerance, why,
                   measured, worst, control_premise, control_measured, plot=None,
                   provenance="paper", details=None, extra_ok=True, extra_why=None,
                   aggregate=None):
    """Assemble the Result of a theorem sweep (module docstring for the verdict).

    ``aggregate`` = (claim holds, control holds): for a claim about typical values over the
    draws (a figure's message, not a theorem), the verdict uses these sweep-level rules
    instead of "every judged draw passes"; the per-draw verdicts are still reported."""
    rows = run.rows
    judged = len(rows)
    n_ok = sum(bool(r["passed"]) for r in rows)
    ctrl = [r["control"] for r in rows if r.get("control") is not None]
    ctrl_fail = sum(not c for c in ctrl)
    control_passed = bool(ctrl) and ctrl_fail == 0
    draws_ok = n_ok == judged
    if aggregate is not None:
        draws_ok, control_passed = bool(aggregate[0]), bool(aggregate[1])
    enough = judged >= run.n
    passed = bool(enough and draws_ok and ctrl and not control_passed and extra_ok)
    reasons = []
    if not enough:
        reasons.append(f"only {judged} of {run.n} required draws judged")
    if not draws_ok:
        reasons.append("the sweep-level rule failed" if aggregate is not None
                       else f"{judged - n_ok} judged draw(s) failed")
    if not ctrl:
        reasons.append("no control measurement")
    elif control_passed:
        reasons.append("the negative control did not fail")
    if not extra_ok and extra_why:
        reasons.append(extra_why)
    det = dict(details or {})
    if reasons:
        det["why it failed"] = "; ".join(reasons)
    return Result(
        name=name, claim=claim, reference=reference, predicted=predicted,
        measured={"judged draws passing": f"{n_ok}/{judged}", **measured},
        tolerance=tolerance, why=why, passed=passed, provenance=provenance, plot=plot,
        details=det, kind="theorem", draws=run.counts(),
        control={"premise_broken": control_premise, "measured": control_measured,
                 "draws failing": f"{ctrl_fail}/{len(ctrl)}", "passed": control_passed},
        worst=worst, per_draw=rows)


def consistency_result(run, *, name, claim, reference, predicted, tolerance, why, measured,
                       worst, provenance="paper", details=None, plot=None):
    """A consistency check (an identity by construction) over a sweep of draws."""
    rows = run.rows
    n_ok = sum(bool(r["passed"]) for r in rows)
    passed = bool(len(rows) >= run.n and n_ok == len(rows))
    return Result(
        name=name, claim=claim, reference=reference, predicted=predicted,
        measured={"draws passing": f"{n_ok}/{len(rows)}", **measured}, tolerance=tolerance,
        why=why, passed=passed, provenance=provenance, plot=plot, details=dict(details or {}),
        kind="consistency", draws=run.counts(), worst=worst, per_draw=rows)


def worst_of(rows, key, what, mode="max"):
    """{"what", "value", "draw"} of the row with the extreme ``key`` (mode "max", "min",
    "absmin" (the smallest |value|) or "absdev:<target>" (the largest |value - target|))."""
    vals = [(r[key], i) for i, r in enumerate(rows) if r.get(key) is not None
            and np.isfinite(r[key])]
    if not vals:
        return {"what": what, "value": None}
    if mode == "absmin":
        v, i = min(vals, key=lambda p: abs(p[0]))
    elif mode.startswith("absdev:"):
        t = float(mode.split(":")[1])
        v, i = max(vals, key=lambda p: abs(p[0] - t))
    elif mode == "min":
        v, i = min(vals)
    else:
        v, i = max(vals)
    return {"what": what, "value": float(v), "draw": rows[i].get("network", i)}


def minmax(rows, key):
    """(min, max) of ``row[key]`` over the rows that have a value (None, None when none)."""
    v = [r[key] for r in rows if r.get(key) is not None]
    return (float(np.min(v)), float(np.max(v))) if v else (None, None)


def extreme(rows, key, mode="max"):
    """max (or min) of ``row[key]`` over the rows that have a value, None when none."""
    v = [r[key] for r in rows if r.get(key) is not None]
    if not v:
        return None
    return float(np.max(v) if mode == "max" else np.min(v))


def slope_key(target):
    """Row key of the slope's distance to its prediction: '|slope - 1|', '|slope + 1|'."""
    return f"|slope - {target:g}|" if target >= 0 else f"|slope + {-target:g}|"


def slope_verdict(x, y, yc, target, tol, at_least=False):
    """Fitted log-log slopes of a judged draw (``y``) and of its control (``yc`` or None):
    {"slope", slope_key(target), "control slope", "passed", "control"}, passing within
    ``tol`` of ``target`` -- or, with ``at_least``, for any slope >= target - tol (an
    O(x^target) claim bounds the order from below: a vanishing leading coefficient makes the
    decrease faster, which the claim allows)."""
    s = loglog_slope(x, y)
    cs = None if yc is None else loglog_slope(x, yc)

    def ok(v):
        return bool(v >= target - tol) if at_least else bool(abs(v - target) <= tol)

    return {"slope": s, slope_key(target): abs(s - target), "control slope": cs,
            "passed": ok(s), "control": None if cs is None else ok(cs)}
