"""What the tabs share: limits, image loading, the checkpoint list and model cache, the output folder,
the "someone is sampling" flag, and :class:`Page`, the handle each tab's ``build`` receives.

Each tab is a module of this package with ``TAB_ID``, ``TAB_LABEL`` and ``build(page)``; ``app.py``
assembles them. The diffusion maths lives in the core (schedules / diffusion / samplers); the UI only calls it.

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
PLAYGROUND_QUEUE_SIZE           256        256        requests waiting in Gradio's queue (then "queue is full")
PLAYGROUND_MAX_CHECKPOINT_BYTES 50000000   20000000   bytes of an uploaded checkpoint (Sampling tab)
==============================  =========  =========  ==============================================

Other settings: ``PLAYGROUND_CHECKPOINT_DIR`` (where shipped checkpoints are listed; default
``checkpoints/``), ``PLAYGROUND_SAVE_TRAINED`` (1/0: also write models trained in the app into that
folder; default 1 locally, 0 on a Space), ``PLAYGROUND_DEVICE`` (see playground.runtime.device),
``PLAYGROUND_THREADS`` (torch CPU threads for the whole process; default: torch's choice. On a CPU that
other processes keep busy, 1 is much faster for the small sampling batches: OpenMP threads wait on
each other when a core is taken away).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import math
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from playground import render
from playground.mnist.checkpoint import CHECKPOINT_DIR, DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint, load_model
from playground.runtime.device import pick_device


ON_SPACE = bool(os.environ.get("SPACE_ID"))
REPO_ROOT = Path(__file__).resolve().parents[2]
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
    queue_size: int = _env_num("PLAYGROUND_QUEUE_SIZE", 256, 256)
    max_checkpoint_bytes: int = _env_num("PLAYGROUND_MAX_CHECKPOINT_BYTES", 50_000_000, 20_000_000)


LIMITS = Limits()

if os.environ.get("PLAYGROUND_THREADS", "").strip():
    torch.set_num_threads(max(1, int(os.environ["PLAYGROUND_THREADS"])))
_DEFAULT_THREADS = torch.get_num_threads()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def adapt_threads(load: float | None = None) -> int:
    """Busy host → one torch thread; calm again → torch's default. Called before each interactive job.

    On a 2-core machine at load ≈ 9, sampling took 8.0 s on one thread and 36.0 s on two (OpenMP threads wait
    for each other when a core is taken away; bench/bench_busy_host.py). The 1-minute load average above
    cores + 0.5 counts as busy, below cores − 0.5 as calm (hysteresis in between); so does another interactive job
    running in this process (the jobs would oversubscribe the cores). PLAYGROUND_THREADS pins it.
    Returns the thread count in use.
    """
    if os.environ.get("PLAYGROUND_THREADS", "").strip() or _DEFAULT_THREADS <= 1:
        return torch.get_num_threads()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            return torch.get_num_threads()
    cores = _cores()
    # another interactive job is running: each job's OpenMP team would want every core (2 jobs × 2 threads on 2
    # cores), so both drop to one thread until the server is calm again
    others = _interactive["n"] > 0
    want = 1 if load > cores + 0.5 or others else _DEFAULT_THREADS if load < cores - 0.5 else torch.get_num_threads()
    if want != torch.get_num_threads():
        torch.set_num_threads(want)
    return want

SCHEDULE_CHOICES = [(render.SCHEDULE_LABELS[s], s) for s in ("linear", "cosine", "scaled_linear", "sigmoid")]
SPACING_CHOICES = ["leading", "trailing", "linspace"]
DIGIT_CHOICES = ["mixed 0–9", *[str(d) for d in range(10)], "unconditional (null label)"]

# One folder for the files this process hands out (GIFs, grids, checkpoints trained here).
OUT_DIR = Path(tempfile.mkdtemp(prefix="diffusion-playground-"))

device_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def device() -> torch.device:
    """The compute device, picked once (CUDA on a GPU Space, else MPS, else CPU)."""
    return pick_device()


def out_path(stem: str, suffix: str) -> Path:
    """A fresh file name under OUT_DIR; files older than an hour are removed on the way."""
    now = time.time()
    for old in OUT_DIR.glob("*"):
        try:
            if now - old.stat().st_mtime > 3600:
                old.unlink()
        except OSError:
            pass
    return OUT_DIR / f"{stem}-{_dt.datetime.now().strftime('%H%M%S')}-{os.urandom(3).hex()}{suffix}"


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


def example_images() -> list[tuple[str, str]]:
    """(path, caption) of the bundled examples: photos first, then MNIST digits."""
    if not EXAMPLES_DIR.is_dir():
        return []
    files = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    photos = [p for p in files if not p.name.startswith("mnist")]
    digits = [p for p in files if p.name.startswith("mnist")]
    return [(str(p), p.stem.replace("_", " ")) for p in photos + digits]


def display_scale(h: int, w: int) -> int:
    """Nearest-neighbour upscale factor so tiny images (MNIST) show crisp and big enough."""
    return max(1, 256 // max(h, w))


def clamp_T(T) -> int:
    return int(min(max(int(T or 1000), 2), LIMITS.max_T))


def checkpoint_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_CHECKPOINT_DIR") or CHECKPOINT_DIR)


@functools.lru_cache(maxsize=64)
def _read_meta(path: str, mtime_ns: int):
    try:
        obj = load_checkpoint(path)
    except CheckpointError:
        return None
    return obj["meta"], obj["config"]


def meta_of(path: str | Path):
    p = Path(path)
    try:
        return _read_meta(str(p), p.stat().st_mtime_ns)
    except OSError:
        return None


def checkpoint_label(path: Path, meta: dict, prefix: str = "") -> str:
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
        m = meta_of(p)
        if m is not None:
            out.append((checkpoint_label(p, m[0]), str(p)))
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
        with device_lock:
            return _load_cached(str(p), p.stat().st_mtime_ns)
    except (CheckpointError, OSError) as e:
        raise gr.Error(str(e)) from None


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


def digit_grid(x: torch.Tensor, scale: int | None = None) -> np.ndarray:
    """(B, 1, H, W) in [−1, 1] → one uint8 grid image."""
    imgs = render.to_uint8(x[:, 0].detach().float().cpu().numpy())
    n = imgs.shape[0]
    scale = scale or (4 if n <= 4 else 3)
    c = math.ceil(math.sqrt(n))
    ncol = min((c, c + 1), key=lambda k: (-(-n // k) * k - n, k)) if n > 3 else n  # few empty cells, square-ish
    return render.image_grid(imgs, ncol=ncol, pad=2, scale=scale)


def session_id(request) -> str:
    return getattr(request, "session_hash", None) or "anonymous"



# --- the page handle each tab's build() receives ------------------------------------------------------

PRIVATE = dict(api_visibility="private")  # widget wiring, not part of the public API
FAST = dict(api_visibility="private", show_progress="hidden", queue=False)  # cheap, per-move events


def explain(text: str) -> gr.Markdown:
    """A subdued paragraph of explanation (hidden in presenter mode)."""
    return gr.Markdown(text, elem_classes="explain")


@dataclass
class Link:
    """What a Theory "Show me" button sets: fn(*inputs) → one update per output (the tab switch is added)."""

    outputs: list
    fn: Callable[..., Any]
    inputs: list = field(default_factory=list)


@dataclass
class Page:
    """Handles shared between tabs while app.py builds the page.

    ``tabs`` is the gr.Tabs container (a handler selects a tab by returning ``gr.Tabs(selected=id)``),
    ``session_models`` the per-session {label: checkpoint path} of models trained or uploaded in this
    browser session, ``components`` the few widgets another tab writes to (e.g. the Training tab
    refreshes the Sampling tab's model list), and ``links`` the Theory tab's targets by control name.
    ``params`` are the deep-link settings (see ui/classroom.py) and ``load_steps`` the tabs' first-load work,
    which runs after a deep link's settings are applied.
    """

    demo: gr.Blocks
    tabs: gr.Tabs
    session_models: gr.State
    current_tab: str = ""  # the id of the tab being built (app.py sets it)
    components: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    params: list = field(default_factory=list)
    load_steps: list[Callable[[Any], Any]] = field(default_factory=list)

    def param(self, name: str, component, parse: Callable[[str], Any], update: Callable[[Any], Any] | None = None) -> None:
        """A deep-link setting of the current tab: ``?tab=<id>&<name>=<raw>`` sets ``component`` to parse(raw)."""
        from playground.ui.classroom import Param

        if any(p.tab == self.current_tab and p.name == name for p in self.params):
            raise ValueError(f"deep-link setting {name!r} of tab {self.current_tab!r} is registered twice")
        self.params.append(Param(self.current_tab, name, component, parse, update))

    def on_load(self, wire: Callable[[Any], Any]) -> None:
        """First-load work of a tab: ``wire(event)`` chains it with ``event.then(...)`` after the deep link is applied."""
        self.load_steps.append(wire)

    def link(self, control: str, outputs: Sequence, fn: Callable[..., Any], inputs: Sequence = ()) -> None:
        """Register a Theory "Show me" target: the button switches tabs, then sets ``outputs`` to fn(*inputs)."""
        if control in self.links:
            raise ValueError(f"theory link {control!r} is registered twice")
        self.links[control] = Link(list(outputs), fn, list(inputs))


def sketch_image(value) -> np.ndarray | None:
    """The drawing in a Sketchpad value: Gradio 6 sends {"background", "layers", "composite"} (numpy)."""
    if value is None:
        return None
    if isinstance(value, dict):
        comp = value.get("composite")
        if comp is not None:
            return np.asarray(comp)
        layers = [np.asarray(layer) for layer in value.get("layers") or [] if layer is not None]
        if layers:  # no composite: stack the stroke layers
            out = layers[0].copy()
            for layer in layers[1:]:
                a = layer[..., 3:4].astype(np.float32) / 255 if layer.shape[-1] == 4 else 1.0
                out = (out * (1 - a) + layer * a).astype(np.uint8)
            return out
        bg = value.get("background")
        return None if bg is None else np.asarray(bg)
    return np.asarray(value)


@contextlib.contextmanager
def user_errors():
    """The core's ValueErrors are the user's mistakes: show them as gr.Error (a message, not a traceback)."""
    try:
        yield
    except ValueError as e:
        raise gr.Error(str(e)) from None
