"""Reverse-process samplers as pure step functions, plus one loop that yields every state.

Notation (code name → paper symbol):

    t, t_prev       the timestep now and the one the step lands on; t_prev = −1 means "clean",
                    where ᾱ_{−1} = 1 (diffusers' `set_alpha_to_one=True`)
    ab, ab_prev     ᾱ_t, ᾱ_{t_prev}
    x0_pred, eps_pred   x̂_0 and ε̂ implied by the network output
    eta             η: DDIM's stochasticity, 0 = deterministic DDIM, 1 = DDPM-like (DDIM Eq. 16)
    sigma           σ_t(η) = η·√((1−ᾱ_{t_prev})/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_{t_prev})
    lam             λ_t = log(√ᾱ_t / √(1−ᾱ_t)) = ½·log-SNR, DPM-Solver's time variable
    tau, c          the flow time τ = σ/(α + σ) ∈ [0, 1] of the straight path with the same SNR, and its scale
                    x_lin = x_t / c, c = √ᾱ + √(1−ᾱ) (paths.to_linear); u = ε̂ − x̂_0 = dx_lin/dτ
    nfe             network evaluations so far (a Heun step costs two, its last step one)

Samplers (papers):
    DDPM ancestral    arXiv:2006.11239, Alg. 2; on a subset of steps β'_t = 1 − ᾱ_t/ᾱ_{t_prev}
    DDIM(η)           arXiv:2010.02502, Eq. 12 and Eq. 16
    DPM-Solver++(2M)  arXiv:2211.01095, Alg. 2 (multistep, data prediction)
    Euler, Heun       on the flow ODE dx_lin/dτ = û (rectified flow, arXiv:2209.03003; Heun as in EDM,
                      arXiv:2206.00364, Alg. 1, with no correction on the last step). Euler's step equals
                      DDIM(η = 0)'s exactly (tests/test_flow.py); they run on every model through the conversion.
    CFG               arXiv:2207.12598: ε̃ = ε_u + w·(ε_c − ε_u) (w = 1: plain conditional)

Nothing here keeps state between calls: the timestep list is a returned value, and all
randomness comes from an explicit `torch.Generator` or from noise passed in by the caller.
"""

from __future__ import annotations

import collections
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch

from .diffusion import normalize_prediction_type, posterior_mean
from .paths import to_linear, to_x0_eps
from .schedules import NoiseSchedule

SPACINGS = ("leading", "trailing", "linspace")
SAMPLERS = ("ddpm", "ddim", "dpmpp_2m")
FLOW_SAMPLERS = ("euler", "heun")  # on the flow ODE dx/dt = û of the straight path with the same SNR (paths.py)
ALL_SAMPLERS = SAMPLERS + FLOW_SAMPLERS

# ε-prediction at ᾱ = 0 (zero terminal SNR) divides by zero; like diffusers we floor ᾱ there.
# Only an exact 0 is floored (diffusers sets ᾱ_{T−1} = 2^-24 in that case only): a small positive
# ᾱ, e.g. cosine's ᾱ_999 = 2.4e-9 at T = 1000, is used as it is.
ALPHA_BAR_FLOOR = 2.0**-24


def _floor_zero(ab: float) -> float:
    return ab if ab > 0.0 else ALPHA_BAR_FLOOR

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = [
    "SPACINGS",
    "SAMPLERS",
    "FLOW_SAMPLERS",
    "ALL_SAMPLERS",
    "ModelFn",
    "StepOutput",
    "SamplerState",
    "make_timesteps",
    "normalize_sampler",
    "ddpm_step",
    "ddim_step",
    "dpmpp_2m_step",
    "euler_step",
    "heun_step",
    "ddim_sigma",
    "cfg_model_fn",
    "sample_loop",
    "sample",
]

