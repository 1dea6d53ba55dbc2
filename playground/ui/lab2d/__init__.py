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

from types import SimpleNamespace as NS

import gradio as gr

from playground import toy2d
from playground.ui import jobs
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
from playground.ui.lab2d.figures import ANIM_JS
from playground.ui.lab2d.flowlab import MAX_REFLOW_ROUNDS, SOURCE_CHOICES, lab_flow_compare, lab_reflow, lab_velocity
from playground.ui.lab2d.runs import (
    describe_model,
    empty_loss_plot,
    lab2d_api,
    lab_gif,
    lab_init,
    lab_memorize,
    lab_sample_stream,
    lab_study,
    lab_train,
)
from playground.ui.lab2d.session import use_drawing
from playground.ui.lab2d.view import lab_load, lab_render
from playground.ui.page import FAST, PRIVATE, SCHEDULE_CHOICES, Page, explain
from playground.ui.sketchpad import ready_js, sketchpad

TAB_ID = "lab2d"
TAB_TITLE = "2-D lab"

CSS = """
#lab2d-numbers { min-height: 6em; }
#lab2d-sketch { max-width: 420px; }
body.present #lab2d-numbers { min-height: 0; }
"""
HEAVY = dict(concurrency_id="lab2d", concurrency_limit=2)


def build(page: Page) -> None:
    """The 2-D lab's components and events (called inside ``with gr.Tab(...)``)."""
    st = NS(state=gr.State(None),  # this session's data: points, the fixed noise, subsets (see lab_data)
            model=gr.State(None),  # this session's trained MLP and the settings it was trained for
            drawing=gr.State(None),  # the dataset made from the last "Use my drawing"
            run=gr.State(None))  # the last sampling run (for the GIF)
    explain("Two dimensions: the data is a cloud of points, so you can watch the **whole distribution** move. "
            "Move t to blur the cloud (the same noise throughout); the arrows are the score ∇log q_t, "
            "exact and learned. Train the small network, then send particles from x_T ~ N(0, I) back to the data "
            "with six samplers.")
    draw = _draw_section()
    v = _view_section()
    tr = _train_section()
    sm = _sample_section()
    ex = _extras_section()
    fl = _flow_section()
    view = [v.q_plot, v.score_plot, v.numbers]
    render_in = [st.state, st.model, v.schedule, v.ztsnr, v.t, v.arrows]
    load_in = [v.dataset, v.n_points, v.data_seed, st.drawing, st.model, v.schedule, v.ztsnr, v.t, v.arrows]
    describe = dict(fn=describe_model, inputs=[st.model, st.state, v.schedule, v.ztsnr], outputs=tr.model_md, **FAST)
    rerender = dict(fn=lab_render, inputs=render_in, outputs=view, **FAST)
    load = dict(fn=lab_load, inputs=load_in, outputs=[st.state, *view], trigger_mode="always_last", **FAST)

    v.dataset.change(lambda d: gr.Row(visible=d == DRAWING), v.dataset, draw.group, **FAST)
    for event in (v.dataset.change, v.data_seed.change, v.n_points.release):
        event(**load).then(**describe)
    draw.use.click(use_drawing, draw.sketch, [st.drawing, v.dataset], show_progress_on=[draw.use],
                   **PRIVATE).success(**{**load, **PRIVATE}).then(**describe)
    for comp in (v.schedule, v.ztsnr, v.arrows):
        comp.change(**rerender, trigger_mode="always_last").then(**describe)
    v.t.change(**rerender, trigger_mode="always_last")

    tr.btn.click(lab_train, [st.state, v.schedule, v.ztsnr, tr.seconds, tr.objective],
                 [tr.loss_plot, tr.status, st.model, tr.model_md], show_progress_on=[tr.status], **HEAVY,
                 **PRIVATE).then(**rerender).then(**describe)
    jobs.wire_stop(tr.stop, "lab2d-train")  # the job ends itself: "Stopped at step k/N", model kept
    sample_in = [st.state, st.model, v.schedule, v.ztsnr, sm.samplers, sm.steps, sm.eta, sm.ideal, sm.particles,
                 sm.seed]
    sm.btn.click(lab_sample_stream, sample_in, [sm.paths_plot, ex.anim_plot, sm.summary, st.run, st.model,
                                                tr.loss_plot, tr.status, tr.model_md],
                 show_progress_on=[sm.summary], **HEAVY, **PRIVATE).then(**describe).then(**rerender)
    jobs.wire_stop(sm.stop, "lab2d-sample")
    _wire_extras(ex, st, v, sm, describe, rerender, load)
    _wire_flow(fl, st, v, sm)
    api_btn, api_in, api_out = _api_components()
    api_btn.click(lab2d_api, api_in, api_out, api_name="lab2d", **HEAVY)
    page.on_load(lambda loaded: loaded.then(lab_init, load_in, [st.state, *view], **PRIVATE).then(
        None, None, None, js=ready_js(["lab2d-sketch"]), **FAST))
    _params_and_links(page, v, sm, ex)
    page.link("lab2d_flow", [tr.objective, sm.samplers, fl.acc], lambda: ("flow", ["pf_ode", "ddim"],
                                                                         gr.Accordion(open=True)),
              target="lab2d-flow-compare")


