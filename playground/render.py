"""Rendering: the plotly charts, and images (grids, captioned rows, PNG and GIF files). No gradio, no diffusion math.

One module for the app and the CLIs: the tabs' charts and digit grids, ``python -m playground.sample``'s
PNG grid and trajectory GIF, and Draw & edit's captioned summaries all come from here.

Figures are returned either as plotly ``go.Figure`` objects or, on the hot path of the forward tab,
as plain JSON-ready dicts: building a ``go.Figure`` is slow (validation), so the schedule
charts are built once per (schedule, T, zero-terminal-SNR) and cached as a dict; moving t only
swaps the small "marker" traces (see :func:`schedule_figure_with_marker`).

Notation: t (0-based timestep), alpha_bar = ᾱ_t, snr = ᾱ/(1−ᾱ), log_snr = log SNR, beta = β_t.
Images are uint8 numpy arrays (H, W) or (H, W, 3); model-range [−1, 1] floats become uint8 with :func:`to_uint8`.
"""
from __future__ import annotations

import functools
import json
import math
from typing import Sequence

import imageio.v3 as iio
import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from playground.schedules import SCHEDULES, make_schedule

__all__ = [
    "SCHEDULE_LABELS",
    "COLORS",
    "cached_schedule",
    "schedule_figure_with_marker",
    "chain_histogram",
    "loss_figure",
    "bucket_figure",
    "study_heatmap",
    "to_uint8",
    "image_grid",
    "upscale",
    "hstack_with_gap",
    "caption_font",
    "drawable",
    "captioned_row",
    "save_png",
    "write_gif",
]

SCHEDULE_LABELS = {"linear": "linear", "cosine": "cosine", "scaled_linear": "scaled-linear", "sigmoid": "sigmoid"}
COLORS = {"linear": "#1f77b4", "cosine": "#d62728", "scaled_linear": "#2ca02c", "sigmoid": "#9467bd"}
_MAX_POINTS = 400  # curves are thinned to this many points: the charts look the same, JSON is 5x smaller
_FONT = dict(size=15)


@functools.lru_cache(maxsize=64)
def cached_schedule(name: str, T: int, zero_terminal_snr: bool):
    """make_schedule, memoised: schedules are immutable, so sharing them is safe."""
    return make_schedule(name, int(T), bool(zero_terminal_snr))


def _thin(T: int) -> np.ndarray:
    """Indices 0 … T−1 thinned to at most _MAX_POINTS, always keeping the first and last."""
    if T <= _MAX_POINTS:
        return np.arange(T)
    return np.unique(np.round(np.linspace(0, T - 1, _MAX_POINTS)).astype(int))


def _r(a) -> list:
    """Round for compact JSON; nan/inf become None (plotly leaves a gap)."""
    a = np.asarray(a, dtype=np.float64)
    return [float(f"{v:.5g}") if math.isfinite(v) else None for v in a]


# Marker traces are the last four traces of the base figure, in this order (see schedule_figure_with_marker).
_MARKERS = ("alpha", "snr", "beta", "logsnr")


