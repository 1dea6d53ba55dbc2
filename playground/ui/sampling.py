"""Tab 2, sampling: DDPM, DDIM(η) and DPM-Solver++(2M) side by side from one seed; the η × steps study;
ε- against v-prediction.

Layout and wiring in :func:`build`; the handlers are plain functions (tests call them without a server).
Public endpoint: ``/sample`` (:func:`sample_compare`).
"""
from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np
import torch
from PIL import Image

from playground import render, samplers
from playground.diffusion import normalize_prediction_type
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, V_CHECKPOINT, CheckpointError, load_model
from playground.mnist.sample import DEFAULT_GUIDANCE, make_model_fn, student_sampler
from playground.schedules import SCHEDULES
from playground.ui import inputs, jobs, zerogpu
from playground.ui.classroom import as_bool, as_float, as_int, one_of
from playground.ui.files import out_path
from playground.ui.images import digit_grid
from playground.ui.limits import LIMITS, adapt_threads, interactive_work
from playground.ui.models import (
    checkpoint_dir,
    checkpoint_dropdown,
    checkpoint_label,
    default_checkpoint,
    device,
    dropdown_choices,
    get_model,
    list_checkpoints,
    meta_of,
    resolve,
)
from playground.ui.page import DIGIT_CHOICES, FAST, PRIVATE, PROGRESS, SPACING_CHOICES, Page, explain

TAB_ID = "sample"
TAB_TITLE = "Sampling"


def timesteps_md(path: str | None, steps: int, spacing: str, session_models: dict | None = None) -> str:
    """The list of t that will run, for the Sampling tab ("show the list that actually runs")."""
    T = 1000
    note = ""
    path = resolve(path, session_models)
    meta = meta_of(path)[0] if path and meta_of(path) else None
    if meta:
        T = int(meta.get("T", 1000))
    steps = int(min(max(int(steps or 1), 1), T, LIMITS.max_steps))
    pairs = samplers.make_timesteps(T, steps, spacing)
    ts = [t for t, _ in pairs]
    shown = (", ".join(map(str, ts)) if len(ts) <= 60
             else ", ".join(map(str, ts[:25])) + ", …, " + ", ".join(map(str, ts[-10:])))
    if meta and meta.get("zero_terminal_snr") and meta.get("prediction_type") == "eps" and ts[0] == T - 1:
        note = ("  \n⚠ ε-prediction at zero terminal SNR: x̂₀ is 0/0 at t = T−1 (ᾱ is floored there). "
                "Prefer v-prediction.")
    if len(ts) == 1 and ts[0] < T // 2:
        note += (f"  \n⚠ With one step, {spacing} spacing runs it at t = {ts[0]}, where the model expects an almost "
                 "clean image, but it gets pure noise: the output is nearly x_T. Use trailing spacing or more steps.")
    model = ""
    if meta:
        cond = "class-conditional" if meta.get("conditional") else "unconditional"
        model = (f"Model: {meta.get('prediction_type')}-prediction, {meta.get('schedule')} T = {T}, {cond}, "
                 f"{meta.get('steps')} training steps.  \n")
        extra = meta.get("extra") or {}
        if extra.get("student_steps"):
            model = (f"Model: a **{extra['student_steps']}-step student**, distilled from "
                     f"{Path(str(extra.get('distilled_from'))).name} (guidance {extra.get('guidance_distilled')} "
                     "distilled in). Try 1, 2 or 4 steps: its panel runs the trailing grid, its teacher's panels "
                     "the spacing below.  \n")
    return f"{model}**{steps} steps, {spacing} spacing, T = {T}:** t = {shown} → clean{note}"





def _labels_for(digit: str, n: int, conditional: bool) -> torch.Tensor | None:
    if not conditional or digit is None or str(digit).startswith("unconditional"):
        return None
    if str(digit).startswith("mixed"):
        return torch.arange(n) % 10
    return torch.full((n,), int(digit), dtype=torch.long)


def _model_fn(model, meta, digit: str, guidance: float, n: int):
    """(model_fn, labels) for the samplers; fp32, the precision the quality figures were measured in."""
    labels = _labels_for(digit, n, bool(model.config.conditional))
    return make_model_fn(model, labels, float(guidance)), labels



PANELS = (("ddpm", "DDPM"), ("ddim", "DDIM"), ("dpmpp_2m", "DPM-Solver++(2M)"))
# A flow-matching model (output û): its own ODE solvers in the first two panels; DPM-Solver++ through the conversion
FLOW_PANELS = (("euler", "Euler (flow ODE)"), ("heun", "Heun (flow ODE)"), ("dpmpp_2m", "DPM-Solver++(2M)"))


