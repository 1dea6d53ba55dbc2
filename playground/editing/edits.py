"""Editing with a trained diffusion model: SDEdit, inpainting, DDIM inversion, latent interpolation.
(Turning a drawing into a digit the model knows, and the inpainting masks: playground/editing/drawing.py.)

Notation (code name → paper symbol):

    x0          x_0 (SDEdit: x^(g), the guide)   the input digit, (B, 1, 28, 28) in [−1, 1]
    x_t         x_t                  the image at timestep t (0-based; t = −1 means clean, ᾱ_{−1} = 1)
    eps         ε                    standard normal noise, like x0
    alpha_bar   ᾱ_t                  see schedules.py; the forward process is q(x_t|x_0) = N(√ᾱ_t·x_0, (1−ᾱ_t)·I)
    t0          SDEdit's t_0         how far the input is noised, as a number of forward steps 0 … T:
                                     t0 = 0 is the input itself, t0 = T (almost) pure noise. The noised input is
                                     x_{t0} in the papers' 1-based indexing, i.e. code timestep t0 − 1.
    strength    t_0 ∈ [0, 1]         SDEdit's continuous time (SDEdit §3, Alg. 1): t0 = round(strength·T)
    keep        m                    RePaint's mask (Eq. 8): 1 = known pixel, kept from x0; 0 = generated
    jump_length j                    RePaint §4.2 resampling: go j steps down, then jump j steps back up
    jump_n_sample r                  RePaint's r: how many times each stretch is (re)sampled; 1 = no resampling
    latent      x_T                  DDIM inversion's end point: Eq. 14 (the probability-flow ODE) run backwards
    w           guidance scale       CFG (arXiv:2207.12598), folded into `model_fn` by the caller

Papers: SDEdit arXiv:2108.01073, RePaint arXiv:2201.09865, DDIM arXiv:2010.02502 (§4.3 Eqs. 13–14,
§5.4 "encode x_0 to x_T and reconstruct"), DDPM arXiv:2006.11239.

The equations, in the code's 0-based t:

    SDEdit       x_{t0−1} = √ᾱ·x0 + √(1−ᾱ)·ε  (q_sample), then any reverse sampler from t0−1 to clean.
    inpainting   x_{t_prev} = m ⊙ x^known + (1−m) ⊙ x^unknown                          RePaint Eq. 8
                 x^known   ~ N(√ᾱ_{t_prev}·x0, (1−ᾱ_{t_prev})·I)  (fresh ε each step)   RePaint Eq. 8
                 x^unknown = one DDPM / DDIM step from x_t                              RePaint Eq. 8
                 resampling: x_b ~ q(x_b | x_a) = N(√(ᾱ_b/ᾱ_a)·x_a, (1−ᾱ_b/ᾱ_a)·I), b > a    RePaint Alg. 1 l.10
                 (RePaint's Alg. 1 line 5, as printed, scales ε by the variance 1−ᾱ; Eq. 8, used here, by the std.)
    inversion    x_{t_next} = √ᾱ_{t_next}·x̂_0 + √(1−ᾱ_{t_next})·ε̂,  x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t
                 i.e. DDIM Eq. 12 with η = 0 and t_prev := t_next > t. ε̂ = ε_θ(x_t, t_next): the model is
                 evaluated at the timestep the step goes *to*, the one the matching sampling step
                 (t_next → t) evaluates it at, with x_t standing in for the unknown x_{t_next}. That
                 substitution is the whole approximation; it shrinks with smaller steps.
    slerp        z(α) = sin((1−α)θ)/sin θ · z_a + sin(αθ)/sin θ · z_b,  cos θ = ⟨z_a, z_b⟩ / (|z_a|·|z_b|)

Distances are RMSE in display pixels: both images mapped to [0, 1] and clamped, so 0 is identical
and 0.1 is a visible change. No gradio here: the UI turns the ValueErrors into messages.
Randomness comes only from an explicit `torch.Generator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from playground.diffusion import model_output_to_x0_eps, normalize_prediction_type, q_sample
from playground.mnist.data import to_unit_range
from playground.samplers import (
    ModelFn,
    StepOutput,
    ddim_step,
    ddpm_step,
    make_timesteps,
    normalize_sampler,
    run_to_end,
    sample_loop,
)
from playground.schedules import NoiseSchedule

# The inputs of every edit (drawings → digits, masks) live in drawing.py; re-exported for the UI and tests.
from .drawing import (  # noqa: F401
    ALL_INK,
    EMPTY_CANVAS,
    MASK_PRESETS,
    MNIST_BOX,
    MNIST_SIZE,
    PREPROCESS_NOTE,
    PreparedDigit,
    heldout_digit,
    keep_mask_from_brush,
    prepare_digit,
    preset_keep_mask,
)

__all__ = [
    "MNIST_SIZE",
    "MNIST_BOX",
    "PREPROCESS_NOTE",
    "EMPTY_CANVAS",
    "ALL_INK",
    "MASK_PRESETS",
    "PreparedDigit",
    "EditState",
    "InversionResult",
    "InterpolationResult",
    "prepare_digit",
    "heldout_digit",
    "preset_keep_mask",
    "keep_mask_from_brush",
    "strength_to_t0",
    "sdedit_timesteps",
    "sdedit_loop",
    "sdedit",
    "strip_steps",
    "sdedit_strip",
    "q_jump",
    "repaint_ops",
    "inpaint_loop",
    "inpaint",
    "ddim_inverse_step",
    "ddim_invert_loop",
    "ddim_invert",
    "ddim_reconstruct",
    "invert_and_reconstruct",
    "inversion_sweep",
    "slerp",
    "interpolate",
    "pixel_rmse",
    "classify",
]

# --- 3. common pieces -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditState:
    """One frame of an edit, for streaming: x_t is now at timestep t (−1 = clean)."""

    phase: str  # "noise" (forward-noised input), "denoise", "resample" (RePaint jump up), "invert", "reconstruct"
    i: int  # 1-based count of operations done in this phase (0 for the "noise" frame)
    n: int  # how many this phase has
    t: int  # the timestep x_t is at now
    x_t: torch.Tensor  # (B, C, H, W)
    x0_pred: torch.Tensor | None  # (B, C, H, W) x̂_0 of the last model call, None before the first


def _check_x0(x0: torch.Tensor, name: str = "x0") -> None:
    if not isinstance(x0, torch.Tensor) or x0.ndim != 4:
        raise ValueError(f"{name} must be a (B, C, H, W) tensor, got {getattr(x0, 'shape', type(x0))}")
    if not torch.isfinite(x0).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(x0.min()), float(x0.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"{name} must be in the model range [−1, 1], got [{lo:.3g}, {hi:.3g}]")


def _check_steps(num_steps: int, limit: int, what: str = "steps") -> int:
    n = int(num_steps)
    if n < 1:
        raise ValueError(f"need at least 1 {what[:-1]}, got {num_steps}")
    if n > limit:
        raise ValueError(f"cannot take {n} {what} on a schedule of T = {limit} (at most {limit})")
    return n


def _need_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError("pass generator=torch.Generator().manual_seed(seed): editing draws all its noise from it")
    return generator


def _randn(shape, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=generator, device=generator.device).to(like.device, like.dtype)


def _t_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)


def _ab(s: NoiseSchedule, t: int) -> float:
    """ᾱ_t with ᾱ_{−1} = 1."""
    return 1.0 if t < 0 else float(s.alpha_bar[t])


# --- 4. SDEdit ---------------------------------------------------------------------------------------


def strength_to_t0(strength: float, T: int) -> int:
    """SDEdit's t_0 ∈ [0, 1] (the strength slider) → t0 forward steps, round(strength·T) ∈ {0, …, T}."""
    s = float(strength)
    if not 0.0 <= s <= 1.0 or math.isnan(s):
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return int(round(s * int(T)))


