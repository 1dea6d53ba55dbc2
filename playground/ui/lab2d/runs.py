"""The 2-D lab tab: training, sampling, GIF export, memorization, the study, and the public /lab2d endpoint.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Iterator

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw

from playground import render, toy2d
from playground.ui import jobs
from playground.ui.events import Done, Step, run_to_end, stream
from playground.ui.files import out_path
from playground.ui.lab2d.config import (
    AUTO_TRAIN_SECONDS,
    COLORS,
    DRAWING,
    EXACT_COLOR,
    FONT,
    GIF_LABELS,
    LEARNED_COLOR,
    MAX_PARTICLES,
    MAX_STEPS,
    MAX_TRAIN_SECONDS,
    STUDY_STEPS,
    TRAIN_STEPS,
    VIEW,
)
from playground.ui.lab2d.figures import anim_figure, anim_frames, paths_figure, summary_md
from playground.ui.lab2d.session import lab_data, lab_schedule, model_key, valid_model, whole_number
from playground.ui.lab2d.view import f4, lab_load, plot_data
from playground.ui.limits import adapt_threads, interactive_work
from playground.ui.page import PROGRESS, SCHEDULE_CHOICES, user_errors

# --- training -----------------------------------------------------------------------------------------------


def _loss_figure(loss: list[float]) -> dict:
    """Training loss per step and its running mean (log y), as a plain dict: it streams every 0.4 s while the
    trainer runs, so building it must not steal the trainer's CPU (a go.Figure costs ~50 ms). With no steps yet:
    the titled chart with a note saying what will appear."""
    y = np.asarray(loss, dtype=np.float32)
    steps = np.arange(1, len(y) + 1, dtype=np.float32)
    k = min(50, len(y))
    mean = np.convolve(y, np.ones(k) / k, mode="valid") if k else y
    layout = {"height": 300, "font": FONT, "plot_bgcolor": "white", "paper_bgcolor": "white",
              "title": {"text": "training loss (streams while it trains)", "x": 0.01},
              "xaxis": {"title": {"text": "step"}, "gridcolor": "#eee"},
              "yaxis": {"type": "log", "gridcolor": "#eee"}, "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
              # above the plot, right: below it the legend ran into the x-axis title
              "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
              "uirevision": "loss"}
    if not len(y):
        layout["annotations"] = [{"text": "press Train (or Sample, which trains first): the loss appears here",
                                  "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                                  "font": {"size": 15, "color": "#777"}}]
        layout["xaxis"]["showticklabels"] = layout["yaxis"]["showticklabels"] = False
    return {"data": [{"type": "scatter", "mode": "lines", "x": f4(steps), "y": f4(y), "name": "batch loss",
                      "line": {"color": "#9ecae1", "width": 1.5}},
                     {"type": "scatter", "mode": "lines", "x": f4(steps[k - 1:]), "y": f4(mean),
                      "name": f"mean of last {k}", "line": {"color": "#08519c", "width": 3}}],
            "layout": layout}


def empty_loss_plot():
    """The loss chart before any training (titled, with a note)."""
    return plot_data(_loss_figure([]))


def _train(state: dict, schedule: str, ztsnr: bool, seconds: float, objective: str,
           should_stop=None) -> Iterator[tuple[toy2d.Toy2DTrainer, toy2d.TrainEvent]]:
    s = lab_schedule(schedule, ztsnr)
    cfg = toy2d.TrainConfig2D(steps=TRAIN_STEPS, time_budget_s=float(seconds), seed=0)
    with user_errors():
        trainer = toy2d.Toy2DTrainer(state["x0"], s, cfg,
                                     toy2d.MLPConfig(T=s.T, prediction_type=objective), device="cpu")
    for ev in trainer.run(log_every=10, should_stop=should_stop):
        yield trainer, ev


def _model_state(trainer: toy2d.Toy2DTrainer, state: dict, schedule: str, ztsnr: bool, objective: str) -> dict:
    return {"key": model_key(state, schedule, ztsnr), "den": trainer.denoiser(), "objective": objective,
            "steps": trainer.step, "seconds": trainer.elapsed_s, "label": state["label"], "n": len(state["x0"]),
            "net": trainer.ema if objective == "flow" else None}  # a flow model's velocity net (its own ODE)


def describe_model(model: dict | None, state: dict | None, schedule: str, ztsnr: bool) -> str:
    if not model:
        return "No model yet: press **Train** (or just sample: it trains first)."
    ok = valid_model(model, state, schedule, ztsnr) is not None
    what = (f"MLP ({toy2d.ScoreMLP(toy2d.MLPConfig()).num_params():,} parameters, "
            f"{model['objective']}-prediction) trained {model['steps']:,} steps in {model['seconds']:.1f} s on "
            f"{model['label']} (N = {model['n']:,})")
    return what + ("." if ok else ", **for other settings**: train again for these.")


def _train_steps(state: dict, schedule: str, ztsnr: bool, seconds: float, objective: str, first: str = "",
                 every_s: float = 0.4):
    """Train, yielding a Step (loss chart, status, model so far, its description) at most every ``every_s`` and at
    the end; returns the final model state. ``first`` starts the status line (e.g. why it trains)."""
    last, mdl = -math.inf, None
    for trainer, ev in _train(state, schedule, ztsnr, seconds, objective):
        now = time.perf_counter()
        if ev.done or now - last > every_s:
            last = now
            mdl = _model_state(trainer, state, schedule, ztsnr, objective)
            status = (f"{first}step **{ev.step:,}** · {ev.elapsed_s:.1f} of {seconds:.0f} s · loss {ev.loss_avg:.4f}"
                      + (" · **done**" if ev.done else ""))
            yield Step(ev.step, TRAIN_STEPS, status, {"loss": plot_data(_loss_figure(trainer.losses)), "model": mdl,
                                                      "train_status": status,
                                                      "model_md": describe_model(mdl, state, schedule, ztsnr)})
    return mdl


TRAIN_OUT = ("loss", "train_status", "model", "model_md")


def lab_train(state: dict | None, schedule: str, ztsnr: bool, seconds, objective: str = "v",
              request: gr.Request = None):
    """Train the MLP for `seconds`, streaming (loss figure, status Markdown, model state, model description).

    The model state is streamed too, so a Stop keeps the model as it is at that moment."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    seconds = float(min(max(float(seconds or AUTO_TRAIN_SECONDS), 0.5), MAX_TRAIN_SECONDS))
    adapt_threads()
    with interactive_work(), jobs.running("lab2d-train", request) as stop:
        yield from stream(_train_steps(state, schedule, ztsnr, seconds, objective), TRAIN_OUT, stop,
                          status="train_status", detail="the model is kept as it is at that step")


