"""Benchmark: server time of one move of the Forward tab's t slider, on a 512×512 upload.

    python bench/bench_forward.py                 # 60 moves, prints the table
    python bench/bench_forward.py --moves 200 --image path/to/photo.jpg

What is timed (median over the moves, after 3 warm-up moves):
  handler      forward.forward_render alone: x_t = √ᾱ·x₀ + √(1−ᾱ)·ε on the cached tensors, numbers, chart JSON
  server path  demo.process_api for the real `t.change` event: input preprocessing, the handler, and
               Gradio's postprocessing (JPEG encode + write to the cache for x_t, Markdown, plot JSON).
               This is all the server does for a move; only the network and the browser are left out.
plus a breakdown of the hot path, and the one-off cost of preprocessing the upload.
The target is ≤ 50 ms of server time per move.

Measured on the dev machine (2 shared cores, load average ~6 from other jobs, torch 2.14.1, 2 threads),
`python bench/bench_forward.py --moves 60`, astronaut.png 512×512 RGB, cosine, T = 1000:
    upload preprocessing (once)   34–65 ms
    handler                       median  5–10 ms
    server path (process_api)     median  8–10 ms   (p90 15–20 ms)   -> PASS
    breakdown: x_t arithmetic ~0.8 ms, JPEG encode 2–6 ms, chart JSON (marker patch) ~1.7 ms;
    rebuilding the plotly figure instead would cost 48–118 ms per move on its own.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1e3:6.2f} ms   p90 {xs[int(0.9 * (len(xs) - 1))] * 1e3:6.2f} ms   max {xs[-1] * 1e3:6.2f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--image", default=str(ROOT / "assets" / "examples" / "astronaut.png"), help="a 512×512 image by default")
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--T", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.moves < 30:
        ap.error("use at least 30 moves")

    import torch

    from gradio.state_holder import SessionState
    from PIL import Image

    import app
    from playground import figures as F
    from playground.ui import common, forward

    print("command:", "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, image {args.image} "
          f"{Image.open(args.image).size}, schedule {args.schedule}, T {args.T}, moves {args.moves}")

    t0 = time.perf_counter()
    x0 = common.load_image(args.image)
    state = forward.forward_state(x0, 0, Path(args.image).name)
    print(f"upload preprocessing (once per image): {(time.perf_counter() - t0) * 1e3:.1f} ms -> working copy {x0.shape}")

    rng = np.random.default_rng(0)
    ts = [int(v) for v in rng.integers(0, args.T, args.moves + 3)]

    # 1. the handler alone
    times = []
    for i, t in enumerate(ts):
        t1 = time.perf_counter()
        forward.forward_render(state, args.schedule, args.T, False, t)
        if i >= 3:
            times.append(time.perf_counter() - t1)
    print(f"handler (forward.forward_render)        {_ms(times)}")

    # 2. the full server path of the real event (preprocess + handler + postprocess)
    demo = app.demo
    fn = next(f for f in demo.fns.values() if f.name == "forward_render")
    sess = SessionState(demo)
    sess[app.page.components["forward_state"]._id] = state
    loop = asyncio.new_event_loop()
    times = []
    for i, t in enumerate(ts):
        t1 = time.perf_counter()
        out = loop.run_until_complete(demo.process_api(block_fn=fn, inputs=[None, args.schedule, args.T, False, t], state=sess))
        if i >= 3:
            times.append(time.perf_counter() - t1)
    assert out["data"][0] is not None, "x_t missing from the event's output"
    server_median = statistics.median(times)
    print(f"server path (demo.process_api)     {_ms(times)}")

    # 3. breakdown of the hot path
    s = F.cached_schedule(args.schedule, args.T, False)
    parts = {"x_t arithmetic + uint8": [], "JPEG encode (Gradio postprocess)": [], "chart JSON (marker patch)": [],
             "numbers Markdown": []}
    from gradio import processing_utils

    for t in ts[3:]:
        ab = float(s.alpha_bar[t])
        a = time.perf_counter()
        img = forward._pixels(ab**0.5, (1 - ab) ** 0.5, state["X"], state["E"], state["k"])
        b = time.perf_counter()
        processing_utils.save_img_array_to_cache(img, cache_dir=app.xt_img.GRADIO_CACHE, format="jpeg")
        c = time.perf_counter()
        F.schedule_figure_with_marker(args.schedule, args.T, False, t)
        d = time.perf_counter()
        forward._numbers_md(args.schedule, args.T, False, t)
        e = time.perf_counter()
        for k, v in zip(parts, (b - a, c - b, d - c, e - d)):
            parts[k].append(v)
    for k, v in parts.items():
        print(f"  {k:34s} {_ms(v)}")

    # 4. what the naive path would cost (for the record): rebuilding the plotly figure every move
    import plotly.io as pio  # noqa: F401

    naive = []
    for t in ts[3:13]:
        a = time.perf_counter()
        F._schedule_figure_json.__wrapped__(args.schedule, args.T, False)
        naive.append(time.perf_counter() - a)
    print(f"  (not on the path) rebuilding the charts from scratch: {_ms(naive)}")
    print(f"RESULT: median server time per t move = {server_median * 1e3:.1f} ms (target ≤ 50 ms) "
          f"{'PASS' if server_median <= 0.050 else 'FAIL'}")
    return 0 if server_median <= 0.050 else 1


if __name__ == "__main__":
    raise SystemExit(main())
