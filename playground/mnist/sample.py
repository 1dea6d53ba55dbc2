"""Generate digits from a checkpoint: ``python -m playground.sample``.

Notation
--------
============  ===================================================================
x0            generated digits, (N, 1, 28, 28) in [-1, 1]; saved in [0, 1]
labels        (N,) requested digits (conditional models); default cycles 0..9
guidance      CFG scale w: eps = eps(x, null) + w (eps(x, c) - eps(x, null)); 1 = plain
              conditional, 0 = unconditional (arXiv:2207.12598)
sampler       ddpm | ddim | dpmpp_2m (aliases: dpm, dpm++, dpmpp, ...) | euler | heun (the flow ODE; any model)
============  ===================================================================

Examples::

    python -m playground.sample --num 64 --out samples.png
    python -m playground.sample --sampler dpm++ --steps 20 --label 7 --guidance 3 --out sevens.npy
    python -m playground.sample --num 16 --out trajectory.gif      # the denoising, step by step
    python -m playground.sample --checkpoint checkpoints/mnist_flow_cond.pt --sampler euler --steps 4 --out f.png

``--out`` by extension: ``.npy`` float32 (N, 28, 28) in [0, 1]; ``.png`` a grid; ``.gif`` the
denoising trajectory of x_t as a grid per step.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from playground import samplers
from playground.diffusion import normalize_prediction_type
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta, load_model
from playground.mnist.data import to_unit_range
from playground.mnist.model import UNet
from playground.paths import flow_model_fn
from playground.runtime.cuda_graphs import GraphedModelFn, cuda_graphs_ok
from playground.runtime.device import bf16_autocast_ok, pick_device
from playground.schedules import NoiseSchedule, make_schedule

__all__ = ["DEFAULT_GUIDANCE", "DEFAULT_BF16", "DEFAULT_BATCH", "default_labels", "student_sampler", "make_model_fn",
           "generate_loop", "generate", "main"]

# CFG scale of the CLI: 99% confident, Fréchet 1.17x real on the default checkpoint (w=2 at step 2,500: 2.4x)
DEFAULT_GUIDANCE = 1.5
# CLI: bf16 autocast on a CPU with native bf16, where its quality was measured equal to fp32 (500 digits, DDIM-50,
# w = 1.5: 99.0 % confident and Fréchet 1.17x in both) at 2.3x the speed; fp32 on GPUs (not measured there yet)
DEFAULT_BF16 = "auto"
DEFAULT_BATCH = 64  # CLI: digits per batch (bench/bench_sampling_speed.py RESULTS)


def default_labels(n: int) -> torch.Tensor:
    """0, 1, ..., 9, 0, 1, ...: (n,) long."""
    return torch.arange(n) % 10


def student_sampler(meta: CheckpointMeta) -> dict | None:
    """A distilled student's own sampler (playground/distill.py), or None for any other model.

    The student was trained to match the teacher on the trailing grid with deterministic DDIM, guidance already
    distilled in (meta.extra["guidance_distilled"]), so it samples with one plain conditional pass per step."""
    n = meta.extra.get("student_steps")
    if not n:
        return None
    return dict(sampler="ddim", steps=int(n), eta=0.0, spacing="trailing", guidance=1.0, clip_x0=False)


def make_model_fn(model: UNet, labels: torch.Tensor | None, guidance: float, *, bf16: bool = False,
                  cuda_graph: bool = False, flow_schedule: NoiseSchedule | None = None):
    """model_fn(x_t, t) for the samplers: CFG for conditional models, optional bf16 autocast.

    flow_schedule: a flow-matching model (prediction type 'u') is told x_lin and 1000·τ on the straight path with
    the same SNR as this schedule's t (paths.flow_model_fn); CFG mixes its velocities (linear in the output).

    cuda_graph: on a CUDA device, replay each call from a CUDA graph (one capture per batch shape; see
    playground/runtime/cuda_graphs.py). Ignored elsewhere."""
    net = model if flow_schedule is None else flow_model_fn(model, flow_schedule)
    if model.config.conditional:
        fn = samplers.cfg_model_fn(net, labels, guidance, model.config.null_label)
    else:
        fn = lambda x, t: net(x, t)  # noqa: E731
    device = next(model.parameters()).device
    graph = cuda_graph and cuda_graphs_ok(device)

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # no autocast weight cache in a graph: the cached casts would be freed while the graph still reads them
        ctx = (torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not graph) if bf16
               else contextlib.nullcontext())
        with ctx:
            return fn(x, t).float()

    return GraphedModelFn(model_fn, device) if graph else model_fn


def _labels_for(model: UNet, num: int, label: int | torch.Tensor | None) -> torch.Tensor | None:
    if not model.config.conditional:
        return None
    if label is None:
        return default_labels(num)
    if isinstance(label, torch.Tensor):
        return label.long().reshape(-1).expand(num) if label.numel() == 1 else label.long()
    return torch.full((num,), int(label), dtype=torch.long)


def generate_loop(
    model: UNet,
    meta: CheckpointMeta,
    *,
    num: int = 64,
    sampler: str = "ddim",
    steps: int = 50,
    eta: float = 0.0,
    spacing: str | None = None,
    seed: int = 0,
    label: int | torch.Tensor | None = None,
    guidance: float = DEFAULT_GUIDANCE,
    clip_x0: bool = False,
    bf16: bool | str = "off",
    cuda_graph: bool = True,
) -> Iterator[samplers.SamplerState]:
    """Yield the sampler state after each step for ``num`` digits (one batch).

    label: None (cycle 0..9), an int, or (num,) labels; ignored by unconditional models.
    bf16: "auto" uses bf16 autocast on a CPU with native bf16 (faster, the same measured quality; README).
    cuda_graph: on CUDA, replay the model call from a CUDA graph (the same digits, fewer launches).
    spacing: None = 'trailing' for a flow model (its first step at t = 1), 'leading' otherwise.
    """
    device = next(model.parameters()).device
    # "auto": where bf16 sampling was measured to keep the quality (a CPU with native bf16), not yet on GPUs
    use_bf16 = bf16 is True or bf16 == "on" or (bf16 == "auto" and device.type == "cpu" and bf16_autocast_ok(device))
    labels = _labels_for(model, num, label)
    if use_bf16 and device.type == "cpu":  # oneDNN's bf16 convolutions want NHWC weights (no reorders each call)
        model.to(memory_format=torch.channels_last)  # the same values; only the layout of the weights changes
    schedule = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    is_flow = normalize_prediction_type(meta.prediction_type) == "u"
    spacing = spacing or ("trailing" if is_flow else "leading")
    fn = make_model_fn(model, None if labels is None else labels.to(device), guidance, bf16=use_bf16,
                       cuda_graph=cuda_graph, flow_schedule=schedule if is_flow else None)
    yield from samplers.sample_loop(fn, schedule, (num, 1, 28, 28), sampler=sampler, num_steps=steps, spacing=spacing,
                                    eta=eta, prediction_type=meta.prediction_type, clip_x0=clip_x0,
                                    generator=torch.Generator().manual_seed(seed), device=device)


def generate(model: UNet, meta: CheckpointMeta, *, num: int = 64, batch_size: int = DEFAULT_BATCH, seed: int = 0,
             label: int | torch.Tensor | None = None, **kw) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Final digits ((num, 1, 28, 28) in [-1, 1], labels or None), in batches of ``batch_size``.

    Batch b uses seed ``seed + b``, so results do not depend on anything else.
    """
    labels = _labels_for(model, num, label)
    out = []
    for b, start in enumerate(range(0, num, batch_size)):
        n = min(batch_size, num - start)
        lab = None if labels is None else labels[start : start + n]
        state = samplers.run_to_end(generate_loop(model, meta, num=n, seed=seed + b, label=lab, **kw))
        out.append(state.x_t.cpu())
    return torch.cat(out), labels


