"""Benchmark: wall time of 64 digits with DDIM-50, our UNet vs the HF diffusion-course MNIST UNet.

    python bench/bench_sampling_speed.py             # median of 3 runs each
    python bench/bench_sampling_speed.py --reps 5

The reference is diffusers' ``UNet2DModel(sample_size=28, block_out_channels=(32, 64, 64), attention
in the two lower levels)``, randomly initialised, timed in the same process with the same sampler
loop (our ``samplers.sample``); speed does not depend on the weights. Our model is timed as shipped
(``checkpoints/mnist_eps_cond.pt`` when present, else the default config), with and without CFG
(CFG doubles the batch), in fp32 and under bf16 autocast.

Measured 2026-11-22 on the shared dev machine (busy), `OMP_NUM_THREADS=1 python bench/bench_sampling_speed.py --reps 3`:

    diffusers UNet2DModel (32,64,64)+attn, 1.71M, fp32          94.67 s   1.00x
    ours (32, 64, 96), 1.30M, conditional, no CFG, fp32          22.49 s   4.21x
    ours (32, 64, 96), 1.30M, CFG w=2 (2x batch), fp32           38.98 s   2.43x
    ours (32, 64, 96), 1.30M, conditional, no CFG, bf16          10.01 s   9.46x
    ours (32, 64, 96), 1.30M, CFG w=2 (2x batch), bf16           18.70 s   5.06x
    diffusers UNet2DModel, bf16 autocast                         60.79 s   1.56x
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground import samplers  # noqa: E402
from playground.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta, load_model  # noqa: E402
from playground.model import UNet, UNetConfig  # noqa: E402
from playground.sample import make_model_fn  # noqa: E402
from playground.schedules import make_schedule  # noqa: E402


def diffusers_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    ).eval()


def time_it(model_fn, reps: int, n: int = 64, steps: int = 50) -> float:
    s = make_schedule("linear", 1000)
    times = []
    for r in range(reps):
        t0 = time.perf_counter()
        samplers.sample(model_fn, s, (n, 1, 28, 28), sampler="ddim", num_steps=steps, generator=torch.Generator().manual_seed(r))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    args = ap.parse_args()
    if Path(args.checkpoint).exists():
        ours, meta = load_model(args.checkpoint)
    else:
        ours, meta = UNet(UNetConfig()).eval(), CheckpointMeta()
    ref = diffusers_unet()
    n_ref = sum(p.numel() for p in ref.parameters())
    labels = torch.arange(64) % 10
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 64 images, DDIM 50 steps; median of {args.reps}")
    t_ref = None

    def report(label: str, sec: float) -> None:
        print(f"{label:70s} {sec:7.2f} s   {t_ref / sec:5.2f}x vs diffusers fp32", flush=True)

    with torch.inference_mode():
        t_ref = time_it(lambda x, t: ref(x, t).sample, args.reps)
        report(f"diffusers UNet2DModel (32,64,64)+attn, {n_ref/1e6:.2f}M, fp32", t_ref)
        name = f"ours {tuple(ours.config.channels)}, {ours.num_params()/1e6:.2f}M"
        for guidance, bf16 in [(1.0, False), (2.0, False), (1.0, True), (2.0, True)]:
            fn = make_model_fn(ours, labels, guidance, bf16=bf16)
            label = f"{name}, {'CFG w=2 (2x batch)' if guidance != 1 else 'conditional, no CFG'}, {'bf16' if bf16 else 'fp32'}"
            report(label, time_it(fn, args.reps))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            report("diffusers UNet2DModel, bf16 autocast", time_it(lambda x, t: ref(x, t).sample.float(), args.reps))


if __name__ == "__main__":
    main()
