"""The "Fewer steps" lab: each solver's endpoint error against NFE, its measured order, and the failure presets.

Notation (code name → paper symbol; the solvers and grids are in solvers.py):

    x_T          the fixed start, (M, 2) particles or (B, 1, 28, 28) digits, the same for every solver
    ref          the reference endpoint from the same x_T: the exact PF-ODE solution at σ = 0 (one Gaussian, closed
                 form), or a fine DPM-Solver++(3M) solve (REF_STEPS steps, uniform in log-SNR) ending in x̂_0 at t = 0
    err          endpoint error: RMS over particles of ‖x − ref‖ (2-D), pixel RMSE in [0, 1] units (MNIST)
    order        −slope of log err against log NFE, fitted on the largest NFE values above the float floor
    nfe          the NFE a run really used (Heun: 2n − 1 for n steps, so a budget of 4 buys 3)

The exact PF-ODE of data N(μ, Σ): along dx/dt the whitened C_t^{-1/2}(x_t − α_t·μ) stays constant, with
C_t = α_t²·Σ + σ_t²·I, so x at σ = 0 is μ + Σ^{1/2}·C_T^{-1/2}·(x_T − α_T·μ) (Song et al. 2021 §4.3 for Gaussians).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch

from . import solvers as S
from .schedules import NoiseSchedule, make_schedule
from .toy2d import GAUSSIAN_COV, GAUSSIAN_MEAN, exact_denoiser, gaussian_denoiser, make_dataset, start_noise
from .toy2d.exact import alpha_bar_at

REF_STEPS = 200  # the 2-D reference's fine DPM-Solver++(3M) solve (log-SNR grid); bench_solvers.py ref checks it
FLOOR_2D = 1e-5  # below this float32 steps (samplers.py, the ideal denoiser) are at rounding level (RMS, data units)
# MNIST: below this pixel RMSE the error is the 200-step reference's own (about twice its change from 200 to 400
# steps, bench/bench_solvers.py RESULTS: the UNet's ODE converges slowly), so the order fit leaves it out
FLOOR_MNIST = 1e-3
FLOOR_MNIST_BF16 = 1e-2  # the UNet under bf16 autocast: its curves leave fp32's below about this (bench RESULTS)

__all__ = ["Curve", "measured_order", "gaussian_exact_endpoint", "toy_problem", "error_curves", "share_start",
           "ideal_denoiser", "GridSpec", "REF_STEPS"]


@dataclass(frozen=True)
class GridSpec:
    """A grid kind and its parameters, applied at every NFE."""

    kind: str = "logsnr"
    rho: float = 7.0
    sigma_min: float | None = None
    sigma_max: float | None = None
    shift: float = 3.0

    def make(self, s: NoiseSchedule, n: int) -> S.Grid:
        return S.make_grid(s, n, self.kind, rho=self.rho, sigma_min=self.sigma_min, sigma_max=self.sigma_max,
                           shift=self.shift)


@dataclass
class Curve:
    """One solver's errors: nfe[k] (really used) and err[k]; `extra` holds per-NFE figures (e.g. quality)."""

    solver: str
    nfe: list[int] = field(default_factory=list)
    err: list[float] = field(default_factory=list)
    extra: list[dict] = field(default_factory=list)
    order: float | None = None
    done: bool = False  # all NFE points in and the order fitted


def measured_order(nfe: Sequence[int], err: Sequence[float], floor: float, last: int = 3) -> float | None:
    """−slope of the least-squares line through log err against log NFE, over the `last` largest NFE whose error
    is above `floor` (the asymptotic range before rounding takes over); None with fewer than 2 such points."""
    pts = [(math.log(n), math.log(e)) for n, e in zip(nfe, err) if e > floor and n > 1]
    pts = sorted(set(pts))[-last:]
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    slope = sum((a - mx) * (b - my) for a, b in pts) / sum((a - mx) ** 2 for a, _ in pts)
    return -slope


