"""Benchmark: the page's t slider in a real browser while a simulated class loads the server.

    python bench/bench_page_slider.py --start --students 60 --seconds 40
    python bench/bench_page_slider.py --url http://127.0.0.1:7860/ --students 0      # the browser alone

Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) opens the Forward tab and moves t about
five times a second; each move is timed in the page, from the input event on the slider to the moment the
canvas shows x_t at the new t (js/forward_blend.js records the t it drew), then the next animation frame. At the
same time bench/bench_classroom.py's students (threads, raw HTTP, Gradio's queue) hit /forward once a second
each and 1 in 6 press Sample. Since the page blends x_t itself, its latency should not depend on the class size.

RESULTS (2-core AMD EPYC; the machine was shared with other agents' jobs, load average in the table):
    see the README's classroom section for the table this script printed
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")

_spec = importlib.util.spec_from_file_location("bench_classroom", ROOT / "bench" / "bench_classroom.py")
classroom = importlib.util.module_from_spec(_spec)
sys.modules["bench_classroom"] = classroom
_spec.loader.exec_module(classroom)

MOVE_JS = """async (target) => {
  const r = document.querySelector('#t-slider input[type=range]');
  const c = document.querySelector('#xt-image canvas');
  const t0 = performance.now();
  r.value = String(target);
  r.dispatchEvent(new Event('input', { bubbles: true }));
  while (c.dataset.t !== String(target)) {
    await new Promise((ok) => setTimeout(ok, 1));
    if (performance.now() - t0 > 10000) return -1;
  }
  await new Promise((ok) => requestAnimationFrame(() => ok()));  // on screen: the frame after the draw
  return performance.now() - t0;
}"""


def measure_page(url: str, seconds: float, rate_hz: float = 5.0) -> list[float]:
    """Move t in a real browser for `seconds`; returns the per-move latencies in ms (−1 = not drawn in 10 s)."""
    from playwright.sync_api import sync_playwright

    out: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function("() => { const c = document.querySelector('#xt-image canvas'); return c "
                               "&& c.width > 1; }",
                               timeout=180_000)
        end = time.time() + seconds
        i = 0
        while time.time() < end:
            target = 100 + (i * 137) % 800
            i += 1
            out.append(float(page.evaluate(MOVE_JS, target)))
            time.sleep(max(0.0, 1.0 / rate_hz))
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url")
    where.add_argument("--start", action="store_true")
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--no-fetch", action="store_true")
    ap.add_argument("--api-students", type=int, default=None, help="students of the class who move t through /forward "
                    "(default: all of them, the heaviest load); the others are page students")
    args = ap.parse_args(argv)
    proc = tmp = None
    url = args.url
    if args.start:
        url, proc, _log, tmp = classroom.start_app()
    try:
        load0 = os.getloadavg()[0]
        result: dict = {}
        if args.students:
            th = threading.Thread(target=lambda: result.update(classroom.run_classroom(
                url, args.students, args.seconds + 10, fetch_images=not args.no_fetch,
                api_students=args.api_students)), daemon=True)
            th.start()
            time.sleep(8)  # the class is uploading and moving before the browser starts measuring
        ms = measure_page(url, args.seconds)
        if args.students:
            th.join(args.seconds + 200)
        ok = sorted(m for m in ms if m >= 0)
        q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] if ok else float("nan")  # noqa: E731
        print(f"page slider, {len(ms)} moves with {args.students} students: p50 {q(0.5):.0f} ms, p95 "
              f"{q(0.95):.0f} ms, max {ok[-1] if ok else float('nan'):.0f} ms, not drawn {len(ms) - len(ok)}; "
              f"load {load0:.1f} → {os.getloadavg()[0]:.1f}")
        if result:
            print(classroom.format_report(result))
    finally:
        if proc is not None:
            classroom.stop_app(proc, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
