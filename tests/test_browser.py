"""End to end in a real browser: headless Chromium (Debian's /usr/bin/chromium, never a download)
driven by Playwright against the live app (tests/conftest.py ``live_app``).

One page walks through the app like a user: every tab, the t slider redraws x_t, a short sampling
run streams frames, a tiny training run starts and is stopped; no page errors or console errors
along the way. Screenshots go to artifacts/screenshots/ (gitignored).
"""
from __future__ import annotations

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
                                reason=f"no Chromium at {CHROMIUM} (install Debian's chromium: scripts/ensure_chromium.sh)")

# Console noise that is not the app's fault. Keep this list short, each entry with its reason.
BENIGN = [
    # The machine has no internet: the theme's web fonts (Google Fonts) cannot load.
    re.compile(r"fonts\.(googleapis|gstatic)\.com"),
    # Same cause, reported without the URL by Chromium for blocked font/resource fetches.
    re.compile(r"Failed to load resource: net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED)"),
]


@pytest.fixture(scope="module")
def session(live_app):
    pw_mod = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("console", lambda m: problems.append(f"console.error: {m.text} @ {m.location.get('url', '')}")
                if m.type == "error" else None)
        page.goto(live_app.url, wait_until="domcontentloaded")
        page.wait_for_selector("#xt-image img", timeout=90_000)  # demo.load shows the first example
        yield page, problems
        browser.close()


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
    before = _src(page, "#xt-image img")
    assert before
    _shot(page, "1_forward_before")
    _set_slider(page, "t-slider", 900)
    deadline = time.time() + 30
    after = before
    while time.time() < deadline and after == before:
        page.wait_for_timeout(100)
        after = _src(page, "#xt-image img")
    assert after and after != before, "x_t did not change when t moved"
    b0, b1 = page.request.get(before).body(), page.request.get(after).body()
    assert b0 != b1 and len(b1) > 500  # a different, real image
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
    page.wait_for_function("() => /Finished/.test(document.querySelector('#train-status').innerText)", timeout=120_000)
    text = status.inner_text()
    assert "stopped" in text or "time budget" in text, text  # the Stop click races the server's 8 s cap
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
    real = [p for p in problems if not any(b.search(p) for b in BENIGN)]
    assert not real, "\n".join(real)
