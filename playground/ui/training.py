"""Tab 3, training: the in-app MNIST trainer with a live loss curve, loss by t bucket and a sample grid.

One training job per server (a second Start gets "busy" at once); it pauses between steps while anyone
samples (interactive_busy), and stops when its browser tab closes.
Layout and wiring in :func:`build`; the handlers are plain functions (tests call them without a server).
Public endpoint: ``/train`` (:func:`train_run`).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from playground import render
from playground.schedules import SCHEDULES
from playground.ui import jobs, zerogpu
from playground.ui.classroom import one_of
from playground.ui.files import out_path
from playground.ui.limits import LIMITS, adapt_threads, interactive_busy
from playground.ui.models import checkpoint_dir, checkpoint_dropdown, checkpoint_label, device
from playground.ui.page import FAST, SCHEDULE_CHOICES, Page, explain, session_id

TAB_ID = "train"
TAB_TITLE = "Train"


MODEL_SIZES = {"small (16, 32, 64)": (16, 32, 64), "default (32, 64, 96)": (32, 64, 96)}


@dataclass
class _Job:
    session: str
    stop: jobs.StopFlag
    started: float
    budget_s: float


_train_lock = threading.Lock()
_job: dict[str, _Job | None] = {"job": None}



def preset_choices(device_type: str) -> tuple[list[tuple[str, str]], str]:
    """The preset radio's (label, name) choices and default, named for what each does on this device."""
    if device_type == "cuda":
        return [("gpu: the shipped checkpoint's quality in about 10 s", "gpu"), ("tiny: 1-minute run", "tiny"),
                ("quick: 5 minutes (made for a CPU)", "quick"),
                ("longer: the shipped recipe (about 20 s)", "shipped")], "gpu"
    return [("quick: 5-minute CPU demo", "quick"), ("tiny: 1-minute run", "tiny"),
            ("longer: the shipped recipe", "shipped"), ("gpu: the GPU recipe (slow on a CPU)", "gpu")], "quick"


def preset_values(preset: str):
    """Preset → (steps, time budget s, batch size, lr, preview every) for the advanced widgets."""
    from playground.mnist.train import TrainConfig

    cfg = TrainConfig.from_preset(preset)
    budget = cfg.time_budget_s if cfg.time_budget_s is not None else LIMITS.max_train_seconds
    return (min(cfg.steps, LIMITS.max_train_steps), min(budget, LIMITS.max_train_seconds), cfg.batch_size, cfg.lr,
            cfg.preview_every or 200)


def train_status() -> str:
    job = _job["job"]
    if job is None:
        return "Idle: no training job is running on this server."
    return f"A training job is running (for {time.time() - job.started:.0f} s of at most {job.budget_s:.0f} s)."


def stop_training(request: gr.Request | None = None) -> str:
    """Stop button: ask this session's job to stop after its current step (it then saves). Works when the job
    runs in another process (ZeroGPU's worker): the flag is a file (playground/ui/jobs.py)."""
    job = _job["job"]
    if job is not None and job.session == session_id(request) and jobs.request_stop("train", job.session):
        return jobs.STOPPING + " The model will be saved."
    return "Nothing to stop: no training job of yours is running."


def on_unload(request: gr.Request | None = None) -> None:
    """The tab was closed: stop that session's training job (no runaway jobs)."""
    job = _job["job"]
    if job is not None and job.session == session_id(request):
        jobs.request_stop("train", job.session)


def _train_gpu_seconds(cfg, *rest) -> int:
    """ZeroGPU duration of a training job: min(steps × eager step cost, time budget) + load/save (ui/zerogpu.py)."""
    return zerogpu.training_seconds(cfg.steps, cfg.time_budget_s)