def _draw_section() -> NS:
    c = NS()
    with gr.Row(visible=False, equal_height=False) as c.group:
        with gr.Column(scale=2, min_width=300):
            c.sketch = sketchpad("lab2d-sketch", 400, 10, "Your drawing", 480)
        with gr.Column(scale=3):
            gr.Markdown("### Draw your own distribution\nThe brush is ready: draw a shape on the canvas (a spiral, a "
                        "letter, a smiley). The points are drawn uniformly from your ink, standardized like the "
                        "other datasets, and N and the data seed apply as usual. An empty canvas or a single dot is "
                        "not a distribution: the tab will say so.")
            c.use = gr.Button("Use my drawing", variant="primary", elem_id="lab2d-use-drawing")
    return c


def _view_section() -> NS:
    c = NS()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            c.dataset = gr.Dropdown(DATASET_CHOICES, value="moons", label="Dataset", elem_id="lab2d-dataset")
            c.n_points = gr.Slider(toy2d.MIN_N, MAX_POINTS, value=toy2d.DEFAULT_N, step=1,
                                   label="Number of points N", elem_id="lab2d-n")
            c.schedule = gr.Dropdown(SCHEDULE_CHOICES, value="cosine", label="Noise schedule (T = 1000)")
            with gr.Row():
                c.data_seed = gr.Number(0, label="Data seed", precision=0, min_width=80, minimum=0,
                                        maximum=2**31 - 1)
                c.ztsnr = gr.Checkbox(False, label="Zero terminal SNR", min_width=120)
            c.t = gr.Slider(0, T_LAB - 1, value=150, step=1, label="t (timestep)", elem_id="lab2d-t")
            c.arrows = gr.Radio(ARROW_CHOICES, value="both", label="Score arrows", elem_id="lab2d-arrows")
        with gr.Column(scale=8):
            with gr.Row():
                c.q_plot = gr.Plot(show_label=False, elem_id="lab2d-q")
                c.score_plot = gr.Plot(show_label=False, elem_id="lab2d-score")
            c.numbers = gr.Markdown(elem_classes="numbers", elem_id="lab2d-numbers")
    return c


