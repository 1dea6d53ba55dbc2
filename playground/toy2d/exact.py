"""Exact quantities of the noised empirical distribution q_t(x) = (1/N)·Σᵢ N(x; √ᾱ_t·xᵢ, (1−ᾱ_t)·I), and score sources.

Part of playground.toy2d (see its docstring for the notation and the papers).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from ..diffusion import normalize_prediction_type
from ..paths import to_x0_eps
from ..samplers import ALPHA_BAR_FLOOR
from ..schedules import NoiseSchedule
from .data import as_alpha_bar, as_finite, as_points

# --- 2. exact quantities of the noised empirical distribution --------------------------------------


@dataclass(frozen=True)
class ExactQ:
    """Exact q_t at query points: shapes (M,) and (M, 2) (or (Gy, Gx) and (Gy, Gx, 2) on a grid)."""

    log_density: torch.Tensor  # log q_t(x)
    score: torch.Tensor  # ∇_x log q_t(x)
    x0_hat: torch.Tensor  # E[x_0 | x_t = x]
    eps: torch.Tensor  # ε̂ = −√(1−ᾱ_t)·score


_CHUNK_ELEMS = 1 << 18  # query rows × data points per chunk: 1 MB of float32, stays in cache
# exp() arguments are clamped here: below it the weights (and their products with the data) would be denormal
# numbers, which are far slower in exp and in the matrix product on x86 (bench/bench_toy2d.py RESULTS §5).
# A row whose Z = Σᵢ exp(lᵢ) falls below e^_Z_FLOOR (far from all data at small σ) is recomputed with its largest
# logit shifted to 0, so the clamped terms (≤ N·e^clamp ≤ e^(clamp + 9.3) at the cap N = 10⁴) err by < e^-20.
_CLAMP = {torch.float32: -80.0, torch.float64: -700.0}
_Z_FLOOR = {torch.float32: -50.0, torch.float64: -600.0}


def _shifted(x_t, A, b, var: float, clamp: float, X1, buf=None):
    """The careful path for rows far from the data: logits (x·Aᵢ − ‖Aᵢ‖²/2)/var shifted by their row maximum.

    Returns (Σ wᵢ·[xᵢ, 1] (3, m), the log of the factor taken out of the weights (m,))."""
    out = None if buf is None else buf[:x_t.shape[0]]  # no buffer: differentiable, out of place
    logit = torch.addmm(b, x_t, A.T, alpha=1.0 / var, out=out)  # (m, N); the row's −‖x‖²/2var goes into the shift
    m = logit.amax(1, keepdim=True)
    w = torch.exp((logit - m).clamp(min=clamp)) if buf is None else logit.sub_(m).clamp_(min=clamp).exp_()
    return X1 @ w.T, m.squeeze(1) - (x_t * x_t).sum(1) / (2 * var)


def exact_quantities(x0, x_t, alpha_bar: float, *, far: bool = False) -> ExactQ:
    """Everything exact about q_t at the points x_t, in one pass over the data, in cache-sized chunks.

    Args:
        x0: (N, 2) data points. x_t: (M, 2) query points. alpha_bar: ᾱ_t in [0, 1).
        far: the caller knows most points are far from all data (in units of σ): skip straight to the path that
            shifts each row by its largest logit (the fast path would underflow there and be redone anyway).
    Returns: ExactQ with log_density (M,), score (M, 2), x0_hat (M, 2), eps (M, 2), in x_t's dtype.

    The logits lᵢ(x) = −‖x − √ᾱ·xᵢ‖²/(2σ²) ≤ 0 come from one (m, 4) @ (4, N) product ([x, 1, −‖x‖²/2σ²] against
    [√ᾱ·xᵢ/σ², −ᾱ‖xᵢ‖²/2σ², 1]), so no exponential can overflow and no row maximum is needed; then exp in place,
    and one (3, N) @ (N, m) product gives Σ wᵢxᵢ and Z = Σ wᵢ together. Four passes over a cache-sized chunk:
    about 0.8 ns per (query, data point) pair on one core of the dev CPU (python bench/bench_toy2d.py exact).
    Memory O(chunk), not O(M·N). Differentiable: autograd through log_density gives the score (tests check it).
    """
    ab = as_alpha_bar(alpha_bar)
    x_t = as_points(x_t, "x_t")
    x0 = as_points(x0, "x0", dtype=x_t.dtype).to(x_t.device)
    a, var = math.sqrt(ab), 1.0 - ab
    N, M = x0.shape[0], x_t.shape[0]
    dt, dev = x_t.dtype, x_t.device
    clamp, z_floor = _CLAMP.get(dt, -80.0), _Z_FLOOR.get(dt, -50.0)
    A = a * x0  # (N, 2) the means √ᾱ·x_i of the mixture components
    b = -(A * A).sum(1) / (2 * var)  # (N,)
    K = torch.cat([A.T / var, b[None], torch.ones(1, N, dtype=dt, device=dev)])  # (4, N)
    X1 = torch.cat([x0.T, torch.ones(1, N, dtype=dt, device=dev)])  # (3, N), contiguous: the product below is faster
    q = torch.cat([x_t, torch.ones(M, 1, dtype=dt, device=dev), -(x_t * x_t).sum(1, keepdim=True) / (2 * var)], 1)
    grad = torch.is_grad_enabled() and (x_t.requires_grad or x0.requires_grad)
    rows = max(1, _CHUNK_ELEMS // max(N, 1))
    # One buffer for every chunk: a fresh 1 MB tensor per chunk can cost its page faults again (glibc may mmap it).
    buf = None if grad else torch.empty(min(rows, M), N, dtype=dt, device=dev)
    if far:  # every row goes to the careful path below
        S, log_z = torch.empty(3, M, dtype=dt, device=dev), torch.full((M,), -math.inf, dtype=dt, device=dev)
    else:
        sums = []
        for i in range(0, M, rows):
            qc = q[i:i + rows]
            if grad:
                w = torch.exp((qc @ K).clamp(min=clamp))
            else:  # in place: the logits (m, N), every entry ≤ 0 (up to rounding), become the weights
                w = torch.mm(qc, K, out=buf[:qc.shape[0]]).clamp_(min=clamp).exp_()
            sums.append(X1 @ w.T)  # (3, m): Σ wᵢxᵢ and Z = Σ wᵢ; (3, N) @ (N, m) beats w @ X1.T here
        S = torch.cat(sums, 1)  # (3, M)
        log_z = torch.log(S[2])
    low = (log_z < z_floor).nonzero().squeeze(1)  # far from every data point at this σ: redo with the maximum out
    for j in range(0, low.numel(), rows):  # none in the common case
        idx = low[j:j + rows]
        S_low, shift = _shifted(x_t[idx], A, b, var, clamp, X1, buf)
        S = S.index_copy(1, idx, S_low)
        log_z = log_z.index_copy(0, idx, torch.log(S_low[2]) + shift)
    x0_hat = (S[:2] / S[2]).T
    log_density = log_z - math.log(N) - math.log(2 * math.pi * var)
    score = (a * x0_hat - x_t) / var
    eps = (x_t - a * x0_hat) / math.sqrt(var)
    return ExactQ(log_density, score, x0_hat, eps)


def exact_log_density(x0, x_t, alpha_bar: float) -> torch.Tensor:
    """log q_t(x_t), (M,). Differentiable in x_t."""
    return exact_quantities(x0, x_t, alpha_bar).log_density


def exact_score(x0, x_t, alpha_bar: float) -> torch.Tensor:
    """∇ log q_t(x_t) = (√ᾱ·E[x_0|x_t] − x_t)/(1−ᾱ), (M, 2): a softmax-weighted pull towards the data."""
    return exact_quantities(x0, x_t, alpha_bar).score


def ideal_denoiser(x0, x_t, alpha_bar: float) -> torch.Tensor:
    """E[x_0 | x_t] under the empirical data distribution, (M, 2): a weighted mean of training points."""
    return exact_quantities(x0, x_t, alpha_bar).x0_hat


def ideal_eps(x0, x_t, alpha_bar: float) -> torch.Tensor:
    """The ε̂ an infinitely good network would predict: (x_t − √ᾱ·E[x_0|x_t])/√(1−ᾱ), (M, 2)."""
    return exact_quantities(x0, x_t, alpha_bar).eps


def _grid_factors(x0: torch.Tensor, g: torch.Tensor, a: float, var: float, k: int, floor: float):
    """exp(−(g_j − a·x_ik)²/2σ² + c_j) for one axis k, each row j shifted to max 1 (c_j returned), (G, N).

    −(g − a·x)²/(2σ²) = (g·a·x − (a·x)²/2)/σ² − g²/(2σ²): the last term is one constant per row, so it goes into
    the shift. Factors below e^floor are clamped to it: denormal numbers are far slower in exp and matmul."""
    ax = a * x0[:, k]
    # one (G, 2) @ (2, N) product: much faster than the same broadcast expression on the CPU
    e = torch.stack([g, torch.ones_like(g)], 1) @ torch.stack([ax / var, -(ax * ax) / (2 * var)], 0)  # (G, N)
    m = e.amax(1)
    return e.sub_(m[:, None]).clamp_(min=floor).exp_(), m - g * g / (2 * var)


def _grid_axes(x0, xs, ys, dtype):
    x0 = as_points(x0, "x0", dtype=dtype)
    xs = torch.as_tensor(xs, dtype=dtype).reshape(-1).to(x0.device)
    ys = torch.as_tensor(ys, dtype=dtype).reshape(-1).to(x0.device)
    if not (bool(torch.isfinite(xs).all()) and bool(torch.isfinite(ys).all())) or xs.numel() == 0 or ys.numel() == 0:
        raise ValueError("grid coordinates must be finite and non-empty")
    return x0, xs, ys


def exact_on_grid(x0, xs, ys, alpha_bar: float) -> ExactQ:
    """The same exact quantities on the regular grid xs × ys, fast: shapes (Gy, Gx) and (Gy, Gx, 2).

    On a grid the Gaussian kernel factorizes, exp(−(Δu² + Δv²)/2σ²) = exp(−Δu²/2σ²)·exp(−Δv²/2σ²), so all
    sums over the N data points are three matrix products of (G, N) factors: (Gx + Gy)·N exponentials
    instead of Gx·Gy·N (each factor's rows shifted by their maximum). Where the product still underflows
    (small σ, grid points far from all data) those grid points are recomputed directly.

    float64 on purpose: each factor is clamped at e^-340, since below that its exponential would be denormal
    (far slower in exp and in the matrix product), and products of two clamped factors (e^-680) stay normal.
    A clamped factor times the other (≤ 1) errs by at most e^-340 per point, so Z errs by at most N·e^-340;
    grid points with Z < 1e-120 are recomputed directly, which keeps every other value within 1e-24 relative.
    (float32 cannot do both: a floor high enough to keep products normal, e^-40, needs Z ≥ N·e^-34 to be
    accurate, and products below e^-87 are denormal, slow at small σ.)
    """
    ab = as_alpha_bar(alpha_bar)
    x0, xs, ys = _grid_axes(x0, xs, ys, torch.float64)
    a, var = math.sqrt(ab), 1.0 - ab
    N = x0.shape[0]
    Eu, cu = _grid_factors(x0, xs, a, var, 0, -340.0)  # (Gx, N)
    Ev, cv = _grid_factors(x0, ys, a, var, 1, -340.0)  # (Gy, N)
    Z = Ev @ Eu.T  # (Gy, Gx)  Σ_i Ev[k,i]·Eu[j,i]
    Sx = Ev @ (Eu * x0[None, :, 0]).T
    Sy = (Ev * x0[None, :, 1]) @ Eu.T
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (Gy, Gx)
    grid = torch.stack([gx, gy], -1)  # (Gy, Gx, 2)
    x0_hat = torch.stack([Sx / Z, Sy / Z], -1)  # 0/0 = NaN where Z underflowed: replaced below
    log_density = torch.log(Z) + cu[None, :] + cv[:, None] - math.log(N) - math.log(2 * math.pi * var)
    bad = ~(Z > 1e-120)  # (nearly) underflowed: recompute these grid points exactly
    if bool(bad.any()):  # float32 here: faster, and at this small σ only the nearest points count
        exact = exact_quantities(x0.float(), grid[bad].float(), ab, far=True)
        x0_hat[bad] = exact.x0_hat.double()
        log_density[bad] = exact.log_density.double()
    score = (a * x0_hat - grid) / var
    eps = (grid - a * x0_hat) / math.sqrt(var)
    return ExactQ(log_density, score, x0_hat, eps)


def gaussian_marginal(mu, cov, alpha_bar: float) -> tuple[torch.Tensor, torch.Tensor]:
    """For data N(μ, Σ): q_t = N(√ᾱ·μ, ᾱ·Σ + (1−ᾱ)·I) exactly. Returns (mean (2,), cov (2, 2)) float64."""
    ab = as_finite(alpha_bar, "alpha_bar")
    mu = torch.as_tensor(mu, dtype=torch.float64)
    cov = torch.as_tensor(cov, dtype=torch.float64)
    return math.sqrt(ab) * mu, ab * cov + (1 - ab) * torch.eye(2, dtype=torch.float64)


def gaussian_score(x_t, mu, cov, alpha_bar: float) -> torch.Tensor:
    """∇ log N(x; √ᾱ·μ, ᾱΣ + (1−ᾱ)I) = −C⁻¹·(x − √ᾱ·μ), (M, 2), in x_t's dtype."""
    x_t = as_points(x_t, "x_t")
    m, C = gaussian_marginal(mu, cov, alpha_bar)
    P = torch.linalg.inv(C).to(x_t)
    return -(x_t - m.to(x_t)) @ P  # P is symmetric


# --- 3. score sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Denoiser:
    """A score source for the samplers: fn(x_t (M, 2), t (M,) long) → output (M, 2) in `prediction_type`.

    The learned MLP predicts ε, x_0 or v (as it was trained); the exact sources predict x_0 = E[x_0|x_t],
    which stays finite at every t (also at ᾱ = 0)."""

    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    prediction_type: str
    name: str


@functools.lru_cache(maxsize=32)
def log_alpha_bar_table(s: NoiseSchedule) -> np.ndarray:
    """log ᾱ_t for t = 0 … T−1 (float64), an exact 0 lifted to 2^-24 as in samplers.py."""
    return np.log(np.maximum(s.alpha_bar.numpy(), ALPHA_BAR_FLOOR))


def alpha_bar_at(s: NoiseSchedule, t: float) -> float:
    """ᾱ at a real-valued t: the table's value at integer t, log-linear in between; 1 at t = −1 (clean).

    The ODE and SDE solvers evaluate between grid steps where the noise level changes fast (see _refine);
    for t in (−1, 0) it interpolates log ᾱ towards ᾱ_{−1} = 1.
    """
    t = float(t)
    if t <= -1.0:
        return 1.0
    table = log_alpha_bar_table(s)
    if t < 0.0:
        return math.exp((t + 1.0) * float(table[0]))
    return math.exp(float(np.interp(t, np.arange(s.T), table)))


def _per_t(fn: Callable[[torch.Tensor, float], torch.Tensor], s: NoiseSchedule):
    """Lift fn(x, ᾱ) to fn(x, t (M,)): one call per distinct t (the samplers pass one t for all)."""

    def out(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t).reshape(-1)
        if t.numel() == 1 or bool((t == t[0]).all()):
            return fn(x, alpha_bar_at(s, float(t[0])))
        res = torch.empty_like(x)
        for tv in torch.unique(t).tolist():
            sel = t.to(x.device) == tv
            res[sel] = fn(x[sel], alpha_bar_at(s, tv))
        return res

    return out


def exact_denoiser(x0, s: NoiseSchedule) -> Denoiser:
    """The ideal denoiser of the N points x0 (N, 2): E[x_0 | x_t] of the noised empirical distribution."""
    x0 = as_points(x0, "data points")
    return Denoiser(_per_t(lambda x, ab: exact_quantities(x0, x, ab).x0_hat, s), "x0", "exact")


def gaussian_denoiser(mu, cov, s: NoiseSchedule) -> Denoiser:
    """E[x_0 | x_t] for data N(μ, Σ): μ + √ᾱ·Σ·C⁻¹·(x − √ᾱ·μ), C = ᾱΣ + (1−ᾱ)I (Gaussian conditioning)."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    cov = torch.as_tensor(cov, dtype=torch.float64)

    def fn(x: torch.Tensor, ab: float) -> torch.Tensor:
        m, C = gaussian_marginal(mu, cov, ab)
        K = math.sqrt(ab) * cov @ torch.linalg.inv(C)  # (2, 2)
        return mu.to(x) + (x - m.to(x)) @ K.T.to(x)

    return Denoiser(_per_t(fn, s), "x0", "gaussian")


def model_denoiser(model: nn.Module, prediction_type: str | None = None) -> Denoiser:
    """Wrap a trained ScoreMLP (or any model(x, t) → (M, 2)); eval mode, no gradients."""
    pred = normalize_prediction_type(prediction_type or getattr(getattr(model, "config", None),
                                                                "prediction_type", "eps"))
    model = model.eval()
    param = next(model.parameters(), None)

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dev = param.device if param is not None else x.device
        with torch.inference_mode():
            out = model(x.to(dev, torch.float32), torch.as_tensor(t).reshape(-1).to(dev))
        return out.to(x)

    return Denoiser(fn, pred, "learned")


def denoise(den: Denoiser, s: NoiseSchedule, x_t: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂_0, ε̂) of a score source at timestep t (an int, or a real t between grid steps), both (M, 2).

    The score is −ε̂/√(1−ᾱ_t). ᾱ comes from alpha_bar_at, so ᾱ = 0 (zero terminal SNR) is read as 2^-24.
    """
    ab = alpha_bar_at(s, t)
    tt = torch.full((x_t.shape[0],), float(t), device=x_t.device)
    tt = tt.long() if float(t).is_integer() else tt
    out = den.fn(x_t, tt)
    return to_x0_eps(out, x_t, normalize_prediction_type(den.prediction_type), math.sqrt(ab), math.sqrt(1.0 - ab))
