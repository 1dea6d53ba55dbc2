"""Inputs for the Draw & edit tab: a drawing (or any picture) → an MNIST-style 28×28 digit, and the masks of
inpainting. No gradio here: the UI turns the ValueErrors into messages.

A drawing is brought to 28×28 the way MNIST was made (LeCun et al.): the stroke's bounding box is scaled to fit
20×20 pixels (aspect kept, anti-aliased), then placed in a 28×28 field so that its centre of mass sits at the
centre. ``keep`` masks follow RePaint's m (arXiv:2201.09865, Eq. 8): 1 = a known pixel, kept; 0 = generated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MNIST_SIZE", "MNIST_BOX", "PREPROCESS_NOTE", "EMPTY_CANVAS", "ALL_INK", "MASK_PRESETS", "PreparedDigit",
           "prepare_digit", "heldout_digit", "preset_keep_mask", "keep_mask_from_brush"]

# --- 1. drawings → MNIST digits --------------------------------------------------------------------

MNIST_SIZE = 28  # the field
MNIST_BOX = 20  # the stroke's bounding box is scaled so its longer side is this many pixels (LeCun et al.)
MNIST_CENTRE = 14.0  # centre of mass, pixel-index coordinates: the 2,000 held-out digits' mean is (14.00, 14.01)
MNIST_STROKE = 2.0  # stroke width in 28-px pixels (2·area/perimeter of ink > ½): median 1.98 over the held-out digits
THIN_STROKE = 1.0  # thinner than this after scaling (thinner than 99.5% of held-out digits) → thicken to MNIST_STROKE
MAX_WORK_SIDE = 1024  # bigger inputs are box-reduced to at most this (a huge canvas costs no more than a 1 MP one)
MIN_CONTRAST = 0.1  # ink darker/lighter than the background by less than this (of the full range) = no ink
MAX_COVERAGE = 0.6  # more than this share of the canvas is ink (MNIST's most is 30%) = "all ink"

PREPROCESS_NOTE = ("Like MNIST itself: the stroke's bounding box is scaled to fit 20×20 pixels (aspect kept, "
                   "anti-aliased), then placed in a 28×28 field so that its centre of mass sits at the centre.")

EMPTY_CANVAS = ("The canvas is empty: there is no stroke to turn into a digit. Draw a digit (dark on light or "
                "light on dark) "
          "or upload an image of one.")
ALL_INK = ("The canvas is almost all ink: there is no background to tell the stroke from. Clear it and draw a digit "
            "as a single stroke, or upload an image with a plain background.")


@dataclass(frozen=True)
class PreparedDigit:
    """A drawing brought to MNIST's format, and what was done to it."""

    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black, like MNIST
    input_size: tuple[int, int]  # (height, width) of the image as given
    box: tuple[int, int, int, int]  # (top, left, height, width) of the stroke, in input pixels
    size20: tuple[int, int]  # (height, width) of the scaled stroke: the longer side is 20
    thickened: int  # input pixels of dilation added to a too-thin stroke before scaling (0 = none)

    @property
    def x0(self) -> torch.Tensor:
        """The digit in model range: (1, 1, 28, 28) float32 in [−1, 1]."""
        return torch.from_numpy(self.image).float().mul(2.0).sub(1.0).reshape(1, 1, MNIST_SIZE, MNIST_SIZE)

    def describe(self) -> str:
        """One line for the UI, e.g. 'stroke 180×212 px of a 400×400 image → 17×20, centre of mass at the centre of
    28×28'."""
        thick = f" (a thin stroke, thickened by {self.thickened} px first)" if self.thickened else ""
        return (f"stroke {self.box[3]}×{self.box[2]} px of a {self.input_size[1]}×{self.input_size[0]} image{thick} "
                f"→ {self.size20[1]}×{self.size20[0]}, centre of mass at the centre of 28×28")