_SAMPLER_ALIASES = {
    "ddpm": "ddpm", "ancestral": "ddpm",
    "ddim": "ddim",
    "dpmpp_2m": "dpmpp_2m", "dpmpp": "dpmpp_2m", "dpm++": "dpmpp_2m", "dpm": "dpmpp_2m",
    "dpm_solver": "dpmpp_2m", "dpm_solver++": "dpmpp_2m", "dpmsolver++": "dpmpp_2m", "dpm++_2m": "dpmpp_2m",
    "dpm_solver_pp": "dpmpp_2m",
    "euler": "euler", "flow_euler": "euler", "heun": "heun", "flow_heun": "heun",
}


def normalize_sampler(name: str) -> str:
    """Map a sampler name or alias ('DPM++', 'dpm-solver++', …) to 'ddpm', 'ddim', 'dpmpp_2m', 'euler' or 'heun'."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _SAMPLER_ALIASES:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(ALL_SAMPLERS)}")
    return _SAMPLER_ALIASES[key]


# --- 1. timestep spacing ---------------------------------------------------------------------------


def make_timesteps(T: int, num_steps: int, spacing: str = "leading") -> list[tuple[int, int]]:
    """The explicit (t, t_prev) pairs a sampler runs, from noisy to clean; the last t_prev is −1.

    Spacings, as in diffusers (arXiv:2305.08891, Table 2):
        leading   t = k·⌊T/n⌋ for k = n−1 … 0          50 of 1000 starts at t = 980, not 999
        trailing  t ≈ round(T − k·T/n) − 1, k = 0 … n−1   starts at t = T−1 (999)
        linspace  round(linspace(0, T−1, n)), reversed    starts at T−1, ends at 0

    t_prev is always the *next entry of the list*. (diffusers' DDIMScheduler instead uses
    t − ⌊T/n⌋, which is wrong for linspace spacing; see tests/test_parity_diffusers.py.)
    """
    T, n = int(T), int(num_steps)
    if n < 1:
        raise ValueError(f"need at least 1 sampling step, got {n}")
    if n > T:
        raise ValueError(f"cannot take {n} steps on a schedule of T = {T} (at most T)")
    if spacing == "leading":
        ts = (np.arange(0, n) * (T // n))[::-1]
    elif spacing == "trailing":
        # diffusers' expression; np.arange with a float step sometimes yields n + 1 values (the last
        # ≈ 0, i.e. t = −1), e.g. T = 1000, n = 61. Keep the first n, which are diffusers' list otherwise.
        ts = (np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1)[:n]
    elif spacing == "linspace":
        ts = np.linspace(0, T - 1, n).round()[::-1]
    else:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    ts = [int(t) for t in ts]
    assert len(set(ts)) == len(ts) == n and all(a > b for a, b in zip(ts, ts[1:])), ts
    return list(zip(ts, ts[1:] + [-1]))


# --- 2. step functions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepOutput:
    """What one reverse step returns: x_{t_prev}, and the x̂_0 / ε̂ it used."""

    x_prev: torch.Tensor  # (B, C, H, W)
    x0_pred: torch.Tensor  # (B, C, H, W)
    eps_pred: torch.Tensor  # (B, C, H, W)


def _alpha_bars(s: NoiseSchedule, t: int, t_prev: int, floor: bool = False) -> tuple[float, float]:
    """ᾱ_t and ᾱ_{t_prev} (1 for t_prev = −1). `floor` lifts ᾱ_t = 0 to 2^-24 (DPM-Solver needs a finite λ).

    DDPM and DDIM use the true ᾱ_t in their coefficients: flooring there would give α' = ᾱ_t/ᾱ_{t_prev} > 1
    when ᾱ_{t_prev} < 2^-24 (zero terminal SNR, full grid) and a wrong σ_t(η) at the first step.
    Only ε-prediction's x̂_0 needs the floor, and `_x0_eps` applies it there.
    """
    ab = float(s.alpha_bar[t])
    if floor:
        ab = _floor_zero(ab)
    ab_prev = float(s.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
    return ab, ab_prev


def _x0_eps(s, output, x_t, t, ab, prediction_type, clip_x0):
    """x̂_0 and ε̂ from the network output (paths.to_x0_eps at α = √ᾱ_t, σ = √(1−ᾱ_t)), x̂_0 optionally clipped.

    ε-prediction at ᾱ_t = 0 reads ᾱ as 2^-24, as diffusers does. When x̂_0 is clipped, ε̂ is recomputed from it so
    the step stays consistent (diffusers' `use_clipped_model_output=True`).
    """
    kind = normalize_prediction_type(prediction_type)
    ab_x = float(s.alpha_bar[t])  # the true ᾱ_t (DPM-Solver passes a floored `ab` for its λ)
    ab_x = _floor_zero(ab_x) if kind == "eps" else ab_x
    x0, eps = to_x0_eps(output, x_t, kind, math.sqrt(ab_x), math.sqrt(1 - ab_x))
    if clip_x0:
        x0 = x0.clamp(-1.0, 1.0)
        eps = to_x0_eps(x0, x_t, "x0", math.sqrt(ab), math.sqrt(1 - ab))[1]
    return x0, eps


def ddpm_step(
    s: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    model_output: torch.Tensor,
    noise: torch.Tensor | None,
    *,
    prediction_type: str = "eps",
    variance: str = "beta_tilde",
    clip_x0: bool = False,
) -> StepOutput:
    """One ancestral DDPM step x_t → x_{t_prev} (DDPM Alg. 2, Eqs. 6–7).

    On a subset of steps the effective β is β'_t = 1 − ᾱ_t/ᾱ_{t_prev} (α'_t = ᾱ_t/ᾱ_{t_prev}).
        1. x̂_0 from the model output (optionally clipped)
        2. posterior mean μ̃ = √ᾱ_{t_prev}·β'_t/(1−ᾱ_t)·x̂_0 + √α'_t·(1−ᾱ_{t_prev})/(1−ᾱ_t)·x_t   (Eq. 7)
        3. σ² = β̃_t = (1−ᾱ_{t_prev})/(1−ᾱ_t)·β'_t ('beta_tilde', the posterior variance)
              or β'_t ('beta', the upper bound); no noise on the final step (t_prev = −1)
    Args: x_t (B, C, H, W); model_output like x_t; noise like x_t (needed unless t_prev = −1).
    """
    ab, ab_prev = _alpha_bars(s, t, t_prev)
    x0, eps = _x0_eps(s, model_output, x_t, t, ab, prediction_type, clip_x0)
    # 1–2. effective one-step α', β' between t and t_prev, and the posterior mean (Eq. 7)
    beta = 1 - ab / ab_prev
    mean = posterior_mean(x0, x_t, ab, ab_prev)
    # 3. σ_t² and the noise
    if t_prev < 0:
        return StepOutput(mean, x0, eps)
    if variance == "beta_tilde":
        var = max((1 - ab_prev) / (1 - ab) * beta, 1e-20)
    elif variance == "beta":
        var = beta
    else:
        raise ValueError(f"variance must be 'beta_tilde' or 'beta', got {variance!r}")
    if noise is None:
        raise ValueError("ddpm_step needs noise for every step but the last")
    return StepOutput(mean + math.sqrt(var) * noise, x0, eps)


def ddim_sigma(s: NoiseSchedule, t: int, t_prev: int, eta: float) -> float:
    """σ_t(η) = η·√((1−ᾱ_{t_prev})/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_{t_prev})  (DDIM Eq. 16)."""
    ab, ab_prev = _alpha_bars(s, t, t_prev)
    return eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(max(1 - ab / ab_prev, 0.0))


def ddim_step(
    s: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    model_output: torch.Tensor,
    noise: torch.Tensor | None,
    *,
    prediction_type: str = "eps",
    eta: float = 0.0,
    clip_x0: bool = False,
) -> StepOutput:
    """One DDIM step x_t → x_{t_prev} (DDIM Eq. 12):

        x_{t_prev} = √ᾱ_{t_prev}·x̂_0  +  √(1−ᾱ_{t_prev}−σ_t²)·ε̂  +  σ_t·z
                      "predicted x_0"     "direction pointing to x_t"   random noise
    with σ_t = σ_t(η) from Eq. 16. η = 0 is deterministic; η = 1 on the full grid is DDPM with β̃.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    ab, ab_prev = _alpha_bars(s, t, t_prev)
    # 1. x̂_0 and ε̂ (Eq. 12's "predicted x_0")
    x0, eps = _x0_eps(s, model_output, x_t, t, ab, prediction_type, clip_x0)
    # 2. σ_t(η), Eq. 16
    sigma = ddim_sigma(s, t, t_prev, eta)
    # 3. direction pointing to x_t, Eq. 12
    direction = math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
    x_prev = math.sqrt(ab_prev) * x0 + direction
    # 4. random noise, only when σ_t > 0
    if sigma > 0:
        if noise is None:
            raise ValueError("ddim_step with eta > 0 needs noise")
        x_prev = x_prev + sigma * noise
    return StepOutput(x_prev, x0, eps)