def _auto_train(state: dict, model: dict | None, schedule: str, ztsnr: bool, seconds: float | None = None):
    """Steps of training a model for these settings (AUTO_TRAIN_SECONDS) when the session has none; returns it."""
    mdl = valid_model(model, state, schedule, ztsnr)
    if mdl is not None:
        return mdl
    objective = (model or {}).get("objective", "v")
    seconds = AUTO_TRAIN_SECONDS if seconds is None else seconds
    return (yield from _train_steps(state, schedule, ztsnr, seconds, objective,
                                    first="No model for these settings yet, so Sample trains one first: "))


def _ensure_model(state: dict, model: dict | None, schedule: str, ztsnr: bool, progress=None) -> dict:
    """The session's model if it matches the settings, else a fresh one trained for AUTO_TRAIN_SECONDS."""
    gen = _auto_train(state, model, schedule, ztsnr)
    while True:
        try:
            ev = next(gen)
        except StopIteration as end:
            return end.value
        if progress is not None:
            progress((min(ev.k, ev.n), ev.n), desc="no model yet: training first", unit="steps")


# --- sampling -------------------------------------------------------------------------------------------------


def _check_samplers(samplers) -> list[str]:
    if isinstance(samplers, str):
        samplers = [samplers]
    chosen = [k for k in toy2d.SAMPLERS_2D if k in set(samplers or [])]
    unknown = [k for k in samplers or [] if k not in toy2d.SAMPLERS_2D]
    if unknown:
        raise gr.Error(f"unknown sampler(s) {', '.join(map(str, unknown))}; "
                       f"choose from {', '.join(toy2d.SAMPLERS_2D)}")
    if not chosen:
        raise gr.Error("Tick at least one sampler.")
    return chosen


