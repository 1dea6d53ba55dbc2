"""Consistency distillation (Song et al. 2023, arXiv:2303.01469, Alg. 2 and Alg. 1): a student f_θ(x_t, t) that
maps every point of a teacher's probability-flow ODE path to the path's start, so one evaluation samples and a
few more (re-noise, map again) refine.

Notation (code name → paper symbol; this app's discrete VP time, t = −1 is clean with ᾱ = 1, as in distill.py):

    grid           t_N > … > t_1 > t_0 = −1: the n-step trailing grid of samplers.make_timesteps plus −1
    f(net, x, t)   f_θ(x, t) = x̂_0 of the network's output (x̂_0 = α_t·x − σ_t·v for a v-net): the VP form of
                   c_skip(t)·x + c_out(t)·F_θ, which gives f(x, −1) = x exactly (the boundary condition)
    x_hat          x̂_{t_n}: ONE deterministic DDIM step of the teacher from x_{t_{n+1}} (the ODE solver Φ)
    target         θ⁻, an EMA of θ with decay μ; the loss is ‖f_θ(x_{t_{n+1}}, t_{n+1}) − f_θ⁻(x̂_{t_n}, t_n)‖²
    sample         Alg. 1 (multistep consistency sampling): x̂ = f(x_T, T−1); then for each later τ,
                   x_τ = α_τ·x̂ + σ_τ·z with fresh z, x̂ = f(x_τ, τ). One model serves 1, 2, 4 … steps.

Same calling convention as distill.py: ``net(x_t, t, *cond)`` with t a (B,) long tensor; a v or x0 network.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn

from .diffusion import normalize_prediction_type
from .distill import DistillEvent, Draw, Net, RoundTracker, _scales, ddim_step_batched, student_timesteps
from .paths import to_x0_eps
from .schedules import NoiseSchedule


def grid(T: int, n: int) -> torch.Tensor:
    """t_N, …, t_1, t_0 = −1 as a (n + 1,) long tensor: the n-step trailing grid and the clean end."""
    return torch.tensor([t for t, _ in student_timesteps(T, n)] + [-1], dtype=torch.long)


def f(net: Net, s: NoiseSchedule, x: torch.Tensor, t: torch.Tensor, prediction_type: str,
      cond: tuple = ()) -> torch.Tensor:
    """f_θ(x, t): the network's x̂_0 where t ≥ 0, and x itself where t = −1 (the boundary condition)."""
    a, sg = _scales(s, t, x)
    clean = (t < 0).view((-1,) + (1,) * (x.dim() - 1))
    x0, _ = to_x0_eps(net(x, t.clamp_min(0), *cond), x, prediction_type, a, sg.clamp_min(1e-12))
    return torch.where(clean, x, x0)


@dataclass
class ConsistencyConfig:
    """Consistency distillation on an N-interval grid of the teacher's ODE."""

    N: int = 32  # grid intervals: the teacher's ODE step spans T/N discrete times
    steps: int = 2000  # optimiser steps
    batch: int = 512
    lr: float = 1e-3
    mu: float = 0.95  # EMA decay of the target network θ⁻ (Song et al.'s CD on CIFAR-10: 0.95)
    time_budget_s: float | None = None
    seed: int = 0


def consistency_distill(teacher: nn.Module, s: NoiseSchedule, draw: Draw, cfg: ConsistencyConfig,
                        prediction_type: str = "v", stop: Callable[[], bool] | None = None,
                        log_every: int = 50) -> Iterator[DistillEvent]:
    """Train f_θ (initialised from the teacher) by Alg. 2; yields DistillEvents, the last with ``done=True``,
    whose ``student`` is the target network θ⁻ (the one Song et al. sample with)."""
    pred = normalize_prediction_type(prediction_type)
    if pred == "eps":
        raise ValueError("distil a v or x0 model: f_θ's x̂_0 from ε divides the error by √ᾱ_{T−1}")
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    target = copy.deepcopy(teacher).eval().requires_grad_(False)
    teacher.eval()
    ts = grid(s.T, int(cfg.N))
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(int(cfg.seed))
    tracker = RoundTracker(cfg.steps, cfg.time_budget_s, stop, log_every)
    for step in range(1, int(cfg.steps) + 1):
        x0, cond = draw(cfg.batch)
        k = torch.randint(0, int(cfg.N), (x0.shape[0],), generator=g)
        t, t_next = ts[k].to(x0.device), ts[k + 1].to(x0.device)  # t_{n+1} > t_n
        a, sg = _scales(s, t, x0)
        x_t = a * x0 + sg * torch.randn(x0.shape, generator=g).to(x0)
        with torch.no_grad():
            x_hat, _ = ddim_step_batched(s, x_t, t, t_next, teacher(x_t, t, *cond), pred)
            y = f(target, s, x_hat, t_next, pred, cond)
        loss = (f(student, s, x_t, t, pred, cond) - y).pow(2).flatten(1).mean(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pt, ps in zip(target.parameters(), student.parameters()):
                pt.lerp_(ps, 1 - cfg.mu)
        if (event := tracker.after(step, loss, target)) is not None:
            yield event
            if event.done:
                return


def consistency_sample(net: Net, s: NoiseSchedule, x_T: torch.Tensor, n: int, prediction_type: str = "v",
                       cond: tuple = (), generator: torch.Generator | None = None) -> torch.Tensor:
    """Alg. 1 with n evaluations on the n-step trailing grid: map x_T to x̂, then re-noise to each later time and
    map again. Deterministic for n = 1; for n > 1 the fresh noise comes from ``generator``."""
    pred = normalize_prediction_type(prediction_type)
    ts = grid(s.T, int(n))[:-1]
    with torch.inference_mode():
        x = x_T
        for i, t in enumerate(ts.tolist()):
            tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            if i:
                a, sg = _scales(s, tt, x)
                x = a * x + sg * torch.randn(x.shape, generator=generator).to(x)
            x = f(net, s, x, tt, pred, cond)
        return x