def _lambda(ab: float) -> float:
    """λ = log(√ᾱ/√(1−ᾱ)) = ½·log SNR; +∞ for the clean end (ᾱ = 1)."""
    return math.inf if ab >= 1.0 else 0.5 * (math.log(ab) - math.log1p(-ab))


def dpmpp_2m_step(
    s: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    model_output: torch.Tensor,
    *,
    prediction_type: str = "eps",
    clip_x0: bool = False,
    last: tuple[int, torch.Tensor] | None = None,
) -> StepOutput:
    """One DPM-Solver++(2M) step (arXiv:2211.01095, Alg. 2), on the data prediction x̂_0.

    With α = √ᾱ, σ = √(1−ᾱ), h = λ_{t_prev} − λ_t:
        first order (= DDIM η=0):  x_{t_prev} = (σ_prev/σ_t)·x_t − α_prev·(e^{−h} − 1)·D
        second order:  D = (1 + 1/(2r))·x̂_0(t) − 1/(2r)·x̂_0(t_last),  r = h_last / h
    `last` = (t_last, x̂_0 at t_last) from the previous step, or None for the first step.
    The final step onto σ = 0 (t_prev = −1) is first order and returns x̂_0 (diffusers'
    `final_sigmas_type="zero"`).
    """
    ab, ab_prev = _alpha_bars(s, t, t_prev, floor=True)
    x0, eps = _x0_eps(s, model_output, x_t, t, ab, prediction_type, clip_x0)
    if t_prev < 0:
        return StepOutput(x0, x0, eps)
    lam, lam_prev = _lambda(ab), _lambda(ab_prev)
    h = lam_prev - lam
    d = x0
    if last is not None:
        t_last, x0_last = last
        h_last = lam - _lambda(_floor_zero(float(s.alpha_bar[t_last])))
        r = h_last / h
        d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_last
    sigma, sigma_prev = math.sqrt(1 - ab), math.sqrt(1 - ab_prev)
    x_prev = (sigma_prev / sigma) * x_t - math.sqrt(ab_prev) * math.expm1(-h) * d
    return StepOutput(x_prev, x0, eps)


