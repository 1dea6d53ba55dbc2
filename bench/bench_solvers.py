"""Fewer-steps tab: time the error curves (every solver × NFE 1…64) and the reference, and check the reference.

    python bench/bench_solvers.py 2d --points 2000 --particles 1000      # target ≤ 2 s
    python bench/bench_solvers.py mnist --digits 16                      # target ≤ 20 s, streaming
    python bench/bench_solvers.py ref --dataset mnist --digits 4         # the reference against 2× its steps
    python bench/bench_solvers.py ref --dataset moons                    # the same for the 2-D reference
    python bench/bench_solvers.py 2d --points 50 --particles 20 --ref-steps 20 --repeat 1   # a smoke run

It prints the reference's time (computed once, then cached across grid changes), the curves' time (median of
--repeat runs, the reference cached), the time to the first streamed point, and `uptime`'s load average.

RESULTS: see the RESULTS string below (all on a SHARED, busy host: the lead must re-measure on an idle machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from playground import solver_failures as F
from playground import solver_lab as L
from playground import solvers as S
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT

RESULTS = """
IDLE (2026-12-07 18:22-18:52 UTC, nothing else running; AMD EPYC 2 cores, AVX512-BF16, no AMX, torch 2.14.1,
2 threads), MNIST curves now on the model's own ODE (w = 1, solver_failures.CURVE_GUIDANCE), the UNet in NHWC,
fp32:
    python bench/bench_solvers.py mnist --digits 16 --repeat 3 --threads 2    reference 7.97 s (6.47 and 6.91 s in
         two earlier runs), curves 24.45 / 22.34 / 22.10 s, median 22.3 s (21.0 s in an earlier run); first point
         0.05 s after the reference; load 0.9 → 1.8. In all ~30 s against 73 s before on 2 threads (reference 15.1 s
         + curves 57.9 s at w = 1.5, NCHW) and 112 s on 1 thread. Target ≤ 20 s: MISSED by 1.5×.
         Orders: DDIM 0.93, Heun 1.93, DPM-Solver++(2M) 1.92, (3M) 1.85: the first three within 0.3 of theory on
         MNIST too (at w = 1.5: 1.02, 1.55, 2.13, 1.01; the guided field is the rougher one).
    Two runs side by side (runtime.workers, one thread each; tried, not kept): curves 26.15 s against 21.03 s
         (the fp32 UNet at 16 digits already uses both threads well: 453 images/s on 2 threads, 227 on 1).
    What is left is the network: 795 calls × 16 digits = 12,720 UNet evaluations × 281 MFLOP = 3.6 TFLOP, which
         in 20 s is 179 GFLOP/s of fp32; the UNet sustains ~127 (453 images/s) with oneDNN's kernels at these
         shapes, 1.4× short. bf16 would fit (~700 images/s) but bends the curves (tried at w = 1, 1 thread, 16 digits:
         DPM-Solver++(2M)'s order 1.92 → 1.43; the bf16 reference itself is 4.5e-3 from the fp32 one, more than
         the 64-NFE errors), and the same with fp32 below σ_t = 0.05 or 0.1 (the bend comes from every σ, not the
         small ones). Fewer reference steps would leave it too close to the finest solves (next line).
    python bench/bench_solvers.py ref --dataset mnist --digits 4 --threads 2 (w = 1): 3M steps 100 → 200 → 400,
         RMS change 2.16e-03, then 9.32e-04: the 200-step reference is ~1e-3 from the limit, the FLOOR_MNIST the
         order fit stops at; the finest solver errors (3M 2.05e-3, 2M 2.71e-3 at NFE 64) are 2-3× above it.
    python bench/bench_solvers.py 2d --repeat 5    curves median 1.89 s + reference 0.77 s once (1 thread, load
         1.3-1.5): the same as below after error_curves' rewrite. Target ≤ 2 s: met.

IDLE (2026-12-03 17:32-17:36 UTC, nothing else running; AMD EPYC 2 cores, AVX512-BF16, no AMX, torch 2.14.1, 1 thread):
    python bench/bench_solvers.py 2d --repeat 5       curves median 1.77 s (1.61-1.98) + reference 0.53 s once;
                                                      first point < 0.01 s; load 1.6-1.7. Target ≤ 2 s: met.
         orders on moons (ideal denoiser of 2,000 points): DDIM 0.77, Heun 1.30, 2M 2.01, 3M 2.51 (the empirical
         data's score is singular as t → 0, so Heun's fit is below 2 here; on the single Gaussian with its exact
         solution every order is within 0.3: tests/test_solvers.py)
    python bench/bench_solvers.py mnist --digits 16 --repeat 1    reference 29.0 s, curves 82.9 s (first point
         0.18 s after the reference); load 1.1-1.7. Target ≤ 20 s: MISSED by 5.6×. Orders: DDIM 1.02, Heun 1.55,
         2M 2.13, 3M 1.01. The budget is throughput: ~830 UNet calls × 32 images (16 digits, CFG) = 26,600 image
         evaluations; fp32 runs ~320 images/s on this CPU, so no fp32 schedule of these calls fits in 20 s. bf16
         (2.9× faster) bends the curves at high NFE (below), and w = 1 would halve the calls.

