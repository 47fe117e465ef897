"""The teaching demos (``demos/NN_name.py``, marimo notebooks; issue 11).

Per demo:

* structure: a title with learning goals and a THEORY.md reference, every cell named, the
  controls in cells of their own, at least two ``test_*`` cells, closing questions, and a
  section with answers in the teacher's guide ``demos/README.md``;
* the default run passes its own ``test_*`` cells (each compares a number the demo shows
  with an independent computation) and plots only finite values;
* every control at each end of its range (slider minimum and maximum, every dropdown
  option, the other switch state), one at a time: the cells that depend on it re-run
  exactly as in the app (see ``demo_notebooks.rerun``) without an exception, its ``test_*``
  cells pass, only finite values are plotted, and the re-run costs at most
  ``SLIDER_BUDGET_S`` = 0.5 s (CPU time on one thread, output rendering included, so that the
  load of a shared machine does not decide the verdict; a setting over budget is re-measured
  and judged by the median of three runs; the wall-clock time is recorded beside it);
* all combinations of control extremes at once (``slow``);
* that partial re-run gives the same figures as marimo's full ``app.run(defs=...)``;
* work behind a run button costs at most ``RUN_BUTTON_BUDGET_S`` = 10 s (default
  controls; at every control extreme in the ``slow`` test);
* ``python demos/NN_name.py`` exits 0 within 30 s in a fresh process (``slow``: seven fresh
  interpreters cost about 20 s of CPU);
* ``marimo export html`` succeeds without error output, and ``marimo export ipynb`` keeps
  the outputs for the static fallback (``slow``).

Also: negative controls of this machinery on a toy notebook, and the agreement of the
README's test command with ``.ci/run``.

Set ``DFC_DEMO_TIMINGS=path.jsonl`` to append the measured times (one JSON object per line).
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("marimo", reason="the demos need the 'demos' extra (pip install -e '.[demos]')")

import demo_notebooks as dn  # noqa: E402

SCRIPT_BUDGET_S = 30.0
TITLE_WORDS = ("learning goals", "theory.md")


def assert_finite(figures, where):
    """Every figure of ``figures`` ({name: Figure}) plots finite values only."""
    for name, fig in figures.items():
        bad = dn.nonfinite_artists(fig)
        assert not bad, f"{where}: {name} plots non-finite values: {bad}"


def record(**row):
    path = os.environ.get("DFC_DEMO_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


_LOADED = {}


def loaded(path) -> dn.Demo:
    if path not in _LOADED:
        _LOADED[path] = dn.load(path)
    return _LOADED[path]


params = pytest.mark.parametrize("path", dn.DEMOS, ids=dn.demo_id)


def test_seven_demos():
    assert [p.stem[:2] for p in dn.DEMOS] == [f"{i:02d}" for i in range(1, 8)], dn.DEMOS


@params
def test_structure(path):
    demo = loaded(path)
    names = [c.name for c in demo.cells]
    assert len(names) == dn.n_cells_in_source(path), "every cell must be named"
    assert names[0] == "intro", "the first cell, intro, states the goals"
    import marimo as mo
    intro = mo.as_html(demo.module.intro.run(mo=mo)[0]).text.lower()
    for word in TITLE_WORDS:
        assert word in intro, f"the first cell must state the {word}"
    assert sum(n.startswith("test_") for n in names) >= 2, "at least two test_* cells"
    assert names[-1] == "questions", "the last cell asks questions"
    assert "look_for" in names, "a cell says what to look for"
    assert dn.slider_with_plot(demo)[0], "a slider drives a plot of the default state"
    ui = dn.controls(demo.defaults)
    assert ui, "a demo has controls"
    for cell in demo.cells:
        made = cell.defs & set(ui)
        if made:
            assert cell.defs <= set(ui), (f"cell {cell.name}: controls sit in cells of their "
                                          f"own, but it also defines {cell.defs - set(ui)}")
    guide = (dn.DEMO_DIR / "README.md").read_text()
    assert f"`{path.name}`" in guide, "the teacher's guide has a section for this demo"


@params
def test_default_run(path):
    demo = loaded(path)
    figures = dn.plot_cells(demo)
    assert figures, "a demo shows at least one plot"
    from matplotlib.figure import Figure
    assert_finite({n: v for n, v in demo.defaults.items() if isinstance(v, Figure)},
                  "default run")


@params
def test_every_control_at_its_extremes(path):
    demo = loaded(path)
    slowest = (0.0, None, 0.0)
    for name, element in dn.controls(demo.defaults).items():
        if dn.is_run_button(element):
            continue
        for label, new in dn.variants(element):
            result, seconds = dn.timed_rerun(demo, {name: new}, dn.SLIDER_BUDGET_S)
            setting = f"{name}{label}"
            assert result.cells, f"{setting}: no cell depends on this control"
            assert_finite(result.figures(), setting)
            assert seconds <= dn.SLIDER_BUDGET_S, (
                f"{setting}: re-run took {seconds:.2f} s CPU (median of "
                f"{dn.TIMING_REPEATS}; wall {result.wall:.2f} s) > {dn.SLIDER_BUDGET_S} s; "
                f"cells {[c.name for c in result.cells]}")
            if seconds > slowest[0]:
                slowest = (seconds, setting, result.wall)
    record(demo=demo.name, kind="slowest_control_rerun", cpu_s=slowest[0],
           setting=slowest[1], wall_s=slowest[2], load=os.getloadavg()[0])


@params
def test_rerun_agrees_with_app_run(path):
    """The re-run of the dependent cells (what the kernel does, and what the tests above
    time) gives the same figures as marimo's own full run with the control overridden,
    ``app.run(defs=...)``: the first slider that drives a plot, at its maximum."""
    demo = loaded(path)
    name, element, _ = dn.slider_with_plot(demo)
    new = dn.variants(element)[-1][1]
    partial = dn.rerun(demo, {name: new})
    _, full = demo.app.run(defs={**dn.controls(demo.defaults), name: new})
    figures = partial.figures()
    assert figures, f"{name} drives no figure"
    for fig_name, fig in figures.items():
        other = full[fig_name]
        for ax, ax2 in zip(fig.axes, other.axes, strict=True):
            for line, line2 in zip(ax.get_lines(), ax2.get_lines(), strict=True):
                assert np.array_equal(line.get_xydata(), line2.get_xydata(), equal_nan=True)


def _with_buttons(path):
    """The demo and its run buttons, pressed ({name: Pressed}); skip when it has none."""
    demo = loaded(path)
    pressed = {n: dn.Pressed() for n, e in dn.controls(demo.defaults).items()
               if dn.is_run_button(e)}
    if not pressed:
        pytest.skip("no run button in this demo")
    return demo, pressed


@params
def test_run_button_work(path):
    demo, pressed = _with_buttons(path)
    result, seconds = dn.timed_rerun(demo, pressed, dn.RUN_BUTTON_BUDGET_S)
    assert not result.stopped, f"cells still stopped with the button pressed: {result.stopped}"
    assert result.figures(), "the run button produces a plot"
    assert_finite(result.figures(), "run button")
    assert seconds <= dn.RUN_BUTTON_BUDGET_S, (f"run-button work took {seconds:.1f} s CPU "
                                               f"(wall {result.wall:.1f} s)")
    record(demo=demo.name, kind="run_button", cpu_s=seconds, wall_s=result.wall,
           load=os.getloadavg()[0])


@pytest.mark.slow
@params
def test_run_button_work_at_control_extremes(path):
    demo, pressed = _with_buttons(path)
    for name, element in dn.controls(demo.defaults).items():
        if dn.is_run_button(element):
            continue
        for label, new in dn.variants(element):
            result, seconds = dn.timed_rerun(demo, {**pressed, name: new},
                                             dn.RUN_BUTTON_BUDGET_S)
            assert_finite(result.figures(), name + label)
            assert seconds <= dn.RUN_BUTTON_BUDGET_S, f"{name}{label}: {seconds:.1f} s"


@pytest.mark.slow
@params
def test_runs_as_a_script(path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=dn.ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record(demo=path.stem, kind="script_cold_s", seconds=wall, cpu_s=cpu,
           load=os.getloadavg()[0])
    assert wall <= SCRIPT_BUDGET_S, f"cold run took {wall:.1f} s (cpu {cpu:.1f} s)"


def _copy(path, tmp_path):
    """A copy of the notebook (and of the helper it imports) in a scratch folder: marimo's
    exports leave a session cache (``__marimo__/``) beside the notebook they run."""
    import shutil
    shutil.copy(path.parent / "lesson_tools.py", tmp_path / "lesson_tools.py")
    return Path(shutil.copy(path, tmp_path / path.name))


@pytest.mark.slow
@params
def test_export_html(path, tmp_path):
    out = tmp_path / (path.stem + ".html")
    proc = subprocess.run([sys.executable, "-m", "marimo", "export", "html",
                           str(_copy(path, tmp_path)), "-o", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=dn.ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert out.stat().st_size > 10_000
    noise = [line for line in (proc.stdout + proc.stderr).splitlines()
             if any(w in line.lower() for w in ("error", "traceback", "exception"))]
    assert not noise, noise


@pytest.mark.slow
@params
def test_every_corner_of_the_control_box(path):
    """All combinations of control extremes at once (the default test moves one control at a
    time): the demo's own checks must hold over the whole box, not only along its axes."""
    import itertools
    demo = loaded(path)
    ui = {n: e for n, e in dn.controls(demo.defaults).items() if not dn.is_run_button(e)}
    names = list(ui)
    for combo in itertools.product(*(dn.variants(ui[n]) for n in names)):
        overrides = {n: new for n, (_, new) in zip(names, combo)}
        setting = ", ".join(n + label for n, (label, _) in zip(names, combo))
        result = dn.rerun(demo, overrides)
        assert_finite(result.figures(), setting)


