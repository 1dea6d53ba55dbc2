"""The server's limits (read once, at import, from environment variables), the torch thread count, and the
"someone is sampling" flag that the trainer yields to. Also :func:`clamp_T` (the Forward tab's T cap).

Limits for a public Space
-------------------------
Every limit is read once, at import, from an environment variable. On a Hugging Face Space
(``SPACE_ID`` is set) the tighter "Space" default applies.

==============================  =========  =========  ==============================================
env var                         local      Space      what it limits
==============================  =========  =========  ==============================================
PLAYGROUND_MAX_UPLOAD_BYTES     25000000   10000000   bytes of one uploaded image file
PLAYGROUND_MAX_UPLOAD_PIXELS    60000000   25000000   width × height of an upload, checked before decoding
PLAYGROUND_WORK_SIDE            512        512        longest side of the working copy (bigger uploads are
                                                      downscaled once, on upload)
PLAYGROUND_MAX_T                2000       1000       largest T on the Forward tab
PLAYGROUND_CHAIN_DRAWS          200        100        K draws in the closed-form-vs-chain check
PLAYGROUND_MAX_IMAGES           16         16         images per sampling run
PLAYGROUND_MAX_STEPS            1000       250        sampling steps per run
PLAYGROUND_MAX_TRAIN_SECONDS    1800       300        wall time of one training job (then it stops and saves)
PLAYGROUND_MAX_TRAIN_STEPS      20000      5000       optimiser steps of one training job
PLAYGROUND_SAMPLE_CONCURRENCY   2          2          sampling jobs that run at once (others queue)
PLAYGROUND_QUEUE_SIZE           256        256        requests waiting in Gradio's queue (then "queue is full")
PLAYGROUND_MAX_CHECKPOINT_BYTES 50000000   20000000   bytes of an uploaded checkpoint (Sampling tab)
PLAYGROUND_LIKELIHOOD_MAX_DIGITS
                                200        50         digits per likelihood run (Likelihood tab, /likelihood;
                                                      read in playground/ui/likelihood.py)
==============================  =========  =========  ==============================================

Other settings: ``PLAYGROUND_CHECKPOINT_DIR`` (where shipped checkpoints are listed; default
``checkpoints/``), ``PLAYGROUND_SAVE_TRAINED`` (1/0: also copy models trained in the app into that
folder; default 0: they stay in the server's temporary output folder, removed after an hour),
``PLAYGROUND_DEVICE`` (see playground.runtime.device),
``PLAYGROUND_THREADS`` (torch CPU threads for the whole process; default: torch's choice. On a CPU that
other processes keep busy, 1 is much faster for the small sampling batches: OpenMP threads wait on
each other when a core is taken away).
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from dataclasses import dataclass

import torch

ON_SPACE = bool(os.environ.get("SPACE_ID"))


def env_num(name: str, local: float, space: float, cast=int):
    """The number in env var ``name``, else the local or the Space default (a bad value warns and uses the default)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return cast(space if ON_SPACE else local)
    try:
        return cast(float(raw))
    except ValueError:
        warnings.warn(f"{name}={raw!r} is not a number; using the default", stacklevel=2)
        return cast(space if ON_SPACE else local)


@dataclass
class Limits:
    """The limits table above, as values (see the module docstring)."""

    max_upload_bytes: int = env_num("PLAYGROUND_MAX_UPLOAD_BYTES", 25_000_000, 10_000_000)
    max_upload_pixels: int = env_num("PLAYGROUND_MAX_UPLOAD_PIXELS", 60_000_000, 25_000_000)
    work_side: int = env_num("PLAYGROUND_WORK_SIDE", 512, 512)
    max_T: int = env_num("PLAYGROUND_MAX_T", 2000, 1000)
    chain_draws: int = env_num("PLAYGROUND_CHAIN_DRAWS", 200, 100)
    max_images: int = env_num("PLAYGROUND_MAX_IMAGES", 16, 16)
    max_steps: int = env_num("PLAYGROUND_MAX_STEPS", 1000, 250)
    max_train_seconds: float = env_num("PLAYGROUND_MAX_TRAIN_SECONDS", 1800, 300, float)
    max_train_steps: int = env_num("PLAYGROUND_MAX_TRAIN_STEPS", 20_000, 5_000)
    sample_concurrency: int = env_num("PLAYGROUND_SAMPLE_CONCURRENCY", 2, 2)
    queue_size: int = env_num("PLAYGROUND_QUEUE_SIZE", 256, 256)
    max_checkpoint_bytes: int = env_num("PLAYGROUND_MAX_CHECKPOINT_BYTES", 50_000_000, 20_000_000)


LIMITS = Limits()

if os.environ.get("PLAYGROUND_THREADS", "").strip():
    torch.set_num_threads(max(1, int(os.environ["PLAYGROUND_THREADS"])))
_DEFAULT_THREADS = torch.get_num_threads()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def adapt_threads(load: float | None = None) -> int:
    """Busy host → one torch thread; calm again → torch's default. Called before each interactive job.

    On a busy host one thread is several times faster than two (OpenMP threads wait for each other when a core
    is taken away; README and bench/bench_busy_host.py RESULTS). The 1-minute load average above
    cores + 0.5 counts as busy, below cores − 0.5 as calm (hysteresis in between); so does another interactive job
    running in this process (the jobs would oversubscribe the cores). PLAYGROUND_THREADS pins it.
    Returns the thread count in use.
    """
    if os.environ.get("PLAYGROUND_THREADS", "").strip() or _DEFAULT_THREADS <= 1:
        return torch.get_num_threads()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            return torch.get_num_threads()
    cores = _cores()
    # another interactive job is running: each job's OpenMP team would want every core (2 jobs × 2 threads on 2
    # cores), so both drop to one thread until the server is calm again
    others = _interactive["n"] > 0
    want = 1 if load > cores + 0.5 or others else _DEFAULT_THREADS if load < cores - 0.5 else torch.get_num_threads()
    if want != torch.get_num_threads():
        torch.set_num_threads(want)
    return want


def clamp_T(T) -> int:
    """A requested T (number of diffusion steps) clamped to 2 … LIMITS.max_T; empty means 1000."""
    return int(min(max(int(T or 1000), 2), LIMITS.max_T))


_interactive = {"n": 0}
_interactive_lock = threading.Lock()


@contextlib.contextmanager
def interactive_work():
    """Mark a user-facing job (sampling) as running: the trainer pauses between steps meanwhile."""
    with _interactive_lock:
        _interactive["n"] += 1
    try:
        yield
    finally:
        with _interactive_lock:
            _interactive["n"] -= 1


def interactive_busy() -> bool:
    return _interactive["n"] > 0
