"""Benchmark: the trainer and the sampler on a CUDA GPU (issue #9). Every part prints a short table.

    python bench/bench_gpu.py speed       # optimizer steps/s at batch 128: eager, CUDA graph, + deterministic
    python bench/bench_gpu.py profile     # kernels, CPU and GPU time per step (torch.profiler), eager vs graph
    python bench/bench_gpu.py recipe --presets shipped,gpu --marks 5,10,15,20
                                          # quality of EMA snapshots at wall-clock marks (s) of each preset
    python bench/bench_gpu.py sampling    # 64 and 1,000 digits x DDIM-50: ours (eager, graph, bf16) vs diffusers

Quality (recipe) is scored like bench/bench_quality.py: n = 500, DDIM-50, CFG w = 1.5, the shipped classifier,
next to the real-vs-real baseline at the same n; the shipped checkpoint is scored in the same run. Snapshots are
copied at the marks and scored after training, so scoring does not eat into the training clock.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground import samplers  # noqa: E402
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model  # noqa: E402
from playground.mnist.data import batches, load_mnist, to_unit_range  # noqa: E402
from playground.mnist.quality import evaluate, real_baseline  # noqa: E402
from playground.mnist.sample import generate, make_model_fn  # noqa: E402
from playground.mnist.train import TrainConfig, Trainer  # noqa: E402
from playground.schedules import make_schedule  # noqa: E402

RESULTS = """
Measured 2026-11-22 on one NVIDIA H100 80GB HBM3 (16 CPU cores), torch 2.11.0+cu130, the lent device machine.

speed (batch 128, bf16 autocast unless fp32; median of 5 x 100 steps):
  eager 29.5-34.7 | CUDA graph 199.7 (199.6-200.1; 195.6 before cuDNN benchmark mode) | graph + deterministic 159.7
  | graph fp32 170.1 | graph NCHW 176.5 | eager fp32 34.6-40.1

profile (10 steps): eager 908 kernels/step, GPU busy 5.14 ms/step, host 48.8 ms/step;
  CUDA graph 915 kernels/step, GPU busy 4.81 ms/step (top: reductions 0.39 ms, elementwise casts/adds ~1 ms,
  GroupNorm backward 0.37 ms, convolutions); the step is bound by many small kernels' GPU time.