@pytest.mark.slow
@params
def test_export_ipynb_fallback(path, tmp_path):
    """The static Jupyter copy for Colab users (command in demos/README.md): it runs the
    notebook and keeps every output, with no error output (cells behind an unpressed run
    button are exported as 'ancestor-stopped', which is intended)."""
    nbformat = pytest.importorskip("nbformat")
    out = tmp_path / (path.stem + ".ipynb")
    proc = subprocess.run([sys.executable, "-m", "marimo", "export", "ipynb",
                           str(_copy(path, tmp_path)), "--include-outputs", "-f", "-o",
                           str(out)], capture_output=True, text=True, timeout=300, cwd=dn.ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"
                and o.get("ename") != "ancestor-stopped"]
    assert sum("<img" in str(o.get("data", {})) for o in outputs) >= 1, "no figure kept"


def test_readme_and_ci_agree():
    """The README's test command installs the demos extra and .ci/run runs it verbatim,
    after installing the browser itself and requiring it; the Teaching section shows one
    screenshot per demo, and each exists."""
    readme = (dn.ROOT / "README.md").read_text()
    ci = (dn.ROOT / ".ci" / "run").read_text()
    block = readme.split("**Tests:**", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    command = block.strip()
    assert "'.[test,torch,demos]'" in command
    assert command in ci.splitlines()
    before = ci.split(command, 1)[0]
    assert "apt-get install" in before and "chromium-headless-shell" in before
    assert "export DFC_REQUIRE_BROWSER=1" in before
    teaching = readme.split("## Teaching", 1)[1].split("\n## ", 1)[0]
    for path in dn.DEMOS:
        shot = f"demos/screenshots/{path.stem}.png"
        assert shot in teaching, shot
        assert (dn.ROOT / shot).exists(), shot


TOY = '''import marimo

app = marimo.App()

with app.setup:
    import marimo as mo
    import numpy as np
    from matplotlib.figure import Figure


@app.cell
def controls():
    x = mo.ui.slider(0.0, 1.0, step=0.5, value=0.5, label="x")
    x
    return (x,)


@app.cell
def plot(x):
    fig = Figure()
    with np.errstate(divide="ignore"):
        fig.subplots().plot([0.0, 1.0], [1.0, 1.0 / x.value if x.value else np.inf])
    fig
    return (fig,)


@app.cell
def test_small(x):
    assert x.value < 1.0, "x too large"
    return
'''


def test_the_checks_can_fail(tmp_path):
    """Negative controls of the machinery above, on a toy notebook: a control extreme that
    plots an infinite value is caught, and a test_* cell that fails there raises."""
    path = tmp_path / "toy.py"
    path.write_text(TOY)
    demo = dn.load(path)
    assert not dn.nonfinite_artists(demo.defaults["fig"])
    (lo_label, lo), (hi_label, hi) = dn.variants(demo.defaults["x"])
    assert (lo_label, hi_label) == ("min=0", "max=1")
    assert dn.nonfinite_artists(dn.rerun(demo, {"x": lo}).figures()["fig"])
    with pytest.raises(AssertionError, match="x too large"):
        dn.rerun(demo, {"x": hi})