def _run_samplers(state, den, s, samplers, steps, eta, particles, seed, progress=None, spacing="trailing"):
    """{sampler: (Trajectory, seconds)} from one x_T."""
    x_T = toy2d.start_noise(particles, seed)
    out = {}
    for i, k in enumerate(samplers):
        if progress is not None:
            progress((i, len(samplers)), desc=toy2d.SAMPLER_LABELS[k])
        t0 = time.perf_counter()
        with user_errors():
            tr = toy2d.sample_2d(den, s, x_T, sampler=k, num_steps=steps, eta=eta, seed=seed + 1, spacing=spacing)
        out[k] = (tr, time.perf_counter() - t0)
    return out


def _yardstick(state: dict, n: int) -> tuple[float, float]:
    """Energy distance of n fresh data points to the data subset: (mean, std) over 4 draws, cached per n.

    One draw fluctuates by ~25% at n = 1,000, and so does a sample set: a single yardstick made the ratios jump."""
    cache = state.setdefault("ref_cache", {})
    if n not in cache:
        d = [toy2d.energy_distance(state["dataset"].sample(n, state["seed"] + 10_000 + k), state["dist"])
             for k in range(4)]
        cache[n] = (float(np.mean(d)), float(np.std(d)))
    return cache[n]


def _distance_row(state: dict, samples: torch.Tensor) -> tuple[float, float]:
    """(energy distance to the data subset, the mean of the same for fresh data points: the yardstick)."""
    return toy2d.energy_distance(samples, state["dist"]), _yardstick(state, len(samples))[0]


