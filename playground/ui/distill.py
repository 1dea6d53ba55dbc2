"""The "Fewer steps" tab's distillation section, in 2-D: train a teacher, distil it round by round into students
that take 8, 4, 2 and 1 steps, and draw the teacher's paths beside the student's jumps from the same x_T.

The maths is in playground.distill (progressive distillation) and playground.toy2d; this module validates, calls
them, and draws. Public endpoint: ``/distill`` (:func:`distill_2d_run`, run to its end by :func:`distill_2d_api`).
"""
from __future__ import annotations

import time

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from playground import distill, toy2d
from playground.schedules import make_schedule
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


def figure(data: np.ndarray, teacher: dict, student: dict, ed: dict, n_show: int | None) -> go.Figure:
    """Left: the data (grey), the teacher's n-step samples and the student's, from the same x_T.
    Right: energy distance ÷ data-vs-data against the number of steps, teacher and student."""
    fig = make_subplots(1, 2, column_widths=[0.5, 0.5], horizontal_spacing=0.1,
                        subplot_titles=(f"samples at {n_show} step{'s' * (n_show != 1)}" if n_show else "samples",
                                        "energy distance ÷ data-vs-data (lower is better; 1 = as good as data)"))
    fig.add_trace(go.Scattergl(x=data[:, 0], y=data[:, 1], mode="markers", name="data",
                               marker=dict(size=3, color="#bbbbbb")), 1, 1)
    for who, pts, color in (("teacher", teacher.get(n_show), "#1f77b4"), ("student", student.get(n_show), "#d62728")):
        if pts is not None:
            fig.add_trace(go.Scattergl(x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"{who}, {n_show} steps",
                                       marker=dict(size=3, color=color, opacity=0.7)), 1, 1)
    for who, color in (("teacher", "#1f77b4"), ("student", "#d62728")):
        ns = sorted(ed.get(who, {}))
        if ns:
            fig.add_trace(go.Scatter(x=ns, y=[ed[who][n] for n in ns], mode="lines+markers", name=f"{who} (ED)",
                                     line=dict(color=color, width=3)), 1, 2)
    fig.update_xaxes(range=[-3, 3], row=1, col=1)
    fig.update_yaxes(range=[-3, 3], scaleanchor="x", row=1, col=1)
    fig.update_xaxes(type="log", title_text="sampling steps (NFE)", tickvals=[1, 2, 4, 8, 16], row=1, col=2)
    fig.update_yaxes(type="log", title_text="ED ÷ reference", row=1, col=2)
    fig.update_layout(height=430, margin=dict(l=40, r=20, t=60, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def _table(ed: dict) -> str:
    ns = sorted(set(ed.get("teacher", {})) | set(ed.get("student", {})))
    if not ns:
        return ""
    cell = lambda who, n: f"{ed[who][n]:.2f}" if n in ed.get(who, {}) else "…"  # noqa: E731
    return ("| steps | " + " | ".join(map(str, ns)) + " |\n|---|" + "---|" * len(ns) + "\n"
            + "| teacher (DDIM) | " + " | ".join(cell("teacher", n) for n in ns) + " |\n"
            + "| student | " + " | ".join(cell("student", n) for n in ns) + " |")


def distill_2d_job(dataset, start_n, steps, seed):
    """Train the teacher, then one round per halving; a Step after every round (and during it), then Done."""
    dataset, start, n_steps, seed = _check(dataset, start_n, steps, seed)
    torch.manual_seed(seed)
    s = make_schedule("cosine", T)
    data = make_dataset(dataset, N_POINTS, seed=seed)
    ref = energy_distance(make_dataset(dataset, N_POINTS, seed=seed + 10_000), data)
    x_T = torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(seed + 1))
    rounds = [start >> k for k in range(start.bit_length())]  # e.g. 8, 4, 2, 1
    total = 1 + len(rounds)
    t0 = time.perf_counter()
    yield Step(0, total, f"… **Running** — training the teacher ({TEACHER_SECONDS:g} s)")
    _, tr = train_denoiser(data, s, TrainConfig2D(time_budget_s=TEACHER_SECONDS, seed=seed),
                           MLPConfig(prediction_type="v"))
    teacher = tr.ema.eval()
    teach_pts = {n: distill.student_sample(teacher, s, x_T, n) for n in [2 * start] + rounds}
    ed = {"teacher": {n: energy_distance(p, data) / ref for n, p in teach_pts.items()}, "student": {}}
    npd = {n: p.numpy() for n, p in teach_pts.items()}
    stud_pts: dict[int, np.ndarray] = {}
    d_np = data.numpy()
    yield Step(1, total, f"… **Running** — teacher trained; round 1/{len(rounds)}: {2 * start} → {start} steps",
               {"fig": figure(d_np, npd, stud_pts, ed, start), "table": _table(ed)})
    g = torch.Generator().manual_seed(seed + 2)

    def draw(b):
        return data[torch.randint(0, data.shape[0], (b,), generator=g)], ()

    cfg = distill.DistillConfig(steps=n_steps, batch=512, lr=1e-3, seed=seed)
    for n, ev in distill.distill_rounds(teacher, s, draw, start, cfg, log_every=max(n_steps // 4, 1)):
        k = rounds.index(n) + 1
        if not ev.done:
            yield Step(k, total, f"… **Running** — round {k}/{len(rounds)}: {2 * n} → {n} steps, "
                                 f"step {ev.step}/{ev.steps}, loss {ev.loss:.4f}")
            continue
        pts = distill.student_sample(ev.student, s, x_T, n)
        stud_pts[n] = pts.numpy()
        ed["student"][n] = energy_distance(pts, data) / ref
        nxt = f"; round {k + 1}/{len(rounds)}: {n} → {n // 2} steps" if n > 1 else ""
        yield Step(k + 1, total, f"… **Running** — {n}-step student: ED ÷ ref = {ed['student'][n]:.2f}{nxt}",
                   {"fig": figure(d_np, npd, stud_pts, ed, n), "table": _table(ed)})
    wall = time.perf_counter() - t0
    result = {"dataset": dataset, "reference_energy_distance": ref, "rounds": rounds,
              "teacher": {str(n): v for n, v in ed["teacher"].items()},
              "student": {str(n): v for n, v in ed["student"].items()}, "wall_s": wall}
    one = ed["student"].get(1)
    yield Done(f"✓ **Done** — {len(rounds)} rounds in {wall:.1f} s. One step: student ED ÷ ref = {one:.2f}, "
               f"teacher {ed['teacher'][1]:.2f}.",
               {"fig": figure(d_np, npd, stud_pts, ed, 1), "table": _table(ed), "result": result}, result)


def distill_2d_run(dataset, start_n, steps, seed, request: gr.Request = None):
    """The Distil button: streams (status, figure, table Markdown, result JSON); Stop keeps what is shown."""
    _check(dataset, start_n, steps, seed)  # before any work
    adapt_threads()
    with interactive_work(), jobs.running("distill2d", request) as stop:
        yield from stream(distill_2d_job(dataset, start_n, steps, seed), OUT, stop,
                          detail="the students trained so far are shown")


def distill_2d_api(dataset: str = "moons", start_n: int = 8, steps: int = 300, seed: int = 0) -> dict:
    """Public endpoint `distill`: progressive distillation in 2-D. Returns the energy distances (÷ the
    data-against-data reference) of the teacher and of each student, by number of steps, and the wall time."""
    return run_to_end(distill_2d_job(dataset, start_n, steps, seed))


def build(page: Page) -> None:
    """The distillation section (inside the Fewer steps tab)."""
    gr.Markdown("### Fewer steps by distillation (2-D): a student takes one step where its teacher took two")
    explain("Progressive distillation (Salimans & Ho 2022): the student starts as a copy of the teacher and learns "
            "to land, in ONE deterministic DDIM step, where the teacher lands in two. Each round halves the steps "
            "and the student becomes the next teacher: 16 → 8 → 4 → 2 → 1.")
    with gr.Row():
        ds = gr.Dropdown([(toy2d.DATASET_LABELS[k], k) for k in toy2d.DATASETS], value="moons", label="Dataset",
                         elem_id="distill-dataset")
        start = gr.Radio(list(START_CHOICES), value=8, label="First student's steps", elem_id="distill-start")
        steps = gr.Slider(50, ROUNDS_MAX_STEPS, value=300, step=50, label="Training steps per round",
                          elem_id="distill-steps")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="distill-seed")
    with gr.Row():
        btn = gr.Button("▶ Distil", variant="primary", elem_id="distill-btn")
        stop = gr.Button("■ Stop", variant="stop", elem_id="distill-stop")
    status = gr.Markdown("Press **Distil**: about 15 s on two CPU cores.", elem_classes="status",
                         elem_id="distill-status")
    fig = gr.Plot(figure(np.zeros((0, 2)), {}, {}, {}, None), show_label=False, elem_id="distill-plot")
    table = gr.Markdown(elem_id="distill-table")
    result = gr.JSON(label="Result (JSON)", open=False)
    btn.click(distill_2d_run, [ds, start, steps, seed], [status, fig, table, result],
              concurrency_id="distill", concurrency_limit=1, show_progress_on=[status], **PRIVATE)
    jobs.wire_stop(stop, "distill2d")
    api = gr.Button(visible=False)
    api.click(distill_2d_api, [ds, start, steps, seed], result, api_name="distill", concurrency_id="distill")
    page.link("distill_progressive", [start, steps], lambda: (8, 300))
