"""The 2-D lab tab's view on one move of t: the q_t and score figures (plotly, built as plain dicts on the hot
path), the numbers under them, and the reload when the dataset changes.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import base64
import json
import math

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from gradio.components.plot import PlotData

from playground import toy2d
from playground.ui.lab2d.config import CELL, CLOUD_COLOR, DRAWING, EXACT_COLOR, FONT, GRID, LEARNED_COLOR, VIEW
from playground.ui.lab2d.session import clamp_t, lab_data, lab_schedule, valid_model

# --- plotly figures, built as plain dicts on the hot path -----------------------------------------------


def f4(a) -> dict:
    """A numeric array as plotly.js's typed-array spec (float32, base64): 5x smaller and faster than lists."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    spec = {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode()}
    if a.ndim > 1:
        spec["shape"] = ",".join(map(str, a.shape))
    return spec


def _square_layout(title: str, height: int = 500) -> dict:
    ax = dict(range=[-VIEW, VIEW], zeroline=False, showgrid=False, ticks="outside", mirror=True, showline=True,
              linecolor="#888", constrain="domain")
    return {"title": {"text": title, "font": {"size": 16}, "x": 0.02, "xanchor": "left"},
            "xaxis": ax, "yaxis": {**ax, "scaleanchor": "x", "scaleratio": 1},
            "height": height, "margin": {"l": 40, "r": 10, "t": 46, "b": 30}, "showlegend": False,
            "plot_bgcolor": "white", "paper_bgcolor": "white", "font": FONT, "uirevision": "lab2d",
            "hovermode": False, "dragmode": "pan"}


def _heat_z(logq: np.ndarray) -> np.ndarray:
    """log q_t relative to its peak, clipped to the 9 nats below it (−inf where it underflowed)."""
    z = np.where(np.isfinite(logq), logq, -np.inf)
    top = np.max(z) if np.isfinite(z).any() else 0.0
    return np.clip(z - top, -9.0, 0.0)


def _heat_trace(z: np.ndarray, faint: bool = False) -> dict:
    scale = ([[0, "#ffffff"], [0.5, "#dbe7f5"], [1, "#9cb9e0"]] if faint
             else [[0, "#ffffff"], [0.35, "#c6dbef"], [0.7, "#6baed6"], [1, "#08519c"]])
    return {"type": "heatmap", "x": f4(GRID), "y": f4(GRID), "z": f4(z), "zmin": -9, "zmax": 0, "zsmooth": "best",
            "colorscale": scale, "showscale": False, "hoverinfo": "skip"}


def arrow_segments(points: np.ndarray, d: np.ndarray, ref: float) -> tuple[np.ndarray, np.ndarray]:
    """Quiver as line segments: for each point P and vector d, a shaft and a two-stroke head.

    The direction is exact; the length is 0.95 cell·|d|/(|d| + ref): it grows with |d| and saturates at a cell,
    so arrows shrink to nothing on the data yet stay visible near it (a linear scale would turn every arrow
    near the data into a dot next to the long ones far away).
    Returns x, y arrays (NaN between strokes), 7 entries per arrow, ready for one scattergl 'lines' trace."""
    n = np.linalg.norm(d, axis=1, keepdims=True)
    length = 0.95 * CELL * n / (n + ref)
    d = np.divide(d, n, out=np.zeros_like(d), where=n > 1e-12) * length
    tip = points + d
    L = np.linalg.norm(d, axis=1, keepdims=True)
    u = np.divide(d, L, out=np.zeros_like(d), where=L > 1e-12)
    w = np.stack([-u[:, 1], u[:, 0]], 1)
    h = np.minimum(0.4 * L, 0.35 * CELL)
    left, right = tip - h * u + 0.55 * h * w, tip - h * u - 0.55 * h * w
    nan = np.full_like(points, np.nan)
    segs = np.stack([points, tip, nan, left, tip, right, nan], 1).reshape(-1, 2)
    return segs[:, 0], segs[:, 1]


def plot_data(fig: dict | go.Figure) -> PlotData:
    if isinstance(fig, go.Figure):
        return PlotData(type="plotly", plot=fig.to_json())
    return PlotData(type="plotly", plot=json.dumps(fig, separators=(",", ":")))


# --- the hot path: one move of t -----------------------------------------------------------------------------


