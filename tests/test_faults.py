"""Faults: stopping training mid-step, a process killed while it saves a checkpoint, missing data.

Each test checks what a user is left with afterwards: a model that loads and samples, the
previous checkpoint intact, a clear message instead of a traceback, and a server free for the
next job.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
import torch
from conftest import ROOT, TINY_MODEL, make_tiny_checkpoint

from playground.mnist.checkpoint import load_checkpoint, load_model
from playground.mnist.data import load_mnist
from playground.mnist.model import UNetConfig
from playground.mnist.train import TrainConfig, Trainer
from playground.ui import sampling, training
from playground.ui.models import device, list_checkpoints

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_cfg(**kw) -> TrainConfig:
    base = dict(steps=1000, time_budget_s=60, batch_size=16, lr=2e-3, warmup_steps=2, log_every=1, preview_every=0,
                preview_steps=4, bf16="off", T=50, model=UNetConfig(**TINY_MODEL))
    return TrainConfig(**{**base, **kw})


def _samples_ok(path: Path) -> None:
    """The checkpoint at `path` loads and gives finite samples through the app's own sampler."""
    model, meta = load_model(path, device())  # where the app samples: CUDA / MPS / CPU
    x, _ = sampling.run_sampler(model, meta, sampler="ddim", steps=5, eta=0.0, spacing="trailing", digit="4",
                                guidance=2.0, n=2,
                          seed=0)
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all() and x.abs().max() <= 1.0 + 1e-6


def test_stop_in_the_middle_of_a_step_saves_a_usable_model(tmp_path):
    """The stop request arrives *during* the forward pass of step 3: that step completes, the loop
    stops before step 4, and the saved EMA weights load and sample."""
    out = tmp_path / "stopped.pt"
    tr = Trainer(_tiny_cfg(), data=load_mnist(), out=out)
    calls = {"n": 0}

    def stop_during_forward(module, args, output):
        calls["n"] += 1
        if calls["n"] == 3:
            tr.stop()

    tr.model.register_forward_hook(stop_during_forward)
    events = list(tr.run())
    assert events[-1].kind == "done" and "stopped" in events[-1].message
    assert tr.step == 3
    obj = load_checkpoint(out)
    assert obj["meta"]["steps"] == 3
    for k, v in obj["ema"].items():
        assert torch.isfinite(v).all(), k
    _samples_ok(out)


def test_stop_button_during_an_app_training_job(monkeypatch):
    """training.train_run in a worker thread (as the server runs it); the Stop button's handler ends it
    within a step or two; the job lock is released; the checkpoint offered for download samples."""
    monkeypatch.setenv("PLAYGROUND_SAVE_TRAINED", "0")
    outs: list = []
    errors: list = []
    started = threading.Event()

    def run():
        try:
            for o in training.train_run("tiny", "eps", "linear", 50, False, 16, 2e-3, 5000, 120, True,
                                        "small (16, 32, 64)", 0,
                                  data=load_mnist()):
                outs.append(o)
                if "step" in str(o[0]):
                    started.set()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            started.set()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    assert started.wait(90), "training never reported a step"
    assert "running" in training.train_status()
    msg = training.stop_training(None)
    t0 = time.perf_counter()
    th.join(60)
    assert not th.is_alive() and not errors, errors
    assert "Stopping" in msg and time.perf_counter() - t0 < 30
    final = outs[-1]
    assert "stopped" in final[0] and "Stopped" in final[0]
    from test_bad_input import file_of

    path = Path(file_of(final[4]))
    assert path.is_file()
    _samples_ok(path)
    assert training._job["job"] is None and not training._train_lock.locked()
    assert training.stop_training(None).startswith("Nothing to stop")


def test_closing_the_stream_mid_training_saves_and_frees_the_server(tmp_path):
    """The browser tab closes / the client disconnects: the server closes the generator."""
    out = tmp_path / "closed.pt"
    tr = Trainer(_tiny_cfg(), data=load_mnist(), out=out)
    gen = tr.run()
    for ev in gen:
        if ev.step >= 2:
            break
    gen.close()
    assert load_checkpoint(out)["meta"]["steps"] == 2
    _samples_ok(out)


