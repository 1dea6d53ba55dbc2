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
from PIL import Image, ImageDraw, ImageFont

from playground import toy2d
from playground.ui.files import out_path
from playground.ui.lab2d.config import (
    ANIM_FRAMES,
    ANIM_PARTICLES,
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
    PATH_COLORS,
    PATHS,
    STUDY_STEPS,
    TRAIN_STEPS,
    VIEW,
)
from playground.ui.lab2d.session import lab_data, lab_schedule, model_key, valid_model, whole_number
from playground.ui.lab2d.view import f4, lab_load, plot_data
from playground.ui.limits import adapt_threads, interactive_work
from playground.ui.page import PROGRESS, SCHEDULE_CHOICES, user_errors

# --- training -----------------------------------------------------------------------------------------------


def _loss_figure(loss: list[float]) -> dict:
    """Training loss per step and its running mean (log y), as a plain dict: it streams every 0.4 s while the
    trainer runs, so building it must not steal the trainer's CPU (a go.Figure costs ~50 ms)."""
    y = np.asarray(loss, dtype=np.float32)
    steps = np.arange(1, len(y) + 1, dtype=np.float32)
    k = min(50, len(y))
    mean = np.convolve(y, np.ones(k) / k, mode="valid") if k else y
    return {"data": [{"type": "scatter", "mode": "lines", "x": f4(steps), "y": f4(y), "name": "batch loss",
                      "line": {"color": "#9ecae1", "width": 1.5}},
                     {"type": "scatter", "mode": "lines", "x": f4(steps[k - 1:]), "y": f4(mean),
                      "name": f"mean of last {k}", "line": {"color": "#08519c", "width": 3}}],
            "layout": {"height": 300, "font": FONT, "plot_bgcolor": "white", "paper_bgcolor": "white",
                       "title": {"text": "training loss (streams while it trains)", "x": 0.01},
                       "xaxis": {"title": {"text": "step"}, "gridcolor": "#eee"},
                       "yaxis": {"type": "log", "gridcolor": "#eee"}, "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
                       "legend": {"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.3}, "uirevision": "loss"}}


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
            "steps": trainer.step, "seconds": trainer.elapsed_s, "label": state["label"], "n": len(state["x0"])}


def describe_model(model: dict | None, state: dict | None, schedule: str, ztsnr: bool) -> str:
    if not model:
        return "No model yet: press **Train** (or just sample: it trains first)."
    ok = valid_model(model, state, schedule, ztsnr) is not None
    what = (f"MLP ({toy2d.ScoreMLP(toy2d.MLPConfig()).num_params():,} parameters, "
            f"{model['objective']}-prediction) trained {model['steps']:,} steps in {model['seconds']:.1f} s on "
            f"{model['label']} (N = {model['n']:,})")
    return what + ("." if ok else ", **for other settings**: train again for these.")


def lab_train(state: dict | None, schedule: str, ztsnr: bool, seconds, objective: str = "v"):
    """Train the MLP for `seconds`, streaming (loss figure, status Markdown, model state).

    The model state is streamed too, so a Stop keeps the model as it is at that moment."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    seconds = float(min(max(float(seconds or AUTO_TRAIN_SECONDS), 0.5), MAX_TRAIN_SECONDS))
    adapt_threads()
    last = 0.0
    with interactive_work():
        for trainer, ev in _train(state, schedule, ztsnr, seconds, objective):
            now = time.perf_counter()
            if ev.done or now - last > 0.4:
                last = now
                status = (f"step **{ev.step:,}** · {ev.elapsed_s:.1f} of {seconds:.0f} s · loss {ev.loss_avg:.4f}"
                          + (" · **done**" if ev.done else ""))
                yield (plot_data(_loss_figure(trainer.losses)), status,
                       _model_state(trainer, state, schedule, ztsnr, objective))


def _ensure_model(state: dict, model: dict | None, schedule: str, ztsnr: bool, progress=None) -> dict:
    """The session's model if it matches the settings, else a fresh one trained for AUTO_TRAIN_SECONDS."""
    mdl = valid_model(model, state, schedule, ztsnr)
    if mdl is not None:
        return mdl
    objective = (model or {}).get("objective", "v")
    trainer = None
    for trainer, ev in _train(state, schedule, ztsnr, AUTO_TRAIN_SECONDS, objective):  # noqa: B007 (used after)
        if progress is not None:
            progress((min(ev.elapsed_s, AUTO_TRAIN_SECONDS), AUTO_TRAIN_SECONDS), desc="no model yet: training first",
                     unit="s")
    return _model_state(trainer, state, schedule, ztsnr, objective)


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


def _panels(titles: list[str], row_height: int, top: int = 50, bottom: int = 10) -> tuple[dict, list[str]]:
    """Layout of a grid of square panels (≤ 3 per row) over [−VIEW, VIEW]², with a title above each.
    Returns (layout, axis suffixes). Plain dicts: make_subplots + go objects took ~1 s for these figures."""
    n = len(titles)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    height = row_height * nrow + top + bottom
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": top, "b": bottom}, "showlegend": False,
              "plot_bgcolor": "white", "paper_bgcolor": "white", "font": FONT, "hovermode": False, "annotations": []}
    title_h = 42 / height  # paper units for two lines of title
    sufs = []
    for i, title in enumerate(titles):
        r, c = divmod(i, ncol)
        suf = "" if i == 0 else str(i + 1)
        x0, x1 = c / ncol + 0.012, (c + 1) / ncol - 0.012
        y1 = 1 - r / nrow - (title_h if r else title_h * 0.35)
        y0 = 1 - (r + 1) / nrow + (0.02 if r < nrow - 1 else 0)
        ax = {"range": [-VIEW, VIEW], "showticklabels": False, "showgrid": False, "zeroline": False,
              "showline": True, "linecolor": "#ddd", "mirror": True, "constrain": "domain"}
        layout[f"xaxis{suf}"] = {**ax, "domain": [x0, x1], "anchor": f"y{suf}"}
        layout[f"yaxis{suf}"] = {**ax, "domain": [y0, y1], "anchor": f"x{suf}", "scaleanchor": f"x{suf}",
                                 "scaleratio": 1}
        layout["annotations"].append({"text": title, "x": (x0 + x1) / 2, "y": y1, "xref": "paper", "yref": "paper",
                                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 14}})
        sufs.append(suf)
    return layout, sufs


