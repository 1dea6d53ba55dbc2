"""Diffusion Playground: the page layout. Handlers live in playground/ui.py, the maths in playground/.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --share
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080 python app.py

``demo`` is importable without launching (tests do ``from app import demo``). Public API endpoints
(see their docstrings in playground/ui.py): ``/forward`` (ui.forward_api), ``/sample``
(ui.sample_compare), ``/train`` (ui.train_run). Every other event is private widget wiring.
"""
from __future__ import annotations

import argparse
import os

import gradio as gr

from playground import theory, ui
from playground.figures import SCHEDULE_LABELS
from playground.sample import DEFAULT_GUIDANCE

LIMITS = ui.LIMITS
PRIVATE = dict(api_visibility="private")
FAST = dict(api_visibility="private", show_progress="hidden", queue=False)

CSS = """
.gradio-container { max-width: 1500px !important; }
.pixelated img { image-rendering: pixelated; }
.explain { color: var(--body-text-color-subdued); }
.numbers { font-size: 1.15em; }
.status { font-size: 1.05em; min-height: 3.2em; }
#title h1 { margin-bottom: 0; }
"""

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink", text_size="lg", radius_size="md")

INTRO = (
    "# Diffusion Playground\n"
    "Watch an image dissolve into noise, sample digits back out of noise with DDPM and DDIM side by side, "
    "train a small model on MNIST, and read the maths behind each control."
)


def _explain(text: str) -> gr.Markdown:
    return gr.Markdown(text, elem_classes="explain")


