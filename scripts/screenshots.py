"""Start the app, visit each tab in headless Chromium, save PNGs into docs/screenshots/.

The presenter-mode picture (present_1280x720.png) is made by tests/test_browser.py.

    python scripts/screenshots.py                     # all tabs, 1600×1000 viewport
    python scripts/screenshots.py --train-seconds 40  # let the training tab run longer first

Uses the system Chromium (/usr/bin/chromium, or $CHROMIUM); never downloads a browser.
The app runs as `python app.py --port <free port>` in a subprocess, exactly as a user starts it.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"app did not answer at {url}")


def lab2d_flow(page, shot) -> None:
    """The 2-D lab's flow section: both ODEs from one x_T, then one reflow round (the 2-D lab tab must be open)."""
    page.locator("#lab2d-flow").get_by_text("Flow matching next to diffusion").click()
    page.locator("#lab2d-flow-compare").click()
    page.wait_for_function("() => /length ÷ chord/.test(document.querySelector('#lab2d-flow-numbers').innerText)",
                           timeout=120_000)
    page.locator("#lab2d-reflow").click()
    page.wait_for_function("() => /Done/.test(document.querySelector('#lab2d-reflow-status').innerText)",
                           timeout=180_000)
    page.wait_for_timeout(2000)
    page.locator("#lab2d-flow").scroll_into_view_if_needed()
    page.locator("#lab2d-flow").screenshot(path=str(OUT / "5_lab2d_flow.png"))
    print("wrote docs/screenshots/5_lab2d_flow.png")


def distill_2d(page, shot) -> None:
    """The Fewer steps tab's 2-D section: progressive, consistency and reflow from one x_T (the tab must be open)."""
    page.locator("#distill-btn").click()
    page.wait_for_function("() => /Done/.test(document.querySelector('#distill-status').innerText)",
                           timeout=300_000)
    page.locator("#distill-status").scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    page.wait_for_timeout(1500)
    shot("7_distill", full=False)


