"""Shared fixtures: a tiny checkpoint folder and the real app running on a free localhost port.

The app runs exactly as a user starts it (``python app.py --port N`` in a subprocess) with tight
limits from the environment, so the browser, client, concurrency and bad-input tests share ONE
server per test session (importing gradio + torch alone takes ~15 s on the 2-core CI machine).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# A UNet small enough that sampling 4 images × 3 samplers × 20 steps takes well under a second.
TINY_MODEL = dict(channels=(8, 16), time_dim=32, groups=4, attn_heads=2)
TINY_T = 100  # the test checkpoint's T: small, so "steps > T" is reachable through the public API

# Limits of the live test server (see the table in playground/ui/limits.py). Tight, so caps are cheap to hit.
LIVE_LIMITS = {
    "PLAYGROUND_MAX_IMAGES": "4",
    "PLAYGROUND_MAX_STEPS": "200",
    "PLAYGROUND_MAX_TRAIN_SECONDS": "8",
    "PLAYGROUND_MAX_TRAIN_STEPS": "300",
    "PLAYGROUND_MAX_UPLOAD_BYTES": "3000000",
    "PLAYGROUND_MAX_UPLOAD_PIXELS": "30000000",
    "PLAYGROUND_CHAIN_DRAWS": "20",
}


def make_tiny_checkpoint(path: Path, *, T: int = TINY_T, prediction_type: str = "eps", schedule: str = "linear",
                         seed: int = 0, conditional: bool = True) -> Path:
    """A valid Diffusion Playground checkpoint of a tiny random-weight UNet (samples are noise, but real images)."""
    from playground.mnist.checkpoint import CheckpointMeta, save_checkpoint
    from playground.mnist.model import UNet, UNetConfig

    cfg = UNetConfig(**TINY_MODEL, num_classes=10 if conditional else None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UNet(cfg)
        with torch.no_grad():  # the last convs are zero-initialised: perturb so the output depends on the input
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
    meta = CheckpointMeta(prediction_type=prediction_type, schedule=schedule, T=T, steps=1, data="test fixture",
                          conditional=conditional)
    return save_checkpoint(path, ema_state=model.state_dict(), config=cfg, meta=meta)


def _devices() -> list:
    """cpu always; cuda and mps where present, else listed as skipped with the reason."""
    out = [pytest.param("cpu", id="cpu")]
    for name, ok in (("cuda", torch.cuda.is_available()),
                     ("mps", bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available())):
        out.append(pytest.param(name, id=name, marks=() if ok else pytest.mark.skip(reason=f"no {name} device here")))
    return out


@pytest.fixture(params=_devices())
def device(request) -> torch.device:
    """Each device the core should run on: the test runs once per device (CUDA/MPS skipped where absent)."""
    return torch.device(request.param)


def _with_one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (see OMP_NUM_THREADS below), restoring the setting after."""
    yield from _with_one_thread()


@pytest.fixture(scope="module")
def one_thread_module():
    """The same for a whole module (`pytestmark = pytest.mark.usefixtures("one_thread_module")`).

    Tiny models run fastest on one thread, and two OpenMP threads on a busy 2-core machine can spin
    in barriers (a 2 s test took 90 s under load)."""
    yield from _with_one_thread()


@pytest.fixture(scope="session")
def tiny_ckpt_dir(tmp_path_factory) -> Path:
    """A checkpoint folder holding one tiny model under the default model's file name."""
    d = tmp_path_factory.mktemp("checkpoints")
    make_tiny_checkpoint(d / "mnist_eps_cond.pt")
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApp:
    url: str
    proc: subprocess.Popen
    log: Path
    ckpt_dir: Path
    env: dict

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def live_app(tiny_ckpt_dir, tmp_path_factory):
    """``python app.py --port <free>`` with the tiny checkpoint and LIVE_LIMITS; yields a LiveApp."""
    port = free_port()
    logdir = tmp_path_factory.mktemp("live_app")
    log = logdir / "app.log"
    env = {**os.environ, **LIVE_LIMITS,
           "PLAYGROUND_CHECKPOINT_DIR": str(tiny_ckpt_dir),
           "PLAYGROUND_SAVE_TRAINED": "0",
           "GRADIO_ANALYTICS_ENABLED": "False",
           # One torch thread: on the shared, oversubscribed 2-core CI machine a 2-thread forward of the tiny
           # UNet measured ~0.6 s (OpenMP threads waiting for busy cores) against ~6 ms with one thread.
           "OMP_NUM_THREADS": "1",
           "GRADIO_TEMP_DIR": str(logdir / "gradio-tmp"),
           "PYTHONUNBUFFERED": "1"}
    env.pop("SPACE_ID", None)
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    app = LiveApp(url, proc, log, tiny_ckpt_dir, env)
    try:
        deadline = time.time() + 180  # cold imports on a busy 2-core machine
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with code {proc.returncode}:\n{app.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "config", timeout=3) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"app.py did not answer at {url} within 180 s:\n{app.log_text()[-3000:]}")
            time.sleep(0.5)
        yield app
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def client(live_app):
    """A gradio_client.Client connected to the live app (quiet, no network beyond localhost)."""
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


@dataclass(frozen=True)
class GaussianTeacher:
    """A v-MLP trained on the single Gaussian, with its schedule and data (the distillation tests' teacher)."""

    s: object
    data: torch.Tensor
    teacher: torch.nn.Module
    rng_state: torch.Tensor  # the global RNG right after training: a test restores it to run as if it had trained

    def draw(self, seed: int = 1):
        """draw(B) → (x_0, ()): B data points, drawn with their own seeded generator."""
        g = torch.Generator().manual_seed(seed)
        return lambda b: (self.data[torch.randint(0, self.data.shape[0], (b,), generator=g)], ())


@pytest.fixture(scope="session")
def gaussian_v_teacher() -> GaussianTeacher:
    """Trained once per session (300 steps, cosine T = 1000); distillation copies it, so the tests can share it."""
    from playground.schedules import make_schedule
    from playground.toy2d.data import make_dataset
    from playground.toy2d.mlp import MLPConfig, TrainConfig2D, train_denoiser

    torch.manual_seed(0)
    s = make_schedule("cosine", 1000)
    data = make_dataset("gaussian", 2000, seed=0)
    _, trainer = train_denoiser(data, s, TrainConfig2D(steps=300, time_budget_s=None, seed=0, batch_size=256),
                                MLPConfig(prediction_type="v"))
    return GaussianTeacher(s, data, trainer.ema.eval(), torch.get_rng_state())
