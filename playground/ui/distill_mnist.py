"""The "Fewer steps" tab's MNIST distillation section: the shipped student (checkpoints/mnist_v_student.pt) beside
its teacher at 1, 2, 4 and 8 steps from one x_T, judged by the classifier; and a short distillation round in the
app (the teacher's 4 DDIM steps into a 2-step student) with live previews.

The maths is in playground.distill; the guided teacher and the bf16 wrapper in playground.mnist.distill_cli.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from playground import distill, render, samplers
from playground.mnist.checkpoint import save_checkpoint
from playground.mnist.distill_cli import Autocast, Guided
from playground.mnist.sample import make_model_fn, student_sampler
from playground.runtime.device import bf16_autocast_ok
from playground.ui import jobs, zerogpu
from playground.ui.events import Done, Step, stream
from playground.ui.files import out_path
from playground.ui.images import digit_grid
from playground.ui.limits import adapt_threads, interactive_work
from playground.ui.models import device, get_model
from playground.ui.page import PRIVATE, Page, explain

STUDENT = "mnist_v_student.pt"
REFLOW = "mnist_flow_reflow.pt"  # rectified flow: one reflow of the flow model (playground/mnist/reflow_cli.py)
NFES = (1, 2, 4, 8)
N_DIGITS = 10  # one of each digit
TEACHER_GUIDANCE = 1.5  # the teacher's CFG scale, the one distilled into the student
ROUND_N = 2  # the in-app round: the teacher's 4 DDIM steps into 2 student steps
ROUND_STEPS = (50, 600)
ROUND_BATCH = 64
PREVIEW_EVERY = 25
COMPARE_OUT = ("status", "gallery", "table")
ROUND_OUT = ("status", "image", "file")


def _models(session_models: dict | None):
    """(student, s_meta, teacher, t_meta); a clear message when either is missing."""
    student, s_meta = get_model(STUDENT, session_models)
    if not student_sampler(s_meta):
        raise gr.Error(f"{STUDENT} is not a distilled student (its file says nothing of student steps).")
    teacher, t_meta = get_model(Path(str(s_meta.extra.get("distilled_from", ""))).name, session_models)
    return student, s_meta, teacher, t_meta


def _verdict(x: torch.Tensor, labels: torch.Tensor) -> str:
    """The classifier's reading of ten digits (how many as asked, how many confidently, p ≥ 0.9) and their grey
    pixels, the share that is neither ink nor paper: blur, which the classifier forgives, shows there."""
    from playground.mnist import quality

    x01 = ((x.float().cpu() + 1) / 2).clamp(0, 1)
    grey = f"{quality.grey_fraction(x01):.0%} grey pixels"
    try:
        q = quality.evaluate(x01, labels)
    except Exception:  # noqa: BLE001 - the classifier is optional: without it, the images and the grey share
        return grey
    n = len(labels)
    return f"{round(q.label_agreement * n)}/{n} read as asked, {round(q.confident * n)}/{n} confident, {grey}"


def _reflow(session_models):
    """(model, meta, schedule) of the reflowed flow model when listed here, else None (its column is left out)."""
    try:
        model, meta = get_model(REFLOW, session_models)
    except gr.Error:
        return None
    return model, meta, render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))


def compare_job(seed, session_models=None):
    """Student (its own sampler), teacher (DDIM, trailing, CFG 1.5, x̂₀ clipped) and, when listed, the reflowed
    flow model (Euler: DDIM η = 0 on its trailing grid) at each NFE from one x_T."""
    seed = int(seed)
    student, s_meta, teacher, t_meta = _models(session_models)
    s = render.cached_schedule(s_meta.schedule, int(s_meta.T), bool(s_meta.zero_terminal_snr))
    labels = torch.arange(N_DIGITS) % 10
    x_T = torch.randn((N_DIGITS, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
    own = student_sampler(s_meta)
    dev_labels = labels.to(device())
    runs = {"student": (make_model_fn(student, dev_labels, own["guidance"]), s, s_meta.prediction_type, False),
            "teacher": (make_model_fn(teacher, dev_labels, TEACHER_GUIDANCE), s, t_meta.prediction_type, True)}
    rf = _reflow(session_models)
    if rf is not None:  # x_T is pure noise on both paths (t = T−1 on the flow grid is τ = 1)
        r_model, r_meta, r_s = rf
        runs["reflow"] = (make_model_fn(r_model, dev_labels, 1.0, flow_schedule=r_s), r_s, "u", False)
    gallery, rows = [], []
    for i, nfe in enumerate(NFES):
        cells = {}
        for who, (fn, sch, pred, clip) in runs.items():
            t0 = time.perf_counter()
            with torch.inference_mode():
                x = samplers.sample(fn, sch, tuple(x_T.shape), sampler="ddim", num_steps=nfe, spacing="trailing",
                                    eta=0.0, prediction_type=pred, clip_x0=clip, x_T=x_T.to(device()))
            dt = time.perf_counter() - t0
            verdict = _verdict(x, labels)
            cells[who] = (verdict, dt)
            gallery.append((digit_grid(x, 2), f"{who} · {nfe} step{'s' * (nfe > 1)} · {verdict} · {dt:.2f} s"))
        rows.append(f"| {nfe} | " + " | ".join(f"{v} · {dt:.2f} s" for v, dt in cells.values()) + " |")
        head = ["student (its own sampler)", "teacher DDIM, CFG 1.5 (two passes a step, one batch)"]
        head += ["reflowed flow model, Euler (one pass a step)"] if "reflow" in runs else []
        table = ("| steps (NFE) | " + " | ".join(head) + " |\n|---|" + "---|" * len(head) + "\n"
                 + "\n".join(rows))
        show = {"gallery": list(gallery), "table": table}
        if i + 1 < len(NFES):
            yield Step(i + 1, len(NFES), f"… **Running** — {nfe} step{'s' * (nfe > 1)} done", show)
    from playground.mnist.quality import real_grey_fraction

    yield Done(f"✓ **Done** — the student{', its teacher and the reflowed flow model' if rf else ' and its teacher'}"
               f" at {', '.join(map(str, NFES))} steps from one x_T (seed {seed}). Real digits have "
               f"{real_grey_fraction():.0%} grey pixels.", show)


@zerogpu.gpu(20)
def compare_run(seed, session_models=None, request: gr.Request = None):
    """The Compare button: streams (status, gallery, table); Stop keeps the rows shown."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise gr.Error(f"The seed must be a whole number, got {seed!r}.") from None
    _models(session_models)  # a missing student or teacher says so before any work
    adapt_threads()
    with interactive_work(), jobs.running("distill_mnist", request) as stop:
        yield from stream(compare_job(seed, session_models), COMPARE_OUT, stop, detail="the rows so far are shown")


