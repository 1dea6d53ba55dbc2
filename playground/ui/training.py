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
from playground.ui import zerogpu
from playground.ui.classroom import one_of
from playground.ui.files import out_path
from playground.ui.limits import LIMITS, ON_SPACE, adapt_threads, interactive_busy
from playground.ui.models import checkpoint_dir, checkpoint_dropdown, checkpoint_label, device
from playground.ui.page import FAST, SCHEDULE_CHOICES, Page, explain, session_id

TAB_ID = "train"
TAB_TITLE = "Train on MNIST"


MODEL_SIZES = {"small (16, 32, 64)": (16, 32, 64), "default (32, 64, 96)": (32, 64, 96)}


@dataclass
class _Job:
    session: str
    stop: threading.Event
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
    """Stop button: ask this session's job to stop after its current step (it then saves)."""
    job = _job["job"]
    if job is not None and job.session == session_id(request):
        job.stop.set()
        return "Stopping after the current step; the model will be saved…"
    return "Nothing to stop: no training job of yours is running."


def on_unload(request: gr.Request | None = None) -> None:
    """The tab was closed: stop that session's training job (no runaway jobs)."""
    job = _job["job"]
    if job is not None and job.session == session_id(request):
        job.stop.set()


def _train_gpu_seconds(*args, **kwargs) -> int:
    """ZeroGPU duration of a training job: its time budget (positional index 8) plus a minute to load data and save."""
    budget = args[8] if len(args) > 8 else kwargs.get("time_budget_s", LIMITS.max_train_seconds)
    return int(min(float(budget or LIMITS.max_train_seconds), LIMITS.max_train_seconds)) + 60


