"""Printing and writing the verification report (report.md, report.json)."""
from __future__ import annotations

import json
import platform
import textwrap
import time

import numpy as np

from .result import fmt

PROVENANCE = {
    "paper": "a result stated in the paper",
    "ours": "our derivation (not in the paper), labelled as such in THEORY.md",
    "proxy": "a proxy for a criterion the published material does not give",
    "reference-code": "a convention of the paper's reference code",
}


def print_table(results):
    cols = ("result", "predicted", "measured", "tolerance", "verdict")
    rows = [(r.name, _short(fmt(r.predicted)), _short(fmt(r.measured)), _short(r.tolerance, 38),
             "PASS" if r.passed else "FAIL") for r in results]
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    print("\n" + line + "\n" + "-" * len(line))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _short(s, n=28):
    s = str(s)
    return s if len(s) <= n else s[:n - 1] + "~"


def write_reports(results, ctx, elapsed):
    out = ctx.out
    n_pass = sum(r.passed for r in results)
    meta = {"mode": ctx.mode, "seed": ctx.seed, "seconds": round(elapsed, 2),
            "python": platform.python_version(), "numpy": np.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "passed": n_pass,
            "total": len(results)}
    js = out / "report.json"
    js.write_text(json.dumps({"meta": meta, "results": [r.to_json() for r in results]},
                             indent=2))
    md = out / "report.md"
    md.write_text(_markdown(results, meta))
    return md, js


def _markdown(results, meta):
    n_pass, n = meta["passed"], meta["total"]
    lines = ["# dfc-theory verification report", "",
             f"**{n_pass}/{n} checks passed** ({meta['mode']} mode, seed {meta['seed']}, "
             f"{meta['seconds']:.0f} s, Python {meta['python']}, NumPy {meta['numpy']}).", "",
             "Each check below computes its *measured* value from the exact dynamics or steady "
             "state of a DFC system (Meulemans et al., NeurIPS 2021) and compares it with the "
             "theory's *prediction* at a tolerance whose origin is stated. "
             "Provenance says whether a statement is the paper's, our own derivation, or a "
             "proxy.", "",
             "## Summary", "",
             "| verdict | result | predicted | measured (headline) | provenance |",
             "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {'PASS' if r.passed else '**FAIL**'} | [{r.name}](#{r.name}) | "
                     f"{_cell(_short(fmt(r.predicted), 40))} | "
                     f"{_cell(_short(fmt(r.measured), 70))} | {r.provenance} |")
    lines += [""]
    current = None
    for r in results:
        mod = r.details.get("module", "")
        if mod != current:
            lines += [f"## {mod}", ""]
            intro = _module_intro(mod)
            if intro:
                lines += [intro, ""]
            current = mod
        lines += [f'<a id="{r.name}"></a>', "",
                  f"### {r.name}: {'PASS' if r.passed else 'FAIL'}", "",
                  f"*Claim* ({r.reference}; {PROVENANCE.get(r.provenance, r.provenance)}): "
                  f"{r.claim}", "",
                  f"- predicted: {fmt(r.predicted)}",
                  f"- measured: {fmt(r.measured)}",
                  f"- tolerance: {r.tolerance}",
                  f"- why this tolerance: {r.why}",
                  f"- time: {r.seconds:.2f} s"]
        for k, v in r.details.items():
            if k in ("module", "traceback") or isinstance(v, np.ndarray) and v.size > 12:
                continue
            if isinstance(v, (list, tuple)) and len(v) > 12:
                continue
            lines.append(f"- {k}: {fmt(v)}")
        if "traceback" in r.details:
            lines += ["", "```", textwrap.shorten(r.details["traceback"], 3000), "```"]
        if r.plot:
            lines += ["", f"![{r.name}]({r.plot})"]
        lines.append("")
    return "\n".join(lines)


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
