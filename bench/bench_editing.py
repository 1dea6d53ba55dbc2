"""Benchmark: the "Draw & edit" tab's work (playground/editing/edits.py) with the shipped model on this machine.

    python bench/bench_editing.py --threads 1     # the table below (~3 min on the busy 2-core host)
    python bench/bench_editing.py --threads 1 2   # also with two threads (only on an idle machine: see RESULTS)
    python bench/bench_editing.py --profile       # where one SDEdit run spends its time (torch profiler, 1 thread)

Targets (the issue): SDEdit or inpainting of one digit with 50 steps ≤ 2 s; inversion + reconstruction
with 50 + 50 steps ≤ 3 s. Each row is the median of --reps runs after one warm-up run, fp32, the default
checkpoint (checkpoints/mnist_eps_cond.pt, 1.30 M parameters), one 28×28 digit, as the app runs it.
"w = 1.5" rows use classifier-free guidance: the model runs on a batch of 2 (conditional + unconditional).
The machine's load average (`uptime`) is printed with the table: the dev machine is shared.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.editing import edits  # noqa: E402
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model  # noqa: E402
from playground.mnist.sample import make_model_fn  # noqa: E402
from playground.schedules import make_schedule  # noqa: E402

RESULTS = """
Measured 2026-11-22 on the dev machine: 2 cores of an Intel Xeon (AVX-512, AVX512-BF16, AMX), torch 2.14.1, no GPU,
fp32, the shipped model, ONE torch thread. The host was shared and busy all afternoon (load average 2.4 to 9, i.e.
one to four runnable jobs per core); it never went idle, so these are busy-host figures. Three runs of
`python bench/bench_editing.py --reps 5 --threads 1`, each column with the load average (1 min) before → after:

what                                                           calls |  run A     |  run B     |  run C     | target
                                                                     | 9.05→7.69  | 2.63→4.34  | 4.85→4.84  |
prepare_digit: 400×400 sketchpad drawing → 28×28                   – |   10.9 ms  |    8.6 ms  |    9.6 ms  |
prepare_digit: 4000×4000 RGBA canvas (64 MB)                       – |    393 ms  |    235 ms  |    410 ms  |
SDEdit, strength 0.6, DDIM 50 steps, w = 1 (batch 1)              50 |    1.24 s  |    1.03 s  |    1.49 s  | ≤ 2 s
SDEdit, strength 0.6, DDIM 50 steps, w = 1.5 (batch 2)            50 |    2.22 s  |    1.75 s  |    2.05 s  | ≤ 2 s
inpainting, top half, DDPM 50 steps, w = 1.5                      50 |    2.19 s  |    1.63 s  |    2.15 s  | ≤ 2 s
inpainting + RePaint resampling j = 10, r = 3, w = 1.5           130 |    3.47 s  |    4.61 s  |    6.06 s  |
inversion + reconstruction, 50 + 50 steps, w = 1                 100 |    2.16 s  |    2.02 s  |    2.39 s  | ≤ 3 s
inversion + reconstruction, 50 + 50 steps, w = 1.5               100 |    2.66 s  |    4.42 s  |    4.55 s  | ≤ 3 s
SDEdit strip, 8 strengths 0.2 … 0.9, steps ∝ t0 (N = 50), w = 1.5 220 |    7.49 s  |    6.80 s  |   11.31 s  |
interpolation: 2 inversions + 8 decodes, 50 steps each, w = 0    150 |    8.41 s  |    5.33 s  |   11.01 s  |

Read-out: without guidance (w = 1) the targets hold on the busy host in every run (SDEdit 1.0-1.5 s, inversion +
reconstruction 2.0-2.4 s). With guidance the model runs on a batch of 2, and on the busy host that costs up to 2x:
SDEdit/inpainting land at 1.6-2.2 s (target 2 s) and the guided round trip at 2.7-4.6 s (target 3 s). Not measured
idle (the host never was): at the start of the session, load ~1, one forward took 14 ms (batch 1) and 15 ms (batch 2)
on one thread, which puts an idle run at about 0.75 s (50 calls) and 1.5 s (100 calls), guided or not. The run-to-run
spread at equal settings (RePaint: 3.5-6.1 s) is the host, not the code.

Two threads on this busy host: the 2-thread block of the same script did not finish in 20 minutes (OpenMP threads
spin waiting for a core that another job holds; one profiled SDEdit took 43 s instead of 1.4 s). Use
PLAYGROUND_THREADS=1 on a shared CPU, as the app's README says.

