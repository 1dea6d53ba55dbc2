"""Progressive distillation (Salimans & Ho 2022, arXiv:2202.00512, Alg. 2): a student that takes ONE deterministic
DDIM step where its teacher takes TWO, so each round halves the steps (2N teacher steps → N student steps).

Notation (code name → paper symbol; this app's discrete VP time, t = −1 is clean with ᾱ = 1):

    t, t_mid, t_next   a student step goes t → t_next; the teacher's two steps go t → t_mid → t_next
    alpha, sigma       α_t = √ᾱ_t, σ_t = √(1−ᾱ_t)
    z_t                α_t·x_0 + σ_t·ε, a noised training digit (or 2-D point)
    x_tilde            x̃: the clean estimate that makes ONE student DDIM step land where the teacher's two did,
                       x̃ = (z_next − (σ_next/σ_t)·z_t) / (α_next − (σ_next/σ_t)·α_t)   (Alg. 2, line 9)
    weight             "truncated SNR" weighting of the x-space loss, max(ᾱ/(1−ᾱ), 1)   (§4)
    n                  the student's number of steps, on the trailing grid (samplers.make_timesteps)

The student is the teacher's network (same parameterisation: use v or x0, not ε, since a one-step ε student
divides its error by √ᾱ_{T−1}, Salimans & Ho §4), initialised from the teacher's weights. Any network works:
it is called as ``net(x_t, t, *cond)`` with t a (B,) long tensor, as the MNIST UNet and the 2-D MLP are.
Sampling the student is plain deterministic DDIM on its own n-step grid (:func:`student_timesteps`).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn

from .diffusion import normalize_prediction_type
from .paths import to_x0_eps
from .samplers import make_timesteps, sample
from .schedules import NoiseSchedule

Net = Callable[..., torch.Tensor]
Draw = Callable[[int], tuple[torch.Tensor, tuple]]  # batch size → (x_0, cond args passed to both networks)


def student_timesteps(T: int, n: int) -> list[tuple[int, int]]:
    """The student's n (t, t_next) pairs: the trailing grid, which starts at t = T−1 (pure noise)."""
    return make_timesteps(T, n, "trailing")


def teacher_timesteps(T: int, n: int) -> list[tuple[int, int, int]]:
    """(t, t_mid, t_next) per student step: the teacher's 2n-step trailing grid, whose even points are the
    student's grid (the two grids come from one formula, so they agree exactly; checked)."""
    fine = [t for t, _ in make_timesteps(T, 2 * n, "trailing")] + [-1]
    coarse = [t for t, _ in student_timesteps(T, n)] + [-1]
    if fine[::2] != coarse:
        raise ValueError(f"the {2 * n}-step grid does not refine the {n}-step grid at T = {T}")
    return [(fine[2 * k], fine[2 * k + 1], fine[2 * k + 2]) for k in range(n)]