def sdedit_timesteps(t0: int, num_steps: int) -> list[tuple[int, int]]:
    """The (t, t_prev) pairs SDEdit runs from the noised input down to clean: 'trailing' spacing on
    [0, t0), so the first t is exactly t0 − 1, the level the input was noised to. min(num_steps, t0) steps."""
    t0 = int(t0)
    if t0 < 1:
        raise ValueError(f"t0 must be at least 1 to have anything to denoise, got {t0}")
    return make_timesteps(t0, min(int(num_steps), t0), "trailing")


def sdedit_loop(
    model_fn: ModelFn,
    s: NoiseSchedule,
    x0: torch.Tensor,
    t0: int,
    *,
    generator: torch.Generator,
    sampler: str = "ddim",
    num_steps: int = 50,
    eta: float = 0.0,
    prediction_type: str = "eps",
    noise: torch.Tensor | None = None,
) -> Iterator[EditState]:
    """SDEdit (arXiv:2108.01073, Alg. 1 in its VP form): noise x0 to t0 with q(x_t|x_0), then denoise.

    Args:
        model_fn: (x_t (B, 1, 28, 28), t (B,)) → network output; labels and guidance folded in by the caller.
        x0: (B, 1, 28, 28) in [−1, 1], the guide (a drawing).
        t0: forward steps, 0 … T (see `strength_to_t0`). t0 = 0 returns x0 itself; t0 = T starts from
            (almost) pure noise, so the input barely matters.
        generator: the only source of randomness: ε for the noising first, then one draw per step
            (drawn even when unused, as in `sample_loop`), so one seed gives the same noise for any input.
        sampler: 'ddim' (η = `eta`), 'ddpm' or 'dpmpp_2m'; num_steps: at most t0 of them.
        noise: optional ε (like x0) for the noising instead of the generator's first draw.
    Yields: EditState "noise" (the noised input, i = 0), then "denoise" after each step; the last x_t is the edit.
    """
    _check_x0(x0)
    _need_generator(generator)
    kind = normalize_sampler(sampler)
    T = s.T
    t0 = int(t0)
    if not 0 <= t0 <= T:
        raise ValueError(f"t0 must be in 0 … T = {T}, got {t0}")
    if t0 == 0:  # nothing to noise, nothing to denoise
        yield EditState("noise", 0, 0, -1, x0.clone(), x0.clone())
        return
    pairs = sdedit_timesteps(t0, _check_steps(num_steps, T))
    t_start = pairs[0][0]  # = t0 − 1
    # 1. forward: x_{t0−1} = √ᾱ·x0 + √(1−ᾱ)·ε   (DDPM Eq. 4)
    eps = noise.to(x0) if noise is not None else _randn(x0.shape, generator, x0)
    if eps.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(eps.shape)}")
    x_t = q_sample(s, x0, torch.tensor(t_start), eps)
    yield EditState("noise", 0, len(pairs), t_start, x_t, None)
    # 2. reverse: any sampler, from t0 − 1 to clean
    for st in sample_loop(model_fn, s, tuple(x0.shape), sampler=kind, eta=eta, prediction_type=prediction_type,
                          generator=generator, x_T=x_t, timesteps=pairs, device=x0.device):
        yield EditState("denoise", st.i, st.num_steps, st.t_prev, st.x_t, st.x0_pred)