@functools.lru_cache(maxsize=32)
def _schedule_figure_json(name: str, T: int, zero_terminal_snr: bool) -> str:
    s = cached_schedule(name, T, zero_terminal_snr)
    idx = _thin(T)
    ab = s.alpha_bar.numpy()
    fig = make_subplots(
        rows=2, cols=2, horizontal_spacing=0.09, vertical_spacing=0.16,
        subplot_titles=(
            "ᾱ<sub>t</sub>, and the scales of signal and noise in x<sub>t</sub>",
            "SNR(t) = ᾱ<sub>t</sub> / (1−ᾱ<sub>t</sub>)  (log axis)",
            "β<sub>t</sub>: variance added by one step",
            "log-SNR of every schedule vs t/T",
        ),
    )
    x = idx.tolist()
    curves = (("ᾱ<sub>t</sub>", ab, "#444"), ("√ᾱ<sub>t</sub> signal", np.sqrt(ab), "#1f77b4"),
              ("√(1−ᾱ<sub>t</sub>) noise", np.sqrt(1 - ab), "#ff7f0e"))
    for label, y, color in curves:
        fig.add_trace(go.Scatter(x=x, y=_r(y[idx]), name=label, line=dict(color=color, width=3),
                                 showlegend=False), 1, 1)
    # direct labels instead of a legend: readable from the back of a lecture hall
    for (label, y, color), frac, shift in zip(curves, (0.18, 0.55, 0.82), (-14, 14, -14)):
        i = int(frac * (T - 1))
        fig.add_annotation(x=i, y=float(y[i]), text=f"<b>{label}</b>", showarrow=False, yshift=shift, xanchor="left",
                           font=dict(color=color, size=15), row=1, col=1)
    snr = s.snr.numpy()
    snr_plot = np.where(snr > 0, snr, np.nan)  # SNR = 0 (zero terminal SNR) has no place on a log axis
    fig.add_trace(go.Scatter(x=x, y=_r(snr_plot[idx]), name="SNR(t)",
                             line=dict(color=COLORS.get(s.name, "#333"), width=3),
                             showlegend=False), 1, 2)
    fig.add_trace(go.Scatter(x=x, y=_r(s.betas.numpy()[idx]), name="β<sub>t</sub>",
                             line=dict(color="#8c564b", width=3),
                             showlegend=False), 2, 1)
    for other in SCHEDULES:
        o = cached_schedule(other, T, zero_terminal_snr)
        lam = o.log_snr.numpy()
        mine = other == s.name
        fig.add_trace(go.Scatter(
            x=_r(idx / (T - 1)), y=_r(lam[idx]), name=SCHEDULE_LABELS[other], legendgroup="overlay",
            line=dict(color=COLORS[other], width=4 if mine else 2, dash="solid" if mine else "dot"),
        ), 2, 2)
    _add_t_markers(fig)
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_xaxes(title_text="t", row=1, col=1)
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_xaxes(title_text="t", row=2, col=1)
    fig.update_xaxes(title_text="t / T", row=2, col=2)
    fig.update_yaxes(title_text="log SNR", row=2, col=2)
    fig.update_layout(
        height=620, margin=dict(l=60, r=20, t=50, b=50), font=_FONT, template="plotly_white",
        legend=dict(x=0.56, y=0.02, xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.8)",
                    font=dict(size=14)),
        hovermode="closest", uirevision="schedule",
    )
    for ann in fig.layout.annotations[:4]:  # the subplot titles
        ann.font = dict(size=16)
    return fig.to_json()


def _add_t_markers(fig: go.Figure) -> None:
    """The last four traces: the red markers at t that the page moves (forward_blend.js restyles them)."""
    mk = dict(size=14, color="#e41a1c", line=dict(color="white", width=2))
    fig.add_trace(go.Scatter(x=[0, 0, 0], y=[1, 1, 0], mode="markers", marker=mk, name="t", showlegend=False,
                             hovertemplate="t=%{x}<br>%{y:.4f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Scatter(x=[0], y=[1], mode="markers", marker=mk, showlegend=False,
                             hovertemplate="t=%{x}<br>SNR=%{y:.4g}<extra></extra>"), 1, 2)
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker=mk, showlegend=False,
                             hovertemplate="t=%{x}<br>β=%{y:.4g}<extra></extra>"), 2, 1)
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker=mk, showlegend=False,
                             hovertemplate="t/T=%{x:.3f}<br>log-SNR=%{y:.3f}<extra></extra>"), 2, 2)


@functools.lru_cache(maxsize=32)
def _base_dict(name: str, T: int, zero_terminal_snr: bool) -> dict:
    return json.loads(_schedule_figure_json(name, T, zero_terminal_snr))