def _check_sampling(state, samplers, steps, eta, particles, seed) -> tuple:
    """The sampling settings as (samplers, steps, η, particles, seed), or a gr.Error saying what is wrong."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    ks = _check_samplers(samplers)
    steps = whole_number(steps, "Number of steps", 1, MAX_STEPS, "PLAYGROUND_MAX_STEPS")
    particles = whole_number(particles, "Number of particles", 1, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    seed = whole_number(seed if seed is not None else 0, "Seed", 0, 2**31 - 1)
    with user_errors():
        eta = toy2d.as_finite(eta if eta is not None else 0.0, "η")
    if not 0 <= eta <= 1:
        raise gr.Error(f"η must be between 0 and 1, got {eta}")
    return ks, steps, eta, particles, seed


def _sample_job(state, model, schedule, ztsnr, ks, steps, eta, ideal, particles, seed, progress=None):
    """Train first if needed (Steps of the training), then a Step per sampler; Done carries every output and, as its
    result, (paths figure, animation figure, summary Markdown, run, model)."""
    s = lab_schedule(schedule, ztsnr)
    if ideal:
        den, out_model = toy2d.exact_denoiser(state["x0"], s), gr.skip()
    else:
        mdl = yield from _auto_train(state, model, schedule, ztsnr)
        den, out_model = mdl["den"], (mdl if mdl is not model else gr.skip())
    x_T, runs = toy2d.start_noise(particles, seed), {}
    for i, k in enumerate(ks):
        yield Step(i, len(ks), f"… **Running** — {toy2d.SAMPLER_LABELS[k]} ({i + 1} of {len(ks)} samplers)")
        if progress is not None:
            progress((i, len(ks)), desc=toy2d.SAMPLER_LABELS[k])
        t0 = time.perf_counter()
        with user_errors():
            tr = toy2d.sample_2d(den, s, x_T, sampler=k, num_steps=steps, eta=eta, seed=seed + 1, spacing="trailing")
        runs[k] = (tr, time.perf_counter() - t0)
    rows = {k: _distance_row(state, r[0].samples) for k, r in runs.items()}
    idx, parts = anim_frames(runs)
    run = {"frames": idx, "parts": parts, "data": state["dist"][:800].numpy(), "steps": steps,
           "ts": [next(iter(runs.values()))[0].ts[min(i, steps)] for i in idx]}
    md = summary_md(runs, rows, "exact" if ideal else "learned", steps, particles, _yardstick(state, particles))
    out = (plot_data(paths_figure(runs, state, steps, rows)),
           plot_data(anim_figure(runs, state, os.urandom(4).hex())), md, run, out_model)
    yield Done(md, dict(zip(SAMPLE_OUT, out)), out)


SAMPLE_OUT = ("paths", "anim", "summary", "run", "model", "loss", "train_status", "model_md")


def lab_sample(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, samplers, steps, eta, ideal: bool,
               particles, seed, progress=PROGRESS):
    """Run the chosen samplers from one x_T → (paths figure, animation figure, summary Markdown, run, model).

    With the learned score and no model for these settings, trains one first (AUTO_TRAIN_SECONDS)."""
    args = _check_sampling(state, samplers, steps, eta, particles, seed)
    adapt_threads()
    with interactive_work():
        return run_to_end(_sample_job(state, model, schedule, ztsnr, *args[:3], ideal, *args[3:], progress))


def lab_sample_stream(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, samplers, steps, eta,
                      ideal: bool, particles, seed, request: gr.Request = None):
    """The Sample button: streams SAMPLE_OUT (the training it needs first into the loss chart and the model line,
    then a status per sampler); Stop ends it with "Stopped at step k/N", keeping what is shown."""
    args = _check_sampling(state, samplers, steps, eta, particles, seed)
    adapt_threads()
    with interactive_work(), jobs.running("lab2d-sample", request) as stop:
        job = _sample_job(state, model, schedule, ztsnr, *args[:3], ideal, *args[3:])
        yield from stream(job, SAMPLE_OUT, stop, status="summary")


# --- GIF export ------------------------------------------------------------------------------------------------


def _raster(points: np.ndarray, size: int, value: int, img: np.ndarray, r: int = 1) -> None:
    """Draw points (P, 2) in [−VIEW, VIEW]² as (2r+1)² squares of palette index `value` into img (size, size)."""
    px = np.round((points[:, 0] + VIEW) / (2 * VIEW) * (size - 1)).astype(int)
    py = np.round((VIEW - points[:, 1]) / (2 * VIEW) * (size - 1)).astype(int)
    ok = np.isfinite(points).all(1) & (px >= r) & (px < size - r) & (py >= r) & (py < size - r)
    px, py = px[ok], py[ok]
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            img[py + dy, px + dx] = value


def _hex(c: str) -> tuple[int, int, int]:
    return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))


def lab_gif(run: dict | None, progress=PROGRESS) -> str:
    """The last sampling run as an animated GIF: one panel per sampler, one frame per shown step.

    Frames are drawn straight into palette indices (white, panel, data grey, black, one colour per sampler), so
    no frame needs colour quantization: 40 frames take well under a second."""
    if not run:
        raise gr.Error("Sample first: the GIF shows the last sampling run.")
    size, pad, title_h, head = 260, 8, 20, 24
    ks = list(run["parts"])
    ncol = min(3, len(ks))
    nrow = math.ceil(len(ks) / ncol)
    W, H = ncol * (size + pad) + pad, head + nrow * (size + pad + title_h) + pad
    font = render.caption_font(15)
    palette = [(255, 255, 255), (248, 248, 248), (185, 185, 185), (0, 0, 0)] + [_hex(COLORS[k]) for k in ks]
    flat = [c for rgb in palette for c in rgb] + [0] * (768 - 3 * len(palette))
    base = np.zeros((H, W), np.uint8)
    cells = []
    for i, k in enumerate(ks):
        r, c = divmod(i, ncol)
        x, y = pad + c * (size + pad), head + r * (size + pad + title_h) + title_h
        panel = np.ones((size, size), np.uint8)
        _raster(run["data"], size, 2, panel, r=0)
        base[y:y + size, x:x + size] = panel
        cells.append((k, x, y, 4 + i))
    frames = []
    for j, step in enumerate(run["frames"]):
        img = base.copy()
        for k, x, y, color in cells:
            view = img[y:y + size, x:x + size]
            _raster(run["parts"][k][j], size, color, view)
        pil = Image.fromarray(img, "P")
        pil.putpalette(flat)
        draw = ImageDraw.Draw(pil)
        t = run["ts"][j]
        draw.text((pad, 4), f"step {step} of {run['steps']}   t = {t if t >= 0 else 'clean'}", fill=3, font=font)
        for k, x, y, _ in cells:
            draw.text((x + 2, y - title_h + 4), render.drawable(GIF_LABELS[k], font), fill=3, font=font)
        frames.append(pil)
        progress((j + 1, len(run["frames"])), desc="drawing the GIF")
    path = out_path("lab2d-samplers", ".gif")
    durations = [110] * (len(frames) - 1) + [1500]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False)
    return str(path)


# --- memorization --------------------------------------------------------------------------------------------


def _log_hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin of log10(value); values at or below the first edge (0 included: a sample exactly on
    a training point) count in the first bin, above the last in the last."""
    logv = np.log10(np.clip(values, 10 ** edges[0], 10 ** edges[-1]))
    h, _ = np.histogram(np.clip(logv, edges[0], edges[-1]), bins=edges)
    return h / max(len(values), 1)