def euler_step(
    s: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    model_output: torch.Tensor,
    *,
    prediction_type: str = "eps",
    clip_x0: bool = False,
) -> StepOutput:
    """One Euler step of the flow ODE: x_lin ← x_lin + (τ_prev − τ)·û, with û = ε̂ − x̂_0 (any model, any schedule).

    x_lin = x_t / c is x_t on the straight path with the same SNR (paths.to_linear); the result goes back to
    the schedule's scale. With x̂_0, ε̂ fixed this is DDIM(η = 0)'s step, written another way.
    """
    ab, ab_prev = _alpha_bars(s, t, t_prev)
    x0, eps = _x0_eps(s, model_output, x_t, t, ab, prediction_type, clip_x0)
    (tau, c), (tau_prev, c_prev) = to_linear(ab), to_linear(ab_prev)
    x_lin = x_t / c + (tau_prev - tau) * (eps - x0)
    return StepOutput(x_lin * c_prev, x0, eps)


def heun_step(
    s: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    model_output: torch.Tensor,
    evaluate: Callable[[torch.Tensor], torch.Tensor],
    *,
    prediction_type: str = "eps",
    clip_x0: bool = False,
) -> StepOutput:
    """One Heun step of the flow ODE (EDM Alg. 1, lines 5–8), on x_lin = x_t / c in flow time τ.

        d_cur = û(x, τ);  x_next = x + (τ_prev − τ)·d_cur;  unless τ_prev = 0 (the last step, EDM's rule):
        d' = û(x_next, τ_prev);  x_next = x + (τ_prev − τ)·(½·d_cur + ½·d')
    `evaluate(x_t_prev)` is the network at t_prev (the loop's model call), used only for the correction.
    """
    first = euler_step(s, x_t, t, t_prev, model_output, prediction_type=prediction_type, clip_x0=clip_x0)
    if t_prev < 0:
        return first
    ab, ab_prev = _alpha_bars(s, t, t_prev)
    x0_n, eps_n = _x0_eps(s, evaluate(first.x_prev), first.x_prev, t_prev, ab_prev, prediction_type, clip_x0)
    (tau, c), (tau_prev, c_prev) = to_linear(ab), to_linear(ab_prev)
    d = 0.5 * (first.eps_pred - first.x0_pred) + 0.5 * (eps_n - x0_n)
    return StepOutput((x_t / c + (tau_prev - tau) * d) * c_prev, first.x0_pred, first.eps_pred)


