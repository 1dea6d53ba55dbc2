"""Benchmark: wall time of 64 digits with DDIM-50, our UNet vs the HF diffusion-course MNIST UNet.

    python bench/bench_sampling_speed.py                  # median of 3 runs each
    python bench/bench_sampling_speed.py --reps 5
    python bench/bench_sampling_speed.py --batch-sweep    # + per-image cost of 500 digits by batch size
    python bench/bench_sampling_speed.py --no-amx         # oneDNN capped at AVX512-BF16 (a CPU without AMX)

The reference is diffusers' ``UNet2DModel(sample_size=28, block_out_channels=(32, 64, 64), attention
in the two lower levels)``, randomly initialised, timed in the same process with the same sampler
loop (our ``samplers.sample``); speed does not depend on the weights. Our model is timed as shipped
(``checkpoints/mnist_eps_cond.pt`` when present, else the default config). The headline row is
**the CLI's defaults**: exactly what ``python -m playground.sample --num 64`` runs (``sample.generate``
with DEFAULT_GUIDANCE, DEFAULT_BF16 and DEFAULT_BATCH: CFG with both passes in one batch, bf16
autocast as DEFAULT_BF16 says). The load average is printed with every row: other jobs
on the machine slow both models, so compare rows of one run only.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if "--no-amx" in sys.argv:  # must be set before oneDNN initialises
    os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE_BF16"

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playground import samplers  # noqa: E402
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta, load_model  # noqa: E402
from playground.mnist.model import UNet, UNetConfig  # noqa: E402
from playground.mnist.sample import DEFAULT_BATCH, DEFAULT_BF16, DEFAULT_GUIDANCE, generate, make_model_fn  # noqa: E402
from playground.schedules import make_schedule  # noqa: E402

RESULTS = """
Measured 2026-11-22 on the shared dev machine: 2 vCPUs of an Intel Xeon (Sapphire Rapids class: AVX-512,
AVX512-BF16 and AMX-BF16), torch 2.14.1, while 3 other engineers' jobs shared the two cores (load average
printed per row). `python bench/bench_sampling_speed.py --reps 3` (AMX on) and `... --no-amx` (oneDNN capped
at AVX512-BF16: what the AMD EPYC of the issue has):

