"""The "Fewer steps" tab's distillation section, in 2-D: train a teacher, distil it round by round into students
that take 8, 4, 2 and 1 steps, and draw the teacher's paths beside the student's jumps from the same x_T.

The maths is in playground.distill (progressive distillation) and playground.toy2d; this module validates, calls
them, and draws. Public endpoint: ``/distill`` (:func:`distill_2d_run`, run to its end by :func:`distill_2d_api`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from playground import consistency, distill, toy2d
from playground.schedules import make_schedule
from playground.toy2d import flow2d
from playground.toy2d.data import make_dataset
from playground.toy2d.distance import energy_distance
from playground.toy2d.mlp import MLPConfig, TrainConfig2D, train_denoiser
from playground.ui import jobs
from playground.ui.events import Done, Step, run_to_end, stream
from playground.ui.limits import adapt_threads, interactive_work
from playground.ui.page import PRIVATE, Page, explain

TEACHER_SECONDS = 5.0  # the 2-D teacher's training budget (a v-MLP, as the 2-D lab trains)
START_CHOICES = (8, 4, 2)  # the first student's steps; rounds halve it down to 1
N_POINTS, N_SAMPLES, T = 2000, 1000, 1000
OUT = ("status", "fig", "table", "result")
ROUNDS_MAX_STEPS = 2000


def _check(dataset, start_n, steps, seed) -> tuple[str, int, int, int]:
    if dataset not in toy2d.DATASETS:
        raise gr.Error(f"Unknown dataset {dataset!r}: choose one of {', '.join(toy2d.DATASETS)}.")
    try:
        start, n_steps, sd = int(start_n), int(steps), int(seed)
    except (TypeError, ValueError):
        raise gr.Error("Steps of the first student, steps per round and seed must be whole numbers.") from None
    if start not in START_CHOICES:
        raise gr.Error(f"The first student takes {', '.join(map(str, START_CHOICES))} steps, not {start_n!r}.")
    if not 50 <= n_steps <= ROUNDS_MAX_STEPS:
        raise gr.Error(f"Steps per round must be between 50 and {ROUNDS_MAX_STEPS}, got {n_steps}.")
    return dataset, start, n_steps, sd


# who → (legend name, colour): the teacher, the progressive students, and the two other members of the family
WHO = {"teacher": ("teacher (DDIM)", "#1f77b4"), "student": ("progressive student", "#d62728"),
       "consistency": ("consistency student", "#2ca02c"), "reflow": ("rectified flow, 1 reflow (Euler)", "#9467bd")}
ALSO = (("consistency distillation", "consistency"), ("rectified flow + 1 reflow", "reflow"))


PANEL = {"teacher": (1, 1), "student": (1, 2), "consistency": (2, 1), "reflow": (2, 2)}  # who → its sample panel
AXIS = {"teacher": "x", "student": "x2", "consistency": "x4", "reflow": "x5"}  # plotly's names of those x axes


def figure(data: np.ndarray, pts: dict, ed: dict, n_show: int | None) -> go.Figure:
    """Left, one small panel per model: the data (grey) and that model's n-step samples from the same x_T.
    Right: energy distance ÷ data-vs-data against the number of steps, one line per model.
    pts, ed: who → {steps: points or ED}."""
    steps = f", {n_show} step{'s' * (n_show != 1)}" if n_show else ""
    fig = make_subplots(2, 3, column_widths=[0.25, 0.25, 0.5], horizontal_spacing=0.07, vertical_spacing=0.12,
                        specs=[[{}, {}, {"rowspan": 2}], [{}, {}, None]],
                        subplot_titles=(WHO["teacher"][0] + steps, WHO["student"][0] + steps,
                                        "energy distance ÷ data-vs-data (lower is better; 1 = as good as data)",
                                        WHO["consistency"][0] + steps, "after 1 reflow (Euler)" + steps))
    for who, (name, color) in WHO.items():
        r, c = PANEL[who]
        fig.add_trace(go.Scattergl(x=data[:, 0], y=data[:, 1], mode="markers", name="data", legendgroup="data",
                                   showlegend=who == "teacher", marker=dict(size=2, color="#c8c8c8")), r, c)
        p = pts.get(who, {}).get(n_show)
        if p is not None:
            fig.add_trace(go.Scattergl(x=p[:, 0], y=p[:, 1], mode="markers", name=f"{name}{steps}", showlegend=False,
                                       legendgroup=who, marker=dict(size=3, color=color, opacity=0.7)), r, c)
        fig.update_xaxes(range=[-3, 3], showticklabels=False, row=r, col=c)
        fig.update_yaxes(range=[-3, 3], showticklabels=False, scaleanchor=AXIS[who], row=r, col=c)
    for who, (name, color) in WHO.items():
        ns = sorted(ed.get(who, {}))
        if ns:
            fig.add_trace(go.Scatter(x=ns, y=[ed[who][n] for n in ns], mode="lines+markers", name=name,
                                     legendgroup=who, line=dict(color=color, width=3)), 1, 3)
    fig.update_xaxes(type="log", title_text="sampling steps (NFE)", tickvals=[1, 2, 4, 8, 16], row=1, col=3)
    fig.update_yaxes(type="log", title_text="ED ÷ reference", row=1, col=3)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=560, margin=dict(l=30, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.08))
    return fig


def _table(ed: dict) -> str:
    ns = sorted(set().union(*(ed.get(w, {}) for w in WHO)))
    if not ns:
        return ""
    cell = lambda who, n: f"{ed[who][n]:.2f}" if n in ed[who] else "…"  # noqa: E731
    return ("| ED ÷ data-vs-data, by steps | " + " | ".join(map(str, ns)) + " |\n|---|" + "---|" * len(ns) + "\n"
            + "\n".join(f"| {name} | " + " | ".join(cell(who, n) for n in ns) + " |"
                        for who, (name, _) in WHO.items() if ed.get(who)))


def _also(also) -> tuple[str, ...]:
    known = {v for _, v in ALSO}
    picked = tuple(also or ())
    bad = [a for a in picked if a not in known]
    if bad:
        raise gr.Error(f"Unknown comparison {bad[0]!r}: choose from {', '.join(sorted(known))}.")
    return picked


@dataclass
class _Board:
    """What the section shows: each model's samples and energy distances (÷ ref) by steps, from one x_T."""

    data: torch.Tensor
    ref: float
    x_T: torch.Tensor
    pts: dict = field(default_factory=lambda: {w: {} for w in WHO})
    ed: dict = field(default_factory=lambda: {w: {} for w in WHO})

    def score(self, who: str, n: int, x: torch.Tensor) -> None:
        self.pts[who][n] = x.numpy()
        self.ed[who][n] = energy_distance(x, self.data) / self.ref

    def show(self, n_show: int) -> dict:
        return {"fig": figure(self.data.numpy(), self.pts, self.ed, n_show), "table": _table(self.ed)}