def _rows(fn, s, x_T, pred: str, steps: int) -> np.ndarray:
    with torch.inference_mode():
        x = samplers.sample(fn, s, tuple(x_T.shape), sampler="ddim", num_steps=steps, spacing="trailing", eta=0.0,
                            prediction_type=pred, x_T=x_T)
    return digit_grid(x.clamp(-1, 1), 2)


def round_job(steps, seed, session_models=None):
    """One progressive-distillation round on the real training digits; every PREVIEW_EVERY steps a preview (three
    rows from one x_T: the teacher at 2 steps, the student at 2, the teacher at 4) and the student so far (.pt)."""
    from playground.mnist.data import load_mnist

    steps, seed = int(steps), int(seed)
    _, s_meta, teacher, t_meta = _models(session_models)
    teacher_name = Path(str(s_meta.extra.get("distilled_from"))).name
    s = render.cached_schedule(t_meta.schedule, int(t_meta.T), bool(t_meta.zero_terminal_snr))
    dev = device()
    bf16 = dev.type == "cpu" and bf16_autocast_ok(dev)
    guided = Autocast(Guided(teacher.eval(), TEACHER_GUIDANCE), bf16)
    student_net = copy.deepcopy(teacher)
    data = load_mnist()
    x0_all, lab_all = data.train_x0(), data.train_labels
    g = torch.Generator().manual_seed(seed)

    def draw(b):
        i = torch.randint(0, x0_all.shape[0], (b,), generator=g)
        return x0_all[i].to(dev), (lab_all[i].to(dev),)

    labels = (torch.arange(N_DIGITS) % 10).to(dev)
    x_T = torch.randn((N_DIGITS, 1, 28, 28), generator=torch.Generator().manual_seed(seed + 1)).to(dev)
    pred = t_meta.prediction_type
    teacher_fn = make_model_fn(teacher, labels, TEACHER_GUIDANCE)
    before, target = _rows(teacher_fn, s, x_T, pred, ROUND_N), _rows(teacher_fn, s, x_T, pred, 2 * ROUND_N)
    student_fn = lambda x, t: student_net(x, t, labels)  # noqa: E731
    path = out_path(f"mnist-student-{ROUND_N}steps-seed{seed}", ".pt")
    meta = dataclasses.replace(t_meta, created="", extra={
        **t_meta.extra, "student_steps": ROUND_N, "distilled_from": teacher_name,
        "guidance_distilled": TEACHER_GUIDANCE, "distill": {"method": "progressive (Salimans & Ho 2022, Alg. 2)",
                                                            "batch": ROUND_BATCH, "lr": 2e-4, "in_app": True}})

    def preview():
        student_net.eval()
        img = np.concatenate([before, _rows(student_fn, s, x_T, pred, ROUND_N), target], axis=0)
        student_net.train()
        return img

    yield Step(0, steps, "… **Running** — the student starts as a copy of its teacher", {"image": preview()})
    cfg = distill.DistillConfig(n=ROUND_N, steps=steps, batch=ROUND_BATCH, lr=2e-4, seed=seed)
    for ev in distill.distill_round(guided, s, draw, cfg, pred, student=Autocast(student_net, bf16),
                                    log_every=PREVIEW_EVERY):
        save_checkpoint(path, ema_state=student_net.state_dict(), config=teacher.config,
                        meta=dataclasses.replace(meta, wall_time_s=ev.elapsed_s, extra={
                            **meta.extra, "distill": {**meta.extra["distill"], "steps": ev.step}}))  # Stop keeps it
        rate = ev.elapsed_s / max(ev.step, 1)
        line = (f"step {ev.step}/{ev.steps}, loss {ev.loss:.4f}, {ev.elapsed_s:.0f} s"
                + (f" (≈ {rate * (ev.steps - ev.step):.0f} s to go)" if not ev.done else ""))
        show = {"image": preview(), "file": str(path)}
        if not ev.done:
            yield Step(ev.step, ev.steps, f"… **Running** — {line}", show)
            continue
        yield Done(f"✓ **Done** — {line}. Rows: the teacher at {ROUND_N} steps · the student at {ROUND_N} · the "
                   f"teacher at {2 * ROUND_N} (its target).", show, {"steps": ev.step, "loss": ev.loss})


