"""The forward process q, the ε / x̂₀ / v parameterizations, and the training loss.

Notation (code name → paper symbol):

    x0        x_0      clean image, in [−1, 1], shape (B, C, H, W)
    x_t       x_t      noised image at timestep t
    eps       ε        standard normal noise, same shape as x0
    v         v        velocity, v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0            (arXiv:2202.00512, §4)
    t         t        (B,) long timesteps in [0, T)
    s         a NoiseSchedule (see schedules.py)

Two forms of the forward process, both here so the app can show they agree:

    closed form, from x_0:    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε                  DDPM Eq. 4
    one-step kernel:          x_t = √α_t · x_{t−1} + √β_t · ε                     DDPM Eq. 2

(A common slip writes ᾱ_t next to x_{t−1}; ᾱ belongs to the closed form only.)
"""

from __future__ import annotations

from typing import Iterator

import torch

from .schedules import NoiseSchedule, extract

PREDICTION_TYPES = ("eps", "x0", "v")

__all__ = [
    "PREDICTION_TYPES",
    "q_sample",
    "q_step",
    "q_chain",
    "q_posterior",
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
            "v": "v", "v_prediction": "v", "velocity": "v"}


def normalize_prediction_type(name: str) -> str:
    """Map 'epsilon' / 'sample' / 'v_prediction' (diffusers' names) and friends to 'eps' / 'x0' / 'v'."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _ALIASES:
        raise ValueError(f"unknown prediction type {name!r}; choose one of {', '.join(PREDICTION_TYPES)}")
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


def q_posterior(s: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor,
                t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t−1} | x_t, x_0) (DDPM Eqs. 6–7).

    μ̃_t = √ᾱ_{t−1}·β_t/(1−ᾱ_t) · x_0 + √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t) · x_t,   β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t.
    Returns (mean like x_t, variance (B, 1, 1, 1)).
    """
    ab = extract(s.alpha_bar, t, x_t.shape, like=x_t)
    ab_prev = extract(s.alpha_bar_prev, t, x_t.shape, like=x_t)
    beta = extract(s.betas, t, x_t.shape, like=x_t)
    alpha = extract(s.alphas, t, x_t.shape, like=x_t)
    mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + alpha.sqrt() * (1 - ab_prev) / (1 - ab) * x_t
    return mean, extract(s.posterior_variance, t, x_t.shape, like=x_t)


# --- parameterizations: everything in terms of a = ᾱ_t at the given t ------------------------------


def _ab(s: NoiseSchedule, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return extract(s.alpha_bar, t, x.shape, like=x)


def predict_x0_from_eps(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t  (DDPM Eq. 15; DDIM Eq. 12's 'predicted x_0')."""
    a = _ab(s, t, x_t)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()


def predict_eps_from_x0(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """ε̂ = (x_t − √ᾱ_t·x̂_0) / √(1−ᾱ_t)."""
    a = _ab(s, t, x_t)
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def get_v(s: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """v = √ᾱ_t·ε − √(1−ᾱ_t)·x_0  (Salimans & Ho, arXiv:2202.00512)."""
    a = _ab(s, t, x0)
    return a.sqrt() * eps - (1 - a).sqrt() * x0


def predict_x0_from_v(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x̂_0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v."""
    a = _ab(s, t, x_t)
    return a.sqrt() * x_t - (1 - a).sqrt() * v


def predict_eps_from_v(s: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """ε̂ = √(1−ᾱ_t)·x_t + √ᾱ_t·v."""
    a = _ab(s, t, x_t)
    return (1 - a).sqrt() * x_t + a.sqrt() * v


def model_output_to_x0_eps(
    s: NoiseSchedule, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a network output of any parameterization into the pair (x̂_0, ε̂).

    With ε-prediction at ᾱ_t = 0 (zero terminal SNR) x̂_0 is undefined: 0/0. Like diffusers, we
    do not special-case it; samplers warn about it, and `make_timesteps` can avoid t = T−1.
    """
    kind = normalize_prediction_type(prediction_type)
    if kind == "eps":
        return predict_x0_from_eps(s, x_t, t, output), output
    if kind == "x0":
        return output, predict_eps_from_x0(s, x_t, t, output)
    return predict_x0_from_v(s, x_t, t, output), predict_eps_from_v(s, x_t, t, output)


def training_target(s: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                    prediction_type: str) -> torch.Tensor:
    """What the network should output at (x_t, t): ε, x_0, or v."""
    kind = normalize_prediction_type(prediction_type)
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    return get_v(s, x0, eps, t)


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
    else:
        weight = clipped / (snr + 1)
    return per_sample * weight.float()
