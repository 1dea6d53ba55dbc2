"""Tab "Draw & edit": put something of your own in. SDEdit a drawing, inpaint an erased half, invert a digit to
noise with DDIM and decode it back, and walk between two digits' latents.

Layout and wiring here (:func:`build`); the handlers are in ``handlers.py`` (tests call them without a server);
the maths is in playground/editing/edits.py and playground/editing/drawing.py. Public endpoints: ``/sdedit``
(``sdedit_api``), ``/inpaint`` (``inpaint_api``) and ``/invert`` (``invert_api``): an image file and the settings in,
the result images as files and the numbers shown in the UI out.
"""
from __future__ import annotations

import gradio as gr

from playground.mnist.sample import DEFAULT_GUIDANCE
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

TAB_ID = "edit"
TAB_TITLE = "Draw & edit"
CSS = """
#edit-sketch canvas { cursor: crosshair; }
.edit-numbers { font-size: 1.2em; }
"""

# ==================================================================================================
# Layout and wiring
# ==================================================================================================


def build(page: Page) -> None:
    """The Draw & edit tab's components and events (called inside ``with gr.Tab(...)``)."""
    explain("Put something of your own in. **Draw** a digit (or pick a real one, or upload a picture), then let the "
            "model finish it: **SDEdit** noises it part-way and denoises; **Inpaint** regenerates a "
            "region and keeps the rest exactly; **DDIM inversion** runs the deterministic sampler backwards to noise "
            "and forwards again; **Interpolate** walks between two digits' latents. To draw: pick the brush in the "
            "canvas's toolbar.")
    source = gr.State("draw")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            with gr.Tabs(elem_id="edit-input-tabs"):
                with gr.Tab("✏️ Draw", id="draw") as tab_draw:
                    sketch = gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(CANVAS, CANVAS),
                                          fixed_canvas=True,
                                          brush=gr.Brush(default_size=22, colors=["#000000"], color_mode="fixed"),
                                          layers=False, label="Draw", elem_id="edit-sketch",
                                          height=CANVAS + 130, transforms=())
                with gr.Tab("MNIST digit", id="mnist") as tab_mnist:
                    with gr.Row():
                        index = gr.Slider(0, 1999, value=0, step=1, label="Held-out digit #", elem_id="edit-index",
                                          info="2,000 real digits the model never saw")
                        dice = gr.Button("🎲", scale=0, min_width=60)
                with gr.Tab("Upload", id="upload") as tab_upload:
                    upload = gr.Image(type="filepath", sources=["upload", "clipboard"], label="A picture of a digit",
                                      height=260)
            with gr.Row():
                seen = gr.Image(label="What the model gets: 28×28", interactive=False, height=230, width=230,
                                elem_classes="pixelated", elem_id="edit-seen", format="png", buttons=["download"])
            seen_md = gr.Markdown(elem_classes="explain", elem_id="edit-seen-md")
            ckpt = gr.Dropdown(list_checkpoints(), value=default_checkpoint(), label="Model (checkpoint)",
                               allow_custom_value=True)
            with gr.Row():
                label = gr.Dropdown(LABEL_CHOICES, value=LABEL_AUTO, label="Digit label", elem_id="edit-label",
                                    info="pick another digit to turn a 3 into an 8")
                guidance = gr.Slider(0, 8, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance w",
                                     elem_id="edit-guidance")
            with gr.Row():
                steps = gr.Slider(1, min(LIMITS.max_steps, 1000), value=min(50, LIMITS.max_steps), step=1,
                                  label="Steps", elem_id="edit-steps")
                seed = gr.Number(0, label="Seed", precision=0, min_width=100)
        with gr.Column(scale=8):
            with gr.Tabs(elem_id="edit-tools") as tools:
                with gr.Tab("SDEdit", id="sdedit"):
                    explain("Noise the input to t₀ with the forward process, then denoise from t₀. Small "
                            "t₀: faithful to your strokes. Large t₀: a realistic digit that forgets them.")
                    with gr.Row():
                        strength = gr.Slider(0, 1, value=0.5, step=0.01, label="Strength t₀ / T",
                                             elem_id="edit-strength", scale=3)
                        sd_sampler = gr.Radio(SAMPLER_CHOICES, value="ddim", label="Sampler", scale=2)
                    with gr.Row():
                        sd_btn = gr.Button("▶ SDEdit", variant="primary", elem_id="edit-sdedit-btn")
                        strip_btn = gr.Button("Strip over t₀", elem_id="edit-strip-btn")
                        sd_stop = gr.Button("■ Stop", variant="stop")
                    with gr.Row():
                        sd_noised = _result_image("x_t₀: the input, noised", "edit-noised")
                        sd_xt = _result_image("x_t, being denoised", "edit-sd-xt")
                        sd_x0 = _result_image("predicted x̂₀ at this step", "edit-sd-x0")
                        sd_out = _result_image("result", "edit-sd-out")
                    sd_numbers = gr.Markdown(elem_classes="edit-numbers", elem_id="edit-sd-numbers")
                    sd_status = gr.Markdown(elem_classes="status", elem_id="edit-sd-status")
                    strip_img = gr.Image(label="SDEdit strip: distance to the input d (faithfulness), "
                                               "classifier p (realism)",
                                         show_label=False, interactive=False, format="png", elem_id="edit-strip",
                                         buttons=["download", "fullscreen"])
                    strip_md = gr.Markdown()
                    sd_files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple",
                                       interactive=False)
                with gr.Tab("Inpaint", id="inpaint"):
                    explain("Erase part of the digit and let the model grow it back. After every step the "
                            "kept pixels are replaced by the original, noised to that step's t, so they end exactly "
                            "unchanged. Pick another digit label to turn a 3 into an 8.")
                    with gr.Row():
                        mask = gr.Dropdown(MASK_CHOICES, value="top half", label="Region to regenerate", scale=3)
                        ip_sampler = gr.Radio(SAMPLER_CHOICES, value="ddpm", label="Sampler", scale=2)
                    with gr.Row():
                        resample = gr.Slider(1, 10, value=1, step=1, label="RePaint resamplings r",
                                             info="1 = plain replacement; r > 1 re-noises and redoes stretches")
                        jump = gr.Slider(1, 25, value=10, step=1, label="Jump length j (steps)")
                    with gr.Accordion("Brush: paint the region to regenerate", open=False):
                        brush = gr.ImageEditor(type="numpy", image_mode="RGBA", canvas_size=(CANVAS, CANVAS),
                                               fixed_canvas=True,
                                               sources=(), transforms=(), layers=False, label="Paint over the digit",
                                               brush=gr.Brush(default_size=26, colors=[("#e628a0", 0.7)],
                                                              color_mode="fixed"),
                                               height=CANVAS + 130, elem_id="edit-brush")
                    with gr.Row():
                        ip_btn = gr.Button("▶ Inpaint", variant="primary", elem_id="edit-inpaint-btn")
                        ip_stop = gr.Button("■ Stop", variant="stop")
                    with gr.Row():
                        ip_mask = _result_image("mask: magenta is regenerated", "edit-mask")
                        ip_xt = _result_image("x_t", "edit-ip-xt")
                        ip_x0 = _result_image("predicted x̂₀", "edit-ip-x0")
                        ip_out = _result_image("result", "edit-ip-out")
                    ip_numbers = gr.Markdown(elem_classes="edit-numbers")
                    ip_status = gr.Markdown(elem_classes="status")
                    ip_files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple",
                                       interactive=False)
                with gr.Tab("DDIM inversion", id="invert"):
                    explain("DDIM with η = 0 is a deterministic map from noise to images (an ODE). Run it "
                            "backwards: encode the input into its latent x_T, then decode x_T with the same "
                            "steps. How close does it come back?")
                    with gr.Row():
                        inv_btn = gr.Button("▶ Invert and reconstruct", variant="primary", elem_id="edit-invert-btn")
                        drift_btn = gr.Button(f"Measure the drift: steps × w ∈ "
                                              f"{{{', '.join(f'{w:g}' for w in DRIFT_GUIDANCE)}}}")
                        inv_stop = gr.Button("■ Stop", variant="stop")
                    with gr.Row():
                        inv_xt = _result_image("x_t (up, then down)", "edit-inv-xt")
                        inv_latent = _result_image("latent x_T", "edit-latent")
                        inv_recon = _result_image("reconstruction", "edit-recon")
                        inv_err = _result_image("|error| × 5", "edit-err")
                    inv_x0 = gr.State(None)  # the stream's x̂₀ (shown only in the GIF)
                    inv_numbers = gr.Markdown(elem_classes="edit-numbers", elem_id="edit-inv-numbers")
                    inv_status = gr.Markdown(elem_classes="status")
                    with gr.Row():
                        drift_plot = gr.Plot(show_label=False)
                        drift_md = gr.Markdown()
                    inv_files = gr.File(label="Downloads: PNG and trajectory GIF", file_count="multiple",
                                        interactive=False)
                with gr.Tab("Interpolate", id="interp"):
                    explain("Invert two digits, walk along the great circle between their latents (slerp "
                            "keeps the norm a Gaussian latent has), and decode each point.")
                    with gr.Row():
                        index_b = gr.Slider(0, 1999, value=1, step=1, label="Second digit: held-out #")
                        num = gr.Slider(3, 12, value=8, step=1, label="Images in the row")
                        use_labels = gr.Checkbox(False, label="Decode with labels (else unconditional)")
                    it_btn = gr.Button("▶ Interpolate", variant="primary")
                    it_img = gr.Image(label="From your digit to the second", interactive=False, format="png",
                                      buttons=["download", "fullscreen"])
                    it_md = gr.Markdown()
                    it_files = gr.File(label="Downloads: PNG and a morph GIF", file_count="multiple",
                                       interactive=False)

    # Hidden: the public endpoints' own inputs (loose types, the functions' defaults) and outputs.
    with gr.Group(visible=False):
        api_image = gr.Image(type="filepath", label="image")
        api_mask_image = gr.Image(type="filepath", label="mask_image")
        api_num = {k: gr.Number(v, label=k) for k, v in (("strength", 0.5), ("steps", 50),
                                                         ("guidance", DEFAULT_GUIDANCE),
                                                        ("seed", 0), ("resamplings", 1), ("jump_length", 10),
                                                        ("invert_guidance", 1.0))}
        api_txt = {k: gr.Textbox(v, label=k) for k, v in (("sampler", "ddim"), ("inpaint_sampler", "ddpm"),
                                                          ("digit", "auto"),
                                                         ("mask", "top half"), ("checkpoint", ""))}
        api_files = gr.File(file_count="multiple", label="files")
        api_numbers = gr.JSON(label="numbers")
        api_btns = [gr.Button() for _ in range(3)]

    heavy = dict(concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency)
    models = page.session_models
    digit_in = [source, sketch, index, upload]
    pv = dict(fn=preview, inputs=digit_in, outputs=[seen, seen_md, brush], trigger_mode="always_last", **FAST)
    for tab, name in ((tab_draw, "draw"), (tab_mnist, "mnist"), (tab_upload, "upload")):
        tab.select(_const(name), None, source, **FAST).then(**pv)
    sketch.change(**pv)
    index.change(**pv)
    upload.change(**pv)
    dice.click(random_index, None, index, **FAST)

    sd_event = sd_btn.click(with_seen(sdedit_run),
                            [*digit_in, strength, sd_sampler, steps, label, guidance, seed, ckpt, models],
                            [sd_noised, sd_xt, sd_x0, sd_out, sd_numbers, sd_status, sd_files, seen, seen_md],
                            show_progress_on=[sd_status], **heavy, **PRIVATE)
    strip_event = strip_btn.click(with_seen(sdedit_strip_run),
                                  [*digit_in, sd_sampler, steps, label, guidance, seed, ckpt, models],
                                  [strip_img, strip_md, sd_files, seen, seen_md], show_progress_on=[strip_md],
                                  **heavy, **PRIVATE)
    sd_stop.click(None, None, None, cancels=[sd_event, strip_event], **PRIVATE)
    ip_event = ip_btn.click(with_seen(inpaint_run),
                            [*digit_in, mask, brush, resample, jump, ip_sampler, steps, label, guidance, seed,
                                          ckpt, models],
                                          [ip_mask, ip_xt, ip_x0, ip_out, ip_numbers, ip_status, ip_files,
                                           seen, seen_md],
                            show_progress_on=[ip_status], **heavy, **PRIVATE)
    ip_stop.click(None, None, None, cancels=[ip_event], **PRIVATE)
    inv_event = inv_btn.click(with_seen(invert_run), [*digit_in, steps, label, guidance, ckpt, models],
                              [inv_xt, inv_x0, inv_latent, inv_recon, inv_err, inv_numbers, inv_status, inv_files,
                               seen, seen_md],
                              show_progress_on=[inv_status], **heavy, **PRIVATE)
    drift_event = drift_btn.click(with_seen(drift_run), [*digit_in, label, ckpt, models],
                                  [drift_plot, drift_md, seen, seen_md], **heavy, **PRIVATE)
    inv_stop.click(None, None, None, cancels=[inv_event, drift_event], **PRIVATE)
    it_btn.click(with_seen(interpolate_run), [*digit_in, index_b, num, use_labels, steps, ckpt, models],
                 [it_img, it_md, it_files, seen, seen_md],
                 **heavy, **PRIVATE)
    n_, t_ = api_num, api_txt
    api_btns[0].click(sdedit_api, [api_image, n_["strength"], t_["sampler"], n_["steps"], t_["digit"], n_["guidance"],
                                   n_["seed"], t_["checkpoint"]], [api_files, api_numbers], api_name="sdedit", **heavy)
    api_btns[1].click(inpaint_api,
                      [api_image, t_["mask"], t_["digit"], n_["guidance"], t_["inpaint_sampler"], n_["steps"],
                                    n_["resamplings"], n_["jump_length"], n_["seed"], api_mask_image,
                                    t_["checkpoint"]],
                      [api_files, api_numbers], api_name="inpaint", **heavy)
    api_btns[2].click(invert_api, [api_image, n_["steps"], t_["digit"], n_["invert_guidance"], t_["checkpoint"]],
                      [api_files, api_numbers], api_name="invert", **heavy)
    page.on_load(lambda loaded: loaded.then(**pv))

    page.param("index", index, as_int(0, 1999))
    page.param("strength", strength, as_float(0.0, 1.0))
    page.param("label", label, one_of(LABEL_CHOICES + [("auto", LABEL_AUTO), ("none", LABEL_NONE)]))
    page.link("edit_sdedit", [tools, strength], lambda: (gr.Tabs(selected="sdedit"), 0.5))
    page.link("edit_inpaint", [tools, mask], lambda: (gr.Tabs(selected="inpaint"), "left half"))
    page.link("edit_invert", [tools, guidance], lambda: (gr.Tabs(selected="invert"), 1.0))
    page.link("edit_interp", [tools], lambda: gr.Tabs(selected="interp"))



def _const(value):
    return lambda: value


def _result_image(label: str, elem_id: str) -> gr.Image:
    return gr.Image(label=label, interactive=False, height=230, elem_classes="pixelated",
                    elem_id=elem_id, format="png", buttons=["download"], min_width=160)