@zerogpu.gpu(lambda steps, *rest: int(min(600, 30 + 0.5 * int(steps))))
def round_run(steps, seed, session_models=None, request: gr.Request = None):
    """The Distil button of the MNIST round: streams (status, preview image, student file at the end)."""
    try:
        steps, seed = int(steps), int(seed)
    except (TypeError, ValueError):
        raise gr.Error("Training steps and seed must be whole numbers.") from None
    if not ROUND_STEPS[0] <= steps <= ROUND_STEPS[1]:
        raise gr.Error(f"Training steps must be between {ROUND_STEPS[0]} and {ROUND_STEPS[1]}, got {steps}.")
    _models(session_models)
    adapt_threads()
    with interactive_work(), jobs.running("distill_mnist_round", request) as stop:
        yield from stream(round_job(steps, seed, session_models), ROUND_OUT, stop,
                          detail="the student so far is shown")


def build(page: Page) -> None:
    """The MNIST distillation section (inside the Fewer steps tab)."""
    gr.Markdown("### Fewer steps by distillation on MNIST: the shipped student against its teacher, and reflow")
    explain("The student (checkpoints/mnist_v_student.pt) was distilled 4 → 2 → 1 steps from the v-prediction "
            "teacher, with guidance 1.5 distilled in, so it takes one plain network pass a step. Beside them, the "
            "flow-matching model after one reflow (checkpoints/mnist_flow_reflow.pt, rectified flow): Euler's "
            "method on its straightened ODE. All start from the same x_T; the classifier reads each row of ten "
            "digits.")
    with gr.Row():
        seed = gr.Number(0, label="Seed (x_T)", precision=0, minimum=0, elem_id="distill-mnist-seed")
        btn = gr.Button("▶ Compare at 1, 2, 4, 8 steps", variant="primary", elem_id="distill-mnist-btn")
        stop = gr.Button("■ Stop", variant="stop", elem_id="distill-mnist-stop")
    status = gr.Markdown("Press **Compare**: a few seconds.", elem_classes="status", elem_id="distill-mnist-status")
    gallery = gr.Gallery(columns=3, rows=4, height=900, object_fit="contain", show_label=False,
                         elem_id="distill-mnist-gallery")
    table = gr.Markdown("*The table of the classifier's readings, grey pixels and wall times appears here.*",
                        elem_id="distill-mnist-table")
    btn.click(compare_run, [seed, page.session_models], [status, gallery, table],
              concurrency_id="distill_mnist", concurrency_limit=1, show_progress_on=[status], **PRIVATE)
    jobs.wire_stop(stop, "distill_mnist")

    gr.Markdown(f"#### Train a student here: the teacher's {2 * ROUND_N} steps into {ROUND_N}")
    explain(f"One round of progressive distillation on the 8,000 training digits, batch {ROUND_BATCH}: the "
            f"student starts as a copy of the teacher and learns to land in one DDIM step where the teacher's two "
            f"land. The preview every {PREVIEW_EVERY} steps shows three rows from one x_T: the teacher at "
            f"{ROUND_N} steps, the student at {ROUND_N}, the teacher at {2 * ROUND_N}. 200 steps take about 2 "
            f"minutes on two CPU cores.")
    with gr.Row():
        r_steps = gr.Slider(*ROUND_STEPS, value=200, step=25, label="Training steps", elem_id="distill-round-steps")
        r_seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="distill-round-seed")
        r_btn = gr.Button(f"▶ Distil {2 * ROUND_N} → {ROUND_N} steps", variant="primary", elem_id="distill-round-btn")
        r_stop = gr.Button("■ Stop", variant="stop", elem_id="distill-round-stop")
    r_status = gr.Markdown(elem_classes="status", elem_id="distill-round-status")
    r_img = gr.Image(label=f"teacher {ROUND_N} steps · student {ROUND_N} · teacher {2 * ROUND_N}",
                     interactive=False, elem_id="distill-round-image")
    r_file = gr.File(label="The student (.pt)", elem_id="distill-round-file")
    r_btn.click(round_run, [r_steps, r_seed, page.session_models], [r_status, r_img, r_file],
                concurrency_id="distill_mnist_round", concurrency_limit=1, show_progress_on=[r_status], **PRIVATE)
    jobs.wire_stop(r_stop, "distill_mnist_round")
    page.link("distill_mnist_compare", [seed], lambda: 0, target="distill-mnist-gallery")
    page.link("distill_mnist_one_step", [], None, target="distill-mnist-table")
    page.link("distill_mnist_round", [r_steps], lambda: 200, target="distill-round-btn")
    page.link("distill_mnist_lcm", [], None, target="distill-round-image")
