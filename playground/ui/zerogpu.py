"""ZeroGPU (Hugging Face's shared-GPU Spaces): the ``spaces`` package's ``@spaces.GPU`` on the GPU work.

On ZeroGPU (``SPACES_ZERO_GPU`` set) the decorated function runs in a forked worker that holds a GPU for at
most ``duration`` seconds, so its arguments and yielded values must pickle (tests/test_classroom.py checks the
sampling stream). Everywhere else ``spaces.GPU`` returns the function unchanged, and without the package this
module's :func:`gpu` does the same. ``spaces`` must be imported before torch: app.py imports this module first.

Durations are computed from the work (ZeroGPU checks the requested seconds against each visitor's daily quota
and queues long requests behind short ones, so asking for a fixed 60 s costs a class its place):

    seconds = START_S + MARGIN × work_s, at least FLOOR_S

where work_s counts network evaluations at the per-unit costs measured on one H100 (bench/bench_gpu.py RESULTS,
README "On a GPU"): eager DDIM-50 on 64 digits took 560 ms, i.e. :data:`STEP_S` ≈ 11 ms per sampler step at
the app's batch sizes (launch-bound: the cost barely depends on the batch up to 64 images), CFG's doubled batch
about ×1.1 with a CUDA graph (115 vs 104 ms; :data:`CFG_FACTOR` = 1.5 is taken, eager being less even);
training ran 30–35 steps/s eager and 200 graphed (:data:`TRAIN_STEP_S` takes the eager 1/30 s, since the first
steps of a process run eagerly while the graph is captured). Why the margins:
- MARGIN = 3: ZeroGPU lends an unknown GPU (an H200 slice, maybe shared), and the streaming loop's host work
  (grids, GIF frames) sits between steps;
- START_S = 10 s: the forked worker's start, moving the cached model to the GPU, and writing PNGs/GIFs at the end;
- FLOOR_S = 15 s: nothing asks for less, so a tiny job is never cut off by the worker's own start.
Training: the trainer's own time budget is set to what the duration leaves after TRAIN_SAVE_S, so it saves
before the GPU is taken back. The defaults ask for about a third of the old fixed 60 / 120 / budget + 60 s
(tests/test_truth.py). Not yet measured on ZeroGPU itself.
"""
from __future__ import annotations

from typing import Any, Callable

try:  # optional: a plain CPU or GPU install runs without it
    import spaces
except ImportError:  # pragma: no cover - depends on the install
    spaces = None

SAMPLE_S = 60  # the old fixed duration of one sampling run (tabs that do not compute theirs yet)
STUDY_S = 120  # the old fixed duration of a study

STEP_S = 0.0112  # one sampler step of ≤ 64 digits, eager, H100 (560 ms / DDIM-50)
CFG_FACTOR = 1.5  # classifier-free guidance doubles the batch
TRAIN_STEP_S = 1 / 30  # one eager training step at batch 128, H100 (30–35 steps/s; 200 graphed)
TRAIN_SAVE_S = 15  # data load, model build, previews and the save around a training job
MARGIN, START_S, FLOOR_S = 3.0, 10.0, 15


def seconds_for(work_s: float) -> int:
    """ZeroGPU seconds for ``work_s`` seconds of H100 work: START_S + MARGIN × work_s, at least FLOOR_S."""
    return int(max(FLOOR_S, round(START_S + MARGIN * float(work_s))))


def sampling_seconds(steps: int, samplers: int = 1, cfg: bool = True) -> int:
    """Duration of ``samplers`` sampling runs of ``steps`` steps each (≤ 64 images; CFG doubles the batch)."""
    return seconds_for(int(steps) * int(samplers) * STEP_S * (CFG_FACTOR if cfg else 1.0))


def training_seconds(steps: int, budget_s: float) -> int:
    """Duration of a training job: min(steps × TRAIN_STEP_S, budget_s) + TRAIN_SAVE_S, at least FLOOR_S."""
    return int(max(FLOOR_S, round(min(int(steps) * TRAIN_STEP_S, float(budget_s)) + TRAIN_SAVE_S)))


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
