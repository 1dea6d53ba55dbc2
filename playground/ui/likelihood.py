"""Tab "Likelihood": bits/dim of an MNIST model (train vs held-out), the bound's per-t contribution next to
L_simple's weighting, what each objective weights over log-SNR, and a 2-D section (exact density, ODE, bound).

The maths is in playground.likelihood; this module only validates, calls it, and draws.
Public endpoint: ``/likelihood`` (:func:`likelihood_run`).
"""
from __future__ import annotations

import functools
import os

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from playground import toy2d
from playground.diffusion import normalize_prediction_type
from playground.likelihood import weighting
from playground.likelihood.mnist import ESTIMATORS, evaluate, schedule_of
from playground.likelihood.toy2d import grid_2d, likelihood_2d
from playground.schedules import make_schedule
from playground.ui.limits import ON_SPACE, adapt_threads
from playground.ui.models import checkpoint_dropdown, device_lock, get_model
from playground.ui.page import FAST, PRIVATE, PROGRESS, SCHEDULE_CHOICES, Page, explain, user_errors

TAB_ID = "likelihood"
TAB_TITLE = "Likelihood"
MAX_DIGITS = int(os.environ.get("PLAYGROUND_LIKELIHOOD_MAX_DIGITS") or (50 if ON_SPACE else 200))
SPLITS = ("train", "held-out", "both")
ESTIMATOR_CHOICES = [("fast: L_T + L_0 + 16 stratified t per digit", "fast"), ("full: every t (slow)", "full"),
                     ("probability-flow ODE (Hutchinson trace)", "ode")]
TOY_SECONDS = 5.0  # training budget of the 2-D model


def _check(num, split: str, estimator: str) -> int:
    try:
        n = int(num)
    except (TypeError, ValueError):
        raise gr.Error(f"Number of digits must be a whole number, got {num!r}.") from None
    if not 1 <= n <= MAX_DIGITS:
        raise gr.Error(f"Number of digits must be between 1 and {MAX_DIGITS} (PLAYGROUND_LIKELIHOOD_MAX_DIGITS).")
    if split not in SPLITS:
        raise gr.Error(f"Unknown split {split!r}: choose one of {', '.join(SPLITS)}.")
    if estimator not in ESTIMATORS:
        raise gr.Error(f"Unknown estimator {estimator!r}: choose one of {', '.join(ESTIMATORS)}.")
    return n


def per_t_figure(report) -> go.Figure:
    """The bound's mean contribution per t (bits/dim, log axis) and L_simple's weighting of the same errors.

    The full bound draws every t; the fast estimate one point per stratum (the mean of its draws there)."""
    fig = go.Figure()
    if report is None or not report.per_t:
        fig.update_layout(title="Run the bound for the per-t curve (the ODE has none)", height=360)
        return fig
    per_t, simple = np.asarray(report.per_t), np.asarray(report.per_t_simple)
    t = np.asarray(report.per_t_t) if report.per_t_t else np.arange(len(per_t))
    fast = report.estimator == "fast"
    scale = per_t[1:].sum() / max(simple[1:].sum(), 1e-300)  # L_simple's weights, scaled to the same total
    mode = "lines+markers" if fast else "lines"
    fig.add_trace(go.Scatter(x=t[1:], y=per_t[1:], name="bound: L_t (KL), bits/dim", line=dict(width=3), mode=mode))
    fig.add_trace(go.Scatter(x=t[1:], y=simple[1:] * scale, name="L_simple's weighting of the same errors",
                             line=dict(width=2, dash="dash"), mode=mode))
    fig.add_trace(go.Scatter(x=[0], y=[per_t[0]], mode="markers", marker=dict(size=11), name="L_0 (decoder)"))
    how = "one t per stratum per digit" if fast else "every t"
    fig.update_layout(height=400, margin=dict(l=50, r=20, t=80, b=40),
                      legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0),  # between the title and the plot
                      xaxis_title="t", yaxis_title="bits/dim per t", yaxis_type="log",
                      title=dict(text=f"Where the bound lives ({report.split}, {report.n} digits, {how})", y=0.97))
    return fig


def _summary(reports) -> str:
    lines = []
    for r in reports:
        var = " (σ² = β̃_t)" if r.variance == "beta_tilde" else ""
        lines.append(f"- **{r.split}**: {r.bpd:.4f} ± {r.se:.4f} bits/dim — {r.estimator}{var}, {r.n} digits, "
                     f"{r.seconds:.1f} s")
    if len(reports) == 2:
        gap = reports[1].bpd - reports[0].bpd
        se = (reports[0].se ** 2 + reports[1].se ** 2) ** 0.5
        verdict = ("beyond its error: the model scores its training digits better, it has memorized some of them"
                   if gap > 2 * se else "within twice its error: no sign of memorization at this number of digits")
        lines.append(f"- **gap** held-out − train: {gap:+.4f} ± {se:.4f} bits/dim ({verdict})")
    return "\n".join(lines)


