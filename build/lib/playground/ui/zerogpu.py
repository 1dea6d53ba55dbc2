"""ZeroGPU (Hugging Face's shared-GPU Spaces): the ``spaces`` package's ``@spaces.GPU`` on the GPU work.

On ZeroGPU (``SPACES_ZERO_GPU`` set) the decorated function runs in a forked worker that holds a GPU for at
most ``duration`` seconds, so its arguments and yielded values must pickle (tests/test_classroom.py checks the
sampling stream). Everywhere else ``spaces.GPU`` returns the function unchanged, and without the package this
module's :func:`gpu` does the same. ``spaces`` must be imported before torch: app.py imports this module first.

Durations (seconds) are upper bounds on the Space limits (PLAYGROUND_MAX_STEPS = 250, 16 images, three
samplers; training capped by PLAYGROUND_MAX_TRAIN_SECONDS = 300): sampling at those caps is a few seconds on a
GPU, so 60 s leaves room for the model load and the worker start. Not yet measured on ZeroGPU itself.
"""
from __future__ import annotations

from typing import Any, Callable

try:  # optional: a plain CPU or GPU install runs without it
    import spaces
except ImportError:  # pragma: no cover - depends on the install
    spaces = None

SAMPLE_S = 60  # one sampling run (three samplers) or an ε-vs-v comparison
STUDY_S = 120  # the η × steps study: 16 DDIM runs


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space (the spaces package is installed and SPACES_ZERO_GPU is set)."""
    if spaces is None:
        return False
    from spaces.config import Config

    return bool(Config.zero_gpu)


def gpu(duration: int | Callable[..., int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@gpu(seconds)``: ``spaces.GPU(duration=seconds)`` where the package is installed, else nothing."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