@zerogpu.gpu(_train_gpu_seconds)
def train_run(preset: str, objective: str, schedule: str, T: int, zero_terminal_snr: bool, batch_size: int, lr: float,
              steps: int, time_budget_s: float, conditional: bool, model_size: str, preview_every: int,
              session_models: dict | None = None, request: gr.Request | None = None, *, data=None):
    """Public endpoint `train` (a generator: streams progress).

    Trains the MNIST UNet with the given settings; one job per server (a second caller gets a "busy"
    status at once). Stops at `steps`, at `time_budget_s` (capped by PLAYGROUND_MAX_TRAIN_SECONDS),
    on the Stop button, or when the browser tab closes; then saves the checkpoint.
    Args:
        preset: "quick" | "tiny" | "shipped" (base recipe; the other arguments override it).
        objective: "eps" | "v" | "x0".  schedule: "linear" | "cosine" | "scaled_linear" | "sigmoid".
        T: diffusion steps.  zero_terminal_snr: rescale the schedule to ᾱ_{T−1} = 0.
        batch_size, lr: optimiser settings.  steps: max optimiser steps.  time_budget_s: max seconds.
        conditional: class-conditional with label dropout (CFG-capable).  model_size: a MODEL_SIZES key.
        preview_every: refresh the fixed-seed sample grid every N steps.
    Yields / returns:
        (status Markdown, loss figure, loss-by-t figure, sample grid, checkpoint file, session models, model dropdown).
    """
    from playground.mnist.train import TrainConfig, Trainer

    session = session_id(request)
    skip = gr.skip()
    _check_train_settings(objective, schedule, T, batch_size, lr)
    if float(time_budget_s or 0) > LIMITS.max_train_seconds:
        gr.Warning(f"This server trains for at most {LIMITS.max_train_seconds:.0f} s per job "
                   f"(PLAYGROUND_MAX_TRAIN_SECONDS).")
    if int(steps or 0) > LIMITS.max_train_steps:
        gr.Warning(f"This server runs at most {LIMITS.max_train_steps} training steps per job "
                   f"(PLAYGROUND_MAX_TRAIN_STEPS).")
    adapt_threads()
    if not _train_lock.acquire(blocking=False):
        yield (f"**Busy:** {train_status()} One training job per server; try again later. Sampling still works.",
               skip, skip, skip, skip, skip, skip)
        return
    stop = threading.Event()
    budget = float(min(max(float(time_budget_s or 0), 1.0), LIMITS.max_train_seconds))
    job = _Job(session, stop, time.time(), budget)
    _job["job"] = job
    trainer = None
    gen = None
    try:
        yield ("Loading MNIST and building the model…", skip, skip, skip, skip, skip, skip)
        channels = MODEL_SIZES.get(model_size, (32, 64, 96))
        base = TrainConfig.from_preset(preset if preset else preset_choices(device().type)[1])
        cfg = dataclasses.replace(
            base, prediction_type=objective, schedule=schedule, T=int(T), zero_terminal_snr=bool(zero_terminal_snr),
            batch_size=int(batch_size), lr=float(lr), steps=int(min(max(int(steps), 1), LIMITS.max_train_steps)),
            # every step's loss on a CPU; every 10th on a GPU, where reading a loss back waits for the GPU
            time_budget_s=budget, conditional=bool(conditional), log_every=10 if device().type == "cuda" else 1,
            preview_every=int(max(int(preview_every or 0), 0)),
            warmup_steps=min(base.warmup_steps, max(1, int(steps) // 10)),
            model=dataclasses.replace(base.model, channels=tuple(channels)),
        )
        try:
            trainer = Trainer(cfg, data=data, stop_event=stop)
        except FileNotFoundError as e:  # playground.mnist.data.DataNotFoundError: no MNIST files
            raise gr.Error(f"Cannot start training: {e}") from None
        steps_log, loss_log, mean_log = [], [], []
        last_yield = 0.0
        preview = None
        source = trainer.data.source
        paused = 0.0
        if cfg.preview_every:  # the fixed-seed grid at step 0 (pure noise): something to compare the next ones with
            img, _ = trainer.preview()
            preview = render.image_grid(render.to_uint8(img[:, 0].numpy() * 2 - 1), ncol=10, pad=2, scale=3)
            yield (f"Step 0: samples from the untrained model. Data: {source}.", skip, skip, preview, skip, skip, skip)
        gen = trainer.run()
        for ev in gen:
            steps_log.append(ev.step)
            loss_log.append(ev.loss)
            mean_log.append(ev.loss_mean)
            if ev.preview is not None:
                preview = render.image_grid(render.to_uint8(ev.preview[:, 0].numpy() * 2 - 1), ncol=10, pad=2, scale=3)
            if ev.kind == "done":
                break
            # Give the CPU to interactive sampling: pause between steps while someone samples.
            t_pause = time.perf_counter()
            while interactive_busy() and not stop.is_set() and time.time() - job.started < budget:
                time.sleep(0.05)
            paused += time.perf_counter() - t_pause
            now = time.perf_counter()
            if now - last_yield > 1.0 or ev.kind == "preview":
                last_yield = now
                yield (_train_md(ev, cfg, source, trainer, False, paused), _loss_fig(steps_log, loss_log, mean_log),
                       render.bucket_figure(ev.bucket_loss, cfg.T), preview, skip, skip, skip)
        # save: a per-session copy for download; locally also into the checkpoints folder
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"trained-{cfg.prediction_type}-{cfg.schedule}-{trainer.step}steps-{stamp}"
        path = trainer.save(out_path(name, ".pt"))
        saved_note = ""
        if _save_trained():
            try:
                dest = checkpoint_dir() / f"{name}.pt"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
                saved_note = f" Also saved to `{dest}`."
            except OSError as e:
                saved_note = f" (Could not save into {checkpoint_dir()}: {e})"
        models = dict(session_models or {})
        label = checkpoint_label(Path(path), dataclasses.asdict(trainer.meta()), prefix="this session: ")
        models[label] = str(path)
        md = _train_md(ev, cfg, source, trainer, True, paused) + (f"  \n✓ {ev.message}. Pick it in the Sampling "
                                                                  f"tab.{saved_note}")
        yield (md, _loss_fig(steps_log, loss_log, mean_log), render.bucket_figure(ev.bucket_loss, cfg.T), preview,
               gr.DownloadButton(value=str(path), visible=True), models, checkpoint_dropdown(models, str(path)))
    finally:
        stop.set()
        if gen is not None:
            gen.close()
        _job["job"] = None
        _train_lock.release()


def _check_train_settings(objective, schedule, T, batch_size, lr) -> None:
    """Clear messages for settings the widgets never send (API callers): raises gr.Error."""
    if objective not in ("eps", "v", "x0"):
        raise gr.Error(f"Unknown objective {objective!r}: choose 'eps', 'v' or 'x0'.")
    if schedule not in SCHEDULES:
        raise gr.Error(f"Unknown noise schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}.")
    if not 2 <= int(T or 0) <= LIMITS.max_T:
        raise gr.Error(f"T must be between 2 and {LIMITS.max_T} (got {T}).")
    if int(batch_size or 0) < 1:
        raise gr.Error(f"The batch size must be at least 1 (got {batch_size}).")
    if not float(lr or 0) > 0:
        raise gr.Error(f"The learning rate must be positive (got {lr}).")


def _save_trained() -> bool:
    raw = os.environ.get("PLAYGROUND_SAVE_TRAINED")
    if raw is None:
        return not ON_SPACE
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _loss_fig(steps, loss, mean):
    k = max(1, len(steps) // 1500)  # thin long runs for the browser
    return render.loss_figure(steps[::k], loss[::k], mean[::k])


def _train_md(ev, cfg, source: str, trainer, done: bool, paused: float) -> str:
    rate = ev.steps_per_s
    left_steps = (cfg.steps - ev.step) / rate if rate > 0 else float("inf")
    left_time = (cfg.time_budget_s or float("inf")) - ev.elapsed_s
    eta = max(0.0, min(left_steps, left_time))
    head = "✓ **Finished**" if done else "**Training**"
    size = cfg.model.patch_size
    patches = f", on {size}×{size}-pixel patches" if size > 1 else ""
    bits = [f"{head}: step **{ev.step}** · loss {ev.loss_mean:.4f} (mean of last 100) · **{rate:.2f} steps/s** · "
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


def build(page: Page) -> None:
    """The Training tab's components and events (called inside ``with gr.Tab(...)``, after the Sampling tab)."""
    explain("Train a small UNet on MNIST right here. The loss falls fast, but digits only appear after a few hundred "
            "steps: watch the fixed-seed sample grid. When it finishes (or you stop it), the model appears in "
            "the Sampling tab's model list and can be downloaded.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            choices, default = preset_choices(device().type)
            init = preset_values(default)  # the advanced widgets start at the default preset's values
            preset = gr.Radio(choices, value=default, label="Preset",
                              info=f"named for this server's device: {device()}")
            with gr.Accordion("Advanced settings", open=False):
                objective = gr.Radio([("ε (noise)", "eps"), ("v (velocity)", "v"), ("x₀ (clean image)", "x0")],
                                     value="eps", label="Objective: what the network predicts")
                tr_schedule = gr.Dropdown(SCHEDULE_CHOICES, value="linear", label="Noise schedule")
                with gr.Row():
                    tr_T = gr.Number(1000, label="T", precision=0, minimum=10, maximum=LIMITS.max_T)
                    tr_ztsnr = gr.Checkbox(False, label="Zero terminal SNR")
                with gr.Row():
                    batch = gr.Number(init[2], label="Batch size", precision=0, minimum=1, maximum=512)
                    lr = gr.Number(init[3], label="Learning rate", minimum=1e-6, maximum=1.0)
                with gr.Row():
                    tr_steps = gr.Number(init[0],
                                         label="Max steps", precision=0, minimum=1,
                                         maximum=LIMITS.max_train_steps)
                    budget = gr.Number(min(300, LIMITS.max_train_seconds), label="Time budget (s)", minimum=1,
                                       maximum=LIMITS.max_train_seconds,
                                       info=f"at most {LIMITS.max_train_seconds:.0f} s on this server")
                with gr.Row():
                    conditional = gr.Checkbox(True, label="Class-conditional (CFG)")
                    model_size = gr.Dropdown(list(MODEL_SIZES), value="default (32, 64, 96)", label="UNet widths")
                preview_every = gr.Number(init[4], label="Refresh samples every N steps", precision=0, minimum=0)
            with gr.Row():
                train_btn = gr.Button("▶ Start training", variant="primary", elem_id="train-btn")
                train_stop = gr.Button("■ Stop", variant="stop")
            train_md = gr.Markdown(train_status(), elem_classes="status", elem_id="train-status")
            ckpt_file = gr.DownloadButton("Download the trained checkpoint", visible=False)
        with gr.Column(scale=6):
            with gr.Row():
                loss_plot = gr.Plot(show_label=False)
                bucket_plot = gr.Plot(show_label=False)
            preview = gr.Image(label="Fixed-seed samples (digits 0–9, DDIM 20 steps, guidance 2)", interactive=False,
                               elem_classes="pixelated", format="png", height=170)

    # One job per server: a second Start gets "busy" at once (the lock lives in train_run).
    preset.change(preset_values, preset, [tr_steps, budget, batch, lr, preview_every], **FAST)
    train_btn.click(train_run,
                    [preset, objective, tr_schedule, tr_T, tr_ztsnr, batch, lr, tr_steps, budget, conditional,
                                model_size, preview_every, page.session_models],
                    [train_md, loss_plot, bucket_plot, preview, ckpt_file, page.session_models,
                     page.components["sample_ckpt"]],
                    # ZeroGPU runs each job in its own worker, where train_run's lock can't see the others: queue them
                    api_name="train", concurrency_id="train", concurrency_limit=1 if zerogpu.on_zerogpu() else None)
    train_stop.click(stop_training, None, train_md, **FAST)
    page.param("preset", preset, one_of([name for _, name in choices]))
    page.demo.unload(on_unload)
