"""The demos in a real browser (marker ``browser``; issue 11).

One ``marimo run`` server on 127.0.0.1 serves the ``demos/`` folder; a headless Chromium
(found by ``cdp.find_browser``) opens each demo in a fresh tab over the Chrome DevTools
Protocol and checks, per demo:

* the page title (the notebook's ``app_title``) and its heading appear;
* every plot of the default state (the cells that define a figure in a default run) is
  drawn within ``PLOT_TIMEOUT_S`` = 10 s of opening the page, and every slider is there;
* no cell is in error (``--show-tracebacks`` marks failing cells with ``has-error``);
* one slider, moved with the keyboard (arrow keys on its thumb), makes every plot that
  depends on it redraw within ``REDRAW_TIMEOUT_S`` = 5 s, still without errors;
* a screenshot of the controls and the first plot is kept: in ``$DFC_SCREENSHOTS`` if set
  (``DFC_SCREENSHOTS=demos/screenshots`` refreshes the README's pictures), else in the
  test's temporary folder.

Without a browser these tests skip, unless ``DFC_REQUIRE_BROWSER=1`` (set by ``.ci/run``,
which installs ``chromium-headless-shell`` itself): then a missing browser, marimo or
websockets is a failure.  Times are wall-clock (what a student waits for) and are recorded,
with the load average, in ``$DFC_DEMO_TIMINGS`` when set.
"""
import json
import os
import time
from pathlib import Path

import pytest

import cdp
import demo_notebooks as dn

pytestmark = pytest.mark.browser

PLOT_TIMEOUT_S = 10.0
REDRAW_TIMEOUT_S = 5.0
REQUIRE = os.environ.get("DFC_REQUIRE_BROWSER") == "1"


def _missing():
    reasons = []
    for module in ("marimo", "websockets"):
        try:
            __import__(module)
        except ImportError:
            reasons.append(f"the Python package {module} (pip install -e '.[demos]')")
    if cdp.find_browser() is None:
        reasons.append("a Chromium browser (apt-get install chromium-headless-shell, or "
                       "DFC_CHROME=/path/to/chrome)")
    return reasons


def _need_everything():
    reasons = _missing()
    if reasons:
        msg = "browser tests need " + " and ".join(reasons)
        if REQUIRE:
            pytest.fail(msg + " (DFC_REQUIRE_BROWSER=1)")
        pytest.skip(msg)


