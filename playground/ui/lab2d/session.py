"""The 2-D lab tab's per-session data and its checks: the dataset (or the user's drawing) as points and one fixed
noise draw, whether a trained model still matches the settings, and the checks on typed-in numbers.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import hashlib
import math

import gradio as gr
import numpy as np
import torch

from playground import render, toy2d
from playground.ui.images import sketch_image
from playground.ui.lab2d.config import DISAGREE_POINTS, DIST_POINTS, DRAWING, MAX_POINTS, T_LAB
from playground.ui.page import user_errors


def lab_schedule(schedule: str, ztsnr: bool):
    return render.cached_schedule(schedule or "cosine", T_LAB, bool(ztsnr))


def clamp_t(t) -> int:
    try:
        return int(min(max(int(float(t)), 0), T_LAB - 1))
    except (TypeError, ValueError):
        return 0


def whole_number(value, name: str, lo: int, hi: int, env: str | None = None) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise gr.Error(f"{name} must be a finite number, got {value!r}")
    if v != int(v) or not lo <= v <= hi:
        cap = f" (the cap, {env})" if env and v > hi else ""
        raise gr.Error(f"{name} must be a whole number from {lo:,} to {hi:,}{cap}; got {value!r}")
    return int(v)


def use_drawing(sketch) -> tuple[dict, str]:
    """Sketchpad → (the drawing's dataset {"ds", "token"}, "drawing" for the dataset dropdown)."""
    img = sketch_image(sketch)
    if img is None:
        raise gr.Error("The drawing is empty: draw a shape (a few strokes) on the canvas first.")
    with user_errors():
        ds = toy2d.drawing_dataset(img)
    token = hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=6).hexdigest()
    return {"ds": ds, "token": token}, DRAWING


def lab_data(dataset: str, n_points, seed, drawing: dict | None = None) -> dict:
    """The session's data: {"key", "label", "dataset" (Dataset2D), "x0" (N, 2), "eps" (N, 2), "sub", "dist"}.

    ε is one fixed noise draw, so moving t shows the same points dissolving (as in the Forward tab)."""
    n = whole_number(n_points, "Number of points", toy2d.MIN_N, MAX_POINTS, "PLAYGROUND_LAB2D_MAX_POINTS")
    seed = whole_number(seed if seed is not None else 0, "Data seed", 0, 2**31 - 1)
    if dataset == DRAWING:
        if not drawing:
            raise gr.Error("Draw a shape on the canvas and press “Use my drawing” first.")
        ds, key = drawing["ds"], ("drawing", drawing["token"], n, seed)
    else:
        with user_errors():
            ds = toy2d.get_dataset(dataset)
        key = (ds.name, n, seed)
    with user_errors():
        x0 = ds.sample(n, seed)
    g = torch.Generator().manual_seed(seed + 1)
    eps = torch.randn(n, 2, generator=g)
    sub = torch.randperm(n, generator=g)[:DISAGREE_POINTS]
    dist = x0[torch.randperm(n, generator=g)[:DIST_POINTS]]
    return {"key": key, "label": ds.label, "dataset": ds, "x0": x0, "eps": eps, "sub": sub, "dist": dist,
            "seed": seed}


def model_key(state: dict, schedule: str, ztsnr: bool) -> tuple:
    return (state["key"], schedule, bool(ztsnr))


def valid_model(model: dict | None, state: dict | None, schedule: str, ztsnr: bool) -> dict | None:
    if not model or not state or model.get("key") != model_key(state, schedule, ztsnr):
        return None
    return model
