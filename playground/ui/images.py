"""Images in the UI: reading any upload into a working copy, the bundled examples, display scaling, the drawing
in a Sketchpad, and the digit grid the Sampling tab shows."""
from __future__ import annotations

import math
import os
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from playground import render
from playground.ui.limits import LIMITS

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"


def load_image(path: str | os.PathLike | None, work_side: int | None = None) -> np.ndarray:
    """Read any image file once into a float32 working copy (H, W, C) in [−1, 1], C = 1 or 3.

    Handles grayscale (kept 1-channel), palette, RGBA/LA (composited on white), 16-bit and float
    images (rescaled), CMYK, EXIF rotation and animated files (first frame). Images larger than
    ``work_side`` on their longest side are downscaled (JPEGs at decode time). Raises ``gr.Error``
    with a clear message for a missing, empty, oversized, corrupt or non-image file.
    """
    work_side = int(work_side or LIMITS.work_side)
    if path is None or str(path).strip() == "":
        raise gr.Error("No image yet: upload one or click an example.")
    path = Path(path)
    if not path.is_file():
        raise gr.Error(f"Cannot find the uploaded file {path.name!r}.")
    size = path.stat().st_size
    if size == 0:
        raise gr.Error(f"{path.name!r} is empty (0 bytes): not an image.")
    if size > LIMITS.max_upload_bytes:
        raise gr.Error(f"{path.name!r} is {size / 1e6:.1f} MB; the limit is {LIMITS.max_upload_bytes / 1e6:.0f} MB.")
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise gr.Error(f"{path.name!r} is not an image this app can read "
                       "(PNG, JPEG, GIF, WebP, BMP, TIFF …).") from None
    except OSError as e:
        raise gr.Error(f"Cannot open {path.name!r}: {e}") from None
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise gr.Error(f"{path.name!r} has no pixels ({w}×{h}).")
        if w * h > LIMITS.max_upload_pixels:
            raise gr.Error(f"{path.name!r} is {w}×{h} = {w * h / 1e6:.0f} megapixels; "
                           f"the limit is {LIMITS.max_upload_pixels / 1e6:.0f} megapixels.")
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animated GIF / APNG / multi-page TIFF: first frame
            if im.format == "JPEG" and max(w, h) > 2 * work_side:
                im.draft("RGB" if im.mode not in ("L",) else "L", (work_side, work_side))  # fast DCT downscale
            im.load()
            if max(im.size) >= 4 * work_side and im.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"):
                # box-shrink in the decoded mode first (and before exif_transpose, which copies):
                # a float32 copy of a 100 MP upload would be 1.2 GB and take half a minute
                im = im.reduce(max(im.size) // (2 * work_side))
            im = ImageOps.exif_transpose(im) or im
            arr = _to_float_array(im)
        except gr.Error:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise gr.Error(f"{path.name!r} looks corrupt or truncated ({str(e)[:120]}).") from None
    H, W = arr.shape[:2]
    if max(H, W) > work_side:
        scale = work_side / max(H, W)
        new = (max(1, round(W * scale)), max(1, round(H * scale)))
        chans = [np.asarray(Image.fromarray(arr[..., c], mode="F").resize(new, Image.Resampling.LANCZOS))
                 for c in range(arr.shape[2])]
        arr = np.stack(chans, axis=-1)
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0) * 2.0 - 1.0, dtype=np.float32)


def _to_float_array(im: Image.Image) -> np.ndarray:
    """PIL image of any mode → float32 (H, W, 1 or 3) in [0, 1]."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA" if mode.startswith("RGB") else "LA")
        a = np.asarray(rgba, dtype=np.float32) / 255.0
        alpha = a[..., -1:]
        color = a[..., :-1]
        return color * alpha + (1.0 - alpha)  # composite on white
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.float32)[..., None] / 255.0
    if mode == "L":
        return np.asarray(im, dtype=np.float32)[..., None] / 255.0
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float grayscale
        a = np.asarray(im).astype(np.float32)
        if a.ndim == 3:
            a = a[..., 0]
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            raise gr.Error("The image has no finite pixel values.")
        lo, hi = float(finite.min()), float(finite.max())
        if mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = a
        elif lo >= 0 and hi <= 255 and mode not in ("I;16", "I;16B", "I;16L", "I;16N") and hi > 1:
            out = a / 255.0
        elif lo >= 0 and hi <= 65535:
            out = a / 65535.0
        else:
            out = (a - lo) / max(hi - lo, 1e-12)
        return np.nan_to_num(out, nan=0.0)[..., None]
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255.0


def example_images() -> list[tuple[str, str]]:
    """(path, caption) of the bundled examples: photos first, then MNIST digits."""
    if not EXAMPLES_DIR.is_dir():
        return []
    files = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    photos = [p for p in files if not p.name.startswith("mnist")]
    digits = [p for p in files if p.name.startswith("mnist")]
    return [(str(p), p.stem.replace("_", " ")) for p in photos + digits]


def display_scale(h: int, w: int) -> int:
    """Nearest-neighbour upscale factor so tiny images (MNIST) show crisp and big enough."""
    return max(1, 256 // max(h, w))


def sketch_image(value) -> np.ndarray | None:
    """The drawing in a Sketchpad value: Gradio 6 sends {"background", "layers", "composite"} (numpy)."""
    if value is None:
        return None
    if isinstance(value, dict):
        comp = value.get("composite")
        if comp is not None:
            return np.asarray(comp)
        layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
        if layers:  # no composite: stack the stroke layers
            out = layers[0].copy()
            for layer in layers[1:]:
                a = layer[..., 3:4].astype(np.float32) / 255 if layer.shape[-1] == 4 else 1.0
                out = (out * (1 - a) + layer * a).astype(np.uint8)
            return out
        bg = value.get("background")
        return None if bg is None else np.asarray(bg)
    return np.asarray(value)


def digit_grid(x: torch.Tensor, scale: int | None = None) -> np.ndarray:
    """(B, 1, H, W) in [−1, 1] → one uint8 grid image."""
    imgs = render.to_uint8(x[:, 0].detach().float().cpu().numpy())
    n = imgs.shape[0]
    scale = scale or (4 if n <= 4 else 3)
    c = math.ceil(math.sqrt(n))
    ncol = min((c, c + 1), key=lambda k: (-(-n // k) * k - n, k)) if n > 3 else n  # few empty cells, square-ish
    return render.image_grid(imgs, ncol=ncol, pad=2, scale=scale)
