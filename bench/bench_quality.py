"""Benchmark: sample quality of a checkpoint, always next to the real-vs-real baseline (same n).

    # the default checkpoint, DDIM-50, 500 samples (labels cycle 0..9), CFG scale 1.5:
    python bench/bench_quality.py --checkpoint checkpoints/mnist_eps_cond.pt --num 500 --guidance 1.5
    # several guidance scales in one go:
    python bench/bench_quality.py --checkpoint checkpoints/mnist_v_cond.pt --guidance 1,2,3
    # quality vs training time of the "quick" preset (trains 5 minutes, evaluates snapshots at 1..5 min):
    python bench/bench_quality.py --quick-curve --num 500
    # the same on a busy machine: emulate the idle machine's 5 minutes by its step count
    python bench/bench_quality.py --quick-curve --quick-steps 950 --num 500

Metric (playground/mnist/quality.py): fraction classified with confidence >= 0.9, class coverage, entropy
of the predicted-class histogram, and the Fréchet distance in the MNIST classifier's 128-d feature
space against the 8,000 train digits. "real" = 500 random held-out digits scored the same way.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model  # noqa: E402
from playground.mnist.data import to_unit_range  # noqa: E402
from playground.mnist.quality import evaluate, real_baseline  # noqa: E402
from playground.mnist.sample import DEFAULT_BATCH, DEFAULT_BF16, generate, grid_image  # noqa: E402


def score(model, meta, *, num, sampler, steps, guidance, seed, bf16, batch_size=DEFAULT_BATCH, png=None):
    t0 = time.perf_counter()
    x0, labels = generate(model, meta, num=num, sampler=sampler, steps=steps, guidance=guidance, seed=seed, bf16=bf16,
                          batch_size=batch_size)
    dt = time.perf_counter() - t0
    images = to_unit_range(x0)
    if png:
        from playground.render import save_png

        save_png(png, grid_image(x0[:100], ncol=10))
    return evaluate(images, labels), dt


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def quick_curve(args) -> None:
    """Quality against training time of a preset, snapshots scored after training (see the module docstring)."""
    from playground.mnist.train import TrainConfig, Trainer

    minutes = [float(m) for m in args.minutes.split(",")]
    rate = args.steps_per_s or (args.quick_steps / (60 * max(minutes)) if args.quick_steps else None)
    # one run per budget (--separate: what `--time-budget 60*m` gives) or one run of the longest with snapshots
    runs = [[m] for m in minutes] if args.separate else [minutes]
    snaps = []
    for marks in runs:
        budget = 60.0 * max(marks)
        if rate:  # emulate a machine that makes `rate` steps/s: a step-based run planned for rate * budget steps
            steps = round(rate * budget)
            cfg = TrainConfig.from_preset(args.preset, preview_every=0, time_budget_s=None, steps=steps, log_every=1)
            todo = [(m, round(rate * 60 * m)) for m in marks]
            reached = lambda ev, mark: ev.step >= mark  # noqa: E731
        else:  # the real thing: wall-clock marks of a --time-budget run
            cfg = TrainConfig.from_preset(args.preset, preview_every=0, time_budget_s=budget, log_every=1)
            todo = [(m, 60.0 * m) for m in marks]
            reached = lambda ev, mark: ev.elapsed_s >= mark  # noqa: E731
        tr = Trainer(cfg)
        cpu0, load0 = time.process_time(), _load()
        for ev in tr.run():
            if todo and (reached(ev, todo[0][1]) or ev.kind == "done"):
                snaps.append((todo.pop(0)[0], copy.deepcopy(tr.ema).float().eval(), tr.meta(), ev.steps_per_s, load0,
                              _load()))
        for m, _ in todo:  # the run ended before the mark (step limit): the final state counts
            snaps.append((m, copy.deepcopy(tr.ema).float().eval(), tr.meta(), tr.step / max(tr.wall_time_s, 1e-9),
                          load0, _load()))
        print(f"preset {args.preset}, "
              f"{'planned for ' + str(cfg.steps) + ' steps' if rate else f'budget {budget:.0f} s'}: {tr.step} steps "
              f"in {tr.wall_time_s:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU; data: {tr.data.source}; load "
              f"avg (1/5/15 min) {load0} at start, {_load()} at end", flush=True)
    real = real_baseline(args.num)
    print(real.row("real held-out"))
    for g in args.guidance:
        for m, model, meta, sps, l0, l1 in snaps:
            rep, dt = score(model, meta, num=args.num, sampler=args.sampler, steps=args.steps, guidance=g,
                            seed=args.seed, bf16=args.bf16, batch_size=args.batch_size)
            print(rep.row(f"{m:g} min ({meta.steps} st, w={g:g})") + f" | FD/real {rep.frechet / real.frechet:5.2f}x"
                  f" | {sps:.2f} steps/s | load {l0} -> {l1}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--num", type=int, default=500)
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", default="1.5", help="CFG scale(s), comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", default=DEFAULT_BF16, choices=["auto", "on", "off"],
                    help=f"bf16 autocast while sampling (default: the CLI's, {DEFAULT_BF16})")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                    help=f"sampling batch (default: the CLI's, {DEFAULT_BATCH})")
    ap.add_argument("--png", help="also save a 10x10 grid of the first 100 samples")
    ap.add_argument("--quick-curve", action="store_true", help="quality against training time of --preset")
    ap.add_argument("--preset", default="quick", help="with --quick-curve: the training preset (default quick)")
    ap.add_argument("--minutes", default="1,2,3,4,5", help="with --quick-curve: the wall-clock marks, in minutes")
    ap.add_argument("--separate", action="store_true", help="with --quick-curve: one run per mark with --time-budget "
                    "= that mark (what `python -m playground.train --time-budget S` gives), not snapshots of one run")
    ap.add_argument("--steps-per-s", type=float, help="with --quick-curve: emulate a machine that makes this many "
                    "steps/s (step-based runs planned for rate x budget steps; independent of the load)")
    ap.add_argument("--quick-steps", type=int, help="with --quick-curve: the step count of the longest mark "
                    "(older spelling of --steps-per-s)")
    args = ap.parse_args()
    args.guidance = [float(g) for g in args.guidance.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.sampler}-{args.steps}, n={args.num}, "
          f"seed {args.seed}, bf16 {args.bf16}, sampling batch {args.batch_size}; load avg {_load()}")
    if args.quick_curve:
        return quick_curve(args)
    model, meta = load_model(args.checkpoint)
    print(f"{args.checkpoint}: {meta.prediction_type}, {meta.schedule}/T={meta.T}, {meta.steps} steps, "
          f"{meta.wall_time_s:.0f} s, data: {meta.data}")
    real = real_baseline(args.num)
    print(real.row("real held-out"))
    for g in args.guidance:
        rep, dt = score(model, meta, num=args.num, sampler=args.sampler, steps=args.steps, guidance=g, seed=args.seed,
                        bf16=args.bf16, batch_size=args.batch_size, png=args.png)
        print(rep.row(f"samples w={g:g}") + f" | FD/real {rep.frechet / real.frechet:5.2f}x | {dt:.0f} s", flush=True)


if __name__ == "__main__":
    main()
