"""Benchmarks of the 2-D lab (playground/toy2d/, playground/ui/lab2d/) against the issue's targets:

    python bench/bench_toy2d.py slider      # a move of t: server time, 10,000 points, 32×32 arrows (≤ 50 ms)
    python bench/bench_toy2d.py train       # quality against training time (good fit ≤ 15 s, moonshot 5 s)
    python bench/bench_toy2d.py samplers    # 2,000 particles × 100 steps of each sampler (≤ 1 s)
    python bench/bench_toy2d.py exact       # one exact-score evaluation: ns per (particle, data point) pair
    python bench/bench_toy2d.py all

Every section prints the load average before and after (the dev machine is shared: 2 cores, other jobs
running), wall time and, where it matters, the process's CPU time (what the same work costs on an idle
core). Medians; the measured tables are in RESULTS below.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playground import toy2d  # noqa: E402
from playground.samplers import run_to_end  # noqa: E402
from playground.schedules import make_schedule  # noqa: E402

RESULTS = """
Measured 2026-11-22 on the dev machine: Intel Xeon, 2 cores (AVX-512, AMX), torch 2.14.1, no GPU. The machine was
shared with other engineers' jobs throughout; the load average is given with every table (2 = both cores busy).
"CPU" is the process's CPU time: what the work costs on an idle core.

1. A move of t (python bench/bench_toy2d.py slider): the tab's t.change event through Gradio's process_api,
   10,000 points of two moons, one 32×32 grid (the density heatmap and the arrows), exact score; 1 thread;
   66 moves (60 random t plus six t < 20). Target ≤ 50 ms. Wall time swings with the other jobs on the host;
   the CPU time of the same call is the steadier figure.
                                                  load 3.2 (wall, p90)   load 3.8 (wall, p90)   CPU time
   exact arrows only                              14.6 ms (26.4)         57.3 ms (68.9)         22–28 ms
   exact + learned arrows + disagreement          23.5 ms (33.2)         71.3 ms (93.1)         30–35 ms
   t < 20 only, exact + learned (the slow case)   47.0 ms                113.7 ms               52–56 ms
   At small t most grid points are so far from the data (in units of σ_t) that the separable product
   underflows and they are recomputed directly: 1,024 × 10,000 pairs, about 25 ms. That is the worst case
   (t < 20 of 1000). At N = 2,000, the tab's default, the handler costs 5–13 ms of CPU (exact arrows only) and
   12–20 ms with the learned overlay, at any t (load 3.7).
   Profile-driven: the separable grid (two (G, N) factor matrices and three matrix products instead of
   G²·N exponentials), one 32×32 grid for density and score (a separate 63×63 density grid cost 14 ms more),
   a (G, 2) @ (2, N) product instead of a broadcast expression (15x faster on this CPU), exponents clamped
   so no denormal number appears (20x; float64 there, as float32 cannot keep products normal and accurate),
   figures as plain dicts with float32 typed arrays (a go.Figure costs ~25 ms to validate).