2026-11-22 21:28, the idle machine (load 1.3 → 2.0 from the run itself),
`python bench/bench_sampling_speed.py --reps 3`:
diffusers UNet2DModel (32,64,64)+attn, 1.71M, fp32                               32.72 s   1.00x
ours (32, 64, 96), 1.30M: CLI defaults (CFG w=1.5 in one batch, bf16=auto)        8.24 s   0.25x
ours (32, 64, 96), 1.30M: CFG w=1.5, fp32 (the previous CLI default)             17.55 s   0.54x
ours (32, 64, 96), 1.30M: CFG w=1.5 as two batches, bf16                          8.99 s   0.27x
ours (32, 64, 96), 1.30M: conditional, no CFG, fp32                               8.55 s   0.26x
ours (32, 64, 96), 1.30M: conditional, no CFG, bf16                               4.93 s   0.15x
diffusers UNet2DModel, bf16 autocast                                             24.54 s   0.75x
Guidance's cost: both passes in one batch beat two batches (8.24 against 8.99 s); a single conditional pass
(no CFG) costs 4.93 s. The CLI keeps CFG 1.5 in one batch.
"""


def diffusers_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    ).eval()


def run_ddim(model_fn, seed: int, n: int = 64, steps: int = 50) -> None:
    samplers.sample(model_fn, make_schedule("linear", 1000), (n, 1, 28, 28), sampler="ddim", num_steps=steps,
                    generator=torch.Generator().manual_seed(seed))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def two_pass_cfg(model, labels, w):
    """CFG with the conditional and unconditional passes as two batches (what 'one batch' saves)."""
    null = torch.full_like(labels, model.config.null_label)

    def fn(x, t):
        c, u = model(x, t, labels), model(x, t, null)
        return u + w * (c - u)

    return fn


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--batch-sweep", action="store_true", help="also time 500 digits in batches of 32..500")
    ap.add_argument("--no-amx", action="store_true", help="cap oneDNN at AVX512-BF16 (emulates a CPU without AMX)")
    ap.add_argument("--skip-extra", action="store_true", help="only the reference and the CLI-default rows")
    args = ap.parse_args()
    if Path(args.checkpoint).exists():
        ours, meta = load_model(args.checkpoint)
    else:
        ours, meta = UNet(UNetConfig()).eval(), CheckpointMeta()
    ref = diffusers_unet()
    n_ref = sum(p.numel() for p in ref.parameters())
    labels = torch.arange(64) % 10
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "default (AMX where present)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN ISA cap: {isa}; 64 images, "
          f"DDIM 50 steps; median of {args.reps}")
    print(f"load average at the start: {load()}")
    name = f"ours {tuple(ours.config.channels)}, {ours.num_params()/1e6:.2f}M"
    cli = dict(num=64, guidance=DEFAULT_GUIDANCE, bf16=DEFAULT_BF16, batch_size=DEFAULT_BATCH)
    bf16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    rows = {  # label -> fn(seed); every rep times every row once, in this order, so load changes hit all rows alike
        f"diffusers UNet2DModel (32,64,64)+attn, {n_ref/1e6:.2f}M, fp32":
            lambda r: run_ddim(lambda x, t: ref(x, t).sample, r),
        f"{name}: CLI defaults (CFG w={DEFAULT_GUIDANCE:g} in one batch, bf16={DEFAULT_BF16})":
            lambda r: generate(ours, meta, seed=r, **cli),
    }
    if not args.skip_extra:
        def two_batches(r):
            with bf16():
                run_ddim(lambda x, t: two_pass_cfg(ours, labels, DEFAULT_GUIDANCE)(x, t).float(), r)

        def ref_bf16(r):
            with bf16():
                run_ddim(lambda x, t: ref(x, t).sample.float(), r)

        rows.update({
            f"{name}: CFG w={DEFAULT_GUIDANCE:g}, fp32 (the previous CLI default)":
                lambda r: generate(ours, meta, seed=r, **{**cli, "bf16": "off"}),
            f"{name}: CFG w={DEFAULT_GUIDANCE:g} as two batches, bf16": two_batches,
            f"{name}: conditional, no CFG, fp32": lambda r: run_ddim(make_model_fn(ours, labels, 1.0), r),
            f"{name}: conditional, no CFG, bf16": lambda r: run_ddim(make_model_fn(ours, labels, 1.0, bf16=True), r),
            "diffusers UNet2DModel, bf16 autocast": ref_bf16,
        })
    times = {k: [] for k in rows}
    with torch.inference_mode():
        for r in range(args.reps):
            for k, fn in rows.items():
                times[k].append(timed(lambda fn=fn, r=r: fn(r)))
            print(f"  rep {r + 1}/{args.reps} done ({load()})", flush=True)
        t_ref = statistics.median(next(iter(times.values())))
        for k, ts in times.items():
            sec = statistics.median(ts)
            print(f"{k:78s} {sec:7.2f} s  {sec / t_ref:5.2f}x the time of diffusers fp32", flush=True)
        if args.batch_sweep:
            print("500 digits at the CLI defaults, by batch size (per-image cost; sizes interleaved, median of reps):")
            sizes = (32, 64, 125, 250, 500)
            sweep = {bs: [] for bs in sizes}
            for r in range(args.reps):
                for bs in sizes:
                    sweep[bs].append(timed(lambda r=r,
                                           bs=bs: generate(ours, meta, seed=r,
                                                           **{**cli, "num": 500, "batch_size": bs})))
            for bs, ts in sweep.items():
                sec = statistics.median(ts)
                print(f"  batch {bs:4d}: {sec:7.2f} s, {sec / 500 * 1e3:6.1f} ms per digit", flush=True)
        print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