# --- 3. classifier-free guidance -------------------------------------------------------------------


def cfg_model_fn(model: Callable, labels: torch.Tensor | None, guidance_scale: float, null_label: int) -> ModelFn:
    """Wrap a class-conditional `model(x, t, labels)` into `model_fn(x, t)` with CFG.

    ε̃ = ε(x, ∅) + w·(ε(x, c) − ε(x, ∅))  (arXiv:2207.12598 Eq. 6 with w = 1 + w_paper).
    w = 1 is the plain conditional model (one forward pass); w = 0 is unconditional;
    w > 1 pushes samples towards their class. labels = None means unconditional.
    The conditional and unconditional halves run as one batch.
    """
    w = float(guidance_scale)

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if labels is None or w == 0.0:
            null = torch.full((x.shape[0],), null_label, dtype=torch.long, device=x.device)
            return model(x, t, null)
        lab = labels.to(x.device)
        if w == 1.0:
            return model(x, t, lab)
        null = torch.full_like(lab, null_label)
        out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([lab, null]))
        cond, uncond = out.chunk(2)
        return uncond + w * (cond - uncond)

    return model_fn


# --- 4. the loop -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerState:
    """The state after step i (1-based) of num_steps: x_t is now at timestep t_prev."""

    i: int
    num_steps: int
    t: int  # the timestep the model was evaluated at
    t_prev: int  # the timestep x_t is now at (−1 = clean)
    x_t: torch.Tensor  # (B, C, H, W) x_{t_prev}
    x0_pred: torch.Tensor  # (B, C, H, W) x̂_0 predicted at t
    eps_pred: torch.Tensor  # (B, C, H, W) ε̂ predicted at t
    nfe: int = 0  # network evaluations so far (CFG's two halves count as one)


def _step(kind, s, x, t, t_prev, out, z, last, evaluate, kw, *, eta, ddpm_variance) -> StepOutput:
    """One step of sampler `kind` (the loop's dispatch); `evaluate(x)` is the network at t_prev (Heun only)."""
    if kind == "ddpm":
        return ddpm_step(s, x, t, t_prev, out, z, variance=ddpm_variance, **kw)
    if kind == "ddim":
        return ddim_step(s, x, t, t_prev, out, z, eta=eta, **kw)
    if kind == "euler":
        return euler_step(s, x, t, t_prev, out, **kw)
    if kind == "heun":
        return heun_step(s, x, t, t_prev, out, evaluate, **kw)
    return dpmpp_2m_step(s, x, t, t_prev, out, last=last, **kw)


