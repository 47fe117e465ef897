"""Fig S3: feedback learning alone on a tanh 20-10-5 network (THEORY.md section 8).

Q is trained from a random initialisation by the noisy sleep-phase rule (forward weights
fixed); panels: angle of Q with the damped pseudoinverses J^T (J J^T + gamma I)^{-1},
gamma in {0, 0.1, 1, 5, 10, 100, 1000}, over training; the Condition-2 ratio; the final
angle against gamma with the best-fitting gamma.  Dashed: the exact fixed point of the
expected rule (our prediction).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import _feedback_figs as ff  # noqa: E402
from ._common import check_preset, save_data, save_figure, save_summary  # noqa: E402

NAME = "figS3"
ACTIVATION = "tanh"
TITLE = "Fig S3 (regenerated): feedback learning alone, tanh 20-10-5 network"


def parse_options(argv):
    """--updates N: number of feedback updates (overrides the preset's schedule)."""
    opts = {}
    it = iter(argv)
    for a in it:
        if a == "--updates":
            opts["n_updates"] = int(next(it))
        else:
            raise SystemExit(f"{NAME}: unknown option {a!r} (known: --updates N)")
    return opts


def run(preset="quick", out="figures_out", seed=0, n_updates=None):
    return ff.run_training_figure(NAME, ACTIVATION, TITLE, preset, out, seed, n_updates)