def sdedit(model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, t0: int, **kwargs) -> torch.Tensor:
    """Run :func:`sdedit_loop` to the end; returns the edit (B, 1, 28, 28). Same arguments."""
    state = run_to_end(sdedit_loop(model_fn, s, x0, t0, **kwargs))
    return state.x_t


def strip_steps(t0: int, num_steps: int, T: int) -> int:
    """Steps for one image of an SDEdit strip: ⌈num_steps·t0/T⌉ (at least 1), a fixed step size as in SDEdit's
    experiments, so the strip costs about half of running every t0 with num_steps."""
    return max(1, min(int(t0), math.ceil(int(num_steps) * int(t0) / int(T))))


def sdedit_strip(
    model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, t0s: Sequence[int], *, seed: int, num_steps: int = 50,
    sampler: str = "ddim", eta: float = 0.0, prediction_type: str = "eps",
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The faithfulness–realism trade-off: SDEdit of one input at several t0, each from the same seed
    (so the same ε: only t0 changes). Yields (t0, steps used, edit (B, 1, 28, 28)) in the order given;
    steps = `strip_steps(t0, num_steps, T)`."""
    for t0 in t0s:
        n = strip_steps(t0, num_steps, s.T) if int(t0) > 0 else 0
        out = sdedit(model_fn, s, x0, int(t0), generator=torch.Generator().manual_seed(int(seed)), sampler=sampler,
                     num_steps=max(n, 1), eta=eta, prediction_type=prediction_type)
        yield int(t0), n, out


# --- 5. inpainting: replacement, with RePaint resampling ---------------------------------------------


def q_jump(s: NoiseSchedule, x: torch.Tensor, t_from: int, t_to: int, noise: torch.Tensor) -> torch.Tensor:
    """Forward-noise x from timestep t_from up to t_to > t_from (−1 = clean) in one draw.

    The one-step kernel (DDPM Eq. 2) composed from t_from to t_to:
    q(x_{t_to} | x_{t_from}) = N(√(ᾱ_to/ᾱ_from)·x, (1 − ᾱ_to/ᾱ_from)·I). For t_to = t_from + 1 this is
    `q_step`; for t_from = −1 it is `q_sample`. Args: x, noise (B, C, H, W).
    """
    if not -1 <= t_from < t_to < s.T:
        raise ValueError(f"need −1 ≤ t_from < t_to < T = {s.T}, got {t_from} → {t_to}")
    ratio = _ab(s, t_to) / _ab(s, t_from)
    return math.sqrt(ratio) * x + math.sqrt(max(1.0 - ratio, 0.0)) * noise


def repaint_ops(num_steps: int, jump_length: int = 10, jump_n_sample: int = 1) -> list[tuple]:
    """RePaint's schedule of moves over `num_steps` sampler steps (RePaint §4.2, Fig. 9; the same
    sequence as diffusers' RePaintScheduler.set_timesteps).

    Position p = how many down-steps separate x from pure noise (0 … num_steps). Moves:
        ("down", k)          one sampler step with pair k (position k → k + 1)
        ("up", p, p − j)     forward-noise from position p back up to p − j (one `q_jump`)
    Every j steps, counted from the clean end, the last j steps are redone r − 1 more times
    (r = jump_n_sample). r = 1 is the plain replacement method: num_steps downs, no ups.
    """
    n, j, r = int(num_steps), int(jump_length), int(jump_n_sample)
    if n < 1:
        raise ValueError(f"need at least 1 step, got {num_steps}")
    if r < 1:
        raise ValueError(f"jump_n_sample (resamplings r) must be at least 1, got {jump_n_sample}")
    if r > 1 and j < 1:
        raise ValueError(f"jump_length must be at least 1, got {jump_length}")
    jumps = {u: r - 1 for u in range(0, n - j, j)} if r > 1 else {}
    ops: list[tuple] = []
    u = n  # u − 1 = the next step to take, counted from the clean end (diffusers' index)
    while u >= 1:
        u -= 1
        ops.append(("down", n - 1 - u))
        if jumps.get(u, 0) > 0:
            jumps[u] -= 1
            ops.append(("up", n - u, n - u - j))
            u += j
    return ops


def inpaint_loop(
    model_fn: ModelFn,
    s: NoiseSchedule,
    x0: torch.Tensor,
    keep: torch.Tensor,
    *,
    generator: torch.Generator,
    sampler: str = "ddpm",
    num_steps: int = 50,
    eta: float = 1.0,
    spacing: str = "trailing",
    jump_length: int = 10,
    jump_n_sample: int = 1,
    prediction_type: str = "eps",
) -> Iterator[EditState]:
    """Inpainting by replacement (RePaint arXiv:2201.09865, Eq. 8 and Alg. 1).

    After every step the known pixels are replaced by the original, forward-noised to the level the
    step landed on; the last step lands on t = −1, where that is x0 itself, so known pixels come out
    exactly equal to the input. jump_n_sample = r > 1 adds RePaint's resampling: every j steps the
    image is pushed j steps back up with q(x_b | x_a) and denoised again, r times in all, which lets
    the generated region agree with the kept one (about r× the model calls).

    Args:
        x0: (B, 1, 28, 28) in [−1, 1], the digit; keep: (1 or B, 1, 28, 28), 1 = keep, 0 = regenerate.
        sampler: 'ddpm' (RePaint's) or 'ddim' with `eta` (the DDIM η; ignored by DDPM).
        generator: x_T first, then per down-step the step's noise and the known region's noise,
            per up-move its noise.
    Yields: EditState "denoise" after each step and "resample" after each jump up.
    """
    _check_x0(x0)
    _need_generator(generator)
    kind = normalize_sampler(sampler)
    if kind not in ("ddpm", "ddim"):
        raise ValueError(f"inpainting runs DDPM or DDIM steps, not {sampler!r}")
    known = _known_pixels(keep, x0)
    pred = normalize_prediction_type(prediction_type)
    pairs = make_timesteps(s.T, _check_steps(num_steps, s.T), spacing)
    levels = [t for t, _ in pairs] + [-1]  # the timestep x is at, at each position
    ops = repaint_ops(len(pairs), jump_length, jump_n_sample)
    n_down = sum(op[0] == "down" for op in ops)
    n_up = len(ops) - n_down
    x = _randn(x0.shape, generator, x0)  # x_T ~ N(0, I)   (RePaint Alg. 1 line 1)
    x0_pred = None
    i_down = i_up = 0
    for op in ops:
        if op[0] == "down":
            t, t_prev = pairs[op[1]]
            x, x0_pred = _inpaint_down(model_fn, s, x, x0, known, t, t_prev, kind, pred, eta, generator)
            i_down += 1
            yield EditState("denoise", i_down, n_down, t_prev, x, x0_pred)
        else:  # Alg. 1 line 10, j steps at once: x_b ~ q(x_b | x_a)
            _, p_from, p_to = op
            x = q_jump(s, x, levels[p_from], levels[p_to], _randn(x0.shape, generator, x0))
            i_up += 1
            yield EditState("resample", i_up, n_up, levels[p_to], x, x0_pred)


def _inpaint_down(model_fn, s, x, x0, known, t, t_prev, kind, pred, eta, generator):
    """One RePaint down-step (Eq. 8): a reverse step for the unknown part, x0 noised to t_prev for the known."""
    z, z_known = _randn(x0.shape, generator, x0), _randn(x0.shape, generator, x0)
    with torch.inference_mode():
        out = model_fn(x, _t_batch(t, x)).to(x0.dtype)
    if kind == "ddpm":
        step = ddpm_step(s, x, t, t_prev, out, z, prediction_type=pred)
    else:
        step = ddim_step(s, x, t, t_prev, out, z, prediction_type=pred, eta=eta)
    x_known = q_sample(s, x0, torch.tensor(t_prev), z_known) if t_prev >= 0 else x0  # x0 itself at t_prev = −1
    return torch.where(known, x_known, step.x_prev), step.x0_pred  # m ⊙ known + (1 − m) ⊙ unknown


def _known_pixels(keep: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """The mask as booleans on x0's device (True = keep), checked: right shape, and something to inpaint."""
    if (not isinstance(keep, torch.Tensor) or keep.ndim != 4 or keep.shape[-2:] != x0.shape[-2:]
            or keep.shape[0] not in (1, x0.shape[0])):
        raise ValueError(f"keep must be (1 or B, 1, H, W) like x0 {tuple(x0.shape)}, got "
                         f"{getattr(keep, 'shape', keep)}")
    known = keep.to(x0.device) > 0.5  # binary: a pixel is either kept exactly or generated
    if bool(known.all()):
        raise ValueError("The mask keeps every pixel: there is nothing to inpaint. Paint or pick the "
                         "region to regenerate.")
    return known


def inpaint(model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, keep: torch.Tensor, **kwargs) -> torch.Tensor:
    """Run :func:`inpaint_loop` to the end; returns (B, 1, 28, 28). Same arguments."""
    state = run_to_end(inpaint_loop(model_fn, s, x0, keep, **kwargs))
    return state.x_t


# --- 6. DDIM inversion ---------------------------------------------------------------------------------


def ddim_inverse_step(
    s: NoiseSchedule, x_t: torch.Tensor, t: int, t_next: int, model_output: torch.Tensor, *,
    prediction_type: str = "eps"
) -> StepOutput:
    """One DDIM inversion step x_t → x_{t_next}, t_next > t (t = −1: x_t is clean).

    DDIM Eq. 12 with η = 0 run upwards (a discretisation of Eq. 14 backwards):
        x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t,    x_{t_next} = √ᾱ_{t_next}·x̂_0 + √(1−ᾱ_{t_next})·ε̂
    model_output: the network at (x_t, t_next), the timestep the step goes to; it is read as the model
    reads its input, at level t_next, to get ε̂ (for ε-prediction it *is* ε̂). For t ≥ 0 this is
    `samplers.ddim_step(…, t, t_prev=t_next, eta=0)`, whose coefficients hold for t_prev > t (σ = 0);
    for t = −1 (ᾱ = 1, x̂_0 = x_t) it is the same Eq. 12. Exactly undone by `ddim_step(t_next → t)`
    given the same ε̂. Returns StepOutput(x_prev = x_{t_next}, x0_pred = x̂_0, eps_pred = ε̂).
    """
    if not -1 <= t < t_next < s.T:
        raise ValueError(f"inversion goes up: need −1 ≤ t < t_next < T = {s.T}, got {t} → {t_next}")
    # 1. ε̂ from the output, at the level the model was told (t_next)
    _, eps = model_output_to_x0_eps(s, model_output, x_t, _t_batch(t_next, x_t), prediction_type)
    # 2. Eq. 12, η = 0, towards the noisier t_next
    if t >= 0:
        return ddim_step(s, x_t, t, t_next, eps, None, prediction_type="eps", eta=0.0)
    ab_next = _ab(s, t_next)
    return StepOutput(math.sqrt(ab_next) * x_t + math.sqrt(1.0 - ab_next) * eps, x_t, eps)


def _check_inversion_args(s: NoiseSchedule, num_steps: int, spacing: str) -> list[tuple[int, int]]:
    return make_timesteps(s.T, _check_steps(num_steps, s.T), spacing)


def ddim_invert_loop(
    model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, *, num_steps: int = 50, spacing: str = "trailing",
    prediction_type: str = "eps",
) -> Iterator[EditState]:
    """Encode x0 to x_T with deterministic DDIM run backwards (DDIM §5.4, "reverse of Eq. 14").

    The timesteps are those of `make_timesteps(T, num_steps, spacing)` in reverse, so decoding with
    :func:`ddim_reconstruct` and the same arguments mirrors every step. 'trailing' (the default) ends at
    t = T − 1. Args: x0 (B, 1, 28, 28) in [−1, 1]. Yields EditState "invert" after each step; the last
    x_t is the latent.
    """
    _check_x0(x0)
    pred = normalize_prediction_type(prediction_type)
    pairs = _check_inversion_args(s, num_steps, spacing)
    x = x0
    n = len(pairs)
    for i, (t_model, t_from) in enumerate(reversed(pairs)):  # the sampling pair (t, t_prev), run t_prev → t
        with torch.inference_mode():
            out = model_fn(x, _t_batch(t_model, x)).to(x0.dtype)
        step = ddim_inverse_step(s, x, t_from, t_model, out, prediction_type=pred)
        x = step.x_prev
        yield EditState("invert", i + 1, n, t_model, x, step.x0_pred)


def ddim_invert(model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, **kwargs) -> torch.Tensor:
    """The latent x_T of x0 (B, 1, 28, 28). Same arguments as :func:`ddim_invert_loop`."""
    state = run_to_end(ddim_invert_loop(model_fn, s, x0, **kwargs))
    return state.x_t


def ddim_reconstruct_loop(
    model_fn: ModelFn, s: NoiseSchedule, latent: torch.Tensor, *, num_steps: int = 50, spacing: str = "trailing",
    prediction_type: str = "eps",
) -> Iterator[EditState]:
    """Decode a latent with DDIM η = 0 (`samplers.sample_loop`) on the same timesteps. Yields "reconstruct" states."""
    pairs = _check_inversion_args(s, num_steps, spacing)
    zeros = torch.zeros(latent.shape)  # η = 0 uses no noise; passing zeros keeps the global RNG untouched
    for st in sample_loop(model_fn, s, tuple(latent.shape), sampler="ddim", eta=0.0, prediction_type=prediction_type,
                          x_T=latent, timesteps=pairs, noises=lambda i: zeros, device=latent.device):
        yield EditState("reconstruct", st.i, st.num_steps, st.t_prev, st.x_t, st.x0_pred)


def ddim_reconstruct(model_fn: ModelFn, s: NoiseSchedule, latent: torch.Tensor, **kwargs) -> torch.Tensor:
    """x̂_0 (B, 1, 28, 28) decoded from the latent; same arguments as :func:`ddim_reconstruct_loop`."""
    state = run_to_end(ddim_reconstruct_loop(model_fn, s, latent, **kwargs))
    return state.x_t


@dataclass(frozen=True)
class InversionResult:
    """x0 → latent → reconstruction, with the round-trip error."""

    latent: torch.Tensor  # (B, 1, 28, 28) x_T
    reconstruction: torch.Tensor  # (B, 1, 28, 28) in model range (not clamped)
    rmse: torch.Tensor  # (B,) pixel RMSE of the reconstruction against x0, [0, 1] units
    timesteps: list[tuple[int, int]]  # the sampling pairs; inversion ran them in reverse

    @property
    def latent_std(self) -> torch.Tensor:
        """(B,) std of each latent: ≈ 1 if it looks like the N(0, I) that sampling starts from."""
        return self.latent.flatten(1).std(1)


def invert_and_reconstruct(
    model_fn: ModelFn, s: NoiseSchedule, x0: torch.Tensor, *, num_steps: int = 50, spacing: str = "trailing",
    prediction_type: str = "eps", reconstruct_model_fn: ModelFn | None = None,
) -> InversionResult:
    """Invert x0 with DDIM, decode the latent on the same timesteps, and measure the round trip.

    `reconstruct_model_fn` (default: `model_fn`) lets the decoder differ, e.g. another guidance scale.
    """
    kw = dict(num_steps=num_steps, spacing=spacing, prediction_type=prediction_type)
    latent = ddim_invert(model_fn, s, x0, **kw)
    recon = ddim_reconstruct(reconstruct_model_fn or model_fn, s, latent, **kw)
    return InversionResult(latent, recon, pixel_rmse(recon, x0), make_timesteps(s.T, int(num_steps), spacing))


def inversion_sweep(
    model_fn_for: Callable[[float], ModelFn], s: NoiseSchedule, x0: torch.Tensor, *,
    steps: Sequence[int] = (10, 20, 50, 100), guidances: Sequence[float] = (1.0,), spacing: str = "trailing",
    prediction_type: str = "eps",
) -> list[dict]:
    """The lesson in numbers: round-trip RMSE for each (steps, w). model_fn_for(w) builds the model_fn.

    Returns rows {"steps", "w", "rmse" (mean over the batch), "rmse_each" (list), "latent_std"}.
    """
    rows = []
    for w in guidances:
        fn = model_fn_for(float(w))
        for n in steps:
            r = invert_and_reconstruct(fn, s, x0, num_steps=n, spacing=spacing, prediction_type=prediction_type)
            rows.append({"steps": int(n), "w": float(w), "rmse": float(r.rmse.mean()), "rmse_each": r.rmse.tolist(),
                         "latent_std": float(r.latent_std.mean())})
    return rows


# --- 7. interpolation ----------------------------------------------------------------------------------


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, alphas: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two latents (each (C, H, W) or (1, C, H, W)) → (N, C, H, W).

    z(α) = sin((1−α)θ)/sin θ·z_a + sin(αθ)/sin θ·z_b. Gaussian latents of dimension d have norm ≈ √d;
    a straight line between two of them passes through norms ≈ √(d/2) that the sampler never starts
    from, the arc keeps the norm. Falls back to the straight line when θ < 1e-4. α = 0 and 1 give z_a, z_b.
    """
    a, b = z_a.reshape(1, *z_a.shape[-3:]), z_b.reshape(1, *z_b.shape[-3:])
    if a.shape != b.shape:
        raise ValueError(f"latents differ in shape: {tuple(z_a.shape)} vs {tuple(z_b.shape)}")
    al = [float(v) for v in torch.as_tensor(alphas, dtype=torch.float64).reshape(-1).tolist()]
    # θ and the coefficients in float64 on the CPU (MPS has no float64), the combination on the latents' device
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    cos = float((a64 * b64).sum() / (a64.norm() * b64.norm()).clamp(min=1e-30))
    theta = math.acos(min(max(cos, -1.0), 1.0))
    if theta < 1e-4:
        ca, cb = [1.0 - v for v in al], al
    else:
        ca = [math.sin((1.0 - v) * theta) / math.sin(theta) for v in al]
        cb = [math.sin(v * theta) / math.sin(theta) for v in al]
    shape = (-1, *[1] * (a.ndim - 1))
    ca_t = torch.tensor(ca, dtype=a.dtype, device=a.device).reshape(shape)
    cb_t = torch.tensor(cb, dtype=a.dtype, device=a.device).reshape(shape)
    out = ca_t * a + cb_t * b
    for i, v in enumerate(al):  # exact end points
        if v == 0.0:
            out[i] = a[0]
        elif v == 1.0:
            out[i] = b[0]
    return out


@dataclass(frozen=True)
class InterpolationResult:
    alphas: list[float]  # (N,) positions along the arc, 0 … 1
    latents: torch.Tensor  # (N, 1, 28, 28)
    images: torch.Tensor  # (N, 1, 28, 28) decoded, model range
    reconstructions: torch.Tensor  # (2, 1, 28, 28): the two end points decoded on their own
    labels: list[int | None]  # (N,) label each image was decoded with (None = unconditional)


def interpolate(
    model_fn_for: Callable[[torch.Tensor | None], ModelFn], s: NoiseSchedule, x_a: torch.Tensor, x_b: torch.Tensor, *,
    num: int = 8, labels: tuple[int, int] | None = None, num_steps: int = 50, spacing: str = "trailing",
    prediction_type: str = "eps",
) -> InterpolationResult:
    """Invert two digits, slerp between their latents, and decode a row of `num` images.

    model_fn_for(labels (B,) long or None) → model_fn for a batch of B (None = unconditional).
    With `labels` = (a, b) the end points are inverted with their own labels and each row image is
    decoded with the label of the nearer end; without, everything is unconditional, which keeps the row
    smooth. Either way the row's end points are the two reconstructions.
    Args: x_a, x_b (1, 1, 28, 28) in [−1, 1]; num ≥ 2.
    """
    num = int(num)
    if num < 2:
        raise ValueError(f"need at least 2 images in the row, got {num}")
    for name, x in (("x_a", x_a), ("x_b", x_b)):
        _check_x0(x, name)
        if x.shape[0] != 1:
            raise ValueError(f"{name} must be one digit (1, C, H, W), got {tuple(x.shape)}")
    kw = dict(num_steps=num_steps, spacing=spacing, prediction_type=prediction_type)
    pair = torch.cat([x_a, x_b])
    pair_labels = None if labels is None else torch.tensor([int(labels[0]), int(labels[1])], device=pair.device)
    fn_pair = model_fn_for(pair_labels)
    latents2 = ddim_invert(fn_pair, s, pair, **kw)
    recon2 = ddim_reconstruct(fn_pair, s, latents2, **kw)
    alphas = [i / (num - 1) for i in range(num)]
    z = slerp(latents2[0], latents2[1], alphas)
    row_labels: list[int | None] = [None] * num if labels is None else [int(labels[0] if a < 0.5 else labels[1])
                                                                        for a in alphas]
    fn_row = model_fn_for(None if labels is None else torch.tensor(row_labels, device=pair.device))
    images = ddim_reconstruct(fn_row, s, z, **kw)
    return InterpolationResult(alphas, z, images, recon2, row_labels)


# --- 8. numbers under each image ------------------------------------------------------------------------


def pixel_rmse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) RMSE between two batches in model range, measured on display pixels ([0, 1], clamped)."""
    if a.shape[-3:] != b.shape[-3:]:
        raise ValueError(f"cannot compare images of shape {tuple(a.shape)} and {tuple(b.shape)}")
    d = to_unit_range(a.detach().cpu()) - to_unit_range(b.detach().cpu())
    return d.double().pow(2).flatten(1).mean(1).sqrt().float()


@torch.no_grad()
def classify(x: torch.Tensor, classifier_path=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The quality classifier's verdict on digits in model range (B, 1, 28, 28): (class (B,), p(class|x) (B,)).

    Realism, in one number: the confidence of playground.mnist.quality's MNIST classifier (99.25% accurate on
    held-out digits); real digits score ≥ 0.9 98% of the time.
    """
    from playground.mnist.quality import CLASSIFIER_PATH, load_classifier

    clf = load_classifier(str(classifier_path or CLASSIFIER_PATH))
    probs = clf(to_unit_range(x.detach().cpu())).softmax(1)
    conf, pred = probs.max(1)
    return pred, conf
