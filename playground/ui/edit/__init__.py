"""Tab "Draw & edit": put something of your own in. SDEdit a drawing, inpaint an erased half, invert a digit to
noise with DDIM and decode it back, and walk between two digits' latents.

Layout and wiring here (:func:`build` and one sub-builder per tool); the handlers are in ``handlers.py`` (tests
call them without a server), the jobs in ``tools.py``, the inputs and pictures in ``digits.py``; the maths is in
playground/editing/edits.py and playground/editing/drawing.py. Public endpoints: ``/sdedit`` (``sdedit_api``),
``/inpaint`` (``inpaint_api``) and ``/invert`` (``invert_api``): an image file and the settings in, the result
images as files and the numbers shown in the UI out.
"""
from __future__ import annotations

from types import SimpleNamespace as NS

import gradio as gr

from playground.mnist.sample import DEFAULT_GUIDANCE
from playground.ui import jobs
from playground.ui.classroom import as_float, as_int, one_of
from playground.ui.edit.handlers import (
    CANVAS,
    DRIFT_GUIDANCE,
    LABEL_AUTO,
    LABEL_CHOICES,
    LABEL_NONE,
    MASK_CHOICES,
    SAMPLER_CHOICES,
    drift_run,
    inpaint_api,
    inpaint_run,
    interpolate_run,
    invert_api,
    invert_run,
    preview,
    random_index,
    sdedit_api,
    sdedit_run,
    sdedit_strip_run,
    with_seen,
)
from playground.ui.limits import LIMITS
from playground.ui.models import default_checkpoint, list_checkpoints
from playground.ui.page import FAST, PRIVATE, Page, explain
from playground.ui.sketchpad import ready_js, sketchpad

TAB_ID = "edit"
TAB_TITLE = "Draw & edit"
RESULT_PX = 200  # the result images' box (the picture is 224 px, shown pixelated)
CSS = """
#edit-sketch canvas { cursor: crosshair; }
.edit-numbers { font-size: 1.2em; }
.edit-result label[data-testid="block-label"] { position: static; margin: 0 0 4px; width: auto; max-width: 100%;
  white-space: normal; min-height: 2.9em; align-items: flex-start; }
.edit-result .image-container { height: auto !important; }
body.present #edit-seen-md { display: none; }
/* presenter mode at 1280×720: the status, the row labels and the result in view without scrolling */
body.present .edit-result { height: auto !important; }
body.present .edit-result img { max-height: 128px !important; }
body.present .edit-result label[data-testid="block-label"] { min-height: 0; }
body.present #edit-sketch { max-height: 330px; }
"""
HEAVY = dict(concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency)
INTRO = ("Put something of your own in. **Draw** a digit (or pick a real one, or upload a picture), then let the "
         "model finish it: **SDEdit** noises it part-way and denoises; **Inpaint** regenerates a region and keeps "
         "the rest exactly; **DDIM inversion** runs the deterministic sampler backwards to noise and forwards again; "
         "**Interpolate** walks between two digits' latents. The brush is ready: draw on the canvas.")