Earlier: 2-core AMD EPYC (avx512_bf16), torch 2.14.1, 2026-12-03 12:55–13:17 UTC, 1 torch thread, nice 10. The host was
SHARED with 4–5 other engineers' jobs: load average 3.1–4.5 during the 2-D runs and 3.3–6.3 during the MNIST runs
(`uptime`), so every figure below is slower than an idle machine would give, and noisy. NOT final: the lead must
re-measure on an idle machine (also with --threads 2: on the busy host 2 threads were 6× slower than 1).

2-D, moons, N = 2,000 data points, M = 1,000 particles, every solver × NFE 1…64
(python bench/bench_solvers.py 2d --repeat 5 [--grid trailing]):
    before this branch (git archive 7ba8610, its own bench, same sizes): 6.1–6.2 s in all (reference 1.5 s)
    now, log-SNR grid: curves median 2.81 s over 5 (load 3.9–4.5); trailing grid: 2.17 s; an A/B in one process
         (3 runs each, interleaved): 1.93 s against 3.93 s with toy2d's softmax for every call
    reference (200 steps of 3M): 0.86–1.09 s, once: cached across grid changes; first streamed point < 0.01 s
  Where the time goes (cProfile before): ~830 ideal-denoiser calls (631 for the curves, 200 for the reference),
  each M × N = 2 M exponentials, about half the time; the two small matmuls most of the rest. Fixed here:
    - the calls at low SNR (R = α/σ²·max‖x‖·max‖x_i − μ‖ ≤ 4: 40 % of the curves' calls on the log-SNR grid, 56 % on
      trailing) use a degree-29 Taylor series in the data's moments (solver_lab.ideal_denoiser; equal to the
      softmax to 1e-12 in float64): 0.9 ms a call against 5.7 ms;
    - the first call at x_T, shared by every solver at every NFE (35 calls → 1);
    - a per-particle Python list of model times in solve() (~0.9 s of 12 s under cProfile).
  Tried and dropped: a leaner x̂_0-only softmax (row max, exp, one matmul): no faster than toy2d.exact_quantities;
  the series to R ≤ 8 (degree 50): 1.86 s against 1.93 s, not worth the larger cancellation.

MNIST, the shipped ε model, 16 digits, CFG w = 1.5 (batch 32), every solver × NFE 1…64, log-SNR grid
(python bench/bench_solvers.py mnist --digits 16 --repeat 1 [--bf16]):
    fp32 (the default), load 3.9 → 6.3: reference (200 3M steps) 72.8 s, once per model, digits and seed (cached);
         curves 166 s; first streamed point 0.29 s after the reference
    bf16 autocast, load 3.3 → 4.2: reference 29.6 s, curves 70.9 s. But bf16 bends the curves at high NFE:
         DPM-Solver++(2M) at NFE 32 / 64: 1.35e-02 / 6.0e-03 against fp32's 9.3e-03 / 2.0e-03 (order 1.36 against
         2.13), so fp32 stays the default and the bf16 order fit ignores errors below 1e-2 (FLOOR_MNIST_BF16)
  One UNet call at batch 32 (16 digits with CFG): 134 ms fp32, 84 ms bf16 (load ~3); per digit the cost does not
  fall with the batch (8.4 ms at 16 digits, 10 ms at 64, 12 ms at 128, fp32), so batching solvers or NFE values
  together would not help on this CPU. The 20 s target needs ~830 calls at ~24 ms: NOT reached here; w = 1 (one
  pass, no CFG) would halve it.
  fp32 orders at 16 digits: DDIM 1.02, Heun 1.55, DPM-Solver++(2M) 2.13, (3M) 1.01: the UNet's ODE is rough
  (see the reference below), so only 2M shows its order on MNIST.

