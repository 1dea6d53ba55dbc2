"""Handlers of the Draw & edit tab: widget values → playground.editing.edits → images, numbers, files.

Plain functions that tests call without a server; the layout and wiring are in ``__init__.py``.
"""
from __future__ import annotations

import functools
import time
from typing import Iterator

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image

from playground import render
from playground.editing import edits
from playground.mnist.data import to_unit_range
from playground.mnist.sample import DEFAULT_GUIDANCE, make_model_fn
from playground.samplers import normalize_sampler, run_to_end
from playground.ui import zerogpu
from playground.ui.files import out_path
from playground.ui.images import load_image, sketch_image
from playground.ui.limits import LIMITS, interactive_work
from playground.ui.models import default_checkpoint, device, get_model
from playground.ui.page import PROGRESS, user_errors

SOURCES = ("draw", "mnist", "upload")
LABEL_AUTO, LABEL_NONE = "auto (classifier's guess)", "none (unconditional)"
LABEL_CHOICES = [LABEL_AUTO, *[str(d) for d in range(10)], LABEL_NONE]
SAMPLER_CHOICES = [("DDIM (η = 0, deterministic)", "ddim"), ("DDPM (stochastic)", "ddpm")]
BRUSH = "my brush strokes (paint on the digit below)"
MASK_CHOICES = [*edits.MASK_PRESETS, BRUSH]
STRIP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DRIFT_STEPS = (10, 20, 50, 100)
DRIFT_GUIDANCE = (1.0, 3.0, 5.0)
CANVAS = 280  # sketchpad and brush canvas: 10× MNIST
SCALE = 8  # 28 → 224 px for the result images
STREAM_EVERY_S = 0.25


# --- inputs ------------------------------------------------------------------------------------------


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


def _img(x: torch.Tensor, scale: int = SCALE) -> np.ndarray:
    """(1, 1, 28, 28) or (28, 28) in model range → uint8 (28·scale, 28·scale)."""
    a = x.detach().float().cpu().reshape(28, 28).numpy()
    return render.upscale(render.to_uint8(a), scale)


