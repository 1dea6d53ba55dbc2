"""Tab 5, the 2-D lab: a point cloud instead of images, so the whole distribution that diffusion carries is
visible: the noised marginal q_t over its exact density, the score as arrows (exact and learned), a small MLP
trained in seconds, and six samplers' particle paths from one x_T.

Layout and wiring in :func:`build`; the handlers are plain functions (tests call them without a server).
The maths is in ``playground/toy2d/``. Public endpoint: ``/lab2d`` (:func:`lab2d_api`).

Everything here runs on the CPU, also where a GPU is present: the tensors are tiny (a 2-D MLP of 21k
parameters, at most 10,000 points), so a GPU would spend its time launching kernels, and on ZeroGPU every
call would pay for a worker fork.

Limits (environment variables; a Space, ``SPACE_ID`` set, gets the second value):

==============================  =====  =====  ============================================================
env var                         local  Space  what it limits
==============================  =====  =====  ============================================================
PLAYGROUND_LAB2D_MAX_POINTS     10000  5000   points in a dataset (the exact score costs points × particles)
PLAYGROUND_LAB2D_MAX_PARTICLES  5000   2000   particles per sampling run
PLAYGROUND_LAB2D_TRAIN_SECONDS  30     15     wall time of one training run (the slider's maximum; never
                                              above PLAYGROUND_MAX_TRAIN_SECONDS)
PLAYGROUND_LAB2D_AUTO_SECONDS   15     10     training before sampling when no model is trained yet (UI, /lab2d)
==============================  =====  =====  ============================================================

Sampling steps are capped by PLAYGROUND_MAX_STEPS, as in the Sampling tab.
"""
from __future__ import annotations

import gradio as gr

from playground import toy2d
from playground.ui.classroom import as_bool, as_int, one_of
from playground.ui.lab2d.config import (
    ARROW_CHOICES,
    DATASET_CHOICES,
    DRAWING,
    MAX_PARTICLES,
    MAX_POINTS,
    MAX_STEPS,
    MAX_TRAIN_SECONDS,
    OBJECTIVE_CHOICES,
    PATHS,
    SAMPLER_CHOICES,
    T_LAB,
    TRAIN_STEPS,
)
from playground.ui.lab2d.runs import (
    ANIM_JS,
    describe_model,
    lab2d_api,
    lab_gif,
    lab_init,
    lab_memorize,
    lab_sample,
    lab_study,
    lab_train,
)
from playground.ui.lab2d.session import use_drawing
from playground.ui.lab2d.view import lab_load, lab_render
from playground.ui.page import FAST, PRIVATE, SCHEDULE_CHOICES, Page, explain

TAB_ID = "lab2d"
TAB_TITLE = "2-D lab"

# ==================================================================================================
# Layout and wiring
# ==================================================================================================

CSS = """
#lab2d-numbers { min-height: 6em; }
#lab2d-sketch { max-width: 420px; }
"""


