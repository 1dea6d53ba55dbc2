"""Tab 1, forward noising: pick an image and a schedule, move t, watch x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε.

Layout and wiring in :func:`build`; the handlers are plain functions (tests call them without a server).
Public endpoint: ``/forward`` (:func:`forward_api`).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from gradio.components.plot import PlotData

from playground import render
from playground.diffusion import q_chain, q_sample
from playground.samplers import run_to_end
from playground.schedules import SCHEDULES
from playground.ui import inputs
from playground.ui.classroom import as_bool, as_int, one_of
from playground.ui.files import out_path
from playground.ui.images import display_scale, example_images, load_image
from playground.ui.limits import LIMITS, clamp_T
from playground.ui.page import FAST, PRIVATE, PROGRESS, SCHEDULE_CHOICES, Page, explain

TAB_ID = "forward"
TAB_TITLE = "Forward"


def example_path(evt: gr.SelectData) -> tuple[str, str]:
    """Gallery click → (the example's file path, its name for deep links)."""
    path, name = example_images()[evt.index]
    return path, name


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
            "k": display_scale(*x0.shape[:2])}


def _pixels(a: float, b: float, X: np.ndarray, E: np.ndarray, k: int) -> np.ndarray:
    """uint8 image of a·X + b·E + 127.5 (a = √ᾱ, b = √(1−ᾱ)), upscaled ×k; 2-D for grayscale."""
    out = X * a
    out += E * b
    out += 128.0  # 127.5 + 0.5: the uint8 cast below then rounds (as the browser does) instead of truncating
    np.clip(out, 0, 255, out=out)
    img = out.astype(np.uint8)
    if img.shape[2] == 1:
        img = img[..., 0]
    return render.upscale(img, k)


def _numbers_md(name: str, T: int, zero_terminal_snr: bool, t: int) -> str:
    s = render.cached_schedule(name, T, zero_terminal_snr)
    ab, snr, beta = float(s.alpha_bar[t]), float(s.snr[t]), float(s.betas[t])
    lam = "−∞" if snr == 0 else f"{math.log(snr):+.2f}"
    term = s.terminal_snr
    return (
        f"**t = {t}** of T = {T} &nbsp;·&nbsp; ᾱ<sub>t</sub> = **{ab:.4f}** &nbsp;·&nbsp; "
        f"signal √ᾱ = {math.sqrt(ab):.3f}, noise √(1−ᾱ) = {math.sqrt(max(1 - ab, 0)):.3f}  \n"
        f"SNR(t) = **{snr:.4g}** (log-SNR {lam}) &nbsp;·&nbsp; β<sub>t</sub> = {beta:.4g} &nbsp;·&nbsp; "
        f"terminal SNR(T−1) = **{term:.3g}**" + (" (zero terminal SNR)" if zero_terminal_snr else "")
    )




def forward_image(state: dict, schedule: str, T: int, zero_terminal_snr: bool, t: int) -> np.ndarray:
    """x_t as a uint8 image (upscaled for tiny images): the one multiply-add of the tab."""
    T = clamp_T(T)
    t = int(min(max(int(t or 0), 0), T - 1))
    ab = float(render.cached_schedule(schedule, T, bool(zero_terminal_snr)).alpha_bar[t])
    return _pixels(math.sqrt(ab), math.sqrt(max(1.0 - ab, 0.0)), state["X"], state["E"], state["k"])