def train_run(preset: str, objective: str, schedule: str, T: int, zero_terminal_snr: bool, batch_size: int, lr: float,
              steps: int, time_budget_s: float, conditional: bool, model_size: str, preview_every: int,
              session_models: dict | None = None, request: gr.Request | None = None, *, data=None):
    """Public endpoint `train` (a generator: streams progress).

    Trains the MNIST UNet with the given settings; one job per server (a second caller gets a "busy"
    status at once). Stops at `steps`, at `time_budget_s` (capped by PLAYGROUND_MAX_TRAIN_SECONDS),
    on the Stop button, or when the browser tab closes; then saves the checkpoint (into this server's
    temporary output folder, never into the repository).
    Args:
        preset: "quick" | "tiny" | "shipped" | "gpu" (base recipe; the other arguments override it).
        objective: "eps" | "v" | "x0".  schedule: "linear" | "cosine" | "scaled_linear" | "sigmoid".
        T: diffusion steps.  zero_terminal_snr: rescale the schedule to ᾱ_{T−1} = 0.
        batch_size, lr: optimiser settings.  steps: max optimiser steps.  time_budget_s: max seconds.
        conditional: class-conditional with label dropout (CFG-capable).  model_size: a MODEL_SIZES key.
        preview_every: refresh the fixed-seed sample grid every N steps.
    Yields / returns:
        (status Markdown, loss figure, loss-by-t figure, sample grid, checkpoint file, session models, model dropdown).
    """
    skip = gr.skip()
    # Everything that can refuse the request runs here, before a GPU is asked for (ZeroGPU).
    cfg = _train_config(preset, objective, schedule, T, zero_terminal_snr, batch_size, lr, steps, time_budget_s,
                        conditional, model_size, preview_every)
    adapt_threads()
    if not _train_lock.acquire(blocking=False):
        yield (f"**Busy:** {train_status()} One training job per server; try again later. Sampling still works.",
               skip, skip, skip, skip, skip, skip)
        return
    session = session_id(request)
    try:
        with jobs.running("train", session) as stop:
            _job["job"] = _Job(session, stop, time.time(), cfg.time_budget_s)
            for out in _train_gpu(cfg, stop, data):
                if out[0] == "saved":  # the GPU part's last word: the checkpoint it wrote
                    _, md, figs, path, meta = out
                    yield _finish(md, figs, path, meta, session_models)
                else:
                    yield out
    finally:
        _job["job"] = None
        _train_lock.release()


