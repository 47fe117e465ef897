"""Helpers shared by the figure modules: output folder, saving, presets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import PRESETS


def check_preset(preset):
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {list(PRESETS)}, got {preset!r}")
    return preset


def out_dir(out):
    p = Path(out)
    p.mkdir(parents=True, exist_ok=True)
    return p


def save_figure(fig, out, name):
    """Write <out>/<name>.png and .pdf; return the two paths."""
    p = out_dir(out)
    paths = [p / f"{name}.png", p / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths


def save_data(out, name, **arrays):
    """Write the arrays behind a figure to <out>/<name>_data.npz."""
    path = out_dir(out) / f"{name}_data.npz"
    np.savez_compressed(path, **arrays)
    return path


def save_summary(out, name, summary: dict):
    """Write the figure's summary (JSON) next to it."""
    path = out_dir(out) / f"{name}_summary.json"
    path.write_text(json.dumps(summary, indent=2, default=_jsonable))
    return path


def _jsonable(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return str(o)
