"""End to end in a real browser: headless Chromium (Debian's /usr/bin/chromium, never a download)
driven by Playwright against the live app (tests/conftest.py ``live_app``).

One page walks through the app like a user: every tab, the t slider redraws x_t, a short sampling
run streams frames, a tiny training run starts and is stopped; no page errors or console errors
along the way. Screenshots go to artifacts/screenshots/ (gitignored).
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from conftest import ROOT

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (install Debian's chromium: "
                                f"scripts/ensure_system.sh)")

# Console noise that is not the app's fault. Keep this list short, each entry with its reason.
BENIGN = [
    # The machine has no internet: the theme's web fonts (Google Fonts) cannot load.
    re.compile(r"fonts\.(googleapis|gstatic)\.com"),
    # Same cause, reported without the URL by Chromium for blocked font/resource fetches.
    re.compile(r"Failed to load resource: net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED)"),
]


# x_t is drawn by the browser on a canvas (playground/ui/js/forward_blend.js); it records the t it drew.
CANVAS_DRAWN = ("() => { const c = document.querySelector('#xt-image canvas'); return c && c.width > 1 "
                "&& c.dataset.t; }")


def _canvas_t(page) -> str | None:
    return page.evaluate("() => { const c = document.querySelector('#xt-image canvas'); return c ? "
                         "c.dataset.t : null; }")


def _canvas_pixels(page) -> list[int]:
    """A fingerprint of the canvas: 64 pixels' RGB values along its diagonal."""
    return page.evaluate("""() => { const c = document.querySelector('#xt-image canvas');
        const ctx = c.getContext('2d'); const out = [];
        for (let i = 0; i < 64; i++) { const x = Math.floor(i * c.width / 64), y = Math.floor(i * c.height / 64);
        out.push(...Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3))); } return out; }""")


@contextlib.contextmanager
def browser_page(url: str, width: int = 1440, height: int = 1000, ready: str | None = CANVAS_DRAWN,
                 before_load=None):
    """A headless Chromium page on the app, loaded: (page, problems), with every page error and console error
    collected in problems (see real_problems). ready: a JS condition to wait for after the load (default: the
    first x_t drawn), or None for the first tab; before_load(page) attaches listeners before the page loads."""
    pw_mod = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("console", lambda m: problems.append(f"console.error: {m.text} @ {m.location.get('url', '')}")
                    if m.type == "error" else None)
            if before_load is not None:
                before_load(page)
            page.goto(url, wait_until="domcontentloaded")
            if ready is None:
                page.get_by_role("tab").first.wait_for(timeout=90_000)
            else:
                page.wait_for_function(ready, timeout=90_000)  # the page load draws the first example
            yield page, problems
        finally:
            browser.close()


def real_problems(problems: list[str]) -> list[str]:
    """The page's errors that are the app's fault (BENIGN left out)."""
    return [p for p in problems if not any(b.search(p) for b in BENIGN)]


@pytest.fixture(scope="module")
def session(live_app):
    with browser_page(live_app.url) as (page, problems):
        yield page, problems


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _open_tab(page, label_part: str) -> None:
    page.get_by_role("tab", name=re.compile(re.escape(label_part))).click()
    page.wait_for_timeout(300)


def _set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def _src(page, selector: str) -> str | None:
    el = page.locator(selector)
    return el.get_attribute("src") if el.count() else None


def test_forward_tab_t_slider_changes_x_t(session, live_app):
    page, _ = session
    before = _canvas_pixels(page)
    assert _canvas_t(page) == "250" and len(set(before)) > 10  # the first example at the default t, a real image
    _shot(page, "1_forward_before")
    _set_slider(page, "t-slider", 900)
    page.wait_for_function("() => document.querySelector('#xt-image canvas').dataset.t === '900'", timeout=30_000)
    after = _canvas_pixels(page)
    assert after != before, "x_t did not change when t moved"
    # the numbers line and the chart markers follow t too, drawn by the browser
    assert "t = 900" in page.locator("#forward-numbers").inner_text()
    marker_x = page.evaluate("() => { const g = document.querySelector('#schedule-plot .js-plotly-plot');"
                             " return g.data[g.data.length - 4].x; }")
    assert marker_x == [900, 900, 900]
    _shot(page, "1_forward_t900")