def _on(suf: str, trace: dict) -> dict:
    return {**trace, "xaxis": f"x{suf}", "yaxis": f"y{suf}", "hoverinfo": "skip"}


def _paths_figure(runs: dict, state: dict, steps: int, rows: dict) -> dict:
    """One panel per sampler: data, samples, the paths of PATHS particles. SVG traces, not WebGL: every WebGL
    subplot holds a GL context, and Chromium drops the oldest beyond ~16 (the tab's density plot went blank)."""
    ks = list(runs)
    titles = [f"<b>{toy2d.SAMPLER_LABELS[k]}</b><br>D = {rows[k][0]:.3f} ({rows[k][0] / rows[k][1]:.2f}× data)"
              for k in ks]
    layout, sufs = _panels(titles, 340)
    data = state["dist"][:600].numpy()
    traces = []
    for k, suf in zip(ks, sufs):
        xs = runs[k][0].xs.numpy()
        fin = xs[-1][:800]
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": f4(data[:, 0]), "y": f4(data[:, 1]),
                                "marker": {"size": 3, "color": "#bbbbbb"}}))
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": f4(fin[:, 0]), "y": f4(fin[:, 1]),
                                "marker": {"size": 3, "color": COLORS[k], "opacity": 0.45}}))
        p = xs[:, :PATHS, :]  # (n+1, P, 2)
        for j in range(p.shape[1]):  # one colour per particle, the same in every panel: follow it across samplers
            traces.append(_on(suf, {"type": "scatter", "mode": "lines", "x": f4(p[:, j, 0]), "y": f4(p[:, j, 1]),
                                    "opacity": 0.75,
                                    "line": {"color": PATH_COLORS[j % len(PATH_COLORS)], "width": 1.1}}))
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": f4(p[0, :, 0]), "y": f4(p[0, :, 1]),
                                "marker": {"size": 7, "color": "white", "line": {"color": "#222", "width": 1.5}}}))
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": f4(p[-1, :, 0]), "y": f4(p[-1, :, 1]),
                                "marker": {"size": 8, "color": PATH_COLORS[:p.shape[1]],
                                           "line": {"color": "#222", "width": 1}}}))
    return {"data": traces, "layout": layout}


def _anim_frames(runs: dict) -> tuple[list[int], dict]:
    """Step indices shown by the animation, and each sampler's particles there, (frames, P, 2)."""
    n = max(len(r[0].xs) for r in runs.values())
    idx = sorted(set(np.linspace(0, n - 1, min(ANIM_FRAMES, n)).round().astype(int).tolist()))
    return idx, {k: r[0].xs[idx, :ANIM_PARTICLES].numpy() for k, r in runs.items()}


