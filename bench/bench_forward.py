"""Benchmark: what a move of the Forward tab's t costs the server, on a 512×512 upload.

    python bench/bench_forward.py                 # 60 calls, prints the table
    python bench/bench_forward.py --moves 200 --image path/to/photo.jpg

The page: a move of t runs in the browser only (playground/ui/js/forward_blend.js), so it costs the server
nothing. What the server does instead, once per image, noise seed or schedule, is build the payload the browser
blends from (forward.client_payload): timed here, with its size.
The API: /forward (forward.forward_api) for gradio_client users. Timed (median after 3 warm-up calls):
  handler      forward_api alone: the cached decoded image and noise (per file and seed), one multiply-add
  server path  demo.process_api for the real /forward event: FileData preprocessing, the handler, and Gradio's
               postprocessing (JPEG encode + cache write), i.e. all the server does per call but the queue.
Target: ≤ 50 ms of server time per call.

RESULTS: see the README's benchmark section (figures with the machine's load).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1e3:6.2f} ms   p90 {xs[int(0.9 * (len(xs) - 1))] * 1e3:6.2f} ms   max "
            f"{xs[-1] * 1e3:6.2f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--image", default=str(ROOT / "assets" / "examples" / "astronaut.png"),
                    help="a 512×512 image by default")
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--T", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.moves < 30:
        ap.error("use at least 30 moves")

    import os

    from gradio.data_classes import FileData

    import app
    from playground.ui import forward
    from playground.ui.images import load_image

    print(f"load average {os.getloadavg()[0]:.2f}; torch threads {__import__('torch').get_num_threads()}")
    rng = __import__("random").Random(0)
    ts = [rng.randrange(args.T) for _ in range(args.moves + 3)]

    # 1. the page: the payload, once per image / seed / schedule
    state = forward.forward_state(load_image(args.image), 0, Path(args.image).name)
    pay = []
    for _ in range(10):
        a = time.perf_counter()
        p = forward.client_payload(state, args.schedule, args.T, False)
        size = len(json.dumps(p))
        pay.append(time.perf_counter() - a)
    print(f"page: per move 0 ms of server time (the browser blends); payload once per image/seed/schedule: "
          f"{_ms(pay)}, {size / 1e6:.2f} MB of JSON")

    # 2. /forward handler alone (cached decode + noise)
    times = []
    for i, t in enumerate(ts):
        a = time.perf_counter()
        forward.forward_api(args.image, args.schedule, args.T, t, False, 0)
        if i >= 3:
            times.append(time.perf_counter() - a)
    print(f"/forward handler (forward_api)     {_ms(times)}")

    # 3. the full server path of the real event (preprocess + handler + postprocess)
    demo = app.demo
    fn = next(f for f in demo.fns.values() if f.name == "forward_api")
    loop = asyncio.new_event_loop()
    fd = FileData(path=str(Path(args.image).resolve()), orig_name=Path(args.image).name).model_dump()
    from gradio.state_holder import SessionState

    a = time.perf_counter()
    sess = SessionState(demo)  # once per browser session / API client (it snapshots every block's config)
    print(f"new session state (once per client)  {(time.perf_counter() - a) * 1e3:.0f} ms")
    server = []
    for i, t in enumerate(ts):
        a = time.perf_counter()
        out = loop.run_until_complete(demo.process_api(block_fn=fn, inputs=[fd, args.schedule, args.T, t, False, 0],
                                                       state=sess))
        if i >= 3:
            server.append(time.perf_counter() - a)
    assert out["data"][0] is not None, "x_t missing from the event's output"
    med = statistics.median(server)
    print(f"/forward server path (process_api) {_ms(server)}")
    print(f"RESULT: median server time per /forward call = {med * 1e3:.1f} ms (target ≤ 50 ms) "
          f"{'PASS' if med <= 0.05 else 'FAIL'}")
    return 0 if med <= 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
