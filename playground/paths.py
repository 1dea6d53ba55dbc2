"""Gaussian paths x_t = α_t·x_0 + σ_t·ε, and the ONE conversion between the four network outputs ε̂, x̂_0, v̂, û.

Notation (code name → paper symbol):

    alpha, sigma   α_t, σ_t   signal and noise scales of a Gaussian path x_t = α_t·x_0 + σ_t·ε
    alpha_bar      ᾱ = α²/(α² + σ²)   the VP-equivalent noise level (same SNR = α²/σ²)
    t              the path's time. VP schedules: the integer timestep 0 … T−1 of schedules.py.
                   The linear path: t ∈ [0, 1], **t = 0 is data, t = 1 is noise** (Stable Diffusion 3,
                   arXiv:2403.03206, Eq. 3: x_t = (1 − t)·x_0 + t·ε). Lipman et al. (arXiv:2210.02747) and
                   Liu et al. (arXiv:2209.03003) run the other way (noise at 0, data at 1): their t is 1 − ours.
    eps            ε̂      the noise
    x0             x̂_0    the clean data
    v              v̂ = (α·ε − σ·x_0)/√(α² + σ²)   v-prediction (Salimans & Ho, arXiv:2202.00512): the velocity
                          dx/dφ on the circle x = cos φ·x_0 + sin φ·ε (for VP, α² + σ² = 1)
    u              û = ε − x_0   flow matching's velocity dx_t/dt on the straight line x_t = (1 − t)·x_0 + t·ε
                          (Lipman et al.'s / Liu et al.'s u up to the sign their direction of time gives). u is NOT v.

The two families:

    VP schedules  α = √ᾱ_t, σ = √(1 − ᾱ_t) (schedules.NoiseSchedule: DDPM, cosine, …)
    linear path   α = 1 − t, σ = t (rectified flow / flow matching)

Any Gaussian path is a VP path after rescaling: x_t / √(α² + σ²) has α' = √ᾱ, σ' = √(1 − ᾱ) with the ᾱ above. So a
flow model is an (x̂_0, ε̂) predictor on a VP-equivalent schedule (`flow_schedule`), and every VP sampler (DDPM,
DDIM, DPM-Solver++) runs on it through `to_x0_eps`. At t = 1 (ᾱ = 0) û still gives x̂_0 = x − t·û and
ε̂ = x + (1 − t)·û without dividing by zero; ε-prediction's x̂_0 = (x − σ·ε̂)/α is 0/0 there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import torch

Scalar = Union[float, torch.Tensor]  # a float, or a tensor that broadcasts against x (e.g. (B, 1, 1, 1))

OUTPUTS = ("eps", "x0", "v", "u")

__all__ = [
    "OUTPUTS",
    "GaussianPath",
    "LINEAR",
    "vp_path",
    "vp_equivalent",
    "to_linear",
    "to_x0_eps",
    "from_x0_eps",
    "flow_beta_schedule",
    "FLOW_CLOCK",
    "flow_model_fn",
]

FLOW_CLOCK = 1000.0  # a flow network is told t_net = 1000·t (continuous), so its time embedding spans what a
#                      T = 1000 diffusion model's does


def _sqrt(a: Scalar) -> Scalar:
    return a.sqrt() if isinstance(a, torch.Tensor) else math.sqrt(a)


@dataclass(frozen=True)
class GaussianPath:
    """A Gaussian path by its scales: x_t = α_t·x_0 + σ_t·ε. `scales(t)` → (α_t, σ_t), t a float or a tensor."""

    name: str
    scales: Callable[[Scalar], tuple[Scalar, Scalar]]  # t ↦ (α_t, σ_t)

    def sample(self, x0: torch.Tensor, eps: torch.Tensor, t: Scalar) -> torch.Tensor:
        """x_t = α_t·x_0 + σ_t·ε (t broadcasts against x0, e.g. (B, 1, 1, 1))."""
        alpha, sigma = self.scales(t)
        return alpha * x0 + sigma * eps

    def alpha_bar(self, t: Scalar) -> Scalar:
        """The VP-equivalent ᾱ = α²/(α² + σ²) at t."""
        return vp_equivalent(*self.scales(t))[0]


def _linear_scales(t: Scalar) -> tuple[Scalar, Scalar]:
    return 1 - t, t


LINEAR = GaussianPath("linear", _linear_scales)  # rectified flow / flow matching: x_t = (1 − t)·x_0 + t·ε


def vp_path(s) -> GaussianPath:
    """The VP path of a NoiseSchedule: α = √ᾱ_t, σ = √(1 − ᾱ_t) at integer t (a long tensor or an int)."""

    def scales(t):
        ab = s.alpha_bar[t] if isinstance(t, torch.Tensor) else float(s.alpha_bar[int(t)])
        return _sqrt(ab), _sqrt(1 - ab)

    return GaussianPath(f"vp:{s.name}", scales)


def vp_equivalent(alpha: Scalar, sigma: Scalar) -> tuple[Scalar, Scalar]:
    """(ᾱ, r): ᾱ = α²/(α² + σ²) and r = √(α² + σ²), so x/r lies on the VP path with ᾱ (same SNR)."""
    r2 = alpha * alpha + sigma * sigma
    return alpha * alpha / r2, _sqrt(r2)


def to_linear(alpha_bar: Scalar) -> tuple[Scalar, Scalar]:
    """(t, c) of the linear path with the same SNR as ᾱ: t = σ'/(α' + σ'), x_lin = x_vp / c with c = α' + σ'."""
    a, s = _sqrt(alpha_bar), _sqrt(1 - alpha_bar)
    c = a + s
    return s / c, c