The references (python bench/bench_solvers.py ref --dataset moons; ... ref --dataset mnist --digits 4):
    moons, 3M steps 100 → 200 → 400: RMS change 1.83e-03, then 1.94e-04 (order ~3); the smallest solver error at
         NFE 64 is 2.8e-03 (3M), so the 200-step reference is ~14× below it
         (tests/test_solvers.py::test_2d_reference_is_far_finer_than_the_finest_solve checks ≥ 5× at a small size)
    MNIST (4 digits, x̂_0 clipped), 3M steps 50 / 100 / 200, pixel RMSE against 400 steps: 3.1e-03, 1.2e-03,
         5.2e-04 (unclipped: 2.4e-03, 1.1e-03, 4.6e-04): the UNet's ODE converges only ~first order in the steps,
         and 3M at NFE 64 is 1.4e-03 from the 400-step solve. So the MNIST order fit leaves out errors below
         FLOOR_MNIST = 1e-3 (solver_lab.py): below that the error is the reference's own. A 1,000-step DDIM
         reference was not measured.
"""


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _curves(p, grid: str, on_sample) -> tuple[float, float, list]:
    """One pass over every solver × NFE: (seconds to the first streamed point, total seconds, final curves)."""
    t0 = time.perf_counter()
    first, curves = None, {}
    for c in L.error_curves(p, S.SOLVERS, L.GridSpec(grid), S.NFE_LIST, on_sample=on_sample):
        first = first if first is not None else time.perf_counter() - t0
        curves[c.solver] = c
    return first, time.perf_counter() - t0, list(curves.values())


def _problem(args):
    if args.what == "2d":
        L.toy_problem.cache_clear()
        return L.toy_problem(args.dataset, args.points, args.particles, 0, ref_steps=args.ref_steps), None
    F.digits_problem.cache_clear()
    p = F.digits_problem(str(DEFAULT_CHECKPOINT), args.digits, 0, ref_steps=args.ref_steps, bf16=args.bf16)
    return p, (lambda _s, _n, x: F.verdict(x, F.default_labels(x.shape[0])))


def reference_check(args) -> None:
    """How far the reference moves when its step count doubles: errors below that are the reference's own."""
    prev = None
    for steps in (args.ref_steps // 2, args.ref_steps, 2 * args.ref_steps):
        t0 = time.perf_counter()
        if args.dataset == "mnist":
            F.digits_problem.cache_clear()
            ref = F.digits_problem(str(DEFAULT_CHECKPOINT), args.digits, 0, ref_steps=steps, bf16=args.bf16).ref
        else:
            L.toy_problem.cache_clear()
            ref = L.toy_problem(args.dataset, args.points, args.particles, 0, ref_steps=steps).ref
        line = f"{args.dataset} reference, {steps} steps: {time.perf_counter() - t0:.1f} s"
        if prev is not None:
            line += f"; RMS change from {steps // 2} steps: {L._rms(ref, prev, args.dataset == 'mnist'):.2e}"
        print(line, flush=True)
        prev = ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["2d", "mnist", "ref"])
    ap.add_argument("--dataset", default="moons")
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--digits", type=int, default=16)
    ap.add_argument("--ref-steps", type=int, default=None)
    ap.add_argument("--grid", default="logsnr")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="MNIST: the UNet under bf16 autocast (default fp32)")
    args = ap.parse_args(argv)
    mnist = args.what == "mnist" or (args.what == "ref" and args.dataset == "mnist")
    args.ref_steps = args.ref_steps or (F.REF_STEPS_MNIST if mnist else L.REF_STEPS)
    torch.set_num_threads(args.threads)
    print(f"load before: {_load()}; {args.threads} thread(s)", flush=True)
    if args.what == "ref":
        reference_check(args)
        return 0
    t0 = time.perf_counter()
    p, on_sample = _problem(args)
    t_ref = time.perf_counter() - t0
    print(f"reference ({args.ref_steps} steps, cached afterwards): {t_ref:.2f} s", flush=True)
    firsts, totals = [], []
    for _ in range(max(1, args.repeat)):
        first, total, curves = _curves(p, args.grid, on_sample)
        firsts.append(first)
        totals.append(total)
        print(f"  curves {total:.2f} s (first point after {first:.2f} s); load {_load()}", flush=True)
    for c in curves:
        print(f"  {c.solver:9s} order {c.order if c.order is None else round(c.order, 2)}  "
              + " ".join(f"{n}:{e:.2e}" for n, e in zip(c.nfe, c.err)))
    print(f"{args.what}: curves median {statistics.median(totals):.2f} s over {len(totals)} run(s), first point "
          f"median {statistics.median(firsts):.2f} s; reference {t_ref:.2f} s; load after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
