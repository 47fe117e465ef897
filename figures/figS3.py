"""Fig S3: feedback learning alone on a tanh 20-10-5 network (THEORY.md section 8).

Q is trained from a random initialisation by the noisy sleep-phase rule (forward weights
fixed); panels: angle of Q with the damped pseudoinverses J^T (J J^T + gamma I)^{-1},
gamma in {0, 0.1, 1, 5, 10, 100, 1000}, over training; the Condition-2 ratio; the final
angle against gamma with the best-fitting gamma.  Dashed: the exact fixed point of the
expected rule (our prediction).
"""
from __future__ import annotations

from . import _feedback_figs as ff

NAME = "figS3"
ACTIVATION = "tanh"
TITLE = "Fig S3 (regenerated): feedback learning alone, tanh 20-10-5 network"


parse_options = ff.updates_option_parser(NAME)


def run(preset="quick", out="figures_out", seed=0, n_updates=None):
    return ff.run_training_figure(NAME, ACTIVATION, TITLE, preset, out, seed, n_updates)
