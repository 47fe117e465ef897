"""Smoke and message tests of the feedback-learning figures (Fig 1D, Fig 2, Figs S2-S4).

Fast tests run reduced versions (fewer samples / updates) and check the files, the summary
and the checks that hold at any length; the full quick presets run under ``-m slow`` and
must pass every check their summary makes (the paper's message).
"""
import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from figures import fig1d, fig2, figS2, figS3, figS4  # noqa: E402


def _files(out, name):
    for suffix in (".png", ".pdf", "_data.npz", "_summary.json"):
        p = out / f"{name}{suffix}"
        assert p.exists() and p.stat().st_size > 0, p
    return json.loads((out / f"{name}_summary.json").read_text())


def test_fig2_reduced(tmp_path):
    res = fig2.run(preset="quick", out=tmp_path, seed=1, n_samples=300)
    saved = _files(tmp_path, "fig2")
    assert saved["summary"] == res["summary"]
    # every sampled Q satisfies Conditions 2 and 3 (asserted inside run as well)
    assert res["condition2_max_dev"] < 1e-10 and res["condition3_min_real_eig"] >= 0
    # J^T, J^+ and the damped family lie in the span of the sampled family
    assert res["span_residual_max"] < 1e-10
    # the message: the sampled family is wider than the damped one
    assert res["angle_to_JT_samples_deg"][2] > res["angle_to_JT_damped_max_deg"]
    d = np.load(tmp_path / "fig2_data.npz")
    assert d["Q_samples"].shape == (300, 4, 2) and d["Q_damped"].shape == (100, 4, 2)


@pytest.mark.parametrize("mod, name", [(figS2, "figS2"), (figS3, "figS3")])
def test_figS2_S3_reduced(tmp_path, mod, name):
    res = mod.run(preset="quick", out=tmp_path, seed=0, n_updates=40)
    _files(tmp_path, name)
    assert res["updates"] == 40
    assert set(res["final_angle_by_gamma_deg"]) == {"0", "0.1", "1", "5", "10", "100", "1000"}
    assert res["condition2_end"] > res["condition2_start"]
    assert "predicted_best_gamma" in res and res["checks"]["condition3"]


def test_fig1d_reduced(tmp_path):
    res = fig1d.run(preset="quick", out=tmp_path, seed=0, epochs=3)
    _files(tmp_path, "fig1d")
    d = np.load(tmp_path / "fig1d_data.npz")
    assert d["r_L"].shape == (2001, 32, 1) and len(d["shown"]) == 3
    assert res["checks"]["condition2_improved"]


def test_parse_options():
    assert fig2.parse_options(["--samples", "10"]) == {"n_samples": 10}
    assert figS2.parse_options(["--updates", "5"]) == {"n_updates": 5}
    assert figS4.parse_options(["--activation", "tanh"]) == {"activation": "tanh"}
    assert fig1d.parse_options(["--epochs", "2"]) == {"epochs": 2}
    with pytest.raises(SystemExit):
        figS3.parse_options(["--bogus"])
    with pytest.raises(ValueError, match="preset"):
        fig2.run(preset="fast")


@pytest.mark.slow
@pytest.mark.parametrize("mod, name", [(fig2, "fig2"), (figS2, "figS2"), (figS3, "figS3"),
                                       (figS4, "figS4"), (fig1d, "fig1d")])
def test_quick_presets_pass_their_checks(tmp_path, mod, name):
    res = mod.run(preset="quick", out=tmp_path, seed=0)
    _files(tmp_path, name)
    assert all(res.get("checks", {}).values()), res["summary"]