def schedule_figure_with_marker(name: str, T: int, zero_terminal_snr: bool, t: int) -> str:
    """Plotly JSON of the schedule charts with markers at timestep t (the per-move hot path).

    Only the four marker traces are rebuilt; everything else is shared with the cached base.
    """
    T = int(T)
    t = int(min(max(t, 0), T - 1))
    s = cached_schedule(name, T, bool(zero_terminal_snr))
    base = _base_dict(name, T, bool(zero_terminal_snr))
    data = list(base["data"])
    k = len(data) - len(_MARKERS)
    ab = float(s.alpha_bar[t])
    snr = float(s.snr[t])
    lam = float(s.log_snr[t])
    data[k] = {**data[k], "x": [t, t, t], "y": _r([ab, math.sqrt(ab), math.sqrt(max(1 - ab, 0.0))])}
    data[k + 1] = {**data[k + 1], "x": [t], "y": _r([snr if snr > 0 else float("nan")])}
    data[k + 2] = {**data[k + 2], "x": [t], "y": _r([float(s.betas[t])])}
    data[k + 3] = {**data[k + 3], "x": _r([t / (T - 1)]), "y": _r([lam])}
    return json.dumps({"data": data, "layout": base["layout"]}, separators=(",", ":"))


def chain_histogram(z_closed: np.ndarray, z_chain: np.ndarray, t: int) -> go.Figure:
    """Histograms of standardised x_t, z = (x_t − √ᾱ_t·x_0)/√(1−ᾱ_t), from both routes, vs N(0, 1)."""
    fig = go.Figure()
    bins = dict(start=-4.5, end=4.5, size=0.15)
    fig.add_trace(go.Histogram(x=z_closed, xbins=bins, histnorm="probability density", name="closed form q(x_t|x_0)",
                               marker_color="#1f77b4", opacity=0.45))
    edges = np.arange(-4.5, 4.5 + 1e-9, 0.15)
    dens, _ = np.histogram(np.asarray(z_chain), bins=edges, density=True)
    centers = (edges[:-1] + edges[1:]) / 2
    fig.add_trace(go.Scatter(x=centers, y=dens, mode="lines", line=dict(color="#ff7f0e", width=3, shape="hvh"),
                             name=f"chain of {t + 1} steps"))
    xs = np.linspace(-4.5, 4.5, 181)
    fig.add_trace(go.Scatter(x=xs, y=np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi), name="N(0, 1)",
                             line=dict(color="black", width=3)))
    fig.update_layout(barmode="overlay", template="plotly_white", height=380, font=_FONT,
                      title=f"standardised x_t at t = {t}: (x_t − √ᾱ·x₀) / √(1−ᾱ)",
                      margin=dict(l=50, r=20, t=60, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def _log_ticks(values: Sequence[float]) -> tuple[list[float], list[str]]:
    """Tick values and full labels for a log axis over ``values``: 1, 2, 5 × 10^k within about two decades,
    decades only beyond (plotly's "D2" labels the minor ticks by their first digit alone: "1, 5, 2, 0.1, 5")."""
    pos = [float(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    lo, hi = (min(pos), max(pos)) if pos else (0.01, 1.0)
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mant = (1, 2, 5) if k1 - k0 <= 2 else (1,)
    ticks = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in mant]
    ticks = [v for v in ticks if lo / 1.5 <= v <= hi * 1.5] or [10.0 ** k0, 10.0 ** k1]
    return ticks, [f"{v:.10g}" for v in ticks]


def _empty_note(fig: go.Figure, text: str) -> None:
    """A chart with no data yet: no axes (they would show a made-up range), just what will appear."""
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=15, color="#777"))


def loss_figure(steps: Sequence[int], loss: Sequence[float], mean: Sequence[float]) -> go.Figure:
    """Training loss per logged step, and its running mean (log y, labelled 0.01, 0.02, 0.05, 0.1, …).

    With no steps yet: the titled, empty chart with a note saying what will appear."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(steps), y=_r(loss), name="batch loss", mode="lines",
                             line=dict(color="#9ecae1", width=1.5)))
    fig.add_trace(go.Scatter(x=list(steps), y=_r(mean), name="mean of last 100", mode="lines",
                             line=dict(color="#08519c", width=3)))
    fig.update_layout(template="plotly_white", height=340, font=_FONT, title="training loss",
                      xaxis_title="step", margin=dict(l=60, r=20, t=50, b=80),
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.3, yanchor="top"), uirevision="loss")
    vals, text = _log_ticks([*loss, *mean])
    fig.update_yaxes(type="log", tickmode="array", tickvals=vals, ticktext=text)
    if not len(steps):
        _empty_note(fig, "press Start: the loss appears here")
    return fig


def bucket_figure(bucket_loss: Sequence[float], T: int, flow: bool = False) -> go.Figure:
    """Running loss per tenth of [0, T) (flow matching: of t ∈ [0, 1)): which noise levels the network finds hard
    (an empty, titled chart with a note before the first step)."""
    n = len(bucket_loss)
    if flow:
        labels = [f"{i / n:.1f}–{(i + 1) / n:.1f}" for i in range(n)]
    else:
        labels = [f"{int(i * T / n)}–{int((i + 1) * T / n) - 1}" for i in range(n)]
    fig = go.Figure(go.Bar(x=labels, y=_r(bucket_loss), marker_color="#6a51a3"))
    fig.update_layout(template="plotly_white", height=340, font=_FONT, title="loss by t bucket (running mean)",
                      xaxis_title="t ∈ [0, 1] (0 = data, 1 = noise)" if flow else "t",
                      margin=dict(l=60, r=20, t=50, b=40), uirevision="bucket")
    if not n:
        _empty_note(fig, "the loss per tenth of [0, T) appears here")
    return fig


def study_heatmap(values: np.ndarray, etas: Sequence[float], steps: Sequence[int], title: str, fmt: str = ".0%",
                  text: Sequence[Sequence[str]] | None = None) -> go.Figure:
    """values: (len(etas), len(steps)) metric per cell (colour); text: optional cell labels (default: the values)."""
    if text is None:
        text = [[(format(v, fmt) if v is not None and math.isfinite(v) else "–") for v in row] for row in values]
    fig = go.Figure(go.Heatmap(z=values, x=[str(s) for s in steps], y=[f"η = {e:g}" for e in etas], text=text,
                               texttemplate="%{text}", textfont=dict(size=16), colorscale="Viridis", showscale=False))
    fig.update_layout(template="plotly_white", height=330, font=_FONT, title=title, xaxis_title="DDIM steps",
                      margin=dict(l=80, r=20, t=50, b=40))
    fig.update_yaxes(autorange="reversed")
    return fig


# --- images -------------------------------------------------------------------------------------


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[−1, 1] float → uint8 [0, 255] (clipped). Any shape."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def upscale(img: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour ×k (H, W[, C]) → (kH, kW[, C]); k ≤ 1 returns img."""
    if k <= 1:
        return img
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 2, pad_value: int = 255,
               scale: int = 1) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) uint8 → one (rows·H, ncol·W[, C]) uint8 grid with padding."""
    images = np.asarray(images)
    n = images.shape[0]
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    h, w = images.shape[1] * scale, images.shape[2] * scale
    extra = images.shape[3:]
    grid = np.full((nrow * h + (nrow + 1) * pad, ncol * w + (ncol + 1) * pad, *extra), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = upscale(images[i], scale)
    return grid


def hstack_with_gap(images: Sequence[np.ndarray], gap: int = 6, value: int = 255) -> np.ndarray:
    """Place equally tall uint8 images side by side with a white gap."""
    h = images[0].shape[0]
    extra = images[0].shape[2:]
    parts = []
    for i, im in enumerate(images):
        if i:
            parts.append(np.full((h, gap, *extra), value, dtype=np.uint8))
        parts.append(im)
    return np.concatenate(parts, axis=1)


def write_gif(path, frames: Sequence[np.ndarray], duration_ms: int = 80, hold_last_ms: int = 800) -> str:
    """Animated GIF (looping) of uint8 frames (H, W) or (H, W, 3), written with imageio; the last frame lingers.

    RGB frames are first reduced to 256 colours with Pillow's fast octree quantizer: imageio's
    default median-cut quantizer is two orders of magnitude slower on noisy frames.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    out = []
    for f in frames:
        f = np.asarray(f, dtype=np.uint8)
        if f.ndim == 3 and f.shape[2] == 3:
            f = np.asarray(Image.fromarray(f).quantize(256, method=Image.Quantize.FASTOCTREE).convert("RGB"))
        out.append(f)
    if len(out) == 1:  # Pillow takes a list of durations only for an animation: one frame is a plain image
        iio.imwrite(path, out[0], duration=hold_last_ms)
    else:
        iio.imwrite(path, np.stack(out), duration=[duration_ms] * (len(out) - 1) + [hold_last_ms], loop=0)
    return str(path)