def _gray_alpha(image) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int], int]:
    """Any image → (gray (H', W') float32 in [0, 1], alpha (H', W') in [0, 1] or None, (H, W) as given, k).

    Accepts a PIL image or an array (H, W), (H, W, 1|2|3|4) of uint8, uint16, bool, int or float ([0, 1], or
    [0, 255] when the maximum exceeds 1). Inputs larger than MAX_WORK_SIDE are box-reduced by k first
    (H' = ⌈H/k⌉), on premultiplied alpha so that transparent pixels do not bleed their colour.
    """
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if isinstance(image, Image.Image) and image.mode in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "La",
                                                         "CMYK", "YCbCr"):
        pil = image
        has_alpha = pil.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (pil.mode == "P" and "transparency" in pil.info)
        pil = pil.convert("RGBA" if has_alpha else "L")
    else:
        arr = np.asarray(image)  # also PIL's 16-bit and 32-bit modes
        if arr.dtype == object or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
            raise ValueError(f"expected an image (H, W) or (H, W, 1–4 channels), got shape {arr.shape} {arr.dtype}")
        if arr.size == 0:
            raise ValueError(f"the image has no pixels (shape {arr.shape})")
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype.kind == "f":
            if not np.isfinite(arr).all():
                raise ValueError("the image contains NaN or infinite values")
            arr = np.clip(arr * (255.0 if float(arr.max()) <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
        elif arr.dtype == np.uint16:
            arr = (arr.astype(np.float32) / 257.0).round().astype(np.uint8)
        elif arr.dtype != np.uint8:  # other integers: 0 … max → 0 … 255
            arr = arr.astype(np.float64)
            hi = float(arr.max())
            arr = np.clip(arr * (255.0 / hi if hi > 255 else 1.0), 0, 255).round().astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
            arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
        pil = Image.fromarray(np.ascontiguousarray(arr))
    size = (pil.height, pil.width)
    if pil.width == 0 or pil.height == 0:
        raise ValueError(f"the image has no pixels ({pil.width}×{pil.height})")
    k = math.ceil(max(pil.size) / MAX_WORK_SIDE)
    if k > 1:
        pil = pil.convert("RGBa").reduce(k).convert("RGBA") if pil.mode == "RGBA" else pil.reduce(k)
    if pil.mode == "RGBA":
        a = np.asarray(pil, dtype=np.float32) / 255.0
        gray = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
        return gray.astype(np.float32), a[..., 3], size, k
    return np.asarray(pil.convert("L"), dtype=np.float32) / 255.0, None, size, k


def _max_filter(a: np.ndarray, size: int) -> np.ndarray:
    """Separable square max filter (grey dilation) of odd `size`, numpy only. a: (H, W)."""
    from numpy.lib.stride_tricks import sliding_window_view

    r = size // 2
    p = np.pad(a, ((r, r), (0, 0)))
    a = sliding_window_view(p, size, axis=0).max(-1)
    p = np.pad(a, ((0, 0), (r, r)))
    return sliding_window_view(p, size, axis=1).max(-1)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask, 2·area / perimeter (4-neighbour edges), in its pixels."""
    area = float(mask.sum())
    p = np.pad(mask, 1)
    perimeter = float((p[1:, :] != p[:-1, :]).sum() + (p[:, 1:] != p[:, :-1]).sum())
    return 2.0 * area / max(perimeter, 1.0)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def prepare_digit(image, *, background: str = "auto") -> PreparedDigit:
    """Bring a drawing, photo or upload to MNIST's format, the way MNIST was made.

    1. ink = contrast against the background (its level is the median of the border pixels, or
       `background` = "white" / "black" when the caller knows, e.g. a sketchpad's white canvas);
       transparent pixels count as background. The strongest ink becomes 1.
    2. the ink's bounding box is scaled so its longer side is 20 px (aspect kept, box-filtered);
       a stroke that would come out thinner than MNIST's is thickened first.
    3. it is placed in a 28×28 field with its centre of mass at the centre (integer shift, as in MNIST).

    Args:
        image: PIL image or array (H, W[, C]), any size, uint8/uint16/bool/float, gray/RGB/RGBA.
        background: "auto", "white" (dark strokes on light) or "black" (light strokes on dark).
    Returns: a PreparedDigit; `.x0` is (1, 1, 28, 28) in [−1, 1].
    Raises: ValueError for an empty canvas, one that is (almost) all ink, or an unreadable array.
    """
    if background not in ("auto", "white", "black"):
        raise ValueError(f"background must be 'auto', 'white' or 'black', got {background!r}")
    gray, alpha, size, k_reduce = _gray_alpha(image)
    ink = _ink(gray, alpha, background)
    top, left, h, w = _bbox(ink > 0.25)
    box = (top * k_reduce, left * k_reduce, h * k_reduce, w * k_reduce)  # in input pixels
    small, thickened = _to_mnist_box(ink[top:top + h, left:left + w])
    return PreparedDigit(_centre_of_mass(small), size, box, small.shape, thickened * k_reduce)


def _ink(gray: np.ndarray, alpha: np.ndarray | None, background: str) -> np.ndarray:
    """Step 1: ink in [0, 1] = contrast against the background, the strongest ink 1, paper noise 0."""
    if alpha is not None and float(alpha.min()) < 0.99:  # transparency: composite over the opposite of the strokes
        opaque = alpha > 0.5
        if background == "auto":
            if not opaque.any():
                raise ValueError(EMPTY_CANVAS)
            under = 0.0 if float(gray[opaque].mean()) > 0.5 else 1.0
        else:
            under = 1.0 if background == "white" else 0.0
        gray = alpha * gray + (1.0 - alpha) * under
    if background == "auto":
        bg = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    else:
        bg = 1.0 if background == "white" else 0.0
    ink = (bg - gray) if bg >= 0.5 else (gray - bg)
    np.clip(ink, 0.0, None, out=ink)
    span = float(ink.max())
    if span < MIN_CONTRAST:  # one flat shade: dark = all ink (on a light canvas), light = empty
        raise ValueError(ALL_INK if (float(gray.mean()) < 0.5 and background != "black") else EMPTY_CANVAS)
    ink = ink / span
    ink[ink < 0.1] = 0.0  # paper texture and compression noise
    if float((ink > 0.5).mean()) > MAX_COVERAGE:
        raise ValueError(ALL_INK)
    return ink


def _to_mnist_box(crop: np.ndarray) -> tuple[np.ndarray, int]:
    """Step 2: the stroke's box scaled to 20 px on its longer side, a hairline thickened first.

    Returns (the scaled ink, strongest ink 1; pixels of width added, in work pixels)."""
    from PIL import Image

    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    thickened = 0
    width28 = _stroke_width(crop > 0.5) * scale
    if width28 < THIN_STROKE:
        grow = max(1, int(round((MNIST_STROKE - width28) / scale)))  # work pixels of extra width
        k = grow + 1 if grow % 2 == 0 else grow + 2  # odd window; dilation widens a stroke by k − 1 ≥ grow
        crop = _max_filter(np.pad(crop, k // 2), k)
        t2, l2, h, w = _bbox(crop > 0.25)
        crop = crop[t2:t2 + h, l2:l2 + w]
        scale = MNIST_BOX / max(h, w)
        thickened = k - 1
    small_hw = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), "F")
                       .resize((small_hw[1], small_hw[0]), resample), dtype=np.float32)
    small = np.clip(small, 0.0, None)
    return small / max(float(small.max()), 1e-8), thickened  # the strongest ink is 1, as in MNIST


def _centre_of_mass(small: np.ndarray) -> np.ndarray:
    """Step 3: the digit in a 28×28 field, its centre of mass moved to (14, 14) by an integer shift."""
    mass = float(small.sum())
    ys, xs = np.indices(small.shape, dtype=np.float64)
    cy, cx = float((ys * small).sum() / mass), float((xs * small).sum() / mass)
    oy, ox = int(math.floor(MNIST_CENTRE - cy + 0.5)), int(math.floor(MNIST_CENTRE - cx + 0.5))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    ya, xa = max(oy, 0), max(ox, 0)
    yb, xb = min(oy + small.shape[0], MNIST_SIZE), min(ox + small.shape[1], MNIST_SIZE)
    out[ya:yb, xa:xb] = small[ya - oy:yb - oy, xa - ox:xb - ox]
    return out


def heldout_digit(index: int, data_dir: str | None = None) -> tuple[torch.Tensor, int]:
    """A real held-out MNIST digit (never trained on): ((1, 1, 28, 28) in [−1, 1], its label)."""
    from playground.mnist.data import load_mnist, to_model_range

    data = load_mnist(data_dir)
    n = len(data.heldout_images)
    if not 0 <= int(index) < n:
        raise ValueError(f"held-out digit index must be in 0 … {n - 1}, got {index}")
    return to_model_range(data.heldout_images[int(index)][None]), int(data.heldout_labels[int(index)])


# --- 2. masks ---------------------------------------------------------------------------------------

# Names say what is *regenerated*; the returned `keep` is RePaint's m: 1 = kept from the input.
MASK_PRESETS = ("top half", "bottom half", "left half", "right half",
                "top-left quarter", "top-right quarter", "bottom-left quarter", "bottom-right quarter")


def preset_keep_mask(name: str, size: int = MNIST_SIZE) -> torch.Tensor:
    """RePaint's m for a preset hole: (1, 1, size, size) float32, 1 = keep, 0 = regenerate."""
    key = str(name).strip().lower().replace("_", " ")
    if key not in MASK_PRESETS:
        raise ValueError(f"unknown mask {name!r}; choose one of: {', '.join(MASK_PRESETS)}")
    h = size // 2
    hole = torch.zeros(size, size, dtype=torch.bool)
    rows = slice(0, h) if "top" in key else (slice(h, size) if "bottom" in key else slice(0, size))
    cols = slice(0, h) if "left" in key else (slice(h, size) if "right" in key else slice(0, size))
    hole[rows, cols] = True
    return (~hole).float().reshape(1, 1, size, size)


def keep_mask_from_brush(paint, size: int = MNIST_SIZE, threshold: float = 0.25) -> torch.Tensor:
    """RePaint's m from a brush layer painted over the digit: painted = regenerate.

    paint: (H, W[, C]) array or PIL image covering the whole digit (any size); a pixel is painted where
    its alpha (or, without alpha, its brightness) is > 0. A 28×28 pixel is regenerated when more than
    `threshold` of it is painted. Returns (1, 1, size, size) float32, 1 = keep.
    """
    from PIL import Image

    pil = paint if isinstance(paint, Image.Image) else None
    if pil is None:
        arr = np.asarray(paint)
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise ValueError(f"expected a brush image (H, W[, C]), got shape {arr.shape}")
        if arr.ndim == 3 and arr.shape[2] in (2, 4):
            painted = arr[..., -1] > 0
        else:
            painted = (arr if arr.ndim == 2 else arr.max(axis=2)) > 0
    else:
        painted = (np.asarray(pil.getchannel("A")) if "A" in pil.getbands() else np.asarray(pil.convert("L"))) > 0
    cover = np.asarray(Image.fromarray(painted.astype(np.float32), "F").resize((size, size), Image.Resampling.BOX))
    return torch.from_numpy((cover <= threshold).astype(np.float32)).reshape(1, 1, size, size)
