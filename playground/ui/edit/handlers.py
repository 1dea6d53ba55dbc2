"""Handlers of the Draw & edit tab: widget values → checks → a job (tools.py) → images, numbers, files.

Plain functions that tests call without a server; the layout and wiring are in ``__init__.py``. Each button's
handler checks its input here, in the main process, before the GPU work (``@zerogpu.gpu``, a forked worker on
ZeroGPU) is asked for; the job's typed events become widget updates through :func:`playground.ui.events.stream`,
and the public endpoints run the same jobs to their end (:func:`playground.ui.events.run_to_end`).
"""
from __future__ import annotations

import functools
import inspect
import math
import time

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from playground import render
from playground.editing import edits
from playground.mnist.sample import DEFAULT_GUIDANCE, make_model_fn
from playground.samplers import normalize_sampler
from playground.ui import jobs, zerogpu
from playground.ui.edit import tools
from playground.ui.edit.digits import (
    BRUSH,
    CANVAS,
    LABEL_AUTO,
    LABEL_CHOICES,
    LABEL_NONE,
    MASK_CHOICES,
    SAMPLER_CHOICES,
    SCALE,
    SOURCES,
    api_digit,
    api_label,
    brush_background,
    check_label,
    clamp_steps,
    get_digit,
    img,
    keep_mask,
    mask_overlay,
    save_gif,
    save_png,
    seen_of,
    setup,
)
from playground.ui.events import run_to_end, stream
from playground.ui.limits import LIMITS, interactive_work
from playground.ui.models import default_checkpoint, device, get_model
from playground.ui.page import PROGRESS, user_errors

__all__ = ["BRUSH", "CANVAS", "LABEL_AUTO", "LABEL_CHOICES", "LABEL_NONE", "MASK_CHOICES", "SAMPLER_CHOICES",
           "SCALE", "SOURCES", "STRIP", "DRIFT_STEPS", "DRIFT_GUIDANCE", "brush_background", "get_digit", "preview",
           "random_index", "sdedit_run", "sdedit_strip_run", "sdedit_api", "inpaint_run", "inpaint_api",
           "invert_run", "invert_api", "drift_run", "interpolate_run", "with_seen", "mask_overlay"]

STRIP = tools.STRIP
DRIFT_STEPS = (10, 20, 50, 100)
DRIFT_GUIDANCE = (1.0, 3.0, 5.0)
STREAM_EVERY_S = 0.25  # a running job's images reach the browser at most this often
_img = img  # the tests' name for the 28×28 → 224 px picture

# The outputs each button's stream fills, by the names its job's events carry (see tools.py).
SDEDIT_OUT = ("noised", "x_t", "x0_pred", "result", "numbers", "status", "files")
STRIP_OUT = ("strip", "status", "files")
INPAINT_OUT = ("mask", "x_t", "x0_pred", "result", "numbers", "status", "files")
INVERT_OUT = ("x_t", "x0_pred", "latent", "recon", "err", "numbers", "status", "files")


def preview(source: str, sketch=None, index: int | float | None = 0, upload: str | None = None):
    """The 28×28 input the model sees. Returns (image or None, Markdown, brush editor value or gr.skip()).

    Problems (an empty canvas, all ink) are shown in the Markdown, not as error pop-ups: this runs while drawing."""
    try:
        d = get_digit(source, sketch, index, upload)
    except gr.Error as e:
        return None, f"⚠ {e.message}", gr.skip()
    return (*seen_of(d), brush_background(d["x0"]))


def random_index(seed: float | None = None) -> int:
    """A random held-out digit index (the 🎲 button)."""
    return int(np.random.default_rng(None if seed is None else int(seed)).integers(0, 2000))


# --- checks in the main process, and what the GPU is asked for --------------------------------------------------


def _check_strength(strength) -> float:
    try:
        v = float(strength)
    except (TypeError, ValueError):
        raise gr.Error(f"strength must be a number in [0, 1], got {strength!r}") from None
    if not 0.0 <= v <= 1.0 or math.isnan(v):
        raise gr.Error(f"strength must be in [0, 1], got {strength}")
    return v


def _check_sampler(sampler, allowed=("ddpm", "ddim")) -> str:
    with user_errors():
        kind = normalize_sampler(sampler)
    if kind not in allowed:
        raise gr.Error(f"the sampler {sampler!r} is not offered here: this tool runs "
                       f"{' or '.join(a.upper() for a in allowed)} steps")
    return kind


