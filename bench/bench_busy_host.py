"""Busy host: is one torch thread faster than two when other processes take CPU time?

Samples 10 digits × DDIM-20 with CFG (the app's default-sized job, on the shipped model) with 1 and 2 torch
threads, while K extra processes spin on the CPU (K = 0, 1, 2), and prints the median per setting. The app's
``playground.ui.limits.adapt_threads`` uses the answer: when the 1-minute load average exceeds the cores, it samples on
one thread (unless PLAYGROUND_THREADS is set).

    python bench/bench_busy_host.py --reps 3

RESULTS (2-core AMD EPYC, torch 2.14.1, 2026-11-22 16:45; other agents' jobs kept the machine busy throughout,
so even K = 0 is a busy host: see load1; `python bench/bench_busy_host.py --reps 3`):

    spinners threads  median s  load1
           0       1      8.03   7.95
           0       2     36.04   9.36
           1       1     18.97   9.42
           1       2     56.44  10.30
           2       1     20.31   9.54
           2       2     56.05  11.26

On a busy host one thread is 2.8–4.5× faster than two. (On the idle machine two threads are faster for big
batches: bench_sampling_speed's figures use 2.) Hence the rule in playground/ui/limits.py: adapt_threads.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _spin(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _job(threads: int) -> float:
    import torch

    from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model
    from playground.mnist.sample import generate

    torch.set_num_threads(threads)
    model, meta = load_model(DEFAULT_CHECKPOINT)
    generate(model, meta, num=10, steps=2, seed=0)  # warm-up
    t0 = time.perf_counter()
    generate(model, meta, num=10, steps=20, seed=0, spacing="trailing")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--spinners", default="0,1,2")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    print(f"{'spinners':>8} {'threads':>7} {'median s':>9} {'load1':>6}")
    for k in map(int, args.spinners.split(",")):
        stop = ctx.Event()
        procs = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(k)]
        for p in procs:
            p.start()
        time.sleep(2)
        try:
            for threads in (1, 2):
                with ctx.Pool(1) as pool:
                    times = [pool.apply(_job, (threads,)) for _ in range(args.reps)]
                print(f"{k:>8} {threads:>7} {statistics.median(times):>9.2f} {os.getloadavg()[0]:>6.2f}", flush=True)
        finally:
            stop.set()
            for p in procs:
                p.join(5)


if __name__ == "__main__":
    main()