def build(page: Page) -> None:
    """The Draw & edit tab's components and events (called inside ``with gr.Tab(...)``)."""
    explain(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            inp = _input_column()
        with gr.Column(scale=8):
            with gr.Tabs(elem_id="edit-tools") as tools:
                with gr.Tab("SDEdit", id="sdedit"):
                    sd = _sdedit_tab()
                with gr.Tab("Inpaint", id="inpaint"):
                    ip = _inpaint_tab()
                with gr.Tab("DDIM inversion", id="invert"):
                    inv = _invert_tab()
                with gr.Tab("Interpolate", id="interp"):
                    it = _interp_tab()
    models = page.session_models
    digit_in = [inp.source, inp.sketch, inp.index, inp.upload]
    seen = [inp.seen, inp.seen_md]
    run = dict(**HEAVY, **PRIVATE)
    pv = _wire_inputs(page, inp, digit_in, ip.brush)
    common = [inp.steps, inp.label, inp.guidance]
    sd.btn.click(with_seen(sdedit_run), [*digit_in, sd.strength, sd.sampler, inp.steps, inp.label,
                                                 inp.guidance, inp.seed, inp.ckpt, models],
                         [sd.noised, sd.xt, sd.x0, sd.out, sd.numbers, sd.status, sd.files, *seen],
                         show_progress_on=[sd.status], **run)
    strip_in = [*digit_in, sd.sampler, *common, inp.seed, inp.ckpt, models]
    sd.strip_btn.click(_show, None, sd.strip, **FAST).then(with_seen(sdedit_strip_run), strip_in,
                                                           [sd.strip, sd.strip_md, sd.files, *seen],
                                                           show_progress_on=[sd.strip_md], **run)
    jobs.wire_stop(sd.stop, "sdedit")
    ip.btn.click(with_seen(inpaint_run), [*digit_in, ip.mask, ip.brush, ip.resample, ip.jump, ip.sampler, *common,
                                          inp.seed, inp.ckpt, models],
                 [ip.mask_img, ip.xt, ip.x0, ip.out, ip.numbers, ip.status, ip.files, *seen],
                 show_progress_on=[ip.status], **run)
    jobs.wire_stop(ip.stop, "inpaint")
    inv.btn.click(with_seen(invert_run), [*digit_in, *common, inp.ckpt, models],
                  [inv.xt, inv.x0, inv.latent, inv.recon, inv.err, inv.numbers, inv.status, inv.files, *seen],
                  show_progress_on=[inv.status], **run)
    inv.drift_btn.click(lambda: gr.Row(visible=True), None, inv.drift_col, **FAST).then(
        with_seen(drift_run), [*digit_in, inp.label, inp.ckpt, models], [inv.drift_plot, inv.drift_md, *seen], **run)
    jobs.wire_stop(inv.stop, "invert")
    it_in = [*digit_in, it.index_b, it.num, it.use_labels, inp.steps, inp.ckpt, models]
    it.btn.click(_show, None, it.img, **FAST).then(with_seen(interpolate_run), it_in, [it.img, it.md, it.files, *seen],
                                                   **run)
    _api_endpoints()
    page.on_load(lambda loaded: loaded.then(**pv).then(None, None, None, js=ready_js(["edit-sketch"]), **FAST))
    _params_and_links(page, tools, inp, sd, ip)


def _input_column() -> NS:
    c = NS(source=gr.State("draw"))
    with gr.Tabs(elem_id="edit-input-tabs"):
        with gr.Tab("✏️ Draw", id="draw") as c.tab_draw:
            c.sketch = sketchpad("edit-sketch", CANVAS, 24, "Draw a digit", CANVAS + 130)
        with gr.Tab("MNIST digit", id="mnist") as c.tab_mnist:
            with gr.Row():
                c.index = gr.Slider(0, 1999, value=0, step=1, label="Held-out digit #", elem_id="edit-index",
                                    info="2,000 real digits the model never saw")
                c.dice = gr.Button("Random", scale=0, min_width=90)
        with gr.Tab("Upload", id="upload") as c.tab_upload:
            c.upload = gr.Image(type="filepath", sources=["upload", "clipboard"], label="A picture of a digit",
                                height=260)
    c.seen = gr.Image(label="What the model gets: 28×28", interactive=False, height=RESULT_PX, width=RESULT_PX,
                      elem_classes=["pixelated", "edit-result"], elem_id="edit-seen", format="png",
                      buttons=["download"], placeholder="draw, pick or upload a digit")
    c.seen_md = gr.Markdown(elem_classes="explain", elem_id="edit-seen-md")
    c.ckpt = gr.Dropdown(list_checkpoints(), value=default_checkpoint(), label="Model (checkpoint)",
                         allow_custom_value=True, elem_id="edit-ckpt")
    c.label = gr.Dropdown(LABEL_CHOICES, value=LABEL_AUTO, label="Digit label", elem_id="edit-label",
                          info="pick another digit to turn a 3 into an 8")
    with gr.Row():
        c.guidance = gr.Slider(0, 8, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance w", elem_id="edit-guidance")
        c.steps = gr.Slider(1, min(LIMITS.max_steps, 1000), value=min(50, LIMITS.max_steps), step=1, label="Steps",
                            elem_id="edit-steps")
    c.seed = gr.Number(0, label="Seed", precision=0, min_width=100, elem_id="edit-seed")
    return c


def _sdedit_tab() -> NS:
    c = NS()
    explain("Noise the input to t₀ with the forward process, then denoise from t₀. Small t₀: faithful to your "
            "strokes. Large t₀: a realistic digit that forgets them.")
    with gr.Row():
        c.strength = gr.Slider(0, 1, value=0.5, step=0.01, label="Strength t₀ / T", elem_id="edit-strength", scale=3)
        c.sampler = gr.Radio(SAMPLER_CHOICES, value="ddim", label="Sampler", scale=2)
    with gr.Row():
        c.btn = gr.Button("▶ SDEdit", variant="primary", elem_id="edit-sdedit-btn")
        c.strip_btn = gr.Button("Strip over t₀", elem_id="edit-strip-btn")
        c.stop = gr.Button("■ Stop", variant="stop", elem_id="edit-sd-stop")
    c.status = gr.Markdown(elem_classes="status", elem_id="edit-sd-status")
    with gr.Row():
        c.noised = _result_image("x_t₀: the input, noised", "edit-noised")
        c.xt = _result_image("x_t, being denoised", "edit-sd-xt")
        c.x0 = _result_image("predicted x̂₀ at this step", "edit-sd-x0")
        c.out = _result_image("result", "edit-sd-out")
    c.numbers = gr.Markdown(elem_classes="edit-numbers", elem_id="edit-sd-numbers")
    c.strip = gr.Image(label="SDEdit strip: distance to the input d (faithfulness), classifier p (realism)",
                       visible=False, show_label=False, interactive=False, format="png", elem_id="edit-strip",
                       height=260, buttons=["download", "fullscreen"])
    c.strip_md = gr.Markdown(elem_id="edit-strip-md")
    c.files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple", interactive=False)
    return c


def _inpaint_tab() -> NS:
    c = NS()
    explain("Erase part of the digit and let the model grow it back. After every step the kept pixels are replaced "
            "by the original, noised to that step's t, so they end exactly unchanged. Pick another digit label to "
            "turn a 3 into an 8.")
    with gr.Row():
        c.mask = gr.Dropdown(MASK_CHOICES, value="top half", label="Region to regenerate", scale=3)
        c.sampler = gr.Radio(SAMPLER_CHOICES, value="ddpm", label="Sampler", scale=2)
    with gr.Row():
        c.resample = gr.Slider(1, 10, value=1, step=1, label="RePaint resamplings r", elem_id="edit-resample",
                               info="1 = plain replacement; r > 1 re-noises and redoes stretches")
        c.jump = gr.Slider(1, 25, value=10, step=1, label="Jump length j (steps)")
    with gr.Accordion("Brush: paint the region to regenerate", open=False):
        c.brush = gr.ImageEditor(type="numpy", image_mode="RGBA", canvas_size=(CANVAS, CANVAS), fixed_canvas=True,
                                 sources=(), transforms=(), layers=False, label="Paint over the digit",
                                 brush=gr.Brush(default_size=26, colors=[("#e628a0", 0.7)], color_mode="fixed"),
                                 height=CANVAS + 130, elem_id="edit-brush")
    with gr.Row():
        c.btn = gr.Button("▶ Inpaint", variant="primary", elem_id="edit-inpaint-btn")
        c.stop = gr.Button("■ Stop", variant="stop", elem_id="edit-ip-stop")
    c.status = gr.Markdown(elem_classes="status", elem_id="edit-ip-status")
    with gr.Row():
        c.mask_img = _result_image("mask: magenta is regenerated", "edit-mask")
        c.xt = _result_image("x_t", "edit-ip-xt")
        c.x0 = _result_image("predicted x̂₀", "edit-ip-x0")
        c.out = _result_image("result", "edit-ip-out")
    c.numbers = gr.Markdown(elem_classes="edit-numbers")
    c.files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple", interactive=False)
    return c


def _invert_tab() -> NS:
    c = NS()
    explain("DDIM with η = 0 is a deterministic map from noise to images (an ODE). Run it backwards: encode the "
            "input into its latent x_T, then decode x_T with the same steps. How close does it come back?")
    with gr.Row():
        c.btn = gr.Button("▶ Invert and reconstruct", variant="primary", elem_id="edit-invert-btn")
        ws = ", ".join(f"{w:g}" for w in DRIFT_GUIDANCE)
        c.drift_btn = gr.Button(f"Measure the drift: steps × w ∈ {{{ws}}}", elem_id="edit-drift-btn")
        c.stop = gr.Button("■ Stop", variant="stop", elem_id="edit-inv-stop")
    c.status = gr.Markdown(elem_classes="status", elem_id="edit-inv-status")
    with gr.Row():
        c.xt = _result_image("x_t (up, then down)", "edit-inv-xt")
        c.latent = _result_image("latent x_T", "edit-latent")
        c.recon = _result_image("reconstruction", "edit-recon")
        c.err = _result_image("|error| × 5", "edit-err")
    c.x0 = gr.State(None)  # the stream's x̂₀ (shown only in the GIF)
    c.numbers = gr.Markdown(elem_classes="edit-numbers", elem_id="edit-inv-numbers")
    with gr.Row(visible=False) as c.drift_col:  # shown when the drift is first measured (no empty chart before)
        c.drift_plot = gr.Plot(show_label=False, elem_id="edit-drift-plot")
        c.drift_md = gr.Markdown(elem_id="edit-drift-md")
    c.files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple", interactive=False)
    return c


def _interp_tab() -> NS:
    c = NS()
    explain("Invert two digits, walk along the great circle between their latents (slerp keeps the norm a Gaussian "
            "latent has), and decode each point.")
    with gr.Row():
        c.index_b = gr.Slider(0, 1999, value=1, step=1, label="Second digit: held-out #")
        c.num = gr.Slider(3, 12, value=8, step=1, label="Images in the row")
        c.use_labels = gr.Checkbox(False, label="Decode with labels (else unconditional)")
    c.btn = gr.Button("▶ Interpolate", variant="primary")
    c.img = gr.Image(visible=False, label="From your digit to the second", interactive=False, format="png",
                     buttons=["download", "fullscreen"], height=200)
    c.md = gr.Markdown()
    c.files = gr.File(label="Downloads: PNG and a morph GIF", file_count="multiple", interactive=False)
    return c


def _wire_inputs(page: Page, inp: NS, digit_in: list, brush) -> dict:
    """The preview follows every change of the input; returns the preview event's arguments (for the page load)."""
    pv = dict(fn=preview, inputs=digit_in, outputs=[inp.seen, inp.seen_md, brush], trigger_mode="always_last",
              **FAST)
    for tab, name in ((inp.tab_draw, "draw"), (inp.tab_mnist, "mnist"), (inp.tab_upload, "upload")):
        tab.select(_const(name), None, inp.source, **FAST).then(**pv)
    for comp in (inp.sketch, inp.index, inp.upload):
        comp.change(**pv)
    inp.dice.click(random_index, None, inp.index, **FAST)
    return pv


def _api_endpoints() -> None:
    """The public endpoints' own (hidden) inputs, with loose types and the functions' defaults, and outputs."""
    with gr.Group(visible=False):
        image, mask_image = gr.Image(type="filepath", label="image"), gr.Image(type="filepath", label="mask_image")
        n = {k: gr.Number(v, label=k) for k, v in (("strength", 0.5), ("steps", 50), ("guidance", DEFAULT_GUIDANCE),
                                                   ("seed", 0), ("resamplings", 1), ("jump_length", 10),
                                                   ("invert_guidance", 1.0))}
        t = {k: gr.Textbox(v, label=k) for k, v in (("sampler", "ddim"), ("inpaint_sampler", "ddpm"),
                                                    ("digit", "auto"), ("mask", "top half"), ("checkpoint", ""))}
        files, numbers = gr.File(file_count="multiple", label="files"), gr.JSON(label="numbers")
        buttons = [gr.Button() for _ in range(3)]
    buttons[0].click(sdedit_api, [image, n["strength"], t["sampler"], n["steps"], t["digit"], n["guidance"],
                                  n["seed"], t["checkpoint"]], [files, numbers], api_name="sdedit", **HEAVY)
    buttons[1].click(inpaint_api, [image, t["mask"], t["digit"], n["guidance"], t["inpaint_sampler"], n["steps"],
                                   n["resamplings"], n["jump_length"], n["seed"], mask_image, t["checkpoint"]],
                     [files, numbers], api_name="inpaint", **HEAVY)
    buttons[2].click(invert_api, [image, n["steps"], t["digit"], n["invert_guidance"], t["checkpoint"]],
                     [files, numbers], api_name="invert", **HEAVY)


def _params_and_links(page: Page, tools, inp: NS, sd: NS, ip: NS) -> None:
    """Deep-link settings and the Theory tab's "Show me" targets."""
    page.param("index", inp.index, as_int(0, 1999))
    page.param("strength", sd.strength, as_float(0.0, 1.0))
    page.param("label", inp.label, one_of(LABEL_CHOICES + [("auto", LABEL_AUTO), ("none", LABEL_NONE)]))
    page.link("edit_sdedit", [tools, sd.strength], lambda: (gr.Tabs(selected="sdedit"), 0.5), target="edit-strength")
    page.link("edit_inpaint", [tools, ip.mask], lambda: (gr.Tabs(selected="inpaint"), "left half"),
              target="edit-inpaint-btn")
    page.link("edit_invert", [tools, inp.guidance], lambda: (gr.Tabs(selected="invert"), 1.0),
              target="edit-invert-btn")
    page.link("edit_interp", [tools], lambda: gr.Tabs(selected="interp"), target="edit-tools")


def _show():
    """Show a result box that stays hidden until its button is first pressed (no big empty box before)."""
    return gr.update(visible=True)


def _const(value):
    return lambda: value


def _result_image(label: str, elem_id: str) -> gr.Image:
    return gr.Image(label=label, interactive=False, height=RESULT_PX, elem_classes=["pixelated", "edit-result"],
                    elem_id=elem_id, format="png", buttons=["download"], min_width=150)
