"""Handlers for the app: widget values → core calls → images, figures and text.

``app.py`` lays out the page and wires events to the functions here; nothing here builds layout.
The diffusion maths lives in the core (schedules / diffusion / samplers); this module only calls it.

Limits for a public Space
-------------------------
Every limit is read once, at import, from an environment variable. On a Hugging Face Space
(``SPACE_ID`` is set) the tighter "Space" default applies.

==============================  =========  =========  ==============================================
env var                         local      Space      what it limits
==============================  =========  =========  ==============================================
PLAYGROUND_MAX_UPLOAD_BYTES     25000000   10000000   bytes of one uploaded image file
PLAYGROUND_MAX_UPLOAD_PIXELS    60000000   25000000   width × height of an upload, checked before decoding
PLAYGROUND_WORK_SIDE            512        512        longest side of the working copy (bigger uploads are
                                                      downscaled once, on upload)
PLAYGROUND_MAX_T                2000       1000       largest T on the Forward tab
PLAYGROUND_CHAIN_DRAWS          200        100        K draws in the closed-form-vs-chain check
PLAYGROUND_MAX_IMAGES           16         16         images per sampling run
PLAYGROUND_MAX_STEPS            1000       250        sampling steps per run
PLAYGROUND_MAX_TRAIN_SECONDS    1800       300        wall time of one training job (then it stops and saves)
PLAYGROUND_MAX_TRAIN_STEPS      20000      5000       optimiser steps of one training job
PLAYGROUND_SAMPLE_CONCURRENCY   2          2          sampling jobs that run at once (others queue)
==============================  =========  =========  ==============================================

Other settings: ``PLAYGROUND_CHECKPOINT_DIR`` (where shipped checkpoints are listed; default
``checkpoints/``), ``PLAYGROUND_SAVE_TRAINED`` (1/0: also write models trained in the app into that
folder; default 1 locally, 0 on a Space), ``PLAYGROUND_DEVICE`` (see playground.device),
``PLAYGROUND_THREADS`` (torch CPU threads for the whole process; default: torch's choice. On a CPU that
other processes keep busy, 1 is much faster for the small sampling batches: OpenMP threads wait on
each other when a core is taken away).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import math
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np
import torch
from gradio.components.plot import PlotData
from PIL import Image, ImageOps, UnidentifiedImageError

from playground import figures as F
from playground import samplers
from playground.checkpoint import CHECKPOINT_DIR, DEFAULT_CHECKPOINT, V_CHECKPOINT, CheckpointError, load_checkpoint, load_model
from playground.device import pick_device
from playground.sample import make_model_fn
from playground.diffusion import q_chain, q_sample
from playground.schedules import SCHEDULES

ON_SPACE = bool(os.environ.get("SPACE_ID"))
REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"


# --- limits ---------------------------------------------------------------------------------------


def _env_num(name: str, local: float, space: float, cast=int):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return cast(space if ON_SPACE else local)
    try:
        return cast(float(raw))
    except ValueError:
        warnings.warn(f"{name}={raw!r} is not a number; using the default")
        return cast(space if ON_SPACE else local)


@dataclass
class Limits:
    """The limits table above, as values (see the module docstring)."""

    max_upload_bytes: int = _env_num("PLAYGROUND_MAX_UPLOAD_BYTES", 25_000_000, 10_000_000)
    max_upload_pixels: int = _env_num("PLAYGROUND_MAX_UPLOAD_PIXELS", 60_000_000, 25_000_000)
    work_side: int = _env_num("PLAYGROUND_WORK_SIDE", 512, 512)
    max_T: int = _env_num("PLAYGROUND_MAX_T", 2000, 1000)
    chain_draws: int = _env_num("PLAYGROUND_CHAIN_DRAWS", 200, 100)
    max_images: int = _env_num("PLAYGROUND_MAX_IMAGES", 16, 16)
    max_steps: int = _env_num("PLAYGROUND_MAX_STEPS", 1000, 250)
    max_train_seconds: float = _env_num("PLAYGROUND_MAX_TRAIN_SECONDS", 1800, 300, float)
    max_train_steps: int = _env_num("PLAYGROUND_MAX_TRAIN_STEPS", 20_000, 5_000)
    sample_concurrency: int = _env_num("PLAYGROUND_SAMPLE_CONCURRENCY", 2, 2)


LIMITS = Limits()

if os.environ.get("PLAYGROUND_THREADS", "").strip():
    torch.set_num_threads(max(1, int(os.environ["PLAYGROUND_THREADS"])))

SCHEDULE_CHOICES = [(F.SCHEDULE_LABELS[s], s) for s in ("linear", "cosine", "scaled_linear", "sigmoid")]
SPACING_CHOICES = ["leading", "trailing", "linspace"]
DIGIT_CHOICES = ["mixed 0–9", *[str(d) for d in range(10)], "unconditional (null label)"]

# One folder for the files this process hands out (GIFs, grids, checkpoints trained here).
OUT_DIR = Path(tempfile.mkdtemp(prefix="diffusion-playground-"))

_device_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def device() -> torch.device:
    """The compute device, picked once (CUDA on a GPU Space, else MPS, else CPU)."""
    return pick_device()


def _out_path(stem: str, suffix: str) -> Path:
    """A fresh file name under OUT_DIR; files older than an hour are removed on the way."""
    now = time.time()
    for old in OUT_DIR.glob("*"):
        try:
            if now - old.stat().st_mtime > 3600:
                old.unlink()
        except OSError:
            pass
    return OUT_DIR / f"{stem}-{_dt.datetime.now().strftime('%H%M%S')}-{os.urandom(3).hex()}{suffix}"


# ==================================================================================================
# Tab 1: forward noising
# ==================================================================================================


def load_image(path: str | os.PathLike | None, work_side: int | None = None) -> np.ndarray:
    """Read any image file once into a float32 working copy (H, W, C) in [−1, 1], C = 1 or 3.

    Handles grayscale (kept 1-channel), palette, RGBA/LA (composited on white), 16-bit and float
    images (rescaled), CMYK, EXIF rotation and animated files (first frame). Images larger than
    ``work_side`` on their longest side are downscaled (JPEGs at decode time). Raises ``gr.Error``
    with a clear message for a missing, empty, oversized, corrupt or non-image file.
    """
    work_side = int(work_side or LIMITS.work_side)
    if path is None or str(path).strip() == "":
        raise gr.Error("No image yet: upload one or click an example.")
    path = Path(path)
    if not path.is_file():
        raise gr.Error(f"Cannot find the uploaded file {path.name!r}.")
    size = path.stat().st_size
    if size == 0:
        raise gr.Error(f"{path.name!r} is empty (0 bytes): not an image.")
    if size > LIMITS.max_upload_bytes:
        raise gr.Error(f"{path.name!r} is {size / 1e6:.1f} MB; the limit is {LIMITS.max_upload_bytes / 1e6:.0f} MB.")
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise gr.Error(f"{path.name!r} is not an image this app can read (PNG, JPEG, GIF, WebP, BMP, TIFF …).") from None
    except OSError as e:
        raise gr.Error(f"Cannot open {path.name!r}: {e}") from None
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise gr.Error(f"{path.name!r} has no pixels ({w}×{h}).")
        if w * h > LIMITS.max_upload_pixels:
            raise gr.Error(f"{path.name!r} is {w}×{h} = {w * h / 1e6:.0f} megapixels; "
                           f"the limit is {LIMITS.max_upload_pixels / 1e6:.0f} megapixels.")
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animated GIF / APNG / multi-page TIFF: first frame
            if im.format == "JPEG" and max(w, h) > 2 * work_side:
                im.draft("RGB" if im.mode not in ("L",) else "L", (work_side, work_side))  # fast DCT downscale
            im.load()
            if max(im.size) >= 4 * work_side and im.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"):
                # box-shrink in the decoded mode first (and before exif_transpose, which copies):
                # a float32 copy of a 100 MP upload would be 1.2 GB and take half a minute
                im = im.reduce(max(im.size) // (2 * work_side))
            im = ImageOps.exif_transpose(im) or im
            arr = _to_float_array(im)
        except gr.Error:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise gr.Error(f"{path.name!r} looks corrupt or truncated ({str(e)[:120]}).") from None
    H, W = arr.shape[:2]
    if max(H, W) > work_side:
        scale = work_side / max(H, W)
        new = (max(1, round(W * scale)), max(1, round(H * scale)))
        chans = [np.asarray(Image.fromarray(arr[..., c], mode="F").resize(new, Image.Resampling.LANCZOS)) for c in range(arr.shape[2])]
        arr = np.stack(chans, axis=-1)
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0) * 2.0 - 1.0, dtype=np.float32)


def _to_float_array(im: Image.Image) -> np.ndarray:
    """PIL image of any mode → float32 (H, W, 1 or 3) in [0, 1]."""
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode == "PA":
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA" if mode.startswith("RGB") else "LA")
        a = np.asarray(rgba, dtype=np.float32) / 255.0
        alpha = a[..., -1:]
        color = a[..., :-1]
        return color * alpha + (1.0 - alpha)  # composite on white
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.float32)[..., None] / 255.0
    if mode == "L":
        return np.asarray(im, dtype=np.float32)[..., None] / 255.0
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float grayscale
        a = np.asarray(im).astype(np.float32)
        if a.ndim == 3:
            a = a[..., 0]
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            raise gr.Error("The image has no finite pixel values.")
        lo, hi = float(finite.min()), float(finite.max())
        if mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = a
        elif lo >= 0 and hi <= 255 and mode not in ("I;16", "I;16B", "I;16L", "I;16N") and hi > 1:
            out = a / 255.0
        elif lo >= 0 and hi <= 65535:
            out = a / 65535.0
        else:
            out = (a - lo) / max(hi - lo, 1e-12)
        return np.nan_to_num(out, nan=0.0)[..., None]
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255.0


def example_path(evt: gr.SelectData) -> str:
    """Gallery click → the example's file path."""
    return example_images()[evt.index][0]


