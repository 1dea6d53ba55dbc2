"""Particle samplers: DDPM, DDIM(η), DPM-Solver++(2M) via the step functions; PF-ODE, reverse SDE, annealed Langevin.

Part of playground.toy2d (see its docstring for the notation and the papers).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..samplers import make_timesteps, sample_loop
from ..schedules import NoiseSchedule
from .data import (
    MAX_STEPS,
    SAMPLER_ALIASES,
    SAMPLER_LABELS,
    SAMPLERS_2D,
    as_count,
    as_finite,
    as_points,
    seeded_generator,
)
from .exact import Denoiser, alpha_bar_at, denoise, log_alpha_bar_table

# --- 5. particle samplers ----------------------------------------------------------------------------


def _normalize_sampler(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = SAMPLER_ALIASES.get(key, key)
    if key not in SAMPLER_LABELS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS_2D)}")
    return key


@dataclass(frozen=True)
class Trajectory:
    """Where every particle was: xs[0] = x_T, xs[i] the state after step i, xs[-1] the samples."""

    sampler: str
    xs: torch.Tensor  # (n+1, M, 2), float32 on the CPU
    ts: tuple[int, ...]  # (n+1,) the timestep of each state (−1 = clean); Langevin: the level it sampled
    nfe: int  # network (or exact-score) evaluations used

    @property
    def samples(self) -> torch.Tensor:
        """(M, 2) the final points."""
        return self.xs[-1]


def start_noise(m: int, seed: int = 0) -> torch.Tensor:
    """x_T ~ N(0, I), (m, 2) float32, from its own generator: every sampler starts from the same x_T."""
    m = as_count(m, "number of particles", 1, 100_000)
    return torch.randn(m, 2, generator=seeded_generator(seed))


def _sigma_tilde(s: NoiseSchedule, t: float) -> float:
    """σ̃_t = √((1−ᾱ_t)/ᾱ_t): the noise level of x̄ = x/√ᾱ_t; 0 at t = −1."""
    ab = alpha_bar_at(s, t)
    return math.sqrt((1.0 - ab) / ab)


@functools.lru_cache(maxsize=32)
def _log_sigma_table(s: NoiseSchedule) -> np.ndarray:
    ab = np.exp(log_alpha_bar_table(s))
    return 0.5 * (np.log1p(-ab) - np.log(ab))  # increasing in t


MAX_SIGMA_RATIO = 2.0  # the ODE and SDE solvers never change σ̃ by more than this factor in one step


def _refine(s: NoiseSchedule, t: int, t_next: int, max_ratio: float = MAX_SIGMA_RATIO) -> list[float]:
    """[t, …, t_next]: the step t → t_next, split where σ̃ changes by more than `max_ratio`.

    The substeps are geometric in σ̃ (equal steps in log σ̃), mapped back to real-valued t. Uniform grids in t
    keep this rare: with T = 1000 it splits the cosine schedule's first step (β clipped at 0.999 makes σ̃ fall
    from ~13,000 to ~60 in ten steps of t) and zero terminal SNR's (σ̃ = ∞, read as 4096). A step onto
    t = −1 (σ̃ = 0) is never split: it returns x̂_0.
    """
    if t_next < 0 or t < 0:
        return [t, t_next]
    a, b = _sigma_tilde(s, t), _sigma_tilde(s, t_next)
    k = math.ceil(abs(math.log(a / b)) / math.log(max_ratio) - 1e-9)
    if k <= 1:
        return [t, t_next]
    log_sig = np.log(a) + (np.log(b) - np.log(a)) * np.arange(1, k) / k
    inner = np.interp(log_sig, _log_sigma_table(s), np.arange(s.T))
    return [t, *[float(u) for u in inner], t_next]


def nfe(sampler: str, num_steps: int, langevin_steps: int = 2, solver: str = "heun") -> int:
    """Score evaluations a run costs on a grid with no split steps: n, Heun 2n − 1, Langevin n·L + 1."""
    kind = _normalize_sampler(sampler)
    if kind == "pf_ode" and solver == "heun":
        return 2 * num_steps - 1
    if kind == "langevin":
        return num_steps * langevin_steps + 1
    return num_steps


def _solver(solver: str) -> str:
    if solver not in ("heun", "euler"):
        raise ValueError(f"ODE solver must be 'heun' or 'euler', got {solver!r}")
    return solver


def pf_ode(den: Denoiser, s: NoiseSchedule, x: torch.Tensor, ts: Sequence[int], solver: str = "heun") -> torch.Tensor:
    """Integrate the probability-flow ODE through the timesteps ts, in either direction; deterministic.

    dx̄/dσ̃ = ε̂(x, t) with x̄ = x/√ᾱ_t, σ̃ = √((1−ᾱ_t)/ᾱ_t): Heun's method (2nd order) or Euler (= DDIM η = 0),
    with steps split where σ̃ changes by more than 2× (see _refine).
    A step onto t = −1 (clean) is always Euler: ε̂ at σ̃ = 0 is undefined; it returns x̂_0.
    Args: x (M, 2) at ts[0]; ts: timesteps, each ≥ 0 except possibly the last (−1), strictly monotone.
    Returns: (len(ts), M, 2) the state at each timestep (float32, x's device).
    """
    _solver(solver)
    ts = [int(t) for t in ts]
    if len(ts) < 2:
        raise ValueError("the ODE needs at least two timesteps")
    if any(t < -1 or t >= s.T for t in ts) or -1 in ts[:-1]:
        raise ValueError(f"timesteps must lie in [0, {s.T - 1}] (the last may be −1 = clean), got {ts}")
    d = np.diff(ts)
    if not ((d > 0).all() or (d < 0).all()):
        raise ValueError("timesteps must be strictly increasing or strictly decreasing")
    x = as_points(x, "x").float()
    out = [x]
    for t, t_next in zip(ts, ts[1:]):
        x = _ode_step(den, s, x, t, t_next, solver)[0]
        out.append(x)
    return torch.stack(out)


def _ode_step(den, s, x, t, t_next, solver):
    """PF-ODE from t to t_next (split by _refine); returns (x at t_next, evaluations used)."""
    used = 0
    sub = _refine(s, t, t_next)
    for u, u_next in zip(sub, sub[1:]):
        ab, ab_n = alpha_bar_at(s, u), alpha_bar_at(s, u_next)
        sig, sig_n = _sigma_tilde(s, u), _sigma_tilde(s, u_next)
        eps = denoise(den, s, x, u)[1]
        used += 1
        xbar = x / math.sqrt(ab)
        xbar_e = xbar + (sig_n - sig) * eps  # Euler (DDIM η=0 in these variables)
        if solver == "heun" and u_next >= 0:
            eps_n = denoise(den, s, math.sqrt(ab_n) * xbar_e, u_next)[1]
            used += 1
            xbar_e = xbar + (sig_n - sig) * 0.5 * (eps + eps_n)  # trapezoid: Heun's corrector
        x = math.sqrt(ab_n) * xbar_e
    return x, used


def _sde_step(den, s, x, t, t_next, draw):
    """Reverse SDE from t to t_next by Euler–Maruyama in (x̄, σ̃), split by _refine; one z per substep.

    x̄ ← x̄ − ((σ̃² − σ̃_next²)/σ̃)·ε̂ + √(σ̃² − σ̃_next²)·z. Its drift equals DDPM's posterior mean exactly;
    its noise variance is σ̃²/σ̃_next² times DDPM's (the exact posterior's), so the two agree as steps shrink.
    The step onto t = −1 returns the mean, x̂_0.
    """
    used = 0
    sub = _refine(s, t, t_next)
    for u, u_next in zip(sub, sub[1:]):
        z = draw()
        x0_hat, eps = denoise(den, s, x, u)
        used += 1
        if u_next < 0:
            x = x0_hat  # x̄ − σ̃·ε̂ = x̂_0 (Tweedie), no noise on the last step
            continue
        ab, ab_n = alpha_bar_at(s, u), alpha_bar_at(s, u_next)
        sig, sig_n = _sigma_tilde(s, u), _sigma_tilde(s, u_next)
        var = sig**2 - sig_n**2
        xbar = x / math.sqrt(ab) - (var / sig) * eps + math.sqrt(var) * z  # ∇_x̄ log q = −ε̂/σ̃
        x = math.sqrt(ab_n) * xbar
    return x, used


def langevin_dynamics(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, step_size: float,
                      n_steps: int, generator: torch.Generator) -> torch.Tensor:
    """Unadjusted Langevin: x ← x + (α/2)·∇log p(x) + √α·z, n_steps times (Song & Ermon Alg. 1, inner loop).

    Args: score_fn (M, 2) → (M, 2); x (M, 2); step_size α > 0; generator for z. Returns (M, 2).
    For a Gaussian target the chain's stationary variance along an eigen-direction of variance v is
    v / (1 − α/(4v)): slightly too wide for a finite α.
    """
    alpha = as_finite(step_size, "Langevin step size")
    if alpha <= 0:
        raise ValueError(f"the Langevin step size must be positive, got {alpha}")
    n_steps = as_count(n_steps, "Langevin steps", 0, 10_000_000)
    for _ in range(n_steps):
        z = torch.randn(x.shape, generator=generator).to(x)
        x = x + (alpha / 2) * score_fn(x) + math.sqrt(alpha) * z
    return x


def _langevin(den: Denoiser, s: NoiseSchedule, x, pairs, draw, states: list, langevin_steps, langevin_scale) -> int:
    """sample_2d's annealed Langevin: appends the state after each level to ``states``; returns the model calls."""
    L = as_count(langevin_steps, "Langevin steps per level", 1, 1000)
    c = as_finite(langevin_scale, "Langevin step scale")
    if not 0 < c <= 2:
        raise ValueError(f"the Langevin step scale must be in (0, 2], got {c}")
    used = 0
    xbar = x / math.sqrt(alpha_bar_at(s, pairs[0][0]))
    for i, (t, t_prev) in enumerate(pairs):
        # the level t_i, plus extra levels where σ̃ falls more than 2x before t_{i+1} (see _refine)
        for u in _refine(s, t, t_prev)[:-1]:
            ab = alpha_bar_at(s, u)
            sig = _sigma_tilde(s, u)
            alpha = c * sig**2  # step size ∝ σ², Song & Ermon Alg. 1 (α_i = ε·σ_i²/σ_L²)
            for _ in range(L):
                eps = denoise(den, s, math.sqrt(ab) * xbar, u)[1]
                used += 1
                xbar = xbar + (alpha / 2) * (-eps / sig) + math.sqrt(alpha) * draw()  # ∇_x̄ log p = −ε̂/σ̃
            x = math.sqrt(ab) * xbar
        if i == len(pairs) - 1:  # one denoising step at the end: x ← E[x_0 | x] (Tweedie)
            x = denoise(den, s, x, t)[0]
            used += 1
        states.append(x.detach().cpu())
    return used


