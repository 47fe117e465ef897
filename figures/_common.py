"""Helpers shared by the figure modules: presets, atomic output folders, saving.

Atomic outputs.  A figure's files (``NAME.png``, ``NAME.pdf``, ``NAME_data.npz``,
``NAME_summary.json``, a logs folder such as ``fig3_logs``) are written into a hidden
staging folder inside ``out`` (``out/.NAME.partial-XXXX``, on the same file system so that
the final moves are renames) and moved into place only when the figure is complete::

    write_figure(out, NAME, fig, summary, x=x)     # png, pdf, npz, json together

    with staged_output(out, NAME) as stage:        # when more is written, e.g. logs
        train_runs(configs, seed, stage)           # -> stage.path / "fig3_logs"
        write_figure(out, NAME, fig, summary, stage=stage, x=x)
    # here every file is in place; on an exception the stage is deleted instead

A failed or interrupted run therefore leaves the previous complete output untouched (no
seed-1 png beside a seed-0 npz).  The moves themselves run with Ctrl-C and SIGTERM deferred,
so an interrupt cannot split them; only a hard kill (SIGKILL, power loss) in that
millisecond could, and it leaves the ``.partial`` folder behind.  What must outlive an
interrupted figure (fig3's training checkpoints, ``out/fig3_runs``) is written outside the
staging folder.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from dfc_theory._checkpoint import deferred_signals as _defer_sigint

from . import PRESETS

PARTIAL = ".partial-"


def check_preset(preset):
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {list(PRESETS)}, got {preset!r}")
    return preset


def check_int(value, name, low):
    """``value`` as an int >= ``low``; ValueError/TypeError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value}")
    return int(value)


def check_seed(seed):
    """A figure's ``seed``: a non-negative integer (NumPy's SeedSequence rejects negative
    ones)."""
    try:
        return check_int(seed, "seed", 0)
    except ValueError:
        raise ValueError(f"seed: expected a non-negative integer (NumPy seeds are "
                         f"non-negative), got {seed}") from None


def out_dir(out):
    """``out`` as a Path, created; a :class:`Stage` gives its staging folder."""
    if isinstance(out, Stage):
        return out.path
    p = Path(out)
    p.mkdir(parents=True, exist_ok=True)
    return p


class Stage:
    """A staging folder for one figure's files inside ``out`` (see the module docstring).

    ``path``: where to write now; ``final(p)``: where ``p`` (a path under ``path``) will be
    once committed; ``commit()`` moves everything into ``out`` (done by
    :func:`staged_output` on success)."""

    def __init__(self, out, name):
        self.out = Path(out)
        self.name = name
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{name}{PARTIAL}", dir=self.out))

    def final(self, p):
        return self.out / Path(p).relative_to(self.path)

    def commit(self):
        """Move every entry of the staging folder into ``out`` (files replace files; a
        folder replaces the folder of the same name), data first and the summary last,
        with SIGINT and SIGTERM deferred until all moves are done; then remove the staging
        folder."""
        entries = sorted(self.path.iterdir(),
                         key=lambda e: (e.name.endswith("_summary.json"), e.name))
        with _defer_sigint():
            for src in entries:
                dst = self.out / src.name
                if src.is_dir() and dst.is_dir() and not dst.is_symlink():
                    old = Path(tempfile.mkdtemp(prefix=f".{src.name}.old-", dir=self.out))
                    os.replace(dst, old / src.name)
                    os.replace(src, dst)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(src, dst)
            shutil.rmtree(self.path, ignore_errors=True)

    def discard(self):
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def staged_output(out, name):
    """Context manager yielding a :class:`Stage` for figure ``name`` in folder ``out``;
    commits on success, discards the stage on any exception (Ctrl-C included)."""
    stage = Stage(out, name)
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    stage.commit()


def _target(out, filename):
    """(path to write, path to report) of ``filename`` in ``out`` (a Stage or a folder)."""
    path = out_dir(out) / filename
    return path, (out.final(path) if isinstance(out, Stage) else path)


def save_figure(fig, out, name):
    """Write <out>/<name>.png and .pdf; return the two (final) paths."""
    targets = [_target(out, f"{name}.png"), _target(out, f"{name}.pdf")]
    fig.savefig(targets[0][0], dpi=130, bbox_inches="tight")
    fig.savefig(targets[1][0], bbox_inches="tight")
    return [t[1] for t in targets]


def save_data(out, name, **arrays):
    """Write the arrays behind a figure to <out>/<name>_data.npz; return its (final) path."""
    path, final = _target(out, f"{name}_data.npz")
    np.savez_compressed(path, **arrays)
    return final


def save_summary(out, name, summary: dict):
    """Write the figure's summary (JSON) next to it; return its (final) path."""
    path, final = _target(out, f"{name}_summary.json")
    path.write_text(json.dumps(summary, indent=2, default=_jsonable))
    return final


#: the suffixes of a figure's files: picture, data, summary
FIGURE_FILES = (".png", ".pdf")
ALL_FILES = FIGURE_FILES + ("_data.npz", "_summary.json")


def figure_paths(out, name, suffixes=FIGURE_FILES):
    """The final paths ``<out>/<name><suffix>`` (default: the .png and the .pdf)."""
    return [Path(out) / f"{name}{suffix}" for suffix in suffixes]


def write_figure(out, name, fig, summary, stage=None, **arrays):
    """Write a figure's files at once: ``<name>.png``/``.pdf`` of ``fig`` (closed
    afterwards), ``<name>_data.npz`` of ``arrays`` (when any) and ``<name>_summary.json``
    of ``summary``, through a staging folder (a new one, or ``stage`` when the caller
    already writes more into one); returns the final paths written."""
    import matplotlib.pyplot as plt
    try:
        with (contextlib.nullcontext(stage) if stage is not None
              else staged_output(out, name)) as st:
            files = save_figure(fig, st, name)
            if arrays:
                files.append(save_data(st, name, **arrays))
            files.append(save_summary(st, name, summary))
    finally:
        plt.close(fig)
    return files


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, Path):
        return os.fspath(o)
    return str(o)


# ---------------------------------------------------------------------------- options
def option_parser(name):
    """An argparse parser for the extra options of figure ``name`` (``python -m figures
    NAME --option ...``); its errors are one-line usage errors (exit status 2)."""
    from dfc_theory._cli import ArgumentParser
    return ArgumentParser(prog=f"python -m figures {name}", add_help=False,
                          debug_option=False, allow_abbrev=False)


def parse_with(parser, argv):
    """``parse_options`` of a figure: the options given in ``argv`` as a dict (unset ones
    left out); a bad option raises UsageError naming it, with the figure's usage."""
    from dfc_theory._cli import UsageError
    try:
        ns = parser.parse_args(list(argv))
    except UsageError as exc:
        usage = " ".join(parser.format_usage().split())
        raise UsageError(f"{exc} ({usage})") from None
    return {k: v for k, v in vars(ns).items() if v is not None and v is not False}
