"""``python -m dfc_theory.torch.train`` (the command of :mod:`dfc_theory.torch.__main__`)
and the trainer's names: :class:`FullScaleConfig`, :func:`train_run`, :func:`main`."""
import sys

from .._adam import Adam  # noqa: F401
from .__main__ import build_parser, config_from_args, main  # noqa: F401
from ._config import FEEDBACK_KINDS, FullScaleConfig, default_sizes  # noqa: F401
from ._trainer import train_run  # noqa: F401
from .data import load_data  # noqa: F401

__all__ = ["FullScaleConfig", "train_run", "main", "FEEDBACK_KINDS", "default_sizes", "Adam",
           "build_parser", "config_from_args", "load_data"]

if __name__ == "__main__":
    sys.exit(main())
