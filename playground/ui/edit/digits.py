"""Draw & edit's inputs and pictures: the digit from a drawing, a held-out MNIST digit or an upload; the label
choice; the model set-up every tool shares; the images, masks and files shown.

Part of the tab package playground/ui/edit (its __init__ has the layout, handlers.py the widget handlers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from playground import render
from playground.editing import edits
from playground.mnist.sample import make_model_fn
from playground.ui.files import out_path
from playground.ui.images import load_image, sketch_image
from playground.ui.limits import LIMITS
from playground.ui.models import default_checkpoint, device, get_model
from playground.ui.page import user_errors

SOURCES = ("draw", "mnist", "upload")
LABEL_AUTO, LABEL_NONE = "auto (classifier's guess)", "none (unconditional)"
LABEL_CHOICES = [LABEL_AUTO, *[str(d) for d in range(10)], LABEL_NONE]
SAMPLER_CHOICES = [("DDIM (η = 0, deterministic)", "ddim"), ("DDPM (stochastic)", "ddpm")]
BRUSH = "my brush strokes (paint on the digit below)"
MASK_CHOICES = [*edits.MASK_PRESETS, BRUSH]
CANVAS = 280  # sketchpad and brush canvas: 10× MNIST
SCALE = 8  # 28 → 224 px for the result images


def get_digit(source: str, sketch=None, index: int | float | None = 0, upload: str | None = None) -> dict:
    """The input digit from the chosen source: {"x0" (1, 1, 28, 28) in [−1, 1], "label" (true label or None),
    "note" (one line on how it was made), "source"}. Raises gr.Error with a clear message."""
    try:
        if source == "mnist":
            x0, label = edits.heldout_digit(int(index or 0))
            return {"x0": x0, "label": label, "source": "mnist",
                    "note": f"held-out MNIST digit #{int(index or 0)} (a real **{label}**, never trained on)"}
        if source == "upload":
            if not upload:
                raise gr.Error("No image uploaded yet: upload a picture of a digit (dark on light or light on dark).")
            arr = load_image(upload)  # (H, W, C) in [−1, 1], RGBA composited on white; size caps and clear errors
            p = edits.prepare_digit((arr + 1.0) / 2.0, background="auto")
            return {"x0": p.x0, "label": None, "source": "upload", "note": "upload: " + p.describe()}
        img = sketch_image(sketch)
        if img is None:
            raise ValueError(edits.EMPTY_CANVAS)
        p = edits.prepare_digit(img, background="white")
        return {"x0": p.x0, "label": None, "source": "draw", "note": "drawing: " + p.describe()}
    except ValueError as e:
        raise gr.Error(str(e)) from None


def api_digit(image: str | None) -> dict:
    """A public endpoint's image file → the digit (as an upload)."""
    if not image:
        raise gr.Error("No image: send an image file of a digit.")
    return get_digit("upload", None, 0, image)