def _model_calls(steps) -> int:
    """Network evaluations of one run at these steps (capped as the run caps them), for the GPU's duration."""
    return max(1, min(int(float(steps or 1)), LIMITS.max_steps))


def _seconds_for(calls: int) -> int:
    """ZeroGPU seconds for ``calls`` guided model calls (see ui/zerogpu.py: measured per-step cost and margins)."""
    return zerogpu.sampling_seconds(calls, 1, cfg=True)


# --- SDEdit ----------------------------------------------------------------------------------------------------


@zerogpu.gpu(lambda digit, strength, sampler, steps, *a, **k: _seconds_for(_model_calls(steps)))
def _sdedit_gpu(digit, strength, sampler, steps, label_choice, guidance, seed, path, session_models, stop=None):
    job = tools.sdedit_job(digit, strength, sampler, steps, label_choice, guidance, seed, path, session_models)
    yield from stream(job, SDEDIT_OUT, stop, every_s=STREAM_EVERY_S)


def sdedit_run(source, sketch, index, upload, strength, sampler, steps, label_choice, guidance, seed, path=None,
               session_models=None, request: gr.Request = None):
    """The SDEdit button: streams (noised input, x_t, x̂₀, result, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    args = (_check_strength(strength), _check_sampler(sampler), steps, check_label(label_choice), guidance, seed)
    with jobs.running("sdedit", request) as stop:
        yield from _sdedit_gpu(digit, *args, path, session_models, stop)


@zerogpu.gpu(lambda digit, sampler, steps, *a, **k: _seconds_for(len(STRIP) * _model_calls(steps)))
def _strip_gpu(digit, sampler, steps, label_choice, guidance, seed, path, session_models, stop=None):
    job = tools.strip_job(digit, sampler, steps, label_choice, guidance, seed, path, session_models)
    yield from stream(job, STRIP_OUT, stop)


def sdedit_strip_run(source, sketch, index, upload, sampler, steps, label_choice, guidance, seed, path=None,
                     session_models=None, request: gr.Request = None):
    """The strip button: SDEdit at t₀ = 0.2 T … 0.9 T from one seed. Streams (strip image, Markdown, files)."""
    digit = get_digit(source, sketch, index, upload)
    args = (_check_sampler(sampler), steps, check_label(label_choice), guidance, seed)
    with jobs.running("sdedit", request) as stop:
        yield from _strip_gpu(digit, *args, path, session_models, stop)


@zerogpu.gpu(lambda digit, strength, sampler, steps, *a, **k: _seconds_for(_model_calls(steps)))
def _sdedit_to_end(digit, strength, sampler, steps, label_choice, guidance, seed, path):
    return run_to_end(tools.sdedit_job(digit, strength, sampler, steps, label_choice, guidance, seed, path, None))


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
    d = api_digit(image)
    return _sdedit_to_end(d, _check_strength(strength), _check_sampler(sampler), steps, api_label(digit), guidance,
                          seed, checkpoint)


# --- inpainting ------------------------------------------------------------------------------------------------


def _repaint_calls(steps, resamplings, jump) -> int:
    n = _model_calls(steps)
    return sum(op[0] == "down" for op in edits.repaint_ops(n, max(int(jump), 1), max(int(resamplings), 1)))


def _check_repaint(resamplings, jump) -> tuple[int, int]:
    try:
        r, j = int(float(resamplings)), int(float(jump))
    except (TypeError, ValueError):
        raise gr.Error(f"resamplings and jump length must be whole numbers, got {resamplings!r}, {jump!r}") from None
    if not (1 <= r <= 10 and 1 <= j <= 25):
        raise gr.Error(f"RePaint resamplings r must be 1 … 10 and the jump length j 1 … 25; got r = {r}, j = {j}")
    return r, j


@zerogpu.gpu(lambda digit, keep, sampler, steps, r, j, *a, **k: _seconds_for(_repaint_calls(steps, r, j)))
def _inpaint_gpu(digit, keep, sampler, steps, r, j, label_choice, guidance, seed, path, session_models, stop=None):
    job = tools.inpaint_job(digit, keep, sampler, steps, r, j, label_choice, guidance, seed, path, session_models)
    yield from stream(job, INPAINT_OUT, stop, every_s=STREAM_EVERY_S)


def inpaint_run(source, sketch, index, upload, mask_choice, brush, resamplings, jump, sampler, steps, label_choice,
                guidance, seed, path=None, session_models=None, request: gr.Request = None):
    """The inpaint button: streams (mask overlay, x_t, x̂₀, result, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    keep = keep_mask(mask_choice, brush)
    r, j = _check_repaint(resamplings, jump)
    args = (_check_sampler(sampler), steps, r, j, check_label(label_choice), guidance, seed)
    with jobs.running("inpaint", request) as stop:
        yield from _inpaint_gpu(digit, keep, *args, path, session_models, stop)


@zerogpu.gpu(lambda digit, keep, sampler, steps, r, j, *a, **k: _seconds_for(_repaint_calls(steps, r, j)))
def _inpaint_to_end(digit, keep, sampler, steps, r, j, label_choice, guidance, seed, path):
    return run_to_end(tools.inpaint_job(digit, keep, sampler, steps, r, j, label_choice, guidance, seed, path, None))


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
    d = api_digit(image)
    keep = keep_mask(mask, None, mask_image or None)
    r, j = _check_repaint(resamplings, jump_length)
    return _inpaint_to_end(d, keep, _check_sampler(sampler), steps, r, j, api_label(digit), guidance, seed,
                           checkpoint)


# --- DDIM inversion --------------------------------------------------------------------------------------------


@zerogpu.gpu(lambda digit, steps, *a, **k: _seconds_for(2 * _model_calls(steps)))
def _invert_gpu(digit, steps, label_choice, guidance, path, session_models, stop=None):
    yield from stream(tools.invert_job(digit, steps, label_choice, guidance, path, session_models), INVERT_OUT, stop,
                      every_s=STREAM_EVERY_S)


def invert_run(source, sketch, index, upload, steps, label_choice, guidance, path=None, session_models=None,
               request: gr.Request = None):
    """The invert button: streams (x_t, x̂₀, latent, reconstruction, |error|, numbers Markdown, status, files)."""
    digit = get_digit(source, sketch, index, upload)
    label_choice = check_label(label_choice)
    with jobs.running("invert", request) as stop:
        yield from _invert_gpu(digit, steps, label_choice, guidance, path, session_models, stop)


@zerogpu.gpu(lambda digit, steps, *a, **k: _seconds_for(2 * _model_calls(steps)))
def _invert_to_end(digit, steps, label_choice, guidance, path):
    return run_to_end(tools.invert_job(digit, steps, label_choice, guidance, path, None))


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
    return _invert_to_end(api_digit(image), steps, api_label(digit), guidance, checkpoint)


def _drift_calls(steps_list=DRIFT_STEPS, guidances=DRIFT_GUIDANCE) -> int:
    return 2 * len(guidances) * sum(min(n, LIMITS.max_steps) for n in steps_list)


def drift_run(source, sketch, index, upload, label_choice, path=None, session_models=None, steps_list=DRIFT_STEPS,
              guidances=DRIFT_GUIDANCE, progress=PROGRESS, request: gr.Request = None):
    """Round-trip error against steps for several guidance scales. Returns (figure, Markdown table).

    The inversion tab's Stop ends it after the current round trip, with the curves measured so far."""
    digit = get_digit(source, sketch, index, upload)
    label_choice = check_label(label_choice)
    with jobs.running("invert", request) as stop:
        return _drift_gpu(digit, label_choice, path, session_models, tuple(steps_list), tuple(guidances), progress,
                          stop)


@zerogpu.gpu(lambda digit, label, path, sm, steps_list, guidances, *a: _seconds_for(_drift_calls(steps_list,
                                                                                                  guidances)))
def _drift_gpu(digit, label_choice, path, session_models, steps_list, guidances, progress, stop):
    su = setup(digit, path, session_models, label_choice)
    steps_list = [n for n in steps_list if n <= min(LIMITS.max_steps, su.s.T)] or [min(LIMITS.max_steps, su.s.T)]
    total, done, runs = len(guidances) * sum(steps_list), 0, len(guidances) * len(steps_list)
    rmse = {}
    with interactive_work(), user_errors():
        for w in guidances:
            fn = su.model_fn(w)
            for n in steps_list:
                if stop.is_set():
                    break
                progress((done, total), desc=f"w = {w:g}, {n} + {n} steps")
                r = edits.invert_and_reconstruct(fn, su.s, su.x0, num_steps=n, prediction_type=su.meta.prediction_type)
                rmse[w, n] = float(r.rmse[0])
                done += n
    fig = _drift_figure(rmse, steps_list, guidances)
    if len(rmse) < runs:
        return fig, jobs.stopped_status(len(rmse), runs, "the curves so far")
    return fig, _drift_md(rmse, steps_list, guidances, su.what)


def _drift_figure(rmse: dict, steps_list, guidances) -> go.Figure:
    fig = go.Figure()
    for w in guidances:
        xs = [n for n in steps_list if (w, n) in rmse]
        fig.add_trace(go.Scatter(x=xs, y=[rmse[w, n] for n in xs], mode="lines+markers",
                                 name=f"w = {w:g}", line=dict(width=3), marker=dict(size=9)))
    fig.update_layout(template="plotly_white", height=360, font=dict(size=16),
                      title="DDIM inversion: round-trip error",
                      xaxis_title="DDIM steps each way", yaxis_title="RMSE of [0, 1] pixels",
                      margin=dict(l=70, r=20, t=50, b=50), legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    fig.update_xaxes(type="log", tickvals=list(steps_list))
    fig.update_yaxes(type="log")
    return fig


def _drift_md(rmse: dict, steps_list, guidances, what: str) -> str:
    head = "| steps | " + " | ".join(f"w = {w:g}" for w in guidances) + " |\n|---|" + "---|" * len(guidances) + "\n"
    body = "".join(f"| {n} | " + " | ".join(f"{rmse[w, n]:.4f}" for w in guidances) + " |\n" for n in steps_list)
    return (head + body + f"\nInverted and decoded with the same model_fn ({what}). With w = 1 the error shrinks as "
            "the steps grow: DDIM inversion assumes ε̂(x_t) ≈ ε̂(x_{t−1}), true for small steps. Guidance w > 1 "
            "extrapolates between two networks' predictions, the ODE it integrates is no longer one the model can "
            "retrace, and the error grows with w: why image editors add tricks such as null-text inversion.")


# --- interpolation ------------------------------------------------------------------------------------------------


@zerogpu.gpu(lambda *a, **k: _seconds_for(3 * _model_calls(a[7] if len(a) > 7 else k.get("steps"))))
def interpolate_run(source, sketch, index, upload, index_b, num, use_labels, steps, path=None, session_models=None):
    """Invert the input and a second held-out digit, slerp between the latents, decode a row.

    Returns (row image, Markdown, files)."""
    a = get_digit(source, sketch, index, upload)
    b = get_digit("mnist", None, index_b, None)
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    n = clamp_steps(steps, s.T)
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
    tiles = [img(x, 3) for x in res.images]
    caps = [[f"alpha = {al:.2f}", f"{int(p)} · p = {float(c):.2f}"] for al, p, c in zip(res.alphas, pred, conf)]
    row = render.captioned_row(tiles, caps, size=14)
    gif_frames = [np.concatenate([t, np.full((t.shape[0], 4), 255, np.uint8)], axis=1) for t in tiles]
    files = [save_png(row, "interpolation"), save_gif(gif_frames + gif_frames[::-1], "interpolation-morph")]
    cond = (f"conditional: label {labels[0]} for α < ½, {labels[1]} after" if labels else "unconditional (null label)")
    md = (f"✓ **Done** — both digits inverted with {n} DDIM steps, {num} points on the arc between their latents "
          f"(slerp), each decoded with {n} steps; {cond}. The end points are the two reconstructions. "
          f"{time.perf_counter() - t_start:.1f} s")
    return row, md, [f for f in files if f]


# --- the "what the model gets" preview follows every run ----------------------------------------------------------


def with_seen(handler):
    """Wire a tool handler so that it also sets the "what the model gets" preview to the digit it used.

    The preview's own events run un-queued while the user types or draws, and their answers can arrive out of
    order; a run then shows exactly the input it ran on. Generator handlers stay generators (they stream)."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def gen(source, sketch, index, upload, *args, **kwargs):
            seen = seen_of(get_digit(source, sketch, index, upload))
            for out in handler(source, sketch, index, upload, *args, **kwargs):
                yield (*out, *seen)
        return gen

    @functools.wraps(handler)
    def fn(source, sketch, index, upload, *args, **kwargs):
        seen = seen_of(get_digit(source, sketch, index, upload))
        return (*handler(source, sketch, index, upload, *args, **kwargs), *seen)
    return fn