def gaussian_exact_endpoint(x_T: torch.Tensor, s: NoiseSchedule, mu=GAUSSIAN_MEAN, cov=GAUSSIAN_COV) -> torch.Tensor:
    """The exact PF-ODE endpoint at σ = 0 from x_T at t = T−1, for data N(μ, Σ) (closed form above), (M, 2)."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    w, V = torch.linalg.eigh(torch.as_tensor(cov, dtype=torch.float64))
    ab = float(s.alpha_bar[-1])
    scale = torch.sqrt(w / (ab * w + 1 - ab))  # Σ^{1/2} C_T^{-1/2} in the eigenbasis
    y = ((x_T.double() - math.sqrt(ab) * mu) @ V) * scale
    return (mu + y @ V.T).to(x_T.dtype)


@dataclass(frozen=True)
class Problem:
    """What an error curve needs: the model, its output type, the schedule, x_T and the reference endpoint."""

    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    prediction_type: str
    schedule: NoiseSchedule
    x_T: torch.Tensor
    ref: torch.Tensor
    floor: float
    name: str
    clip_x0: bool = False


def fine_reference(model_fn, s: NoiseSchedule, x_T: torch.Tensor, prediction_type: str, *, steps: int = REF_STEPS,
                   clip_x0: bool = False) -> torch.Tensor:
    """The fine solve from x_T: DPM-Solver++(3M), `steps` steps uniform in log-SNR from t = T−1 to t = 0, then x̂_0."""
    grid = S.make_grid(s, min(steps, s.T), "logsnr")
    *_, x = S.solve("dpmpp_3m", model_fn, grid, x_T, prediction_type=prediction_type, clip_x0=clip_x0)
    return x


@functools.lru_cache(maxsize=8)
def toy_problem(dataset: str = "gaussian", n_points: int = 2000, n_particles: int = 1000, seed: int = 0,
                schedule: str = "linear", T: int = 1000, ref_steps: int = REF_STEPS) -> Problem:
    """A 2-D problem: the exact denoiser (closed form for 'gaussian', else the ideal denoiser of n_points data
    points) and its reference endpoint; particles in float64 (Gaussian) or float32.
    Cached: the reference does not depend on the grid."""
    s = make_schedule(schedule, T)
    x_T = start_noise(n_particles, seed).double()
    if dataset == "gaussian":
        den = gaussian_denoiser(GAUSSIAN_MEAN, GAUSSIAN_COV, s)
        return Problem(den.fn, "x0", s, x_T, gaussian_exact_endpoint(x_T, s), FLOOR_2D, "one Gaussian (closed form)")
    x_T = x_T.float()  # the ideal denoiser of N points in float32: about half the cost of float64
    fn = ideal_denoiser(make_dataset(dataset, n_points, seed), s)
    ref = fine_reference(fn, s, x_T, "x0", steps=ref_steps)
    return Problem(fn, "x0", s, x_T, ref, FLOOR_2D, f"{dataset}, ideal denoiser of {n_points} points")


FAR_R = 4.0  # the series below replaces the softmax where R = (α/σ²)·max‖x‖·max‖x_i − μ‖ ≤ FAR_R
FAR_K = 29  # its degree: the remainder R^{K+1}/(K+1)!·e^{2R} is below 1e-11 at R = 4


def ideal_denoiser(data: torch.Tensor, s: NoiseSchedule):
    """E[x_0 | x_t] of the N data points, as toy2d.exact_denoiser, but at low SNR from a Taylor series (far field).

    With x_i = μ + y_i and u = (α/σ²)·x, the softmax weights are c_i·e^{u·y_i}, c_i = e^{−α²(2μ·y_i + ‖y_i‖²)/2σ²}.
    Where |u·y_i| ≤ R ≤ FAR_R for every pair, e^{u·y_i} = Σ_{p+q≤K} (u_1 y_i1)^p (u_2 y_i2)^q / (p! q!) to 1e-11,
    so Σ_i w_i and Σ_i w_i·y_i need only the moments Σ_i c_i y_i1^p y_i2^q: (K+2)² numbers per call instead of
    M·N exponentials. Above FAR_R (and for mixed t) the exact softmax runs. Returns a Denoiser-like fn(x, t)."""
    exact = exact_denoiser(data, s).fn
    X = data.double()
    mu = X.mean(0)
    scale = float((X - mu).norm(dim=1).max()) or 1.0
    Y = (X - mu) / scale  # ‖Y_i‖ ≤ 1, so every power stays in range
    k = torch.arange(FAR_K + 2, dtype=torch.float64)
    P1, P2 = Y[:, :1] ** k, Y[:, 1:] ** k  # (N, K+2) powers of each coordinate
    inv_fact = torch.exp(-torch.lgamma(k[:FAR_K + 1] + 1))
    keep = (k[:FAR_K + 1, None] + k[None, :FAR_K + 1]) <= FAR_K  # p + q ≤ K
    far = [0]  # how many calls took the series (tests read it)
    moments: dict[float, torch.Tensor] = {}  # ᾱ → the three moment matrices side by side, (K+1, 3(K+1))

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t).reshape(-1)
        if not bool((t == t[0]).all()):
            return exact(x, t)
        ab = alpha_bar_at(s, float(t[0]))
        a, var = math.sqrt(ab), 1.0 - ab
        if var <= 0 or a / var * float(x.norm(dim=1).max()) * scale > FAR_R:
            return exact(x, t)
        far[0] += 1
        if ab not in moments:  # the same grid point recurs across solvers and NFE values
            if len(moments) >= 4096:  # ~22 KB each: bounded across a long session of grids
                moments.clear()
            logc = -(a * a / (2 * var)) * scale * (2 * (Y @ mu) + scale * (Y * Y).sum(1))
            c = torch.exp(logc - logc.max())  # the common factor cancels in the ratio
            Mo = P1.T @ (c[:, None] * P2)  # Mo[p, q] = Σ_i c_i Y_i1^p Y_i2^q, (K+2, K+2)
            K1 = FAR_K + 1
            moments[ab] = torch.cat([Mo[:K1, :K1] * keep, Mo[1:, :K1] * keep, Mo[:K1, 1:] * keep], 1)
        u = (a / var * scale) * x.double()  # (M, 2)
        ones = torch.ones(u.shape[0], 1, dtype=torch.float64)
        A, B = (torch.cat([ones, u[:, d:d + 1].expand(-1, FAR_K)], 1).cumprod(1) * inv_fact for d in (0, 1))
        z, s1, s2 = ((A @ moments[ab]).view(-1, 3, FAR_K + 1) * B[:, None]).sum(2).unbind(1)
        return (mu + scale * torch.stack([s1, s2], 1) / z[:, None]).to(x.dtype)

    fn.far_calls = far
    return fn


def _rms(x: torch.Tensor, ref: torch.Tensor, images: bool) -> float:
    d = (x.double() - ref.double())
    if images:  # pixel RMSE with pixels in [0, 1]: the model's [−1, 1] halved
        return float(d.pow(2).mean().sqrt()) / 2
    return float(d.pow(2).sum(1).mean().sqrt())


def share_start(model_fn, x_T: torch.Tensor):
    """model_fn with its evaluations at x_T itself remembered by t: every solver at every NFE starts from the same
    x_T (the same tensor) at the grid's first t, so that network call is made once, not once per run."""
    memo: dict[float, torch.Tensor] = {}

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x is not x_T or not bool((t == t[0]).all()):
            return model_fn(x, t)
        key = float(t[0])
        if key not in memo:
            memo[key] = model_fn(x, t)
        return memo[key]

    return fn


