"""Pick the compute device: the env var / argument, else CUDA, else Apple MPS, else CPU.

Notation: ``prefer`` / ``$PLAYGROUND_DEVICE`` are any string ``torch.device`` accepts
("cpu", "cuda", "cuda:1", "mps"); "auto" or empty means pick the best available.
"""
from __future__ import annotations

import os

import torch

__all__ = ["pick_device", "bf16_autocast_ok"]


def pick_device(prefer: str | None = None) -> torch.device:
    """The argument wins, then ``$PLAYGROUND_DEVICE``, then CUDA > MPS > CPU."""
    choice = (prefer or os.environ.get("PLAYGROUND_DEVICE") or "auto").strip().lower()
    if choice != "auto":
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_autocast_ok(device: torch.device) -> bool:
    """Whether bf16 autocast is supported *and fast* on this device.

    CPU: only with native bf16 instructions (AVX512-BF16 or AMX); emulated bf16 is slower than fp32.
    CUDA: when the GPU supports bf16. MPS: no (keep fp32).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False
