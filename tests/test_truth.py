"""The shared "tell the truth" mechanisms at handler level: stop flags across processes (playground/ui/jobs.py),
bad uploads that keep the outputs (playground/ui/inputs.py), "Show me" targets (page.link, ui/reveal.py)."""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from pathlib import Path

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


# --- the real jobs: Stop through the handlers, and in another process ---------------------------------------------

@pytest.fixture()
def tiny_model(tmp_path, monkeypatch, one_thread):
    from conftest import make_tiny_checkpoint

    d = tmp_path / "ckpts"
    make_tiny_checkpoint(d / "mnist_eps_cond.pt")  # T = 100
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(d))
    monkeypatch.setenv("PLAYGROUND_SAVE_TRAINED", "0")
    return "mnist_eps_cond.pt"


def _req(session: str):
    import types

    return types.SimpleNamespace(session_hash=session)


def test_sampling_stop_ends_with_stopped_and_keeps_the_images(tiny_model, monkeypatch):
    from playground.ui import sampling

    monkeypatch.setattr(sampling, "STREAM_EVERY_S", 0.0)  # stream every step
    gen = sampling.sample_compare(tiny_model, 100, 0.0, "trailing", True, "3", 1.0, 2, 0, True, {}, _req("s1"))
    first = next(gen)
    assert "Running" in first[6] and jobs.is_running("sample", "s1")
    jobs.stop_handler("sample")(_req("s1"))  # the Stop button
    assert jobs.stop_flag("sample", "s1").is_set()
    outs = list(gen)
    assert len(outs) == 1, "the run went on after Stop"
    last = outs[0]
    assert last[6].startswith("■ **Stopped** at step **2/100**"), last[6]
    assert all(img is not None for img in last[:6])  # the last x_t and x̂₀ of every panel stay on screen
    assert not jobs.is_running("sample", "s1")
    jobs.stop_handler("sample")(_req("s1"))  # nothing runs: no flag left to stop the next job
    assert not jobs.stop_flag("sample", "s1").is_set()


def _sample_in_child(name: str, ckpt_dir: str, flag, q) -> None:
    """The GPU part of a sampling run in another process, as ZeroGPU runs it; reports each status line."""
    import os

    os.environ["PLAYGROUND_CHECKPOINT_DIR"] = ckpt_dir
    import torch

    torch.set_num_threads(1)
    from playground.ui import sampling

    sampling.STREAM_EVERY_S = 0.0
    for out in sampling._sample_stream(name, 100, 0.0, "trailing", True, "3", 1.0, 2, 0, False, {}, flag):
        q.put(out[6])
    q.put(None)


def test_sampling_stop_reaches_the_job_in_a_spawned_process(tiny_model, tmp_path):
    import os

    ctx = mp.get_context("spawn")  # a fresh interpreter: shares nothing with this one but the file system
    q = ctx.Queue()
    with jobs.running("sample", "zerogpu-session") as flag:
        proc = ctx.Process(target=_sample_in_child,
                           args=(tiny_model, os.environ["PLAYGROUND_CHECKPOINT_DIR"], flag, q))
        proc.start()
        statuses = [q.get(timeout=120)]
        assert "Running" in statuses[0], statuses
        assert jobs.request_stop("sample", "zerogpu-session")
        while (s := q.get(timeout=60)) is not None:
            statuses.append(s)
        proc.join(30)
    assert statuses[-1].startswith("■ **Stopped** at step"), statuses[-3:]
    k = int(statuses[-1].split("step **")[1].split("/")[0])
    assert k < 100


def test_training_stop_ends_with_stopped(tiny_model):
    from playground.mnist.data import load_mnist
    from playground.ui import training

    gen = training.train_run("tiny", "eps", "linear", 50, False, 8, 1e-3, 10_000, 60, True, "small (16, 32, 64)", 0,
                             {}, _req("t1"), data=load_mnist())
    assert "Loading" in next(gen)[0]
    assert "Stopping" in training.stop_training(_req("t1"))
    final = list(gen)[-1]
    assert final[0].startswith("■ **Stopped** at step **"), final[0]
    assert final[0].rstrip().endswith("pick it in the Sampling tab.")  # no stray "." on a line of its own
    (path,) = final[5].values()  # this session's models: {label: path}
    from playground.ui.files import OUT_DIR

    # the per-process output folder, never the repository's checkpoints/
    assert Path(path).parent == OUT_DIR and Path(path).is_file()
    assert not list(Path(os.environ["PLAYGROUND_CHECKPOINT_DIR"]).glob("trained-*"))


# --- ZeroGPU durations from the work --------------------------------------------------------------------------------

def test_gpu_durations_grow_with_the_work_and_undercut_the_old_fixed_ones():
    from playground.mnist.train import TrainConfig
    from playground.ui import sampling, training, zerogpu

    def sample_s(steps, show_dpm=True, guidance=1.5, ckpt="mnist_eps_cond.pt"):
        return sampling._sample_gpu_seconds(ckpt, steps, 0.0, "trailing", True, "mixed 0–9", guidance, 10, 0,
                                            show_dpm, {}, None)

    default = sample_s(50)
    assert sample_s(50, ckpt="no-such.pt") == default  # unknown: the run reports it, not the estimate
    assert sample_s(50, ckpt="mnist_flow_cond.pt") > default  # the flow model's Heun panel: two calls a step
    assert zerogpu.FLOOR_S <= default <= zerogpu.SAMPLE_S / 2  # the tab's defaults: well under the old 60 s
    assert sample_s(10) <= sample_s(50) < sample_s(250) and sample_s(50, show_dpm=False) < default
    assert sample_s(50, guidance=1.0) < default  # no CFG: one batch
    assert sample_s(250) <= zerogpu.SAMPLE_S  # the Space's step cap still fits the old bound
    gpu = TrainConfig.from_preset("gpu")
    cfg = dataclasses.replace(gpu, time_budget_s=300)
    assert training._train_gpu_seconds(cfg) < 300 + 60  # the old request for this job: budget + 60
    assert training._train_gpu_seconds(cfg) == round(gpu.steps * zerogpu.TRAIN_STEP_S + zerogpu.TRAIN_SAVE_S)
    short = dataclasses.replace(cfg, time_budget_s=20)
    assert training._train_gpu_seconds(short) == 20 + zerogpu.TRAIN_SAVE_S  # the budget ends it first
    assert training._train_gpu_seconds(dataclasses.replace(cfg, steps=100)) < training._train_gpu_seconds(cfg)


def test_page_links_name_a_target_for_every_show_me():
    from playground import theory
    from playground.ui.launch import build_page

    page = build_page()
    for sec in theory.SECTIONS:
        assert sec.control in page.links, f"{sec.key}: no Show me target"
        assert page.links[sec.control].target, sec.key
