"""Distil an MNIST teacher into few-step students: progressive distillation (playground/distill.py) on the real
training digits, round by round (n = start_n, …, 2, 1 student steps), each student saved as a checkpoint.

    python -m playground.mnist.distill_cli --teacher checkpoints/mnist_v_cond.pt --start-n 8 --steps 400 \\
        --out checkpoints/mnist_v_student.pt          # writes mnist_v_student_8.pt … mnist_v_student_1.pt

Guidance is distilled too (Meng et al. 2023, stage one): the first round's teacher is the CFG mix of the teacher's
conditional and null-label outputs at --guidance (linear in v), so the students are plain conditional networks
that sample with ONE pass per step. Each student is scored after its round with the project's quality metric
(playground.mnist.quality) on --eval digits at its own number of steps.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from playground.distill import DistillConfig, distill_round, student_sample
from playground.mnist.checkpoint import load_model, save_checkpoint
from playground.mnist.data import load_mnist
from playground.mnist.sample import default_labels
from playground.runtime.device import bf16_autocast_ok
from playground.schedules import make_schedule


class Guided(nn.Module):
    """A conditional network with its CFG mix built in: out = out(∅) + w·(out(y) − out(∅)), both in one batch."""

    def __init__(self, net: nn.Module, guidance: float):
        super().__init__()
        self.net, self.w = net, float(guidance)

    def forward(self, x, t, labels):
        null = torch.full_like(labels, int(self.net.config.null_label))
        out = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))
        c, u = out.chunk(2)
        return u + self.w * (c - u)


class Autocast(nn.Module):
    """Run ``net`` under bf16 autocast and hand back fp32 (the training step at half the cost on this CPU)."""

    def __init__(self, net: nn.Module, on: bool):
        super().__init__()
        self.net, self.on = net, bool(on)

    def forward(self, *args):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.on else contextlib.nullcontext()
        with ctx:
            return self.net(*args).float()


def _draw(x0: torch.Tensor, labels: torch.Tensor, seed: int):
    g = torch.Generator().manual_seed(seed)

    def draw(b: int):
        i = torch.randint(0, x0.shape[0], (b,), generator=g)
        return x0[i], (labels[i],)

    return draw


def _score(student: nn.Module, s, n: int, num: int, pred: str) -> dict:
    from playground.mnist.quality import evaluate

    labels = default_labels(num)
    x_T = torch.randn((num, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    x = student_sample(student, s, x_T, n, pred, (labels,)).clamp(-1, 1)
    return evaluate((x + 1) / 2, labels=labels)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="checkpoints/mnist_v_cond.pt")
    ap.add_argument("--guidance", type=float, default=1.5, help="the CFG scale distilled into the students")
    ap.add_argument("--start-n", type=int, default=8, help="the first student's steps (a power of two)")
    ap.add_argument("--steps", type=int, default=400, help="optimiser steps per round")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--eval", type=int, default=500, help="digits scored after each round (0: none)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/mnist_student.pt", help="each round writes <stem>_<n>.pt")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_model(args.teacher)
    pred = meta.prediction_type
    s = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    bf16 = bf16_autocast_ok(torch.device("cpu")) if args.bf16 == "auto" else args.bf16 == "on"
    data = load_mnist()
    draw = _draw(data.train_x0(), data.train_labels, args.seed)
    teacher: nn.Module = Autocast(Guided(model.eval(), args.guidance), bf16)
    student_net = copy.deepcopy(model)
    out = Path(args.out)
    n, t_start = int(args.start_n), time.perf_counter()
    print(f"teacher {args.teacher} ({pred}), guidance {args.guidance:g} distilled in; bf16 {bf16}; "
          f"{args.steps} steps × batch {args.batch} per round", flush=True)
    while n >= 1:
        cfg = DistillConfig(n=n, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed + n)
        student = Autocast(student_net, bf16)
        t0 = time.perf_counter()
        for ev in distill_round(teacher, s, draw, cfg, pred, student=student, log_every=50):
            print(f"  n = {n}: step {ev.step}/{ev.steps} loss {ev.loss:.5f} {ev.elapsed_s:.0f} s", flush=True)
        secs = time.perf_counter() - t0
        path = out.with_name(f"{out.stem}_{n}{out.suffix}")
        smeta = dataclasses.replace(meta, steps=meta.steps, wall_time_s=secs, created="", extra={
            **meta.extra, "student_steps": n, "distilled_from": str(args.teacher), "guidance_distilled": args.guidance,
            "distill": {"method": "progressive (Salimans & Ho 2022, Alg. 2)", "steps_per_round": args.steps,
                        "batch": args.batch, "lr": args.lr, "bf16": bf16, "round_s": round(secs, 1),
                        "total_s": round(time.perf_counter() - t_start, 1)}})
        save_checkpoint(path, ema_state=student_net.state_dict(), config=model.config, meta=smeta)
        line = f"n = {n}: {secs:.0f} s, wrote {path}"
        if args.eval:
            q = _score(student_net.eval(), s, n, args.eval, pred)
            line += f" · {args.eval} digits at {n} step(s): {q}"
        print(line, flush=True)
        teacher = Autocast(copy.deepcopy(student_net).eval(), bf16)
        n //= 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
