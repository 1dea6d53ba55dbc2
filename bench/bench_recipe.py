"""Benchmark: which training recipe gives the best digits in 2 and 5 minutes on 2 CPU cores?

Two measurements, kept apart because the machine is shared (wall clock is noisy, step counts are not):

    # 1. cost: CPU-seconds per training step of each candidate (one thread, candidates interleaved so load
    #    changes hit all alike; the load average is printed). --no-amx caps oneDNN at AVX512-BF16 (no AMX).
    python bench/bench_recipe.py speed --variants base,p2 --batch 64,128
    python bench/bench_recipe.py speed --variants base,p2 --batch 64,128 --no-amx

    # 2. quality against optimiser steps (deterministic under the seed, independent of load): train a recipe
    #    for N planned steps, snapshot the EMA weights at the marks, then score each snapshot with
    #    playground.mnist.quality (DDIM-50, CFG 1.5, bf16 sampling, labels cycling 0..9, seed 0) next to the
    #    real-vs-real baseline at the same n.
    python bench/bench_recipe.py quality --recipe p2 --steps 600 --marks 300 --num 250

Quality at T minutes on an idle machine = quality at the step count that T minutes of the measured
steps/s reach (a time-budget run plans its LR warmup/decay for exactly that count: Trainer.plan).
The wall-clock check of the final recipe is bench/bench_quality.py --quick-curve.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

if "--no-amx" in sys.argv:  # must be set before oneDNN initialises
    os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE_BF16"

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.mnist.data import batches, load_mnist, to_unit_range  # noqa: E402
from playground.mnist.model import UNetConfig  # noqa: E402
from playground.mnist.quality import evaluate, real_baseline  # noqa: E402
from playground.mnist.sample import generate  # noqa: E402
from playground.mnist.train import PRESETS, TrainConfig, Trainer  # noqa: E402

P2 = UNetConfig(channels=(32, 64, 96), patch_size=2)  # 2x2-pixel patches: the UNet runs at 14/7/4
OLD_QUICK = dict(batch_size=128, lr=2e-3, warmup_steps=100)  # the first version's quick preset (step-planned here)

# Candidate recipes: TrainConfig overrides on top of the dataclass defaults.
RECIPES: dict[str, dict] = {
    "base": dict(OLD_QUICK),
    "base-noCL": dict(OLD_QUICK, channels_last=False),
    "base-fp32": dict(OLD_QUICK, bf16="off"),
    "p2": dict(OLD_QUICK, model=P2),
    "p2-bs64": dict(OLD_QUICK, model=P2, batch_size=64),
    "p2-64,96": dict(OLD_QUICK, model=UNetConfig(channels=(64, 96), patch_size=2)),
}
for _name in ("quick", "tiny", "shipped"):
    if _name in PRESETS:
        RECIPES[f"preset:{_name}"] = {k: v for k, v in PRESETS[_name].items() if k not in ("steps", "time_budget_s")}

RESULTS = """
1. Cost per step on the dev machine (2 cores, idle, load 1.2), `python bench/bench_recipe.py speed --variants base,p2
   --batch 64,128 --threads 2 --reps 6` (median of 6; CPU s = both threads):
   recipe   params batch | CPU s/step  wall s/step  img/CPU-s
   base      1.30M    64 |      0.538        0.270        119
   base      1.30M   128 |      0.996        0.500        128
   p2        1.30M    64 |      0.265        0.133        242
   p2        1.30M   128 |      0.432        0.217        296
   So 2 minutes on 2 idle cores is ~240 steps of base/128, ~550 of p2/128, ~900 of p2/64; 5 minutes is
   ~600 / ~1,380 / ~2,250.

2. Quality against optimiser steps, measured on the lent H100 (quality follows steps, not the device; the GPU ran
   each step-planned run in seconds): `python bench/bench_gpu.py recipe --whole --presets
   quick+steps=800+batch_size=64+patch=2,...` (n = 500, DDIM-50, CFG 1.5; real held-out 98.2 %, Fréchet 16.79):
   recipe (quick preset: lr 2e-3, warmup 100, cosine decay)   steps | confident  Fréchet/real
   p2, batch 64                                                 800 |   68.0 %     12.36x   (a 2-minute budget)
   p2, batch 128                                                500 |   56.8 %     15.71x   (a 2-minute budget)
   p2, batch 64, lr 3e-3, log-normal t                          800 |   48.8 %     20.97x
   base (28x28 stem), batch 128                                 540 |   83.8 %      3.99x   (a 5-minute budget)
   p2, batch 128                                               1250 |   94.2 %      1.23x   (a 5-minute budget)
   p2, batch 64                                                2000 |   94.2 %      1.33x   (a 5-minute budget)
   Read-out: per step the 14x14 stem learns more slowly than the 28x28 one; per second on the CPU it is 2.3x
   cheaper, and at 5 minutes it is the better recipe (94.2 % / 1.23x against ~84 % / 4x). Log-normal t hurt.
   Neither reaches the 2-minute bar (70 %, 6x) in the steps 2 minutes allow.

