"""The Fewer-steps tab in a real browser (tests/test_browser.py's machinery, the live app of tests/conftest.py):
open the tab, change the time grid, and see both the grid plot and the error plot change; change the steps and
see the ticks follow."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser import CHROMIUM, SHOTS, _open_tab, _set_slider, browser_page, real_problems

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")

# the plotted data of a gr.Plot, read from the browser's Plotly graph: [{name, x, y}], and the layout's meta
PLOT = """(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot'); if (!g || !g.data) return null;
  return {traces: g.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])})),
          meta: (g.layout || {}).meta || null}; }"""


@pytest.fixture(scope="module")
def page(live_app):
    with browser_page(live_app.url, ready=None) as (pg, problems):
        pg.problems = problems
        yield pg


def _plot(page, elem_id: str):
    return page.evaluate(PLOT, f"#{elem_id}")


def _wait_plot(page, elem_id: str, test_js: str, timeout: int = 60_000):
    """Wait until test_js(plot) holds for the plot read by PLOT; returns that plot (the one that passed, not a
    later read: the plot may stream on)."""
    handle = page.wait_for_function(f"(sel) => {{ const p = ({PLOT})(sel); return p && ({test_js})(p) ? p : null; }}",
                                    arg=f"#{elem_id}", timeout=timeout)
    return handle.json_value()


def _choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(200)


def _open_solvers_tab(page) -> None:
    """Open the tab and wait until its grid dropdown is visible (a click while the page still lays out can be lost:
    the tab then stays hidden, though its plots already render)."""
    for _ in range(3):
        _open_tab(page, "Fewer steps")
        try:
            page.locator("#solvers-grid input").wait_for(state="visible", timeout=10_000)
            return
        except Exception:  # playwright's TimeoutError: click the tab again
            continue
    page.locator("#solvers-grid input").wait_for(state="visible", timeout=10_000)


def test_changing_the_grid_changes_the_plots(page):
    _open_solvers_tab(page)
    first = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'logsnr'")
    assert first["meta"]["steps"] == 8 and len(first["traces"][-1]["x"]) == 8
    gaps = [b - a for a, b in zip(first["traces"][-1]["x"], first["traces"][-1]["x"][1:])]
    assert max(gaps) - min(gaps) < 0.05 * abs(gaps[0])  # uniform in log-SNR: equal gaps on the axis

    _choose(page, "solvers-grid", "Karras σ grid (ρ)")
    karras = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'karras'")
    assert len(karras["traces"][-1]["x"]) == 8 and karras["traces"][-1]["x"] != first["traces"][-1]["x"]
    # every solver's curve complete (Heun has 6 points, the others 7): the grid change reran them all (2-D Gaussian)
    done = "p.traces.filter(t => !/slope/.test(t.name))"
    complete = f"{done}.length >= 5 && {done}.every(t => t.x.length >= 6)"
    err_k = _wait_plot(page, "solvers-plot", f"p => {complete}", timeout=120_000)
    page.screenshot(path=str(SHOTS / "solvers_karras.png"))

    _choose(page, "solvers-grid", "trailing (uniform in t)")
    _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'trailing'")
    ys = json.dumps([t["y"] for t in err_k["traces"]])
    err_t = _wait_plot(page, "solvers-plot", f"p => {complete} && JSON.stringify(p.traces.map(t => t.y)) "
                       f"!== {json.dumps(ys)}", timeout=120_000)  # complete again, with other errors
    assert err_t["traces"][0]["x"] == err_k["traces"][0]["x"]  # the same NFE values

    _set_slider(page, "solvers-steps", 3)
    three = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.steps === 3")
    assert three["meta"]["grid"] == "trailing" and len(three["traces"][-1]["x"]) == 3
    page.screenshot(path=str(SHOTS / "solvers_trailing_3.png"), full_page=True)


def test_no_page_or_console_errors(page):
    page.wait_for_timeout(300)
    real = real_problems(page.problems)
    assert not real, "\n".join(real)
