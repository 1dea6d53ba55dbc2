"""The Fewer-steps tab in a real browser (tests/test_browser.py's machinery, the live app of tests/conftest.py):
open the tab, change the time grid, and see both the grid plot and the error plot change; change the steps and
see the ticks follow."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser import BENIGN, CHROMIUM, CHROMIUM_ARGS, SHOTS, _open_tab, _set_slider

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")

# the plotted data of a gr.Plot, read from the browser's Plotly graph: [{name, x, y}], and the layout's meta
PLOT = """(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot'); if (!g || !g.data) return null;
  return {traces: g.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])})),
          meta: (g.layout || {}).meta || null}; }"""


@pytest.fixture(scope="module")
def page(live_app):
    pw_mod = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000})
        pg.problems = []
        pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
        pg.on("console", lambda m: pg.problems.append(f"console.error: {m.text}") if m.type == "error" else None)
        pg.goto(live_app.url, wait_until="domcontentloaded")
        pg.get_by_role("tab").first.wait_for(timeout=90_000)
        yield pg
        browser.close()


def _plot(page, elem_id: str):
    return page.evaluate(PLOT, f"#{elem_id}")


def _wait_plot(page, elem_id: str, test_js: str, timeout: int = 60_000):
    """Wait until test_js(plot) holds for the plot read by PLOT; returns the plot."""
    page.wait_for_function(f"(sel) => {{ const p = ({PLOT})(sel); return p && ({test_js})(p); }}", arg=f"#{elem_id}",
                           timeout=timeout)
    return _plot(page, elem_id)


def _choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(200)


def test_changing_the_grid_changes_the_plots(page):
    _open_tab(page, "Fewer steps")
    first = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'logsnr'")
    assert first["meta"]["steps"] == 8 and len(first["traces"][-1]["x"]) == 8
    gaps = [b - a for a, b in zip(first["traces"][-1]["x"], first["traces"][-1]["x"][1:])]
    assert max(gaps) - min(gaps) < 0.05 * abs(gaps[0])  # uniform in log-SNR: equal gaps on the axis

    _choose(page, "solvers-grid", "Karras σ grid (ρ)")
    karras = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'karras'")
    assert len(karras["traces"][-1]["x"]) == 8 and karras["traces"][-1]["x"] != first["traces"][-1]["x"]
    err_k = _wait_plot(page, "solvers-plot", "p => p.traces.filter(t => /order|DDPM/.test(t.name)).length >= 5",
                       timeout=120_000)  # the grid change reruns the error curves (2-D Gaussian, every solver)
    page.screenshot(path=str(SHOTS / "solvers_karras.png"))

    _choose(page, "solvers-grid", "trailing (uniform in t)")
    _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.grid === 'trailing'")
    ys = json.dumps([t["y"] for t in err_k["traces"]])
    err_t = _wait_plot(page, "solvers-plot", f"p => p.traces.length >= 5 && JSON.stringify(p.traces.map(t => t.y)) "
                       f"!== {json.dumps(ys)}", timeout=120_000)
    assert err_t["traces"][0]["x"] == err_k["traces"][0]["x"]  # the same NFE values, other errors

    _set_slider(page, "solvers-steps", 3)
    three = _wait_plot(page, "solvers-ticks", "p => p.meta && p.meta.steps === 3")
    assert three["meta"]["grid"] == "trailing" and len(three["traces"][-1]["x"]) == 3
    page.screenshot(path=str(SHOTS / "solvers_trailing_3.png"), full_page=True)


def test_no_page_or_console_errors(page):
    page.wait_for_timeout(300)
    real = [p for p in page.problems if not any(b.search(p) for b in BENIGN)]
    assert not real, "\n".join(real)
