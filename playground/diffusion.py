"""The forward process q, the ε / x̂₀ / v / u parameterizations, and the training loss.

Notation (code name → paper symbol):

    x0        x_0      clean image, in [−1, 1], shape (B, C, H, W)
    x_t       x_t      noised image at timestep t
    eps       ε        standard normal noise, same shape as x0
    v         v        velocity, v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0            (arXiv:2202.00512, §4)
    u         u        flow matching's velocity ε − x_0 on the straight line with the same SNR (paths.py)
    t         t        (B,) long timesteps in [0, T)
    s         a NoiseSchedule (see schedules.py)

Two forms of the forward process, both here so the app can show they agree:

    closed form, from x_0:    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε                  DDPM Eq. 4
    one-step kernel:          x_t = √α_t · x_{t−1} + √β_t · ε                     DDPM Eq. 2

(A common slip writes ᾱ_t next to x_{t−1}; ᾱ belongs to the closed form only.)
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from .paths import from_x0_eps, to_x0_eps
from .schedules import NoiseSchedule, extract

PREDICTION_TYPES = ("eps", "x0", "v")  # the diffusion objectives; "u" (flow matching) is the fourth output

__all__ = [
    "PREDICTION_TYPES",
    "q_sample",
    "q_step",
    "q_chain",
    "q_posterior",
    "posterior_mean",
    "predict_x0_from_eps",
    "predict_eps_from_x0",
    "get_v",
    "predict_x0_from_v",
    "predict_eps_from_v",
    "model_output_to_x0_eps",
    "training_target",
    "training_loss",
    "normalize_prediction_type",
]

_ALIASES = {"eps": "eps", "epsilon": "eps", "noise": "eps", "x0": "x0", "sample": "x0", "x_0": "x0",
            "v": "v", "v_prediction": "v", "velocity": "v",
            "u": "u", "flow": "u", "flow_matching": "u", "rectified_flow": "u"}


def normalize_prediction_type(name: str) -> str:
    """Map 'epsilon' / 'sample' / 'v_prediction' (diffusers' names), 'flow' and friends to 'eps' / 'x0' / 'v' / 'u'."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"unknown prediction type {name!r}; choose one of {', '.join(PREDICTION_TYPES)}, u (flow)")
    return _ALIASES[key]


def q_sample(s: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Sample q(x_t | x_0) in closed form: x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε (DDPM Eq. 4).

    Args: x0 (B, ...), t (B,) long (or scalar), noise like x0. Returns x_t like x0.
    """
    a = extract(s.alpha_bar, t, x0.shape, like=x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def q_step(s: NoiseSchedule, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """One step of the chain q(x_t | x_{t−1}): x_t = √α_t·x_{t−1} + √β_t·ε (DDPM Eq. 2).

    Args: x_prev = x_{t−1} (B, ...) (x_0 when t = 0), t (B,) or scalar, noise like x_prev.
    """
    alpha = extract(s.alphas, t, x_prev.shape, like=x_prev)
    beta = extract(s.betas, t, x_prev.shape, like=x_prev)
    return alpha.sqrt() * x_prev + beta.sqrt() * noise


def q_chain(s: NoiseSchedule, x0: torch.Tensor, t_max: int,
            generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Run the one-step kernel from x_0, yielding x_0, x_1, …, x_{t_max} (fresh ε at each step)."""
    x = x0
    yield x
    for t in range(t_max + 1):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = q_step(s, x, torch.tensor(t), noise)
        yield x


def posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, ab, ab_prev) -> torch.Tensor:
    """μ̃ of q(x_{t_prev} | x_t, x_0) between any two levels ᾱ_t = ab < ᾱ_{t_prev} = ab_prev (floats or tensors).

    With α' = ᾱ_t/ᾱ_{t_prev} and β' = 1 − α' (one DDPM step on a subset of the grid; α' = α_t on the full grid):
    μ̃ = √ᾱ_{t_prev}·β'/(1−ᾱ_t) · x_0 + √α'·(1−ᾱ_{t_prev})/(1−ᾱ_t) · x_t    (DDPM Eq. 7)
    """
    alpha = ab / ab_prev
    sqrt = torch.sqrt if isinstance(alpha, torch.Tensor) else math.sqrt
    return (sqrt(ab_prev) * (1 - alpha) / (1 - ab)) * x0 + (sqrt(alpha) * (1 - ab_prev) / (1 - ab)) * x_t


def q_posterior(s: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor,
                t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t−1} | x_t, x_0) (DDPM Eqs. 6–7): (`posterior_mean` like x_t, β̃_t (B, 1, 1, 1)).

    μ̃_t = √ᾱ_{t−1}·β_t/(1−ᾱ_t) · x_0 + √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t) · x_t,   β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t.
    """
    ab = extract(s.alpha_bar, t, x_t.shape, like=x_t)
    ab_prev = extract(s.alpha_bar_prev, t, x_t.shape, like=x_t)
    return posterior_mean(x0, x_t, ab, ab_prev), extract(s.posterior_variance, t, x_t.shape, like=x_t)


# --- parameterizations: each is paths.to_x0_eps / from_x0_eps with α = √ᾱ_t, σ = √(1−ᾱ_t) ---------------


def _scales(s: NoiseSchedule, t: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = extract(s.alpha_bar, t, x.shape, like=x)
    return a.sqrt(), (1 - a).sqrt()


def predict_x0_from_eps(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t  (DDPM Eq. 15; DDIM Eq. 12's 'predicted x_0')."""
    return to_x0_eps(eps, x_t, "eps", *_scales(s, t, x_t))[0]