def lab_render(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, t, arrows: str = "both"):
    """One move of the t slider → (q_t figure, score figure, numbers Markdown).

    Exact log q_t, score and E[x₀|x_t] on one 32×32 grid (separable, see toy2d.exact_on_grid): the heatmap and the
    arrows, the learned ε̂ there when a model matches these settings, and their disagreement on 128 noised points.
    """
    if not state:
        return gr.skip(), gr.skip(), "Pick a dataset."
    s = lab_schedule(schedule, ztsnr)
    t = clamp_t(t)
    ab = float(s.alpha_bar[t])
    a, sd = math.sqrt(ab), math.sqrt(1.0 - ab)
    x0, eps = state["x0"], state["eps"]
    arr = toy2d.exact_on_grid(x0, GRID, GRID, ab)  # log q_t, the score and E[x₀|x_t] in one pass over the data
    z = _heat_z(arr.log_density.numpy())
    gy, gx = np.meshgrid(GRID, GRID, indexing="ij")
    pts = np.stack([gx, gy], -1).reshape(-1, 2)
    d_exact = (-sd * arr.eps).reshape(-1, 2).numpy()  # σ²·∇log q = √ᾱ·E[x₀|x] − x = −σ·ε̂
    half = 0.25 * float(np.median(np.linalg.norm(d_exact, axis=1))) or 1.0  # this length is drawn as half a cell
    cloud = (a * x0 + sd * eps).numpy()

    mdl = valid_model(model, state, schedule, ztsnr)
    traces_score = [_heat_trace(z, faint=True)]
    gap_md = ("*Train the MLP (below) to compare the learned score with the exact one.*" if mdl is None else "")
    if arrows in ("exact", "both") or mdl is None:
        xs, ys = arrow_segments(pts, d_exact, half)
        traces_score.append({"type": "scattergl", "mode": "lines", "x": f4(xs), "y": f4(ys), "name": "exact",
                             "line": {"color": EXACT_COLOR, "width": 2.4}, "hoverinfo": "skip"})
    if mdl is not None:
        den = mdl["den"]
        grid_t = torch.from_numpy(pts).float()
        eps_learned = toy2d.denoise(den, s, grid_t, t)[1]
        if arrows in ("learned", "both"):
            xs, ys = arrow_segments(pts, (-sd * eps_learned).double().numpy(), half)
            traces_score.append({"type": "scattergl", "mode": "lines", "x": f4(xs), "y": f4(ys), "name": "learned",
                                 "line": {"color": LEARNED_COLOR, "width": 1.2}, "hoverinfo": "skip"})
        x_sub = torch.from_numpy(cloud[state["sub"].numpy()])
        e_exact = toy2d.exact_quantities(x0, x_sub, ab).eps
        e_learned = toy2d.denoise(den, s, x_sub, t)[1]
        gap = float(((e_learned - e_exact) ** 2).sum(1).mean())
        ref = float((e_exact ** 2).sum(1).mean())
        gap_md = (f"**learned vs exact** at t = {t}: mean ‖ε̂_θ − ε̂*‖² = **{gap:.3f}** over "
                  f"{len(x_sub)} noised points ({100 * gap / max(ref, 1e-12):.1f}% of mean ‖ε̂*‖² = {ref:.2f}); 0 "
                  f"would be a perfect network.")
    title_q = f"q<sub>t</sub> at t = {t}: noised points over the exact density"
    fig_q = {"data": [_heat_trace(z),
                      {"type": "scattergl", "mode": "markers", "x": f4(cloud[:, 0]), "y": f4(cloud[:, 1]),
                                       "marker": {"size": 3 if len(cloud) > 3000 else 4, "color": CLOUD_COLOR,
                                                  "opacity": 0.55}, "hoverinfo": "skip"}],
             "layout": _square_layout(title_q)}
    legend = ("<span style='color:#111'>━ exact</span>"
              + ("   <span style='color:#e8590c'>━ learned</span>" if mdl else ""))
    fig_s = {"data": traces_score, "layout": _square_layout(f"score at t = {t}:  {legend}")}
    snr = ab / (1 - ab) if ab < 1 else math.inf
    md = (f"**t = {t}** · ᾱ<sub>t</sub> = {ab:.4f} · σ<sub>t</sub> = √(1−ᾱ<sub>t</sub>) = **{sd:.3f}** · "
          f"SNR = {snr:.3g} · {len(x0):,} points  \n"
          f"Arrows: the direction of the score ∇log q<sub>t</sub>; their length grows with |σ<sub>t</sub>²·∇log "
          f"q<sub>t</sub>|, the distance to √ᾱ<sub>t</sub>·E[x₀|x<sub>t</sub>] (the ideal denoised point), and "
          f"saturates at one cell ({half:.2f} is drawn as half a cell). The score itself is −ε̂/σ<sub>t</sub> = "
          f"{1 / sd:.3g}·(−ε̂) here: it blows up as t → 0.  \n{gap_md}")
    return plot_data(fig_q), plot_data(fig_s), md


def lab_load(dataset: str, n_points, seed, drawing, model, schedule: str, ztsnr: bool, t, arrows: str):
    """Dataset / N / seed changed → (state, *lab_render). A bad value keeps the old state and says why.
    Choosing "draw your own" before drawing keeps the current data and asks for a drawing."""
    if dataset == DRAWING and not drawing:
        return gr.skip(), gr.skip(), gr.skip(), "**Draw a shape** on the canvas, then press **Use my drawing**."
    state = lab_data(dataset, n_points, seed, drawing)
    return (state, *lab_render(state, model, schedule, ztsnr, t, arrows))