2. Training (python bench/bench_toy2d.py train): cosine, v-prediction, MLP 64 × 4 (21k parameters), batch 512,
   AdamW lr 1e-2 with cosine decay over the budget, EMA; 1 thread; load 2.6 at the start, 5.3 at the end (the
   CPU-s column shows how much of a core each run got). Energy distance of 2,000 samples (DDIM-100 / DDPM-100)
   to the 2,000 training points ÷ that of 2,000 fresh data points. Bar: ≤ 2× in 15 s; moonshot 5 s.
   dataset        budget  steps  CPU s   DDIM   DDPM
   moons            2.5s    504    2.3  0.76×  0.59×
   moons            5.0s    962    4.6  0.78×  0.52×
   moons           10.0s   1949    9.2  0.73×  0.52×
   moons           15.0s   2633   13.5  0.75×  0.58×
   swiss_roll       2.5s    389    2.2  1.85×  1.56×
   swiss_roll       5.0s    824    4.5  1.16×  0.68×
   swiss_roll      10.0s   1941    9.3  1.15×  0.52×
   swiss_roll      15.0s   1893   10.6  1.14×  0.52×
   gaussians8       2.5s    331    1.8  1.55×  1.39×
   gaussians8       5.0s    541    2.9  1.17×  0.96×
   gaussians8      10.0s    698    4.5  0.87×  0.44×
   gaussians8      15.0s   1420    8.3  0.64×  0.33×
   checkerboard     2.5s    288    1.5  1.23×  1.07×
   checkerboard     5.0s    327    1.7  1.26×  1.07×
   checkerboard    10.0s   1433    7.1  0.69×  0.49×
   checkerboard    15.0s   1442    8.1  0.69×  0.50×
   circles          2.5s    254    1.5  2.39×  2.19×
   circles          5.0s    361    2.1  2.44×  2.25×
   circles         10.0s    695    3.7  2.32×  2.10×
   circles         15.0s   1686    9.2  1.47×  0.73×
   gaussian         2.5s    314    1.5  1.48×  1.12×
   gaussian         5.0s    561    3.0  1.08×  0.89×
   gaussian        10.0s   1031    5.9  1.35×  0.92×
   gaussian        15.0s   1225    7.2  1.11×  0.90×
   Read-out: in 15 s every set is within 1.5× (DDIM) and 0.9× (DDPM) of data-against-data; in 5 s five of six are
   within 1.3× (moons 0.78× in 2.5 s). Concentric circles needs ~1,500 steps: it missed the bar below that.
   Quality follows steps, not seconds: on a busy host the same budget gives fewer steps (the tab caps runs at
   2,000 steps, reached in about 10 s on an idle core). An earlier run with the 128-wide MLP (75k parameters,
   load 6.5) reached 0.70× / 1.05× / 0.67× / 0.76× / 1.46× / 1.24× (DDIM, same order) in 15 s: the 64-wide net
   learns as well per step at twice the steps per second, and samples twice as fast.

