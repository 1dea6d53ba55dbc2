"""Progressive distillation in 2-D: teacher (a v-MLP trained 5 s) against its students, energy distance ÷ the
data-against-data distance at 1, 2, 4, 8 steps, on every dataset; and the wall time of the rounds.

    python bench/bench_distill.py            # all datasets
    python bench/bench_distill.py --datasets moons --steps 300
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from playground import distill
from playground.schedules import make_schedule
from playground.toy2d import DATASETS
from playground.toy2d.data import make_dataset
from playground.toy2d.distance import energy_distance
from playground.toy2d.mlp import MLPConfig, TrainConfig2D, train_denoiser


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps per round")
    ap.add_argument("--start", type=int, default=8, help="the first student's steps (teacher: twice that)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = make_schedule("cosine", 1000)
    print(f"load {os.getloadavg()[0]:.2f} | {a.steps} steps/round, batch 512, start n = {a.start}")
    print("dataset        | teacher ED/ref at 1 / 2 / 4 / 8 steps | student ED/ref at 1 / 2 / 4 / 8 | rounds s")
    for name in a.datasets:
        print(one_dataset(name, s, a), flush=True)


def one_dataset(name: str, s, a) -> str:
    data = make_dataset(name, 2000, seed=0)
    _, tr = train_denoiser(data, s, TrainConfig2D(time_budget_s=5.0, seed=0), MLPConfig(prediction_type="v"))
    teacher = tr.ema.eval()
    ref = energy_distance(make_dataset(name, 2000, seed=1), data)
    g = torch.Generator().manual_seed(1)
    x_T = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2))

    def draw(b):
        return data[torch.randint(0, data.shape[0], (b,), generator=g)], ()

    def score(net, n):
        return energy_distance(distill.student_sample(net, s, x_T, n), data) / ref

    t_ns = [n for n in (1, 2, 4, 8) if n <= a.start]
    teach = [score(teacher, n) for n in t_ns]
    t0, stud = time.perf_counter(), {}
    cfg = distill.DistillConfig(steps=a.steps, batch=512, lr=1e-3)
    for n, ev in distill.distill_rounds(teacher, s, draw, a.start, cfg):
        if ev.done:
            stud[n] = score(ev.student, n)
    wall = time.perf_counter() - t0
    return (f"{name:14s} | " + " / ".join(f"{v:5.2f}" for v in teach) + " | "
            + " / ".join(f"{stud[n]:5.2f}" for n in t_ns) + f" | {wall:5.1f}")

if __name__ == "__main__":
    main()
