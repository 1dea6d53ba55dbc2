"""The 2-D lab tab's sampling figures: one panel per sampler with the particles' paths, the animation over the
steps (frames carried in layout.meta, registered by ANIM_JS), and the summary table. Plain dicts, no maths.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import math

import numpy as np

from playground import toy2d
from playground.ui.lab2d.config import ANIM_FRAMES, ANIM_PARTICLES, COLORS, FONT, PATH_COLORS, PATHS, VIEW
from playground.ui.lab2d.view import f4


def panels(titles: list[str], row_height: int, top: int = 50, bottom: int = 10) -> tuple[dict, list[str]]:
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


def on_axes(suf: str, trace: dict) -> dict:
    return {**trace, "xaxis": f"x{suf}", "yaxis": f"y{suf}", "hoverinfo": "skip"}


def path_traces(suf: str, xs: np.ndarray, data: np.ndarray, color: str) -> list[dict]:
    """One panel's traces: the data (grey), the samples xs[-1] (colour), and the paths of the first PATHS particles
    (one colour per particle, the same in every panel: follow it across panels), ○ at their start, ● at their end."""
    fin = xs[-1][:800]
    out = [on_axes(suf, {"type": "scatter", "mode": "markers", "x": f4(data[:, 0]), "y": f4(data[:, 1]),
                         "marker": {"size": 3, "color": "#bbbbbb"}}),
           on_axes(suf, {"type": "scatter", "mode": "markers", "x": f4(fin[:, 0]), "y": f4(fin[:, 1]),
                         "marker": {"size": 3, "color": color, "opacity": 0.45}})]
    p = xs[:, :PATHS, :]  # (n+1, P, 2)
    for j in range(p.shape[1]):
        out.append(on_axes(suf, {"type": "scatter", "mode": "lines", "x": f4(p[:, j, 0]), "y": f4(p[:, j, 1]),
                                 "opacity": 0.75, "line": {"color": PATH_COLORS[j % len(PATH_COLORS)], "width": 1.1}}))
    out.append(on_axes(suf, {"type": "scatter", "mode": "markers", "x": f4(p[0, :, 0]), "y": f4(p[0, :, 1]),
                             "marker": {"size": 7, "color": "white", "line": {"color": "#222", "width": 1.5}}}))
    out.append(on_axes(suf, {"type": "scatter", "mode": "markers", "x": f4(p[-1, :, 0]), "y": f4(p[-1, :, 1]),
                             "marker": {"size": 8, "color": PATH_COLORS[:p.shape[1]],
                                        "line": {"color": "#222", "width": 1}}}))
    return out


def paths_figure(runs: dict, state: dict, steps: int, rows: dict) -> dict:
    """One panel per sampler: data, samples, the paths of PATHS particles. SVG traces, not WebGL: every WebGL
    subplot holds a GL context, and Chromium drops the oldest beyond ~16 (the tab's density plot went blank)."""
    ks = list(runs)
    titles = [f"<b>{toy2d.SAMPLER_LABELS[k]}</b><br>D = {rows[k][0]:.3f} ({rows[k][0] / rows[k][1]:.2f}× data)"
              for k in ks]
    layout, sufs = panels(titles, 340)
    data = state["dist"][:600].numpy()
    traces = [tr for k, suf in zip(ks, sufs) for tr in path_traces(suf, runs[k][0].xs.numpy(), data, COLORS[k])]
    return {"data": traces, "layout": layout}


def anim_frames(runs: dict) -> tuple[list[int], dict]:
    """Step indices shown by the animation, and each sampler's particles there, (frames, P, 2)."""
    n = max(len(r[0].xs) for r in runs.values())
    idx = sorted(set(np.linspace(0, n - 1, min(ANIM_FRAMES, n)).round().astype(int).tolist()))
    return idx, {k: r[0].xs[idx, :ANIM_PARTICLES].numpy() for k, r in runs.items()}


def anim_figure(runs: dict, state: dict, run_id: str) -> dict:
    """Plotly figure with frames and a play button. gr.Plot drops a figure's frames (it calls Plotly.react with
    data and layout only), so they travel in layout.meta and ANIM_JS registers them with Plotly.addFrames."""
    idx, parts = anim_frames(runs)
    ks = list(parts)
    layout, sufs = panels([toy2d.SAMPLER_LABELS[k] for k in ks], 320, top=60, bottom=90)
    data = state["dist"][:600].numpy()
    rnd = lambda a: np.round(a, 3).tolist()  # noqa: E731  (frames are plain lists: Plotly.addFrames takes them as is)
    traces = []
    for k, suf in zip(ks, sufs):
        traces.append(on_axes(suf, {"type": "scatter", "mode": "markers", "x": rnd(data[:, 0]), "y": rnd(data[:, 1]),
                                "marker": {"size": 3, "color": "#cccccc"}}))
        p = parts[k][0]
        traces.append(on_axes(suf, {"type": "scatter", "mode": "markers", "x": rnd(p[:, 0]), "y": rnd(p[:, 1]),
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


def summary_md(runs: dict, rows: dict, source: str, steps: int, particles: int, yard: tuple[float, float]) -> str:
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
