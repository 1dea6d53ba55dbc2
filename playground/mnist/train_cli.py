"""The training command line: ``python -m playground.train`` (one flag per TrainConfig / UNetConfig field).

The trainer itself is playground/mnist/train.py; this module parses flags, prints progress and writes the file.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Callable

import torch

from playground.mnist.config_cli import add_config_flags, config_overrides
from playground.mnist.train import PRESETS, TrainConfig, Trainer, TrainEvent
from playground.runtime import distributed

# UNet fields fixed by the data or by --conditional: not flags of their own
_NOT_FLAGS = ("image_size", "in_channels", "num_classes")


def build_parser() -> argparse.ArgumentParser:
    """The training CLI: run options, then one flag per TrainConfig / UNetConfig field (config_cli)."""
    ap = argparse.ArgumentParser(prog="python -m playground.train", description="Train the MNIST diffusion UNet.")
    ap.add_argument("--preset", default="quick", choices=sorted(PRESETS), help="starting recipe (default: quick)")
    ap.add_argument("--out", default="runs/model.pt", help="EMA-only checkpoint to write (default runs/model.pt)")
    ap.add_argument("--resume-out", help="also write a full resume checkpoint here")
    ap.add_argument("--resume", help="resume from this checkpoint")
    ap.add_argument("--data-dir", help="MNIST folder (default: the bundled test split)")
    ap.add_argument("--download", action="store_true", help="allow torchvision to download MNIST")
    ap.add_argument("--device", help="cuda | mps | cpu (default: the best there is)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads")
    add_config_flags(ap, TrainConfig, skip=_NOT_FLAGS)
    ap.add_argument("--unconditional", dest="conditional", action="store_false", default=argparse.SUPPRESS,
                    help="the same as --no-conditional")
    return ap


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset, with the fields the user typed on top (min-SNR-γ ≤ 0 means none, as before)."""
    over = config_overrides(args, TrainConfig)
    if over.get("min_snr_gamma") is not None and over["min_snr_gamma"] <= 0:
        over["min_snr_gamma"] = None
    cfg = TrainConfig.from_preset(args.preset, **{k: v for k, v in over.items() if k != "model"})  # flow: no γ
    if "model" in over:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **over["model"]))
    return cfg


def _report(ev: TrainEvent, cfg: TrainConfig, say: Callable[..., None]) -> None:
    if ev.kind == "done":
        say(ev.message, flush=True)
    elif ev.kind == "preview" or (ev.kind == "step" and ev.step % max(cfg.log_every * 10, 1) == 0):
        say(f"step {ev.step:6d}/{ev.planned_steps} loss {ev.loss:.4f} mean {ev.loss_mean:.4f} lr {ev.lr:.2e} "
            f"{ev.steps_per_s:.2f} it/s {ev.elapsed_s:6.0f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    trainer = Trainer(cfg, data_dir=args.data_dir, download=args.download, device=args.device, resume=args.resume,
                      out=args.out, resume_out=args.resume_out)
    say = print if trainer.dist.is_main else (lambda *a, **k: None)  # under torchrun, rank 0 alone logs
    ddp = f" | torchrun: {trainer.dist.world_size} processes" if trainer.dist.enabled else ""
    say(f"data: {trainer.data.source} | device: {trainer.device} | bf16: {trainer.bf16} | "
        f"params: {trainer.model.num_params() / 1e6:.2f}M | "
        f"{trainer.prediction_type}/{trainer.schedule.name}/T={cfg.T}"
        f"{' | CUDA graph' if trainer.use_graph else ''}{ddp}", flush=True)
    try:
        for ev in trainer.run():
            _report(ev, cfg, say)
    except KeyboardInterrupt:
        say("interrupted; checkpoint written", file=sys.stderr)
    finally:
        distributed.shutdown()
    say(f"wrote {args.out}" + (f" and {args.resume_out}" if args.resume_out else ""), flush=True)
    return 0