def _warn_eps_at_zero_snr(s: NoiseSchedule, pred: str, pairs: list[tuple[int, int]]) -> None:
    if pred == "eps" and pairs[0][0] == s.T - 1 and float(s.alpha_bar[-1]) == 0.0:
        warnings.warn(
            "ε-prediction at zero terminal SNR: x̂_0 is 0/0 at t = T−1; ᾱ is floored at 2^-24 there "
            "(as diffusers does). Use v-prediction with zero-terminal-SNR schedules.",
            stacklevel=3,
        )


def sample_loop(
    model_fn: ModelFn,
    s: NoiseSchedule,
    shape: tuple[int, ...],
    *,
    sampler: str = "ddim",
    num_steps: int = 50,
    spacing: str = "leading",
    eta: float = 0.0,
    prediction_type: str = "eps",
    clip_x0: bool = False,
    ddpm_variance: str = "beta_tilde",
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    noises: Callable[[int], torch.Tensor] | None = None,
    timesteps: list[tuple[int, int]] | None = None,
    device: torch.device | str | None = None,
) -> Iterator[SamplerState]:
    """Run a sampler from x_T to x_0, yielding a :class:`SamplerState` after every step.

    Noise order is fixed so that two samplers given the same seed share everything random:
    x_T is drawn first, then exactly one noise tensor per step (drawn even when unused, e.g.
    η = 0). So DDPM and DDIM(η = 1) on the full grid from one seed give identical images.

    Args:
        model_fn: (x_t (B, C, H, W), t (B,) long) → network output (B, C, H, W).
        shape: (B, C, H, W) of the images to make.
        sampler: 'ddpm', 'ddim', 'dpmpp_2m', 'euler' or 'heun' (aliases accepted).
        num_steps, spacing: see `make_timesteps`; or pass `timesteps` explicitly.
        eta: DDIM's η (ignored by the other samplers).
        x_T: the starting noise; default drawn from `generator`.
        noises: optional i ↦ noise tensor for step i (0-based); default drawn from `generator`.
    """
    kind = normalize_sampler(sampler)
    pred = normalize_prediction_type(prediction_type)
    pairs = timesteps if timesteps is not None else make_timesteps(s.T, num_steps, spacing)
    device = torch.device(device) if device is not None else (x_T.device if x_T is not None else torch.device("cpu"))
    _warn_eps_at_zero_snr(s, pred, pairs)

    def draw() -> torch.Tensor:
        return torch.randn(shape, generator=generator, device=generator.device if generator else "cpu").to(device)

    x = (x_T.to(device).float() if x_T is not None else draw())
    last: tuple[int, torch.Tensor] | None = None
    n, nfe = len(pairs), 0

    def evaluate(x_in: torch.Tensor, t_in: int) -> torch.Tensor:
        nonlocal nfe
        nfe += 1
        with torch.inference_mode():
            return model_fn(x_in, torch.full((shape[0],), t_in, dtype=torch.long, device=device)).float()

    for i, (t, t_prev) in enumerate(pairs):
        z = noises(i).to(device) if noises is not None else draw()
        out = evaluate(x, t)
        step = _step(kind, s, x, t, t_prev, out, z, last, lambda x_n, t_n=t_prev: evaluate(x_n, t_n),
                     dict(prediction_type=pred, clip_x0=clip_x0), eta=eta, ddpm_variance=ddpm_variance)
        last = (t, step.x0_pred)  # DPM-Solver++(2M)'s memory
        x = step.x_prev
        yield SamplerState(i + 1, n, t, t_prev, x, step.x0_pred, step.eps_pred, nfe)


_Item = TypeVar("_Item")


def run_to_end(loop: Iterable[_Item]) -> _Item | None:
    """Run a step-by-step loop (a generator of states) to its end; return its final item (None if it yields none)."""
    tail = collections.deque(loop, maxlen=1)
    return tail[0] if tail else None


def sample(model_fn: ModelFn, s: NoiseSchedule, shape: tuple[int, ...], **kwargs) -> torch.Tensor:
    """Run :func:`sample_loop` to the end and return x_0 (B, C, H, W). Same arguments."""
    state = run_to_end(sample_loop(model_fn, s, shape, **kwargs))
    assert state is not None
    return state.x_t