# A distilled student (playground/distill.py): its own sampler, then its teacher's DDIM and DPM++ at the same steps
STUDENT_PANELS = (("student", "Student (its own sampler)"), ("ddim", "Teacher: DDIM"),
                  ("dpmpp_2m", "Teacher: DPM-Solver++(2M)"))


def panels_for(meta) -> tuple[tuple[str, str], ...]:
    """The three panels' (sampler, title) for a model: DDPM/DDIM/DPM++, Euler/Heun/DPM++ for a flow model, or a
    student beside its teacher."""
    if student_sampler(meta):
        return STUDENT_PANELS
    return FLOW_PANELS if normalize_prediction_type(meta.prediction_type) == "u" else PANELS


def _teacher(meta, session_models: dict | None):
    """(model, meta) of a student's teacher when it is listed here, else None (the student panel runs alone)."""
    name = Path(str(meta.extra.get("distilled_from", ""))).name
    try:
        return get_model(name, session_models) if name else None
    except gr.Error:
        return None


def panel_titles(path: str | None, session_models: dict | None = None) -> list:
    """The panel headings for the selected checkpoint (the default layout when none is readable)."""
    try:
        path = path or default_checkpoint(session_models)
        panels = panels_for(get_model(path, session_models)[1]) if path else PANELS
    except (CheckpointError, gr.Error, OSError):
        panels = PANELS
    return [gr.Markdown(f"### {name}") for _, name in panels]
STREAM_EVERY_S = 0.25  # a streamed frame at most this often (the last step always streams)


def sample_compare(path: str | None, steps: int, eta: float, spacing: str, clip_x0: bool, digit: str, guidance: float,
                   n_images: int, seed: int, show_dpm: bool = True,
                   session_models: dict | None = None, request: gr.Request | None = None) -> Iterator[tuple]:
    """Public endpoint `sample` (a generator: it streams while it runs).

    DDPM, DDIM(η) and optionally DPM-Solver++(2M) from the same seed: one x_T and one noise per step, shared.
    Args:
        path: checkpoint (a value from the model dropdown, or a listed file's name such as "mnist_eps_cond.pt";
            default: the first listed).
        steps: sampling steps (≤ PLAYGROUND_MAX_STEPS, ≤ T).  eta: DDIM's η in [0, 1].
        spacing: "leading" | "trailing" | "linspace".  clip_x0: clip x̂₀ to [−1, 1].
        digit: "mixed 0–9", "0" … "9" or "unconditional (null label)".  guidance: CFG scale w (1 = plain conditional).
        n_images: images per sampler (≤ PLAYGROUND_MAX_IMAGES).  seed: the shared seed.  show_dpm: run the third
        sampler.
    Yields / returns:
        (DDPM x_t, DDPM x̂₀, DDIM x_t, DDIM x̂₀, DPM++ x_t, DPM++ x̂₀, status Markdown, files) where files (at the end)
        are the result grids (PNG) and trajectory GIFs. The Stop button ends the run with "Stopped at step k/N".
    """
    # Everything that can refuse the request runs here, before a GPU is asked for (ZeroGPU).
    path = path or default_checkpoint(session_models)
    if path is None:  # nothing to sample with yet: say so in the status line, no error badges
        yield (None,) * 6 + ("⚠ **No model yet.** Train one in the *Train on MNIST* tab (the quick preset "
                             f"takes 5 minutes), or put a checkpoint in `{checkpoint_dir()}`.", gr.skip())
        return
    _, meta = get_model(path, session_models)
    steps_asked = inputs.in_range(steps, 1, 10**9, "Sampling steps")
    steps = int(min(steps_asked, LIMITS.max_steps, int(meta.T)))
    if steps_asked > steps:
        gr.Warning(f"This model only has T = {meta.T} diffusion steps: running {steps} steps, not {steps_asked}."
                   if steps == int(meta.T)
                   else f"This server runs at most {LIMITS.max_steps} sampling steps per run: running {steps}.")
    n_asked = inputs.in_range(n_images, 1, 10**9, "Images")
    n = int(min(n_asked, LIMITS.max_images))
    if n_asked > n:
        gr.Warning(f"This server makes at most {LIMITS.max_images} images per run: making {n}.")
    eta = inputs.in_range(eta, 0.0, 1.0, "η", cast=float)
    if spacing not in SPACING_CHOICES:
        raise gr.Error(f"Unknown timestep spacing {spacing!r}: choose one of {', '.join(SPACING_CHOICES)}.")
    with jobs.running("sample", request) as stop:
        yield from _sample_stream(path, steps, eta, spacing, bool(clip_x0), digit, float(guidance), n, int(seed),
                                  bool(show_dpm), session_models, stop)