def sample_2d(den: Denoiser, s: NoiseSchedule, x_T, *, sampler: str = "ddim", num_steps: int = 100,
              eta: float = 0.0, spacing: str = "trailing", seed: int = 0, solver: str = "heun",
              langevin_steps: int = 2, langevin_scale: float = 1.0) -> Trajectory:
    """Run one sampler from x_T (M, 2) to the data, keeping the whole path.

    All samplers run on the same timesteps (make_timesteps(T, num_steps, spacing)); their noise comes from
    torch.Generator(seed), one draw of shape (M, 2) per step in a fixed order, so DDPM and the reverse SDE
    see the same z's. Langevin runs `langevin_steps` steps at each of the num_steps noise levels with
    α = langevin_scale·(1 − ᾱ_t), then denoises once.
    Returns a Trajectory with xs (num_steps + 1, M, 2) on the CPU.
    """
    kind = _normalize_sampler(sampler)
    num_steps = as_count(num_steps, "number of steps", 1, min(MAX_STEPS, s.T))
    eta = as_finite(eta, "η")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"η must be between 0 and 1, got {eta}")
    x = as_points(x_T, "x_T").float()
    pairs = make_timesteps(s.T, num_steps, spacing)
    g = seeded_generator(seed)
    states = [x.detach().cpu()]

    def draw() -> torch.Tensor:
        return torch.randn(x.shape, generator=g).to(x.device)

    if kind in ("ddpm", "ddim", "dpmpp_2m"):
        for st in sample_loop(den.fn, s, tuple(x.shape), sampler=kind, eta=eta, prediction_type=den.prediction_type,
                              generator=g, x_T=x, timesteps=pairs, device=x.device):
            states.append(st.x_t.detach().cpu())
        used = num_steps
    elif kind == "pf_ode":
        _solver(solver)
        used = 0
        for t, t_prev in pairs:
            x, k = _ode_step(den, s, x, t, t_prev, solver)
            used += k
            states.append(x.detach().cpu())
    elif kind == "sde":
        used = 0
        for t, t_prev in pairs:
            x, k = _sde_step(den, s, x, t, t_prev, draw)
            used += k
            states.append(x.detach().cpu())
    else:  # annealed Langevin (NCSN): at each level σ̃_t, L steps on x̄ = x/√ᾱ_t, whose law is data ⊛ N(0, σ̃²)
        used = _langevin(den, s, x, pairs, draw, states, langevin_steps, langevin_scale)
    if kind == "langevin":  # the state after level i sampled q_{t_i}; the last one is denoised (t = −1)
        ts = tuple([pairs[0][0]] + [t for t, _ in pairs[:-1]] + [-1])
    else:
        ts = tuple([pairs[0][0]] + [t_prev for _, t_prev in pairs])
    return Trajectory(kind, torch.stack(states).float(), ts, used)
