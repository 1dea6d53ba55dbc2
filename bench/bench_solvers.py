"""Fewer-steps tab: time the error curves (every solver × NFE 1…64, plus the reference).

    python bench/bench_solvers.py 2d --points 2000 --particles 1000      # target ≤ 2 s
    python bench/bench_solvers.py mnist --digits 16                      # target ≤ 20 s
    python bench/bench_solvers.py 2d --points 50 --particles 20 --ref-steps 20   # a smoke run

RESULTS: not yet measured on an idle machine (the lead times it). On the busy shared 2-core host, 1 thread,
the 2-D run at full size took far over target (about 30 s per grid with float64 particles before the switch to
float32); these are not final figures.
"""
from __future__ import annotations

import argparse
import time

import torch

from playground import solver_failures as F
from playground import solver_lab as L
from playground import solvers as S
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["2d", "mnist"])
    ap.add_argument("--dataset", default="moons")
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--digits", type=int, default=16)
    ap.add_argument("--ref-steps", type=int, default=L.REF_STEPS)
    ap.add_argument("--grid", default="logsnr")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.what == "2d":
        p = L.toy_problem(args.dataset, args.points, args.particles, 0, ref_steps=args.ref_steps)
        on_sample = None
    else:
        p = F.digits_problem(str(DEFAULT_CHECKPOINT), args.digits, 0, ref_steps=args.ref_steps)
        on_sample = lambda _s, _n, x: F.verdict(x, F.default_labels(x.shape[0]))  # noqa: E731
    t_ref = time.perf_counter() - t0
    for c in L.error_curves(p, S.SOLVERS, L.GridSpec(args.grid), S.NFE_LIST, on_sample=on_sample):
        print(f"{time.perf_counter() - t0:7.2f} s  {c.solver:9s} order {c.order}  "
              + " ".join(f"{n}:{e:.2e}" for n, e in zip(c.nfe, c.err)))
    print(f"reference {t_ref:.2f} s; total {time.perf_counter() - t0:.2f} s ({args.what}, {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