def example_images() -> list[tuple[str, str]]:
    """(path, caption) of the bundled examples: photos first, then MNIST digits."""
    if not EXAMPLES_DIR.is_dir():
        return []
    files = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    photos = [p for p in files if not p.name.startswith("mnist")]
    digits = [p for p in files if p.name.startswith("mnist")]
    return [(str(p), p.stem.replace("_", " ")) for p in photos + digits]


def _display_scale(h: int, w: int) -> int:
    """Nearest-neighbour upscale factor so tiny images (MNIST) show crisp and big enough."""
    return max(1, 256 // max(h, w))


def _new_noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=g, dtype=torch.float32).numpy()


def forward_state(x0: np.ndarray, seed: int, name: str) -> dict:
    """Per-session cache of the forward tab: the preprocessed image and ONE fixed noise sample.

    Stored pre-scaled to pixel units so that a move of t costs one fused multiply-add:
    pixel = √ᾱ·X + √(1−ᾱ)·E + 127.5 with X = 127.5·x0, E = 127.5·ε.
    """
    eps = _new_noise(x0.shape, seed)
    return {"x0": x0, "eps": eps, "X": x0 * 127.5, "E": eps * 127.5, "seed": int(seed), "name": name,
            "k": _display_scale(*x0.shape[:2])}


def _pixels(a: float, b: float, X: np.ndarray, E: np.ndarray, k: int) -> np.ndarray:
    """uint8 image of a·X + b·E + 127.5 (a = √ᾱ, b = √(1−ᾱ)), upscaled ×k; 2-D for grayscale."""
    out = X * a
    out += E * b
    out += 127.5
    np.clip(out, 0, 255, out=out)
    img = out.astype(np.uint8)
    if img.shape[2] == 1:
        img = img[..., 0]
    return F.upscale(img, k)


def _numbers_md(name: str, T: int, zero_terminal_snr: bool, t: int) -> str:
    s = F.cached_schedule(name, T, zero_terminal_snr)
    ab, snr, beta = float(s.alpha_bar[t]), float(s.snr[t]), float(s.betas[t])
    lam = "−∞" if snr == 0 else f"{math.log(snr):+.2f}"
    term = s.terminal_snr
    return (
        f"**t = {t}** of T = {T} &nbsp;·&nbsp; ᾱ<sub>t</sub> = **{ab:.4f}** &nbsp;·&nbsp; "
        f"signal √ᾱ = {math.sqrt(ab):.3f}, noise √(1−ᾱ) = {math.sqrt(max(1 - ab, 0)):.3f}  \n"
        f"SNR(t) = **{snr:.4g}** (log-SNR {lam}) &nbsp;·&nbsp; β<sub>t</sub> = {beta:.4g} &nbsp;·&nbsp; "
        f"terminal SNR(T−1) = **{term:.3g}**" + (" (zero terminal SNR)" if zero_terminal_snr else "")
    )


def _clamp_T(T) -> int:
    return int(min(max(int(T or 1000), 2), LIMITS.max_T))