def grid_image(x: torch.Tensor, ncol: int | None = None, scale: int = 2) -> np.ndarray:
    """Digits (N, 1, H, W) in [−1, 1] → one uint8 grid for the CLI's PNG and GIF: grey gaps, ×scale pixels."""
    from playground import render  # plotly and Pillow load only when an image is written

    return render.image_grid(render.to_uint8(x[:, 0].detach().float().cpu().numpy()), ncol=ncol, pad=2 * scale,
                             pad_value=128, scale=scale)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m playground.sample", description="Sample digits from a checkpoint.")
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    own = " (a distilled student: its own sampler by default, DDIM η = 0 trailing at its steps, guidance 1)"
    ap.add_argument("--sampler", help="ddpm | ddim | dpmpp (dpm, dpm++, dpmpp_2m) | euler | heun; default ddim" + own)
    ap.add_argument("--steps", type=int, help="default 50, or a student's own number of steps")
    ap.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic)")
    ap.add_argument("--spacing", choices=samplers.SPACINGS,
                    help="default: trailing for flow models and students, else leading")
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", type=int, help="digit 0-9 (conditional models); default cycles 0..9")
    ap.add_argument("--guidance", type=float,
                    help=f"CFG scale (conditional models); default {DEFAULT_GUIDANCE}, 1 for a student (distilled in)")
    ap.add_argument("--clip-x0", action="store_true", help="clip predicted x0 to [-1, 1] each step")
    ap.add_argument("--bf16", default=DEFAULT_BF16, choices=["auto", "on", "off"],
                    help=f"bf16 autocast; auto = where the hardware has native bf16 (default {DEFAULT_BF16})")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                    help=f"digits per batch (default {DEFAULT_BATCH})")
    ap.add_argument("--device")
    ap.add_argument("--out", default="samples.png", help=".npy | .png | .gif")
    args = ap.parse_args(argv)

    if args.label is not None and not 0 <= args.label <= 9:
        ap.error("--label must be a digit 0-9")
    if args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    if args.sampler is not None:
        samplers.normalize_sampler(args.sampler)  # clear error for unknown names
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be at least 1")
    out = Path(args.out)
    if out.suffix.lower() not in (".npy", ".png", ".gif"):
        ap.error("--out must end in .npy, .png or .gif")
    model, meta = load_model(args.checkpoint, pick_device(args.device))
    if args.label is not None and not model.config.conditional:
        print("note: unconditional model; --label ignored")
    own = student_sampler(meta) or {}
    pick = lambda name, default: getattr(args, name) if getattr(args, name) is not None else own.get(name, default)  # noqa: E731
    kw = dict(sampler=pick("sampler", "ddim"), steps=pick("steps", 50), eta=args.eta, spacing=pick("spacing", None),
              guidance=pick("guidance", DEFAULT_GUIDANCE), clip_x0=args.clip_x0, bf16=args.bf16)
    if own and args.guidance not in (None, 1.0):
        print(f"note: this student has guidance {meta.extra.get('guidance_distilled')} distilled in; --guidance "
              f"{args.guidance:g} guides on top of it")
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    from playground import render

    if out.suffix.lower() == ".gif":
        frames = [grid_image(st.x_t) for st in generate_loop(model, meta, num=args.num, seed=args.seed,
                                                            label=args.label, **kw)]
        render.write_gif(out, frames, duration_ms=100, hold_last_ms=1500)  # 10 frames/s, the last one held 1.5 s
    else:
        x0, _ = generate(model, meta, num=args.num, seed=args.seed, label=args.label, batch_size=args.batch_size, **kw)
        if out.suffix.lower() == ".npy":
            np.save(out, to_unit_range(x0)[:, 0].numpy().astype(np.float32))  # (N, 28, 28) in [0, 1]
        else:
            render.save_png(out, grid_image(x0, ncol=10 if model.config.conditional and args.label is None else None))
    print(f"wrote {out} ({args.num} digits, {meta.prediction_type} model{', student' if own else ''}, "
          f"{kw['sampler']} {kw['steps']} steps, "
          f"{time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
