"""Reflow an MNIST flow-matching model (rectified flow, Liu et al. 2022, arXiv:2209.03003, §2.3): pair noise with
the digits the trained flow carries it to, then fine-tune on the straight lines between the pairs, so that one or
two Euler steps go far.

    python -m playground.mnist.reflow_cli --model checkpoints/mnist_flow_cond.pt --pairs 3000 --steps 800 \\
        --out runs/mnist_flow_reflow.pt

Conventions are flow.py's: x_t = (1 − t)·x_0 + t·x_1 with x_1 ~ N(0, I), t = 0 data, the network told 1000·t,
u = x_1 − x_0. The pairs come from the model's ODE with --guidance (its CFG mix, as distill_cli's Guided) and
--pair-steps Heun steps, labels cycling 0..9, so the reflowed model is a plain conditional network: guidance is
distilled in, one pass a step. Its checkpoint says ``student_steps`` (--student-steps), so the app and the CLI
sample it with its own sampler: DDIM with η = 0 on the trailing grid, which on a flow model is Euler's method.
Before and after, --eval digits are scored by the project's quality metric at 1, 2 and 4 Euler steps.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from playground.flow import flow_loss, sample_t
from playground.mnist.checkpoint import load_model, save_checkpoint
from playground.mnist.distill_cli import Autocast, Guided
from playground.mnist.sample import default_labels
from playground.paths import FLOW_CLOCK
from playground.runtime.device import bf16_autocast_ok


@torch.no_grad()
def flow_ode(u: nn.Module, x1: torch.Tensor, labels: torch.Tensor, steps: int, solver: str = "euler") -> torch.Tensor:
    """x_0 from x_1 by `steps` Euler or Heun steps on the uniform t grid 1 → 0 (Heun: 2·steps − 1 calls)."""
    ts = torch.linspace(1.0, 0.0, int(steps) + 1)
    x = x1
    for i in range(int(steps)):
        t, t_next = float(ts[i]), float(ts[i + 1])
        d = u(x, torch.full((x.shape[0],), FLOW_CLOCK * t), labels)
        if solver == "heun" and t_next > 0:
            x_e = x + (t_next - t) * d
            d = 0.5 * (d + u(x_e, torch.full((x.shape[0],), FLOW_CLOCK * t_next), labels))
        x = x + (t_next - t) * d
    return x


def make_pairs(u: nn.Module, n: int, seed: int, steps: int, batch: int = 250, log=print):
    """(x_0, x_1, labels): n noise images from `seed`, labels cycling 0..9, and the digits the flow gives them."""
    labels = default_labels(n)
    x1 = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
    x0 = torch.empty_like(x1)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        x0[i:i + batch] = flow_ode(u, x1[i:i + batch], labels[i:i + batch], steps, "heun").float()
        log(f"  pairs {min(i + batch, n)}/{n} {time.perf_counter() - t0:.0f} s")
    return x0, x1, labels


def reflow_steps(net: nn.Module, x0, x1, labels, steps: int, batch: int, lr: float, seed: int, log=print) -> float:
    """Fine-tune `net` on the straight lines x_t = (1 − t)·x_0 + t·x_1 of the pairs (target x_1 − x_0); returns the
    last running loss. `net` is called as net(x_t, 1000·t, labels)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    net.train()
    run = None
    for step in range(1, int(steps) + 1):
        i = torch.randint(0, x0.shape[0], (batch,), generator=g)
        t = sample_t(batch, generator=g)
        tb = t.view(-1, 1, 1, 1)
        x_t = (1 - tb) * x0[i] + tb * x1[i]
        loss = flow_loss(net(x_t, FLOW_CLOCK * t, labels[i]), x0[i], x1[i]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        run = lv if run is None else 0.98 * run + 0.02 * lv
        if step % 50 == 0 or step == steps:
            log(f"  reflow step {step}/{steps} loss {run:.5f}")
    net.eval()
    return run


def score(u: nn.Module, num: int, steps, seed: int = 0) -> dict:
    """{steps: QualityReport} of `num` digits (labels cycling 0..9) from one x_1, Euler."""
    from playground.mnist.quality import evaluate

    labels = default_labels(num)
    x1 = torch.randn((num, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
    out = {}
    for k in steps:
        x = torch.cat([flow_ode(u, x1[i:i + 250], labels[i:i + 250], k) for i in range(0, num, 250)]).float()
        out[k] = evaluate((x.clamp(-1, 1) + 1) / 2, labels=labels)
    return out


def _line(q, real) -> str:
    return (f"{q.confident:.1%} confident, {q.coverage}/10 digits, label agreement {q.label_agreement:.1%}, "
            f"Fréchet {q.frechet:.2f} = {q.frechet / real.frechet:.2f}× real")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="checkpoints/mnist_flow_cond.pt", help="a flow-matching checkpoint")
    ap.add_argument("--guidance", type=float, default=1.5, help="the CFG scale of the pairs (distilled in)")
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--pair-steps", type=int, default=10, help="Heun steps of the ODE that makes the pairs")
    ap.add_argument("--steps", type=int, default=800, help="optimiser steps on the pairs")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--eval", type=int, default=500, help="digits scored before and after (0: none)")
    ap.add_argument("--student-steps", type=int, default=2, help="the reflowed model's own number of Euler steps")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/mnist_flow_reflow.pt")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_model(args.model)
    if meta.prediction_type != "u":
        raise SystemExit(f"{args.model} is a {meta.prediction_type} model: reflow needs a flow-matching one")
    bf16 = bf16_autocast_ok(torch.device("cpu")) if args.bf16 == "auto" else args.bf16 == "on"
    teacher = Autocast(Guided(model.eval(), args.guidance), bf16)
    t_start = time.perf_counter()
    if args.eval:
        from playground.mnist.quality import real_baseline

        real = real_baseline(args.eval)
        print(f"real held-out digits ({args.eval}): {real.confident:.1%} confident, Fréchet {real.frechet:.2f}")
        for k, q in score(teacher, args.eval, (1, 2, 4)).items():
            print(f"before, {k} Euler step(s), CFG {args.guidance:g}: {_line(q, real)}", flush=True)
    t0 = time.perf_counter()
    x0, x1, labels = make_pairs(teacher, args.pairs, args.seed + 1, args.pair_steps)
    pairs_s = time.perf_counter() - t0
    student = copy.deepcopy(model).requires_grad_(True)  # load_model hands back frozen EMA weights
    t0 = time.perf_counter()
    loss = reflow_steps(Autocast(student, bf16), x0, x1, labels, args.steps, args.batch, args.lr, args.seed)
    train_s = time.perf_counter() - t0
    total = time.perf_counter() - t_start
    rmeta = dataclasses.replace(meta, wall_time_s=pairs_s + train_s, created="", extra={
        **meta.extra, "student_steps": args.student_steps, "distilled_from": str(args.model),
        "guidance_distilled": args.guidance,
        "reflow": {"method": "rectified flow, one reflow (Liu et al. 2022)", "pairs": args.pairs,
                   "pair_solver": f"heun {args.pair_steps} steps", "steps": args.steps, "batch": args.batch,
                   "lr": args.lr, "bf16": bf16, "pairs_s": round(pairs_s, 1), "train_s": round(train_s, 1),
                   "final_loss": round(loss, 5)}})
    out = Path(args.out)
    save_checkpoint(out, ema_state=student.state_dict(), config=model.config, meta=rmeta)
    print(f"pairs {pairs_s:.0f} s, reflow {train_s:.0f} s, wrote {out}", flush=True)
    if args.eval:
        for k, q in score(Autocast(student.eval(), bf16), args.eval, (1, 2, 4)).items():
            print(f"after one reflow, {k} Euler step(s), guidance distilled: {_line(q, real)}", flush=True)
    print(f"total {time.perf_counter() - t_start:.0f} s (before-scoring included: {total:.0f} s to the checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