def save_png(path, image: np.ndarray) -> str:
    """Write one uint8 image (H, W) or (H, W, 3) as a PNG; returns the path as a string."""
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path, format="PNG")
    return str(path)


# Fonts with the glyphs captions use (×, −, ₀, ᾱ, …), first found wins; Pillow's own font (Aileron) lacks them.
_FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans",
               "/Library/Fonts/Arial Unicode.ttf", "arial.ttf")
# What a caption character becomes when the font has no glyph for it (never a missing-glyph box).
_ASCII = {"×": "x", "−": "-", "–": "-", "—": "-", "·": "-", "≈": "~", "≤": "<=", "≥": ">=", "→": "->", "²": "^2",
          "₀": "0", "₁": "1", "₂": "2", "ₜ": "t", "ᵀ": "T", "ᾱ": "alpha_bar", "α": "alpha", "ε": "eps", "η": "eta",
          "σ": "sigma", "√": "sqrt", "\u0302": "^"}


@functools.lru_cache(maxsize=16)
def caption_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font for captions at ``size`` px: DejaVu Sans where installed (it has ×, −, subscripts, Greek), else
    Pillow's built-in font (see :func:`drawable` for the characters it lacks)."""
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _has_glyph(font, ch: str) -> bool:
    return ch.isspace() or _mask(font, ch) != _mask(font, "\uffff")  # U+FFFF draws the font's "missing" glyph