def lab_memorize(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, particles, seed,
                 progress=PROGRESS):
    """DDIM (η = 0, 100 steps, linspace spacing: it ends at t = 0) with the exact score and with the MLP, from one x_T.

    Returns (histogram figure of each sample's distance to its nearest training point, Markdown, model)."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    particles = whole_number(particles, "Number of particles", 1, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    seed = whole_number(seed if seed is not None else 0, "Seed", 0, 2**31 - 1)
    s = lab_schedule(schedule, ztsnr)
    steps = min(100, MAX_STEPS)
    adapt_threads()
    with interactive_work():
        mdl = _ensure_model(state, model, schedule, ztsnr, progress)
        x0 = state["x0"]
        res = {}
        for name, den in (("exact", toy2d.exact_denoiser(x0, s)), ("learned", mdl["den"])):
            progress((len(res), 2), desc=f"DDIM with the {name} score")
            tr = _run_samplers(state, den, s, ["ddim"], steps, 0.0, particles, seed, spacing="linspace")["ddim"][0]
            res[name] = toy2d.nearest_distance(tr.samples, x0).numpy()
    fresh = toy2d.nearest_distance(state["dataset"].sample(particles, state["seed"] + 20_000), x0).numpy()
    edges = np.linspace(-5, 0.5, 45)
    centers = 10 ** ((edges[:-1] + edges[1:]) / 2)
    fig = go.Figure()
    for name, vals, color in (("fresh data points (the yardstick)", fresh, "#999999"),
                              ("trained MLP", res["learned"], LEARNED_COLOR),
                              ("ideal denoiser (exact score)", res["exact"], EXACT_COLOR)):
        fig.add_trace(go.Scatter(x=centers, y=_log_hist(vals, edges), name=name, mode="lines",
                                 line=dict(color=color, width=3, shape="hvh"), fill="tozeroy", opacity=0.5))
    fig.update_xaxes(type="log", title="distance from each sample to its nearest training point (the first bin "
                                      "holds everything ≤ 10⁻⁵, exact hits included)", exponentformat="power")
    fig.update_yaxes(title="share of samples")
    fig.update_layout(template="plotly_white", height=360, font=FONT, margin=dict(l=60, r=20, t=40, b=60),
                      legend=dict(orientation="h", y=1.12, x=0), title=None)
    med = {k: float(np.median(v)) for k, v in (("exact", res["exact"]), ("learned", res["learned"]), ("fresh", fresh))}
    hits = {k: float(np.mean(v < 1e-5)) for k, v in (("exact", res["exact"]), ("learned", res["learned"]))}
    md = (f"Median distance to the nearest of the N = {len(x0):,} training points: ideal denoiser "
          f"**{med['exact']:.2g}**, trained MLP **{med['learned']:.2g}**, fresh data **{med['fresh']:.2g}**. "
          f"Samples within 10⁻⁵ of a training point: ideal denoiser **{hits['exact']:.0%}**, trained MLP "
          f"{hits['learned']:.0%}. The exact score of N points is the score of a mixture of N tiny Gaussians: "
          f"followed to t = 0 it lands every particle **on a training point** (memorization). The network cannot "
          f"represent such a spiky field, so its samples fall *between* the points, like fresh data: it generalizes. "
          f"Fewer points make it plainer.")
    out_model = mdl if mdl is not model else gr.skip()
    return plot_data(fig), md, out_model


# --- study: distance for each sampler × steps -----------------------------------------------------------------------


def lab_study(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, ideal: bool, eta, particles, seed,
              samplers=toy2d.SAMPLERS_2D, steps_list=STUDY_STEPS, progress=PROGRESS):
    """Distance to the data for every sampler × number of steps → (heatmap figure, Markdown table, model)."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    ks = _check_samplers(samplers)
    particles = whole_number(particles, "Number of particles", 1, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    seed = whole_number(seed if seed is not None else 0, "Seed", 0, 2**31 - 1)
    steps_list = [int(n) for n in steps_list if 1 <= int(n) <= MAX_STEPS]
    s = lab_schedule(schedule, ztsnr)
    adapt_threads()
    out_model = gr.skip()
    with interactive_work():
        if ideal:
            den = toy2d.exact_denoiser(state["x0"], s)
        else:
            mdl = _ensure_model(state, model, schedule, ztsnr, progress)
            den, out_model = mdl["den"], (mdl if mdl is not model else gr.skip())
        ratio = np.full((len(ks), len(steps_list)), np.nan)
        nfe = np.zeros_like(ratio, dtype=int)
        total = len(ks) * len(steps_list)
        for j, n in enumerate(steps_list):
            runs = _run_samplers(state, den, s, ks, n, float(eta or 0.0), particles, seed)
            for i, k in enumerate(ks):
                d, ref = _distance_row(state, runs[k][0].samples)
                ratio[i, j] = d / ref
                nfe[i, j] = runs[k][0].nfe
                progress((j * len(ks) + i + 1, total), desc=f"{toy2d.SAMPLER_LABELS[k]}, {n} steps")
    text = [[f"{ratio[i, j]:.2f}×" for j in range(len(steps_list))] for i in range(len(ks))]
    fig = go.Figure(go.Heatmap(z=np.log2(np.maximum(ratio, 1e-3)), x=[str(n) for n in steps_list],
                               y=[toy2d.SAMPLER_LABELS[k] for k in ks], text=text, texttemplate="%{text}",
                               textfont=dict(size=16), colorscale="RdYlGn_r", zmin=0, zmax=3, showscale=False,
                               hoverinfo="skip"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(template="plotly_white", height=90 + 52 * len(ks), font=FONT, xaxis_title="steps",
                      margin=dict(l=230, r=20, t=40, b=50),
                      title="energy distance to the data ÷ data-vs-data "
                            f"({'exact score' if ideal else 'trained MLP'})")
    head = ("| sampler | " + " | ".join(f"{n} steps" for n in steps_list) + " |\n|---|" + "---|" * len(steps_list)
            + "\n")
    body = "\n".join(f"| {toy2d.SAMPLER_LABELS[k]} | " + " | ".join(f"{ratio[i, j]:.2f}× ({nfe[i, j]} evals)"
                                                              for j in range(len(steps_list))) + " |"
                     for i, k in enumerate(ks))
    md = (f"{particles:,} particles from one x_T per cell. 1× = as far from the data as {particles:,} "
          f"fresh data points; green is good. In brackets: score evaluations (Heun uses two per step, Langevin L "
          f"per level).\n\n" + head + body)
    return plot_data(fig), md, out_model


# --- the public endpoint ---------------------------------------------------------------------------------------------

_API_MODELS: OrderedDict[tuple, Any] = OrderedDict()  # settings → trained Denoiser, shared read-only between calls
_API_LOCK = threading.Lock()
_API_KEY_LOCKS: dict[tuple, threading.Lock] = {}


def _api_model(state: dict, schedule: str, ztsnr: bool, objective: str = "v", rounds: int = 0):
    """A trained MLP for these settings: from the small server-side cache, or trained once (AUTO_TRAIN_SECONDS;
    a flow model with reflow rounds trains that long per round). Concurrent calls with the same settings wait for
    one training instead of each running their own."""
    key = (model_key(state, schedule, ztsnr), objective, rounds)
    with _API_LOCK:
        lock = _API_KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _API_LOCK:
            if key in _API_MODELS:
                _API_MODELS.move_to_end(key)
                return _API_MODELS[key]
        if objective == "flow" and rounds:
            cfg = toy2d.TrainConfig2D(time_budget_s=AUTO_TRAIN_SECONDS, seed=0)
            last = list(toy2d.reflow(state["x0"], rounds=rounds, cfg=cfg, n_test=2))[-1]
            mdl = {"key": key[0], "den": toy2d.flow_denoiser(last.model, lab_schedule(schedule, ztsnr)),
                   "net": last.model, "objective": objective, "steps": None}
        else:
            mdl = _ensure_model(state, {"objective": objective}, schedule, ztsnr)
        with _API_LOCK:
            _API_MODELS[key] = mdl
            while len(_API_MODELS) > 4:
                old, _ = _API_MODELS.popitem(last=False)
                _API_KEY_LOCKS.pop(old, None)
        return mdl


def lab2d_api(dataset: str = "moons", n_points: int = 2000, sampler: str = "ddim", steps: int = 100, eta: float = 0.0,
              score_source: str = "learned", seed: int = 0, schedule: str = "cosine", particles: int = 1000,
              objective: str = "v", reflow_rounds: int = 0):
    """Public endpoint `lab2d`: sample a 2-D toy distribution with one sampler.

    Args:
        dataset: "moons" | "swiss_roll" | "gaussians8" | "checkerboard" | "circles" | "gaussian".
        n_points: points in the dataset (8 … PLAYGROUND_LAB2D_MAX_POINTS); the data is standardized and seeded.
        sampler: "ddpm" | "ddim" | "dpmpp_2m" | "pf_ode" | "sde" | "langevin".
        steps: sampler steps (1 … PLAYGROUND_MAX_STEPS).
        eta: DDIM's η in [0, 1] (other samplers ignore it).
        score_source: "learned" (the MLP; trained first, within PLAYGROUND_LAB2D_AUTO_SECONDS, if the server has
            none for these settings yet) or "exact" (the exact score of the n_points training points).
        seed: seeds the data, x_T and the sampler's noise.
        schedule: "linear" | "cosine" | "scaled_linear" | "sigmoid" (T = 1000).
        particles: number of samples (1 … PLAYGROUND_LAB2D_MAX_PARTICLES).
        objective: the learned model's training target: "v" | "eps" | "x0" | "flow" (flow matching).
        reflow_rounds: 0 … 3 reflows of the flow model (objective "flow" only; each trains as long as the first).
            With a flow model, sampler may also be "euler" or "heun" on its own ODE (uniform t from 1 to 0).
    Returns:
        (samples as a list of [x, y], the dataset's points as a list of [x, y],
         {"energy_distance", "data_vs_data", "ratio", "nfe", "sampler", "score_source", "trained_steps"}).
    """
    source = str(score_source).strip().lower()
    if source in ("ideal", "ideal denoiser", "exact score"):
        source = "exact"
    if source not in ("learned", "exact"):
        raise gr.Error(f"score_source must be 'learned' or 'exact', got {score_source!r}")
    if schedule not in dict((v, k) for k, v in SCHEDULE_CHOICES):
        raise gr.Error(f"unknown schedule {schedule!r}; choose one of linear, cosine, scaled_linear, sigmoid")
    if str(dataset) == DRAWING:
        raise gr.Error("The API takes a named dataset; drawings live in the browser tab.")
    objective, rounds = _check_api_flow(objective, reflow_rounds, source)
    name = str(sampler).strip().lower()
    if name in FLOW_ODE_SOLVERS and objective != "flow" and source == "learned":
        raise gr.Error(f"sampler {name!r} integrates a flow model's ODE: pass objective='flow' (or use ddim, "
                       f"whose η = 0 steps are Euler's on that ODE)")
    ks = [name] if name in FLOW_ODE_SOLVERS else _check_samplers([name])
    state = lab_data(dataset, n_points, seed)
    steps = whole_number(steps, "Number of steps", 1, MAX_STEPS, "PLAYGROUND_MAX_STEPS")
    particles = whole_number(particles, "Number of particles", 1, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    with user_errors():
        eta = toy2d.as_finite(eta, "η")
    if not 0 <= eta <= 1:
        raise gr.Error(f"η must be between 0 and 1, got {eta}")
    adapt_threads()
    with interactive_work():
        return run_to_end(_api_job(state, source, schedule, ks[0], steps, eta, particles, seed, objective, rounds))


FLOW_ODE_SOLVERS = ("euler", "heun")
API_OBJECTIVES = ("v", "eps", "x0", "flow")


def _check_api_flow(objective, reflow_rounds, source: str) -> tuple[str, int]:
    objective = str(objective).strip().lower()
    objective = {"u": "flow", "flow_matching": "flow", "epsilon": "eps"}.get(objective, objective)
    if objective not in API_OBJECTIVES:
        raise gr.Error(f"objective must be one of {', '.join(API_OBJECTIVES)}; got {objective!r}")
    rounds = whole_number(reflow_rounds, "reflow_rounds", 0, 3)
    if rounds and objective != "flow":
        raise gr.Error("reflow_rounds needs objective='flow': reflow retrains a flow model on its own pairs")
    if rounds and source != "learned":
        raise gr.Error("reflow_rounds needs score_source='learned': the exact field is not retrained")
    return objective, rounds


def _api_job(state: dict, source: str, schedule: str, sampler: str, steps: int, eta: float, particles: int, seed: int,
             objective: str = "v", rounds: int = 0):
    """/lab2d as a job: the score (exact, or the server's trained MLP), one sampler; Done's result is the answer."""
    s = lab_schedule(schedule, False)
    if source == "exact":
        den, trained = toy2d.exact_denoiser(state["x0"], s), None
        u = toy2d.exact_velocity_fn(state["x0"])
    else:
        yield Step(0, 1, "training the server's model for these settings (once)")
        mdl = _api_model(state, schedule, False, objective, rounds)
        den, trained = mdl["den"], mdl["steps"]
        u = toy2d.model_velocity_fn(mdl["net"]) if mdl.get("net") is not None else None
    if sampler in FLOW_ODE_SOLVERS:
        yield Step(0, 1, f"integrating the flow ODE with {sampler}")
        with torch.no_grad():
            tr = toy2d.flow_ode(u, toy2d.start_noise(particles, seed), steps, sampler)
    else:
        yield Step(0, 1, f"sampling with {toy2d.SAMPLER_LABELS[sampler]}")
        tr = _run_samplers(state, den, s, [sampler], steps, eta, particles, seed)[sampler][0]
    d, ref = _distance_row(state, tr.samples)
    info = {"energy_distance": d, "data_vs_data": ref, "ratio": d / ref, "nfe": tr.nfe, "sampler": sampler,
            "score_source": source, "trained_steps": trained, "n_points": len(state["x0"]), "particles": particles,
            "objective": objective if source == "learned" else None, "reflow_rounds": rounds}
    r = lambda a: np.round(a.numpy().astype(np.float64), 5).tolist()  # noqa: E731
    yield Done("done", result=(r(tr.samples), r(state["x0"]), info))


# --- first load ------------------------------------------------------------------------------------------------------


def lab_init(dataset, n_points, seed, drawing, model, schedule, ztsnr, t, arrows):
    """Page load: the default (or deep-linked) dataset drawn at the current t; a bad link value falls back."""
    try:
        return lab_load(dataset, n_points, seed, drawing, model, schedule, ztsnr, t, arrows)
    except gr.Error:
        return lab_load("moons", toy2d.DEFAULT_N, 0, None, model, schedule, ztsnr, t, arrows)
