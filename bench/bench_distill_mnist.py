"""The shipped MNIST student against its teachers at 1, 2, 4 and 8 NFE, by the project's quality metric
(playground.mnist.quality, --num digits, labels cycling 0..9, seed 0, fp32).

    python bench/bench_distill_mnist.py                     # the table of checkpoints/README.md (500 digits)
    python bench/bench_distill_mnist.py --num 100 --nfe 1,2 # a quick look

Teachers (CFG --guidance, x̂₀ clipped): DDIM (η = 0), DPM-Solver++(2M) and Heun on the PF-ODE (k steps cost
2k − 1 NFE, so the nearest k), each with the spacing of leading / linspace / trailing whose Fréchet distance is
lowest; the student with its own sampler (DDIM η = 0 on the trailing grid, guidance distilled in, one pass a
step). A teacher's NFE counts steps: CFG runs its two passes as one batch, so a teacher step costs about twice a
student step in wall time (the s column).

RESULTS (2026-12-03, AMD EPYC 2 cores with AVX512-BF16, 2 threads, load 0.9 at the start and 2-4 later from other
work, so the s column is not an idle figure; `python bench/bench_distill_mnist.py`; real held-out 98.2 %, 16.79):

| model | sampler | spacing | steps | NFE | confident | coverage | Fréchet | ÷ real | s |
|---|---|---|---|---|---|---|---|---|---|
| mnist_v_student.pt | student | trailing | 1 | 1 | 98.6% | 10/10 | 22.00 | 1.31x | 1.1 |
| mnist_v_student.pt | student | trailing | 2 | 2 | 97.2% | 10/10 | 19.35 | 1.15x | 2.2 |
| mnist_v_student.pt | student | trailing | 4 | 4 | 96.8% | 10/10 | 18.71 | 1.11x | 4.9 |
| mnist_v_student.pt | student | trailing | 8 | 8 | 94.6% | 10/10 | 20.86 | 1.24x | 9.1 |
| mnist_v_cond.pt | ddim | trailing | 1 | 1 | 98.8% | 10/10 | 183.18 | 10.91x | 3.1 |
| mnist_v_cond.pt | ddim | trailing | 2 | 2 | 99.0% | 10/10 | 38.96 | 2.32x | 5.5 |
| mnist_v_cond.pt | ddim | leading | 4 | 4 | 98.6% | 10/10 | 22.86 | 1.36x | 10.7 |
| mnist_v_cond.pt | ddim | leading | 8 | 8 | 98.8% | 10/10 | 23.41 | 1.39x | 27.7 |
| mnist_v_cond.pt | dpmpp_2m | trailing | 4 | 4 | 98.8% | 10/10 | 22.76 | 1.36x | 28.1 |
| mnist_v_cond.pt | dpmpp_2m | trailing | 8 | 8 | 98.8% | 10/10 | 21.08 | 1.26x | 21.6 |
| mnist_v_cond.pt | heun | trailing | 2 | 3 | 99.0% | 10/10 | 31.66 | 1.89x | 8.0 |
| mnist_v_cond.pt | heun | trailing | 4 | 7 | 98.4% | 10/10 | 19.86 | 1.18x | 41.8 |
| mnist_eps_cond.pt | ddim | trailing | 1 | 1 | 28.2% | 9/10 | 662.84 | 39.49x | 2.7 |
| mnist_eps_cond.pt | ddim | trailing | 2 | 2 | 99.0% | 10/10 | 57.55 | 3.43x | 13.8 |
| mnist_eps_cond.pt | ddim | leading | 4 | 4 | 99.6% | 10/10 | 21.52 | 1.28x | 11.6 |
| mnist_eps_cond.pt | ddim | leading | 8 | 8 | 99.6% | 10/10 | 21.31 | 1.27x | 21.7 |
| mnist_eps_cond.pt | dpmpp_2m | trailing | 4 | 4 | 99.6% | 10/10 | 23.22 | 1.38x | 9.5 |
| mnist_eps_cond.pt | dpmpp_2m | trailing | 8 | 8 | 99.4% | 10/10 | 19.71 | 1.17x | 17.5 |
| mnist_eps_cond.pt | heun | trailing | 2 | 3 | 99.0% | 10/10 | 35.93 | 2.14x | 6.6 |
| mnist_eps_cond.pt | heun | trailing | 4 | 7 | 99.2% | 10/10 | 18.11 | 1.08x | 16.0 |

DPM-Solver++(2M) at 1 and 2 steps and Heun at 1 step give DDIM's digits exactly (first-order first and last
steps), so those rows are left out.
"""  # noqa: E501 (a table of measured results: its rows cannot wrap)
from __future__ import annotations

import argparse
import os
import time

import torch

from playground.mnist.checkpoint import load_model
from playground.mnist.data import to_unit_range
from playground.mnist.quality import evaluate, real_baseline
from playground.mnist.sample import generate, student_sampler

SPACINGS = ("leading", "linspace", "trailing")


def _row(name, sampler, spacing, steps, nfe, q, real, dt) -> str:
    return (f"| {name} | {sampler} | {spacing} | {steps} | {nfe} | {q.confident:.1%} | {q.coverage}/10 | "
            f"{q.frechet:.2f} | {q.frechet / real.frechet:.2f}x | {dt:.1f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", default="checkpoints/mnist_v_student.pt")
    ap.add_argument("--teachers", default="checkpoints/mnist_v_cond.pt,checkpoints/mnist_eps_cond.pt")
    ap.add_argument("--num", type=int, default=500)
    ap.add_argument("--guidance", type=float, default=1.5)
    ap.add_argument("--nfe", default="1,2,4,8")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    nfes = [int(k) for k in a.nfe.split(",")]
    real = real_baseline(a.num)
    print(f"load {os.getloadavg()[0]:.2f} | {a.num} digits | real held-out: {real.confident:.1%} confident, "
          f"Fréchet {real.frechet:.2f}")
    print("| model | sampler | spacing | steps | NFE | confident | coverage | Fréchet | ÷ real | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    model, meta = load_model(a.student)
    own = student_sampler(meta)
    for nfe in nfes:
        t0 = time.perf_counter()
        x0, labels = generate(model, meta, num=a.num, bf16="off", **{**own, "steps": nfe})
        dt = time.perf_counter() - t0
        print(_row(f"**{os.path.basename(a.student)}**", "student", "trailing", nfe, nfe,
                   evaluate(to_unit_range(x0), labels), real, dt), flush=True)
    for path in a.teachers.split(","):
        model, meta = load_model(path)
        for sampler in ("ddim", "dpmpp_2m", "heun"):
            done = set()
            for nfe in nfes:
                steps = max(1, (nfe + 1) // 2) if sampler == "heun" else nfe
                if steps in done:  # Heun at NFE 1 and 2 is the same one step
                    continue
                done.add(steps)
                best = None
                for spacing in SPACINGS:
                    t0 = time.perf_counter()
                    x0, labels = generate(model, meta, num=a.num, sampler=sampler, steps=steps, spacing=spacing,
                                          guidance=a.guidance, clip_x0=True, bf16="off")
                    dt = time.perf_counter() - t0
                    q = evaluate(to_unit_range(x0), labels)
                    if best is None or q.frechet < best[1].frechet:
                        best = (spacing, q, dt)
                used = 2 * steps - 1 if sampler == "heun" else steps
                print(_row(os.path.basename(path), sampler, best[0], steps, used, best[1], real, best[2]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