def record(**row):
    path = os.environ.get("DFC_DEMO_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_everything()
    srv = cdp.MarimoServer(dn.DEMO_DIR, tmp_path_factory.mktemp("marimo") / "server.log")
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def browser():
    _need_everything()
    b = cdp.Browser(cdp.find_browser())
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    target = os.environ.get("DFC_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cell(name):
    return f'document.querySelector(\'[data-cell-name="{name}"]\')'


def _img_src(name):
    return (f"(() => {{ const c = {_cell(name)}; const i = c && c.querySelector('img'); "
            f"return i ? i.src : null; }})()")


def _plot_drawn(name):
    return (f"(() => {{ const c = {_cell(name)}; const i = c && c.querySelector('img'); "
            f"return !!(i && i.complete && i.naturalWidth > 0); }})()")


ERRORS_JS = ("(() => { if (!document.body) return []; "
             "const bad = Array.from(document.querySelectorAll("
             "'.marimo-cell.has-error')).map(c => c.dataset.cellName); "
             "if (document.body.innerText.includes('An internal error occurred')) "
             "bad.push('internal error'); return bad; })()")


def _slider_js(label):
    return (f"Array.from(document.querySelectorAll('marimo-slider')).find(s => s.shadowRoot "
            f"&& s.shadowRoot.textContent.includes({json.dumps(label)}))")


def _screenshot(page, path, first_plot):
    """The controls cell down to the bottom of a plot they drive.  marimo scrolls inside its
    own container, so the viewport is first made as tall as the content (nothing is then
    outside it), and restored afterwards."""
    height = page.evaluate("Math.max(...Array.from(document.querySelectorAll('body, body *'))"
                           ".map(e => e.scrollHeight))")
    page.send("Emulation.setDeviceMetricsOverride", width=1100, height=min(int(height), 8000),
              deviceScaleFactor=1, mobile=False)
    try:
        box, _ = page.wait_for(
            f"(() => {{ const a = {_cell('controls')}, b = {_cell(first_plot)}; "
            "const i = b && b.querySelector('img'); if (!i || !i.complete) return null; "
            "const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect(); "
            "if (rb.bottom > window.innerHeight) return null; "
            "return {x: 0, y: Math.max(0, Math.min(ra.top, rb.top) - 10), width: 1100, "
            "height: Math.max(ra.bottom, rb.bottom) - Math.min(ra.top, rb.top) + 20}; })()",
            5)
        page.evaluate("new Promise(r => requestAnimationFrame(() => "
                      "requestAnimationFrame(() => r(true))))")
        page.screenshot(path, clip=box)
    finally:
        page.send("Emulation.setDeviceMetricsOverride", width=1100, height=900,
                  deviceScaleFactor=1, mobile=False)


@pytest.mark.parametrize("path", dn.DEMOS, ids=dn.demo_id)
def test_demo_in_the_browser(path, server, browser, shots):
    demo = dn.load(path)
    title = dn.app_title(path)
    plots = dn.plot_cells(demo)
    sliders = {n: e for n, e in dn.controls(demo.defaults).items() if dn.is_slider(e)}
    assert title and plots and sliders
    page = browser.new_page()
    try:
        t0 = time.monotonic()
        page.navigate(server.url(path.name))
        page.wait_for(f"document.title === {json.dumps(title)} && "
                      "!!document.querySelector('h1')", PLOT_TIMEOUT_S)
        first_plot = None
        for name in plots:
            page.wait_for(_plot_drawn(name), max(0.1, PLOT_TIMEOUT_S - (time.monotonic() - t0)))
            if first_plot is None:
                first_plot = time.monotonic() - t0
        all_plots = time.monotonic() - t0
        n_sliders, _ = page.wait_for(
            "Array.from(document.querySelectorAll('marimo-slider')).filter(s => s.shadowRoot "
            "&& s.shadowRoot.querySelector('[role=slider]')).length >= "
            f"{len(sliders)} && document.querySelectorAll('marimo-slider').length",
            PLOT_TIMEOUT_S)
        assert n_sliders == len(sliders), (n_sliders, list(sliders))
        for element in sliders.values():
            assert page.evaluate(f"!!({_slider_js(dn.control_label(element))})"), \
                dn.control_label(element)
        assert page.evaluate(ERRORS_JS) == [], server.log()[-3000:]
        name, element, redrawn = dn.slider_with_plot(demo)
        assert name, "no slider drives a visible plot"
        _screenshot(page, shots / f"{path.stem}.png", redrawn[0])

        # move that slider with the keyboard and wait for its plots to be redrawn
        label = dn.control_label(element)
        before = {p: page.evaluate(_img_src(p)) for p in redrawn}
        thumb = f"({_slider_js(label)}).shadowRoot.querySelector('[role=slider]')"
        value0 = page.evaluate(f"(() => {{ const t = {thumb}; t.focus(); "
                               "return t.getAttribute('aria-valuenow'); })()")
        key = ("ArrowLeft", "ArrowLeft", 37) if element.value >= dn.slider_range(element)[1] \
            else ("ArrowRight", "ArrowRight", 39)
        t1 = time.monotonic()
        for _ in range(3):
            page.press(*key)
        changed = " && ".join(f"{_img_src(p)} !== {json.dumps(before[p])}" for p in redrawn)
        page.wait_for(f"({thumb}).getAttribute('aria-valuenow') !== {json.dumps(value0)} "
                      f"&& {changed}", REDRAW_TIMEOUT_S)
        redraw = time.monotonic() - t1
        assert page.evaluate(ERRORS_JS) == [], server.log()[-3000:]
        record(demo=path.stem, kind="browser", first_plot_s=first_plot, all_plots_s=all_plots,
               redraw_s=redraw, slider=name, load=os.getloadavg()[0],
               browser=browser.version)
    finally:
        page.close()


BROKEN = '''import marimo

app = marimo.App(app_title="broken")

with app.setup:
    import marimo as mo


@app.cell
def controls():
    x = mo.ui.slider(0, 10, value=1, label="x")
    x
    return (x,)


@app.cell
def fails(x):
    1 / (x.value - 1)
    return
'''


def test_a_failing_cell_is_seen(browser, tmp_path):
    """Negative control: the error check of the test above reports a cell that raises."""
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    srv = cdp.MarimoServer(path, tmp_path / "server.log")
    page = browser.new_page()
    try:
        page.navigate(srv.url())
        bad, _ = page.wait_for(ERRORS_JS + ".length && " + ERRORS_JS, PLOT_TIMEOUT_S)
        assert "fails" in bad
    finally:
        page.close()
        srv.close()
