"""Stop buttons that tell the truth: a job ends with "■ Stopped at step k/N" and keeps its last images.

How a tab uses it (one job kind per Stop button, e.g. ``"sample"``, ``"train"``, ``"sdedit"``)::

    def my_handler(..., request: gr.Request = None):        # the event's function (main process)
        with jobs.running("sample", request) as stop:       # a fresh per-session StopFlag
            yield from _my_gpu_generator(..., stop=stop)    # the work may run in another process

    def _my_gpu_generator(..., stop):                       # @zerogpu.gpu-decorated, maybe in a forked worker
        for i in range(1, n + 1):
            ...
            if stop.is_set():
                yield (*last_images, jobs.stopped_status(i, n)); return

    jobs.wire_stop(stop_button, "sample")  # the button sets the flag; no ``cancels=``

Why a file and not a ``threading.Event``: on ZeroGPU the ``@spaces.GPU`` function runs in a forked worker
that cannot see the main process's memory. A :class:`StopFlag` is a path under the output folder
(``files.OUT_DIR``), so any process on the machine sees ``set()`` at the next ``is_set()`` (one ``stat``, about
a microsecond), and the flag pickles as its path. Stop does not cancel the event: cancelling would kill the
generator before it could say where it stopped, so the job checks the flag between steps and ends itself.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterator

import gradio as gr

from playground.ui.files import OUT_DIR

JOBS_DIR = OUT_DIR / "jobs"


class StopFlag:
    """A stop request visible across processes: a file that exists once :meth:`set` is called.

    Same methods as ``threading.Event`` where the trainer uses them (``set``, ``is_set``, ``clear``), so the
    trainer's ``stop_event=`` takes it. Pickles as its path (fork and spawn alike)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def is_set(self) -> bool:
        return self.path.exists()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def __reduce__(self):
        return (StopFlag, (str(self.path),))

    def __repr__(self) -> str:
        return f"StopFlag({str(self.path)!r}, set={self.is_set()})"


def _key(kind: str, request_or_session) -> str:
    session = getattr(request_or_session, "session_hash", None) or request_or_session or "anonymous"
    return f"{kind}-" + hashlib.blake2b(str(session).encode(), digest_size=8).hexdigest()


def stop_flag(kind: str, request_or_session) -> StopFlag:
    """The StopFlag of one session's job of one kind (``request_or_session``: a gr.Request or a session id)."""
    return StopFlag(JOBS_DIR / f"{_key(kind, request_or_session)}.stop")


def _running_marker(kind: str, request_or_session) -> Path:
    return JOBS_DIR / f"{_key(kind, request_or_session)}.running"


@contextlib.contextmanager
def running(kind: str, request_or_session) -> Iterator[StopFlag]:
    """Mark this session's job of ``kind`` as running for the block; yields its fresh (cleared) StopFlag."""
    flag = stop_flag(kind, request_or_session)
    marker = _running_marker(kind, request_or_session)
    flag.clear()  # a Stop pressed while nothing ran must not stop this job
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        yield flag
    finally:
        marker.unlink(missing_ok=True)
        flag.clear()


def is_running(kind: str, request_or_session) -> bool:
    """True while this session's job of ``kind`` is inside :func:`running`."""
    return _running_marker(kind, request_or_session).exists()


def request_stop(kind: str, request_or_session) -> bool:
    """Ask this session's running job of ``kind`` to stop after its current step; False when none runs."""
    if not is_running(kind, request_or_session):
        return False
    stop_flag(kind, request_or_session).set()
    return True


def stopped_status(step: int, total: int, detail: str = "") -> str:
    """The status line a stopped job ends with: "■ **Stopped** at step k/N" (+ `` · detail``)."""
    return f"■ **Stopped** at step **{int(step)}/{int(total)}**" + (f" · {detail}" if detail else "")


STOPPING = "■ Stopping after the current step…"


def stop_handler(kind: str):
    """The Stop button's function: sets the flag; a toast says "Stopping…" only if a job of this session runs.

    It writes no component: its reply comes over HTTP while the job's last update comes over the event stream,
    so a "Stopping…" written to the status could land after "Stopped at step k/N" and stay there for good."""
    def stop(request: gr.Request = None) -> None:
        if request_stop(kind, request):
            gr.Info(STOPPING)
    stop.__name__ = f"stop_{kind}"
    # Gradio finds the request parameter by its type hint; under `from __future__ import annotations` the hint is
    # the string "gr.Request", which it cannot resolve here (gr is imported locally), so no request was passed
    # and every Stop looked for the job of a session called "anonymous".
    stop.__annotations__ = {"request": gr.Request}
    return stop


def wire_stop(button, kind: str):
    """Wire a Stop button to the jobs of ``kind`` (no ``cancels=``: the job ends itself and says where)."""
    from playground.ui.page import FAST

    return button.click(stop_handler(kind), None, None, **FAST)
