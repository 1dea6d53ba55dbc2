"""Benchmark: sample quality of a checkpoint, always next to the real-vs-real baseline (same n).

    # the default checkpoint, DDIM-50, 500 samples (labels cycle 0..9), CFG scale 1.5:
    python bench/bench_quality.py --checkpoint checkpoints/mnist_eps_cond.pt --num 500 --guidance 1.5
    # several guidance scales in one go:
    python bench/bench_quality.py --checkpoint checkpoints/mnist_v_cond.pt --guidance 1,2,3
    # quality vs training time of the "quick" preset (trains 5 minutes, evaluates snapshots at 1..5 min):
    python bench/bench_quality.py --quick-curve --num 500
    # the same on a busy machine: emulate the idle machine's 5 minutes by its step count
    python bench/bench_quality.py --quick-curve --quick-steps 950 --num 500

Metric (playground/quality.py): fraction classified with confidence >= 0.9, class coverage, entropy
of the predicted-class histogram, and the Fréchet distance in the MNIST classifier's 128-d feature
space against the 8,000 train digits. "real" = 500 random held-out digits scored the same way.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.checkpoint import DEFAULT_CHECKPOINT, load_model  # noqa: E402
from playground.data import to_unit_range  # noqa: E402
from playground.quality import evaluate, real_baseline  # noqa: E402
from playground.sample import generate  # noqa: E402


def score(model, meta, *, num, sampler, steps, guidance, seed, bf16, png=None):
    t0 = time.perf_counter()
    x0, labels = generate(model, meta, num=num, sampler=sampler, steps=steps, guidance=guidance, seed=seed, bf16=bf16)
    dt = time.perf_counter() - t0
    images = to_unit_range(x0)
    if png:
        from playground.viz import save_png

        save_png(images[:100], png, nrow=10)
    return evaluate(images, labels), dt


def quick_curve(args) -> None:
    from playground.train import TrainConfig, Trainer

    snaps = {}
    if args.quick_steps:  # emulate an idle machine: the preset's 5 minutes = quick_steps steps
        cfg = TrainConfig.from_preset("quick", preview_every=0, time_budget_s=None, steps=args.quick_steps, log_every=1)
        marks = [round(args.quick_steps * m / 5) for m in range(1, 6)]
        reached = lambda ev: ev.step >= marks[0]  # noqa: E731
    else:  # the real thing: wall-clock marks
        cfg = TrainConfig.from_preset("quick", preview_every=0, log_every=1)
        marks = [60.0 * m for m in range(1, 6)]
        reached = lambda ev: ev.elapsed_s >= marks[0]  # noqa: E731
    tr = Trainer(cfg)
    cpu0 = time.process_time()
    for ev in tr.run():
        if marks and reached(ev):
            minute = 5 - len(marks) + 1
            snaps[minute * 60.0] = (copy.deepcopy(tr.ema).eval(), tr.meta(), time.process_time() - cpu0)
            marks.pop(0)
    if marks:  # the final state counts as the last mark
        snaps[marks.pop(0)] = (copy.deepcopy(tr.ema).eval(), tr.meta(), time.process_time() - cpu0)
    print(f"quick preset: {tr.step} steps in {tr.wall_time_s:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU; "
          f"data: {tr.data.source}", flush=True)
    real = real_baseline(args.num)
    print(real.row("real held-out"))
    for g in args.guidance:
        for mark, (model, meta, cpu) in snaps.items():
            rep, dt = score(model.float(), meta, num=args.num, sampler=args.sampler, steps=args.steps, guidance=g,
                            seed=args.seed, bf16=args.bf16)
            print(rep.row(f"{mark/60:.0f} min ({meta.steps} st, w={g:g})") + f" | FD/real {rep.frechet / real.frechet:5.2f}x"
                  f" | cpu {cpu:.0f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--num", type=int, default=500)
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", default="1.5", help="CFG scale(s), comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", default="off", choices=["auto", "on", "off"])
    ap.add_argument("--png", help="also save a 10x10 grid of the first 100 samples")
    ap.add_argument("--quick-curve", action="store_true")
    ap.add_argument("--quick-steps", type=int, help="with --quick-curve: train this many steps (what the quick "
                    "preset reaches in 5 minutes on an idle machine) instead of a wall-clock budget")
    args = ap.parse_args()
    args.guidance = [float(g) for g in args.guidance.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.sampler}-{args.steps}, n={args.num}, seed {args.seed}")
    if args.quick_curve:
        return quick_curve(args)
    model, meta = load_model(args.checkpoint)
    print(f"{args.checkpoint}: {meta.prediction_type}, {meta.schedule}/T={meta.T}, {meta.steps} steps, "
          f"{meta.wall_time_s:.0f} s, data: {meta.data}")
    real = real_baseline(args.num)
    print(real.row("real held-out"))
    for g in args.guidance:
        rep, dt = score(model, meta, num=args.num, sampler=args.sampler, steps=args.steps, guidance=g, seed=args.seed,
                        bf16=args.bf16, png=args.png)
        print(rep.row(f"samples w={g:g}") + f" | FD/real {rep.frechet / real.frechet:5.2f}x | {dt:.0f} s", flush=True)


if __name__ == "__main__":
    main()
