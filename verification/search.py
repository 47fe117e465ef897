"""Counterexample search for a claim of the paper: ``python -m verification search``.

    python -m verification search CLAIM [--examples N] [--seed S] [--out DIR]
    python -m verification search --list

Runs Hypothesis over the claim's premise (:data:`dfc_theory.testing.CLAIMS`) and prints
either "no counterexample in N examples" (exit 0) or the minimal (shrunk) counterexample --
sizes, activations, weights, Q, controller, inputs and targets, the measured value against
the claim -- and a ready-to-paste pytest regression test (exit 1).  ``--out DIR`` also
writes ``DIR/counterexample.json`` (reload it with
:func:`dfc_theory.testing.load_counterexample`).  Exit 2: bad command line (one line, as
every command of the project: :mod:`dfc_theory._cli`; ``--out`` is checked before the
search); exit 3: the premise admitted no example at all.

Reproducibility: the search is determined by the claim, ``--examples`` and ``--seed``
(default 0).  Hypothesis' example database is switched off: nothing is read from or written
to ``.hypothesis/``, so an earlier run never changes what a later one finds; to replay a
counterexample keep its JSON or the printed regression test.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dfc_theory._cli import ArgumentParser, check_output_folder, command, positive_int

PROG = "python -m verification search"


def _parser():
    p = ArgumentParser(prog=PROG, description="Search a counterexample to a claim of the "
                       "paper with Hypothesis and shrink it.")
    p.add_argument("claim", nargs="?", help="claim name (see --list)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--examples", type=positive_int, default=100, metavar="N",
                   help="examples to try (Hypothesis max_examples; default 100)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed (default 0); the same seed gives the same search")
    p.add_argument("--out", metavar="DIR", help="write DIR/counterexample.json")
    p.add_argument("--no-shrink", dest="shrink", action="store_false",
                   help="report the first counterexample found, unshrunk (faster)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _fmt(a):
    return np.array2string(np.asarray(a), precision=6, separator=", ", max_line_width=100,
                           threshold=400)


def describe(draw, indent="  "):
    """Multi-line description of a draw: sizes, activations, parameters, controller."""
    net, c = draw.network, draw.controller
    lines = [f"network: sizes {'-'.join(map(str, net.sizes))} (L = {net.depth}), activation "
             f"{net.activation.name}, output activation {net.output_activation.name}"]
    for i, (w, b) in enumerate(zip(net.weights, net.biases), start=1):
        lines.append(f"W_{i} = {_fmt(w)}")
        lines.append(f"b_{i} = {_fmt(b)}")
    lines.append(f"Q = {_fmt(draw.Q)}")
    lines.append(f"controller: alpha = {c.alpha:.6g}, k_p = {c.k_p:.6g}, tau_v = {c.tau_v:.6g}, "
                 f"tau_u = {c.tau_u:.6g} (tau_v/tau_u = {c.ratio:.6g}), leak = {c.leak!r}, "
                 f"alpha_tilde = {c.alpha_eff:.6g}")
    lines.append(f"x = {_fmt(draw.x)}  (B = {draw.x.shape[0]})")
    lines.append(f"target r_L* = {_fmt(draw.target)}")
    if draw.meta.get("repairs"):
        lines.append(f"strategy repairs: {'; '.join(draw.meta['repairs'])}")
    return "\n".join(indent + line.replace("\n", "\n" + indent + "    ") for line in lines)


def _list(claims):
    for c in claims.values():
        tag = "" if c.expected else "  [known false]"
        print(c.name)
        print(f"    {c.statement}{tag}")
    return 0


@command(PROG)
def main(argv=None):
    """Entry point; returns the exit code (0 none found, 1 found, 2 usage, 3 unsatisfiable;
    errors and Ctrl-C as every command of the project, :mod:`dfc_theory._cli`)."""
    p = _parser()
    args = p.parse_args(argv)
    from dfc_theory.testing import CLAIMS, regression_test_source, save_counterexample, search
    if args.list:
        if args.claim:
            p.error("--list: takes no claim name")
        return _list(CLAIMS)
    if not args.claim:
        p.error("the following arguments are required: claim (or --list)")
    if args.claim not in CLAIMS:
        p.error(f"claim: unknown claim {args.claim!r}; see --list")
    if args.out:  # before the search, not after it
        check_output_folder(args.out)
    claim = CLAIMS[args.claim]
    kind = "a result" if claim.expected else "a known false extrapolation"
    print(f"claim {claim.name} ({kind}; {claim.reference}):\n  {claim.statement}")
    print(f"searching with up to {args.examples} examples, seed {args.seed} ...", flush=True)

    def progress(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    res = search(claim, examples=args.examples, seed=args.seed, shrink=args.shrink,
                 progress=progress)
    excl = ", ".join(f"{k}: {v}" for k, v in res.excluded.items()) or "none"
    if res.status == "unsatisfiable":
        print(f"no example satisfied the premise ({res.examples} tried; excluded: {excl})")
        return 3
    if not res.found:
        print(f"no counterexample in {res.judged} examples ({res.examples} drawn, excluded: "
              f"{excl}; {res.seconds:.1f} s)")
        return 0
    d, v = res.draw, res.verdict
    how = (f"shrunk in {res.shrink_calls} evaluations" if args.shrink else "not shrunk")
    print(f"COUNTEREXAMPLE after {res.first_found_at} examples, {how} ({res.seconds:.1f} s):")
    print(describe(d))
    if v is not None:
        print(f"  measured: {v.what} = {v.measured:.6g}; the claim needs {v.predicted}")
        for k, val in v.details.items():
            print(f"    {k}: {val}")
    else:
        print("  the claim's check raised an error on this draw:\n" + res.error)
    command = (f"{PROG} {claim.name} --examples {args.examples} --seed {args.seed}"
               + ("" if args.shrink else " --no-shrink"))
    print("regression test (pytest):\n" + "-" * 72)
    print(regression_test_source(d, claim.name, expect_holds=claim.expected, command=command),
          end="")
    print("-" * 72)
    if args.out:
        path = save_counterexample(Path(args.out) / "counterexample.json", d, claim, v,
                                   extra={"seed": args.seed, "examples": args.examples,
                                          "found_after": res.first_found_at,
                                          "command": command})
        print(f"wrote {path}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