def _train_config(preset, objective, schedule, T, zero_terminal_snr, batch_size, lr, steps, time_budget_s,
                  conditional, model_size, preview_every):
    """The checked TrainConfig of a job (gr.Error for settings the widgets never send; warnings for caps)."""
    from playground.mnist.train import TrainConfig

    _check_train_settings(objective, schedule, T, batch_size, lr)
    if float(time_budget_s or 0) > LIMITS.max_train_seconds:
        gr.Warning(f"This server trains for at most {LIMITS.max_train_seconds:.0f} s per job "
                   f"(PLAYGROUND_MAX_TRAIN_SECONDS).")
    if int(steps or 0) > LIMITS.max_train_steps:
        gr.Warning(f"This server runs at most {LIMITS.max_train_steps} training steps per job "
                   f"(PLAYGROUND_MAX_TRAIN_STEPS).")
    budget = float(min(max(float(time_budget_s or 0), 1.0), LIMITS.max_train_seconds))
    steps = int(min(max(int(steps or 1), 1), LIMITS.max_train_steps))
    base = TrainConfig.from_preset(preset if preset else preset_choices(device().type)[1],
                                   **({"prediction_type": "flow"} if objective == "flow" else {}))  # no min-SNR-γ
    if objective == "flow" and zero_terminal_snr:
        raise gr.Error("Zero terminal SNR is a VP-schedule option; the flow path x_t = (1 − t)·x₀ + t·ε already "
                       "ends in pure noise at t = 1. Untick it for flow matching.")
    return dataclasses.replace(
        base, prediction_type=objective, schedule=schedule, T=int(T), zero_terminal_snr=bool(zero_terminal_snr),
        batch_size=int(batch_size), lr=float(lr), steps=steps,
        # every step's loss on a CPU; every 10th on a GPU, where reading a loss back waits for the GPU
        time_budget_s=budget, conditional=bool(conditional), log_every=10 if device().type == "cuda" else 1,
        preview_every=int(max(int(preview_every or 0), 0)), warmup_steps=min(base.warmup_steps, max(1, steps // 10)),
        model=dataclasses.replace(base.model, channels=tuple(MODEL_SIZES.get(model_size, (32, 64, 96)))),
    )


def _grid(img):
    return render.image_grid(render.to_uint8(img[:, 0].numpy() * 2 - 1), ncol=10, pad=2, scale=3)


@zerogpu.gpu(_train_gpu_seconds)
def _train_gpu(cfg, stop: jobs.StopFlag, data=None):
    """The GPU part of :func:`train_run`: trains, streams, saves; its last item is ("saved", md, figs, path, meta)."""
    from playground.mnist.train import Trainer

    skip = gr.skip()
    if zerogpu.on_zerogpu():  # save before the GPU is taken back: the budget is what the requested duration leaves
        cfg = dataclasses.replace(cfg, time_budget_s=min(cfg.time_budget_s,
                                                         _train_gpu_seconds(cfg) - zerogpu.TRAIN_SAVE_S))
    yield ("Loading MNIST and building the model…", skip, skip, skip, skip, skip, skip)
    try:
        trainer = Trainer(cfg, data=data, stop_event=stop)
    except FileNotFoundError as e:  # playground.mnist.data.DataNotFoundError: no MNIST files
        raise gr.Error(f"Cannot start training: {e}") from None
    log, t_job = ([], [], []), time.time()  # steps, loss, mean loss
    source, paused, last_yield, preview = trainer.data.source, 0.0, 0.0, None
    if cfg.preview_every:  # the fixed-seed grid at step 0 (pure noise): something to compare the next ones with
        preview = _grid(trainer.preview()[0])
        yield (f"Step 0: samples from the untrained model. Data: {source}.", skip, skip, preview, skip, skip, skip)
    gen = trainer.run()
    try:
        for ev in gen:
            for col, v in zip(log, (ev.step, ev.loss, ev.loss_mean)):
                col.append(v)
            preview = _grid(ev.preview) if ev.preview is not None else preview
            if ev.kind == "done":
                break
            # Give the CPU to interactive sampling: pause between steps while someone samples.
            t_pause = time.perf_counter()
            while interactive_busy() and not stop.is_set() and time.time() - t_job < cfg.time_budget_s:
                time.sleep(0.05)
            paused += time.perf_counter() - t_pause
            if time.perf_counter() - last_yield > 1.0 or ev.kind == "preview":
                last_yield = time.perf_counter()
                yield (_train_md(ev, cfg, source, trainer, None, paused), _loss_fig(*log),
                       _buckets(ev, cfg), preview, skip, skip, skip)
    finally:
        gen.close()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = trainer.save(out_path(f"trained-{cfg.prediction_type}-{cfg.schedule}-{trainer.step}steps-{stamp}", ".pt"))
    head = "stopped" if "(stopped)" in ev.message else "finished"
    md = _train_md(ev, cfg, source, trainer, head, paused) + f"  \n✓ {ev.message}: pick it in the Sampling tab."
    yield ("saved", md, (_loss_fig(*log), _buckets(ev, cfg), preview), str(path),
           dataclasses.asdict(trainer.meta()))


def _finish(md: str, figs, path: str, meta: dict, session_models: dict | None):
    """The job's last update (main process): the download, this session's model list and the Sampling dropdown."""
    saved = _save_trained(path)
    models = dict(session_models or {})
    label = checkpoint_label(Path(path), meta, prefix="this session: ", name=f"{meta.get('steps')} steps")
    models[label] = path
    return (md + saved, *figs, gr.DownloadButton(value=path, visible=True), models,
            checkpoint_dropdown(models, path))


OBJECTIVES = ("eps", "v", "x0", "flow")


def _buckets(ev, cfg):
    """The loss-by-t chart of a training event: tenths of [0, T), or of t ∈ [0, 1) for flow matching."""
    from playground.mnist.train import is_flow

    return render.bucket_figure(ev.bucket_loss, cfg.T, flow=is_flow(cfg.prediction_type))


def _check_train_settings(objective, schedule, T, batch_size, lr) -> None:
    """Clear messages for settings the widgets never send (API callers): raises gr.Error."""
    if objective not in OBJECTIVES:
        raise gr.Error(f"Unknown objective {objective!r}: choose one of {', '.join(map(repr, OBJECTIVES))}.")
    if schedule not in SCHEDULES:
        raise gr.Error(f"Unknown noise schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}.")
    if not 2 <= int(T or 0) <= LIMITS.max_T:
        raise gr.Error(f"T must be between 2 and {LIMITS.max_T} (got {T}).")
    if int(batch_size or 0) < 1:
        raise gr.Error(f"The batch size must be at least 1 (got {batch_size}).")
    if not float(lr or 0) > 0:
        raise gr.Error(f"The learning rate must be positive (got {lr}).")


def _save_trained(path: str) -> str:
    """PLAYGROUND_SAVE_TRAINED=1 (default off): also copy the model into the checkpoints folder; returns a note."""
    if os.environ.get("PLAYGROUND_SAVE_TRAINED", "0").strip().lower() not in ("1", "true", "yes", "on"):
        return ""
    try:
        dest = checkpoint_dir() / Path(path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return f"  \nAlso copied into the checkpoints folder as `{dest.name}`."
    except OSError as e:
        return f"  \n(Could not copy it into the checkpoints folder: {e})"


def _loss_fig(steps, loss, mean):
    k = max(1, len(steps) // 1500)  # thin long runs for the browser
    return render.loss_figure(steps[::k], loss[::k], mean[::k])


def _train_md(ev, cfg, source: str, trainer, end: str | None, paused: float) -> str:
    """The status: "**Training**" while it runs, then "✓ **Finished**" or "■ **Stopped** at step k/N"."""
    rate = ev.steps_per_s
    left_steps = (cfg.steps - ev.step) / rate if rate > 0 else float("inf")
    left_time = (cfg.time_budget_s or float("inf")) - ev.elapsed_s
    eta = max(0.0, min(left_steps, left_time))
    done = end is not None
    head = {"stopped": jobs.stopped_status(ev.step, cfg.steps), "finished": f"✓ **Finished**: step **{ev.step}**",
            None: f"**Training**: step **{ev.step}**"}[end]
    size = cfg.model.patch_size
    patches = f", on {size}×{size}-pixel patches" if size > 1 else ""
    bits = [f"{head} · loss {ev.loss_mean:.4f} (mean of last 100) · **{rate:.2f} steps/s** · "
            f"elapsed {ev.elapsed_s:.0f} s" + ("" if done else f" · ETA ≈ {eta:.0f} s"),
            f"data: {source} · {cfg.prediction_type}-prediction, {cfg.schedule} T={cfg.T}, batch {cfg.batch_size}, "
            f"lr {cfg.lr:g}, UNet {tuple(cfg.model.channels)} ({trainer.model.num_params() / 1e6:.2f} M params"
            f"{patches}), "
            f"device {trainer.device}{', bf16 autocast' if trainer.bf16 else ''}"]
    if paused > 0.5:
        bits.append(f"paused {paused:.0f} s so that sampling stayed responsive")
    return "  \n".join(bits)




# ==================================================================================================
# Layout and wiring
# ==================================================================================================


def _advanced(init) -> dict:
    """The "Advanced settings" accordion: objective, schedule, T, batch, lr, steps, budget, conditioning, widths."""
    c = {}
    with gr.Accordion("Advanced settings", open=False) as c["advanced"]:
        c["objective"] = gr.Radio([("ε (noise)", "eps"), ("v (velocity)", "v"), ("x₀ (clean image)", "x0"),
                                   ("flow matching: u = ε − x₀, t ∈ [0, 1]", "flow")],
                                  value="eps", label="Objective: what the network predicts", elem_id="train-objective")
        with gr.Row():
            c["schedule"] = gr.Dropdown(SCHEDULE_CHOICES, value="linear", label="Noise schedule", min_width=170)
            c["T"] = gr.Number(1000, label="T", precision=0, minimum=10, maximum=LIMITS.max_T, elem_id="train-T",
                               min_width=100)
        c["ztsnr"] = gr.Checkbox(False, label="Zero terminal SNR (ᾱ = 0 at t = T−1)", container=False)
        with gr.Row():
            c["batch"] = gr.Number(init[2], label="Batch size", precision=0, minimum=1, maximum=512)
            c["lr"] = gr.Number(init[3], label="Learning rate", minimum=1e-6, maximum=1.0, step=1e-4)
        with gr.Row():
            c["steps"] = gr.Number(init[0], label="Max steps", precision=0, minimum=1, maximum=LIMITS.max_train_steps,
                                   elem_id="train-steps")
            c["budget"] = gr.Number(min(300, LIMITS.max_train_seconds), label="Time budget (s)", minimum=1,
                                    maximum=LIMITS.max_train_seconds,
                                    info=f"at most {LIMITS.max_train_seconds:.0f} s on this server")
        c["conditional"] = gr.Checkbox(True, label="Class-conditional (CFG)", container=False)
        c["model_size"] = gr.Dropdown(list(MODEL_SIZES), value="default (32, 64, 96)", label="UNet widths")
        c["preview_every"] = gr.Number(init[4], label="Refresh samples every N steps", precision=0, minimum=0)
    return c


def _outputs() -> dict:
    """The right column: the loss charts (titled, with a note, before training) and the fixed-seed samples."""
    c = {}
    with gr.Row():
        c["loss"] = gr.Plot(render.loss_figure([], [], []), show_label=False, elem_id="train-loss-plot")
        c["bucket"] = gr.Plot(render.bucket_figure([], 1000), show_label=False, elem_id="train-bucket-plot")
    c["preview"] = gr.Image(label="Fixed-seed samples (digits 0–9, DDIM 20 steps, guidance 2)", interactive=False,
                            elem_classes="pixelated", format="png", height=170, elem_id="train-preview")
    return c


def build(page: Page) -> None:
    """The Training tab's components and events (called inside ``with gr.Tab(...)``, after the Sampling tab)."""
    explain("Train a small UNet on MNIST right here. The loss falls fast, but digits only appear after a few hundred "
            "steps: watch the fixed-seed sample grid. When it finishes (or you stop it), the model appears in "
            "the Sampling tab's model list and can be downloaded.")
    choices, default = preset_choices(device().type)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            preset = gr.Radio(choices, value=default, label="Preset",
                              info=f"named for this server's device: {device()}")
            a = _advanced(preset_values(default))  # the advanced widgets start at the default preset's values
            with gr.Row():
                train_btn = gr.Button("▶ Start training", variant="primary", elem_id="train-btn")
                train_stop = gr.Button("■ Stop", variant="stop", elem_id="train-stop")
            train_md = gr.Markdown(train_status(), elem_classes="status", elem_id="train-status")
            ckpt_file = gr.DownloadButton("Download the trained checkpoint", visible=False)
        with gr.Column(scale=6):
            o = _outputs()

    # One job per server: a second Start gets "busy" at once (the lock lives in train_run).
    preset.change(preset_values, preset, [a["steps"], a["budget"], a["batch"], a["lr"], a["preview_every"]], **FAST)
    train_btn.click(train_run,
                    [preset, a["objective"], a["schedule"], a["T"], a["ztsnr"], a["batch"], a["lr"], a["steps"],
                     a["budget"], a["conditional"], a["model_size"], a["preview_every"], page.session_models],
                    [train_md, o["loss"], o["bucket"], o["preview"], ckpt_file, page.session_models,
                     page.components["sample_ckpt"]],
                    # ZeroGPU runs each job in its own worker, where train_run's lock can't see the others: queue them
                    api_name="train", concurrency_id="train", concurrency_limit=1 if zerogpu.on_zerogpu() else None)
    train_stop.click(stop_training, None, train_md, **FAST)  # the job ends itself: "Stopped at step k/N"
    page.param("preset", preset, one_of([name for _, name in choices]))
    page.link("loss_buckets", [], None, target="train-bucket-plot")
    page.link("train_flow", [a["objective"], a["advanced"]], lambda: ("flow", gr.Accordion(open=True)),
              target="train-objective")
    page.demo.unload(on_unload)