def forward_render(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """The per-move hot path: (x_t image, numbers Markdown, schedule charts) for timestep t.

    Nothing here depends on the image size except one multiply-add and the uint8 conversion;
    the charts are cached per schedule and only their markers move.
    """
    T = _clamp_T(T)
    t = int(min(max(int(t or 0), 0), T - 1))
    s = F.cached_schedule(schedule, T, bool(zero_terminal_snr))
    fig = PlotData(type="plotly", plot=F.schedule_figure_with_marker(schedule, T, bool(zero_terminal_snr), t))
    md = _numbers_md(schedule, T, bool(zero_terminal_snr), t)
    if not state:
        return None, md, fig
    ab = float(s.alpha_bar[t])
    img = _pixels(math.sqrt(ab), math.sqrt(max(1.0 - ab, 0.0)), state["X"], state["E"], state["k"])
    return img, md, fig


def forward_strip(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, n: int = 8):
    """x_t at n evenly spaced t (same noise), side by side; None without an image."""
    if not state:
        return None
    T = _clamp_T(T)
    s = F.cached_schedule(schedule, T, bool(zero_terminal_snr))
    ts = np.linspace(0, T - 1, n).round().astype(int)
    X, E = state["X"], state["E"]
    h, w = X.shape[:2]
    k = max(1, 96 // max(h, w))
    # thumbnails from a downsampled copy keep this fast for big images
    step = max(1, max(h, w) // 128)
    Xs, Es = X[::step, ::step], E[::step, ::step]
    tiles = []
    for t in ts:
        ab = float(s.alpha_bar[t])
        tiles.append(_pixels(math.sqrt(ab), math.sqrt(max(1 - ab, 0)), Xs, Es, k))
    return F.hstack_with_gap(tiles), ", ".join(f"t={t}" for t in ts)


def _eps_image(state: dict) -> np.ndarray:
    return _pixels(0.0, 0.5, state["X"], state["E"], state["k"])  # ε shown at half contrast, centred on grey


def forward_load(path: str | None, seed: int | float | None, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """Upload / example → (state, x0 image, x_t, ε, numbers, charts, strip, strip caption, info).

    The one expensive step of the tab: decode, fix the mode, downscale, draw the noise, once.
    """
    x0 = load_image(path)
    seed = int(seed if seed is not None else 0)
    state = forward_state(x0, seed, Path(path).name)
    img, md, fig = forward_render(state, schedule, T, zero_terminal_snr, t)
    strip, cap = forward_strip(state, schedule, T, zero_terminal_snr)
    x0_img = _pixels(1.0, 0.0, state["X"], state["E"], state["k"])
    H, W, C = x0.shape
    info = f"{Path(path).name}: working copy {W}×{H}, {'grayscale' if C == 1 else 'RGB'}, noise seed {seed}"
    return state, x0_img, img, _eps_image(state), md, fig, strip, cap, info


def forward_reseed(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int, seed: int | None = None):
    """Draw a new ε (a random seed, or the one given); returns (state, seed, x_t, ε, strip, strip caption)."""
    if not state:
        raise gr.Error("Load an image first.")
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    seed = int(seed)
    state = forward_state(state["x0"], seed, state["name"])
    img, _, _ = forward_render(state, schedule, T, zero_terminal_snr, t)
    strip, cap = forward_strip(state, schedule, T, zero_terminal_snr)
    return state, seed, img, _eps_image(state), strip, cap


def forward_schedule_changed(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """Schedule / T / toggle changed: clamp t to the new T and redraw everything that depends on it."""
    T = _clamp_T(T)
    t = int(min(int(t or 0), T - 1))
    img, md, fig = forward_render(state, schedule, T, zero_terminal_snr, t)
    strip = forward_strip(state, schedule, T, zero_terminal_snr)
    strip_img, cap = strip if strip else (None, "")
    return gr.Slider(maximum=T - 1, value=t), img, md, fig, strip_img, cap


PLAY_LABEL, PAUSE_LABEL = "▶ Play through t", "❚❚ Pause"


PLAY_SECONDS = 8.0  # one sweep from t to T−1 takes this long, however often the timer manages to tick


def play_tick(t: int, T: int, playing: dict | bool | None = None):
    """One tick of "play through t". Returns (t, timer, button, playing).

    Time-based: t = t_start + (elapsed / PLAY_SECONDS)·T, so a slow machine or browser shows fewer
    frames but the sweep still takes PLAY_SECONDS. Without a start record it steps by T/50.
    """
    T = _clamp_T(T)
    t = int(t or 0)
    if isinstance(playing, dict):
        new_t = int(playing["t0"] + (time.time() - playing["since"]) / PLAY_SECONDS * T)
    else:
        new_t = t + max(1, T // 50)
    if t >= T - 1 or new_t >= T - 1:
        return T - 1, gr.Timer(active=False), gr.Button(value=PLAY_LABEL), False
    return max(new_t, t), gr.skip(), gr.skip(), gr.skip()


def play_toggle(playing, t: int, T: int):
    """Start/pause the play timer; starting at the end rewinds to t = 0. Returns (playing, timer, button, t)."""
    T = _clamp_T(T)
    if playing:
        return False, gr.Timer(active=False), gr.Button(value=PLAY_LABEL), gr.skip()
    t = int(t or 0)
    start = 0 if t >= T - 1 else t
    return ({"t0": start, "since": time.time()}, gr.Timer(active=True), gr.Button(value=PAUSE_LABEL),
            start if start != t else gr.skip())


def chain_check(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int, draws: int | None = None,
                progress=gr.Progress()):
    """Closed form vs step-by-step chain: K draws of x_t each way, compare per-pixel mean and std.

    Runs on a ≤24-pixel copy of the image so that K·(t+1) chain steps stay cheap.
    Returns (Markdown with the numbers, histogram figure).
    """
    if not state:
        raise gr.Error("Load an image first.")
    T = _clamp_T(T)
    t = int(min(max(int(t or 0), 0), T - 1))
    K = int(draws or LIMITS.chain_draws)
    s = F.cached_schedule(schedule, T, bool(zero_terminal_snr))
    x0 = state["x0"]
    step = max(1, math.ceil(max(x0.shape[:2]) / 24))
    x0s = torch.from_numpy(np.ascontiguousarray(x0[::step, ::step])).permute(2, 0, 1)  # (C, h, w)
    x0b = x0s.expand(K, *x0s.shape).contiguous()  # (K, C, h, w)
    g = torch.Generator().manual_seed(1234)
    closed = q_sample(s, x0b, torch.tensor(t), torch.randn(x0b.shape, generator=g))
    # The chain runs in chunks of ≤ 32k numbers: below torch's parallel grain size, so each of the
    # t+1 small ops stays single-threaded and cheap even when the CPU is busy with training.
    chunk = max(1, 32_000 // x0s.numel())
    parts = []
    for c0 in range(0, K, chunk):
        x = None
        for x in q_chain(s, x0b[c0:c0 + chunk], t, generator=g):
            pass
        parts.append(x)  # after steps 0 … t: distributed as q(x_t | x_0)
        progress((min(c0 + chunk, K), K), desc="running the chain")
    chain = torch.cat(parts)
    ab = float(s.alpha_bar[t])
    mean_th = math.sqrt(ab) * x0s
    std_th = math.sqrt(1 - ab)
    rows = []
    z = {}
    for name, xs in (("closed form", closed), (f"chain ({t + 1} steps)", chain)):
        m, sd = xs.mean(0), xs.std(0)
        rows.append(f"| {name} | {float((m - mean_th).abs().mean()):.4f} | {float(sd.mean()):.4f} | {float((sd - std_th).abs().mean()):.4f} |")
        z[name] = ((xs - mean_th) / max(std_th, 1e-12)).flatten().numpy() if std_th > 0 else np.zeros(1)
    mc = std_th / math.sqrt(K)
    md = (
        f"**{K} draws** per route of a {x0s.shape[2]}×{x0s.shape[1]} copy, t = {t}. "
        f"Theory: mean √ᾱ·x₀ with √ᾱ = {math.sqrt(ab):.4f}, std √(1−ᾱ) = **{std_th:.4f}**.\n\n"
        "| route | mean abs. error of per-pixel mean | average per-pixel std | mean abs. error of std |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nMonte-Carlo error expected from {K} draws: about {mc * 0.8:.4f} for the mean, {std_th / math.sqrt(2 * K) * 0.8:.4f} "
        "for the std. Both routes land within it: the chain of one-step kernels √α·x + √β·ε "
        "has exactly the closed form's distribution."
    )
    fig = F.chain_histogram(z["closed form"], z[f"chain ({t + 1} steps)"], t)
    return md, fig


def forward_gif(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, frames: int = 40, progress=gr.Progress()) -> str:
    """Export x_0 → x_{T−1} as an animated GIF (same noise throughout). Returns the file path."""
    if not state:
        raise gr.Error("Load an image first.")
    T = _clamp_T(T)
    s = F.cached_schedule(schedule, T, bool(zero_terminal_snr))
    X, E = state["X"], state["E"]
    step = max(1, math.ceil(max(X.shape[:2]) / 256))
    X, E = X[::step, ::step], E[::step, ::step]
    k = _display_scale(*X.shape[:2])
    ts = np.unique(np.linspace(0, T - 1, frames).round().astype(int))
    imgs = [_pixels(1.0, 0.0, X, E, k)]
    for i, t in enumerate(ts):
        ab = float(s.alpha_bar[t])
        imgs.append(_pixels(math.sqrt(ab), math.sqrt(max(1 - ab, 0)), X, E, k))
        progress((i + 1, len(ts)), desc="encoding GIF")
    path = _out_path(f"noising-{schedule}-T{T}", ".gif")
    return F.write_gif(path, imgs, duration_ms=80)


def forward_api(image: str, schedule: str = "cosine", diffusion_steps: int = 1000, t: int = 250,
                zero_terminal_snr: bool = False, seed: int = 0):
    """Public endpoint `forward`: noise an image to timestep t in closed form.

    Args:
        image: an image file (PNG, JPEG, GIF, …); bigger than PLAYGROUND_WORK_SIDE → downscaled.
        schedule: "linear" | "cosine" | "scaled_linear" | "sigmoid".
        diffusion_steps: T, the number of diffusion steps (2 … PLAYGROUND_MAX_T). Named apart
            from `t` so that keyword calls through gradio_client are unambiguous.
        t: timestep, 0 … T−1.
        zero_terminal_snr: rescale the schedule so that ᾱ_{T−1} = 0.
        seed: seed of the noise ε (same seed → same ε).
    Returns:
        (x_t as an image, {"t", "T", "schedule", "alpha_bar", "snr", "log_snr", "terminal_snr", "width", "height"}).
    """
    if schedule not in SCHEDULES:
        raise gr.Error(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    T = _clamp_T(diffusion_steps)
    t = int(min(max(int(t), 0), T - 1))
    state = forward_state(load_image(image), int(seed), Path(image).name)
    img, _, _ = forward_render(state, schedule, T, bool(zero_terminal_snr), t)
    s = F.cached_schedule(schedule, T, bool(zero_terminal_snr))
    snr = float(s.snr[t])
    stats = {"t": t, "T": T, "schedule": s.describe(), "alpha_bar": float(s.alpha_bar[t]), "snr": snr,
             "log_snr": None if snr == 0 else math.log(snr), "terminal_snr": s.terminal_snr,
             "width": int(state["x0"].shape[1]), "height": int(state["x0"].shape[0])}
    return img, stats


# ==================================================================================================
# Tab 2: sampling
# ==================================================================================================


def checkpoint_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_CHECKPOINT_DIR") or CHECKPOINT_DIR)


@functools.lru_cache(maxsize=64)
def _read_meta(path: str, mtime_ns: int):
    try:
        obj = load_checkpoint(path)
    except CheckpointError:
        return None
    return obj["meta"], obj["config"]


def _meta_of(path: str | Path):
    p = Path(path)
    try:
        return _read_meta(str(p), p.stat().st_mtime_ns)
    except OSError:
        return None


def _label(path: Path, meta: dict, prefix: str = "") -> str:
    kind = {"eps": "ε", "v": "v", "x0": "x₀"}.get(meta.get("prediction_type"), meta.get("prediction_type"))
    cond = "class-conditional" if meta.get("conditional") else "unconditional"
    return f"{prefix}{path.stem} — {kind}-prediction, {meta.get('schedule')} T={meta.get('T')}, {cond}, {meta.get('steps')} steps"


def list_checkpoints(session_models: dict | None = None) -> list[tuple[str, str]]:
    """Dropdown choices (label, path): readable checkpoints in checkpoint_dir(), then this session's."""
    out = []
    d = checkpoint_dir()
    files = sorted(d.glob("*.pt")) if d.is_dir() else []
    default = Path(DEFAULT_CHECKPOINT).name
    files.sort(key=lambda p: (p.name != default, p.name))
    for p in files:
        m = _meta_of(p)
        if m is not None:
            out.append((_label(p, m[0]), str(p)))
    for label, path in (session_models or {}).items():
        if Path(path).is_file():
            out.append((label, str(path)))
    return out


def default_checkpoint(session_models: dict | None = None) -> str | None:
    choices = list_checkpoints(session_models)
    return choices[0][1] if choices else None


def checkpoint_dropdown(session_models: dict | None = None, value: str | None = None):
    choices = list_checkpoints(session_models)
    return gr.Dropdown(choices=choices, value=value or (choices[0][1] if choices else None))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int):
    model, meta = load_model(path, device())
    return model, meta


def get_model(path: str | None, session_models: dict | None = None):
    """(model, meta) for a dropdown value; only shipped checkpoints and this session's models load.

    `path` may be a listed path, or (handy for API callers) a listed file's name, e.g. "mnist_eps_cond.pt".
    """
    if not path:
        raise gr.Error("No model available yet. Train one in the 'Train on MNIST' tab, or put a checkpoint "
                       f"(e.g. {Path(DEFAULT_CHECKPOINT).name}) in {checkpoint_dir()}.")
    listed = [v for _, v in list_checkpoints(session_models)]
    allowed = {str(Path(v).resolve()) for v in listed}
    by_name = {Path(v).name: v for v in listed}
    if str(Path(path).resolve()) not in allowed and Path(str(path)).name == str(path) and str(path) in by_name:
        path = by_name[str(path)]
    p = Path(path).resolve()
    if str(p) not in allowed:
        if p.is_file() and p.parent == checkpoint_dir().resolve():  # in the folder but left out of the list: say why
            try:
                load_checkpoint(p)
            except CheckpointError as e:
                raise gr.Error(f"Cannot use {p.name!r}: {e}") from None
        raise gr.Error(f"Unknown checkpoint {Path(path).name!r}: pick one from the list.")
    try:
        with _device_lock:
            return _load_cached(str(p), p.stat().st_mtime_ns)
    except (CheckpointError, OSError) as e:
        raise gr.Error(str(e)) from None


def timesteps_md(path: str | None, steps: int, spacing: str, session_models: dict | None = None) -> str:
    """The list of t that will run, for the Sampling tab ("show the list that actually runs")."""
    T = 1000
    note = ""
    meta = _meta_of(path)[0] if path and _meta_of(path) else None
    if meta:
        T = int(meta.get("T", 1000))
    steps = int(min(max(int(steps or 1), 1), T, LIMITS.max_steps))
    pairs = samplers.make_timesteps(T, steps, spacing)
    ts = [t for t, _ in pairs]
    shown = ", ".join(map(str, ts)) if len(ts) <= 60 else ", ".join(map(str, ts[:25])) + ", …, " + ", ".join(map(str, ts[-10:]))
    if meta and meta.get("zero_terminal_snr") and meta.get("prediction_type") == "eps" and ts[0] == T - 1:
        note = "  \n⚠ ε-prediction at zero terminal SNR: x̂₀ is 0/0 at t = T−1 (ᾱ is floored there). Prefer v-prediction."
    return f"**{steps} steps, {spacing} spacing, T = {T}:** t = {shown} → clean{note}"


_interactive = {"n": 0}
_interactive_lock = threading.Lock()


@contextlib.contextmanager
def interactive_work():
    """Mark a user-facing job (sampling) as running: the trainer pauses between steps meanwhile."""
    with _interactive_lock:
        _interactive["n"] += 1
    try:
        yield
    finally:
        with _interactive_lock:
            _interactive["n"] -= 1


def interactive_busy() -> bool:
    return _interactive["n"] > 0


def _labels_for(digit: str, n: int, conditional: bool) -> torch.Tensor | None:
    if not conditional or digit is None or str(digit).startswith("unconditional"):
        return None
    if str(digit).startswith("mixed"):
        return torch.arange(n) % 10
    return torch.full((n,), int(digit), dtype=torch.long)


def _model_fn(model, meta, digit: str, guidance: float, n: int):
    """(model_fn, labels) for the samplers; fp32, the precision the quality figures were measured in."""
    labels = _labels_for(digit, n, bool(model.config.conditional))
    return make_model_fn(model, labels, float(guidance)), labels


def _grid(x: torch.Tensor, scale: int | None = None) -> np.ndarray:
    """(B, 1, H, W) in [−1, 1] → one uint8 grid image."""
    imgs = F.to_uint8(x[:, 0].detach().float().cpu().numpy())
    n = imgs.shape[0]
    scale = scale or (4 if n <= 4 else 3)
    c = math.ceil(math.sqrt(n))
    ncol = min((c, c + 1), key=lambda k: (-(-n // k) * k - n, k)) if n > 3 else n  # few empty cells, square-ish
    return F.image_grid(imgs, ncol=ncol, pad=2, scale=scale)


PANELS = (("ddpm", "DDPM"), ("ddim", "DDIM"), ("dpmpp_2m", "DPM-Solver++(2M)"))
STREAM_EVERY_S = 0.25  # a streamed frame at most this often (the last step always streams)


def sample_compare(path: str | None, steps: int, eta: float, spacing: str, clip_x0: bool, digit: str, guidance: float,
                   n_images: int, seed: int, show_dpm: bool = True, session_models: dict | None = None) -> Iterator[tuple]:
    """Public endpoint `sample` (a generator: it streams while it runs).

    DDPM, DDIM(η) and optionally DPM-Solver++(2M) from the same seed: one x_T and one noise per step, shared.
    Args:
        path: checkpoint (a value from the model dropdown; default: the first listed).
        steps: sampling steps (≤ PLAYGROUND_MAX_STEPS, ≤ T).  eta: DDIM's η in [0, 1].
        spacing: "leading" | "trailing" | "linspace".  clip_x0: clip x̂₀ to [−1, 1].
        digit: "mixed 0–9", "0" … "9" or "unconditional (null label)".  guidance: CFG scale w (1 = plain conditional).
        n_images: images per sampler (≤ PLAYGROUND_MAX_IMAGES).  seed: the shared seed.  show_dpm: run the third sampler.
    Yields / returns:
        (DDPM x_t, DDPM x̂₀, DDIM x_t, DDIM x̂₀, DPM++ x_t, DPM++ x̂₀, status Markdown, files) where files (at the end)
        are the result grids (PNG) and trajectory GIFs.
    """
    path = path or default_checkpoint(session_models)
    if path is None:  # nothing to sample with yet: say so in the status line, no error badges
        yield (None,) * 6 + ("⚠ **No model yet.** Train one in the *Train on MNIST* tab (the quick preset takes 5 minutes), "
                             f"or put a checkpoint in `{checkpoint_dir()}`.", gr.skip())
        return
    model, meta = get_model(path, session_models)
    s = F.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    steps_asked, n_asked = int(steps), int(n_images)
    steps = int(min(max(steps_asked, 1), LIMITS.max_steps, s.T))
    n = int(min(max(n_asked, 1), LIMITS.max_images))
    if steps_asked > steps:
        gr.Warning(f"This model only has T = {s.T} diffusion steps: running {steps} steps, not {steps_asked}." if steps == s.T
                   else f"This server runs at most {LIMITS.max_steps} sampling steps per run: running {steps}.")
    if n_asked > n:
        gr.Warning(f"This server makes at most {LIMITS.max_images} images per run: making {n}.")
    eta = float(min(max(float(eta), 0.0), 1.0))
    seed = int(seed)
    fn, labels = _model_fn(model, meta, digit, guidance, n)
    pairs = samplers.make_timesteps(s.T, steps, spacing)
    kinds = [k for k, _ in PANELS if k != "dpmpp_2m" or show_dpm]
    dev = device()
    loops = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the zero-terminal-SNR warning is shown in the timestep list instead
        for k in kinds:
            loops[k] = samplers.sample_loop(fn, s, (n, 1, 28, 28), sampler=k, timesteps=pairs, eta=eta if k == "ddim" else 0.0,
                                            prediction_type=meta.prediction_type, clip_x0=bool(clip_x0),
                                            generator=torch.Generator().manual_seed(seed), device=dev)
    elapsed = {k: 0.0 for k in kinds}
    frames = {k: [] for k in kinds}
    latest: dict[str, Any] = {}
    every = max(1, steps // 60)  # ≤ ~60 GIF frames
    t_last_yield = 0.0
    t_start = time.perf_counter()
    what = "unconditional" if labels is None else (f"digit {digit}" if not str(digit).startswith("mixed") else "digits 0–9")

    def outputs(i: int, done: bool, files=None):
        vals = []
        for k, _ in PANELS:
            if k in latest:
                st = latest[k]
                vals += [_grid(st.x_t), _grid(st.x0_pred)]
            else:
                vals += [None, None]
        st = next(iter(latest.values()))
        head = "✓ **Done**" if done else "… **Running**"
        times = " · ".join(f"{name} {elapsed[k]:.1f} s" for k, name in PANELS if k in elapsed)
        status = (f"{head} — step **{i}/{steps}**, t = {st.t} → {max(st.t_prev, 0) if st.t_prev >= 0 else 'clean'} · "
                  f"{n} images, {what}, guidance {guidance:g}, η = {eta:g} (DDIM) · seed {seed}  \n"
                  f"elapsed: {times} · wall {time.perf_counter() - t_start:.1f} s")
        return (*vals, status, files if files else gr.skip())

    with interactive_work():
        for i in range(1, steps + 1):
            for k in kinds:
                t0 = time.perf_counter()
                # inference mode per step, never held across a `yield`: grad mode is per thread, and gradio resumes
                # generators on pool threads, so a held mode leaked into the trainer's thread (backward() failed)
                with torch.inference_mode():
                    latest[k] = next(loops[k])
                elapsed[k] += time.perf_counter() - t0
                if i % every == 0 or i == steps or i == 1:
                    frames[k].append(np.concatenate([_grid(latest[k].x_t, 2), _grid(latest[k].x0_pred, 2)], axis=1))
            now = time.perf_counter()
            if i < steps and now - t_last_yield >= STREAM_EVERY_S:
                t_last_yield = now
                yield outputs(i, False)
        files = []
        for k, name in PANELS:
            if k not in kinds:
                continue
            p = _out_path(f"{k}-{steps}steps-seed{seed}", ".png")
            Image.fromarray(_grid(latest[k].x_t, 3)).save(p)
            files.append(str(p))
            g = _out_path(f"{k}-trajectory-seed{seed}", ".gif")
            F.write_gif(g, frames[k], duration_ms=90, hold_last_ms=1500)
            files.append(str(g))
    yield outputs(steps, True, files)


def run_sampler(model, meta, *, sampler: str, steps: int, eta: float, spacing: str, digit: str, guidance: float, n: int,
                seed: int, clip_x0: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One complete sampling run; returns (x0 (n, 1, 28, 28) in [−1, 1], labels)."""
    s = F.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    fn, labels = _model_fn(model, meta, digit, guidance, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = samplers.sample(fn, s, (n, 1, 28, 28), sampler=sampler, num_steps=min(steps, s.T), spacing=spacing, eta=eta,
                            prediction_type=meta.prediction_type, clip_x0=clip_x0,
                            generator=torch.Generator().manual_seed(int(seed)), device=device())
    return x, labels


def _quality(x: torch.Tensor, labels: torch.Tensor | None):
    """playground.quality.evaluate, or None when the classifier is not available."""
    try:
        from playground import quality

        return quality.evaluate(((x.float().cpu() + 1) / 2).clamp(0, 1), labels)
    except Exception:  # noqa: BLE001 - quality is optional: missing classifier / data
        return None


STUDY_ETAS = (0.0, 0.2, 0.5, 1.0)
STUDY_STEPS = (10, 20, 50, 100)


def sample_study(path: str | None, digit: str, guidance: float, seed: int, n_images: int = 10, spacing: str = "trailing",
                 session_models: dict | None = None, etas=STUDY_ETAS, steps_list=STUDY_STEPS, progress=gr.Progress()):
    """DDIM over η × steps from one seed. Returns (grid image, heatmap figure or None, Markdown)."""
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    n = int(min(max(int(n_images), 1), LIMITS.max_images))
    steps_list = [s for s in steps_list if s <= min(LIMITS.max_steps, int(meta.T))]
    total = len(etas) * sum(steps_list)
    done = 0
    rows, metric, agree = [], np.full((len(etas), len(steps_list)), np.nan), np.full((len(etas), len(steps_list)), np.nan)
    t0 = time.perf_counter()
    with interactive_work():
        for i, eta in enumerate(etas):
            cells = []
            for j, st in enumerate(steps_list):
                progress((done, total), desc=f"η = {eta:g}, {st} steps")
                x, labels = run_sampler(model, meta, sampler="ddim", steps=st, eta=eta, spacing=spacing, digit=digit,
                                        guidance=guidance, n=n, seed=seed)
                done += st
                cells.append(F.image_grid(F.to_uint8(x[:, 0].cpu().numpy()), ncol=min(n, 5), pad=1, scale=1))
                q = _quality(x, labels)
                if q is not None:
                    metric[i, j] = q.confident
                    agree[i, j] = q.label_agreement if q.label_agreement is not None else np.nan
            rows.append(F.hstack_with_gap(cells, gap=10))
    grid = np.concatenate([np.pad(r, ((0, 10), (0, 0)), constant_values=255) for r in rows], axis=0)
    grid = F.upscale(grid, 2)
    fig = None
    md = (f"Rows: η = {', '.join(f'{e:g}' for e in etas)} (top to bottom). Columns: {', '.join(map(str, steps_list))} DDIM steps "
          f"({spacing} spacing). Same seed ({seed}), same x_T in every cell; {n} images per cell. "
          f"Took {time.perf_counter() - t0:.1f} s.")
    if np.isfinite(metric).any():
        use_agree = np.isfinite(agree).any()
        text = [[f"{c:.0%}" + (f"<br>{a:.0%} right" if use_agree else "") for c, a in zip(rc, ra)] for rc, ra in zip(metric, agree)]
        fig = F.study_heatmap(metric, etas, steps_list, "confidently classified (p ≥ 0.9)"
                              + (" · and the digit asked for" if use_agree else ""), text=text)
        md += (" Metric: the quality module's MNIST classifier: the share of confidently classified digits (colour)"
               + (", and the share classified as the digit asked for." if use_agree else "."))
        md += f" With {n} images per cell, one image is {1 / n:.0%}: read trends, not single cells."
    else:
        md += " (No quality metric: the classifier checkpoint is not available.)"
    return grid, fig, md


def compare_eps_v(steps: int, spacing: str, digit: str, guidance: float, seed: int, n_images: int = 10, eta: float = 0.0,
                  progress=gr.Progress()):
    """Sample the shipped ε- and v-prediction checkpoints with one seed (DDIM). Returns (ε image, v image, Markdown)."""
    out, notes = [], []
    paths = [(DEFAULT_CHECKPOINT, "ε"), (V_CHECKPOINT, "v")]
    d = checkpoint_dir()
    n = int(min(max(int(n_images), 1), LIMITS.max_images))
    with interactive_work():
        for i, (p, name) in enumerate(paths):
            p = d / Path(p).name
            progress((i, 2), desc=f"{name}-prediction")
            if not p.is_file():
                out.append(None)
                notes.append(f"**{name}-prediction:** checkpoint {p.name} not found.")
                continue
            model, meta = get_model(str(p))
            x, labels = run_sampler(model, meta, sampler="ddim", steps=int(steps), eta=float(eta), spacing=spacing, digit=digit,
                                    guidance=guidance, n=n, seed=seed)
            out.append(_grid(x))
            q = _quality(x, labels)
            qtxt = ""
            if q is not None:
                qtxt = f" · confident {q.confident:.0%}" + (f" · label agreement {q.label_agreement:.0%}" if q.label_agreement is not None else "")
            notes.append(f"**{name}-prediction** ({p.name}: {meta.schedule}, T={meta.T}, {meta.steps} training steps){qtxt}")
    md = "  \n".join(notes) + f"  \nDDIM, {steps} steps, {spacing} spacing, η = {eta:g}, seed {seed}: the same x_T for both."
    return out[0], out[1], md


# ==================================================================================================
# Tab 3: training
# ==================================================================================================

MODEL_SIZES = {"small (16, 32, 64)": (16, 32, 64), "default (32, 64, 96)": (32, 64, 96)}


@dataclass
class _Job:
    session: str
    stop: threading.Event
    started: float
    budget_s: float


_train_lock = threading.Lock()
_job: dict[str, _Job | None] = {"job": None}


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def preset_values(preset: str):
    """Preset → (steps, time budget s, batch size, lr, preview every) for the advanced widgets."""
    from playground.train import PRESETS, TrainConfig

    cfg = TrainConfig.from_preset(preset)
    budget = cfg.time_budget_s if cfg.time_budget_s is not None else LIMITS.max_train_seconds
    return (min(cfg.steps, LIMITS.max_train_steps), min(budget, LIMITS.max_train_seconds), cfg.batch_size, cfg.lr,
            cfg.preview_every or 200)


def train_status() -> str:
    job = _job["job"]
    if job is None:
        return "Idle: no training job is running on this server."
    return f"A training job is running (for {time.time() - job.started:.0f} s of at most {job.budget_s:.0f} s)."


def stop_training(request: gr.Request | None = None) -> str:
    """Stop button: ask this session's job to stop after its current step (it then saves)."""
    job = _job["job"]
    if job is not None and job.session == _session(request):
        job.stop.set()
        return "Stopping after the current step; the model will be saved…"
    return "Nothing to stop: no training job of yours is running."


def on_unload(request: gr.Request | None = None) -> None:
    """The tab was closed: stop that session's training job (no runaway jobs)."""
    job = _job["job"]
    if job is not None and job.session == _session(request):
        job.stop.set()


def train_run(preset: str, objective: str, schedule: str, T: int, zero_terminal_snr: bool, batch_size: int, lr: float,
              steps: int, time_budget_s: float, conditional: bool, model_size: str, preview_every: int,
              session_models: dict | None = None, request: gr.Request | None = None, *, data=None):
    """Public endpoint `train` (a generator: streams progress).

    Trains the MNIST UNet with the given settings; one job per server (a second caller gets a "busy"
    status at once). Stops at `steps`, at `time_budget_s` (capped by PLAYGROUND_MAX_TRAIN_SECONDS),
    on the Stop button, or when the browser tab closes; then saves the checkpoint.
    Args:
        preset: "quick" | "tiny" | "shipped" (base recipe; the other arguments override it).
        objective: "eps" | "v" | "x0".  schedule: "linear" | "cosine" | "scaled_linear" | "sigmoid".
        T: diffusion steps.  zero_terminal_snr: rescale the schedule to ᾱ_{T−1} = 0.
        batch_size, lr: optimiser settings.  steps: max optimiser steps.  time_budget_s: max seconds.
        conditional: class-conditional with label dropout (CFG-capable).  model_size: a MODEL_SIZES key.
        preview_every: refresh the fixed-seed sample grid every N steps.
    Yields / returns:
        (status Markdown, loss figure, loss-by-t figure, sample grid, checkpoint file, session models, model dropdown).
    """
    from playground.train import Trainer, TrainConfig

    session = _session(request)
    skip = gr.skip()
    _check_train_settings(objective, schedule, T, batch_size, lr)
    if float(time_budget_s or 0) > LIMITS.max_train_seconds:
        gr.Warning(f"This server trains for at most {LIMITS.max_train_seconds:.0f} s per job (PLAYGROUND_MAX_TRAIN_SECONDS).")
    if int(steps or 0) > LIMITS.max_train_steps:
        gr.Warning(f"This server runs at most {LIMITS.max_train_steps} training steps per job (PLAYGROUND_MAX_TRAIN_STEPS).")
    if not _train_lock.acquire(blocking=False):
        yield (f"**Busy:** {train_status()} One training job per server; try again later. Sampling still works.",
               skip, skip, skip, skip, skip, skip)
        return
    stop = threading.Event()
    budget = float(min(max(float(time_budget_s or 0), 1.0), LIMITS.max_train_seconds))
    job = _Job(session, stop, time.time(), budget)
    _job["job"] = job
    trainer = None
    gen = None
    try:
        yield ("Loading MNIST and building the model…", skip, skip, skip, skip, skip, skip)
        channels = MODEL_SIZES.get(model_size, (32, 64, 96))
        base = TrainConfig.from_preset(preset if preset else "quick")
        cfg = dataclasses.replace(
            base, prediction_type=objective, schedule=schedule, T=int(T), zero_terminal_snr=bool(zero_terminal_snr),
            batch_size=int(batch_size), lr=float(lr), steps=int(min(max(int(steps), 1), LIMITS.max_train_steps)),
            time_budget_s=budget, conditional=bool(conditional), log_every=1,
            preview_every=int(max(int(preview_every or 0), 0)),
            warmup_steps=min(base.warmup_steps, max(1, int(steps) // 10)),
            model=dataclasses.replace(base.model, channels=tuple(channels)),
        )
        try:
            trainer = Trainer(cfg, data=data, stop_event=stop)
        except FileNotFoundError as e:  # playground.data.DataNotFoundError: no MNIST files
            raise gr.Error(f"Cannot start training: {e}") from None
        steps_log, loss_log, mean_log = [], [], []
        last_yield = 0.0
        preview = None
        source = trainer.data.source
        paused = 0.0
        if cfg.preview_every:  # the fixed-seed grid at step 0 (pure noise): something to compare the next ones with
            img, _ = trainer.preview()
            preview = F.image_grid(F.to_uint8(img[:, 0].numpy() * 2 - 1), ncol=10, pad=2, scale=3)
            yield (f"Step 0: samples from the untrained model. Data: {source}.", skip, skip, preview, skip, skip, skip)
        gen = trainer.run()
        for ev in gen:
            steps_log.append(ev.step)
            loss_log.append(ev.loss)
            mean_log.append(ev.loss_mean)
            if ev.preview is not None:
                preview = F.image_grid(F.to_uint8(ev.preview[:, 0].numpy() * 2 - 1), ncol=10, pad=2, scale=3)
            if ev.kind == "done":
                break
            # Give the CPU to interactive sampling: pause between steps while someone samples.
            t_pause = time.perf_counter()
            while interactive_busy() and not stop.is_set() and time.time() - job.started < budget:
                time.sleep(0.05)
            paused += time.perf_counter() - t_pause
            now = time.perf_counter()
            if now - last_yield > 1.0 or ev.kind == "preview":
                last_yield = now
                yield (_train_md(ev, cfg, source, trainer, False, paused), _loss_fig(steps_log, loss_log, mean_log),
                       F.bucket_figure(ev.bucket_loss, cfg.T), preview, skip, skip, skip)
        # save: a per-session copy for download; locally also into the checkpoints folder
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"trained-{cfg.prediction_type}-{cfg.schedule}-{trainer.step}steps-{stamp}"
        path = trainer.save(_out_path(name, ".pt"))
        saved_note = ""
        if _save_trained():
            try:
                dest = checkpoint_dir() / f"{name}.pt"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
                saved_note = f" Also saved to `{dest}`."
            except OSError as e:
                saved_note = f" (Could not save into {checkpoint_dir()}: {e})"
        models = dict(session_models or {})
        label = _label(Path(path), dataclasses.asdict(trainer.meta()), prefix="this session: ")
        models[label] = str(path)
        md = _train_md(ev, cfg, source, trainer, True, paused) + f"  \n✓ {ev.message}. Pick it in the Sampling tab.{saved_note}"
        yield (md, _loss_fig(steps_log, loss_log, mean_log), F.bucket_figure(ev.bucket_loss, cfg.T), preview,
               gr.DownloadButton(value=str(path), visible=True), models, checkpoint_dropdown(models, str(path)))
    finally:
        stop.set()
        if gen is not None:
            gen.close()
        _job["job"] = None
        _train_lock.release()


def _check_train_settings(objective, schedule, T, batch_size, lr) -> None:
    """Clear messages for settings the widgets never send (API callers): raises gr.Error."""
    if objective not in ("eps", "v", "x0"):
        raise gr.Error(f"Unknown objective {objective!r}: choose 'eps', 'v' or 'x0'.")
    if schedule not in SCHEDULES:
        raise gr.Error(f"Unknown noise schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}.")
    if not 2 <= int(T or 0) <= LIMITS.max_T:
        raise gr.Error(f"T must be between 2 and {LIMITS.max_T} (got {T}).")
    if int(batch_size or 0) < 1:
        raise gr.Error(f"The batch size must be at least 1 (got {batch_size}).")
    if not float(lr or 0) > 0:
        raise gr.Error(f"The learning rate must be positive (got {lr}).")


def _save_trained() -> bool:
    raw = os.environ.get("PLAYGROUND_SAVE_TRAINED")
    if raw is None:
        return not ON_SPACE
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _loss_fig(steps, loss, mean):
    k = max(1, len(steps) // 1500)  # thin long runs for the browser
    return F.loss_figure(steps[::k], loss[::k], mean[::k])


def _train_md(ev, cfg, source: str, trainer, done: bool, paused: float) -> str:
    rate = ev.steps_per_s
    left_steps = (cfg.steps - ev.step) / rate if rate > 0 else float("inf")
    left_time = (cfg.time_budget_s or float("inf")) - ev.elapsed_s
    eta = max(0.0, min(left_steps, left_time))
    head = "✓ **Finished**" if done else "**Training**"
    bits = [f"{head}: step **{ev.step}** · loss {ev.loss_mean:.4f} (mean of last 100) · **{rate:.2f} steps/s** · "
            f"elapsed {ev.elapsed_s:.0f} s" + ("" if done else f" · ETA ≈ {eta:.0f} s"),
            f"data: {source} · {cfg.prediction_type}-prediction, {cfg.schedule} T={cfg.T}, batch {cfg.batch_size}, "
            f"lr {cfg.lr:g}, UNet {tuple(cfg.model.channels)} ({trainer.model.num_params() / 1e6:.2f} M params), "
            f"device {trainer.device}{', bf16 autocast' if trainer.bf16 else ''}"]
    if paused > 0.5:
        bits.append(f"paused {paused:.0f} s so that sampling stayed responsive")
    return "  \n".join(bits)


# ==================================================================================================
# Page load and the Theory tab's links
# ==================================================================================================


def forward_load_default(seed, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """On page load: show the first bundled example so the Forward tab is never empty."""
    ex = example_images()
    if not ex:
        return (None, None, None, None, *forward_render(None, schedule, T, zero_terminal_snr, t)[1:], None, "",
                "No bundled examples found: upload an image.")
    return forward_load(ex[0][0], seed, schedule, T, zero_terminal_snr, t)


def sampling_tab_load(path: str | None, steps: int, spacing: str, session_models: dict | None = None):
    """On page load: fresh model list, the timestep list, and a clear notice when no model is available yet.

    Returns (model dropdown, timesteps Markdown, notice Markdown).
    """
    choices = list_checkpoints(session_models)
    if not choices:
        notice = (f"⚠ **No model yet.** No checkpoint was found in `{checkpoint_dir()}`. Train one in the "
                  "**Train on MNIST** tab (the quick preset takes 5 minutes); it will appear in the model list here.")
        return gr.Dropdown(choices=[], value=None), timesteps_md(None, steps, spacing), gr.Markdown(notice, visible=True)
    values = [v for _, v in choices]
    path = path if path in values else values[0]
    return (gr.Dropdown(choices=choices, value=path), timesteps_md(path, steps, spacing, session_models),
            gr.Markdown(visible=False))


def theory_link(tab: str, control: str | None):
    """A "show me" button's handler: switch to `tab` and set one control.

    Inputs: (T,). Outputs: (tabs, t, zero-terminal-SNR toggle, η, guidance, ε-vs-v accordion).
    """

    def link(T):
        T = _clamp_T(T)
        t = gr.skip()
        ztsnr = eta = guidance = accordion = gr.skip()
        if control == "t_mid":
            t = T // 2
        elif control == "ztsnr":
            ztsnr, t = True, T - 1
        elif control == "eta_one":
            eta = 1.0
        elif control == "guidance_four":
            guidance = 4.0
        elif control == "epsv_open":
            accordion = gr.Accordion(open=True)
        return gr.Tabs(selected=tab), t, ztsnr, eta, guidance, accordion

    return link