3. The LR plan for short runs, on the CPU (1 thread each, two runs side by side; step-planned, so independent of
   the load): `python bench/bench_recipe.py quality --recipe p2 --steps 505 --num 500 --ema-ramps 0,3` and the
   same with `--set '{"lr": 0.003, "warmup_steps": 50, "final_lr_frac": 0.3}'` (505 steps = a 2-minute run):
   p2, lr 2e-3, warmup 100, decay to 0.1x:   EMA 33.6 %, 26.1x | raw weights 35.0 %, 27.2x | EMA ramp 3: 16.0 %
   p2, lr 3e-3, warmup 50,  decay to 0.3x:   EMA 64.4 %, 10.1x | raw weights 67.2 %,  9.2x | EMA ramp 3: 33.0 %
   Adopted for the quick preset; its real 5-minute curve (README) went from 93.0 % / 1.22x to 96.4 % / 0.94x.
"""


def _config(recipe: str, **over) -> TrainConfig:
    return TrainConfig(**{**RECIPES[recipe], **over})


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def speed(args) -> None:
    torch.set_num_threads(args.threads)
    data = load_mnist()
    runs = {}
    for name in args.variants.split(","):
        for bs in (int(b) for b in args.batch.split(",")):
            tr = Trainer(_config(name, steps=10**6, time_budget_s=None, batch_size=bs, preview_every=0), data=data)
            it = batches(tr.x0, tr.labels, bs, tr.data_gen)
            for _ in range(2):  # warm-up: oneDNN primitive creation
                tr.train_step(*next(it), 1e-3)
            runs[(name, bs)] = (tr, it, [], [])
    for _ in range(args.reps):  # interleaved rounds
        for tr, it, cpu, wall in runs.values():
            x0, lab = next(it)
            t0, c0 = time.perf_counter(), time.process_time()
            tr.train_step(x0, lab, 1e-3)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "default")
    print(f"torch {torch.__version__}, {args.threads} thread(s), oneDNN ISA cap {isa}; median of "
          f"{args.reps}; load {load()}")
    print(f"{'recipe':14s} {'params':>7s} {'batch':>5s} | {'CPU s/step':>10s} {'wall s/step':>11s} {'img/CPU-s':>9s}")
    for (name, bs), (tr, _, cpu, wall) in runs.items():
        c = statistics.median(cpu)
        print(f"{name:14s} {tr.model.num_params()/1e6:6.2f}M {bs:5d} | {c:10.3f} "
              f"{statistics.median(wall):11.3f} {bs / c:9.0f}")


def rate(args) -> None:
    """Steps/s of the whole trainer loop (data, EMA, bookkeeping; no previews) in short wall-clock runs of each
    preset, alternated, with the load average before and after each run."""
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_mnist()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN ISA cap "
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'default')}; {args.seconds:g} s runs")
    for r in range(args.reps):
        for name in args.presets.split(","):
            cfg = TrainConfig.from_preset(name, time_budget_s=args.seconds, preview_every=0, log_every=10)
            l0 = load()
            tr = Trainer(cfg, data=data)
            for _ in tr.run():
                pass
            print(f"  {name:10s} rep {r + 1}: {tr.step:4d} steps in {tr.wall_time_s:5.1f} s = "
                  f"{tr.step / tr.wall_time_s:5.2f} steps/s (batch {cfg.batch_size}, "
                  f"{'p2' if cfg.model.patch_size == 2 else 'full-res'} UNet) | load {l0} -> {load()}", flush=True)


def quality(args) -> None:
    torch.set_num_threads(args.threads)
    over = json.loads(args.set) if args.set else {}
    if isinstance(over.get("model"), dict):
        over["model"] = UNetConfig.from_dict(over["model"])
    cfg = _config(args.recipe, steps=args.steps, time_budget_s=None, preview_every=0, log_every=1, **over)
    marks = sorted({int(m) for m in args.marks.split(",") if m} | {args.steps})
    # extra EMAs: d_n = min(ema_decay, (1+n)/(r+n)); 0 = raw
    ramps = [float(r) for r in args.ema_ramps.split(",") if r]
    tr = Trainer(cfg, data=load_mnist())
    extra = {r: copy.deepcopy(tr.ema) for r in ramps if r > 0}
    snaps, cpu0, load0 = {}, time.process_time(), load()
    for ev in tr.run():
        if ev.kind != "step":
            continue
        n = tr.step - 1
        for r, m in extra.items():  # the same update as Trainer._ema_update, with another ramp
            d = min(cfg.ema_decay, (1 + n) / (r + n))
            torch._foreach_lerp_(list(m.parameters()), [p.detach() for p in tr.model.parameters()], 1 - d)
        if tr.step % 100 == 0:
            print(f"  ... step {tr.step}, {time.process_time() - cpu0:.0f} CPU-s, load {load()}", flush=True)
        if tr.step in marks:
            snaps[(tr.step, "ema")] = copy.deepcopy(tr.ema).float().eval()
            if args.save_dir:
                Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                torch.save({"config": tr.model.config.to_dict(), "ema": tr.ema.state_dict(),
                            "meta": tr.meta().__dict__},
                           Path(args.save_dir) / f"{args.recipe}-{args.tag or 'run'}-{tr.step}.pt")
            snaps.update({(tr.step, f"ema ramp {r:g}"): copy.deepcopy(m).float().eval() for r, m in extra.items()})
            if 0 in ramps:
                snaps[(tr.step, "raw weights")] = copy.deepcopy(tr.model).float().eval()
    train_cpu = time.process_time() - cpu0
    meta = tr.meta()
    real = real_baseline(args.num)
    print(f"recipe {args.recipe} {args.set or ''}: {args.steps} steps, {train_cpu:.0f} CPU-s (load at start {load0}); "
          f"n={args.num}, DDIM-50, CFG {args.guidance:g}, bf16 sampling; real-vs-real Fréchet {real.frechet:.2f}")
    for (step, kind), model in snaps.items():
        x0, labels = generate(model, meta, num=args.num, guidance=args.guidance, bf16="on", seed=0,
                              batch_size=args.sample_batch)
        rep = evaluate(to_unit_range(x0), labels)
        row = dict(recipe=args.recipe, tag=args.tag, set=over and args.set, step=step, weights=kind, n=args.num,
                   confident=rep.confident,
                   coverage=rep.coverage, frechet=rep.frechet, fd_ratio=rep.frechet / real.frechet,
                   train_cpu_s=train_cpu)
        print(f"  step {step:5d} {kind:14s}: confident {rep.confident:6.1%} | digits {rep.coverage:2d}/10 | "
              f"Fréchet {rep.frechet:7.2f} = {rep.frechet / real.frechet:5.2f}x real | label agreement "
              f"{rep.label_agreement:.1%}", flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--variants", default="base,p2")
    sp.add_argument("--batch", default="128")
    sp.add_argument("--reps", type=int, default=8)
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--no-amx", action="store_true")
    rp = sub.add_parser("rate")
    rp.add_argument("--presets", default="quick")
    rp.add_argument("--seconds", type=float, default=30.0)
    rp.add_argument("--reps", type=int, default=2)
    rp.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's, 2 on 2 cores)")
    rp.add_argument("--no-amx", action="store_true")
    q = sub.add_parser("quality")
    q.add_argument("--recipe", default="p2", choices=sorted(RECIPES))
    q.add_argument("--set", help='JSON TrainConfig overrides, e.g. \'{"lr": 3e-3}\'')
    q.add_argument("--steps", type=int, default=600)
    q.add_argument("--marks", default="")
    q.add_argument("--num", type=int, default=250)
    q.add_argument("--guidance", type=float, default=1.5)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--no-amx", action="store_true")
    q.add_argument("--ema-ramps", default="", help="also score EMAs with these ramps r (0 = the raw weights)")
    q.add_argument("--sample-batch", type=int, default=125)
    q.add_argument("--jsonl", help="append one JSON line per scored snapshot")
    q.add_argument("--save-dir", help="also save each EMA snapshot here")
    q.add_argument("--tag", help="name of this run in --jsonl and --save-dir")
    args = ap.parse_args()
    {"speed": speed, "rate": rate, "quality": quality}[args.cmd](args)


if __name__ == "__main__":
    main()
