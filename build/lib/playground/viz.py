"""Image helpers for the CLIs: sample grids (torchvision's make_grid) and GIF/PNG files (imageio).

Notation: ``images`` are float tensors in [0, 1], (N, 1, H, W); a ``grid`` is a uint8 numpy
array (H', W') ready for imageio / PIL / gr.Image.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

__all__ = ["image_grid", "save_png", "save_gif", "captioned_row"]


def image_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1) -> np.ndarray:
    """(N, 1, H, W) in [0, 1] -> uint8 (H', W') grid; nrow defaults to ceil(sqrt(N)).

    ``scale`` > 1 enlarges each pixel (nearest) for display.
    """
    x = images.detach().float().cpu().clamp(0, 1)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    nrow = nrow or max(1, math.ceil(math.sqrt(len(x))))
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=0.5)[0]  # (H', W')
    if scale > 1:
        grid = grid.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return (grid * 255).round().to(torch.uint8).numpy()


def save_png(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 2) -> Path:
    import imageio.v3 as iio

    iio.imwrite(Path(path), image_grid(images, nrow, scale=scale))
    return Path(path)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0, hold_last_s: float = 1.5) -> Path:
    """Write uint8 frames (H, W) as a looping GIF, one frame per entry; the last one shows ``hold_last_s``."""
    import imageio.v2 as imageio

    frames = list(frames)
    durations = [1000.0 / fps] * (len(frames) - 1) + [1000.0 * hold_last_s]  # milliseconds (Pillow plugin)
    imageio.mimsave(Path(path), frames, duration=durations, loop=0)
    return Path(path)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def captioned_row(images: list[np.ndarray], captions: list[list[str]], size: int = 15) -> np.ndarray:
    """Equally sized tiles (uint8 gray or RGB) side by side on white, each with lines of text underneath: (H, W, 3)."""
    font = _font(size)
    h, w = images[0].shape[:2]
    lines = max(len(c) for c in captions)
    gap, pad = 8, 6
    H = h + pad + lines * (size + 4) + pad
    W = len(images) * w + (len(images) - 1) * gap
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (im, cap) in enumerate(zip(images, captions)):
        x = i * (w + gap)
        canvas.paste(Image.fromarray(im).convert("RGB"), (x, 0))
        for k, line in enumerate(cap):
            tw = draw.textlength(line, font=font)
            draw.text((x + (w - tw) / 2, h + pad + k * (size + 4)), line, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)