with gr.Blocks(title="Diffusion Playground", delete_cache=(1800, 3600)) as demo:
    gr.Markdown(INTRO, elem_id="title")
    session_models = gr.State({})  # models trained in this browser session: {label: checkpoint path}

    with gr.Tabs(selected="forward") as tabs:
        # ------------------------------------------------------------------ Tab 1: forward noising
        with gr.Tab("1 · Forward noising", id="forward"):
            fwd = gr.State(None)  # this session's cached image tensor + ONE fixed noise sample
            playing = gr.State(False)  # False, or {"t0", "since"} while "play through t" runs
            timer = gr.Timer(0.2, active=False)
            _explain("Pick an image, then move **t**. The noise ε stays the same as t moves, so you see one image "
                     "dissolving: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε.")
            with gr.Row(equal_height=False):
                with gr.Column(scale=4, min_width=300):
                    examples = gr.Gallery(value=ui.example_images(), label="Click an example…", columns=4, rows=2, height=230,
                                          allow_preview=False, object_fit="cover", buttons=[])
                    upload = gr.File(label="…or upload your own image", file_types=["image"], height=130)
                    with gr.Row():
                        schedule = gr.Dropdown(ui.SCHEDULE_CHOICES, value="cosine", label="Noise schedule", scale=2)
                        ztsnr = gr.Checkbox(False, label="Zero terminal SNR", info="rescale so ᾱ = 0 at the last step", scale=2)
                    T = gr.Slider(10, LIMITS.max_T, value=min(1000, LIMITS.max_T), step=10, label="T (number of diffusion steps)")
                    t = gr.Slider(0, 999, value=250, step=1, label="t (timestep)", elem_id="t-slider", info="drag: x_t updates live")
                    with gr.Row():
                        play = gr.Button(ui.PLAY_LABEL, variant="primary")
                        reseed = gr.Button("New noise ε")
                    seed = gr.Number(0, label="Noise seed", precision=0, info="Enter a seed and press Enter to reuse a noise sample")
                    info = gr.Markdown(elem_classes="explain")
                with gr.Column(scale=5, min_width=380):
                    xt_img = gr.Image(elem_id="xt-image", label="x_t (noised image)", format="jpeg", height=430, interactive=False,
                                      elem_classes="pixelated", buttons=["download", "fullscreen"])
                    numbers = gr.Markdown(elem_classes="numbers")
                with gr.Column(scale=2, min_width=200):
                    x0_img = gr.Image(label="x₀ (clean)", format="jpeg", height=200, interactive=False, elem_classes="pixelated",
                                      buttons=[])
                    eps_img = gr.Image(label="ε (the fixed noise sample)", format="jpeg", height=200, interactive=False,
                                       elem_classes="pixelated", buttons=[])
            gr.Markdown("### The schedule: red markers follow t")
            _explain("**Top left:** the signal scale √ᾱ_t falls while the noise scale √(1−ᾱ_t) rises; their squares add up to 1 "
                     "(variance preserving), and ᾱ_t is the square of the signal scale. **Top right:** SNR(t) = ᾱ/(1−ᾱ) on a log axis. "
                     "**Bottom left:** β_t, the variance each single step adds. **Bottom right:** every schedule on the common "
                     "log-SNR axis: cosine keeps more signal in the middle, linear destroys it early.")
            plot = gr.Plot(show_label=False)
            strip = gr.Image(label="x_t at evenly spaced t (same noise)", format="jpeg", height=150, interactive=False,
                             elem_classes="pixelated", buttons=["download"])
            strip_cap = gr.Markdown(elem_classes="explain")
            with gr.Accordion("Closed form vs. step-by-step chain: same distribution?", open=False):
                _explain("The closed form jumps straight from x₀ to x_t. The chain applies the one-step kernel "
                         "x_s = √α_s·x_{s−1} + √β_s·ε t+1 times. Both are run K times on a small copy of the image, and "
                         "the per-pixel mean and std of the draws are compared with theory.")
                chain_btn = gr.Button("Run both at the current t")
                chain_md = gr.Markdown()
                chain_plot = gr.Plot(show_label=False)
            with gr.Accordion("Export the noising sequence as a GIF", open=False):
                gif_btn = gr.Button("Make the GIF (x₀ → x_T, same noise)")
                gif_file = gr.Image(label="Noising sequence (GIF): use the download button", interactive=False, height=260,
                                    elem_classes="pixelated", buttons=["download"])
            api_forward = gr.Button(visible=False)
            api_stats = gr.JSON(visible=False)

        # ------------------------------------------------------------------ Tab 2: sampling
        with gr.Tab("2 · Sampling: DDPM vs DDIM", id="sample"):
            _explain("All panels start from the **same x_T** with the **same seed**, and DDPM and DDIM get the same noise at every "
                     "step. Top row: x_t as it is denoised. Bottom row: the network's prediction x̂₀ at that step.")
            no_model = gr.Markdown(visible=False)
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    ckpt = gr.Dropdown(ui.list_checkpoints(), value=ui.default_checkpoint(), label="Model (checkpoint)",
                                       info="shipped models, plus any you train in tab 3", allow_custom_value=True)
                    steps = gr.Slider(1, min(LIMITS.max_steps, 1000), value=min(50, LIMITS.max_steps), step=1, label="Sampling steps", elem_id="sample-steps")
                    eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η for the DDIM panel",
                                    info="0 = deterministic DDIM, 1 = as random as DDPM")
                    spacing = gr.Radio(ui.SPACING_CHOICES, value="trailing", label="Timestep spacing")
                    with gr.Row():
                        digit = gr.Dropdown(ui.DIGIT_CHOICES, value="mixed 0–9", label="Digit")
                        guidance = gr.Slider(0, 8, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance scale w",
                                             info="1 = plain conditional; 1.5 is the measured sweet spot")
                    with gr.Row():
                        n_images = gr.Slider(1, LIMITS.max_images, value=min(10, LIMITS.max_images), step=1, label="Images", elem_id="sample-n")
                        sample_seed = gr.Number(0, label="Seed", precision=0)
                    with gr.Row():
                        clip = gr.Checkbox(True, label="Clip x̂₀ to [−1, 1]")
                        show_dpm = gr.Checkbox(True, label="Also DPM-Solver++")
                    with gr.Row():
                        sample_btn = gr.Button("▶ Sample", variant="primary", elem_id="sample-btn")
                        sample_stop = gr.Button("■ Stop", variant="stop")
                with gr.Column(scale=8):
                    ts_md = gr.Markdown(elem_classes="explain")
                    panel_imgs = []
                    with gr.Row():
                        for key, name in ui.PANELS:
                            with gr.Column(min_width=200):
                                gr.Markdown(f"### {name}")
                                gr.Markdown("x_t, being denoised", elem_classes="explain")
                                a = gr.Image(elem_id=f"{key}-xt", label=f"{name}: x_t", show_label=False, height=250,
                                             interactive=False, elem_classes="pixelated", buttons=["download"], format="png")
                                gr.Markdown("predicted x̂₀ at this step", elem_classes="explain")
                                b = gr.Image(label=f"{name}: predicted x̂₀", show_label=False, height=250, interactive=False,
                                             elem_classes="pixelated", buttons=["download"], format="png")
                                panel_imgs += [a, b]
                    sample_status = gr.Markdown(elem_classes="status", elem_id="sample-status")
                    sample_files = gr.File(label="Results: grids (PNG) and trajectory GIFs", file_count="multiple",
                                           interactive=False, visible=False)
            with gr.Accordion("Study: DDIM over η × number of steps, one seed", open=False):
                _explain("Each cell runs DDIM from the same x_T. Fewer steps and η = 0 are the fast, deterministic corner; "
                         "η > 0 with few steps adds noise the network cannot remove in time. The heatmap scores each cell with "
                         "the MNIST classifier of the quality module (where available).")
                study_btn = gr.Button("Run the study (≈ 4 × 180 DDIM steps)")
                study_md = gr.Markdown()
                with gr.Row():
                    study_img = gr.Image(label="η (rows) × steps (columns)", interactive=False, elem_classes="pixelated",
                                         format="png", height=420)
                    study_plot = gr.Plot(show_label=False)
            with gr.Accordion("ε-prediction vs v-prediction (the two shipped checkpoints)", open=False) as epsv_acc:
                _explain("Same recipe, different training target. Both are sampled with DDIM from one seed, with the steps, spacing, "
                         "digit, guidance and η chosen above.")
                epsv_btn = gr.Button("Compare ε vs v")
                epsv_md = gr.Markdown()
                with gr.Row():
                    eps_out = gr.Image(label="ε-prediction", interactive=False, elem_classes="pixelated", format="png", height=300)
                    v_out = gr.Image(label="v-prediction", interactive=False, elem_classes="pixelated", format="png", height=300)

        # ------------------------------------------------------------------ Tab 3: training
        with gr.Tab("3 · Train on MNIST", id="train"):
            _explain("Train a small UNet on MNIST right here. The loss falls fast, but digits only appear after a few hundred "
                     "steps: watch the fixed-seed sample grid. When it finishes (or you stop it), the model appears in "
                     "the Sampling tab's model list and can be downloaded.")
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    preset = gr.Radio([("quick: 5-minute CPU demo", "quick"), ("tiny: 1-minute run", "tiny"),
                                       ("longer: the shipped recipe", "shipped")], value="quick", label="Preset")
                    with gr.Accordion("Advanced settings", open=False):
                        objective = gr.Radio([("ε (noise)", "eps"), ("v (velocity)", "v"), ("x₀ (clean image)", "x0")],
                                             value="eps", label="Objective: what the network predicts")
                        tr_schedule = gr.Dropdown(ui.SCHEDULE_CHOICES, value="linear", label="Noise schedule")
                        with gr.Row():
                            tr_T = gr.Number(1000, label="T", precision=0, minimum=10, maximum=LIMITS.max_T)
                            tr_ztsnr = gr.Checkbox(False, label="Zero terminal SNR")
                        with gr.Row():
                            batch = gr.Number(64, label="Batch size", precision=0, minimum=1, maximum=512)
                            lr = gr.Number(2e-3, label="Learning rate", minimum=1e-6, maximum=1.0)
                        with gr.Row():
                            tr_steps = gr.Number(min(100_000, LIMITS.max_train_steps), label="Max steps", precision=0, minimum=1,
                                                 maximum=LIMITS.max_train_steps)
                            budget = gr.Number(min(300, LIMITS.max_train_seconds), label="Time budget (s)", minimum=1,
                                               maximum=LIMITS.max_train_seconds,
                                               info=f"at most {LIMITS.max_train_seconds:.0f} s on this server")
                        with gr.Row():
                            conditional = gr.Checkbox(True, label="Class-conditional (CFG)")
                            model_size = gr.Dropdown(list(ui.MODEL_SIZES), value="default (32, 64, 96)", label="UNet widths")
                        preview_every = gr.Number(200, label="Refresh samples every N steps", precision=0, minimum=0)
                    with gr.Row():
                        train_btn = gr.Button("▶ Start training", variant="primary", elem_id="train-btn")
                        train_stop = gr.Button("■ Stop", variant="stop")
                    train_md = gr.Markdown(ui.train_status(), elem_classes="status", elem_id="train-status")
                    ckpt_file = gr.DownloadButton("Download the trained checkpoint", visible=False)
                with gr.Column(scale=6):
                    with gr.Row():
                        loss_plot = gr.Plot(show_label=False)
                        bucket_plot = gr.Plot(show_label=False)
                    preview = gr.Image(label="Fixed-seed samples (digits 0–9, DDIM 20 steps, guidance 2)", interactive=False,
                                       elem_classes="pixelated", format="png", height=170)

        # ------------------------------------------------------------------ Tab 4: theory
        with gr.Tab("4 · Theory", id="theory"):
            gr.Markdown(theory.INTRO, latex_delimiters=theory.LATEX_DELIMITERS)
            theory_buttons = []
            for sec in theory.SECTIONS:
                gr.Markdown(sec.body, latex_delimiters=theory.LATEX_DELIMITERS)
                with gr.Row():
                    theory_buttons.append((sec, gr.Button(sec.button, size="sm", scale=0, min_width=320)))

    # ================================================================== wiring
    # Tab 1. The per-move path is cheap (one multiply-add + cached charts): no queue, no spinner.
    fwd_out = [fwd, x0_img, xt_img, eps_img, numbers, plot, strip, strip_cap, info]
    sched_in = [fwd, schedule, T, ztsnr, t]
    upload.upload(ui.forward_load, [upload, seed, schedule, T, ztsnr, t], fwd_out, concurrency_id="forward",
                  concurrency_limit=4, **PRIVATE)
    examples.select(ui.example_path, None, upload, **FAST).then(
        ui.forward_load, [upload, seed, schedule, T, ztsnr, t], fwd_out, concurrency_id="forward", concurrency_limit=4, **PRIVATE)
    t.change(ui.forward_render, sched_in, [xt_img, numbers, plot], trigger_mode="always_last", **FAST)
    for comp in (schedule, ztsnr, T):
        comp.change(ui.forward_schedule_changed, sched_in, [t, xt_img, numbers, plot, strip, strip_cap],
                    trigger_mode="always_last", **FAST)
    reseed.click(ui.forward_reseed, sched_in, [fwd, seed, xt_img, eps_img, strip, strip_cap], **FAST)
    seed.submit(ui.forward_reseed, [*sched_in, seed], [fwd, seed, xt_img, eps_img, strip, strip_cap], **FAST)
    play.click(ui.play_toggle, [playing, t, T], [playing, timer, play, t], **FAST)
    timer.tick(ui.play_tick, [t, T, playing], [t, timer, play, playing], **FAST)
    chain_btn.click(ui.chain_check, sched_in, [chain_md, chain_plot], concurrency_id="forward", concurrency_limit=4, **PRIVATE)
    gif_btn.click(ui.forward_gif, [fwd, schedule, T, ztsnr], gif_file, concurrency_id="forward", concurrency_limit=4, **PRIVATE)
    api_forward.click(ui.forward_api, [upload, schedule, T, t, ztsnr, seed], [xt_img, api_stats], api_name="forward",
                      concurrency_id="forward", concurrency_limit=4)
    demo.load(ui.forward_load_default, [seed, schedule, T, ztsnr, t], fwd_out, **PRIVATE)

    # Tab 2.
    sample_inputs = [ckpt, steps, eta, spacing, clip, digit, guidance, n_images, sample_seed, show_dpm, session_models]
    sample_event = sample_btn.click(ui.sample_compare, sample_inputs, [*panel_imgs, sample_status, sample_files], api_name="sample",
                                    concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency,
                                    show_progress_on=[sample_status])
    sample_event.then(lambda: gr.File(visible=True), None, sample_files, **FAST)  # reveal the downloads
    sample_stop.click(None, None, None, cancels=[sample_event], **PRIVATE)
    for comp in (ckpt, steps, spacing):
        comp.change(ui.timesteps_md, [ckpt, steps, spacing, session_models], ts_md, **FAST)
    demo.load(ui.sampling_tab_load, [ckpt, steps, spacing, session_models], [ckpt, ts_md, no_model], **PRIVATE)
    study_btn.click(ui.sample_study, [ckpt, digit, guidance, sample_seed, n_images, spacing, session_models],
                    [study_img, study_plot, study_md], concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency,
                    **PRIVATE)
    epsv_btn.click(ui.compare_eps_v, [steps, spacing, digit, guidance, sample_seed, n_images, eta], [eps_out, v_out, epsv_md],
                   concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency, **PRIVATE)

    # Tab 3. One job per server: a second Start gets "busy" at once (the lock lives in ui.train_run).
    preset.change(ui.preset_values, preset, [tr_steps, budget, batch, lr, preview_every], **FAST)
    train_btn.click(ui.train_run, [preset, objective, tr_schedule, tr_T, tr_ztsnr, batch, lr, tr_steps, budget, conditional,
                                   model_size, preview_every, session_models],
                    [train_md, loss_plot, bucket_plot, preview, ckpt_file, session_models, ckpt], api_name="train",
                    concurrency_id="train", concurrency_limit=None)
    train_stop.click(ui.stop_training, None, train_md, **FAST)
    demo.unload(ui.on_unload)

    # Tab 4: "show me" buttons switch tabs and set the control that shows the idea.
    for sec, btn in theory_buttons:
        btn.click(ui.theory_link(sec.tab, sec.control), [T], [tabs, t, ztsnr, eta, guidance, epsv_acc], **FAST)


def main(argv: list[str] | None = None) -> None:
    """Parse --host/--port/--share (or GRADIO_SERVER_NAME / GRADIO_SERVER_PORT / GRADIO_SHARE) and serve."""
    ap = argparse.ArgumentParser(description="Diffusion Playground")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                    help="interface to bind (default 127.0.0.1; a Space sets GRADIO_SERVER_NAME=0.0.0.0)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860))
    ap.add_argument("--share", action="store_true", default=os.environ.get("GRADIO_SHARE", "").lower() in ("1", "true", "yes"),
                    help="create a public gradio.live link")
    args = ap.parse_args(argv)
    demo.queue(max_size=64).launch(
        server_name=args.host, server_port=args.port, share=args.share, theme=THEME, css=CSS, show_error=True,
        max_file_size=LIMITS.max_upload_bytes,
    )


if __name__ == "__main__":
    main()