def test_sampling_tab_streams_frames(session):
    page, _ = session
    _open_tab(page, "Sampling")
    _set_slider(page, "sample-steps", 60)
    _set_slider(page, "sample-n", 2)
    page.wait_for_timeout(300)
    page.locator("#sample-btn").click()
    statuses, srcs = [], []
    deadline = time.time() + 120
    while time.time() < deadline:
        text = page.locator("#sample-status").inner_text()
        src = _src(page, "#ddim-xt img")
        if text and (not statuses or statuses[-1] != text):
            statuses.append(text)
        if src and (not srcs or srcs[-1] != src):
            srcs.append(src)
        if "Done" in text:
            break
        page.wait_for_timeout(40)
    assert statuses and "Done" in statuses[-1], statuses[-3:]
    assert "60/60" in statuses[-1]
    running = [s for s in statuses if "Running" in s]
    assert len(running) >= 1 and len(srcs) >= 2, f"no streaming: {len(running)} running statuses, {len(srcs)} frames"
    _shot(page, "2_sampling_done")


def test_training_tab_start_and_stop(session):
    page, _ = session
    _open_tab(page, "Train")
    page.get_by_text("tiny: 1-minute run").click()  # the tiny preset (the server caps the budget at 8 s anyway)
    page.wait_for_timeout(500)
    page.locator("#train-btn").click()
    status = page.locator("#train-status")
    page.wait_for_function("() => /Training/.test(document.querySelector('#train-status').innerText)", timeout=120_000)
    _shot(page, "3_training_running")
    page.get_by_role("button", name=re.compile("Stop")).filter(visible=True).first.click()
    page.wait_for_function("() => /Finished|Stopped/.test(document.querySelector('#train-status').innerText)",
                           timeout=120_000)
    text = status.inner_text()
    assert "Stopped at step" in text or "time budget" in text, text  # the Stop click races the server's 8 s cap
    _shot(page, "3_training_stopped")


def test_theory_tab_and_every_tab_renders(session):
    page, _ = session
    _open_tab(page, "Theory")
    page.wait_for_timeout(500)
    assert page.locator(".katex, math, mjx-container").count() > 0 or "SNR" in page.inner_text("body")
    _shot(page, "4_theory")
    tabs = [t.inner_text() for t in page.get_by_role("tab").all()]
    assert len(tabs) >= 4, tabs
    for name in ("Forward", "Sampling", "Train", "Theory"):
        _open_tab(page, name)
        assert page.locator(".tabitem:visible, [role=tabpanel]:visible").count() >= 1


def test_no_page_or_console_errors(session):
    page, problems = session
    page.wait_for_timeout(500)
    real = real_problems(problems)
    assert not real, "\n".join(real)


# ------------------------------------------------------------------------- the classroom: links, keys, presenter