def error_curves(p: Problem, solvers: Sequence[str], grid: GridSpec, nfes: Sequence[int] = S.NFE_LIST, *,
                 seed: int = 0, on_sample: Callable[[str, int, torch.Tensor], dict] | None = None
                 ) -> Iterator[Curve]:
    """Each solver's endpoint error against NFE on a grid kind, streamed: the solver's Curve is yielded after
    every NFE point (the same object, growing; `done` once its order is set).

    on_sample(solver, nfe, x) may return extra per-NFE figures (the tab scores digits with the classifier).
    The same NFE budget can buy the same number of Heun steps twice (1 and 2 → 1 step), and a solver may be named
    twice (an alias): such repeats are dropped.
    """
    images = p.x_T.ndim == 4
    model_fn = share_start(p.model_fn, p.x_T)
    for solver in dict.fromkeys(S.normalize_solver(name) for name in solvers):
        curve = Curve(solver)
        steps = list(dict.fromkeys(min(S.steps_for_nfe(solver, b), p.schedule.T) for b in nfes))  # first seen
        for n in steps:
            gen = torch.Generator().manual_seed(seed + 1)  # DDPM's noise: the same at every NFE for a given seed
            *_, x = S.solve(solver, model_fn, grid.make(p.schedule, n), p.x_T, prediction_type=p.prediction_type,
                            clip_x0=p.clip_x0, generator=gen)
            curve.nfe.append(S.solver_nfe(solver, n))
            curve.err.append(_rms(x, p.ref, images))
            curve.extra.append(on_sample(solver, curve.nfe[-1], x) if on_sample else {})
            if n == steps[-1]:
                curve.order = measured_order(curve.nfe, curve.err, p.floor) if S.ORDER[solver] else None
                curve.done = True
            yield curve
