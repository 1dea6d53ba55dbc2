"""The model list and cache: the checkpoints a dropdown offers (shipped ones, then this session's), their
labels, and :func:`get_model`, which loads only those (cached, one load at a time); the compute device."""
from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import gradio as gr
import torch

from playground.mnist.checkpoint import (
    CHECKPOINT_DIR,
    DEFAULT_CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    load_model,
)
from playground.runtime.device import pick_device

device_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def device() -> torch.device:
    """The compute device, picked once (CUDA on a GPU Space, else MPS, else CPU)."""
    return pick_device()


def checkpoint_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_CHECKPOINT_DIR") or CHECKPOINT_DIR)


@functools.lru_cache(maxsize=64)
def _read_meta(path: str, mtime_ns: int):
    try:
        obj = load_checkpoint(path)
    except CheckpointError:
        return None
    return obj["meta"], obj["config"]


def meta_of(path: str | Path):
    p = Path(path)
    try:
        return _read_meta(str(p), p.stat().st_mtime_ns)
    except OSError:
        return None


def checkpoint_label(path: Path, meta: dict, prefix: str = "", name: str | None = None) -> str:
    """A dropdown label short enough to read whole in a narrow column: "mnist_eps_cond · ε, linear".

    ``name`` replaces the file's stem (trained models' stems are long and carry the settings already shown);
    the timestep line under the model shows T and the rest."""
    kind = {"eps": "ε", "v": "v", "x0": "x₀"}.get(meta.get("prediction_type"), meta.get("prediction_type"))
    stem = path.stem if name is None else name
    stem = stem if len(stem) <= 20 else stem[:19] + "…"
    student = ", student" if (meta.get("extra") or {}).get("student_steps") else ""
    return f"{prefix}{stem} · {kind}, {meta.get('schedule')}{student}"


def list_checkpoints(session_models: dict | None = None) -> list[tuple[str, str]]:
    """Dropdown choices (label, path): readable checkpoints in checkpoint_dir(), then this session's."""
    out = []
    d = checkpoint_dir()
    files = sorted(d.glob("*.pt")) if d.is_dir() else []
    default = Path(DEFAULT_CHECKPOINT).name
    files.sort(key=lambda p: (p.name != default, p.name))
    for p in files:
        m = meta_of(p)
        if m is not None:
            out.append((checkpoint_label(p, m[0]), str(p)))
    for label, path in (session_models or {}).items():
        if Path(path).is_file():
            out.append((label, str(path)))
    return out


def dropdown_choices(session_models: dict | None = None) -> list[tuple[str, str]]:
    """A model dropdown's (label, file name) choices: names, never the server's paths (the public API schema
    shows a dropdown's choices; :func:`get_model` and :func:`resolve` turn a listed name back into its path)."""
    return [(label, Path(path).name) for label, path in list_checkpoints(session_models)]


def resolve(value: str | None, session_models: dict | None = None) -> str | None:
    """A dropdown value (a listed file name, or a listed path) → the listed checkpoint's path; None if unlisted."""
    if not value:
        return None
    for _, path in list_checkpoints(session_models):
        if value in (path, Path(path).name):
            return path
    return None


def default_checkpoint(session_models: dict | None = None) -> str | None:
    """The first listed checkpoint's file name (the model dropdowns' default), or None when there is none."""
    choices = dropdown_choices(session_models)
    return choices[0][1] if choices else None


def checkpoint_dropdown(session_models: dict | None = None, value: str | None = None):
    """A model dropdown update listing the shipped models and this session's; ``value`` a name or a path."""
    choices = dropdown_choices(session_models)
    return gr.Dropdown(choices=choices, value=Path(value).name if value else (choices[0][1] if choices else None))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int):
    model, meta = load_model(path, device())
    return model, meta


def get_model(path: str | None, session_models: dict | None = None):
    """(model, meta) for a dropdown value; only shipped checkpoints and this session's models load.

    `path` may be a listed path, or (handy for API callers) a listed file's name, e.g. "mnist_eps_cond.pt".
    """
    if not path:
        raise gr.Error("No model available yet. Train one in the 'Train on MNIST' tab, or put a checkpoint "
                       f"(e.g. {Path(DEFAULT_CHECKPOINT).name}) in {checkpoint_dir()}.")
    listed = [v for _, v in list_checkpoints(session_models)]
    allowed = {str(Path(v).resolve()) for v in listed}
    by_name = {Path(v).name: v for v in listed}
    if str(Path(path).resolve()) not in allowed and Path(str(path)).name == str(path) and str(path) in by_name:
        path = by_name[str(path)]
    p = Path(path).resolve()
    if str(p) not in allowed:
        if p.is_file() and p.parent == checkpoint_dir().resolve():  # in the folder but left out of the list: say why
            try:
                load_checkpoint(p)
            except CheckpointError as e:
                raise gr.Error(f"Cannot use {p.name!r}: {e}") from None
        raise gr.Error(f"Unknown checkpoint {Path(path).name!r}: pick one from the list.")
    try:
        with device_lock:
            return _load_cached(str(p), p.stat().st_mtime_ns)
    except (CheckpointError, OSError) as e:
        raise gr.Error(str(e)) from None