def likelihood_run(checkpoint: str, num_digits: float, split: str, estimator: str,
                   session_models: dict | None = None, progress=PROGRESS):
    """Public endpoint `likelihood`: bits/dim of a checkpoint on MNIST digits.

    Args: checkpoint (a listed path or file name), num_digits (first N of the split), split ("train" |
    "held-out" | "both"), estimator ("fast" | "full" | "ode").
    Returns: (summary Markdown, per-t figure, JSON {reports: [{split, bpd, se, per_t, …}], gap}).
    """
    n = _check(num_digits, split, estimator)
    model, meta = get_model(checkpoint, session_models)
    s = schedule_of(meta)
    if normalize_prediction_type(meta.prediction_type) == "u":
        if estimator != "ode":
            raise gr.Error("This is a flow-matching model: it has no DDPM chain, so no variational bound. Choose the "
                           "probability-flow ODE estimator.")
    elif s.zero_terminal_snr:
        raise gr.Error("This model uses a zero-terminal-SNR schedule: its prior term L_T is infinite, so "
                       "there is no finite bound (and no ODE start point). Pick another model.")
    adapt_threads()
    held = {"train": (False,), "held-out": (True,), "both": (False, True)}[split]
    reports = []
    for i, h in enumerate(held):
        label = "held-out" if h else "train"

        def tick(done, total, i=i, label=label):
            progress((i + done / total) / len(held), desc=f"{estimator} on {label} digits: {done}/{total}")

        with user_errors(), device_lock, torch.inference_mode(estimator != "ode"):
            reports.append(evaluate(model, meta, n=n, held_out=h, estimator=estimator, progress=tick))
    out = {"reports": [r.to_dict() for r in reports]}
    if len(reports) == 2:
        out["gap"] = reports[1].bpd - reports[0].bpd
    curve = next((r for r in reports if r.per_t), None)
    return _summary(reports), per_t_figure(curve), out