def test_browser_blend_matches_the_server_image(session, live_app):
    """The canvas the browser draws equals the server's x_t (forward.forward_image) up to the int8 noise transport."""
    import numpy as np

    from playground.ui import forward
    from playground.ui.images import example_images, load_image

    page, _ = session
    _open_tab(page, "Forward")
    _set_slider(page, "t-slider", 400)
    page.wait_for_function("() => document.querySelector('#xt-image canvas').dataset.t === '400'", timeout=30_000)
    rgb = np.array(page.evaluate("""() => { const c = document.querySelector('#xt-image canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""), dtype=np.int16)
    name, path = example_images()[0][1], example_images()[0][0]
    state = forward.forward_state(load_image(path), 0, name)
    server = forward.forward_image(state, "cosine", 1000, False, 400).astype(np.int16)  # (H, W, 3), k = 1 for photos
    browser = rgb.reshape(server.shape[0], server.shape[1], 4)[..., :3]
    diff = np.abs(browser - server)
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 4, (diff.mean(), diff.max())


def test_keyboard_shortcuts_move_t_and_switch_tabs(session):
    page, _ = session
    _open_tab(page, "Forward")
    _set_slider(page, "t-slider", 300)
    page.wait_for_function("() => document.querySelector('#xt-image canvas').dataset.t === '300'", timeout=30_000)
    page.locator("body").click(position={"x": 5, "y": 5})  # focus the page, not a field
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("() => document.querySelector('#xt-image canvas').dataset.t === '311'", timeout=10_000)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('#xt-image canvas').dataset.t === '310'", timeout=10_000)
    # typing in a field never fires a shortcut
    box = page.locator("#t-slider input[type=number]")
    box.click()
    box.press("ArrowLeft")
    page.keyboard.press("3")
    page.wait_for_timeout(300)
    assert "Forward" in page.locator("button[role=tab][aria-selected=true]").inner_text()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("3")
    page.wait_for_function("() => /Train/.test("
                           "document.querySelector('button[role=tab][aria-selected=true]').innerText)", timeout=5_000)
    page.keyboard.press("1")
    page.wait_for_function("() => /Forward/.test("
                           "document.querySelector('button[role=tab][aria-selected=true]').innerText)",
                           timeout=5_000)


def test_deep_link_opens_the_tab_with_its_values_and_notes_bad_ones(session, live_app):
    page = session[0].context.browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(live_app.url + "?tab=sample&steps=10&eta=1&seed=3&spacing=leading", wait_until="domcontentloaded")
        page.wait_for_function("() => /Sampling/.test((document.querySelector('button[role=tab][aria-selected=true]')"
                               " || {}).innerText)", timeout=90_000)
        page.wait_for_function("() => document.querySelector('#sample-steps input[type=number]').value === '10'",
                               timeout=30_000)
        assert not page.locator("#deeplink-note").is_visible()
        # the copy-link button rebuilds a link to this view
        page.locator("#copy-link").click()
        page.wait_for_function("() => /steps=10/.test(document.querySelector('#view-link textarea, "
                               "#view-link input').value)",
                               timeout=10_000)
        link = page.locator("#view-link textarea, #view-link input").first.input_value()
        assert "tab=sample" in link and "eta=1" in link and "seed=3" in link and "spacing=leading" in link
        # forward link with an example, a schedule and t, plus bad and unknown settings: a note, never an error page
        page.goto(live_app.url + "?tab=forward&image=rocket&schedule=linear&t=600&eta=0.5&T=abc&bogus=1",
                  wait_until="domcontentloaded")
        page.wait_for_function("() => { const c = document.querySelector('#xt-image canvas'); return c && "
                               "c.dataset.t === '600'; }",
                               timeout=90_000)
        page.wait_for_function("() => /rocket/.test(document.body.innerText)", timeout=30_000)
        note = page.locator("#deeplink-note").inner_text()
        assert "T=abc" in note and "not a number" in note and "bogus" in note and "tab=sample" in note, note
        assert page.locator("#forward-schedule input").input_value() == "linear"
    finally:
        page.close()


def test_presenter_mode_1280x720(session, live_app):
    page = session[0].context.browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(live_app.url + "?present=1&t=700", wait_until="domcontentloaded")
        page.wait_for_function("() => document.body.classList.contains('present')", timeout=90_000)
        page.wait_for_function(CANVAS_DRAWN, timeout=90_000)
        size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#forward-numbers')).fontSize)")
        assert size >= 22, size  # large type from the back of a room
        assert not page.locator(".explain").first.is_visible()  # fewer explanations on screen
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "present_1280x720.png"))
        page.keyboard.press("p")  # the P key switches presenter mode off again
        page.wait_for_function("() => !document.body.classList.contains('present')", timeout=10_000)
    finally:
        page.close()