def predict_eps_from_x0(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ_t·x̂_0) / √(1−ᾱ_t)."""
    return to_x0_eps(x0, x_t, "x0", *_scales(s, t, x_t))[1]


def get_v(s: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0  (Salimans & Ho, arXiv:2202.00512)."""
    return from_x0_eps(x0, eps, "v", *_scales(s, t, x0))


def predict_x0_from_v(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x̂_0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v."""
    return to_x0_eps(v, x_t, "v", *_scales(s, t, x_t))[0]


def predict_eps_from_v(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ε̂ = √(1−ᾱ_t)·x_t + √ᾱ_t·v."""
    return to_x0_eps(v, x_t, "v", *_scales(s, t, x_t))[1]


def model_output_to_x0_eps(
    s: NoiseSchedule, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a network output of any parameterization (ε, x_0, v, u) into the pair (x̂_0, ε̂): paths.to_x0_eps.

    With ε-prediction at ᾱ_t = 0 (zero terminal SNR) x̂_0 is undefined: 0/0. Like diffusers, we
    do not special-case it; samplers warn about it, and `make_timesteps` can avoid t = T−1.
    u (flow matching) stays finite there: x̂_0 = x_t − û, ε̂ = x_t.
    """
    return to_x0_eps(output, x_t, normalize_prediction_type(prediction_type), *_scales(s, t, x_t))


def training_target(s: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    prediction_type: str) -> torch.Tensor:
    """What the network should output at (x_t, t): ε, x_0, v, or u = ε − x_0."""
    return from_x0_eps(x0, eps, normalize_prediction_type(prediction_type), *_scales(s, t, x0))


def training_loss(
    s: NoiseSchedule,
    model_output: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    t: torch.Tensor,
    prediction_type: str,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """Per-sample MSE to the parameterization's target: the 'simple' loss (DDPM Eq. 14).

    With `min_snr_gamma` = γ the loss is weighted per sample as in Min-SNR (arXiv:2303.09556),
    expressed for each target so that all three weight the *x_0 error* by min(SNR, γ):
        ε:  w = min(SNR, γ) / SNR      x_0:  w = min(SNR, γ)      v:  w = min(SNR, γ) / (SNR + 1)
        u:  w = min(SNR, γ) / (1 + √SNR)²   (x̂_0 = x_lin − t·û with t = 1/(1 + √SNR))
    Returns (B,) losses; take `.mean()` to train.
    """
    target = training_target(s, x0, eps, t, prediction_type)
    per_sample = (model_output.float() - target.float()).pow(2).flatten(1).mean(1)
    if min_snr_gamma is None:
        return per_sample
    idx = t.reshape(-1).long()
    snr = (s.snr[idx] if s.snr.device == idx.device else s.snr[idx.cpu()]).to(per_sample.device)  # (B,) float64
    clipped = snr.clamp(max=float(min_snr_gamma))
    kind = normalize_prediction_type(prediction_type)
    if kind == "eps":  # min(SNR, γ)/SNR → 1 as SNR → 0 (zero terminal SNR)
        weight = torch.where(snr > 0, clipped / snr.clamp(min=1e-30), torch.ones_like(snr))
    elif kind == "x0":
        weight = clipped
    elif kind == "u":
        weight = clipped / (1 + snr.sqrt()) ** 2
    else:
        weight = clipped / (snr + 1)
    return per_sample * weight.float()