3. Samplers (python bench/bench_toy2d.py samplers): 2,000 particles × 100 steps, cosine, moons; median of 3;
   1 thread; load 5.9. Target ≤ 1 s.
   sampler                       evals   learned MLP          exact score, N = 2,000
   DDPM (ancestral)                100   0.32 s (CPU 0.28)    1.00 s (CPU 0.87)
   DDIM (η)                        100   0.31 s (CPU 0.27)    1.19 s (CPU 1.03)
   DPM-Solver++(2M)                100   0.33 s (CPU 0.29)    1.02 s (CPU 0.91)
   probability-flow ODE (Heun)     211   0.56 s (CPU 0.50)    3.08 s (CPU 2.58)
   reverse SDE (Euler–Maruyama)    106   0.30 s (CPU 0.28)    1.47 s (CPU 1.40)
   annealed Langevin (L = 2)       213   0.61 s (CPU 0.59)    3.52 s (CPU 2.73)
   With the learned model every sampler is under 1 s. The exact score costs N × particles per evaluation (4 M pairs,
   ~10 ms), so it is 1–3.5 s here. Two threads on this busy host were 2–60x slower for some rows (OpenMP threads
   waiting for cores: the app's adapt_threads drops to one thread when the load is above the core count).
   Heun splits the cosine schedule's first step (σ̃: 13,000 → 60), hence 211 rather than 199 evaluations.

4. Re-measured on the idle machine (2026-11-22 21:08, load 1.0–1.6 from the runs themselves), at commit 75e9dfe+:
   python bench/bench_toy2d.py samplers
   sampler                       evals   learned 1 thr / 2 thr    exact N = 2,000, 1 thr / 2 thr
   DDPM (ancestral)                100   0.59 / 0.28 s            1.37 / 1.33 s
   DDIM (η)                        100   0.40 / 0.33 s            1.56 / 1.49 s
   DPM-Solver++(2M)                100   0.50 / 0.27 s            1.46 / 1.87 s
   probability-flow ODE (Heun)     211   0.91 / 0.53 s            4.01 / 2.86 s
   reverse SDE (Euler–Maruyama)    106   0.41 / 0.28 s            1.52 / 2.30 s
   annealed Langevin               213   0.89 / 0.52 s            2.87 / 3.18 s
   The learned model meets ≤ 1 s everywhere; the exact score (4 M pairs per evaluation, ~14 ms) does not, and a
   second thread does not help it (the CPU time doubles).
   python bench/bench_toy2d.py slider   (10,000 moons, 32×32, 1 thread)
   exact arrows only: server path median 23.9 ms, p90 44.4 ms; t < 20: 51.3 ms
   exact + learned + disagreement: median 38.6 ms, p90 119 ms; t < 20: 151 ms

5. The exact score, profiled and rewritten (2026-11-22 22:30, idle machine, load 0.5–1.0; 1 thread). The profile of
   one evaluation (4 M pairs, 8–10 ms) showed 77% in two matrix products: each fresh 1 MB chunk paid its page
   faults again, and w @ X (N×2 on the right) ran 4x slower than X @ wᵀ with X (3, N) contiguous. Now: the logits
   −‖x − √ᾱxᵢ‖²/2σ² ≤ 0 from one (m, 4) @ (4, N) product into one reused buffer, so no row maximum is needed
   (rows whose weights all underflow, far from the data at small σ, are redone with their maximum shifted out);
   clamp, exp in place, and (3, N) @ (N, m) for Σ wᵢxᵢ and Z together.
   python bench/bench_toy2d.py exact   (N = M = 2,000; median of 15)
   t (cosine)     points             fast path            careful path (far=True, the old algorithm's shape)
   999            N(0, I)            4.53 ms (1.13 ns)    7.39 ms
   700 / 400 / 200 / 100, either     3.2–3.6 ms (0.8 ns)  6.1–7.4 ms
   5              on the noised data 3.39 ms (0.85 ns)    7.22 ms
   5              N(0, I)            7.37 ms (most rows far: redone)  6.00 ms
   Before: 8.3–10.5 ms for the same call. Accuracy unchanged (float32 against float64: x̂₀ within 6e-7 at ᾱ = 0.5,
   6e-5 at 0.999, as before; tests/test_toy2d.py checks both paths against a brute-force log-sum-exp).
   python bench/bench_toy2d.py samplers   (2,000 particles × 100 steps, exact score of N = 2,000; median of 3)
   sampler                       evals   learned 1 thr / 2 thr    exact 1 thr / 2 thr
   DDPM (ancestral)                100   0.27 / 0.18 s            0.35 / 0.36 s
   DDIM (η)                        100   0.26 / 0.17 s            0.38 / 0.35 s
   DPM-Solver++(2M)                100   0.26 / 0.18 s            0.39 / 0.36 s
   probability-flow ODE (Heun)     211   0.52 / 0.32 s            0.78 / 0.74 s
   reverse SDE (Euler–Maruyama)    106   0.27 / 0.17 s            0.42 / 0.38 s
   annealed Langevin               213   0.53 / 0.34 s            0.80 / 0.75 s
   Every sampler with either score source is now under 1 s (before: exact 1.37–4.01 s). A second thread does not
   help the exact score (two Python threads on halves of the particles: 3.5 against 4.1 ms; this VM's two vCPUs
   behave like one core's hyperthreads for vectorized exp).
   python bench/bench_toy2d.py slider   (10,000 moons, 32×32, 1 thread)
   exact arrows only: server path median 12.1 ms, p90 19.9 ms; t < 20: 22.6 ms (before 51.3 ms)
   exact + learned + disagreement: median 20.7 ms, p90 25.3 ms; t < 20: 28.9 ms (before 151 ms)
   Tried and dropped: torch.compile of the fused expression (33 s to compile, then 14–40 ms: slower);
   F.scaled_dot_product_attention with the logits as a 3-wide dot product (17 ms: head size 3 is too narrow).

6. Training re-measured on the idle machine (2026-11-22 22:36, load 1.0–2.0 from the run itself; 1 thread):
   python bench/bench_toy2d.py train        (DDIM-100 / DDPM-100 energy distance ÷ data-against-data; bar 2×)
   dataset        2.5 s                 5 s                   10 s                  15 s
   moons          675 st 0.84× / 0.59×  1407 st 0.76× / 0.55× 2754 st 0.79× / 0.62× 4252 st 0.58× / 0.49×
   swiss_roll     785 st 1.29× / 0.67×  1507 st 1.14× / 0.56× 2631 st 1.10× / 0.57× 4136 st 1.10× / 0.54×
   gaussians8     726 st 0.86× / 0.41×  1367 st 0.63× / 0.36× 2820 st 0.74× / 0.47× 3582 st 0.72× / 0.37×
   checkerboard   668 st 1.07× / 0.92×  1260 st 0.80× / 0.61× 2656 st 0.76× / 0.44× 3961 st 0.68× / 0.41×
   circles        610 st 2.36× / 2.16×  1557 st 1.40× / 0.66× 2459 st 1.30× / 0.70× 3711 st 1.40× / 0.60×
   gaussian       474 st 1.47× / 1.18×  992 st 1.34× / 0.90×  2538 st 1.03× / 0.80× 3884 st 1.14× / 0.86×
   Read-out: on an idle core the 5-s moonshot is met by every data set (≤ 1.40× DDIM, ≤ 0.90× DDPM); in 2.5 s
   all but concentric circles (2.36×). The tab's run stops at 2,000 steps (about 7 s here) or its time budget.
"""


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# --- 1. a move of the t slider ---------------------------------------------------------------------------------------


def bench_slider(args) -> None:
    """The t.change event of the tab through Gradio's own process_api (preprocess, handler, postprocess)."""
    from gradio.state_holder import SessionState

    import app
    from playground.ui.lab2d import config, runs, session, view

    torch.set_num_threads(args.threads)
    print(f"\n## slider: {args.points:,} points of two moons, one 32×32 grid (density + arrows), exact score; "
          f"{args.threads} thread(s); {load()}")
    state = session.lab_data("moons", args.points, 0)
    _, _, model = run_to_end(runs.lab_train(state, "cosine", False, 3, "v"))
    demo = app.demo
    fn = next(f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "lab_render"
              and any(getattr(demo.blocks.get(t[0]), "elem_id", None) == "lab2d-t" for t in f.targets))
    sess = SessionState(demo)
    sess[fn.inputs[0]._id] = state
    loop = asyncio.new_event_loop()
    rng = __import__("random").Random(0)
    ts = [rng.randrange(0, 1000) for _ in range(args.moves)] + [0, 2, 5, 9, 14, 19]  # + small t: the slow case
    for label, mdl, arrows in (("exact arrows only (no model)", None, "exact"),
                               ("exact + learned arrows, disagreement on 128 points", model, "both")):
        sess[fn.inputs[1]._id] = mdl
        server, cpu, handler = [], [], []
        for i, t in enumerate(ts):
            a, c = time.perf_counter(), time.process_time()
            out = loop.run_until_complete(demo.process_api(block_fn=fn,
                                                           inputs=[None, None, "cosine", False, t, arrows],
                                                           state=sess))
            if i >= 3:
                server.append(time.perf_counter() - a)
                cpu.append(time.process_time() - c)
            a = time.perf_counter()
            view.lab_render(state, mdl, "cosine", False, t, arrows)
            if i >= 3:
                handler.append(time.perf_counter() - a)
        assert out["data"][0] is not None
        small = [s for s, t in zip(server, ts[3:]) if t < 20]
        small_cpu = [c for c, t in zip(cpu, ts[3:]) if t < 20]
        print(f"{label}:\n  server path median {statistics.median(server) * 1e3:.1f} ms, p90 "
              f"{pct(server, 0.9) * 1e3:.1f} ms (its CPU time {statistics.median(cpu) * 1e3:.1f} ms); handler alone "
              f"{statistics.median(handler) * 1e3:.1f} ms\n  t < 20 (grid points far from all data recomputed "
              f"directly): server {statistics.median(small) * 1e3:.1f} ms, CPU "
              f"{statistics.median(small_cpu) * 1e3:.1f} ms")
    x0 = state["x0"]
    for name, fn_ in (("exact_on_grid 32×32 (density + score)",
                       lambda ab: toy2d.exact_on_grid(x0, config.GRID, config.GRID, ab)),
                      ("exact_quantities, 1024 points direct",
                       lambda ab: toy2d.exact_quantities(x0, torch.randn(1024, 2), ab))):
        times = []
        for t in ts[:20]:
            ab = float(make_schedule("cosine").alpha_bar[t])
            a = time.perf_counter()
            fn_(ab)
            times.append(time.perf_counter() - a)
        print(f"  core: {name}: median {statistics.median(times) * 1e3:.1f} ms")
    print(f"after: {load()}")


# --- 2. training: quality against time -------------------------------------------------------------------------------


def bench_train(args) -> None:
    torch.set_num_threads(args.threads)
    s = make_schedule("cosine", 1000)
    print(f"\n## train: cosine schedule, v-prediction, batch 512, {args.threads} thread(s); {load()}")
    print("energy distance of 2,000 samples (DDIM-100 / DDPM-100) to the 2,000 training points ÷ that of 2,000 fresh "
          "data points (1× = as good as data; the bar is 2×)")
    x_T = toy2d.start_noise(2000, seed=7)
    print(f"{'dataset':14s} {'budget':>7s} {'steps':>6s} {'CPU s':>6s}  {'DDIM':>6s} {'DDPM':>6s}")
    for name in args.datasets.split(","):
        ds = toy2d.get_dataset(name)
        x0 = ds.sample(2000, seed=0)
        ref = toy2d.reference_distance(ds, x0, 2000)
        for budget in [float(b) for b in args.budgets.split(",")]:
            tr = toy2d.Toy2DTrainer(x0, s, toy2d.TrainConfig2D(steps=100_000, time_budget_s=budget))
            c = time.process_time()
            for _ in tr.run():
                pass
            cpu = time.process_time() - c
            den = tr.denoiser()
            r = [toy2d.energy_distance(toy2d.sample_2d(den, s, x_T, sampler=k, num_steps=100, seed=1).samples,
                                       x0) / ref
                 for k in ("ddim", "ddpm")]
            print(f"{name:14s} {budget:6.1f}s {tr.step:6d} {cpu:6.1f}  {r[0]:5.2f}× {r[1]:5.2f}×", flush=True)
    print(f"after: {load()}")


# --- 3. samplers -----------------------------------------------------------------------------------------------------


def bench_samplers(args) -> None:
    s = make_schedule("cosine", 1000)
    x0 = toy2d.make_dataset("moons", 2000, seed=0)
    den_l, _ = toy2d.train_denoiser(x0, s, toy2d.TrainConfig2D(steps=300, time_budget_s=None))
    x_T = toy2d.start_noise(args.particles, seed=1)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"\n## samplers: {args.particles:,} particles × {args.steps} steps, cosine; {threads} "
              f"thread(s); {load()}")
        print(f"{'sampler':32s} {'evals':>6s} {'learned MLP':>18s} {'exact, N = 2,000':>20s}")
        for k in toy2d.SAMPLERS_2D:
            row = []
            for den in (den_l, toy2d.exact_denoiser(x0, s)):
                wall, cpu = [], []
                for _ in range(args.reps):
                    a, c = time.perf_counter(), time.process_time()
                    tr = toy2d.sample_2d(den, s, x_T, sampler=k, num_steps=args.steps, seed=2)
                    wall.append(time.perf_counter() - a)
                    cpu.append(time.process_time() - c)
                row.append(f"{statistics.median(wall):6.2f} s (CPU {statistics.median(cpu):5.2f})")
            print(f"{toy2d.SAMPLER_LABELS[k]:32s} {tr.nfe:6d} {row[0]:>18s} {row[1]:>20s}", flush=True)
    print(f"after: {load()}")


# --- 4. one evaluation of the exact quantities -----------------------------------------------------------------------


def bench_exact(args) -> None:
    """exact_quantities at N = M = 2,000 (4 M pairs) on the sampler's particles, at noise levels across the schedule;
    the fast path (unshifted logits ≤ 0, one buffer) against the careful one (far=True: addmm, row maximum, shift)."""
    torch.set_num_threads(args.threads)
    s = make_schedule("cosine", 1000)
    x0 = toy2d.make_dataset("moons", 2000, seed=0)
    print(f"\n## exact_quantities: N = 2,000 moons × M = 2,000 points; {args.threads} thread(s); {load()}")
    print(f"{'t':>5s} {'ᾱ_t':>9s} {'points':>22s} {'fast path':>18s} {'careful path':>18s}")
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    for t in (999, 700, 400, 200, 100, 30, 5):
        ab = float(s.alpha_bar[t])
        for kind, pts in (("N(0, I)", noise), ("on the noised data", math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise)):
            row = []
            for far in (False, True):
                times = []
                for _ in range(args.reps * 5):
                    a = time.perf_counter()
                    toy2d.exact_quantities(x0, pts, ab, far=far)
                    times.append(time.perf_counter() - a)
                med = statistics.median(times)
                row.append(f"{med * 1e3:6.2f} ms ({med / 4e6 * 1e9:4.2f} ns)")
            print(f"{t:5d} {ab:9.2e} {kind:>22s} {row[0]:>18s} {row[1]:>18s}", flush=True)
    print(f"after: {load()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["slider", "train", "samplers", "exact", "all"])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (slider, train); samplers runs 1 and 2")
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--datasets", default="moons,swiss_roll,gaussians8,checkerboard,circles,gaussian")
    ap.add_argument("--budgets", default="2.5,5,10,15")
    ap.add_argument("--particles", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; {load()}")
    if args.what in ("slider", "all"):
        bench_slider(args)
    if args.what in ("train", "all"):
        bench_train(args)
    if args.what in ("samplers", "all"):
        bench_samplers(args)
    if args.what in ("exact", "all"):
        bench_exact(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
