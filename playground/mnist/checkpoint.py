"""Safe checkpoints: weights + model config + metadata, written atomically, read with
``torch.load(weights_only=True)`` only (no arbitrary unpickling, ever).

Notation
--------
=============  ==================================================================
ema            exponential-moving-average weights: what we sample with and ship
model          raw (optimised) weights; only in resume checkpoints
optimizer      AdamW state; only in resume checkpoints
config         ``UNetConfig.to_dict()``: the model rebuilds from the file alone
meta           ``CheckpointMeta`` fields: objective, schedule, T, steps, data ...
=============  ==================================================================

File layout (a plain dict of tensors / str / int / float / bool / lists / dicts)::

    {"format": "diffusion-playground/1", "config": {...}, "meta": {...}, "ema": state_dict,
     ["model": state_dict, "optimizer": state_dict, "train_state": {...}]}
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from playground.mnist.model import UNet, UNetConfig

__all__ = [
    "CheckpointError",
    "CheckpointMeta",
    "DEFAULT_CHECKPOINT",
    "V_CHECKPOINT",
    "CHECKPOINT_DIR",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "atomic_torch_save",
]

FORMAT = "diffusion-playground/1"
CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "mnist_eps_cond.pt"  # the app's default model
V_CHECKPOINT = CHECKPOINT_DIR / "mnist_v_cond.pt"  # same recipe, v-prediction


class CheckpointError(RuntimeError):
    """The file is missing, truncated, corrupt, foreign, or would need unsafe unpickling."""


@dataclass
class CheckpointMeta:
    """What a checkpoint says about how it was made."""

    prediction_type: str = "eps"  # training objective: "eps" | "x0" | "v"
    schedule: str = "linear"  # noise schedule name, see playground.schedules
    T: int = 1000  # number of diffusion steps
    zero_terminal_snr: bool = False
    steps: int = 0  # optimiser steps trained
    wall_time_s: float = 0.0  # training wall time
    data: str = ""  # e.g. "MNIST test split, 8,000 digits (offline bundle)"
    conditional: bool = True  # class-conditional (CFG-capable)?
    created: str = ""  # ISO date-time (UTC)
    extra: dict = field(default_factory=dict)  # anything else: train config, final loss, ...

    @classmethod
    def from_dict(cls, d: dict) -> "CheckpointMeta":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temp file in the same folder, flush + fsync, then os.replace.

    A crash or exception part-way leaves any previous file at ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _cpu_state(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


def save_checkpoint(
    path: str | os.PathLike,
    *,
    ema_state: dict,
    config: UNetConfig,
    meta: CheckpointMeta,
    model_state: dict | None = None,
    optimizer_state: dict | None = None,
    train_state: dict | None = None,
) -> Path:
    """Write a checkpoint atomically. Shipped checkpoints pass only ``ema_state``."""
    if not meta.created:
        meta = dataclasses.replace(meta, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    obj: dict[str, Any] = {
        "format": FORMAT,
        "config": config.to_dict(),
        "meta": dataclasses.asdict(meta),
        "ema": _cpu_state(ema_state),
    }
    if model_state is not None:
        obj["model"] = _cpu_state(model_state)
    if optimizer_state is not None:
        obj["optimizer"] = optimizer_state
    if train_state is not None:
        obj["train_state"] = train_state
    atomic_torch_save(obj, path)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and validate a checkpoint dict (CPU tensors). Raises CheckpointError with a reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError (unsafe globals), RuntimeError (truncated zip), ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"Cannot read checkpoint {path}: not a valid Diffusion Playground checkpoint "
            f"(truncated, corrupt, or it needs unsafe unpickling, which is refused). Detail: {msg[:300]}"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a readable torch file but not a Diffusion Playground checkpoint (expected "
                              f"format {FORMAT!r}).")
    for key in ("config", "meta", "ema"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint is missing its {key!r} section.")
    return obj


def load_model(path: str | os.PathLike = DEFAULT_CHECKPOINT,
               device: str | torch.device = "cpu") -> tuple[UNet, CheckpointMeta]:
    """Rebuild the UNet from a checkpoint alone and load its EMA weights.

    Returns (model in eval mode on ``device``, CheckpointMeta).
    """
    obj = load_checkpoint(path)
    try:
        config = UNetConfig.from_dict(obj["config"])
        model = UNet(config)
        model.load_state_dict(obj["ema"])
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: weights do not match the stored model config ({str(e)[:300]})") from None
    model.requires_grad_(False)
    return model.to(device).eval(), CheckpointMeta.from_dict(obj["meta"])
