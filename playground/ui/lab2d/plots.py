"""The 2-D lab tab: limits, data, the plotly figures (built as dicts on the hot path) and the per-move render.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from gradio.components.plot import PlotData

from playground import render
from playground import toy2d
from playground.ui.images import sketch_image
from playground.ui.limits import LIMITS, env_num
from playground.ui.page import user_errors


MAX_POINTS = min(env_num("PLAYGROUND_LAB2D_MAX_POINTS", 10_000, 5_000), toy2d.MAX_N)
MAX_PARTICLES = env_num("PLAYGROUND_LAB2D_MAX_PARTICLES", 5_000, 2_000)
MAX_TRAIN_SECONDS = min(env_num("PLAYGROUND_LAB2D_TRAIN_SECONDS", 30, 15, float), LIMITS.max_train_seconds)
AUTO_TRAIN_SECONDS = min(env_num("PLAYGROUND_LAB2D_AUTO_SECONDS", 15, 10, float), MAX_TRAIN_SECONDS)
MAX_STEPS = min(LIMITS.max_steps, toy2d.MAX_STEPS)

T_LAB = 1000  # diffusion steps of every schedule in this tab
TRAIN_STEPS = 2000  # a run ends here or at its time budget, whichever comes first (enough for every toy set)
VIEW = 3.0  # the plots show [−VIEW, VIEW]² of the standardized data
HEAT = 32  # one 32 × 32 grid carries the density heatmap (smoothed in the browser) and the score arrows
GRID = np.linspace(-VIEW, VIEW, HEAT)
CELL = float(GRID[1] - GRID[0])
DISAGREE_POINTS = 128  # noised points on which learned and exact ε̂ are compared, per move of t
DIST_POINTS = 2000  # data points (a fixed subset) that sample sets are compared with
PATHS = 6  # particles whose whole path is drawn
PATH_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628"]
ANIM_PARTICLES = 300  # particles per sampler in the animation
ANIM_FRAMES = 40
STUDY_STEPS = (10, 25, 50, 100)

DRAWING = "drawing"
DATASET_CHOICES = [(toy2d.DATASET_LABELS[k], k) for k in toy2d.DATASETS] + [("draw your own", DRAWING)]
SAMPLER_CHOICES = [(toy2d.SAMPLER_LABELS[k], k) for k in toy2d.SAMPLERS_2D]
OBJECTIVE_CHOICES = [("v (recommended)", "v"), ("ε", "eps"), ("x₀", "x0")]
ARROW_CHOICES = [("exact", "exact"), ("learned", "learned"), ("both", "both")]
GIF_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp_2m": "DPM-Solver++(2M)", "pf_ode": "probability-flow ODE",
              "sde": "reverse SDE", "langevin": "annealed Langevin"}  # the GIF's bitmap font has no η or en dash
COLORS = {"ddpm": "#d62728", "ddim": "#1f77b4", "dpmpp_2m": "#17becf", "pf_ode": "#2ca02c", "sde": "#ff7f0e",
          "langevin": "#9467bd"}
EXACT_COLOR, LEARNED_COLOR, CLOUD_COLOR = "#111111", "#e8590c", "#c2410c"
_FONT = dict(size=14)


def _sched(schedule: str, ztsnr: bool):
    return render.cached_schedule(schedule or "cosine", T_LAB, bool(ztsnr))


def _clamp_t(t) -> int:
    try:
        return int(min(max(int(float(t)), 0), T_LAB - 1))
    except (TypeError, ValueError):
        return 0


def _count(value, name: str, lo: int, hi: int, env: str | None = None) -> int:
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


# --- data ---------------------------------------------------------------------------------------------


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
    n = _count(n_points, "Number of points", toy2d.MIN_N, MAX_POINTS, "PLAYGROUND_LAB2D_MAX_POINTS")
    seed = _count(seed if seed is not None else 0, "Data seed", 0, 2**31 - 1)
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


def _model_key(state: dict, schedule: str, ztsnr: bool) -> tuple:
    return (state["key"], schedule, bool(ztsnr))


def _valid_model(model: dict | None, state: dict | None, schedule: str, ztsnr: bool) -> dict | None:
    if not model or not state or model.get("key") != _model_key(state, schedule, ztsnr):
        return None
    return model


# --- plotly figures, built as plain dicts on the hot path -----------------------------------------------


def _f4(a) -> dict:
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
            "plot_bgcolor": "white", "paper_bgcolor": "white", "font": _FONT, "uirevision": "lab2d",
            "hovermode": False, "dragmode": "pan"}


def _heat_z(logq: np.ndarray) -> np.ndarray:
    """log q_t relative to its peak, clipped to the 9 nats below it (−inf where it underflowed)."""
    z = np.where(np.isfinite(logq), logq, -np.inf)
    top = np.max(z) if np.isfinite(z).any() else 0.0
    return np.clip(z - top, -9.0, 0.0)


def _heat_trace(z: np.ndarray, faint: bool = False) -> dict:
    scale = ([[0, "#ffffff"], [0.5, "#dbe7f5"], [1, "#9cb9e0"]] if faint
             else [[0, "#ffffff"], [0.35, "#c6dbef"], [0.7, "#6baed6"], [1, "#08519c"]])
    return {"type": "heatmap", "x": _f4(GRID), "y": _f4(GRID), "z": _f4(z), "zmin": -9, "zmax": 0, "zsmooth": "best",
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


def _plot(fig: dict | go.Figure) -> PlotData:
    if isinstance(fig, go.Figure):
        return PlotData(type="plotly", plot=fig.to_json())
    return PlotData(type="plotly", plot=json.dumps(fig, separators=(",", ":")))


# --- the hot path: one move of t -----------------------------------------------------------------------------


def lab_render(state: dict | None, model: dict | None, schedule: str, ztsnr: bool, t, arrows: str = "both"):
    """One move of the t slider → (q_t figure, score figure, numbers Markdown).

    Exact log q_t, score and E[x₀|x_t] on one 32×32 grid (separable, see toy2d.exact_on_grid): the heatmap and the arrows,
    the learned ε̂ there when a model matches these settings, and their disagreement on 128 noised points.
    """
    if not state:
        return gr.skip(), gr.skip(), "Pick a dataset."
    s = _sched(schedule, ztsnr)
    t = _clamp_t(t)
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

    mdl = _valid_model(model, state, schedule, ztsnr)
    traces_score = [_heat_trace(z, faint=True)]
    gap_md = ("*Train the MLP (below) to compare the learned score with the exact one.*" if mdl is None else "")
    if arrows in ("exact", "both") or mdl is None:
        xs, ys = arrow_segments(pts, d_exact, half)
        traces_score.append({"type": "scattergl", "mode": "lines", "x": _f4(xs), "y": _f4(ys), "name": "exact",
                             "line": {"color": EXACT_COLOR, "width": 2.4}, "hoverinfo": "skip"})
    if mdl is not None:
        den = mdl["den"]
        grid_t = torch.from_numpy(pts).float()
        eps_learned = toy2d.denoise(den, s, grid_t, t)[1]
        if arrows in ("learned", "both"):
            xs, ys = arrow_segments(pts, (-sd * eps_learned).double().numpy(), half)
            traces_score.append({"type": "scattergl", "mode": "lines", "x": _f4(xs), "y": _f4(ys), "name": "learned",
                                 "line": {"color": LEARNED_COLOR, "width": 1.2}, "hoverinfo": "skip"})
        x_sub = torch.from_numpy(cloud[state["sub"].numpy()])
        e_exact = toy2d.exact_quantities(x0, x_sub, ab).eps
        e_learned = toy2d.denoise(den, s, x_sub, t)[1]
        gap = float(((e_learned - e_exact) ** 2).sum(1).mean())
        ref = float((e_exact ** 2).sum(1).mean())
        gap_md = (f"**learned vs exact** at t = {t}: mean ‖ε̂_θ − ε̂*‖² = **{gap:.3f}** over {len(x_sub)} noised points "
                  f"({100 * gap / max(ref, 1e-12):.1f}% of mean ‖ε̂*‖² = {ref:.2f}); 0 would be a perfect network.")
    title_q = f"q<sub>t</sub> at t = {t}: noised points over the exact density"
    fig_q = {"data": [_heat_trace(z), {"type": "scattergl", "mode": "markers", "x": _f4(cloud[:, 0]), "y": _f4(cloud[:, 1]),
                                       "marker": {"size": 3 if len(cloud) > 3000 else 4, "color": CLOUD_COLOR,
                                                  "opacity": 0.55}, "hoverinfo": "skip"}],
             "layout": _square_layout(title_q)}
    legend = ("<span style='color:#111'>━ exact</span>" + ("   <span style='color:#e8590c'>━ learned</span>" if mdl else ""))
    fig_s = {"data": traces_score, "layout": _square_layout(f"score at t = {t}:  {legend}")}
    snr = ab / (1 - ab) if ab < 1 else math.inf
    md = (f"**t = {t}** · ᾱ<sub>t</sub> = {ab:.4f} · σ<sub>t</sub> = √(1−ᾱ<sub>t</sub>) = **{sd:.3f}** · "
          f"SNR = {snr:.3g} · {len(x0):,} points  \n"
          f"Arrows: the direction of the score ∇log q<sub>t</sub>; their length grows with |σ<sub>t</sub>²·∇log q<sub>t</sub>|, "
          f"the distance to √ᾱ<sub>t</sub>·E[x₀|x<sub>t</sub>] (the ideal denoised point), and saturates at one cell "
          f"({half:.2f} is drawn as half a cell). The score itself is −ε̂/σ<sub>t</sub> = {1 / sd:.3g}·(−ε̂) here: "
          f"it blows up as t → 0.  \n{gap_md}")
    return _plot(fig_q), _plot(fig_s), md


def lab_load(dataset: str, n_points, seed, drawing, model, schedule: str, ztsnr: bool, t, arrows: str):
    """Dataset / N / seed changed → (state, *lab_render). A bad value keeps the old state and says why.
    Choosing "draw your own" before drawing keeps the current data and asks for a drawing."""
    if dataset == DRAWING and not drawing:
        return gr.skip(), gr.skip(), gr.skip(), "**Draw a shape** on the canvas, then press **Use my drawing**."
    state = lab_data(dataset, n_points, seed, drawing)
    return (state, *lab_render(state, model, schedule, ztsnr, t, arrows))