def build(page: Page) -> None:
    """The 2-D lab's components and events (called inside ``with gr.Tab(...)``)."""
    state = gr.State(None)  # this session's data: points, the fixed noise, subsets (see lab_data)
    model = gr.State(None)  # this session's trained MLP and the settings it was trained for
    drawing = gr.State(None)  # the dataset made from the last "Use my drawing"
    run = gr.State(None)  # the last sampling run (for the GIF)
    explain("Two dimensions: the data is a cloud of points, so you can watch the **whole distribution** move. "
            "Move t to blur the cloud (the same noise throughout); the arrows are the score ∇log q_t, "
            "exact and learned. Train the small network, then send particles from x_T ~ N(0, I) back to the data "
            "with six samplers.")
    with gr.Row(visible=False, equal_height=False) as draw_group:
        with gr.Column(scale=2, min_width=300):
            sketch = gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(400, 400), fixed_canvas=True,
                                  brush=gr.Brush(default_size=10, colors=["#000000"], color_mode="fixed"),
                                  layers=False, label="Your drawing", elem_id="lab2d-sketch", height=480,
                                  transforms=())
        with gr.Column(scale=3):
            gr.Markdown("### Draw your own distribution\nPick the **brush** (left of the canvas) and draw a shape: a "
                        "spiral, a letter, a smiley. The points are drawn uniformly from your ink, standardized like "
                        "the other datasets, and N and the data seed apply as usual. An empty canvas or a single dot "
                        "is not a distribution: the tab will say so.")
            use_draw = gr.Button("Use my drawing", variant="primary", elem_id="lab2d-use-drawing")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            dataset = gr.Dropdown(DATASET_CHOICES, value="moons", label="Dataset", elem_id="lab2d-dataset")
            n_points = gr.Slider(toy2d.MIN_N, MAX_POINTS, value=toy2d.DEFAULT_N, step=1, label="Number of points N",
                                 elem_id="lab2d-n")
            schedule = gr.Dropdown(SCHEDULE_CHOICES, value="cosine", label="Noise schedule (T = 1000)")
            with gr.Row():
                data_seed = gr.Number(0, label="Data seed", precision=0, min_width=80)
                ztsnr = gr.Checkbox(False, label="Zero terminal SNR", min_width=120)
            t = gr.Slider(0, T_LAB - 1, value=150, step=1, label="t (timestep)", elem_id="lab2d-t")
            arrows = gr.Radio(ARROW_CHOICES, value="both", label="Score arrows", elem_id="lab2d-arrows")
        with gr.Column(scale=8):
            with gr.Row():
                q_plot = gr.Plot(show_label=False, elem_id="lab2d-q")
                score_plot = gr.Plot(show_label=False, elem_id="lab2d-score")
            numbers = gr.Markdown(elem_classes="numbers", elem_id="lab2d-numbers")

    gr.Markdown("### Train the network")
    explain(f"A residual MLP ({toy2d.ScoreMLP().num_params():,} parameters, sinusoidal time embedding) "
            f"learns the denoiser with the project's training loss and schedule; it samples with its EMA weights. "
            f"v-prediction is the default: with ε, the cosine schedule's last step divides the network's error "
            f"by √ᾱ ≈ 0.0001.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=290):
            seconds = gr.Slider(1, MAX_TRAIN_SECONDS, value=min(15, MAX_TRAIN_SECONDS), step=1,
                                label=f"Training time (s), at most {TRAIN_STEPS:,} steps",
                                elem_id="lab2d-train-seconds")
            objective = gr.Dropdown(OBJECTIVE_CHOICES, value="v", label="Objective (network output)")
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="lab2d-train")
                stop_btn = gr.Button("■ Stop", variant="stop")
            model_md = gr.Markdown(describe_model(None, None, "cosine", False), elem_id="lab2d-model")
        with gr.Column(scale=8):
            loss_plot = gr.Plot(show_label=False, elem_id="lab2d-loss")
            train_status = gr.Markdown(elem_classes="status", elem_id="lab2d-train-status")

    gr.Markdown("### Sample: every sampler from the same x_T")
    explain("All samplers start from the same particles x_T and run on the same list of timesteps. The "
            "probability-flow ODE and DDIM (η = 0) paths are smooth and deterministic; DDPM, the reverse SDE and "
            "Langevin add noise at every step, so their paths jitter. Tick **Ideal denoiser** to use the exact "
            "score of the N training points.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=290):
            samplers = gr.CheckboxGroup(SAMPLER_CHOICES, value=list(toy2d.SAMPLERS_2D), label="Samplers",
                                        elem_id="lab2d-samplers")
            steps = gr.Slider(1, MAX_STEPS, value=min(100, MAX_STEPS), step=1, label="Steps", elem_id="lab2d-steps")
            eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η (DDIM)")
            ideal = gr.Checkbox(False, label="Ideal denoiser (exact score of the N points)", elem_id="lab2d-ideal")
            with gr.Row():
                particles = gr.Slider(10, MAX_PARTICLES, value=min(1000, MAX_PARTICLES), step=10, label="Particles",
                                      scale=3)
                sample_seed = gr.Number(0, label="Seed", precision=0, scale=1, min_width=90)
            with gr.Row():
                sample_btn = gr.Button("▶ Sample", variant="primary", elem_id="lab2d-sample")
                sample_stop = gr.Button("■ Stop", variant="stop")
        with gr.Column(scale=8):
            gr.Markdown(f"Grey: the data. Coloured dots: the samples. Lines: the whole path of {PATHS} particles, "
                        "○ where they start (the same x_T in every panel, one colour per particle), ● where they end.",
                        elem_classes="explain")
            paths_plot = gr.Plot(show_label=False, elem_id="lab2d-paths")
            summary = gr.Markdown(elem_id="lab2d-summary")
    with gr.Accordion("Animation over the sampling steps, and a GIF", open=False):
        anim_plot = gr.Plot(show_label=False, elem_id="lab2d-anim")
        gif_btn = gr.Button("Export the animation as a GIF")
        gif_img = gr.Image(label="GIF (use the download button)", interactive=False, height=420, buttons=["download"])
    with gr.Accordion("Memorization: the ideal denoiser reproduces its training points", open=False) as mem_acc:
        explain("DDIM with 100 steps, once with the exact score of the N points and once with the "
                "trained network, from the same x_T, down to t = 0. Then each sample's distance to its nearest "
                "training point.")
        with gr.Row():
            mem_btn = gr.Button("Compare ideal denoiser and trained network", variant="primary")
            few_btn = gr.Button("Use N = 200 points (memorization is plainest)")
        mem_plot = gr.Plot(show_label=False, elem_id="lab2d-mem")
        mem_md = gr.Markdown()
    with gr.Accordion("Numbers: distance to the data for each sampler and step count", open=False):
        explain("Every ticked sampler at 10, 25, 50 and 100 steps from one x_T, scored by the energy "
                "distance to the data divided by that of fresh data points. Uses the score source and η chosen above.")
        study_btn = gr.Button("Run the study")
        study_plot = gr.Plot(show_label=False, elem_id="lab2d-study")
        study_md = gr.Markdown()
    with gr.Group(visible=False):  # the /lab2d endpoint's own inputs: plain types, so API callers get clear errors
        api_btn = gr.Button()
        api_in = [gr.Textbox("moons"), gr.Number(toy2d.DEFAULT_N), gr.Textbox("ddim"), gr.Number(100), gr.Number(0.0),
                  gr.Textbox("learned"), gr.Number(0), gr.Textbox("cosine"), gr.Number(1000)]
        api_samples, api_data, api_info = gr.JSON(), gr.JSON(), gr.JSON()

    heavy = dict(concurrency_id="lab2d", concurrency_limit=2)
    view = [q_plot, score_plot, numbers]
    render_in = [state, model, schedule, ztsnr, t, arrows]
    load_in = [dataset, n_points, data_seed, drawing, model, schedule, ztsnr, t, arrows]
    status_in = [model, state, schedule, ztsnr]

    dataset.change(lambda d: gr.Row(visible=d == DRAWING), dataset, draw_group, **FAST)
    for comp in (dataset, data_seed):
        comp.change(lab_load, load_in, [state, *view], trigger_mode="always_last", **FAST).then(
            describe_model, status_in, model_md, **FAST)
    n_points.release(lab_load, load_in, [state, *view], trigger_mode="always_last", **FAST).then(
        describe_model, status_in, model_md, **FAST)
    use_draw.click(use_drawing, sketch, [drawing, dataset], show_progress_on=[use_draw], **PRIVATE).success(
        lab_load, load_in, [state, *view], **PRIVATE).then(describe_model, status_in, model_md, **FAST)
    for comp in (schedule, ztsnr, arrows):
        comp.change(lab_render, render_in, view, trigger_mode="always_last", **FAST).then(
            describe_model, status_in, model_md, **FAST)
    t.change(lab_render, render_in, view, trigger_mode="always_last", **FAST)

    train_event = train_btn.click(lab_train, [state, schedule, ztsnr, seconds, objective],
                                  [loss_plot, train_status, model],
                                  show_progress_on=[train_status], **heavy, **PRIVATE)
    train_event.then(lab_render, render_in, view, **FAST).then(describe_model, status_in, model_md, **FAST)
    stop_btn.click(None, None, None, cancels=[train_event], **PRIVATE).then(
        lab_render, render_in, view, **FAST).then(describe_model, status_in, model_md, **FAST)

    sample_in = [state, model, schedule, ztsnr, samplers, steps, eta, ideal, particles, sample_seed]
    sample_event = sample_btn.click(lab_sample, sample_in, [paths_plot, anim_plot, summary, run, model],
                                    show_progress_on=[summary, paths_plot], **heavy, **PRIVATE)
    sample_event.then(describe_model, status_in, model_md, **FAST).then(lab_render, render_in, view, **FAST)
    sample_stop.click(None, None, None, cancels=[sample_event], **PRIVATE)
    anim_plot.change(None, None, None, js=ANIM_JS, **FAST)
    gif_btn.click(lab_gif, run, gif_img, **heavy, **PRIVATE)
    mem_btn.click(lab_memorize, [state, model, schedule, ztsnr, particles, sample_seed], [mem_plot, mem_md, model],
                  **heavy, **PRIVATE).then(describe_model, status_in, model_md, **FAST).then(
                      lab_render, render_in, view, **FAST)
    few_btn.click(lambda: 200, None, n_points, **FAST).then(lab_load, load_in, [state, *view], **FAST).then(
        describe_model, status_in, model_md, **FAST)
    study_btn.click(lab_study, [state, model, schedule, ztsnr, ideal, eta, particles, sample_seed, samplers],
                    [study_plot, study_md, model], **heavy,
                    **PRIVATE).then(describe_model, status_in, model_md, **FAST).then(
        lab_render, render_in, view, **FAST)
    api_btn.click(lab2d_api, api_in, [api_samples, api_data, api_info], api_name="lab2d", **heavy)
    page.on_load(lambda loaded: loaded.then(lab_init, load_in, [state, *view], **PRIVATE))

    page.components.update(lab2d_t=t)
    page.param("dataset", dataset, one_of([c for c in DATASET_CHOICES if c[1] != DRAWING]))
    page.param("points", n_points, as_int(toy2d.MIN_N, MAX_POINTS))
    page.param("t", t, as_int(0, T_LAB - 1))
    page.param("schedule", schedule, one_of(SCHEDULE_CHOICES))
    page.param("steps", steps, as_int(1, MAX_STEPS))
    page.param("ideal", ideal, as_bool)
    page.link("lab2d_score", [t, arrows], lambda: (300, "both"))
    page.link("lab2d_pfode", [samplers, ideal], lambda: (["pf_ode", "sde", "ddim", "ddpm"], False))
    page.link("lab2d_langevin", [samplers], lambda: ["langevin", "sde", "pf_ode"])
    page.link("lab2d_memorize", [mem_acc], lambda: gr.Accordion(open=True))