def to_x0_eps(output: torch.Tensor, x_t: torch.Tensor, kind: str, alpha: Scalar,
              sigma: Scalar) -> tuple[torch.Tensor, torch.Tensor]:
    """The one conversion: a network output of `kind` ('eps', 'x0', 'v', 'u') at x_t = α·x_0 + σ·ε → (x̂_0, ε̂).

    alpha, sigma: floats or tensors broadcasting against x_t (any Gaussian path, VP or linear).
        eps: x̂_0 = (x − σ·ε̂)/α                  x0: ε̂ = (x − α·x̂_0)/σ
        v:   with r = √(α² + σ²), a = α/r, s = σ/r, x' = x/r:  x̂_0 = a·x' − s·v̂,  ε̂ = s·x' + a·v̂
        u:   on the straight line with the same SNR, t = σ/(α + σ), x_lin = x/(α + σ):
             x̂_0 = x_lin − t·û,  ε̂ = x_lin + (1 − t)·û       (finite at α = 0, i.e. t = 1)
    """
    if kind == "eps":
        return (x_t - sigma * output) / alpha, output
    if kind == "x0":
        return output, (x_t - alpha * output) / sigma
    if kind == "v":
        r = _sqrt(alpha * alpha + sigma * sigma)
        a, s, x = alpha / r, sigma / r, x_t / r
        return a * x - s * output, s * x + a * output
    if kind == "u":
        c = alpha + sigma
        t, x = sigma / c, x_t / c
        return x - t * output, x + (1 - t) * output
    raise ValueError(f"unknown output kind {kind!r}; choose one of {', '.join(OUTPUTS)}")


def from_x0_eps(x0: torch.Tensor, eps: torch.Tensor, kind: str, alpha: Scalar, sigma: Scalar) -> torch.Tensor:
    """The inverse of `to_x0_eps`: what a network of `kind` should output for (x_0, ε) at scales (α, σ).

    eps → ε, x0 → x_0, v → (α·ε − σ·x_0)/√(α² + σ²), u → ε − x_0 (the same on every path: the straight line's slope).
    """
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    if kind == "v":
        return (alpha * eps - sigma * x0) / _sqrt(alpha * alpha + sigma * sigma)
    if kind == "u":
        return eps - x0
    raise ValueError(f"unknown output kind {kind!r}; choose one of {', '.join(OUTPUTS)}")


def flow_beta_schedule(T: int) -> torch.Tensor:
    """β of the linear path's VP-equivalent schedule on t_k = (k + 1)/T, k = 0 … T−1 (float64, the last β is 1).

    ᾱ_k = (1 − t_k)²/((1 − t_k)² + t_k²), so ᾱ_{T−1} = 0 (t = 1, pure noise: zero terminal SNR) and timestep k of
    a sampler means flow time t = (k + 1)/T; t_prev = −1 is t = 0, the data.
    """
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    alpha_bar = LINEAR.alpha_bar(t)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    return 1 - alpha_bar / prev


def flow_model_fn(net: Callable[..., torch.Tensor], s, clock: float = FLOW_CLOCK) -> Callable[..., torch.Tensor]:
    """A flow network net(x_lin, clock·τ, *extra) → û, as a model of the samplers' (x_t, t, *extra) on schedule s.

    The samplers hold x_t at the schedule's scale (VP: α = √ᾱ_t, σ = √(1−ᾱ_t)) and pass integer timesteps; the
    network was trained on the straight path. So each call moves to the straight path with the same SNR:
    τ = σ/(α + σ), x_lin = x_t/(α + σ) (`to_linear`). On `flow_schedule` τ = (t + 1)/T. Returns û, which
    the samplers read with prediction_type 'u'.
    """
    table = s.alpha_bar

    def fn(x_t: torch.Tensor, t: torch.Tensor, *extra):
        ab = table[t.reshape(-1).long().cpu()].to(x_t.device)
        tau, c = to_linear(ab)
        return net(x_t / c.to(x_t.dtype).view(-1, *([1] * (x_t.dim() - 1))), (clock * tau).to(x_t.dtype), *extra)

    return fn