def forward_render(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """x_t image, numbers Markdown and schedule charts for timestep t (server path; the page blends in the browser).

    Nothing here depends on the image size except one multiply-add and the uint8 conversion;
    the charts are cached per schedule and only their markers move.
    """
    T = clamp_T(T)
    t = int(min(max(int(t or 0), 0), T - 1))
    fig = PlotData(type="plotly", plot=render.schedule_figure_with_marker(schedule, T, bool(zero_terminal_snr), t))
    md = _numbers_md(schedule, T, bool(zero_terminal_snr), t)
    if not state:
        return None, md, fig
    return forward_image(state, schedule, T, zero_terminal_snr, t), md, fig


# ε travels to the browser as int8(round(24·ε)): steps of 0.04, clipped at ±5.3 (|ε| > 5.3: 1 pixel in 10⁷)
EPS_SCALE = 24
BLEND_JS = (Path(__file__).parent / "js" / "forward_blend.js").read_text()
XT_CANVAS = ('<div class="xt-label">x<sub>t</sub> (noised image), drawn in your browser</div>'
             '<canvas width="1" height="1" role="img" aria-label="x_t, the noised image"></canvas>')
SAVE_PNG_JS = """() => {
  const c = document.querySelector('#xt-image canvas'); if (!c) return;
  const a = document.createElement('a'); a.href = c.toDataURL('image/png');
  a.download = `x_t-t${c.dataset.t || 0}.png`; a.click();
}"""
CSS = """
#xt-image { text-align: center; }
#xt-image canvas { height: min(430px, 60vh); max-width: 100%; image-rendering: pixelated; border-radius: 6px; }
#xt-image .xt-label { text-align: left; font-size: 0.9em; color: var(--block-label-text-color); margin-bottom: 4px; }
.dp-hidden { display: none !important; }
#forward-examples .caption-label { max-width: 100%; font-size: 0.78em; }
.image-caption p { margin: 0 0 2px; font-size: 0.9em; color: var(--block-label-text-color); }
/* presenter mode at 1280×720: x_t, the current t, the t slider and Play in view without scrolling */
body.present #forward-examples { height: 84px !important; }
body.present #forward-examples .grid-wrap { max-height: 78px; overflow-y: auto; padding-top: 4px; }
body.present #forward-examples .caption-label { display: none; }
body.present #t-slider .info-text { display: none; }
/* !important: Gradio also adds a copy of the rule above under a longer, stronger selector */
body.present #xt-image canvas { height: min(430px, 46vh) !important; }
body.present #xt-image .xt-label, body.present .image-caption p { font-size: 18px !important; }
body.present #forward-ztsnr label span { font-size: 16px; }
"""


def client_payload(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool) -> dict | None:
    """What the browser needs to draw x_t for ANY t without asking the server (js/forward_blend.js).

    x₀ as uint8 pixels and ε as int8 (ε·EPS_SCALE), both (H, W, C) row-major in base64, plus the ᾱ_t
    and β_t tables. Sent once per image, noise seed or schedule; a move of t then costs the server nothing.
    """
    if not state:
        return None
    T = clamp_T(T)
    s = render.cached_schedule(schedule, T, bool(zero_terminal_snr))
    x0 = np.clip(np.rint(state["X"] + 127.5), 0, 255).astype(np.uint8)
    eps = np.clip(np.rint(state["eps"] * EPS_SCALE), -127, 127).astype(np.int8)
    H, W, C = x0.shape
    key = hashlib.blake2b(x0.tobytes() + eps.tobytes(), digest_size=8).hexdigest()
    return {"key": key, "w": W, "h": H, "c": C,
            "x0": base64.b64encode(x0.tobytes()).decode(), "eps": base64.b64encode(eps.tobytes()).decode(),
            "eps_scale": EPS_SCALE, "T": T, "schedule": schedule, "zero_terminal_snr": bool(zero_terminal_snr),
            "alpha_bar": s.alpha_bar.tolist(), "beta": s.betas.tolist(), "terminal_snr": s.terminal_snr}


def forward_strip(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, n: int = 8):
    """x_t at n evenly spaced t (same noise), side by side; None without an image."""
    if not state:
        return None
    T = clamp_T(T)
    s = render.cached_schedule(schedule, T, bool(zero_terminal_snr))
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
    return render.hstack_with_gap(tiles), ", ".join(f"t={t}" for t in ts)


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


def forward_reseed(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int,
                   seed: int | None = None):
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
    T = clamp_T(T)
    t_in = int(t or 0)
    t = min(t_in, T - 1)
    # Set t only when the new T forces it down: another event (a deep link) may be setting t at the same moment.
    slider = gr.Slider(maximum=T - 1, value=t) if t != t_in else gr.Slider(maximum=T - 1)
    img, md, fig = forward_render(state, schedule, T, zero_terminal_snr, t)
    if not state:  # no image yet (a deep link sets the schedule while the first image loads): leave images alone
        return slider, gr.skip(), md, fig, gr.skip(), gr.skip()
    strip_img, cap = forward_strip(state, schedule, T, zero_terminal_snr)
    return slider, img, md, fig, strip_img, cap


PLAY_LABEL, PAUSE_LABEL = "▶ Play through t", "❚❚ Pause"


PLAY_SECONDS = 8.0  # one sweep from t to T−1 takes this long, however often the browser draws a frame
# "Play through t" runs in the browser (js/forward_play.js): no server request per frame.
PLAY_JS = ((Path(__file__).parent / "js" / "forward_play.js").read_text()
           .replace("__PLAY_SECONDS__", str(PLAY_SECONDS)).replace("__PLAY_LABEL__", PLAY_LABEL)
           .replace("__PAUSE_LABEL__", PAUSE_LABEL))
PLAY_END_JS = f"() => {json.dumps(PLAY_LABEL)}"  # #play-end (clicked by PLAY_JS at T−1): the label goes back


def chain_check(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, t: int, draws: int | None = None,
                progress=PROGRESS):
    """Closed form vs step-by-step chain: K draws of x_t each way, compare per-pixel mean and std.

    Runs on a ≤24-pixel copy of the image so that K·(t+1) chain steps stay cheap.
    Returns (Markdown with the numbers, histogram figure).
    """
    if not state:
        raise gr.Error("Load an image first.")
    T = clamp_T(T)
    t = int(min(max(int(t or 0), 0), T - 1))
    K = int(draws or LIMITS.chain_draws)
    s = render.cached_schedule(schedule, T, bool(zero_terminal_snr))
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
        x = run_to_end(q_chain(s, x0b[c0:c0 + chunk], t, generator=g))
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
        rows.append(f"| {name} | {float((m - mean_th).abs().mean()):.4f} | {float(sd.mean()):.4f} | "
                    f"{float((sd - std_th).abs().mean()):.4f} |")
        z[name] = ((xs - mean_th) / max(std_th, 1e-12)).flatten().numpy() if std_th > 0 else np.zeros(1)
    mc = std_th / math.sqrt(K)
    md = (
        f"**{K} draws** per route of a {x0s.shape[2]}×{x0s.shape[1]} copy, t = {t}. "
        f"Theory: mean √ᾱ·x₀ with √ᾱ = {math.sqrt(ab):.4f}, std √(1−ᾱ) = **{std_th:.4f}**.\n\n"
        "| route | mean abs. error of per-pixel mean | average per-pixel std | mean abs. error of std "
          "|\n|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nMonte-Carlo error expected from {K} draws: about {mc * 0.8:.4f} for the mean, "
          f"{std_th / math.sqrt(2 * K) * 0.8:.4f} "
        "for the std. Both routes land within it: the chain of one-step kernels √α·x + √β·ε "
        "has exactly the closed form's distribution."
    )
    fig = render.chain_histogram(z["closed form"], z[f"chain ({t + 1} steps)"], t)
    return md, fig


def forward_gif(state: dict | None, schedule: str, T: int, zero_terminal_snr: bool, frames: int = 40,
                progress=PROGRESS) -> str:
    """Export x_0 → x_{T−1} as an animated GIF (same noise throughout). Returns the file path."""
    if not state:
        raise gr.Error("Load an image first.")
    T = clamp_T(T)
    s = render.cached_schedule(schedule, T, bool(zero_terminal_snr))
    X, E = state["X"], state["E"]
    step = max(1, math.ceil(max(X.shape[:2]) / 256))
    X, E = X[::step, ::step], E[::step, ::step]
    k = display_scale(*X.shape[:2])
    ts = np.unique(np.linspace(0, T - 1, frames).round().astype(int))
    imgs = [_pixels(1.0, 0.0, X, E, k)]
    for i, t in enumerate(ts):
        ab = float(s.alpha_bar[t])
        imgs.append(_pixels(math.sqrt(ab), math.sqrt(max(1 - ab, 0)), X, E, k))
        progress((i + 1, len(ts)), desc="encoding GIF")
    path = out_path(f"noising-{schedule}-T{T}", ".gif")
    return render.write_gif(path, imgs, duration_ms=80)


def _api_state(image: str, seed: int) -> dict:
    """forward_state for an API call, reused while the same file (path, size, mtime) and seed come back.

    Gradio stores an upload under a hash of its content, so a class of students sending one photo hits the
    cache: the image is decoded and the noise drawn once, not once per call. States are never mutated."""
    if image is None or str(image).strip() == "":
        load_image(image)  # raises the friendly "No image yet" error
    p = Path(image)
    try:
        st = p.stat()
    except OSError:
        return forward_state(load_image(image), seed, p.name)  # load_image raises a clear error
    return _api_state_cached(str(p.resolve()), st.st_size, st.st_mtime_ns, seed)


@functools.lru_cache(maxsize=8)
def _api_state_cached(path: str, size: int, mtime_ns: int, seed: int) -> dict:
    return forward_state(load_image(path), seed, Path(path).name)


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
    T = clamp_T(diffusion_steps)
    t = int(min(max(int(t), 0), T - 1))
    state = _api_state(image, int(seed))
    img = forward_image(state, schedule, T, bool(zero_terminal_snr), t)
    s = render.cached_schedule(schedule, T, bool(zero_terminal_snr))
    snr = float(s.snr[t])
    stats = {"t": t, "T": T, "schedule": s.describe(), "alpha_bar": float(s.alpha_bar[t]), "snr": snr,
             "log_snr": None if snr == 0 else math.log(snr), "terminal_snr": s.terminal_snr,
             "width": int(state["x0"].shape[1]), "height": int(state["x0"].shape[0])}
    return img, stats



def forward_load_default(image_name: str | None, seed, schedule: str, T: int, zero_terminal_snr: bool, t: int):
    """On page load: the example a deep link names (else the first one), so the Forward tab is never empty.

    Returns (t slider clamped to the T in use, *forward_load's outputs)."""
    T_ = clamp_T(T)
    t = int(min(max(int(t or 0), 0), T_ - 1))
    slider = gr.Slider(maximum=T_ - 1, value=t)
    ex = example_images()
    if not ex:
        return (slider, None, None, None, None, *forward_render(None, schedule, T, zero_terminal_snr, t)[1:], None, "",
                "No bundled examples found: upload an image.")
    path = next((p for p, name in ex if name == image_name), ex[0][0])
    return (slider, *forward_load(path, seed, schedule, T, zero_terminal_snr, t))




# ==================================================================================================
# Layout and wiring
# ==================================================================================================


def _controls() -> dict:
    """The left column: examples, schedule, T, t, Play, new noise (all in view at 1280×720), upload, seed."""
    c = {}
    c["examples"] = gr.Gallery(value=example_images(), label="Click an example…", columns=4, rows=2, height=230,
                               allow_preview=False, object_fit="cover", buttons=[], elem_id="forward-examples")
    c["image_name"] = gr.Textbox(visible=False)  # the example shown, by name: deep links (?image=rocket)
    c["schedule"] = gr.Dropdown(SCHEDULE_CHOICES, value="cosine", label="Noise schedule", elem_id="forward-schedule")
    c["ztsnr"] = gr.Checkbox(False, label="Zero terminal SNR (ᾱ = 0 at t = T−1)",
                             elem_id="forward-ztsnr", container=False)
    c["T"] = gr.Slider(10, LIMITS.max_T, value=min(1000, LIMITS.max_T), step=10, label="T (number of diffusion steps)",
                       elem_id="T-slider")
    c["t"] = gr.Slider(0, 999, value=250, step=1, label="t (timestep)", elem_id="t-slider",
                       info="drag: x_t updates live")
    with gr.Row():
        c["play"] = gr.Button(PLAY_LABEL, variant="primary", elem_id="play-btn")
        c["reseed"] = gr.Button("New noise ε")
    c["play_end"] = gr.Button("play ended", elem_id="play-end", elem_classes="dp-hidden")
    c["upload"] = gr.File(label="…or upload your own image", file_types=["image"], height=130,
                          elem_id="forward-upload", elem_classes="hide-when-presenting")
    c["seed"] = gr.Number(0, label="Noise seed", precision=0, minimum=0, maximum=2**31 - 1,
                          info="Enter a seed and press Enter to reuse a noise sample",
                          elem_classes="hide-when-presenting")
    c["info"] = gr.Markdown(elem_classes="explain")
    return c


def _views() -> dict:
    """The middle and right columns: x_t drawn by the browser, its numbers, then x₀ and ε (captions above)."""
    c = {}
    with gr.Column(scale=5, min_width=380):
        # x_t is drawn by the browser (js/forward_blend.js) from x₀, ε and the ᾱ table: moving t costs the
        # server nothing, however many students move their sliders at once.
        gr.HTML(XT_CANVAS, elem_id="xt-image", padding=False)
        with gr.Row():
            c["save_png"] = gr.Button("⬇ Save x_t as PNG", size="sm", scale=0, min_width=180,
                                      elem_classes="hide-when-presenting")
        c["numbers"] = gr.Markdown(elem_classes="numbers", elem_id="forward-numbers")
        c["payload"] = gr.JSON(visible=False)  # client_payload: what the browser needs to draw x_t at any t
        c["xt_img"] = gr.Image(label="x_t (noised image)", format="jpeg", visible=False)  # the server path (/forward)
    with gr.Column(scale=2, min_width=200):
        gr.Markdown("x₀ (clean)", elem_classes="image-caption")
        c["x0_img"] = gr.Image(label="x₀ (clean)", show_label=False, format="jpeg", height=200, interactive=False,
                               elem_classes="pixelated", buttons=[], elem_id="forward-x0")
        gr.Markdown("ε (the fixed noise sample)", elem_classes="image-caption")
        c["eps_img"] = gr.Image(label="ε (the fixed noise sample)", show_label=False, format="jpeg", height=200,
                                interactive=False, elem_classes="pixelated", buttons=[], elem_id="forward-eps")
    return c


def _below() -> dict:
    """Under the images: the schedule charts, the strip over t, the chain check and the GIF export."""
    c = {}
    gr.Markdown("### The schedule: red markers follow t")
    explain("**Top left:** the signal scale √ᾱ_t falls while the noise scale √(1−ᾱ_t) rises; their "
            "squares add up to 1 (variance preserving), and ᾱ_t is the square of the signal scale. **Top right:** "
            "SNR(t) = ᾱ/(1−ᾱ) on a log axis. **Bottom left:** β_t, the variance each single step adds. **Bottom "
            "right:** every schedule on the common log-SNR axis: cosine keeps more signal in the middle, linear "
            "destroys it early.")
    c["plot"] = gr.Plot(show_label=False, elem_id="schedule-plot")
    c["strip"] = gr.Image(label="x_t at evenly spaced t (same noise)", format="jpeg", height=150, interactive=False,
                          elem_classes="pixelated", buttons=["download"])
    c["strip_cap"] = gr.Markdown(elem_classes="explain")
    with gr.Accordion("Closed form vs. step-by-step chain: same distribution?", open=False):
        explain("The closed form jumps straight from x₀ to x_t. The chain applies the one-step kernel "
                "x_s = √α_s·x_{s−1} + √β_s·ε t+1 times. Both are run K times on a small copy of the image, and "
                "the per-pixel mean and std of the draws are compared with theory.")
        c["chain_btn"] = gr.Button("Run both at the current t")
        c["chain_md"] = gr.Markdown()
        c["chain_plot"] = gr.Plot(show_label=False)
    with gr.Accordion("Export the noising sequence as a GIF", open=False):
        c["gif_btn"] = gr.Button("Make the GIF (x₀ → x_T, same noise)")
        c["gif_file"] = gr.Image(label="Noising sequence (GIF): use the download button", interactive=False,
                                 height=260, elem_classes="pixelated", buttons=["download"])
    return c


def build(page: Page) -> None:
    """The Forward tab's components and events (called inside ``with gr.Tab(...)``)."""
    fwd = gr.State(None)  # this session's cached image tensor + ONE fixed noise sample
    explain("Pick an image, then move **t**. The noise ε stays the same as t moves, so you see one image "
            "dissolving: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            c = _controls()
        c.update(_views())
    c.update(_below())
    c["fwd"] = fwd
    _wire(page, c)


def _wire(page: Page, c: dict) -> None:
    """The Forward tab's events, deep-link settings and Theory links.

    A move of t (and Play) runs in the browser only (js-only events, no server function). The server sends a new
    payload when the image, the noise or the schedule changes; drawing it is the payload's change event."""
    fwd, t, T, payload, upload, seed = c["fwd"], c["t"], c["T"], c["payload"], c["upload"], c["seed"]
    api_forward, api_stats = gr.Button(visible=False), gr.JSON(visible=False)
    heavy = dict(concurrency_id="forward", concurrency_limit=4)
    fwd_out = [fwd, c["x0_img"], c["xt_img"], c["eps_img"], c["numbers"], c["plot"], c["strip"], c["strip_cap"],
               c["info"]]
    sched_in = [fwd, c["schedule"], T, c["ztsnr"], t]
    load_in = [upload, seed, c["schedule"], T, c["ztsnr"], t]
    reseed_out = [fwd, seed, c["xt_img"], c["eps_img"], c["strip"], c["strip_cap"]]
    send_payload = dict(fn=client_payload, inputs=[fwd, c["schedule"], T, c["ztsnr"]], outputs=payload, **FAST)
    upload.upload(lambda: "", None, c["image_name"], **FAST)  # an upload has no name to link to
    # a bad file keeps the previous x₀, ε and x_t, with one warning (inputs.keep_outputs_on_error)
    upload.upload(inputs.keep_outputs_on_error(forward_load, len(fwd_out)), load_in, fwd_out, **heavy,
                  **PRIVATE).then(**send_payload)
    c["examples"].select(example_path, None, [upload, c["image_name"]], **FAST).then(
        forward_load, load_in, fwd_out, **heavy, **PRIVATE).then(**send_payload)
    t.change(None, [t, payload], [c["numbers"]], js=BLEND_JS, **FAST)
    payload.change(None, [t, payload], [c["numbers"]], js=BLEND_JS, **FAST)
    c["save_png"].click(None, None, None, js=SAVE_PNG_JS, **FAST)
    for comp in (c["schedule"], c["ztsnr"], T):
        comp.change(forward_schedule_changed, sched_in, [t, c["xt_img"], c["numbers"], c["plot"], c["strip"],
                                                         c["strip_cap"]],
                    trigger_mode="always_last", **FAST).then(**send_payload)
    c["reseed"].click(forward_reseed, sched_in, reseed_out, **FAST).then(**send_payload)
    seed.submit(forward_reseed, [*sched_in, seed], reseed_out, **FAST).then(**send_payload)
    c["play"].click(None, None, c["play"], js=PLAY_JS, **FAST)
    c["play_end"].click(None, None, c["play"], js=PLAY_END_JS, **FAST)
    c["chain_btn"].click(chain_check, sched_in, [c["chain_md"], c["chain_plot"]], **heavy, **PRIVATE)
    c["gif_btn"].click(forward_gif, [fwd, c["schedule"], T, c["ztsnr"]], c["gif_file"], **heavy, **PRIVATE)
    api_forward.click(forward_api, [upload, c["schedule"], T, t, c["ztsnr"], seed], [c["xt_img"], api_stats],
                      api_name="forward", **heavy)
    page.on_load(lambda loaded: loaded.then(forward_load_default, [c["image_name"], seed, c["schedule"], T,
                                                                    c["ztsnr"], t],
                                            [t, *fwd_out], **PRIVATE).then(**send_payload))
    page.components.update(forward_state=fwd, forward_t=t, forward_T=T)
    page.param("image", c["image_name"], one_of([name for _, name in example_images()]))
    page.param("schedule", c["schedule"], one_of(SCHEDULE_CHOICES))
    page.param("T", T, as_int(10, LIMITS.max_T))
    page.param("t", t, as_int(0, LIMITS.max_T - 1), lambda v: gr.Slider(value=v, maximum=max(v, LIMITS.max_T - 1)))
    page.param("ztsnr", c["ztsnr"], as_bool)
    page.param("seed", seed, as_int(0, 2**31 - 1))
    page.link("t_mid", [t], lambda T_: clamp_T(T_) // 2, [T])
    page.link("ztsnr", [c["ztsnr"], t], lambda T_: (True, clamp_T(T_) - 1), [T], target="xt-image")