def weighting_figure(schedule: str) -> go.Figure:
    """Every objective's normalized w(λ) (solid) and its t-sampling density p(λ) (dotted) on the schedule."""
    with user_errors():
        data = weighting.weighting_curves(make_schedule(schedule, 1000), points=240)
    lam = data["lambda"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("effective weight w(λ) (normalized)", "sampling density p(λ)"))
    for i, (key, c) in enumerate(data["curves"].items()):
        color = f"hsl({int(360 * i / len(data['curves']))},65%,45%)"
        fig.add_trace(go.Scatter(x=lam, y=c["weight"], name=c["label"], line=dict(color=color, width=2.5),
                                 legendgroup=key), 1, 1)
        fig.add_trace(go.Scatter(x=lam, y=c["density"], name=c["label"], line=dict(color=color, dash="dot"),
                                 legendgroup=key, showlegend=False), 1, 2)
    fig.update_xaxes(title_text="log-SNR λ  (noise ←  → data)")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=420, margin=dict(l=50, r=20, t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


@functools.lru_cache(maxsize=4)
def _toy_model(dataset: str):
    s = make_schedule("linear", 1000)
    data = toy2d.make_dataset(dataset, 2000, seed=0)
    with torch.random.fork_rng(devices=[]):
        _, trainer = toy2d.train_denoiser(data, s, toy2d.TrainConfig2D(time_budget_s=TOY_SECONDS), device="cpu")
    return s, data, trainer.ema.requires_grad_(False), trainer.model_cfg.prediction_type


def lab_likelihood_2d(dataset: str, progress=PROGRESS):
    """The 2-D section: numbers at 2,000 fresh points and three heatmaps (exact, ODE, bound)."""
    if dataset not in toy2d.DATASETS:
        raise gr.Error(f"Unknown dataset {dataset!r}: choose one of {', '.join(toy2d.DATASETS)}.")
    progress(0.05, desc=f"training a 2-D model on {dataset} ({TOY_SECONDS:.0f} s, once per dataset)")
    with device_lock:
        s, data, model, pred = _toy_model(dataset)
    progress(0.5, desc="ODE likelihood and bound at 2,000 held-out points")
    points = toy2d.make_dataset(dataset, 2000, seed=1)
    with user_errors():
        r = likelihood_2d(s, data, model, pred, points)
        progress(0.8, desc="heatmaps")
        g = grid_2d(s, data, model, pred)
    md = (f"Nats per point at 2,000 points the model never saw (D = 2; lower is better):\n\n"
          f"| exact −log q₀ of the training cloud | model's ODE −log p | model's bound (σ² = β_t) |\n|---|---|---|\n"
          f"| {r.exact_nll[0]:.3f} ± {r.exact_nll[1]:.3f} | {r.ode_nll[0]:.3f} ± {r.ode_nll[1]:.3f} "
          f"({r.ode_nfe} NFE, exact trace) | {r.bound[0]:.3f} ± {r.bound[1]:.3f} |\n\n"
          "The exact density is the training points blurred by the first noise step: it memorizes them, so new "
          "points get a poor score. The network smooths between the points; its bound lies above its ODE value.")
    fig = make_subplots(rows=1, cols=3, subplot_titles=("exact log q₀", "ODE log p", "−bound"))
    lo = float(np.percentile(np.asarray(g["ode"]), 5))
    for j, key in enumerate(("exact", "ode", "bound")):
        z = np.maximum(np.asarray(g[key]), lo - 4)
        fig.add_trace(go.Heatmap(x=g["x"], y=g["x"], z=z.tolist(), coloraxis="coloraxis"), 1, j + 1)
    fig.update_layout(height=360, margin=dict(l=30, r=20, t=40, b=30), coloraxis=dict(colorscale="Viridis"))
    return md, fig


def build(page: Page) -> None:
    """The Likelihood tab."""
    gr.Markdown("## The loss as a number: bits/dim, the bound term by term, and what each objective weights")
    explain("bits/dim = nats ÷ (784·ln 2). The variational bound is an upper bound on −log p(x): lower is better. "
            "The conditional models are scored with the null label, so this is p(x), not p(x | class).")
    with gr.Row():
        ckpt = checkpoint_dropdown()
        ckpt.label = "Model"
        num = gr.Slider(1, MAX_DIGITS, value=min(20, MAX_DIGITS), step=1, label="Number of digits", elem_id="lik-num")
    with gr.Row():
        split = gr.Radio(list(SPLITS), value="both", label="Digits", elem_id="lik-split")
        estimator = gr.Radio(ESTIMATOR_CHOICES, value="fast", label="Estimator", elem_id="lik-estimator")
    run = gr.Button("Compute bits/dim", variant="primary", elem_id="lik-run")
    summary = gr.Markdown(elem_id="lik-summary")
    per_t = gr.Plot(per_t_figure(None), show_label=False, elem_id="lik-per-t")
    result = gr.JSON(label="Result (JSON)", open=False)
    gr.Markdown("### What each objective weights")
    explain("Every objective is ½∫ w(λ)·E‖ε − ε̂‖² dλ for some w (Kingma & Gao 2023). The ELBO is w = 1. "
            "Each curve is drawn with the t-sampling density of the schedule chosen here.")
    w_schedule = gr.Dropdown(SCHEDULE_CHOICES, value="linear", label="Schedule")
    w_plot = gr.Plot(show_label=False, elem_id="lik-weights")
    gr.Markdown("### In 2-D: exact density, ODE likelihood and bound side by side")
    with gr.Row():
        ds = gr.Dropdown([(toy2d.DATASET_LABELS[k], k) for k in toy2d.DATASETS], value="moons", label="Dataset")
        ds_btn = gr.Button("Train a 2-D model and compare")
    ds_md = gr.Markdown()
    ds_plot = gr.Plot(show_label=False, elem_id="lik-2d")

    heavy = dict(concurrency_id="likelihood", concurrency_limit=1)
    run.click(likelihood_run, [ckpt, num, split, estimator, page.session_models], [summary, per_t, result],
              api_name="likelihood", show_progress_on=[summary], **heavy)
    w_schedule.change(weighting_figure, w_schedule, w_plot, **FAST)
    ds_btn.click(lab_likelihood_2d, ds, [ds_md, ds_plot], show_progress_on=[ds_md], **heavy, **PRIVATE)
    page.on_load(lambda loaded: loaded.then(weighting_figure, w_schedule, w_plot, **PRIVATE))

    page.link("lik_bpd", [split, estimator], lambda: ("both", "fast"))
    page.link("lik_terms", [estimator, num], lambda: ("full", min(5, MAX_DIGITS)))
    page.link("lik_decoder", [estimator, num], lambda: ("full", min(2, MAX_DIGITS)))
    page.link("lik_ode", [estimator], lambda: "ode")
    page.link("lik_weighting", [w_schedule], lambda: "cosine")
