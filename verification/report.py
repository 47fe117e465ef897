"""Printing and writing the verification report (report.md, report.json).

report.md opens with a one-screen summary, then three sections: the theorem checks
(measured, swept over random draws behind named premises, each with its negative
control), the consistency checks (identities that hold by construction: they guard the
code and never count as verifying a theorem), and the full-scale checks (run records).
"""
from __future__ import annotations

import json
import os
import platform
import textwrap
import time

import numpy as np

from .result import KINDS, fmt

PROVENANCE = {
    "paper": "a result stated in the paper",
    "ours": "our derivation (not in the paper), labelled as such in THEORY.md",
    "proxy": "a proxy for a criterion the published material does not give",
    "reference-code": "a convention of the paper's reference code",
}
SECTIONS = {
    "theorem": ("Theorem checks",
                "Each is measured from the dynamics or from a steady state computed "
                "independently of the formula under test, over independent random draws "
                "(network, input, Q, controller) behind named premise filters; a draw that "
                "violates a premise is excluded and counted.  Each carries its negative "
                "control: the same measurement with one named premise broken, which must "
                "fail."),
    "consistency": ("Consistency checks",
                    "Identities that hold by construction (the same linear solve, a symmetry "
                    "of the equations, a closed form's structure).  They guard the "
                    "implementation; they do not verify a theorem."),
    "fullscale": ("Full-scale checks",
                  "Judged on training run records of the torch backend (no random-draw "
                  "sweep, no negative control): reported separately."),
}


def print_table(results):
    cols = ("result", "kind", "judged", "worst", "control", "verdict")
    rows = [(r.name, r.kind, _draws_text(r), _short(_worst_text(r), 34), _control_text(r),
             "PASS" if r.passed else "FAIL") for r in results]
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    print("\n" + line + "\n" + "-" * len(line))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _draws_text(r):
    d = r.draws
    if not d:
        return "-"
    ex = sum(d.get("excluded", {}).values())
    return f"{d['judged']}/{d['tried']}" + (f" ({ex} excl.)" if ex else "")


def _worst_text(r, what=False):
    w = r.worst
    if not w or w.get("value") is None:
        return "-"
    head = f"{w.get('what')} = " if what else ""
    return f"{head}{fmt(w['value'])} ({w.get('draw', '')})"


def _control_text(r):
    c = r.control
    if not c:
        return "-"
    return f"fails {c.get('draws failing', '?')}" if not c.get("passed") else "PASSES (defect)"


def _short(s, n=28):
    s = str(s)
    return s if len(s) <= n else s[:n - 1] + "~"


def write_reports(results, ctx, elapsed, cpu=None, jobs=1):
    out = ctx.out
    n_pass = sum(r.passed for r in results)
    by_kind = {k: [r for r in results if r.kind == k] for k in KINDS}
    meta = {"mode": ctx.mode, "seed": ctx.seed, "seconds": round(elapsed, 2),
            "cpu_seconds": None if cpu is None else round(cpu, 2), "jobs": jobs,
            "load_average": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "numpy": np.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "passed": n_pass,
            "total": len(results),
            "kinds": {k: {"total": len(v), "passed": sum(r.passed for r in v)}
                      for k, v in by_kind.items()}}
    js = out / "report.json"
    js.write_text(json.dumps({"meta": meta, "results": [r.to_json() for r in results]},
                             indent=1))
    md = out / "report.md"
    md.write_text(_markdown(results, meta))
    return md, js