recipe (n = 500, DDIM-50, w = 1.5; real held-out 98.2 % / Fréchet 16.786; shipped checkpoint 99.4 %, 1.13x):
  shipped, snapshots of one run:  5 s (740 st) 93.8 % 1.37x | 10 s (1700) 98.0 % 1.24x | 15 s (2660) 99.0 % 1.14x
                                  | end (3500, 19.4 s) 99.0 % 1.18x
  whole runs: 900 st 5.5 s 93.4 % 1.59x | 900 st lr 3e-3 4.7 s 94.2 % 1.42x | 1300 st 6.8 s 92.6 % 1.58x
              | 1800 st 9.4 s 97.4 % 1.20x (the `gpu` preset; 12.5 s, 97.2 %, 1.19x as a process's first run)
              | shipped 3500 st 17.9 s 99.2 % 1.13x

sampling (DDIM-50, median of 5)                      64 digits   1000 digits
  diffusers UNet2DModel (HF course size), fp32        1593.4 ms    2897.1 ms
  ours w=1, fp32, eager                                560.2 ms     997.3 ms
  ours w=1, fp32, CUDA graph                           103.9 ms     789.7 ms
  ours w=1, bf16, CUDA graph                            90.4 ms     616.4 ms
  ours CFG w=1.5, fp32, CUDA graph                     114.9 ms    1203.1 ms
"""


def _sync() -> None:
    torch.cuda.synchronize()


def _trainer(batch: int, **kw) -> Trainer:
    cfg = TrainConfig.from_preset("shipped", steps=10**6, time_budget_s=None, batch_size=batch, preview_every=0,
                                  log_every=10**6, **kw)
    return Trainer(cfg, data=DATA, device="cuda")


def _steps_per_s(tr: Trainer, n: int, it) -> tuple[float, float]:
    for _ in range(5):  # warm-up (and capture, for the graph)
        tr.stats.push(tr._step_rows(*next(it), 1e-3)[2])
    tr.stats.flush()
    _sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        tr.stats.push(tr._step_rows(*next(it), 1e-3)[2])
    tr.stats.flush()  # the loop's one sync per event
    _sync()
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n * 1e3


def speed(args) -> None:
    print("mode                         batch | steps/s (median of 5 x 100 steps) | host CPU ms/step")
    for batch in [int(b) for b in args.batch.split(",")]:
        for name, kw in (("eager", dict(cuda_graph=False)), ("CUDA graph", dict(cuda_graph=True)),
                         ("CUDA graph + deterministic", dict(cuda_graph=True, deterministic=True)),
                         ("CUDA graph, NCHW", dict(cuda_graph=True, channels_last=False)),
                         ("eager fp32", dict(cuda_graph=False, bf16="off")),
                         ("CUDA graph fp32", dict(cuda_graph=True, bf16="off"))):
            tr = _trainer(batch, **kw)
            it = batches(tr.x0, tr.labels, batch, tr.data_gen)
            runs = [_steps_per_s(tr, 100, it) for _ in range(5)]
            sps = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{name:28s} {batch:5d} | {sps:8.1f} ({min(r[0] for r in runs):.1f}-{max(r[0] for r in runs):.1f})"
                  f"                 | {cpu:6.2f}", flush=True)


def profile(args) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    for name, graph in (("eager", False), ("CUDA graph", True)):
        tr = _trainer(128, cuda_graph=graph)
        it = batches(tr.x0, tr.labels, 128, tr.data_gen)
        for _ in range(6):
            tr.stats.push(tr._step_rows(*next(it), 1e-3)[2])
        tr.stats.flush()
        _sync()
        n = 10
        with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            for _ in range(n):
                tr.stats.push(tr._step_rows(*next(it), 1e-3)[2])
            tr.stats.flush()
            _sync()
        ev = p.key_averages()
        kernels = sum(e.count for e in ev if e.device_type.name == "CUDA")
        gpu_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in ev if e.device_type.name == "CUDA")
        cpu_us = sum(e.self_cpu_time_total for e in ev)
        print(f"{name}: {kernels / n:.0f} GPU kernels/step, GPU busy {gpu_us / n / 1e3:.2f} ms/step, "
              f"host ops {cpu_us / n / 1e3:.1f} ms/step", flush=True)
        print(ev.table(sort_by="self_cuda_time_total", row_limit=args.rows, max_name_column_width=60), flush=True)


def _score(model, meta, num: int, seed: int = 0):
    x0, labels = generate(model, meta, num=num, steps=50, guidance=1.5, seed=seed, batch_size=num)
    return evaluate(to_unit_range(x0).cpu(), labels.cpu())


def recipe(args) -> None:
    real = real_baseline(args.num)
    print(real.row("real held-out") + " | FD/real  1.00x")
    ship, ship_meta = load_model(DEFAULT_CHECKPOINT, device="cuda")
    rep = _score(ship, ship_meta, args.num)
    print(rep.row(f"shipped ({ship_meta.steps} st)") + f" | FD/real {rep.frechet / real.frechet:5.2f}x", flush=True)
    marks = [float(m) for m in args.marks.split(",")]
    for preset in args.presets.split(","):  # "name" or "name+key=value+key=value" (TrainConfig fields)
        name, *over = preset.split("+")
        pairs = dict(o.split("=") for o in over)
        model = {}  # patch=2, ch=32.64.96: UNetConfig fields
        if "patch" in pairs:
            model["patch_size"] = int(pairs.pop("patch"))
        if "ch" in pairs:
            model["channels"] = tuple(int(c) for c in pairs.pop("ch").split("."))
        kw = {k: type(getattr(TrainConfig(), k))(v) if getattr(TrainConfig(), k) is not None else float(v)
              for k, v in pairs.items()}
        if model:
            kw["model"] = dataclasses.replace(TrainConfig().model, **model)
        kw = dict(preview_every=0, log_every=10, **kw)
        if args.whole:
            kw["time_budget_s"] = None
        elif "time_budget_s" not in kw and TrainConfig.from_preset(name).time_budget_s is None:
            kw["time_budget_s"] = max(marks)
        cfg = TrainConfig.from_preset(name, **kw)
        tr = Trainer(cfg, data=DATA, device="cuda")
        todo, snaps = list(marks), []
        for ev in tr.run():
            if todo and (ev.elapsed_s >= todo[0] or ev.kind == "done") and not args.whole:
                snaps.append((todo.pop(0), ev.step, ev.elapsed_s, copy.deepcopy(tr.ema).eval()))
        snaps.append(("end", tr.step, tr.wall_time_s, copy.deepcopy(tr.ema).eval()))
        print(f"preset {preset}: {tr.step} steps in {tr.wall_time_s:.1f} s wall "
              f"({tr.step / max(tr.wall_time_s, 1e-9):.0f} steps/s incl. previews/events), batch {cfg.batch_size}",
              flush=True)
        for mark, step, wall, model in snaps:
            rep = _score(model, tr.meta(), args.num)
            ok = rep.confident >= 0.95 and rep.coverage == 10 and rep.frechet / real.frechet <= 1.3
            print(rep.row(f"{preset} @{mark} ({step} st, {wall:.1f} s)") +
                  f" | FD/real {rep.frechet / real.frechet:5.2f}x | {'meets' if ok else 'misses'} the shipped bar",
                  flush=True)


def _time(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def sampling(args) -> None:
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    ref = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=2,
                      block_out_channels=(32, 64, 64),
                      down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                      up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D")).cuda().eval()
    ours, meta = load_model(DEFAULT_CHECKPOINT, device="cuda")
    sched = make_schedule("linear", 1000)
    print("model (DDIM-50, unconditional pass per step unless CFG)     |   64 digits |  1000 digits")
    rows = []
    for name, make in (
        ("diffusers UNet2DModel (HF course size), fp32", lambda n: (lambda x, t: ref(x, t).sample)),
        ("ours, w=1 (one pass), fp32, eager", lambda n: make_model_fn(ours, torch.arange(n, device="cuda") % 10, 1.0)),
        ("ours, w=1, fp32, CUDA graph",
         lambda n: make_model_fn(ours, torch.arange(n, device="cuda") % 10, 1.0, cuda_graph=True)),
        ("ours, w=1, bf16, CUDA graph",
         lambda n: make_model_fn(ours, torch.arange(n, device="cuda") % 10, 1.0, bf16=True,
                                                                cuda_graph=True)),
        ("ours, CFG w=1.5 (two passes), fp32, CUDA graph",
         lambda n: make_model_fn(ours, torch.arange(n, device="cuda") % 10,
                                                                                 1.5, cuda_graph=True)),
    ):
        times = []
        for n in (64, 1000):
            fn = make(n)

            def run(fn=fn, n=n):
                with torch.no_grad():
                    samplers.sample(fn, sched, (n, 1, 28, 28), sampler="ddim", num_steps=50,
                                    generator=torch.Generator().manual_seed(0), device="cuda")
            run()  # warm-up (and capture)
            times.append(_time(run, args.reps))
        rows.append((name, times))
        print(f"{name:60s} | {times[0] * 1e3:8.1f} ms | {times[1] * 1e3:8.1f} ms", flush=True)


def main() -> None:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "profile", "recipe", "sampling"])
    ap.add_argument("--batch", default="128", help="speed: batch sizes, comma-separated")
    ap.add_argument("--rows", type=int, default=12, help="profile: table rows")
    ap.add_argument("--presets", default="shipped,gpu", help="recipe: presets, comma-separated")
    ap.add_argument("--marks", default="5,10,15,20", help="recipe: wall-clock marks in seconds")
    ap.add_argument("--whole", action="store_true", help="recipe: run each preset to its own end (no marks)")
    ap.add_argument("--num", type=int, default=500, help="recipe: digits scored per snapshot")
    ap.add_argument("--reps", type=int, default=5, help="sampling: timed runs (median)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA device")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    DATA = load_mnist()
    {"speed": speed, "profile": profile, "recipe": recipe, "sampling": sampling}[args.what](args)


DATA = None

if __name__ == "__main__":
    main()
