"""Typed events of a tab's job, and the two ways to consume them: to the end (a public endpoint) or as widget
updates (a button's stream).

A job is a generator of :class:`Step` (step k of n, a status line, values to show by name) ending with one
:class:`Done` (the final status, the values to show, and what a public endpoint returns). The tab says once which
named value goes to which output (:func:`stream`); a name a event does not carry leaves its widget as it is.
A Stop (playground/ui/jobs.py's StopFlag) ends the stream after the current step with "Stopped at step k/N"
and keeps the last images shown.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from playground.ui.jobs import stopped_status


@dataclass(frozen=True)
class Step:
    """A running job's update: step ``k`` of ``n``, its status line, and values to show (output name → value)."""

    k: int
    n: int
    status: str
    show: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """A job's end: its status line, the values to show, and ``result``, what a public endpoint returns."""

    status: str
    show: dict[str, Any] = field(default_factory=dict)
    result: Any = None


def run_to_end(job: Iterable[Step | Done]) -> Any:
    """Run a job to its end and return its :class:`Done`'s ``result`` (the public endpoints' one ending)."""
    done = None
    for event in job:
        if isinstance(event, Done):
            done = event
    if done is None:
        raise RuntimeError("the job ended without a result")
    return done.result


def updates(event: Step | Done, outputs: Sequence[str], status: str = "status") -> tuple:
    """One event as positional widget updates: each named value in its place, gr.skip() where it has none."""
    import gradio as gr

    values = {**event.show, status: event.status}
    return tuple(values[name] if name in values else gr.skip() for name in outputs)


def _fresh(show: dict, sent: dict) -> dict:
    """The values of ``show`` that differ from what was last sent: an image re-sent unchanged is written again to
    the same cache file (same content, same name) while the browser may be reading it, and arrives truncated."""
    out = {}
    for name, value in show.items():
        old = sent.get(name)
        same = (isinstance(value, np.ndarray) and isinstance(old, np.ndarray) and value.shape == old.shape
                and np.array_equal(value, old))
        if not same:
            out[name] = sent[name] = value
    return out


def stream(job: Iterable[Step | Done], outputs: Sequence[str], stop=None, status: str = "status",
           every_s: float = 0.0, detail: str = "") -> Iterator[tuple]:
    """A job's events as widget updates for ``outputs`` (names), a step at most every ``every_s`` seconds (the
    values of skipped steps travel with the next one) and always the end. ``stop`` (anything with ``is_set()``) is
    checked after each step: the job is closed there and the last update says "Stopped at step k/N", keeping the
    images shown. Unchanged images are not sent again."""
    last_sent, pending, sent = -math.inf, {}, {}
    job = iter(job)
    try:
        for event in job:
            if isinstance(event, Done):
                yield updates(Done(event.status, _fresh(event.show, sent)), outputs, status)
                return
            pending.update(event.show)
            if stop is not None and stop.is_set():
                final = Step(event.k, event.n, stopped_status(event.k, event.n, detail), _fresh(pending, sent))
                yield updates(final, outputs, status)
                return
            now = time.perf_counter()
            if now - last_sent >= every_s:
                last_sent = now
                yield updates(Step(event.k, event.n, event.status, _fresh(pending, sent)), outputs, status)
                pending = {}
    finally:
        close = getattr(job, "close", None)
        if close is not None:
            close()