def _scales(s: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """α_t, σ_t per sample, shaped to broadcast against ``like``; t = −1 gives (1, 0)."""
    ab = torch.cat([s.alpha_bar.to(like.device, torch.float64), torch.ones(1, dtype=torch.float64,
                                                                             device=like.device)])[t]
    shape = (-1,) + (1,) * (like.dim() - 1)
    return ab.sqrt().to(like.dtype).view(shape), (1 - ab).clamp_min(0).sqrt().to(like.dtype).view(shape)


def ddim_step_batched(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor,
                      output: torch.Tensor, prediction_type: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic DDIM (η = 0) with a timestep per sample: (x_{t_next}, x̂_0). The same step as
    samplers.ddim_step, which takes one t for the whole batch (tests/test_distill.py checks they agree)."""
    a, sg = _scales(s, t, x_t)
    a_next, sg_next = _scales(s, t_next, x_t)
    x0, eps = to_x0_eps(output, x_t, prediction_type, a, sg)
    return a_next * x0 + sg_next * eps, x0


def distill_target(teacher: Net, s: NoiseSchedule, z_t: torch.Tensor, t: torch.Tensor, t_mid: torch.Tensor,
                   t_next: torch.Tensor, prediction_type: str, cond: tuple = ()) -> torch.Tensor:
    """x̃ of Alg. 2: two teacher DDIM steps z_t → z_mid → z_next, then the x̂_0 a single step must predict."""
    with torch.no_grad():
        z_mid, _ = ddim_step_batched(s, z_t, t, t_mid, teacher(z_t, t, *cond), prediction_type)
        z_next, _ = ddim_step_batched(s, z_mid, t_mid, t_next, teacher(z_mid, t_mid, *cond), prediction_type)
        a, sg = _scales(s, t, z_t)
        a_next, sg_next = _scales(s, t_next, z_t)
        ratio = sg_next / sg
        return (z_next - ratio * z_t) / (a_next - ratio * a)


def truncated_snr_weight(s: NoiseSchedule, t: torch.Tensor) -> torch.Tensor:
    """max(SNR(t), 1) per sample (Salimans & Ho §4): x-space MSE weighted so high noise still counts."""
    ab = s.alpha_bar.to(t.device, torch.float64)[t]
    return (ab / (1 - ab)).clamp_min(1.0).float()


@dataclass
class DistillConfig:
    """One round of progressive distillation: the student learns n steps from a teacher taking 2n."""

    n: int = 1  # the student's steps
    steps: int = 2000  # optimiser steps
    batch: int = 256
    lr: float = 1e-4  # Adam, as the paper (1e-4 to 2e-4); no warmup: the student starts at the teacher
    ema: float = 0.0  # EMA of the student's weights (0: none)
    time_budget_s: float | None = None  # stop early, still returning the student
    seed: int = 0


@dataclass(frozen=True)
class DistillEvent:
    """Progress of a round: the step, the running loss, the wall time; ``student`` is the network so far."""

    step: int
    steps: int
    loss: float
    elapsed_s: float
    student: nn.Module
    done: bool = False


class RoundTracker:
    """The tail of every distillation loop (progressive and consistency): the running loss, the time budget and
    Stop, and the DistillEvent to yield after a step, if any."""

    def __init__(self, steps: int, time_budget_s: float | None, stop: Callable[[], bool] | None, log_every: int):
        self.steps, self.budget, self.stop, self.log_every = int(steps), time_budget_s, stop, log_every
        self.t0, self.run = time.perf_counter(), None

    def after(self, step: int, loss: torch.Tensor, net: nn.Module) -> DistillEvent | None:
        """The event after optimiser step ``step`` with this loss: the last one (done, ``net`` in eval mode) when
        the steps, the budget or Stop say so, one every ``log_every`` steps, else None."""
        v = float(loss.detach())
        self.run = v if self.run is None else 0.98 * self.run + 0.02 * v
        elapsed = time.perf_counter() - self.t0
        over = (self.budget is not None and elapsed > self.budget) or (self.stop is not None and self.stop())
        if over or step == self.steps:
            return DistillEvent(step, self.steps, self.run, elapsed, net.eval(), done=True)
        if step % self.log_every == 0:
            return DistillEvent(step, self.steps, self.run, elapsed, net)
        return None


def distill_round(teacher: nn.Module, s: NoiseSchedule, draw: Draw, cfg: DistillConfig,
                  prediction_type: str = "v", student: nn.Module | None = None,
                  stop: Callable[[], bool] | None = None, log_every: int = 50) -> Iterator[DistillEvent]:
    """Train a student (a copy of ``teacher`` unless given) to take ``cfg.n`` steps where the teacher takes 2n.

    ``draw(B)`` returns (x_0, cond): a batch of data and the extra arguments of both networks (labels, or ()).
    Yields a DistillEvent every ``log_every`` steps and a final one with ``done=True``."""
    pred = normalize_prediction_type(prediction_type)
    if pred == "eps":
        raise ValueError("distil a v or x0 model: a one-step ε student divides its error by √ᾱ_{T−1}")
    student = copy.deepcopy(teacher) if student is None else student
    student.train().requires_grad_(True)  # a teacher's EMA copy comes without gradients
    teacher.eval()
    ema = copy.deepcopy(student).eval() if cfg.ema > 0 else None
    grid = torch.tensor(teacher_timesteps(s.T, int(cfg.n)), dtype=torch.long)  # (n, 3)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(int(cfg.seed))
    tracker = RoundTracker(cfg.steps, cfg.time_budget_s, stop, log_every)
    for step in range(1, int(cfg.steps) + 1):
        x0, cond = draw(cfg.batch)
        k = torch.randint(0, grid.shape[0], (x0.shape[0],), generator=g)
        t, t_mid, t_next = (grid[k, j].to(x0.device) for j in range(3))
        eps = torch.randn(x0.shape, generator=g).to(x0)
        a, sg = _scales(s, t, x0)
        z_t = a * x0 + sg * eps
        x_tilde = distill_target(teacher, s, z_t, t, t_mid, t_next, pred, cond)
        x0_hat, _ = to_x0_eps(student(z_t, t, *cond), z_t, pred, a, sg)
        per = ((x0_hat - x_tilde) ** 2).flatten(1).mean(1)
        loss = (truncated_snr_weight(s, t).to(per) * per).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for pe, ps in zip(ema.parameters(), student.parameters()):
                    pe.lerp_(ps, 1 - cfg.ema)
        if (event := tracker.after(step, loss, ema or student)) is not None:
            yield event
            if event.done:
                return


def student_sample(net: Net, s: NoiseSchedule, x_T: torch.Tensor, n: int, prediction_type: str = "v",
                   cond: tuple = ()) -> torch.Tensor:
    """A student's (or any model's) n-step deterministic DDIM sample from x_T on the trailing grid."""
    with torch.inference_mode():
        return sample(lambda x, t: net(x, t, *cond), s, tuple(x_T.shape), sampler="ddim", eta=0.0,
                      prediction_type=prediction_type, timesteps=student_timesteps(s.T, n), x_T=x_T,
                      noises=lambda i: torch.zeros_like(x_T))


def distill_rounds(teacher: nn.Module, s: NoiseSchedule, draw: Draw, start_n: int, cfg: DistillConfig,
                   prediction_type: str = "v", stop: Callable[[], bool] | None = None,
                   log_every: int = 50) -> Iterator[tuple[int, DistillEvent]]:
    """Rounds n = start_n, start_n/2, …, 1: each student becomes the next round's teacher. Yields (n, event)."""
    n = int(start_n)
    if n < 1 or n & (n - 1):
        raise ValueError(f"the first student's steps must be a power of two, got {start_n}")
    while n >= 1:
        last = None
        for ev in distill_round(teacher, s, draw, DistillConfig(**{**cfg.__dict__, "n": n}), prediction_type,
                                stop=stop, log_every=log_every):
            last = ev
            yield n, ev
        teacher = last.student
        if stop is not None and stop():
            return
        n //= 2