@functools.lru_cache(maxsize=512)
def _mask(font, ch: str) -> bytes:
    m = font.getmask(ch)
    return bytes(m) + bytes(str(m.size), "ascii")


def drawable(text: str, font) -> str:
    """``text`` with each character the font has no glyph for replaced by an ASCII stand-in (× → x, − → -)."""
    return "".join(c if _has_glyph(font, c) else _ASCII.get(c, "?") for c in text)


def captioned_row(images: list[np.ndarray], captions: list[list[str]], size: int = 15) -> np.ndarray:
    """Equally sized tiles (uint8 gray or RGB) side by side on white, each with lines of text underneath: (H, W, 3).

    Each column is as wide as its tile or its widest caption line, whichever is wider, so captions never run
    into each other; the tile is centred in its column."""
    font = caption_font(size)
    h, w = images[0].shape[:2]
    captions = [[drawable(line, font) for line in cap] for cap in captions]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [max([w, *(math.ceil(probe.textlength(line, font=font)) + 4 for line in cap)]) for cap in captions]
    lines = max(len(c) for c in captions)
    gap, pad, leading = 8, 6, size + 5
    H = h + pad + lines * leading + pad
    W = sum(widths) + (len(images) - 1) * gap
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for im, cap, cw in zip(images, captions, widths):
        canvas.paste(Image.fromarray(im).convert("RGB"), (x + (cw - w) // 2, 0))
        for k, line in enumerate(cap):
            tw = draw.textlength(line, font=font)
            draw.text((x + (cw - tw) / 2, h + pad + k * leading), line, fill=(0, 0, 0), font=font)
        x += cw + gap
    return np.asarray(canvas)
