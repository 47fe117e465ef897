"""The README's verified-results table, generated from a report.json (never typed by hand).

    python -m verification.readme_table report/report.json            # print the table
    python -m verification.readme_table report/report.json --update README.md

``--update`` replaces the text between the markers ``<!-- verified-results:start -->`` and
``<!-- verified-results:end -->`` of the given file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START = "<!-- verified-results:start -->"
END = "<!-- verified-results:end -->"
KIND_ORDER = ("theorem", "consistency", "fullscale")


def _num(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _row(r):
    d = r.get("draws") or {}
    ex = d.get("excluded") or {}
    draws = f"{d.get('judged', '-')}/{d.get('tried', '-')}" if d else "-"
    excl = ", ".join(f"{k} {v}" for k, v in ex.items()) if ex else "-"
    w = r.get("worst") or {}
    worst = "-" if w.get("value") is None else f"{w.get('what')}: {_num(w['value'])}"
    c = r.get("control") or {}
    if c:
        ctrl = (f"{c.get('premise_broken', '').split(';')[0]}: fails on "
                f"{c.get('draws failing', '?')}" if not c.get("passed")
                else "control passed (defect)")
    else:
        ctrl = "-"
    verdict = "PASS" if r.get("passed") else "**FAIL**"
    cells = [f"`{r['name']}`", r.get("kind", "?"), draws, excl, worst, ctrl, verdict]
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def table(report):
    """Markdown table (str) of every result of a report dict, theorem checks first."""
    meta = report.get("meta", {})
    res = sorted(report.get("results", []),
                 key=lambda r: KIND_ORDER.index(r.get("kind", "theorem"))
                 if r.get("kind") in KIND_ORDER else len(KIND_ORDER))
    kinds = {k: sum(r.get("kind") == k for r in res) for k in KIND_ORDER}
    head = (f"Generated from `report.json` ({meta.get('mode', '?')} mode, seed "
            f"{meta.get('seed', '?')}; {meta.get('passed', '?')}/{meta.get('total', '?')} "
            f"passed; " + ", ".join(f"{n} {k}" for k, n in kinds.items() if n) + ") by "
            f"`python -m verification.readme_table`.")
    lines = [head, "",
             "| result | kind | draws judged/tried | excluded (premise: n) | worst judged "
             "draw | negative control (premise broken) | verdict |",
             "|---|---|---|---|---|---|---|"]
    lines += [_row(r) for r in res]
    return "\n".join(lines)


def update(path, text):
    """Replace the block between START and END in the file ``path`` by ``text``."""
    p = Path(path)
    s = p.read_text()
    i, j = s.find(START), s.find(END)
    if i < 0 or j < i:
        raise ValueError(f"--update: {path} has no '{START}' ... '{END}' block")
    p.write_text(s[:i + len(START)] + "\n" + text + "\n" + s[j:])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m verification.readme_table",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("report", help="a report.json written by python -m verification")
    p.add_argument("--update", metavar="FILE", help="rewrite the marked block of FILE")
    args = p.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text())
    except (OSError, ValueError) as exc:
        print(f"python -m verification.readme_table: error: report: cannot read "
              f"{args.report} ({exc})", file=sys.stderr)
        return 2
    text = table(report)
    if args.update:
        try:
            update(args.update, text)
        except (OSError, ValueError) as exc:
            print(f"python -m verification.readme_table: error: {exc}", file=sys.stderr)
            return 2
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
