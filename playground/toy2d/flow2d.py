"""Flow matching in the 2-D lab: the exact marginal velocity, the flow ODE, straightness, and reflow.

Part of playground.toy2d (see its docstring); the flow conventions are those of playground/paths.py and flow.py:
x_t = (1 − t)·x_0 + t·ε, t = 0 data, t = 1 noise, dx/dt = u, sampled from t = 1 down to 0.

    u*(x, t)     the exact marginal velocity of the empirical data: E[ε − x_0 | x_t = x] = (x − E[x_0 | x_t = x])/t,
                 with E[x_0 | x_t] the softmax-weighted denoiser of exact.py, read on the VP path through
                 x_vp = x/√((1 − t)² + t²), ᾱ = (1 − t)²/((1 − t)² + t²)  (paths.vp_equivalent)
    VelocityFn   u(x (M, 2), t float) → (M, 2): the exact field, the Gaussian closed form, or a trained MLP
    reflow       Liu et al. (arXiv:2209.03003, §2.3): pair each noise x_1 with the endpoint x_0 = ODE(u_θ, x_1) the
                 trained flow gives it, retrain on the straight lines between the pairs (a warm start), repeat
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
import torch.nn as nn

from ..flow import length_ratio, straightness
from ..paths import FLOW_CLOCK, LINEAR, to_linear, vp_equivalent
from ..schedules import FLOW_SCHEDULE, NoiseSchedule, make_schedule
from .data import as_count, as_points, seeded_generator
from .distance import energy_distance
from .exact import Denoiser, _per_t, exact_quantities
from .mlp import MLPConfig, Toy2DTrainer, TrainConfig2D

VelocityFn = Callable[[torch.Tensor, float], torch.Tensor]

__all__ = ["VelocityFn", "exact_velocity", "exact_velocity_fn", "gaussian_velocity_fn", "model_velocity_fn",
           "flow_denoiser", "FlowPath", "flow_ode", "few_step_samples", "train_flow", "reflow_pairs",
           "ReflowRound", "reflow"]


def _check_t(t: float) -> float:
    t = float(t)
    if not 0.0 < t <= 1.0:
        raise ValueError(f"the velocity (x − E[x_0|x_t])/t needs 0 < t ≤ 1, got {t}")
    return t


def exact_velocity(x0, x, t: float) -> torch.Tensor:
    """u*(x, t) = (x − E[x_0 | x_t = x]) / t for the empirical data x0 (N, 2), at points x (M, 2), 0 < t ≤ 1."""
    t = _check_t(t)
    x = as_points(x, "x_t")
    ab, r = vp_equivalent(*LINEAR.scales(t))
    x0_hat = exact_quantities(x0, x / r, ab).x0_hat
    return (x - x0_hat) / t


def exact_velocity_fn(x0) -> VelocityFn:
    """The exact marginal velocity of the N points x0 (N, 2) as a VelocityFn."""
    x0 = as_points(x0, "data points")
    return lambda x, t: exact_velocity(x0, x, t)


def gaussian_velocity_fn(mu, cov) -> VelocityFn:
    """u* for data N(μ, Σ): E[x_0|x_t] = μ + (1−t)·Σ·C⁻¹·(x − (1−t)·μ), C = (1−t)²·Σ + t²·I (Gaussian conditioning)."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    cov = torch.as_tensor(cov, dtype=torch.float64)

    def fn(x: torch.Tensor, t: float) -> torch.Tensor:
        t = _check_t(t)
        C = (1 - t) ** 2 * cov + t**2 * torch.eye(2, dtype=torch.float64)
        K = (1 - t) * cov @ torch.linalg.inv(C)
        x0_hat = mu.to(x) + (x - (1 - t) * mu.to(x)) @ K.T.to(x)
        return (x - x0_hat) / t

    return fn


def model_velocity_fn(model: nn.Module) -> VelocityFn:
    """A flow-matching ScoreMLP (prediction type 'u') as a VelocityFn: model(x, 1000·t); eval mode, no gradients."""
    model = model.eval()
    dev = next(model.parameters()).device

    def fn(x: torch.Tensor, t: float) -> torch.Tensor:
        with torch.inference_mode():
            tt = torch.full((x.shape[0],), FLOW_CLOCK * float(t), device=dev)
            return model(x.to(dev, torch.float32), tt).to(x)

    return fn


def flow_denoiser(model: nn.Module, s: NoiseSchedule) -> Denoiser:
    """A flow MLP as a score source of the VP particle samplers (DDPM, DDIM, DPM++, PF-ODE, …) on schedule s.

    At the sampler's x_t and t it is asked at the straight path with the same SNR (paths.to_linear), so its û
    is read with prediction type 'u'. Real-valued t between grid steps are fine (ᾱ from exact.alpha_bar_at)."""
    u = model_velocity_fn(model)

    def at(x: torch.Tensor, ab: float) -> torch.Tensor:
        tau, c = to_linear(ab)
        return u(x / c, tau)

    return Denoiser(_per_t(at, s), "u", "learned flow")


@dataclass(frozen=True)
class FlowPath:
    """A flow-ODE trajectory: xs[0] = x_1 (t = 1), xs[-1] the samples (t = 0), at the times ts."""

    xs: torch.Tensor  # (n+1, M, 2)
    ts: tuple[float, ...]  # (n+1,) from 1 to 0
    nfe: int

    @property
    def samples(self) -> torch.Tensor:
        return self.xs[-1]

    def length_ratio(self) -> float:
        """Mean path length ÷ endpoint distance (1 = straight)."""
        return float(length_ratio(self.xs).mean())

    def straightness(self) -> float:
        """Liu et al.'s straightness of this path (0 = straight at constant speed)."""
        return straightness(self.xs, self.ts)