def _train_section() -> NS:
    c = NS()
    gr.Markdown("### Train the network")
    explain(f"A residual MLP ({toy2d.ScoreMLP().num_params():,} parameters, sinusoidal time embedding) "
            f"learns the denoiser with the project's training loss and schedule; it samples with its EMA weights. "
            f"v-prediction is the default: with ε, the cosine schedule's last step divides the network's error "
            f"by √ᾱ ≈ 0.0001.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=290):
            c.seconds = gr.Slider(1, MAX_TRAIN_SECONDS, value=min(15, MAX_TRAIN_SECONDS), step=1,
                                  label=f"Training time (s), at most {TRAIN_STEPS:,} steps",
                                  elem_id="lab2d-train-seconds")
            c.objective = gr.Dropdown(OBJECTIVE_CHOICES, value="v", label="Objective (network output)",
                                      elem_id="lab2d-objective")
            with gr.Row():
                c.btn = gr.Button("Train", variant="primary", elem_id="lab2d-train")
                c.stop = gr.Button("■ Stop", variant="stop", elem_id="lab2d-train-stop")
            c.model_md = gr.Markdown(describe_model(None, None, "cosine", False), elem_id="lab2d-model")
        with gr.Column(scale=8):
            c.loss_plot = gr.Plot(empty_loss_plot(), show_label=False, elem_id="lab2d-loss")
            c.status = gr.Markdown(elem_classes="status", elem_id="lab2d-train-status")
    return c


def _sample_section() -> NS:
    c = NS()
    gr.Markdown("### Sample: every sampler from the same x_T")
    explain("All samplers start from the same particles x_T and run on the same list of timesteps. The "
            "probability-flow ODE and DDIM (η = 0) paths are smooth and deterministic; DDPM, the reverse SDE and "
            "Langevin add noise at every step, so their paths jitter. Tick **Ideal denoiser** to use the exact "
            "score of the N training points.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=290):
            c.samplers = gr.CheckboxGroup(SAMPLER_CHOICES, value=list(toy2d.SAMPLERS_2D), label="Samplers",
                                          elem_id="lab2d-samplers")
            c.steps = gr.Slider(1, MAX_STEPS, value=min(100, MAX_STEPS), step=1, label="Steps", elem_id="lab2d-steps")
            c.eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η (DDIM)")
            c.ideal = gr.Checkbox(False, label="Ideal denoiser (exact score of the N points)", elem_id="lab2d-ideal")
            with gr.Row():
                c.particles = gr.Slider(10, MAX_PARTICLES, value=min(1000, MAX_PARTICLES), step=10,
                                        label="Particles", scale=3)
                c.seed = gr.Number(0, label="Seed", precision=0, scale=1, min_width=90, minimum=0, maximum=2**31 - 1)
            with gr.Row():
                c.btn = gr.Button("▶ Sample", variant="primary", elem_id="lab2d-sample")
                c.stop = gr.Button("■ Stop", variant="stop", elem_id="lab2d-sample-stop")
        with gr.Column(scale=8):
            c.summary = gr.Markdown(elem_id="lab2d-summary", elem_classes="status")
            gr.Markdown(f"Grey: the data. Coloured dots: the samples. Lines: the whole path of {PATHS} particles, "
                        "○ where they start (the same x_T in every panel, one colour per particle), ● where they end.",
                        elem_classes="explain")
            c.paths_plot = gr.Plot(show_label=False, elem_id="lab2d-paths")
    return c


def _extras_section() -> NS:
    c = NS()
    with gr.Accordion("Animation over the sampling steps, and a GIF", open=False):
        c.anim_plot = gr.Plot(show_label=False, elem_id="lab2d-anim")
        c.gif_btn = gr.Button("Export the animation as a GIF")
        c.gif_img = gr.Image(label="GIF (use the download button)", interactive=False, height=420,
                             buttons=["download"], visible=False)  # shown by the first export
    with gr.Accordion("Memorization: the ideal denoiser reproduces its training points", open=False) as c.mem_acc:
        explain("DDIM with 100 steps, once with the exact score of the N points and once with the "
                "trained network, from the same x_T, down to t = 0. Then each sample's distance to its nearest "
                "training point.")
        with gr.Row():
            c.mem_btn = gr.Button("Compare ideal denoiser and trained network", variant="primary")
            c.few_btn = gr.Button("Use N = 200 points (memorization is plainest)")
        c.mem_plot = gr.Plot(show_label=False, elem_id="lab2d-mem")
        c.mem_md = gr.Markdown()
    with gr.Accordion("Numbers: distance to the data for each sampler and step count", open=False):
        explain("Every ticked sampler at 10, 25, 50 and 100 steps from one x_T, scored by the energy "
                "distance to the data divided by that of fresh data points. Uses the score source and η chosen above.")
        c.study_btn = gr.Button("Run the study")
        c.study_plot = gr.Plot(show_label=False, elem_id="lab2d-study")
        c.study_md = gr.Markdown()
    return c


def _flow_section() -> NS:
    c = NS(cache=gr.State(None))
    with gr.Accordion("Flow matching next to diffusion: velocity, straight paths, reflow", open=False,
                      elem_id="lab2d-flow") as c.acc:
        explain("Flow matching moves each point along the straight line x_t = (1 − t)·x₀ + t·ε (t = 1 noise, "
                "t = 0 data) and learns its velocity u = ε − x₀; the exact marginal velocity of the N points is "
                "u*(x, t) = (x − E[x₀|x_t = x])/t. Below: that velocity field, then diffusion's probability-flow ODE "
                "and the flow ODE from the same x_T (the particles and seed set above).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=290):
                c.source = gr.Radio(SOURCE_CHOICES, value="exact", label="Fields",
                                    info="trained: a v-diffusion and a flow-matching MLP, 5 s each")
                c.t = gr.Slider(0.02, 1.0, value=0.5, step=0.02, label="Flow time t of the velocity arrows",
                                elem_id="lab2d-flow-t")
                c.btn = gr.Button("Compare the two ODEs", variant="primary", elem_id="lab2d-flow-compare")
            with gr.Column(scale=4):
                c.vel_plot = gr.Plot(show_label=False, elem_id="lab2d-velocity")
        c.paths_plot = gr.Plot(show_label=False, elem_id="lab2d-flow-paths")
        c.md = gr.Markdown(elem_id="lab2d-flow-numbers")
        gr.Markdown("#### Reflow (rectified flow)")
        explain("Pair each noise point with the sample the trained flow gives it, train again on the straight lines "
                "between the pairs, repeat. Each round straightens the paths, so fewer Euler steps reach the data. "
                "Every round's 1-, 2- and 4-step samples start from the same test noise.")
        with gr.Row():
            c.rounds = gr.Slider(0, MAX_REFLOW_ROUNDS, value=1, step=1, label="Reflow rounds", elem_id="lab2d-rounds")
            c.seconds = gr.Slider(1, 15, value=5, step=1, label="Training per round (s)")
            c.reflow_btn = gr.Button("Run reflow", variant="primary", elem_id="lab2d-reflow")
            c.reflow_stop = gr.Button("■ Stop", variant="stop", elem_id="lab2d-reflow-stop")
        c.reflow_md = gr.Markdown(elem_classes="status", elem_id="lab2d-reflow-status")
        c.reflow_plot = gr.Plot(show_label=False, elem_id="lab2d-reflow-plot")
    return c


def _wire_flow(fl: NS, st: NS, v: NS, sm: NS) -> None:
    fl.btn.click(lab_flow_compare, [st.state, v.schedule, v.ztsnr, fl.source, fl.t, sm.particles, sm.seed, fl.cache],
                 [fl.paths_plot, fl.vel_plot, fl.md, fl.cache], show_progress_on=[fl.md], **HEAVY, **PRIVATE)
    fl.t.release(lab_velocity, [st.state, fl.t, fl.cache], fl.vel_plot, trigger_mode="always_last", **FAST)
    fl.reflow_btn.click(lab_reflow, [st.state, fl.rounds, fl.seconds, sm.seed], [fl.reflow_plot, fl.reflow_md],
                        show_progress_on=[fl.reflow_md], **HEAVY, **PRIVATE)
    jobs.wire_stop(fl.reflow_stop, "lab2d-reflow")  # ends after the round in progress: "Stopped after round k"


def _wire_extras(ex: NS, st: NS, v: NS, sm: NS, describe: dict, rerender: dict, load: dict) -> None:
    ex.anim_plot.change(None, None, None, js=ANIM_JS, **FAST)
    ex.gif_btn.click(lambda: gr.update(visible=True), None, ex.gif_img, **FAST).then(lab_gif, st.run, ex.gif_img,
                                                                                   **HEAVY, **PRIVATE)
    ex.mem_btn.click(lab_memorize, [st.state, st.model, v.schedule, v.ztsnr, sm.particles, sm.seed],
                     [ex.mem_plot, ex.mem_md, st.model], **HEAVY, **PRIVATE).then(**describe).then(**rerender)
    ex.few_btn.click(lambda: 200, None, v.n_points, **FAST).then(**load).then(**describe)
    ex.study_btn.click(lab_study, [st.state, st.model, v.schedule, v.ztsnr, sm.ideal, sm.eta, sm.particles, sm.seed,
                                   sm.samplers], [ex.study_plot, ex.study_md, st.model], **HEAVY,
                       **PRIVATE).then(**describe).then(**rerender)


def _api_components():
    """The /lab2d endpoint's own hidden inputs (plain types, so API callers get clear errors) and outputs."""
    with gr.Group(visible=False):
        btn = gr.Button()
        api_in = [gr.Textbox("moons"), gr.Number(toy2d.DEFAULT_N), gr.Textbox("ddim"), gr.Number(100),
                  gr.Number(0.0), gr.Textbox("learned"), gr.Number(0), gr.Textbox("cosine"), gr.Number(1000),
                  gr.Textbox("v"), gr.Number(0)]
        api_out = [gr.JSON(), gr.JSON(), gr.JSON()]
    return btn, api_in, api_out


def _params_and_links(page: Page, v: NS, sm: NS, ex: NS) -> None:
    """Deep-link settings and the Theory tab's "Show me" targets."""
    page.components.update(lab2d_t=v.t)
    page.param("dataset", v.dataset, one_of([c for c in DATASET_CHOICES if c[1] != DRAWING]))
    page.param("points", v.n_points, as_int(toy2d.MIN_N, MAX_POINTS))
    page.param("t", v.t, as_int(0, T_LAB - 1))
    page.param("schedule", v.schedule, one_of(SCHEDULE_CHOICES))
    page.param("steps", sm.steps, as_int(1, MAX_STEPS))
    page.param("ideal", sm.ideal, as_bool)
    page.link("lab2d_score", [v.t, v.arrows], lambda: (300, "both"), target="lab2d-score")
    page.link("lab2d_pfode", [sm.samplers, sm.ideal], lambda: (["pf_ode", "sde", "ddim", "ddpm"], False),
              target="lab2d-samplers")
    page.link("lab2d_langevin", [sm.samplers], lambda: ["langevin", "sde", "pf_ode"], target="lab2d-samplers")
    page.link("lab2d_memorize", [ex.mem_acc], lambda: gr.Accordion(open=True), target="lab2d-mem")