def _anim_figure(runs: dict, state: dict, run_id: str) -> dict:
    """Plotly figure with frames and a play button. gr.Plot drops a figure's frames (it calls Plotly.react with
    data and layout only), so they travel in layout.meta and ANIM_JS registers them with Plotly.addFrames."""
    idx, parts = _anim_frames(runs)
    ks = list(parts)
    layout, sufs = _panels([toy2d.SAMPLER_LABELS[k] for k in ks], 320, top=60, bottom=90)
    data = state["dist"][:600].numpy()
    rnd = lambda a: np.round(a, 3).tolist()  # noqa: E731  (frames are plain lists: Plotly.addFrames takes them as is)
    traces = []
    for k, suf in zip(ks, sufs):
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": rnd(data[:, 0]), "y": rnd(data[:, 1]),
                                "marker": {"size": 3, "color": "#cccccc"}}))
        p = parts[k][0]
        traces.append(_on(suf, {"type": "scatter", "mode": "markers", "x": rnd(p[:, 0]), "y": rnd(p[:, 1]),
                                "marker": {"size": 4, "color": COLORS[k]}}))
    moving = [2 * i + 1 for i in range(len(ks))]
    first = next(iter(runs.values()))[0]
    frames, labels = [], []
    for j, step in enumerate(idx):
        t = first.ts[min(step, len(first.ts) - 1)]
        labels.append(f"{step} of {len(first.xs) - 1} (t = {t if t >= 0 else 'clean'})")
        frames.append({"name": str(j), "traces": moving,
                       "data": [{"x": rnd(parts[k][j][:, 0]), "y": rnd(parts[k][j][:, 1])} for k in ks]})
    anim = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    layout["updatemenus"] = [{
        "type": "buttons", "direction": "left", "x": 0.0, "y": 0, "xanchor": "left", "yanchor": "top",
        "showactive": False, "pad": {"t": 10},
        "buttons": [{"label": "▶ play", "method": "animate",
                     "args": [None, {**anim, "frame": {"duration": 110, "redraw": False}, "fromcurrent": True}]},
                    {"label": "❚❚ pause", "method": "animate", "args": [[None], anim]}]}]
    layout["sliders"] = [{"active": 0, "x": 0.2, "len": 0.8, "y": 0, "yanchor": "top", "pad": {"t": 10},
                          "currentvalue": {"visible": True, "prefix": "step ", "font": {"size": 15}},
                          "steps": [{"label": labels[j], "method": "animate", "args": [[str(j)], anim]}
                                    for j in range(len(idx))]}]
    layout["title"] = {"text": "every sampler's particles over the steps, from one x<sub>T</sub> (grey: the data)",
                       "x": 0.01, "font": {"size": 15}}
    layout["meta"] = {"run": run_id, "frames": frames}
    return {"data": traces, "layout": layout}


ANIM_JS = """
() => {
  const add = (n) => {
    const gd = document.querySelector('#lab2d-anim .js-plotly-plot');
    const meta = gd && gd.layout && gd.layout.meta;
    if (!gd || !window.Plotly || !meta || !meta.frames) { if (n < 100) setTimeout(() => add(n + 1), 100); return; }
    const frames = meta.frames; delete meta.frames;
    window.Plotly.deleteFrames(gd).then(() => window.Plotly.addFrames(gd, frames))
      .then(() => { gd.dataset.frames = String(frames.length); });
  };
  add(0);
  return [];
}
"""


def _summary_md(runs: dict, rows: dict, source: str, steps: int, particles: int, yard: tuple[float, float]) -> str:
    head = ("| sampler | score evaluations | time, s | energy distance D to the data | D ÷ data-vs-data |\n"
            "|---|---|---|---|---|\n")
    body = "\n".join(f"| {toy2d.SAMPLER_LABELS[k]} | {runs[k][0].nfe} | {runs[k][1]:.2f} | {rows[k][0]:.4f} | "
                     f"**{rows[k][0] / rows[k][1]:.2f}×** |" for k in runs)
    ref, spread = yard
    src = ("the **exact score** of the N training points (ideal denoiser)" if source == "exact"
           else "the **trained MLP**")
    return (f"{particles:,} particles, {steps} steps, score from {src}. Yardstick: {particles:,} fresh "
            f"points of the same distribution are D = {ref:.4f} ± {spread:.4f} from the data (4 draws), so 1× is as "
            f"good as real data, and ±{spread / ref:.0%} is chance.\n\n" + head + body)