def _consistency_stage(b: _Board, teacher, s, draw, steps: int, rounds: list[int], seed: int, k: int, total: int):
    """A consistency student of the same teacher, trained for ``steps`` (as many as all the rounds together)."""
    cfg = consistency.ConsistencyConfig(steps=steps, batch=512, lr=1e-3, seed=seed)
    for ev in consistency.consistency_distill(teacher, s, draw, cfg, log_every=max(steps // 8, 1)):
        if not ev.done:
            yield Step(k, total, f"… **Running** — consistency distillation, step {ev.step}/{ev.steps} "
                                 f"(as many as all the rounds), loss {ev.loss:.4f}")
    for n in rounds:
        b.score("consistency", n, consistency.consistency_sample(ev.student, s, b.x_T, n,
                                                                 generator=torch.Generator().manual_seed(seed + 3)))
    yield Step(k + 1, total, f"… **Running** — consistency student: 1 step ED ÷ ref = {b.ed['consistency'][1]:.2f}",
               b.show(1))


def _reflow_stage(b: _Board, rounds: list[int], seed: int, k: int, total: int):
    """Rectified flow on the same data: flow matching, then one reflow; Euler from the same x_T."""
    yield Step(k, total, f"… **Running** — rectified flow: flow matching, then one reflow "
                         f"({TEACHER_SECONDS:g} s each)")
    for r in flow2d.reflow(b.data, rounds=1, cfg=TrainConfig2D(time_budget_s=TEACHER_SECONDS, seed=seed), seed=seed,
                           steps=()):
        if r.round == 0:
            yield Step(k + 1, total, "… **Running** — flow trained; one reflow on its own (noise, endpoint) pairs")
    for n, x in flow2d.few_step_samples(flow2d.model_velocity_fn(r.model), b.x_T, rounds).items():
        b.score("reflow", n, x)
    yield Step(k + 2, total, f"… **Running** — after one reflow: 1 Euler step ED ÷ ref = {b.ed['reflow'][1]:.2f}",
               b.show(1))


def distill_2d_job(dataset, start_n, steps, seed, also=()):
    """Train the teacher, then one round per halving; then, if asked, a consistency student trained for as many
    optimiser steps as all the rounds together, and rectified flow with one reflow. A Step after every stage
    (and during the training ones), then Done."""
    dataset, start, n_steps, seed = _check(dataset, start_n, steps, seed)
    also = _also(also)
    torch.manual_seed(seed)
    s = make_schedule("cosine", T)
    data = make_dataset(dataset, N_POINTS, seed=seed)
    b = _Board(data, energy_distance(make_dataset(dataset, N_POINTS, seed=seed + 10_000), data),
               torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(seed + 1)))
    rounds = [start >> k for k in range(start.bit_length())]  # e.g. 8, 4, 2, 1
    total = 1 + len(rounds) + ("consistency" in also) + 2 * ("reflow" in also)
    t0 = time.perf_counter()
    yield Step(0, total, f"… **Running** — training the teacher ({TEACHER_SECONDS:g} s)")
    _, tr = train_denoiser(data, s, TrainConfig2D(time_budget_s=TEACHER_SECONDS, seed=seed),
                           MLPConfig(prediction_type="v"))
    teacher = tr.ema.eval()
    for n in [2 * start] + rounds:
        b.score("teacher", n, distill.student_sample(teacher, s, b.x_T, n))
    yield Step(1, total, f"… **Running** — teacher trained; round 1/{len(rounds)}: {2 * start} → {start} steps",
               b.show(start))
    g = torch.Generator().manual_seed(seed + 2)

    def draw(batch):
        return data[torch.randint(0, data.shape[0], (batch,), generator=g)], ()

    cfg = distill.DistillConfig(steps=n_steps, batch=512, lr=1e-3, seed=seed)
    for n, ev in distill.distill_rounds(teacher, s, draw, start, cfg, log_every=max(n_steps // 4, 1)):
        k = rounds.index(n) + 1
        if not ev.done:
            yield Step(k, total, f"… **Running** — round {k}/{len(rounds)}: {2 * n} → {n} steps, "
                                 f"step {ev.step}/{ev.steps}, loss {ev.loss:.4f}")
            continue
        b.score("student", n, distill.student_sample(ev.student, s, b.x_T, n))
        nxt = f"; round {k + 1}/{len(rounds)}: {n} → {n // 2} steps" if n > 1 else ""
        yield Step(k + 1, total, f"… **Running** — {n}-step student: ED ÷ ref = {b.ed['student'][n]:.2f}{nxt}",
                   b.show(n))
    k = 1 + len(rounds)
    if "consistency" in also:
        yield from _consistency_stage(b, teacher, s, draw, n_steps * len(rounds), rounds, seed, k, total)
        k += 1
    if "reflow" in also:
        yield from _reflow_stage(b, rounds, seed, k, total)
    wall = time.perf_counter() - t0
    result = {"dataset": dataset, "reference_energy_distance": b.ref, "rounds": rounds, "wall_s": wall}
    result.update({who: {str(n): v for n, v in b.ed[who].items()} for who in WHO if b.ed[who]})
    one = ", ".join(f"{WHO[w][0]} {b.ed[w][1]:.2f}" for w in WHO if 1 in b.ed[w])
    yield Done(f"✓ **Done** — {len(rounds)} rounds{' and the comparisons' * bool(also)} in {wall:.1f} s. "
               f"One step, ED ÷ ref: {one}.", b.show(1), result)


def distill_2d_run(dataset, start_n, steps, seed, also=(), request: gr.Request = None):
    """The Distil button: streams (status, figure, table Markdown, result JSON); Stop keeps what is shown."""
    _check(dataset, start_n, steps, seed)  # before any work
    _also(also)
    adapt_threads()
    with interactive_work(), jobs.running("distill2d", request) as stop:
        yield from stream(distill_2d_job(dataset, start_n, steps, seed, also), OUT, stop,
                          detail="the students trained so far are shown")


def distill_2d_api(dataset: str = "moons", start_n: int = 8, steps: int = 300, seed: int = 0,
                   also: list[str] | None = None) -> dict:
    """Public endpoint `distill`: progressive distillation in 2-D, and with ``also`` ⊆ {"consistency", "reflow"}
    a consistency student and rectified flow after one reflow beside it. Returns the energy distances (÷ the
    data-against-data reference) of the teacher and of each student, by number of steps, and the wall time."""
    return run_to_end(distill_2d_job(dataset, start_n, steps, seed, also or ()))


def build(page: Page) -> None:
    """The distillation section (inside the Fewer steps tab)."""
    gr.Markdown("### Fewer steps by distillation (2-D): progressive, consistency, and reflow from one x_T")
    explain("Progressive distillation (Salimans & Ho 2022): the student starts as a copy of the teacher and learns "
            "to land, in ONE deterministic DDIM step, where the teacher lands in two. Each round halves the steps "
            "and the student becomes the next teacher: 16 → 8 → 4 → 2 → 1. Beside it, a consistency student "
            "(Song et al. 2023) learns to map every point of the teacher's ODE path to its start, in as many "
            "training steps as all the rounds together, and rectified flow straightens its own paths by one reflow "
            "(Liu et al. 2022) so that Euler's one step goes far.")
    with gr.Row():
        ds = gr.Dropdown([(toy2d.DATASET_LABELS[k], k) for k in toy2d.DATASETS], value="moons", label="Dataset",
                         elem_id="distill-dataset")
        start = gr.Radio(list(START_CHOICES), value=8, label="First student's steps", elem_id="distill-start")
        steps = gr.Slider(50, ROUNDS_MAX_STEPS, value=300, step=50, label="Training steps per round",
                          elem_id="distill-steps")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="distill-seed")
    also = gr.CheckboxGroup(list(ALSO), value=[v for _, v in ALSO], label="Beside the progressive students",
                            info="each adds about 7–11 s", elem_id="distill-also")
    with gr.Row():
        btn = gr.Button("▶ Distil", variant="primary", elem_id="distill-btn")
        stop = gr.Button("■ Stop", variant="stop", elem_id="distill-stop")
    status = gr.Markdown("Press **Distil**: about 15 s on two CPU cores, 35 s with both comparisons.",
                         elem_classes="status", elem_id="distill-status")
    fig = gr.Plot(figure(np.zeros((0, 2)), {}, {}, None), show_label=False, elem_id="distill-plot")
    table = gr.Markdown(elem_id="distill-table")
    result = gr.JSON(label="Result (JSON)", open=False)
    btn.click(distill_2d_run, [ds, start, steps, seed, also], [status, fig, table, result],
              concurrency_id="distill", concurrency_limit=1, show_progress_on=[status], **PRIVATE)
    jobs.wire_stop(stop, "distill2d")
    api = gr.Button(visible=False)
    api.click(distill_2d_api, [ds, start, steps, seed, also], result, api_name="distill", concurrency_id="distill")
    page.link("distill_progressive", [start, steps], lambda: (8, 300))