Profile (`--profile --threads 1`, load 8.8): one SDEdit with w = 1.5 and 50 steps took 1.37 s of wall time, of which
1.335 s (97.5%) inside the network and 34 ms in everything else (q_sample, the 50 DDIM steps, noise draws, the
loop). In the network, convolutions are 75% of the CPU time (oneDNN 65%; 7 of the 29 convolutions per forward take
ATen's slow path, 5%). So nothing in editing.py is worth optimising: the cost is model calls × forward time. The
app keeps fp32 here (bf16 autocast samples about 1.7x faster on this CPU, README's sampling table, but it adds its
own error to the inversion round trip, which is the lesson of that tool).
"""


def median_time(fn, reps: int) -> float:
    fn()  # warm-up (oneDNN primitive cache, allocator)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_avg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def stroke(size: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    k = size / 400
    pts = [(150, 100), (250, 90), (260, 150), (190, 200), (265, 250), (250, 320), (140, 320)]
    ImageDraw.Draw(im).line([(x * k, y * k) for x, y in pts], fill=(0, 0, 0, 255), width=round(18 * k), joint="curve")
    return np.asarray(im)


def rows(model, s, reps: int) -> list[tuple[str, int | str, float]]:
    drawing, huge = stroke(400), stroke(4000)
    x0 = edits.prepare_digit(drawing, background="white").x0
    xb, _ = edits.heldout_digit(1)
    lab = torch.tensor([3])
    fn1, fn15 = make_model_fn(model, lab, 1.0), make_model_fn(model, lab, 1.5)
    t0 = edits.strength_to_t0(0.6, s.T)
    keep = edits.preset_keep_mask("top half")
    strip_t0 = [edits.strength_to_t0(v, s.T) for v in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    out = [
        ("prepare_digit: 400×400 sketchpad drawing → 28×28", "–",
         median_time(lambda: edits.prepare_digit(drawing, background="white"), reps * 4)),
        ("prepare_digit: 4000×4000 RGBA canvas (64 MB)", "–",
         median_time(lambda: edits.prepare_digit(huge, background="white"), reps)),
        ("SDEdit, strength 0.6, DDIM 50 steps, w = 1 (batch 1)", 50,
         median_time(lambda: edits.sdedit(fn1, s, x0, t0, generator=g(), num_steps=50), reps)),
        ("SDEdit, strength 0.6, DDIM 50 steps, w = 1.5 (batch 2)", 50,
         median_time(lambda: edits.sdedit(fn15, s, x0, t0, generator=g(), num_steps=50), reps)),
        ("inpainting, top half, DDPM 50 steps, w = 1.5", 50,
         median_time(lambda: edits.inpaint(fn15, s, x0, keep, generator=g(), num_steps=50), reps)),
        ("inpainting + RePaint resampling j = 10, r = 3, w = 1.5",
         sum(op[0] == "down" for op in edits.repaint_ops(50, 10, 3)),
         median_time(lambda: edits.inpaint(fn15, s, x0, keep, generator=g(), num_steps=50, jump_length=10,
                                           jump_n_sample=3), reps)),
        ("inversion + reconstruction, 50 + 50 steps, w = 1", 100,
         median_time(lambda: edits.invert_and_reconstruct(fn1, s, x0, num_steps=50), reps)),
        ("inversion + reconstruction, 50 + 50 steps, w = 1.5", 100,
         median_time(lambda: edits.invert_and_reconstruct(fn15, s, x0, num_steps=50), reps)),
        ("SDEdit strip, 8 strengths 0.2 … 0.9, steps ∝ t0 (N = 50), w = 1.5",
         sum(edits.strip_steps(t, 50, s.T) for t in strip_t0),
         median_time(lambda: list(edits.sdedit_strip(fn15, s, x0, strip_t0, seed=0, num_steps=50)), reps)),
        ("interpolation: 2 inversions + 8 decodes, 50 steps each, w = 0", 150,
         median_time(lambda: edits.interpolate(lambda label: make_model_fn(model, label, 0.0), s, x0, xb, num=8,
                                               num_steps=50), reps)),
    ]
    return out


def fmt(sec: float) -> str:
    return f"{sec * 1e3:.1f} ms" if sec < 0.5 else f"{sec:.2f} s"


def profile(model, s) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    x0 = edits.prepare_digit(stroke(400), background="white").x0
    fn = make_model_fn(model, torch.tensor([3]), 1.5)
    edits.sdedit(fn, s, x0, 600, generator=torch.Generator().manual_seed(0), num_steps=50)
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        edits.sdedit(fn, s, x0, 600, generator=torch.Generator().manual_seed(0), num_steps=50)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=18))
    # Wall time inside the network against the whole run (the step arithmetic, noise draws and bookkeeping).
    inside = []

    def timed(x, t):
        t_ = time.perf_counter()
        out = fn(x, t)
        inside.append(time.perf_counter() - t_)
        return out

    runs = []
    for _ in range(3):
        inside.clear()
        t_ = time.perf_counter()
        edits.sdedit(timed, s, x0, 600, generator=torch.Generator().manual_seed(0), num_steps=50)
        runs.append((time.perf_counter() - t_, sum(inside)))
    total, net = sorted(runs)[1]
    print(f"one SDEdit (w = 1.5, 50 steps): {total:.3f} s wall, of which the network {net:.3f} s "
          f"({100 * net / total:.1f}%); everything else {1e3 * (total - net):.1f} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[1], help="torch thread counts to time (default 1)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    model, meta = load_model(DEFAULT_CHECKPOINT, "cpu")
    s = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    if args.profile:
        torch.set_num_threads(args.threads[-1])
        profile(model, s)
        return 0
    table = {}
    for th in args.threads:
        torch.set_num_threads(th)
        before = load_avg()
        table[th] = rows(model, s, args.reps)
        print(f"{th} thread(s): load average {before} → {load_avg()}", flush=True)
    names = [(r[0], r[1]) for r in table[args.threads[0]]]
    print(f"\n{'what':66s} {'calls':>5s} | " + " | ".join(f"{th} thread(s)" for th in args.threads))
    for i, (name, calls) in enumerate(names):
        print(f"{name:66s} {calls!s:>5s} | " + " | ".join(f"{fmt(table[th][i][2]):>11s}" for th in args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