def img(x: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    """(1, 1, 28, 28) or (28, 28) in model range → uint8 (28·scale, 28·scale)."""
    a = x.detach().float().cpu().reshape(28, 28).numpy()
    return render.upscale(render.to_uint8(a), scale)


def maybe_img(x: torch.Tensor | None, scale: int = SCALE) -> np.ndarray | None:
    return None if x is None else img(x, scale)


def brush_background(x0: torch.Tensor) -> dict:
    """ImageEditor value showing the digit under an empty brush layer (CANVAS px square)."""
    rgb = np.repeat(img(x0, CANVAS // 28)[..., None], 3, axis=2)
    return {"background": rgb, "layers": [], "composite": rgb}


def seen_of(digit: dict) -> tuple[np.ndarray, str]:
    """The "what the model gets" preview and its note for a digit."""
    return img(digit["x0"]), f"{digit['note']}.  \n{edits.PREPROCESS_NOTE}"


# --- the label, the model and the steps ----------------------------------------------------------------------


def check_label(choice: str | None) -> str:
    """A label choice as the dropdown offers it; raises gr.Error for anything else (before any model work)."""
    choice = str(choice or LABEL_AUTO)
    if choice in (LABEL_AUTO, LABEL_NONE) or (choice.isdigit() and 0 <= int(choice) <= 9):
        return choice
    raise gr.Error(f"digit label must be one of: {', '.join(LABEL_CHOICES)}")


def api_label(digit: str | int | None) -> str:
    """A public endpoint's digit argument ("auto", "0" … "9", "none") → a label choice."""
    raw = str(digit if digit is not None else "auto").strip().lower()
    if raw in ("auto", "", LABEL_AUTO.lower()):
        return LABEL_AUTO
    if raw in ("none", "unconditional", "null", LABEL_NONE.lower()):
        return LABEL_NONE
    if raw.isdigit() and 0 <= int(raw) <= 9:
        return str(int(raw))
    raise gr.Error(f"digit must be 'auto', '0' … '9' or 'none', got {digit!r}")


def labels_for(choice: str | None, digit: dict, conditional: bool) -> tuple[torch.Tensor | None, str]:
    """(labels (1,) or None, a phrase for the label used)."""
    if not conditional:
        return None, "unconditional model"
    choice = check_label(choice)
    if choice == LABEL_NONE:
        return None, "unconditional (null label)"
    if choice == LABEL_AUTO:
        pred, conf = edits.classify(digit["x0"])
        return torch.tensor([int(pred)]), (f"label {int(pred)} (the classifier's guess of the input, p = "
                                           f"{float(conf):.2f})")
    return torch.tensor([int(choice)]), f"label {int(choice)}"


@dataclass
class Setup:
    """What every tool starts from: the model, its metadata and schedule, x₀ on the device, the labels."""

    model: Any
    meta: Any
    s: Any
    x0: torch.Tensor
    labels: torch.Tensor | None
    what: str  # a phrase for the label used

    def model_fn(self, guidance: float):
        lab = None if self.labels is None else self.labels.to(device())
        return make_model_fn(self.model, lab, float(guidance))

    @property
    def label(self) -> int | None:
        return None if self.labels is None else int(self.labels[0])


def setup(digit: dict, path: str | None, session_models: dict | None, label_choice: str) -> Setup:
    """Load the model (the session's or a listed one) and pick the labels for ``digit``."""
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    labels, what = labels_for(label_choice, digit, bool(model.config.conditional))
    return Setup(model, meta, s, digit["x0"].to(device()), labels, what)


def clamp_steps(steps, T: int) -> int:
    return int(min(max(int(steps or 1), 1), LIMITS.max_steps, T))


# --- numbers, pictures and files --------------------------------------------------------------------------------


def verdict(out: torch.Tensor, x0: torch.Tensor) -> dict:
    """The numbers under an image: distance to the input (faithfulness) and the classifier (realism)."""
    pred, conf = edits.classify(out)
    return {"distance_to_input": round(float(edits.pixel_rmse(out, x0)[0]), 4), "predicted_digit": int(pred[0]),
            "confidence": round(float(conf[0]), 4)}


def verdict_md(v: dict) -> str:
    return (f"**distance to the input {v['distance_to_input']:.3f}** (faithfulness: RMSE of [0, 1] pixels) · "
            f"**classifier: {v['predicted_digit']}, p = {v['confidence']:.2f}** (realism)")


def pair_frame(x_t: torch.Tensor, x0_pred: torch.Tensor | None) -> np.ndarray:
    """A GIF frame: x_t beside x̂₀ (grey while there is none yet)."""
    right = img(x0_pred, 4) if x0_pred is not None else np.full((112, 112), 128, np.uint8)
    return render.hstack_with_gap([img(x_t, 4), right], gap=4, value=128)


def save_png(image: np.ndarray, stem: str) -> str:
    return render.save_png(out_path(stem, ".png"), image)


def save_gif(frames: list[np.ndarray], stem: str) -> str | None:
    if not frames:
        return None
    return render.write_gif(out_path(stem, ".gif"), frames, duration_ms=80, hold_last_ms=1500)


def keep_mask(choice: str, brush=None, mask_file: str | None = None) -> torch.Tensor:
    """The inpainting keep-mask (1 = keep) from a preset, the brush editor's layers, or a mask file."""
    with user_errors():
        if mask_file:
            return edits.keep_mask_from_brush(np.asarray(Image.open(mask_file)))
        if choice == BRUSH or choice == "brush":
            layers = (brush or {}).get("layers") if isinstance(brush, dict) else None
            if not layers:
                raise ValueError("No brush strokes yet: paint over the part of the digit to regenerate, or "
                                 "pick a preset mask.")
            painted = np.zeros(np.asarray(layers[0]).shape[:2], bool)
            for layer in layers:
                a = np.asarray(layer)
                has_alpha = a.ndim == 3 and a.shape[2] in (2, 4)
                painted |= (a[..., -1] > 0) if has_alpha else (a.reshape(a.shape[0], a.shape[1], -1).max(-1) > 0)
            return edits.keep_mask_from_brush(painted.astype(np.uint8) * 255)
        return edits.preset_keep_mask(choice)


def mask_overlay(x0: torch.Tensor, keep: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    """The input in grey with the region to regenerate tinted magenta: (28·scale, 28·scale, 3) uint8."""
    g = img(x0, scale).astype(np.float32)
    hole = render.upscale((keep.reshape(28, 28).cpu().numpy() < 0.5).astype(np.uint8), scale).astype(bool)
    rgb = np.stack([g, g, g], axis=-1)
    rgb[hole] = 0.45 * rgb[hole] + 0.55 * np.array([230, 40, 160], np.float32)
    return rgb.clip(0, 255).astype(np.uint8)