def _markdown(results, meta):
    n_pass, n = meta["passed"], meta["total"]
    kinds = meta["kinds"]
    cpu = f", CPU {meta['cpu_seconds']:.0f} s" if meta.get("cpu_seconds") is not None else ""
    lines = ["# dfc-theory verification report", "",
             f"**{n_pass}/{n} checks passed** ({meta['mode']} mode, seed {meta['seed']}, "
             f"{meta['seconds']:.0f} s{cpu}, {meta['jobs']} process(es), load "
             f"{meta['load_average']}, Python {meta['python']}, NumPy {meta['numpy']}): "
             + ", ".join(f"{kinds[k]['passed']}/{kinds[k]['total']} {k}" for k in KINDS
                         if kinds[k]["total"]) + ".", "",
             "Each check computes its *measured* value from the exact dynamics or steady state "
             "of a DFC system (Meulemans et al., NeurIPS 2021) and compares it with the "
             "theory's *prediction* at a tolerance whose origin is stated.  Provenance says "
             "whether a statement is the paper's, our own derivation, or a proxy.", "",
             "## Summary", "",
             "| verdict | result | kind | draws judged/tried | worst judged draw | "
             "negative control | provenance |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {'PASS' if r.passed else '**FAIL**'} | [{r.name}](#{r.name}) | "
                     f"{r.kind} | {_draws_text(r)} | {_cell(_short(_worst_text(r, True), 70))} | "
                     f"{_cell(_control_text(r))} | {r.provenance} |")
    lines.append("")
    for kind in KINDS:
        group = [r for r in results if r.kind == kind]
        if not group:
            continue
        title, intro = SECTIONS[kind]
        lines += [f"## {title}", "", intro, ""]
        current = None
        for r in group:
            mod = r.details.get("module", "")
            if mod != current:
                doc = _module_intro(mod)
                lines += [f"### Module `{mod}`", ""] + ([doc, ""] if doc else [])
                current = mod
            lines += _result_md(r)
    return "\n".join(lines)


def _result_md(r):
    lines = [f'<a id="{r.name}"></a>', "",
             f"#### {r.name}: {'PASS' if r.passed else 'FAIL'}", "",
             f"*Claim* ({r.reference}; {PROVENANCE.get(r.provenance, r.provenance)}): "
             f"{r.claim}", "",
             f"- predicted: {fmt(r.predicted)}",
             f"- measured: {fmt(r.measured)}",
             f"- tolerance: {r.tolerance}",
             f"- why this tolerance: {r.why}"]
    if r.draws:
        ex = r.draws.get("excluded") or {}
        lines.append(f"- draws: {r.draws['judged']} judged of {r.draws['tried']} tried; "
                     f"excluded by premise: {fmt(ex) if ex else 'none'}")
    if r.control:
        c = r.control
        lines.append(f"- negative control: {c['premise_broken']} -- measured "
                     f"{fmt(c.get('measured'))}; fails on {c.get('draws failing')} draws "
                     f"({'control PASSED: the check cannot tell the claim from its negation' if c.get('passed') else 'as it must'})")
    if r.worst:
        lines.append(f"- worst judged draw: {_worst_text(r, True)}")
    lines.append(f"- time: {r.seconds:.2f} s")
    for k, v in r.details.items():
        if k in ("module", "traceback") or isinstance(v, np.ndarray) and v.size > 12:
            continue
        if isinstance(v, (list, tuple)) and len(v) > 12:
            continue
        lines.append(f"- {k}: {fmt(v)}")
    if r.per_draw:
        lines += ["", "<details><summary>per judged draw</summary>", "", *_draw_table(r.per_draw),
                  "", "</details>"]
    if "traceback" in r.details:
        lines += ["", "```", textwrap.shorten(r.details["traceback"], 3000), "```"]
    if r.plot:
        lines += ["", f"![{r.name}]({r.plot})"]
    lines.append("")
    return lines


def _draw_table(rows):
    keys = []
    for row in rows:
        for k in row:
            if k not in keys:
                keys.append(k)
    out = ["| " + " | ".join(_cell(k) for k in keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        out.append("| " + " | ".join(_cell(_short(fmt(row.get(k, "")), 40)) for k in keys)
                   + " |")
    return out


def _module_intro(name):
    """The check module's docstring: what is verified, in words."""
    import importlib
    try:
        doc = importlib.import_module(f"verification.{name}").__doc__ or ""
    except ImportError:
        return ""
    return " ".join(doc.split())


def _cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")
