"""Benchmark: what one training step (forward + backward + AdamW) of the UNet costs on this machine.

    python bench/bench_train_step.py            # full table (~3 min on 2 cores)
    python bench/bench_train_step.py --quick    # fewer variants

Each row is the median of ``--reps`` timed steps after 2 warm-up steps, eps-objective, random
inputs (the cost does not depend on the data). "fwd64" is one no-grad forward pass of 64 images,
the unit cost of sampling. Results on the dev machine (AMD EPYC, 2 cores, AVX-512 + AVX512-BF16,
no AMX, torch 2.14.1) are in the module-level RESULTS string below and in checkpoints/README.md.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground.mnist.model import UNet, UNetConfig  # noqa: E402

RESULTS = """
Measured 2026-11-22 on the dev machine at the start of the session (load ~1.3, so mildly contended),
seconds per training step (median of 6), and one no-grad forward of 64 images:

variant                            params batch |    fp32 fp32+CL    bf16 bf16+CL | fwd64 fp32 / bf16+CL
default (32,64,96) attn7            1.30M   128 |   0.617   0.483   0.298   0.294 | 0.074 / 0.046
  + GroupNorm at 28x28              1.30M   128 |   1.288   0.450   0.278   0.402 | 0.226 / 0.073
  no attention                      1.26M   128 |   0.542   0.578   0.270   0.249 | 0.085 / 0.044
(16,32,64)                          0.54M   128 |   0.172   0.151   0.124   0.261*| 0.030 / 1.064*
(32,64,128)                         1.93M   128 |   0.597   0.519   0.350   0.329 | 0.088 / 0.046
(32,64,64)                          0.82M   128 |   0.451   0.893*  0.967*  2.638*| 0.129 / 0.366*
(32,64,96) 2 blocks/level           1.92M   128 |   1.559   0.679   0.618   3.285*| 0.146 / 0.162
default, batch 64                   1.30M    64 |   0.498   0.438   0.325   0.316 | 0.164 / 0.101
(* = other jobs started on the 2 cores during these rows; re-run before trusting them)

Read-out: bf16 autocast is ~2x on this CPU (AVX512-BF16, no AMX) -> the trainer uses it where the
CPU has native bf16 (device.bf16_autocast_ok) and fp32 elsewhere; GroupNorm at 28x28 costs 2x in
fp32 -> off (norm_full_res=False); 7x7 attention costs ~10% -> kept; channels_last helps fp32
(0.62 -> 0.48 s) and is neutral under bf16 -> on; a step of batch 64 costs about as much as one of 128
on 2 cores (fixed overheads dominate) -> the presets use batch 128: twice the digits per second.
"""


def time_step(cfg: UNetConfig, batch: int, bf16: bool, channels_last: bool, reps: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    model = UNet(cfg)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(memory_format=mf)
    t = torch.randint(0, 1000, (batch,), generator=g)
    y = torch.randint(0, 11, (batch,), generator=g)
    eps = torch.randn(x.shape, generator=g)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, t, y)
        loss = F.mse_loss(out.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = []
    for i in range(reps + 2):
        t0 = time.perf_counter()
        step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    fwd = []
    xs = x[:64]
    with torch.no_grad():
        for i in range(reps + 1):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(xs, t[:64], y[:64])
            if i >= 1:
                fwd.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.median(fwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    base = UNetConfig()
    rows = [
        ("default (32,64,96) attn7", base, 128),
        ("  + GroupNorm at 28x28", UNetConfig(norm_full_res=True), 128),
        ("  no attention", UNetConfig(attention=False), 128),
        ("(16,32,64)", UNetConfig(channels=(16, 32, 64)), 128),
        ("(32,64,128)", UNetConfig(channels=(32, 64, 128)), 128),
        ("(32,64,64)", UNetConfig(channels=(32, 64, 64)), 128),
        ("(32,64,96) 2 blocks/level", UNetConfig(num_res_blocks=2), 128),
        ("default, batch 64", base, 64),
    ]
    if args.quick:
        rows = rows[:2]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"{'variant':32s} {'params':>8s} {'batch':>5s} | {'fp32':>7s} {'fp32+CL':>7s} {'bf16':>7s} {'bf16+CL':>7s} "
          f"| fwd64 fp32 / bf16+CL")
    for name, cfg, batch in rows:
        n = UNet(cfg).num_params()
        res = {}
        for bf16 in (False, True):
            for cl in (False, True):
                res[(bf16, cl)] = time_step(cfg, batch, bf16, cl, args.reps)
        print(
            f"{name:32s} {n/1e6:7.2f}M {batch:5d} | "
            + " ".join(f"{res[k][0]:7.3f}" for k in [(False, False), (False, True), (True, False), (True, True)])
            + f" | {res[(False, False)][1]:.3f} / {res[(True, True)][1]:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