def flow_ode(u: VelocityFn, x1, num_steps: int, solver: str = "euler") -> FlowPath:
    """Integrate dx/dt = u(x, t) from t = 1 to 0 on a uniform grid: Euler, or Heun (EDM Alg. 1, no correction
    on the last step; NFE = 2n − 1)."""
    if solver not in ("euler", "heun"):
        raise ValueError(f"unknown flow solver {solver!r}; choose euler or heun")
    n = as_count(num_steps, "number of steps", 1, 10_000)
    x = as_points(x1, "x_1")
    ts = [1.0 - i / n for i in range(n + 1)]
    xs, nfe = [x], 0
    for t, t_next in zip(ts, ts[1:]):
        d = u(x, t)
        x_next = x + (t_next - t) * d
        nfe += 1
        if solver == "heun" and t_next > 0:
            x_next = x + (t_next - t) * 0.5 * (d + u(x_next, t_next))
            nfe += 1
        x = x_next
        xs.append(x)
    return FlowPath(torch.stack(xs).float().cpu(), tuple(ts), nfe)


def few_step_samples(u: VelocityFn, x1, steps: Sequence[int] = (1, 2, 4)) -> dict[int, torch.Tensor]:
    """Euler samples with 1, 2, 4 (…) steps from the same x_1: {steps: (M, 2)}."""
    return {int(k): flow_ode(u, x1, int(k)).samples for k in steps}


def train_flow(x0, cfg: TrainConfig2D | None = None, model_cfg: MLPConfig | None = None, *,
               noise: torch.Tensor | None = None, init: nn.Module | None = None, device="cpu") -> Toy2DTrainer:
    """Train a flow-matching MLP on x0 (N, 2) to the end (cfg's steps or time budget); returns the trainer.

    noise: (N, 2) coupled to x0 row by row (reflow); init: warm-start weights."""
    model_cfg = model_cfg or MLPConfig(prediction_type="u")
    s = make_schedule(FLOW_SCHEDULE, model_cfg.T)
    trainer = Toy2DTrainer(x0, s, cfg or TrainConfig2D(), model_cfg, device, noise=noise, init=init)
    for _ in trainer.run():
        pass
    return trainer


def reflow_pairs(u: VelocityFn, n: int, seed: int, num_steps: int = 100,
                 solver: str = "heun") -> tuple[torch.Tensor, torch.Tensor]:
    """(x_0, x_1): n noise points x_1 ~ N(0, I) from `seed` and the endpoints the flow u carries them to.

    Deterministic: the same u and seed give the same pairs (the ODE adds no noise)."""
    x1 = torch.randn(as_count(n, "number of pairs", 2, 100_000), 2, generator=seeded_generator(seed))
    return flow_ode(u, x1, num_steps, solver).samples, x1


@dataclass(frozen=True)
class ReflowRound:
    """One round: 0 = the flow trained on the data, k = after k reflows. Numbers from the same test noise."""

    round: int
    energy: dict[int, float]  # Euler steps → energy distance of those samples to the data
    samples: dict[int, torch.Tensor] = field(repr=False)  # Euler steps → (M, 2)
    straightness: float  # Liu et al.'s, on a 16-step Euler path
    length_ratio: float  # on the same path
    train_s: float  # wall time of this round's training (pairs included)
    model: nn.Module = field(repr=False)


def _round(k: int, trainer: Toy2DTrainer, data: torch.Tensor, x1_test: torch.Tensor, steps, train_s) -> ReflowRound:
    u = model_velocity_fn(trainer.ema)
    samples = few_step_samples(u, x1_test, steps)
    path = flow_ode(u, x1_test, 16)
    return ReflowRound(k, {n: energy_distance(x, data) for n, x in samples.items()}, samples, path.straightness(),
                       path.length_ratio(), train_s, copy.deepcopy(trainer.ema))


def reflow(x0, rounds: int = 1, cfg: TrainConfig2D | None = None, *, n_pairs: int | None = None,
           pair_steps: int = 100, steps: Sequence[int] = (1, 2, 4), n_test: int = 1000, seed: int = 0,
           model_cfg: MLPConfig | None = None) -> Iterator[ReflowRound]:
    """Train flow matching on x0 (N, 2), then `rounds` reflows; yields a ReflowRound after each (round 0 first).

    Each reflow draws n_pairs (default N) noise points from seed + k, pairs them with the current flow's
    endpoints (Heun, `pair_steps`), and trains a warm-started copy on the straight lines between the pairs.
    The 1-, 2-, 4-step samples of every round start from the same test noise (seed + 10⁶)."""
    data = as_points(x0, "data points", dtype=torch.float32)
    x1_test = torch.randn(as_count(n_test, "test points", 2, 100_000), 2, generator=seeded_generator(seed + 10**6))
    start = time.perf_counter()
    trainer = train_flow(data, cfg, model_cfg)
    yield _round(0, trainer, data, x1_test, steps, time.perf_counter() - start)
    for k in range(1, as_count(rounds, "reflow rounds", 0, 20) + 1):
        start = time.perf_counter()
        z0, z1 = reflow_pairs(model_velocity_fn(trainer.ema), n_pairs or data.shape[0], seed + k, pair_steps)
        trainer = train_flow(z0, cfg, trainer.model_cfg, noise=z1, init=trainer.ema)
        yield _round(k, trainer, data, x1_test, steps, time.perf_counter() - start)