_SLOW_SAVER = r"""
import sys, torch
from playground.mnist.checkpoint import atomic_torch_save
big = {"format": "diffusion-playground/1", "config": {}, "meta": {},
       "ema": {f"w{i}": torch.randn(1_000_000) for i in range(60)}}
class SlowFile:  # write in small pieces with pauses, so that the kill lands mid-write
    def __init__(self, f): self.f = f
    def write(self, b):
        import time; time.sleep(0.002); return self.f.write(b)
    def __getattr__(self, k): return getattr(self.f, k)
orig = torch.save
torch.save = lambda obj, f, *a, **k: orig(obj, SlowFile(f), *a, **k)
print("saving", flush=True)
atomic_torch_save(big, sys.argv[1])
print("finished", flush=True)
"""


def test_kill_during_a_checkpoint_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    ckdir = tmp_path / "checkpoints"
    path = make_tiny_checkpoint(ckdir / "mnist_eps_cond.pt")
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVER, str(path)], cwd=ROOT,
                            env={**os.environ,
                                 "PYTHONPATH": os.pathsep.join(filter(None,
                                                                      [str(ROOT), os.environ.get("PYTHONPATH")]))},
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.time() + 60
        tmp = None
        while time.time() < deadline:  # wait until the temp file holds a few MB, then kill -9
            tmps = [p for p in ckdir.iterdir() if p.name.endswith(".tmp")]
            if tmps and tmps[0].stat().st_size > 2_000_000:
                tmp = tmps[0]
                break
            time.sleep(0.02)
        assert tmp is not None, "the saver never started writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before  # the old checkpoint was never touched
    _samples_ok(path)
    assert tmp.exists()  # SIGKILL leaves the half-written temp file: the app must ignore it
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(ckdir))
    assert [p for _, p in list_checkpoints()] == [str(path)]
    final = list(sampling.sample_compare(None, 3, 0.0, "trailing", True, "1", 2.0, 1, 0, False))[-1]
    assert "Done" in final[6]


def test_exception_halfway_through_a_save_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    """Same, in-process: the trainer's save raises halfway (disk full)."""
    out = tmp_path / "m.pt"
    tr = Trainer(_tiny_cfg(steps=2), data=load_mnist(), out=out)
    list(tr.run())
    before = out.read_bytes()
    real_save = torch.save

    def half_then_fail(obj, f, *a, **k):
        f.write(b"PK\x03\x04" + b"\0" * 1000)
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        tr.save(out)
    monkeypatch.setattr(torch, "save", real_save)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    _samples_ok(out)


def test_missing_mnist_gives_a_clear_message_and_frees_the_server(tmp_path, monkeypatch):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(empty))
    monkeypatch.setenv("PLAYGROUND_SAVE_TRAINED", "0")
    with pytest.raises(gr.Error) as e:
        list(training.train_run("tiny", "eps", "linear", 50, False, 16, 2e-3, 3, 30, True, "small (16, 32, 64)", 0))
    msg = e.value.message
    assert "No MNIST digits found under" in msg and str(empty) in msg and "PLAYGROUND_DATA_DIR" in msg
    assert training._job["job"] is None and not training._train_lock.locked()
    # a nonexistent path gives the same clear message
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "does" / "not" / "exist"))
    with pytest.raises(gr.Error, match="No MNIST digits found"):
        list(training.train_run("tiny", "eps", "linear", 50, False, 16, 2e-3, 3, 30, True, "small (16, 32, 64)", 0))
    # and with the data back, the next job runs
    monkeypatch.delenv("PLAYGROUND_DATA_DIR")
    outs = list(training.train_run("tiny", "eps", "linear", 50, False, 16, 2e-3, 2, 30, True, "small (16, 32, 64)", 0))
    assert "Finished" in outs[-1][0]