def lab_sample(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, samplers, steps, eta, ideal: bool,
               particles, seed, progress=PROGRESS):
    """Run the chosen samplers from one x_T → (paths figure, animation figure, summary Markdown, run, model).

    With the learned score and no model for these settings, trains one first (AUTO_TRAIN_SECONDS)."""
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
    s = lab_schedule(schedule, ztsnr)
    adapt_threads()
    with interactive_work():
        if ideal:
            den, out_model = toy2d.exact_denoiser(state["x0"], s), gr.skip()
        else:
            mdl = _ensure_model(state, model, schedule, ztsnr, progress)
            den, out_model = mdl["den"], (mdl if mdl is not model else gr.skip())
        runs = _run_samplers(state, den, s, ks, steps, eta, particles, seed, progress)
    rows = {k: _distance_row(state, r[0].samples) for k, r in runs.items()}
    run_id = os.urandom(4).hex()
    idx, parts = _anim_frames(runs)
    run = {"frames": idx, "parts": parts, "data": state["dist"][:800].numpy(), "steps": steps,
           "ts": [next(iter(runs.values()))[0].ts[min(i, steps)] for i in idx]}
    return (plot_data(_paths_figure(runs, state, steps, rows)), plot_data(_anim_figure(runs, state, run_id)),
            _summary_md(runs, rows, "exact" if ideal else "learned", steps, particles, _yardstick(state, particles)),
            run, out_model)


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
    font = ImageFont.load_default(size=15)
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
            draw.text((x + 2, y - title_h + 4), GIF_LABELS[k], fill=3, font=font)
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


def _api_model(state: dict, schedule: str, ztsnr: bool):
    """A trained MLP for these settings: from the small server-side cache, or trained once (AUTO_TRAIN_SECONDS).
    Concurrent calls with the same settings wait for one training instead of each running their own."""
    key = model_key(state, schedule, ztsnr)
    with _API_LOCK:
        lock = _API_KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _API_LOCK:
            if key in _API_MODELS:
                _API_MODELS.move_to_end(key)
                return _API_MODELS[key]
        mdl = _ensure_model(state, None, schedule, ztsnr)
        with _API_LOCK:
            _API_MODELS[key] = mdl
            while len(_API_MODELS) > 4:
                old, _ = _API_MODELS.popitem(last=False)
                _API_KEY_LOCKS.pop(old, None)
        return mdl


def lab2d_api(dataset: str = "moons", n_points: int = 2000, sampler: str = "ddim", steps: int = 100, eta: float = 0.0,
              score_source: str = "learned", seed: int = 0, schedule: str = "cosine", particles: int = 1000):
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
    ks = _check_samplers([str(sampler).strip().lower()])
    state = lab_data(dataset, n_points, seed)
    steps = whole_number(steps, "Number of steps", 1, MAX_STEPS, "PLAYGROUND_MAX_STEPS")
    particles = whole_number(particles, "Number of particles", 1, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    with user_errors():
        eta = toy2d.as_finite(eta, "η")
    if not 0 <= eta <= 1:
        raise gr.Error(f"η must be between 0 and 1, got {eta}")
    s = lab_schedule(schedule, False)
    adapt_threads()
    with interactive_work():
        if source == "exact":
            den, trained = toy2d.exact_denoiser(state["x0"], s), None
        else:
            mdl = _api_model(state, schedule, False)
            den, trained = mdl["den"], mdl["steps"]
        tr = _run_samplers(state, den, s, ks, steps, eta, particles, seed)[ks[0]][0]
    d, ref = _distance_row(state, tr.samples)
    info = {"energy_distance": d, "data_vs_data": ref, "ratio": d / ref, "nfe": tr.nfe, "sampler": ks[0],
            "score_source": source, "trained_steps": trained, "n_points": len(state["x0"]), "particles": particles}
    r = lambda a: np.round(a.numpy().astype(np.float64), 5).tolist()  # noqa: E731
    return r(tr.samples), r(state["x0"]), info


# --- first load ------------------------------------------------------------------------------------------------------


def lab_init(dataset, n_points, seed, drawing, model, schedule, ztsnr, t, arrows):
    """Page load: the default (or deep-linked) dataset drawn at the current t; a bad link value falls back."""
    try:
        return lab_load(dataset, n_points, seed, drawing, model, schedule, ztsnr, t, arrows)
    except gr.Error:
        return lab_load("moons", toy2d.DEFAULT_N, 0, None, model, schedule, ztsnr, t, arrows)