def _sample_gpu_seconds(path, steps, eta, spacing, clip_x0, digit, guidance, n, seed, show_dpm, *rest) -> int:
    """ZeroGPU duration of one Sampling run: steps × samplers (× CFG's doubled batch); see ui/zerogpu.py."""
    cfg = float(guidance) != 1.0 and not str(digit).startswith("unconditional")
    try:  # a flow model's Heun panel makes two calls a step; an unknown path fails later, in the run, with its message
        heun = panels_for(get_model(path, rest[0] if rest else None)[1]) is FLOW_PANELS
    except gr.Error:
        heun = False
    return zerogpu.sampling_seconds(int(steps), (3 if show_dpm else 2) + int(heun), cfg)


@zerogpu.gpu(_sample_gpu_seconds)
def _sample_stream(path: str, steps: int, eta: float, spacing: str, clip_x0: bool, digit: str, guidance: float,
                   n: int, seed: int, show_dpm: bool, session_models: dict | None, stop: jobs.StopFlag):
    """The GPU part of :func:`sample_compare` (checked arguments); ends early, and says so, when ``stop`` is set."""
    model, meta = get_model(path, session_models)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    fn, labels = _model_fn(model, meta, digit, guidance, n)
    pairs = samplers.make_timesteps(s.T, steps, spacing)
    panels = panels_for(meta)
    kinds = [k for k, _ in panels if k != "dpmpp_2m" or show_dpm]
    # per panel: (model_fn, schedule, prediction type, timesteps, clip); a student's teacher runs the tab's settings
    runs = {k: (fn, s, meta.prediction_type, pairs, clip_x0) for k in kinds}
    teacher = _teacher(meta, session_models) if panels is STUDENT_PANELS else None
    if panels is STUDENT_PANELS:
        own = student_sampler(meta)
        runs = {"student": (_model_fn(model, meta, digit, own["guidance"], n)[0], s, meta.prediction_type,
                            samplers.make_timesteps(s.T, steps, own["spacing"]), own["clip_x0"])}
        if teacher is not None:
            t_model, t_meta = teacher
            t_s = render.cached_schedule(t_meta.schedule, int(t_meta.T), bool(t_meta.zero_terminal_snr))
            t_fn = _model_fn(t_model, t_meta, digit, guidance, n)[0]
            t_pairs = samplers.make_timesteps(t_s.T, steps, spacing)
            runs |= {k: (t_fn, t_s, t_meta.prediction_type, t_pairs, clip_x0) for k in kinds if k != "student"}
        kinds = [k for k in kinds if k in runs]
    loops = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the zero-terminal-SNR warning is shown in the timestep list instead
        for k in kinds:
            k_fn, k_s, k_pred, k_pairs, k_clip = runs[k]
            loops[k] = samplers.sample_loop(k_fn, k_s, (n, 1, 28, 28), sampler="ddim" if k == "student" else k,
                                            timesteps=k_pairs, eta=eta if k == "ddim" else 0.0,
                                            prediction_type=k_pred, clip_x0=k_clip,
                                            generator=torch.Generator().manual_seed(seed), device=device())
    elapsed = {k: 0.0 for k in kinds}
    frames = {k: [] for k in kinds}
    latest: dict[str, Any] = {}
    every = max(1, steps // 60)  # ≤ ~60 GIF frames
    t_last_yield = 0.0
    t_start = time.perf_counter()
    what = "unconditional" if labels is None else (f"digit {digit}" if not str(digit).startswith("mixed")
                                                   else "digits 0–9")

    def outputs(i: int, head: str, files=None):
        vals = []
        for k, _ in panels:
            vals += [digit_grid(latest[k].x_t), digit_grid(latest[k].x0_pred)] if k in latest else [None, None]
        st = next(iter(latest.values()))
        times = " · ".join(f"{name.split(' (')[0]} {elapsed[k]:.1f} s" for k, name in panels if k in elapsed)
        nfe = " · ".join(f"{name.split(' (')[0]} {latest[k].nfe}" for k, name in panels if k in latest)
        sampler_note = ("flow model: Euler and Heun on its ODE, DPM-Solver++ through û → x̂₀" if panels is FLOW_PANELS
                        else f"η = {eta:g} (DDIM)")
        guide = "" if panels is STUDENT_PANELS else f"guidance {guidance:g}, "
        if panels is STUDENT_PANELS:
            sampler_note = (f"student: DDIM η = 0 on the trailing grid, guidance "
                            f"{meta.extra.get('guidance_distilled', '?')} distilled in (one pass a step); "
                            + (f"teacher {Path(str(meta.extra.get('distilled_from'))).stem}, guidance {guidance:g}, "
                               f"{spacing} spacing, η = {eta:g}" if teacher else "its teacher is not listed here"))
        status = (f"{head} step **{i}/{steps}**, t = {st.t} → {max(st.t_prev, 0) if st.t_prev >= 0 else 'clean'}"
                  f" · elapsed: {times} · wall {time.perf_counter() - t_start:.1f} s  \n"
                  f"network evaluations: {nfe} · {n} images, {what}, {guide}{sampler_note} "
                  f"· seed {seed}")
        return (*vals, status, files if files else gr.skip())

    adapt_threads()
    with interactive_work():
        for i in range(1, steps + 1):
            for k in kinds:
                t0 = time.perf_counter()
                # inference mode per step, never held across a `yield`: grad mode is per thread, and gradio resumes
                # generators on pool threads, so a held mode leaked into the trainer's thread (backward() failed)
                with torch.inference_mode():
                    latest[k] = next(loops[k])
                elapsed[k] += time.perf_counter() - t0
                if i % every == 0 or i == steps or i == 1:
                    frames[k].append(np.concatenate([digit_grid(latest[k].x_t, 2),
                                                     digit_grid(latest[k].x0_pred, 2)], axis=1))
            if stop.is_set() and i < steps:  # the Stop button: keep the last images, say where it stopped
                yield outputs(i, "■ **Stopped** at")
                return
            now = time.perf_counter()
            if i < steps and now - t_last_yield >= STREAM_EVERY_S:
                t_last_yield = now
                yield outputs(i, "… **Running** —")
        files = _result_files(kinds, latest, frames, steps, seed)
    yield outputs(steps, "✓ **Done** —", files)


def _result_files(kinds, latest, frames, steps: int, seed: int) -> list[str]:
    """The final x₀ grid (PNG) and the trajectory GIF of each sampler that ran."""
    files = []
    for k in kinds:
        p = out_path(f"{k}-{steps}steps-seed{seed}", ".png")
        Image.fromarray(digit_grid(latest[k].x_t, 3)).save(p)
        files.append(str(p))
        g = out_path(f"{k}-trajectory-seed{seed}", ".gif")
        render.write_gif(g, frames[k], duration_ms=90, hold_last_ms=1500)
        files.append(str(g))
    return files


def run_sampler(model, meta, *, sampler: str, steps: int, eta: float, spacing: str, digit: str,
                guidance: float, n: int, seed: int, clip_x0: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One complete sampling run; returns (x0 (n, 1, 28, 28) in [−1, 1], labels)."""
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    fn, labels = _model_fn(model, meta, digit, guidance, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = samplers.sample(fn, s, (n, 1, 28, 28), sampler=sampler, num_steps=min(steps, s.T),
                            spacing=spacing, eta=eta, prediction_type=meta.prediction_type, clip_x0=clip_x0,
                            generator=torch.Generator().manual_seed(int(seed)), device=device())
    return x, labels


def _quality(x: torch.Tensor, labels: torch.Tensor | None):
    """playground.mnist.quality.evaluate, or None when the classifier is not available."""
    try:
        from playground.mnist import quality

        return quality.evaluate(((x.float().cpu() + 1) / 2).clamp(0, 1), labels)
    except Exception:  # noqa: BLE001 - quality is optional: missing classifier / data
        return None


STUDY_ETAS = (0.0, 0.2, 0.5, 1.0)
STUDY_STEPS = (10, 20, 50, 100)


@zerogpu.gpu(zerogpu.STUDY_S)
def sample_study(path: str | None, digit: str, guidance: float, seed: int, n_images: int = 10,
                 spacing: str = "trailing",
                 session_models: dict | None = None, etas=STUDY_ETAS, steps_list=STUDY_STEPS, progress=PROGRESS):
    """DDIM over η × steps from one seed. Returns (grid image, heatmap figure or None, Markdown)."""
    path = path or default_checkpoint(session_models)
    model, meta = get_model(path, session_models)
    n = int(min(max(int(n_images), 1), LIMITS.max_images))
    steps_list = [s for s in steps_list if s <= min(LIMITS.max_steps, int(meta.T))]
    total = len(etas) * sum(steps_list)
    done = 0
    rows, metric, agree = ([], np.full((len(etas), len(steps_list)), np.nan),
                           np.full((len(etas), len(steps_list)), np.nan))
    t0 = time.perf_counter()
    adapt_threads()
    with interactive_work():
        for i, eta in enumerate(etas):
            cells = []
            for j, st in enumerate(steps_list):
                progress((done, total), desc=f"η = {eta:g}, {st} steps")
                x, labels = run_sampler(model, meta, sampler="ddim", steps=st, eta=eta, spacing=spacing, digit=digit,
                                        guidance=guidance, n=n, seed=seed)
                done += st
                cells.append(render.image_grid(render.to_uint8(x[:, 0].cpu().numpy()), ncol=min(n, 5), pad=1, scale=1))
                q = _quality(x, labels)
                if q is not None:
                    metric[i, j] = q.confident
                    agree[i, j] = q.label_agreement if q.label_agreement is not None else np.nan
            rows.append(render.hstack_with_gap(cells, gap=10))
    grid = np.concatenate([np.pad(r, ((0, 10), (0, 0)), constant_values=255) for r in rows], axis=0)
    grid = render.upscale(grid, 2)
    fig = None
    md = (f"Rows: η = {', '.join(f'{e:g}' for e in etas)} (top to bottom). Columns: "
          f"{', '.join(map(str, steps_list))} DDIM steps ({spacing} spacing). Same seed ({seed}), same x_T in every "
          f"cell; {n} images per cell. Took {time.perf_counter() - t0:.1f} s.")
    if np.isfinite(metric).any():
        use_agree = np.isfinite(agree).any()
        text = [[f"{c:.0%}" + (f"<br>{a:.0%} right" if use_agree else "") for c, a in zip(rc, ra)]
                for rc, ra in zip(metric, agree)]
        fig = render.study_heatmap(metric, etas, steps_list, "confidently classified (p ≥ 0.9)"
                              + (" · and the digit asked for" if use_agree else ""), text=text)
        md += (" Metric: the quality module's MNIST classifier: the share of confidently classified digits (colour)"
               + (", and the share classified as the digit asked for." if use_agree else "."))
        md += f" With {n} images per cell, one image is {1 / n:.0%}: read trends, not single cells."
    else:
        md += " (No quality metric: the classifier checkpoint is not available.)"
    return grid, fig, md


@zerogpu.gpu(zerogpu.SAMPLE_S)
def compare_eps_v(steps: int, spacing: str, digit: str, guidance: float, seed: int, n_images: int = 10,
                  eta: float = 0.0, progress=PROGRESS):
    """Sample the shipped ε- and v-prediction checkpoints with one seed (DDIM).

    Returns (ε image, v image, Markdown)."""
    out, notes = [], []
    paths = [(DEFAULT_CHECKPOINT, "ε"), (V_CHECKPOINT, "v")]
    d = checkpoint_dir()
    n = int(min(max(int(n_images), 1), LIMITS.max_images))
    adapt_threads()
    with interactive_work():
        for i, (p, name) in enumerate(paths):
            p = d / Path(p).name
            progress((i, 2), desc=f"{name}-prediction")
            if not p.is_file():
                out.append(None)
                notes.append(f"**{name}-prediction:** checkpoint {p.name} not found.")
                continue
            model, meta = get_model(str(p))
            x, labels = run_sampler(model, meta, sampler="ddim", steps=int(steps), eta=float(eta),
                                    spacing=spacing, digit=digit, guidance=guidance, n=n, seed=seed)
            out.append(digit_grid(x))
            q = _quality(x, labels)
            qtxt = ""
            if q is not None:
                qtxt = f" · confident {q.confident:.0%}" + (f" · label agreement {q.label_agreement:.0%}"
                                                            if q.label_agreement is not None else "")
            notes.append(f"**{name}-prediction** ({p.name}: {meta.schedule}, T={meta.T}, {meta.steps} "
                         f"training steps){qtxt}")
    md = "  \n".join(notes) + (f"  \nDDIM, {steps} steps, {spacing} spacing, η = {eta:g}, seed {seed}: the "
                               f"same x_T for both.")
    return out[0], out[1], md



def upload_checkpoint(file: str | None, session_models: dict | None = None):
    """"Bring your own model": check an uploaded checkpoint and add it to this session's model list only.

    The file must be a Diffusion Playground checkpoint (``python -m playground.train`` writes one, on any
    device): it is read with ``torch.load(weights_only=True)`` (a pickle payload cannot run), its weights must
    fit the model config stored in it, and it is capped at PLAYGROUND_MAX_CHECKPOINT_BYTES. Other sessions
    never see it. Returns (status Markdown, session models, model dropdown).
    """
    if not file:
        raise gr.Error("No file: upload a .pt checkpoint written by `python -m playground.train`.")
    src = Path(file)
    size = src.stat().st_size if src.is_file() else 0
    if size == 0:
        raise gr.Error(f"{src.name!r} is empty: not a checkpoint.")
    if size > LIMITS.max_checkpoint_bytes:
        raise gr.Error(f"{src.name!r} is {size / 1e6:.1f} MB; this server takes checkpoints up to "
                       f"{LIMITS.max_checkpoint_bytes / 1e6:.0f} MB (PLAYGROUND_MAX_CHECKPOINT_BYTES).")
    try:
        model, meta = load_model(src, "cpu")  # weights-only load + config/shape checks; CPU: nothing stays on the GPU
    except CheckpointError as e:
        raise gr.Error(f"Cannot use {src.name!r}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any other failure of a foreign file is the file's fault, said plainly
        raise gr.Error(f"Cannot use {src.name!r}: not a readable Diffusion Playground checkpoint "
                       f"({str(e)[:200]}).") from None
    if int(meta.T) < 2 or meta.schedule not in SCHEDULES:
        raise gr.Error(f"Cannot use {src.name!r}: its schedule ({meta.schedule!r}, T = {meta.T}) is not one "
                       f"this app knows.")
    dest = out_path(f"uploaded-{src.stem[:40]}", ".pt")
    shutil.copyfile(src, dest)
    models = dict(session_models or {})
    label = checkpoint_label(dest, dataclasses.asdict(meta), prefix="uploaded: ")
    models[label] = str(dest)
    md = (f"✓ **{src.name}** loaded: {meta.prediction_type}-prediction, {meta.schedule} T = {meta.T}, "
          f"{meta.steps} training steps, {model.num_params() / 1e6:.2f} M parameters. Only this browser "
          f"session sees it.")
    return md, models, checkpoint_dropdown(models, str(dest))


def _linkable_checkpoint(raw: str) -> str:
    """Deep link ``model=<file name>`` → that shipped checkpoint's name, the dropdown's value (only listed models)."""
    for _, path in list_checkpoints():
        if Path(path).name == raw or Path(path).stem == raw:
            return Path(path).name
    raise ValueError("choose one of " + ", ".join(Path(p).stem for _, p in list_checkpoints()))


def sampling_tab_load(path: str | None, steps: int, spacing: str, session_models: dict | None = None):
    """On page load: fresh model list, the timestep list, and a clear notice when no model is available yet.

    Returns (model dropdown, timesteps Markdown, notice Markdown).
    """
    choices = dropdown_choices(session_models)
    if not choices:
        notice = (f"⚠ **No model yet.** No checkpoint was found in `{checkpoint_dir()}`. Train one in the "
                  "**Train on MNIST** tab (the quick preset takes 5 minutes); it will appear in the model list here.")
        return (gr.Dropdown(choices=[], value=None), timesteps_md(None, steps, spacing),
                gr.Markdown(notice, visible=True))
    values = [v for _, v in choices]
    path = Path(path).name if path and Path(path).name in values else values[0]
    return (gr.Dropdown(choices=choices, value=path), timesteps_md(path, steps, spacing, session_models),
            gr.Markdown(visible=False))




# ==================================================================================================
# Layout and wiring
# ==================================================================================================


def _controls() -> dict:
    """The left column: model, steps, η, spacing, digit, guidance, images, seed, checkboxes, Sample / Stop."""
    c = {}
    c["ckpt"] = gr.Dropdown(dropdown_choices(), value=default_checkpoint(), label="Model (checkpoint)",
                            info="shipped models, plus any you train in tab 3", allow_custom_value=True,
                            elem_id="sample-model", elem_classes="wide-dropdown")
    c["steps"] = gr.Slider(1, min(LIMITS.max_steps, 1000), value=min(50, LIMITS.max_steps), step=1,
                           label="Sampling steps", elem_id="sample-steps")
    c["eta"] = gr.Slider(0, 1, value=0.0, step=0.05, label="η for the DDIM panel", elem_id="sample-eta",
                         info="0 = deterministic DDIM, 1 = as random as DDPM")
    c["spacing"] = gr.Radio(SPACING_CHOICES, value="trailing", label="Timestep spacing")
    with gr.Row():
        c["digit"] = gr.Dropdown(DIGIT_CHOICES, value="mixed 0–9", label="Digit", min_width=190)
        c["guidance"] = gr.Slider(0, 8, value=DEFAULT_GUIDANCE, step=0.5, label="Guidance scale w",
                                  elem_id="sample-guidance",
                                  info="1 = plain conditional; 1.5 is the measured sweet spot")
    with gr.Row():
        c["n_images"] = gr.Slider(1, LIMITS.max_images, value=min(10, LIMITS.max_images), step=1, label="Images",
                                  elem_id="sample-n")
        c["seed"] = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=2**31 - 1)
    with gr.Row():
        c["clip"] = gr.Checkbox(True, label="Clip x̂₀ to [−1, 1]")
        c["show_dpm"] = gr.Checkbox(True, label="Also DPM-Solver++")
    with gr.Row():
        c["sample_btn"] = gr.Button("▶ Sample", variant="primary", elem_id="sample-btn")
        c["stop"] = gr.Button("■ Stop", variant="stop", elem_id="sample-stop")
    with gr.Accordion("Bring your own model (.pt)", open=False, elem_classes="hide-when-presenting"):
        explain("A checkpoint written by `python -m playground.train` on any machine (a GPU, "
                f"say). It is loaded weights-only, checked, capped at {LIMITS.max_checkpoint_bytes / 1e6:.0f} "
                f"MB, and listed for this browser session only.")
        c["upload"] = gr.File(label="Upload a checkpoint", file_types=[".pt"], height=100, elem_id="ckpt-upload")
        c["upload_md"] = gr.Markdown()
    return c


def _panels() -> dict:
    """The right column: the status line (step counter, elapsed time) first, then x_t and x̂₀ of each sampler."""
    c = {"status": gr.Markdown(elem_classes="status", elem_id="sample-status")}
    c["ts_md"] = gr.Markdown(elem_classes="explain")
    imgs, c["titles"] = [], []
    with gr.Row(elem_id="sample-panels"):
        for key, name in PANELS:
            with gr.Column(min_width=200):
                c["titles"].append(gr.Markdown(f"### {name}", elem_classes="panel-title", elem_id=f"{key}-title"))
                gr.Markdown("x_t, being denoised", elem_classes="row-label")
                imgs.append(gr.Image(elem_id=f"{key}-xt", label=f"{name}: x_t", show_label=False, height=250,
                                     interactive=False, elem_classes="pixelated sample-img", buttons=["download"],
                                     format="png"))
                gr.Markdown("predicted x̂₀ at this step", elem_classes="row-label")
                imgs.append(gr.Image(label=f"{name}: predicted x̂₀", show_label=False, height=250, interactive=False,
                                     elem_classes="pixelated sample-img", buttons=["download"], format="png"))
    c["imgs"] = imgs
    c["files"] = gr.File(label="Results: grids (PNG) and trajectory GIFs", file_count="multiple",
                         interactive=False, visible=False)
    return c


def _study() -> dict:
    """The η × steps study accordion."""
    c = {}
    with gr.Accordion("Study: DDIM over η × number of steps, one seed", open=False):
        explain("Each cell runs DDIM from the same x_T. Fewer steps and η = 0 are the fast, deterministic corner; "
                "η > 0 with few steps adds noise the network cannot remove in time. The heatmap scores each cell with "
                "the MNIST classifier of the quality module (where available).")
        c["btn"] = gr.Button("Run the study (≈ 4 × 180 DDIM steps)")
        c["md"] = gr.Markdown()
        with gr.Row():
            c["img"] = gr.Image(label="η (rows) × steps (columns)", interactive=False, elem_classes="pixelated",
                                format="png", height=420)
            c["plot"] = gr.Plot(show_label=False)
    return c


def _eps_v() -> dict:
    """The ε- against v-prediction accordion."""
    c = {}
    with gr.Accordion("ε-prediction vs v-prediction (the two shipped checkpoints)", open=False,
                      elem_id="epsv-accordion") as c["acc"]:
        explain("Same recipe, different training target. Both are sampled with DDIM from one seed, with the "
                "steps, spacing, digit, guidance and η chosen above.")
        c["btn"] = gr.Button("Compare ε vs v")
        c["md"] = gr.Markdown()
        with gr.Row():
            c["eps"] = gr.Image(label="ε-prediction", interactive=False, elem_classes="pixelated", format="png",
                                height=300)
            c["v"] = gr.Image(label="v-prediction", interactive=False, elem_classes="pixelated", format="png",
                              height=300)
    return c


def build(page: Page) -> None:
    """The Sampling tab's components and events (called inside ``with gr.Tab(...)``)."""
    explain("All panels start from the **same x_T** with the **same seed**, and DDPM and DDIM get the same "
            "noise at every step. Top row: x_t as it is denoised. Bottom row: the network's prediction "
            "x̂₀ at that step.")
    no_model = gr.Markdown(visible=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            c = _controls()
        with gr.Column(scale=8):
            p = _panels()
    study, epsv = _study(), _eps_v()
    ckpt, steps, spacing, models = c["ckpt"], c["steps"], c["spacing"], page.session_models
    heavy = dict(concurrency_id="sample", concurrency_limit=LIMITS.sample_concurrency)
    sample_inputs = [ckpt, steps, c["eta"], spacing, c["clip"], c["digit"], c["guidance"], c["n_images"], c["seed"],
                     c["show_dpm"], models]
    sample_event = c["sample_btn"].click(sample_compare, sample_inputs, [*p["imgs"], p["status"], p["files"]],
                                         api_name="sample", show_progress_on=[p["status"]], **heavy)
    sample_event.then(lambda: gr.File(visible=True), None, p["files"], **FAST)  # reveal the downloads
    jobs.wire_stop(c["stop"], "sample")  # ends the run with "Stopped at step k/N"
    for comp in (ckpt, steps, spacing):
        comp.change(timesteps_md, [ckpt, steps, spacing, models], p["ts_md"], **FAST)
    ckpt.change(panel_titles, [ckpt, models], p["titles"], **FAST)  # a flow model's panels: Euler, Heun, DPM++
    page.on_load(lambda loaded: loaded.then(sampling_tab_load, [ckpt, steps, spacing, models],
                                            [ckpt, p["ts_md"], no_model], **PRIVATE))
    study["btn"].click(sample_study, [ckpt, c["digit"], c["guidance"], c["seed"], c["n_images"], spacing, models],
                       [study["img"], study["plot"], study["md"]], **heavy, **PRIVATE)
    epsv["btn"].click(compare_eps_v, [steps, spacing, c["digit"], c["guidance"], c["seed"], c["n_images"], c["eta"]],
                      [epsv["eps"], epsv["v"], epsv["md"]], **heavy, **PRIVATE)
    c["upload"].upload(upload_checkpoint, [c["upload"], models], [c["upload_md"], models, ckpt], **PRIVATE)
    page.components.update(sample_ckpt=ckpt)
    _register(page, c, epsv["acc"])


def _register(page: Page, c: dict, epsv_acc) -> None:
    """The tab's deep-link settings and Theory links."""
    page.param("model", c["ckpt"], _linkable_checkpoint)
    page.param("steps", c["steps"], as_int(1, min(LIMITS.max_steps, 1000)))
    page.param("eta", c["eta"], as_float(0.0, 1.0))
    page.param("spacing", c["spacing"], one_of(SPACING_CHOICES))
    page.param("digit", c["digit"], one_of(DIGIT_CHOICES + [("mixed", "mixed 0–9"), ("none", DIGIT_CHOICES[-1])]))
    page.param("guidance", c["guidance"], as_float(0.0, 8.0))
    page.param("n", c["n_images"], as_int(1, LIMITS.max_images))
    page.param("seed", c["seed"], as_int(0, 2**31 - 1))
    page.param("clip", c["clip"], as_bool)
    page.param("dpm", c["show_dpm"], as_bool)
    page.link("eta_one", [c["eta"]], lambda: 1.0)
    page.link("flow_ddim", [c["eta"]], lambda: 0.0)  # deterministic DDIM: Euler's method on the flow ODE
    page.link("guidance_four", [c["guidance"]], lambda: 4.0)
    page.link("epsv_open", [epsv_acc], lambda: gr.Accordion(open=True))
    page.link("ddpm_panels", [], None, target="sample-panels")
