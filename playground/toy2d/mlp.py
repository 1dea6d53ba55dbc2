"""The small MLP denoiser of the 2-D lab and its trainer (the project's training_loss, EMA, the same schedules).

Part of playground.toy2d (see its docstring for the notation and the papers).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn

from ..diffusion import normalize_prediction_type, training_loss
from ..flow import flow_inputs, flow_loss, sample_t
from ..mnist.model import timestep_embedding
from ..runtime.device import pick_device
from ..schedules import NoiseSchedule
from .data import as_count, as_finite, as_points, seeded_generator
from .exact import Denoiser, model_denoiser

# --- 4. the MLP denoiser and its trainer -----------------------------------------------------------


@dataclass(frozen=True)
class MLPConfig:
    """The 2-D denoiser: 21k parameters with the defaults.

    Measured (bench/bench_toy2d.py history): per CPU second of training, width 64 × 4 layers reached the data
    faster than 96 or 128 (it takes twice the steps per second), and it halves the sampling cost per step."""

    hidden: int = 64  # width of every layer
    depth: int = 4  # residual layers h ← h + Linear(SiLU(h))
    time_dim: int = 64  # sinusoidal embedding of t (model.timestep_embedding), scaled to a 1000-step clock
    T: int = 1000  # the schedule's T: t is fed as 1000·t/T so the embedding means the same for any T
    # What the output means: 'eps', 'x0' or 'v'. v by default: with ε-prediction, x̂_0 = (x − √(1−ᾱ)·ε̂)/√ᾱ
    # multiplies the network's error by 1/√ᾱ_{T−1}, 13,000 for the cosine schedule (β clipped at 0.999), and
    # DDIM / DDPM samples of an ε-model trained for seconds blow up there; v stays finite (measured:
    # bench/bench_toy2d.py). ε works with the linear schedule (1/√ᾱ_{T−1} = 160).
    # 'u' (alias 'flow'): flow matching, the velocity ε − x_0 on the straight path, t ∈ [0, 1] fed as 1000·t.
    prediction_type: str = "v"


class ScoreMLP(nn.Module):
    """x_t (B, 2), t (B,) → ε̂ (or x̂_0, v̂) (B, 2): h = W·x + E·emb(t), then residual layers, then 2 outputs.

    Chosen by measurement (bench/bench_toy2d.py): per CPU second, single-Linear residual layers with the
    time embedding added once learn the toy sets faster than two-Linear blocks with per-block time inputs.
    """

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        self.config = config
        H = config.hidden
        self.inp = nn.Linear(2, H)
        self.temb = nn.Linear(config.time_dim, H)
        self.layers = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(H, H)) for _ in range(config.depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(H, 2))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device).reshape(-1)
        if t.numel() > 1 and bool((t == t[0]).all()):
            t = t[:1]  # one t for the whole batch (every sampler step): embed it once and broadcast
        emb = timestep_embedding(t.float() * (1000.0 / self.config.T), self.config.time_dim)  # (B or 1, time_dim)
        h = self.inp(x_t) + self.temb(emb)  # (B, H)
        for layer in self.layers:
            h = h + layer(h)
        return self.out(h)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class TrainConfig2D:
    """Training recipe: AdamW, cosine learning rate over the run, EMA of the weights for sampling."""

    steps: int = 3000  # upper bound on steps; the time budget may end the run first
    time_budget_s: float | None = 15.0  # wall-clock cap; the learning rate anneals over whichever ends first
    batch_size: int = 512
    lr: float = 1e-2
    weight_decay: float = 0.0
    ema_decay: float = 0.995  # θ_ema ← d·θ_ema + (1−d)·θ, d ramped as min(decay, (1+n)/(10+n))
    seed: int = 0
    t_sampling: str = "uniform"  # flow matching only: 'uniform' or 'logit_normal' (flow.sample_t)


@dataclass(frozen=True)
class TrainEvent:
    step: int
    loss: float  # this batch
    loss_avg: float  # running mean of the last 100 batches
    elapsed_s: float
    done: bool


class Toy2DTrainer:
    """Trains a ScoreMLP on 2-D points with the project's training_loss; `run()` streams TrainEvents.

    Usable at any moment: `denoiser()` wraps the EMA weights. Randomness: one torch.Generator (seed), on the CPU,
    so a seed gives the same batches on every device. `device` defaults to playground.runtime.device.pick_device()
    (CUDA, then MPS, then CPU); the 2-D lab passes "cpu": at this size a GPU spends its time launching kernels.
    """

    def __init__(self, x0, s: NoiseSchedule, cfg: TrainConfig2D = TrainConfig2D(),
                 model_cfg: MLPConfig | None = None, device: torch.device | str | None = None,
                 noise: torch.Tensor | None = None, init: nn.Module | None = None):
        """noise: (N, 2) coupled with x0 row by row (reflow: the straight line from noise[i] to x0[i] is the
        path); None = fresh ε every batch. init: start from these weights (a warm start) instead of a seeded init."""
        self.x0 = as_points(x0, "data points", dtype=torch.float32)
        if self.x0.shape[0] < 2:
            raise ValueError("training needs at least 2 data points")
        self.s, self.cfg = s, cfg
        self.model_cfg = model_cfg or MLPConfig(T=s.T)
        if self.model_cfg.T != s.T:
            raise ValueError(f"the model's T ({self.model_cfg.T}) differs from the schedule's T ({s.T})")
        self.flow = normalize_prediction_type(self.model_cfg.prediction_type) == "u"
        if not self.flow and cfg.t_sampling != "uniform":
            raise ValueError(f"t_sampling {cfg.t_sampling!r} is for flow matching; diffusion draws uniform timesteps")
        if noise is not None and (not self.flow or as_points(noise, "noise").shape != self.x0.shape):
            raise ValueError("coupled noise needs a flow model ('u') and one noise point per data point")
        self.device = torch.device(device) if device is not None else pick_device()  # CUDA → MPS → CPU
        self.gen = seeded_generator(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # nn.Linear's init draws from the global RNG: pin it, then restore
            self.model = ScoreMLP(self.model_cfg)
        if init is not None:
            self.model.load_state_dict(init.state_dict())
        self.model.to(self.device)
        self.ema = ScoreMLP(self.model_cfg).to(self.device).requires_grad_(False)
        self.ema.load_state_dict(self.model.state_dict())  # (a warm start's EMA starts from its weights)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.elapsed_s = 0.0
        self.losses: list[float] = []
        self._x0_dev = self.x0.to(self.device)
        self._noise_dev = None if noise is None else as_points(noise, "noise", dtype=torch.float32).to(self.device)
        self._alpha_bar = s.alpha_bar.to(torch.float32).to(self.device)  # ᾱ_t for q_sample

    def _lr(self, progress: float) -> float:
        warm = min(1.0, (self.step + 1) / 50)
        return self.cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A fresh batch (x_0, ε, x_t, t the model is told); flow: t ∈ [0, 1) and ε the coupled noise if given."""
        B, N = self.cfg.batch_size, self.x0.shape[0]
        idx = torch.randint(0, N, (B,), generator=self.gen)
        if self.flow:
            t = sample_t(B, self.cfg.t_sampling, generator=self.gen)
        else:
            t = torch.randint(0, self.s.T, (B,), generator=self.gen)
        eps = torch.randn(B, 2, generator=self.gen)
        x0, t, eps = self._x0_dev[idx.to(self.device)], t.to(self.device), eps.to(self.device)
        if self._noise_dev is not None:
            eps = self._noise_dev[idx.to(self.device)]  # the pair's own noise (drawn above all the same: one stream)
        if self.flow:
            x_t, t_net = flow_inputs(x0, eps, t)
            return x0, eps, x_t, t_net
        ab = self._alpha_bar[t][:, None]  # (B, 1)
        return x0, eps, ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t  # q_sample, DDPM Eq. 4

    def train_step(self, progress: float = 0.0) -> float:
        """One AdamW step on a fresh batch (x_0, t, ε); returns the batch loss."""
        x0, eps, x_t, t = self._batch()
        for group in self.opt.param_groups:
            group["lr"] = self._lr(progress)
        out = self.model(x_t, t)
        if self.flow:
            loss = flow_loss(out, x0, eps).mean()
        else:
            loss = training_loss(self.s, out, x0, eps, t, self.model_cfg.prediction_type).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        d = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), [p.detach() for p in self.model.parameters()], 1 - d)
        self.step += 1
        return float(loss.detach())

    def run(self, steps: int | None = None, time_budget_s: float | None = None, log_every: int = 25,
            should_stop: Callable[[], bool] | None = None) -> Iterator[TrainEvent]:
        """Train until `steps` (default cfg.steps) or `time_budget_s` (default cfg's), yielding an event
        every `log_every` steps and a final one with done=True. `should_stop()` ends the run early."""
        steps = as_count(self.cfg.steps if steps is None else steps, "training steps", 1, 1_000_000)
        budget = self.cfg.time_budget_s if time_budget_s is None else time_budget_s
        if budget is not None and not as_finite(budget, "time budget") > 0:
            raise ValueError(f"the time budget must be positive, got {budget}")
        start, start_step = time.perf_counter(), self.step
        window: list[float] = []
        self.model.train()
        while True:
            done_steps = self.step - start_step
            el = time.perf_counter() - start
            progress = max(done_steps / steps, el / budget if budget else 0.0)
            if done_steps >= steps or (budget is not None and el >= budget) or (should_stop and should_stop()):
                break
            loss = self.train_step(progress)
            self.losses.append(loss)
            window = (window + [loss])[-100:]
            if self.step % log_every == 0:
                yield TrainEvent(self.step, loss, sum(window) / len(window), self.elapsed_s + el, False)
        self.elapsed_s += time.perf_counter() - start
        last = self.losses[-1] if self.losses else float("nan")
        avg = sum(window) / len(window) if window else float("nan")
        yield TrainEvent(self.step, last, avg, self.elapsed_s, True)

    def denoiser(self) -> Denoiser:
        """The EMA model as a score source (a flow model: asked on the straight path with the same SNR)."""
        if self.flow:
            from .flow2d import flow_denoiser  # flow2d builds on this module

            return flow_denoiser(self.ema, self.s)
        return model_denoiser(self.ema, self.model_cfg.prediction_type)


def train_denoiser(x0, s: NoiseSchedule, cfg: TrainConfig2D = TrainConfig2D(), model_cfg: MLPConfig | None = None,
                   device=None) -> tuple[Denoiser, Toy2DTrainer]:
    """Train to the end (steps or time budget) and return (the EMA denoiser, the trainer with its losses)."""
    trainer = Toy2DTrainer(x0, s, cfg, model_cfg, device)
    for _ in trainer.run():
        pass
    return trainer.denoiser(), trainer
