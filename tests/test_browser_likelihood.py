"""The Likelihood tab in headless Chromium at 1280×720 (tests/test_browser.py's machinery, the live app's tiny
T = 100 model): the fast estimate on a few digits shows bits/dim for both splits and the per-t plot with its
points, the weighting chart is drawn, nothing on the tab is cut off, and no page or console errors.
Screenshots: artifacts/screenshots/lik_*.png."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import CHROMIUM, SHOTS, _open_tab, _set_slider, browser_page, real_problems

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")

# Text that does not fit its box: labels, legend entries and headings whose content is wider than the element
# and clipped by it (overflow other than visible), in the visible tab panel.
CUT_OFF = """() => { const out = [];
  for (const el of document.querySelectorAll('[role=tabpanel]:not([hidden]) label span, '
      + '[role=tabpanel]:not([hidden]) button, [role=tabpanel]:not([hidden]) h2, [role=tabpanel]:not([hidden]) h3')) {
    const r = el.getBoundingClientRect(); if (r.width === 0) continue;
    const cs = getComputedStyle(el);
    if (el.scrollWidth > el.clientWidth + 1 && cs.overflow !== 'visible') out.push(el.textContent.trim()); }
  return out; }"""
# points plotly drew per trace (calcdata: after it decoded the figure's typed arrays)
PLOT_POINTS = """(sel) => { const g = document.querySelector(sel + ' .js-plotly-plot');
  return g && g.calcdata ? g.calcdata.map(c => c.filter(p => Number.isFinite(p.y)).length) : null; }"""


@pytest.fixture(scope="module")
def session(live_app):
    with browser_page(live_app.url, 1280, 720) as (page, problems):
        yield page, problems


def test_fast_estimate_shows_bits_per_dim_and_the_per_t_plot(session):
    page, _ = session
    _open_tab(page, "Likelihood")
    page.wait_for_selector("#lik-run", state="visible", timeout=30_000)
    _set_slider(page, "lik-num", 3)
    page.locator("#lik-estimator").get_by_text(re.compile("^fast")).click()
    page.locator("#lik-split").get_by_text("both", exact=True).click()
    page.locator("#lik-run").click()
    page.wait_for_function("() => /held-out − train/.test(document.querySelector('#lik-summary').innerText)",
                           timeout=120_000)
    text = page.locator("#lik-summary").inner_text()
    for split in ("train", "held-out"):
        m = re.search(rf"{split}: ([0-9.]+) ± ([0-9.]+) bits/dim — fast", text)
        assert m and float(m.group(1)) > 0 and float(m.group(2)) >= 0, text
    assert "3 digits" in text
    page.wait_for_function(f"(s) => {{ const n = ({PLOT_POINTS})(s); return n && n.length === 3 && n[0] > 3; }}",
                           arg="#lik-per-t", timeout=30_000)
    bound, simple, decoder = page.evaluate(PLOT_POINTS, "#lik-per-t")
    assert bound == simple >= 4 and decoder == 1  # one point per stratum for the bound and for L_simple, and L_0
    assert "one t per stratum" in page.locator("#lik-per-t").inner_text()
    page.locator("#lik-per-t").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "lik_fast_per_t.png"))
    page.screenshot(path=str(SHOTS / "lik_tab_full_page.png"), full_page=True)


def test_weighting_chart_is_drawn(session):
    page, _ = session
    page.wait_for_function(f"(s) => {{ const n = ({PLOT_POINTS})(s); return n && n.length === 16; }}",
                           arg="#lik-weights", timeout=30_000)
    page.locator("#lik-weights").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "lik_weights.png"))


def test_nothing_on_the_tab_is_cut_off(session):
    page, _ = session
    assert page.evaluate(CUT_OFF) == []


def test_no_page_or_console_errors(session):
    page, problems = session
    page.wait_for_timeout(500)
    real = real_problems(problems)
    assert not real, "\n".join(real)
