"""The shared "tell the truth" mechanisms at handler level: stop flags across processes (playground/ui/jobs.py),
bad uploads that keep the outputs (playground/ui/inputs.py), "Show me" targets (page.link, ui/reveal.py)."""
from __future__ import annotations

import multiprocessing as mp
import time

import gradio as gr
import pytest

from playground.ui import inputs, jobs


def _count_until_stopped(flag: jobs.StopFlag, started, result) -> None:
    """A worker in another process: counts steps until the flag it was handed is set."""
    started.set()
    step = 0
    t0 = time.time()
    while not flag.is_set() and time.time() - t0 < 30:
        step += 1
        time.sleep(0.01)
    result.put(("stopped" if flag.is_set() else "timeout", step))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_stop_flag_reaches_another_process(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} on this platform")
    ctx = mp.get_context(method)
    with jobs.running("test-worker", f"session-{method}") as flag:
        started, result = ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_count_until_stopped, args=(flag, started, result))
        proc.start()
        assert started.wait(60)
        time.sleep(0.2)
        assert jobs.request_stop("test-worker", f"session-{method}")  # what the Stop button calls
        how, step = result.get(timeout=20)
        proc.join(10)
    assert how == "stopped" and step > 0
    assert not jobs.is_running("test-worker", f"session-{method}")
    assert not flag.is_set()  # cleared on the way out: the next job starts fresh


def test_stop_without_a_job_does_nothing():
    assert not jobs.request_stop("sample", "nobody")
    assert not jobs.stop_flag("sample", "nobody").is_set()
    with jobs.running("sample", "nobody") as flag:  # so a stale Stop never stops the next job
        assert not flag.is_set()


def test_stop_is_per_session_and_kind():
    with jobs.running("sample", "a") as fa, jobs.running("sample", "b") as fb, jobs.running("train", "a") as ta:
        assert jobs.request_stop("sample", "a")
        assert fa.is_set() and not fb.is_set() and not ta.is_set()


def test_stopped_status_names_the_step():
    assert jobs.stopped_status(34, 1000).startswith("■ **Stopped** at step **34/1000**")


def test_bad_upload_keeps_outputs_and_warns_once(monkeypatch):
    warned = []
    monkeypatch.setattr(gr, "Warning", lambda msg, *a, **k: warned.append(msg))

    def load(path):
        raise gr.Error(f"{path!r} is not an image this app can read")

    out = inputs.keep_outputs_on_error(load, 3)("notes.png")
    assert len(out) == 3 and all(isinstance(o, dict) and o.get("__type__") == "update" and len(o) == 1 for o in out)
    assert warned == ["'notes.png' is not an image this app can read"]
    assert inputs.keep_outputs_on_error(lambda p: (1, 2), 2)("ok.png") == (1, 2)  # good files pass through


def test_in_range_clamps_and_says_so(monkeypatch):
    warned = []
    monkeypatch.setattr(gr, "Warning", lambda msg, *a, **k: warned.append(msg))
    assert inputs.in_range(0, 1, 200, "Steps") == 1
    assert inputs.in_range(50, 1, 200, "Steps") == 50
    assert warned == ["Steps 0 is outside 1 … 200: using 1."]
    with pytest.raises(gr.Error, match="must be a number"):
        inputs.in_range("abc", 1, 2, "Steps")