def distill_mnist(page, shot) -> None:
    """The Fewer steps tab's MNIST section: the shipped student beside its teacher (the tab must be open)."""
    page.locator("#distill-mnist-btn").click()
    page.wait_for_function("() => /Done/.test(document.querySelector('#distill-mnist-status').innerText)",
                           timeout=180_000)
    page.evaluate("document.querySelector('#distill-mnist-status').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1500)
    shot("7_distill_mnist", full=False)


def sampling_student(page, shot) -> None:
    """The Sampling tab with the distilled student at 2 steps beside its teacher (the tab must be open)."""
    page.locator("#sample-model input").click()
    page.get_by_role("option", name="mnist_v_student", exact=False).click()
    box = page.locator("#sample-steps input[type=number]")
    box.fill("2")
    box.press("Enter")
    page.wait_for_timeout(800)
    page.locator("#sample-btn").click()
    page.wait_for_function("() => /Done/.test(document.querySelector('#sample-status').innerText)", timeout=120_000)
    page.wait_for_timeout(1500)
    shot("2_sampling_student", full=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1000)
    ap.add_argument("--train-seconds", type=float, default=30,
                    help="how long the training tab runs before its screenshot")
    ap.add_argument("--preview-every", type=int, default=10,
                    help="training tab: refresh the sample grid every N steps")
    ap.add_argument("--url", help="screenshot an app that is already running here instead of starting one")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)

    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                                env={**os.environ,
                                     "PLAYGROUND_SAVE_TRAINED": os.environ.get("PLAYGROUND_SAVE_TRAINED", "0")})
    try:
        if proc is not None:
            wait_for(url, proc)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                        args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(url, wait_until="domcontentloaded", timeout=90_000)
            page.wait_for_selector("text=Noise schedule", timeout=60_000)
            page.wait_for_timeout(4000)  # page-load events: the example image and the charts

            def tab(name: str) -> None:
                page.get_by_role("tab", name=name).click()
                page.wait_for_timeout(1500)

            def shot(name: str, full: bool = True) -> None:
                path = OUT / f"{name}.png"
                page.screenshot(path=str(path), full_page=full)
                print("wrote", path.relative_to(ROOT))

            # 1. forward noising: move t to the middle of the schedule
            shot("1_forward", full=False)
            slider = page.get_by_label("number input for t (timestep)")
            if slider.count():
                slider.first.fill("400")
                slider.first.press("Enter")
                page.wait_for_timeout(2000)
            shot("1_forward_full")

            # 2. sampling: run the default settings once
            tab("2 · Sampling")
            btn = page.get_by_role("button", name="▶ Sample")
            btn.click()
            try:
                page.wait_for_selector("text=Done", timeout=180_000)
            except Exception:  # noqa: BLE001 - no model: the tab shows its notice instead
                pass
            page.wait_for_timeout(1500)
            shot("2_sampling")
            sampling_student(page, shot)

            # 3. training: start a short run, screenshot while it streams
            tab("3 · Train")
            page.get_by_text("tiny: 1-minute run").click()
            page.wait_for_timeout(500)
            page.get_by_text("Advanced settings").click()  # refresh the sample grid often, for the picture
            page.get_by_label("Refresh samples every N steps").fill(str(args.preview_every))
            page.get_by_text("Advanced settings").click()
            page.wait_for_timeout(300)
            page.get_by_role("button", name="▶ Start training").click()
            page.wait_for_timeout(int(args.train_seconds * 1000))
            shot("3_training")
            page.get_by_role("button", name="■ Stop").last.click()
            try:
                page.wait_for_selector("text=Finished", timeout=60_000)
            except Exception:  # noqa: BLE001
                pass
            page.wait_for_timeout(1000)

            # 4. Draw & edit: a '7' on the sketchpad, then SDEdit
            tab("4 · Draw & edit")
            brush = page.locator("#edit-sketch button[aria-label=Brush]")
            brush.wait_for(timeout=30_000)
            brush.click()  # Gradio 6's sketchpad starts with no tool selected
            box = page.locator("#edit-sketch canvas").first.bounding_box()

            def at(u, v):
                return box["x"] + u * box["width"], box["y"] + v * box["height"]

            stroke = [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)]
            page.mouse.move(*at(*stroke[0]))
            page.mouse.down()
            for (u1, v1), (u2, v2) in zip(stroke, stroke[1:]):
                for k in range(1, 13):
                    page.mouse.move(*at(u1 + (u2 - u1) * k / 12, v1 + (v2 - v1) * k / 12))
            page.mouse.up()
            page.locator("#edit-seen img").wait_for(timeout=120_000)
            page.locator("#edit-sdedit-btn").click()
            page.wait_for_function("() => /Done/.test(document.querySelector('#edit-sd-status').innerText)",
                                   timeout=180_000)
            page.wait_for_timeout(1000)
            shot("6_edit", full=False)

            # 5. 2-D lab: train for a few seconds, then sample every sampler from one x_T
            tab("5 · 2-D lab")

            def set_number(elem_id: str, value) -> None:
                box_ = page.locator(f"#{elem_id} input[type=number]")
                box_.fill(str(value))
                box_.press("Enter")
                box_.blur()

            set_number("lab2d-train-seconds", 5)
            page.locator("#lab2d-train").click()
            page.wait_for_function("() => /done/.test(document.querySelector('#lab2d-train-status').innerText)",
                                   timeout=120_000)
            page.locator("#lab2d-sample").click()
            page.wait_for_function("() => /D ÷ data-vs-data/.test(document.querySelector('#lab2d-summary').innerText)",
                                   timeout=180_000)
            page.wait_for_timeout(2500)  # plotly draws the paths after the summary
            shot("5_lab2d", full=False)
            shot("5_lab2d_full")
            lab2d_flow(page, shot)

            # 6. Fewer steps: error against NFE on the single Gaussian, then a 2-D distillation run
            tab("6 · Fewer steps")
            page.get_by_role("button", name="Run", exact=True).click()
            page.wait_for_function("() => /slope|order/i.test(document.body.innerText)", timeout=120_000)
            page.wait_for_timeout(2000)
            shot("7_fewer_steps", full=False)
            distill_2d(page, shot)
            distill_mnist(page, shot)

            # 7. Likelihood: the fast estimate on 20 digits, train against held-out
            tab("7 · Likelihood")
            page.get_by_role("button", name="Compute bits/dim").click()
            page.wait_for_function("() => /±/.test(document.body.innerText)", timeout=300_000)  # mean ± its SE
            page.wait_for_timeout(2000)
            shot("8_likelihood", full=False)

            # 8. theory
            tab("8 · Theory")
            page.wait_for_timeout(1500)
            shot("4_theory", full=False)
            shot("4_theory_full")
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