def brush_background(x0: torch.Tensor) -> dict:
    """ImageEditor value showing the digit under an empty brush layer (CANVAS px square)."""
    rgb = np.repeat(_img(x0, CANVAS // 28)[..., None], 3, axis=2)
    return {"background": rgb, "layers": [], "composite": rgb}


def preview(source: str, sketch=None, index: int | float | None = 0, upload: str | None = None):
    """The 28×28 input the model sees. Returns (image or None, Markdown, brush editor value or gr.skip()).

    Problems (an empty canvas, all ink) are shown in the Markdown, not as error pop-ups: this runs while drawing."""
    try:
        d = get_digit(source, sketch, index, upload)
    except gr.Error as e:
        return None, f"⚠ {e.message}", gr.skip()
    return _img(d["x0"]), f"{d['note']}.  \n{edits.PREPROCESS_NOTE}", brush_background(d["x0"])


def random_index(seed: float | None = None) -> int:
    """A random held-out digit index (the 🎲 button)."""
    return int(np.random.default_rng(None if seed is None else int(seed)).integers(0, 2000))


# --- shared set-up of a run -------------------------------------------------------------------------


def _setup(digit: dict, path: str | None, session_models: dict | None, label_choice: str, guidance: float):
    """(model, meta, schedule, x0 on the device, labels (1,) or None, a phrase for the label used)."""
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    x0 = digit["x0"].to(device())
    labels, what = _labels(label_choice, digit, bool(model.config.conditional))
    return model, meta, s, x0, labels, what


def _labels(choice: str | None, digit: dict, conditional: bool) -> tuple[torch.Tensor | None, str]:
    if not conditional:
        return None, "unconditional model"
    choice = str(choice or LABEL_AUTO)
    if choice == LABEL_NONE:
        return None, "unconditional (null label)"
    if choice == LABEL_AUTO:
        pred, conf = edits.classify(digit["x0"])
        return torch.tensor([int(pred)]), (f"label {int(pred)} (the classifier's guess of the input, p = "
                                           f"{float(conf):.2f})")
    if choice.isdigit() and 0 <= int(choice) <= 9:
        return torch.tensor([int(choice)]), f"label {int(choice)}"
    raise gr.Error(f"digit label must be one of: {', '.join(LABEL_CHOICES)}")


def _fn(model, labels, guidance: float):
    return make_model_fn(model, None if labels is None else labels.to(device()), float(guidance))


def _steps(steps, T: int) -> int:
    return int(min(max(int(steps or 1), 1), LIMITS.max_steps, T))


def _verdict(out: torch.Tensor, x0: torch.Tensor) -> dict:
    """The numbers under an image: distance to the input (faithfulness) and the classifier (realism)."""
    pred, conf = edits.classify(out)
    return {"distance_to_input": round(float(edits.pixel_rmse(out, x0)[0]), 4), "predicted_digit": int(pred[0]),
            "confidence": round(float(conf[0]), 4)}


def _verdict_md(v: dict) -> str:
    return (f"**distance to the input {v['distance_to_input']:.3f}** (faithfulness: RMSE of [0, 1] pixels) · "
            f"**classifier: {v['predicted_digit']}, p = {v['confidence']:.2f}** (realism)")


def _pair_frame(x_t: torch.Tensor, x0_pred: torch.Tensor | None) -> np.ndarray:
    right = _img(x0_pred, 4) if x0_pred is not None else np.full((112, 112), 128, np.uint8)
    return render.hstack_with_gap([_img(x_t, 4), right], gap=4, value=128)


def _save_png(img: np.ndarray, stem: str) -> str:
    p = out_path(stem, ".png")
    Image.fromarray(img).save(p)
    return str(p)


def _save_gif(frames: list[np.ndarray], stem: str) -> str | None:
    if not frames:
        return None
    p = out_path(stem, ".gif")
    render.write_gif(p, frames, duration_ms=80, hold_last_ms=1500)
    return str(p)


def _stream(loop: Iterator[edits.EditState]) -> Iterator[edits.EditState]:
    """Step a core loop (its model calls run under inference mode inside; nothing is held across a yield)."""
    with user_errors():
        yield from loop


def _throttle():
    last = [0.0]

    def due(final: bool = False) -> bool:
        now = time.perf_counter()
        if final or now - last[0] >= STREAM_EVERY_S:
            last[0] = now
            return True
        return False

    return due


# --- SDEdit ------------------------------------------------------------------------------------------


def _sdedit_job(digit, strength, sampler, steps, label_choice, guidance, seed, path, session_models):
    """Yields ("frame", status, noised, x_t, x̂₀) while running, then ("done", result dict)."""
    model, meta, s, x0, labels, what = _setup(digit, path, session_models, label_choice, guidance)
    with user_errors():
        t0 = edits.strength_to_t0(float(strength), s.T)
        kind = normalize_sampler(sampler)
    n = min(_steps(steps, s.T), max(t0, 1))
    fn = _fn(model, labels, guidance)
    frames, noised, st = [], x0, None
    due = _throttle()
    t_start = time.perf_counter()
    with interactive_work():
        loop = edits.sdedit_loop(fn, s, x0, t0, generator=torch.Generator().manual_seed(int(seed)), sampler=kind,
                             num_steps=n, prediction_type=meta.prediction_type)
        for st in _stream(loop):
            if st.phase == "noise":
                noised = st.x_t
            frames.append(_pair_frame(st.x_t, st.x0_pred))
            if st.i < st.n and due():
                status = (f"… **Running** — step **{st.i}/{st.n}**, t = {st.t} · SDEdit from t₀ = {t0} "
                          f"(strength {float(strength):.2f}) · {what}")
                yield "frame", status, noised, st.x_t, st.x0_pred
    out = st.x_t
    v = _verdict(out, x0)
    v.update(t0=t0, T=s.T, steps=0 if t0 == 0 else n, sampler=kind, label=None if labels is None else int(labels[0]),
             guidance=float(guidance), seed=int(seed))
    captions = [["input"], [f"x_t at t0 = {t0}"],
                [f"result · d = {v['distance_to_input']:.3f}", f"{v['predicted_digit']} · p = {v['confidence']:.2f}"]]
    summary = render.captioned_row([_img(x0, 4), _img(noised, 4), _img(out, 4)], captions)
    files = [_save_png(summary, f"sdedit-t0-{t0}"), _save_gif(frames, f"sdedit-t0-{t0}-trajectory")]
    status = (f"✓ **Done** — SDEdit from t₀ = {t0} of T = {s.T} (strength {float(strength):.2f}), "
              f"{v['steps']} {kind.upper()} steps, {what}, guidance {float(guidance):g}, seed {int(seed)} · "
              f"{time.perf_counter() - t_start:.1f} s")
    yield "done", {"status": status, "noised": noised, "x_t": out, "x0_pred": st.x0_pred, "result": out, "numbers": v,
                   "files": [f for f in files if f]}


@zerogpu.gpu(zerogpu.SAMPLE_S)
def sdedit_run(source, sketch, index, upload, strength, sampler, steps, label_choice, guidance, seed, path=None,
               session_models=None):
    """The SDEdit button: streams (noised input, x_t, x̂₀, result, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    for kind, *rest in _sdedit_job(digit, strength, sampler, steps, label_choice, guidance, seed, path,
                                   session_models):
        if kind == "frame":
            status, noised, x_t, x0p = rest
            yield (_img(noised), _img(x_t), _img(x0p) if x0p is not None else None, gr.skip(), gr.skip(),
                   status, gr.skip())
        else:
            r = rest[0]
            yield (_img(r["noised"]), _img(r["x_t"]), _img(r["x0_pred"]) if r["x0_pred"] is not None else None,
                   _img(r["result"]), _verdict_md(r["numbers"]), r["status"], r["files"])


def _strip_job(digit, sampler, steps, label_choice, guidance, seed, path, session_models, strengths=STRIP):
    model, meta, s, x0, labels, what = _setup(digit, path, session_models, label_choice, guidance)
    with user_errors():
        kind = normalize_sampler(sampler)
        t0s = [edits.strength_to_t0(v, s.T) for v in strengths]
    n = _steps(steps, s.T)
    fn = _fn(model, labels, guidance)
    tiles, caps, rows = [_img(x0, 5)], [["input", "", ""]], []
    with interactive_work(), user_errors():
        for t0, used, out in edits.sdedit_strip(fn, s, x0, t0s, seed=int(seed), num_steps=n, sampler=kind,
                                            prediction_type=meta.prediction_type):
            v = _verdict(out, x0)
            rows.append({"t0": t0, "steps": used, **v})
            tiles.append(_img(out, 5))
            caps.append([f"t0 = {t0}", f"d = {v['distance_to_input']:.3f}",
                         f"{v['predicted_digit']} · p = {v['confidence']:.2f}"])
            yield "frame", render.captioned_row(tiles, caps, size=26), rows
    img = render.captioned_row(tiles, caps, size=26)
    yield "done", img, rows, what, n, kind


@zerogpu.gpu(zerogpu.SAMPLE_S)
def sdedit_strip_run(source, sketch, index, upload, sampler, steps, label_choice, guidance, seed, path=None,
                     session_models=None):
    """The strip button: SDEdit at t₀ = 0.2 T … 0.9 T from one seed. Streams (strip image, Markdown, files)."""
    digit = get_digit(source, sketch, index, upload)
    for kind, img, rows, *rest in _strip_job(digit, sampler, steps, label_choice, guidance, seed, path,
                                             session_models):
        if kind == "frame":
            yield img, f"… **Running** — {len(rows)}/{len(STRIP)} done", gr.skip()
        else:
            what, n, sampler_kind = rest
            md = (f"✓ **The dial, from one seed** ({sampler_kind.upper()}, {what}, guidance {float(guidance):g}). "
                  f"**d**: distance to your input (faithfulness). **p**: the classifier's confidence in "
                  f"the digit it sees (realism). Small t₀ keeps your strokes, flaws and all; large t₀ "
                  f"hands over to the model: a clean digit (of the label asked for) that forgets the input. "
                  f"Steps grow with t₀, ⌈{n}·t₀/T⌉: {rows[0]['steps']} … {rows[-1]['steps']} (a fixed step size).")
            yield img, md, [_save_png(img, "sdedit-strip")]


@zerogpu.gpu(zerogpu.SAMPLE_S)
def sdedit_api(image: str, strength: float = 0.5, sampler: str = "ddim", steps: int = 50, digit: str = "auto",
               guidance: float = DEFAULT_GUIDANCE, seed: int = 0, checkpoint: str | None = None):
    """Public endpoint `sdedit`: SDEdit an image of a digit (noise it to t₀, then denoise).

    Args:
        image: an image file of a digit, dark on light or light on dark (framed like MNIST: 20×20 box, centre of mass).
        strength: t₀/T in [0, 1]; 0 returns the input, 1 ignores it.  sampler: "ddim" | "ddpm".
        steps: reverse steps (at most t₀).  digit: "auto" (the classifier's guess), "0" … "9" or "none".
        guidance: CFG scale w.  seed: the noise seed.  checkpoint: a listed checkpoint file name (default: the first).
    Returns:
        (files: [summary PNG (input | x_{t₀} | result), trajectory GIF],
         numbers: {"t0", "T", "steps", "distance_to_input", "predicted_digit", "confidence", "label", ...}).
    """
    d = _api_digit(image)
    last = run_to_end(_sdedit_job(d, strength, sampler, steps, _api_label(digit), guidance, seed, checkpoint, None))
    return last[1]["files"], last[1]["numbers"]


# --- inpainting --------------------------------------------------------------------------------------


def _keep_mask(choice: str, brush=None, mask_file: str | None = None) -> torch.Tensor:
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
    g = _img(x0, scale).astype(np.float32)
    hole = render.upscale((keep.reshape(28, 28).numpy() < 0.5).astype(np.uint8), scale).astype(bool)
    rgb = np.stack([g, g, g], axis=-1)
    rgb[hole] = 0.45 * rgb[hole] + 0.55 * np.array([230, 40, 160], np.float32)
    return rgb.clip(0, 255).astype(np.uint8)


def _inpaint_job(digit, mask_choice, brush, resamplings, jump, sampler, steps, label_choice, guidance, seed, path,
                 session_models, mask_file=None):
    model, meta, s, x0, labels, what = _setup(digit, path, session_models, label_choice, guidance)
    keep = _keep_mask(mask_choice, brush, mask_file)
    with user_errors():
        kind = normalize_sampler(sampler)
        if kind not in ("ddpm", "ddim"):
            raise ValueError(f"inpainting runs DDPM or DDIM steps, not {sampler!r}")
    n = _steps(steps, s.T)
    r, j = int(resamplings), int(jump)
    fn = _fn(model, labels, guidance)
    frames, st = [], None
    due = _throttle()
    t_start = time.perf_counter()
    with interactive_work():
        loop = edits.inpaint_loop(fn, s, x0, keep.to(x0.device), generator=torch.Generator().manual_seed(int(seed)),
                              sampler=kind, eta=1.0 if kind == "ddpm" else 0.0, num_steps=n, jump_length=max(j, 1),
                              jump_n_sample=max(r, 1), prediction_type=meta.prediction_type)
        for st in _stream(loop):
            frames.append(_pair_frame(st.x_t, st.x0_pred))
            if due():
                act = "resampling: back up to" if st.phase == "resample" else "step"
                yield "frame", (f"… **Running** — {act} {st.i}/{st.n}, t = {st.t} · {what}"), st.x_t, st.x0_pred
    out = st.x_t
    kept = keep.to(out.device).expand_as(out) > 0.5
    v = _verdict(out, x0)
    v.update(kept_max_abs_change=float((out[kept] - x0[kept]).abs().max()) if kept.any() else 0.0,
             regenerated_pixels=int((~kept).sum()), steps=n, resamplings=r, jump_length=j, sampler=kind,
             label=None if labels is None else int(labels[0]), guidance=float(guidance), seed=int(seed),
             model_calls=sum(op[0] == "down" for op in edits.repaint_ops(n, max(j, 1), max(r, 1))))
    summary = render.captioned_row([_img(x0, 4), mask_overlay(x0.cpu(), keep, 4), _img(out, 4)],
                            [["input"], ["mask (tinted: regenerated)"],
                             [f"result · {v['predicted_digit']} · p = {v['confidence']:.2f}"]])
    files = [_save_png(summary, "inpaint"), _save_gif(frames, "inpaint-trajectory")]
    res = f"RePaint resampling r = {r}, j = {j}" if r > 1 else "replacement method (no resampling)"
    status = (f"✓ **Done** — {n} {kind.upper()} steps, {res}, {v['model_calls']} model calls, {what}, guidance "
              f"{float(guidance):g}, seed {int(seed)} · {time.perf_counter() - t_start:.1f} s")
    yield "done", {"status": status, "x_t": out, "x0_pred": st.x0_pred, "result": out, "numbers": v, "keep": keep,
                   "files": [f for f in files if f]}


def _inpaint_md(v: dict) -> str:
    return (f"**kept pixels: max |change| = {v['kept_max_abs_change']:g}** (replaced by the original at every step, "
            f"exactly x₀ at the end) · **{v['regenerated_pixels']} pixels regenerated** · "
            f"**classifier: {v['predicted_digit']}, p = {v['confidence']:.2f}**")


@zerogpu.gpu(zerogpu.SAMPLE_S)
def inpaint_run(source, sketch, index, upload, mask_choice, brush, resamplings, jump, sampler, steps, label_choice,
                guidance, seed, path=None, session_models=None):
    """The inpaint button: streams (mask overlay, x_t, x̂₀, result, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    keep_img = None
    for kind, *rest in _inpaint_job(digit, mask_choice, brush, resamplings, jump, sampler, steps,
                                    label_choice, guidance, seed, path, session_models):
        if kind == "frame":
            status, x_t, x0p = rest
            if keep_img is None:
                keep_img = mask_overlay(digit["x0"], _keep_mask(mask_choice, brush))
            yield keep_img, _img(x_t), _img(x0p) if x0p is not None else None, gr.skip(), gr.skip(), status, gr.skip()
        else:
            r = rest[0]
            yield (mask_overlay(digit["x0"], r["keep"]), _img(r["x_t"]), _img(r["x0_pred"]), _img(r["result"]),
                   _inpaint_md(r["numbers"]), r["status"], r["files"])


@zerogpu.gpu(zerogpu.SAMPLE_S)
def inpaint_api(image: str, mask: str = "top half", digit: str = "auto", guidance: float = DEFAULT_GUIDANCE,
                sampler: str = "ddpm", steps: int = 50, resamplings: int = 1, jump_length: int = 10, seed: int = 0,
                mask_image: str | None = None, checkpoint: str | None = None):
    """Public endpoint `inpaint`: regenerate part of a digit, keeping the rest exactly (RePaint's replacement).

    Args:
        image: an image file of a digit.  mask: a preset ("top half", "bottom half", "left half", "right half",
            "top-left quarter", … ) or "brush" with `mask_image`: a file where bright (or opaque) = regenerate.
        digit: target label: "auto" (the classifier's guess of the input), "0" … "9" (turn a 3 into an 8) or "none".
        guidance: CFG scale w.  sampler: "ddpm" | "ddim".  steps: sampler steps.
        resamplings: RePaint's r (1 = none).  jump_length: RePaint's j.  seed: the noise seed.
        checkpoint: a listed checkpoint file name (default: the first).
    Returns:
        (files: [summary PNG (input | mask | result), trajectory GIF],
         numbers: {"kept_max_abs_change" (0.0: the kept pixels are exact), "regenerated_pixels", "predicted_digit",
                   "confidence", "distance_to_input", "model_calls", ...}).
    """
    d = _api_digit(image)
    last = run_to_end(_inpaint_job(d, mask, None, resamplings, jump_length, sampler, steps, _api_label(digit),
                                   guidance, seed, checkpoint, None, mask_file=mask_image or None))
    return last[1]["files"], last[1]["numbers"]


# --- DDIM inversion -----------------------------------------------------------------------------------


def _invert_job(digit, steps, label_choice, guidance, path, session_models):
    model, meta, s, x0, labels, what = _setup(digit, path, session_models, label_choice, guidance)
    n = _steps(steps, s.T)
    fn = _fn(model, labels, guidance)
    frames, st = [], None
    due = _throttle()
    t_start = time.perf_counter()
    kw = dict(num_steps=n, spacing="trailing", prediction_type=meta.prediction_type)
    with interactive_work():
        for st in _stream(edits.ddim_invert_loop(fn, s, x0, **kw)):
            frames.append(_pair_frame(st.x_t, st.x0_pred))
            if due():
                yield ("frame", f"… **Running** — encoding x₀ → x_T: step {st.i}/{st.n}, t = {st.t} · {what}",
                       st.x_t, st.x0_pred)
        latent = st.x_t
        for st in _stream(edits.ddim_reconstruct_loop(fn, s, latent, **kw)):
            frames.append(_pair_frame(st.x_t, st.x0_pred))
            if due():
                yield ("frame", f"… **Running** — decoding x_T → x₀: step {st.i}/{st.n}, t = {st.t} · {what}",
                       st.x_t, st.x0_pred)
    recon = st.x_t
    rmse = float(edits.pixel_rmse(recon, x0)[0])
    v = {"rmse": round(rmse, 5),
         "max_abs_error": round(float((to_unit_range(recon) - to_unit_range(x0)).abs().max()), 4),
         "latent_std": round(float(latent.std()), 4), "latent_mean": round(float(latent.mean()), 4), "steps": n,
         "label": None if labels is None else int(labels[0]), "guidance": float(guidance), "T": s.T}
    err = (to_unit_range(recon) - to_unit_range(x0)).abs().clamp(max=0.2) * 5 * 2 - 1  # |error| ×5 for display
    summary = render.captioned_row([_img(x0, 4), _img(latent, 4), _img(recon, 4), _img(err, 4)],
                            [["input x0"], [f"latent x_T · std {v['latent_std']:.2f}"],
                             [f"reconstruction · RMSE {rmse:.4f}"], ["|error| × 5"]])
    files = [_save_png(summary, f"ddim-inversion-{n}steps"), _save_gif(frames, f"ddim-inversion-{n}steps")]
    status = (f"✓ **Done** — {n} DDIM steps up (x₀ → x_T), {n} down (x_T → x₀), η = 0, {what}, guidance "
              f"{float(guidance):g} · {time.perf_counter() - t_start:.1f} s")
    yield "done", {"status": status, "latent": latent, "recon": recon, "err": err, "numbers": v,
                   "files": [f for f in files if f]}


def _invert_md(v: dict) -> str:
    return (f"**reconstruction RMSE {v['rmse']:.4f}** ([0, 1] pixels; max |error| {v['max_abs_error']:.3f}) · "
            f"**latent std {v['latent_std']:.2f}**, mean {v['latent_mean']:+.2f} (a draw of N(0, I) has std "
            f"1.00: the round trip works, yet the latent is not the kind of noise sampling starts from)")


@zerogpu.gpu(zerogpu.SAMPLE_S)
def invert_run(source, sketch, index, upload, steps, label_choice, guidance, path=None, session_models=None):
    """The invert button: streams (x_t, x̂₀, latent, reconstruction, |error|, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    for kind, *rest in _invert_job(digit, steps, label_choice, guidance, path, session_models):
        if kind == "frame":
            status, x_t, x0p = rest
            yield (_img(x_t), _img(x0p) if x0p is not None else None, gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                   status, gr.skip())
        else:
            r = rest[0]
            yield (_img(r["recon"]), _img(r["recon"]), _img(r["latent"]), _img(r["recon"]), _img(r["err"]),
                   _invert_md(r["numbers"]), r["status"], r["files"])


@zerogpu.gpu(zerogpu.SAMPLE_S)
def invert_api(image: str, steps: int = 50, digit: str = "auto", guidance: float = 1.0, checkpoint: str | None = None):
    """Public endpoint `invert`: DDIM inversion (η = 0, x₀ → x_T) and reconstruction (x_T → x₀) on the same steps.

    Args:
        image: an image file of a digit.  steps: DDIM steps each way (trailing spacing: x_T is at t = T−1).
        digit: "auto" (the classifier's guess), "0" … "9" or "none".  guidance: CFG scale w (w > 1 makes the round trip
        drift).
        checkpoint: a listed checkpoint file name (default: the first).
    Returns:
        (files: [summary PNG (input | latent | reconstruction | |error|×5), trajectory GIF],
         numbers: {"rmse" (reconstruction error, [0, 1] pixels), "max_abs_error", "latent_std", "latent_mean", "steps",
         ...}).
    """
    d = _api_digit(image)
    last = run_to_end(_invert_job(d, steps, _api_label(digit), guidance, checkpoint, None))
    return last[1]["files"], last[1]["numbers"]


@zerogpu.gpu(zerogpu.STUDY_S)
def drift_run(source, sketch, index, upload, label_choice, path=None, session_models=None, steps_list=DRIFT_STEPS,
              guidances=DRIFT_GUIDANCE, progress=PROGRESS):
    """Round-trip error against steps for several guidance scales. Returns (figure, Markdown table)."""
    digit = get_digit(source, sketch, index, upload)
    model, meta, s, x0, labels, what = _setup(digit, path, session_models, label_choice, 1.0)
    steps_list = [n for n in steps_list if n <= min(LIMITS.max_steps, s.T)] or [min(LIMITS.max_steps, s.T)]
    total, done = len(guidances) * sum(steps_list), 0
    rmse = {}
    with interactive_work(), user_errors():
        for w in guidances:
            fn = _fn(model, labels, w)
            for n in steps_list:
                progress((done, total), desc=f"w = {w:g}, {n} + {n} steps")
                r = edits.invert_and_reconstruct(fn, s, x0, num_steps=n, prediction_type=meta.prediction_type)
                rmse[w, n] = float(r.rmse[0])
                done += n
    fig = go.Figure()
    for w in guidances:
        fig.add_trace(go.Scatter(x=steps_list, y=[rmse[w, n] for n in steps_list], mode="lines+markers",
                                 name=f"w = {w:g}", line=dict(width=3), marker=dict(size=9)))
    fig.update_layout(template="plotly_white", height=360, font=dict(size=16),
                      title="DDIM inversion: round-trip error",
                      xaxis_title="DDIM steps each way", yaxis_title="RMSE of [0, 1] pixels",
                      margin=dict(l=70, r=20, t=50, b=50), legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    fig.update_xaxes(type="log", tickvals=steps_list)
    fig.update_yaxes(type="log")
    head = "| steps | " + " | ".join(f"w = {w:g}" for w in guidances) + " |\n|---|" + "---|" * len(guidances) + "\n"
    body = "".join(f"| {n} | " + " | ".join(f"{rmse[w, n]:.4f}" for w in guidances) + " |\n" for n in steps_list)
    md = (head + body + f"\nInverted and decoded with the same model_fn ({what}). With w = 1 the error "
                        f"shrinks as the steps "
          "grow: DDIM inversion assumes ε̂(x_t) ≈ ε̂(x_{t−1}), true for small steps. Guidance w > 1 extrapolates "
          "between two networks' predictions, the ODE it integrates is no longer one the model can retrace, and the "
          "error grows with w: why image editors add tricks such as null-text inversion.")
    return fig, md


# --- interpolation ------------------------------------------------------------------------------------


@zerogpu.gpu(zerogpu.SAMPLE_S)
def interpolate_run(source, sketch, index, upload, index_b, num, use_labels, steps, path=None, session_models=None):
    """Invert the input and a second held-out digit, slerp between the latents, decode a row.

    Returns (row image, Markdown, files)."""
    a = get_digit(source, sketch, index, upload)
    b = get_digit("mnist", None, index_b, None)
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    n = _steps(steps, s.T)
    num = int(min(max(int(num), 2), 16))
    labels = None
    if use_labels and model.config.conditional:
        la = a["label"] if a["label"] is not None else int(edits.classify(a["x0"])[0][0])
        labels = (la, b["label"])
    dev = device()
    t_start = time.perf_counter()
    with interactive_work(), user_errors():
        res = edits.interpolate(lambda lab: make_model_fn(model, None if lab is None else lab.to(dev), 1.0), s,
                            a["x0"].to(dev), b["x0"].to(dev), num=num, labels=labels, num_steps=n,
                            prediction_type=meta.prediction_type)
    pred, conf = edits.classify(res.images)
    tiles = [_img(x, 3) for x in res.images]
    caps = [[f"alpha = {al:.2f}", f"{int(p)} · p = {float(c):.2f}"] for al, p, c in zip(res.alphas, pred, conf)]
    row = render.captioned_row(tiles, caps, size=14)
    gif_frames = [np.concatenate([t, np.full((t.shape[0], 4), 255, np.uint8)], axis=1) for t in tiles]
    gif_frames = gif_frames + gif_frames[::-1]
    files = [_save_png(row, "interpolation"), _save_gif(gif_frames, "interpolation-morph")]
    cond = (f"conditional: label {labels[0]} for α < ½, {labels[1]} after" if labels else "unconditional (null label)")
    md = (f"✓ **Done** — both digits inverted with {n} DDIM steps, {num} points on the arc between their latents "
          f"(slerp), each decoded with {n} steps; {cond}. The end points are the two reconstructions. "
          f"{time.perf_counter() - t_start:.1f} s")
    return row, md, [f for f in files if f]


# --- API helpers ----------------------------------------------------------------------------------------


def _api_digit(image: str | None) -> dict:
    if not image:
        raise gr.Error("No image: send an image file of a digit.")
    return get_digit("upload", None, 0, image)


def _api_label(digit: str | int | None) -> str:
    raw = str(digit if digit is not None else "auto").strip().lower()
    if raw in ("auto", "", LABEL_AUTO.lower()):
        return LABEL_AUTO
    if raw in ("none", "unconditional", "null", LABEL_NONE.lower()):
        return LABEL_NONE
    if raw.isdigit() and 0 <= int(raw) <= 9:
        return str(int(raw))
    raise gr.Error(f"digit must be 'auto', '0' … '9' or 'none', got {digit!r}")


def _seen_of(source, sketch, index, upload) -> tuple:
    d = get_digit(source, sketch, index, upload)
    return _img(d["x0"]), f"{d['note']}.  \n{edits.PREPROCESS_NOTE}"


def with_seen(handler):
    """Wire a tool handler so that it also sets the "what the model gets" preview to the digit it used.

    The preview's own events run un-queued while the user types or draws, and their answers can arrive out of
    order; a run then shows exactly the input it ran on. Generator handlers stay generators (they stream)."""
    import inspect

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def gen(source, sketch, index, upload, *args, **kwargs):
            seen = _seen_of(source, sketch, index, upload)
            for out in handler(source, sketch, index, upload, *args, **kwargs):
                yield (*out, *seen)
        return gen

    @functools.wraps(handler)
    def fn(source, sketch, index, upload, *args, **kwargs):
        seen = _seen_of(source, sketch, index, upload)
        return (*handler(source, sketch, index, upload, *args, **kwargs), *seen)
    return fn
