"""Noise schedules: β_t → one immutable :class:`NoiseSchedule`.

Notation (code name → paper symbol):

    t            timestep index 0 … T−1 (the paper's 1 … T, shifted by one)
    betas        β_t          variance of the one-step kernel q(x_t | x_{t−1})    DDPM Eq. 2
    alphas       α_t = 1 − β_t
    alpha_bar    ᾱ_t = ∏_{s≤t} α_s   closed form q(x_t | x_0)                   DDPM Eq. 4
    alpha_bar_prev  ᾱ_{t−1}, with ᾱ_{−1} = 1 (a clean image at "t = −1")
    snr          SNR(t) = ᾱ_t / (1 − ᾱ_t)                                      VDM Eq. 8
    log_snr      λ_t = log SNR(t), the natural axis for comparing schedules
    posterior_variance  β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t               DDPM Eq. 7

Schedules are computed in float64 and stay float64; `extract` casts to the
dtype of the tensor it is used with. The schedule functions are the usual ones:
linear (DDPM arXiv:2006.11239), scaled-linear (Stable Diffusion), cosine
(improved DDPM arXiv:2102.09672), sigmoid (GeoDiff / "On the importance of
noise scheduling", arXiv:2301.10972), and zero-terminal-SNR rescaling
(arXiv:2305.08891, Algorithm 1). 'flow' is the straight path x_t = (1 − t)·x_0 + t·ε of flow matching seen as
a VP schedule (paths.py): ᾱ_k = (1 − t)²/((1 − t)² + t²) at t = (k + 1)/T, zero terminal SNR by construction.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from .paths import flow_beta_schedule

SCHEDULES = ("linear", "scaled_linear", "cosine", "sigmoid")
FLOW_SCHEDULE = "flow"  # the linear path's VP-equivalent (paths.flow_beta_schedule): where flow models sample

__all__ = [
    "SCHEDULES",
    "FLOW_SCHEDULE",
    "NoiseSchedule",
    "make_schedule",
    "linear_beta_schedule",
    "scaled_linear_beta_schedule",
    "cosine_beta_schedule",
    "sigmoid_beta_schedule",
    "rescale_zero_terminal_snr",
    "extract",
]

_F64 = torch.float64


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear β from 1e-4 to 0.02 at T = 1000, rescaled by 1000/T for other T.

    The rescaling keeps ᾱ_T (and so the terminal noise level) about the same for
    any T, as in improved DDPM's reference code. Returns (T,) float64.
    """
    scale = 1000.0 / T
    return torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), T, dtype=_F64)


def scaled_linear_beta_schedule(T: int, beta_start: float = 0.00085, beta_end: float = 0.012) -> torch.Tensor:
    """Stable Diffusion's schedule: linear in √β. Returns (T,) float64."""
    return torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=_F64) ** 2


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved-DDPM cosine schedule: ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T)+s)/(1+s) · π/2).

    β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped at `max_beta` so the last steps stay finite
    (improved DDPM Eq. 17). Returns (T,) float64.
    """
    steps = torch.arange(T + 1, dtype=_F64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=max_beta)


def sigmoid_beta_schedule(T: int, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> torch.Tensor:
    """Sigmoid schedule of ᾱ (arXiv:2301.10972, Algorithm 1), β clipped to [0, 0.999].

    ᾱ(t) ∝ −σ((t·(end−start)+start)/τ) + σ(end/τ), normalised so ᾱ(0) = 1.
    Returns (T,) float64.
    """
    steps = torch.arange(T + 1, dtype=_F64) / T
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=_F64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=_F64))
    alpha_bar = (-torch.sigmoid((steps * (end - start) + start) / tau) + v_end) / (v_end - v_start)
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(0.0, 0.999)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Shift and scale √ᾱ so that ᾱ_T = 0 exactly, keeping ᾱ_0 (arXiv:2305.08891, Alg. 1).

    Args: betas (T,). Returns rescaled betas (T,) float64; the last β is 1.
    """
    alphas_bar_sqrt = torch.cumprod(1 - betas.to(_F64), 0).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alpha_bar = alphas_bar_sqrt**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return 1 - alphas


_BETA_FNS = {
    "linear": linear_beta_schedule,
    "scaled_linear": scaled_linear_beta_schedule,
    "cosine": cosine_beta_schedule,
    "sigmoid": sigmoid_beta_schedule,
    FLOW_SCHEDULE: flow_beta_schedule,
}


@dataclass(frozen=True)
class NoiseSchedule:
    """Every per-timestep table a sampler or the forward process needs, float64, shape (T,).

    Build with :func:`make_schedule`. Immutable: nothing here changes after creation.
    """

    name: str
    zero_terminal_snr: bool
    betas: torch.Tensor  # β_t: one-step kernel variance (q_step)
    alphas: torch.Tensor = field(init=False)  # α_t = 1 − β_t: one-step kernel mean scale
    alpha_bar: torch.Tensor = field(init=False)  # ᾱ_t: closed form q(x_t|x_0) (q_sample)
    alpha_bar_prev: torch.Tensor = field(init=False)  # ᾱ_{t−1}, ᾱ_{−1} = 1: posterior, DDPM step
    snr: torch.Tensor = field(init=False)  # ᾱ/(1−ᾱ): plots, min-SNR weighting
    log_snr: torch.Tensor = field(init=False)  # log SNR: plots, DPM-Solver++ (λ = 2·log-SNR/2)
    posterior_variance: torch.Tensor = field(init=False)  # β̃_t: DDPM ancestral step, σ² choice

    def __post_init__(self) -> None:
        betas = self.betas.to(_F64)
        if betas.ndim != 1 or betas.numel() < 2:
            raise ValueError(f"need at least T = 2 betas, got shape {tuple(betas.shape)}")
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=_F64), alpha_bar[:-1]])
        one_minus = 1 - alpha_bar
        # SNR is +inf where ᾱ = 1 and 0 where ᾱ = 0 (zero terminal SNR); both are honest values.
        snr = alpha_bar / one_minus
        set_ = object.__setattr__  # frozen dataclass: assign once, here only
        set_(self, "betas", betas)
        set_(self, "alphas", alphas)
        set_(self, "alpha_bar", alpha_bar)
        set_(self, "alpha_bar_prev", alpha_bar_prev)
        set_(self, "snr", snr)
        set_(self, "log_snr", torch.log(alpha_bar) - torch.log(one_minus))
        set_(self, "posterior_variance", (1 - alpha_bar_prev) / one_minus * betas)
        for tensor in (betas, alphas, alpha_bar, alpha_bar_prev, snr):
            tensor.requires_grad_(False)

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        """The same tables (bit for bit) on ``device``: a trainer on a GPU gathers ᾱ_t there, no host round trip."""
        device = torch.device(device)
        if self.betas.device == device:
            return self
        out = object.__new__(NoiseSchedule)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            object.__setattr__(out, f.name, v.to(device) if isinstance(v, torch.Tensor) else v)
        return out

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return int(self.betas.numel())

    @property
    def terminal_snr(self) -> float:
        """SNR(T−1): how much signal is left at the last step (0 with zero-terminal-SNR)."""
        return float(self.snr[-1])

    def describe(self) -> str:
        """One-line human summary, e.g. for the UI and checkpoint cards."""
        ztsnr = ", zero terminal SNR" if self.zero_terminal_snr else ""
        return f"{self.name} schedule, T = {self.T}{ztsnr}; terminal SNR = {self.terminal_snr:.3g}"


def make_schedule(name: str = "linear", T: int = 1000, zero_terminal_snr: bool = False) -> NoiseSchedule:
    """Build a schedule by name: 'linear', 'scaled_linear', 'cosine', 'sigmoid' (or 'flow'), for any T ≥ 2."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _BETA_FNS:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}, {FLOW_SCHEDULE}")
    T = int(T)
    if T < 2:
        raise ValueError(f"T must be at least 2, got {T}")
    betas = _BETA_FNS[key](T)
    zero_terminal_snr = zero_terminal_snr or key == FLOW_SCHEDULE  # ᾱ_{T−1} = 0 already: t = 1 is pure noise
    if zero_terminal_snr and key != FLOW_SCHEDULE:
        betas = rescale_zero_terminal_snr(betas)
    return NoiseSchedule(name=key, zero_terminal_snr=bool(zero_terminal_snr), betas=betas)


def extract(a: torch.Tensor, t: torch.Tensor, shape: torch.Size | tuple,
            like: torch.Tensor | None = None) -> torch.Tensor:
    """Gather a[t] for a batch of timesteps and reshape to broadcast against `shape`.

    Args:
        a: (T,) table, usually float64 on the CPU.
        t: (B,) long timesteps, or a 0-d tensor / int for the whole batch.
        shape: the shape to broadcast against, e.g. x.shape = (B, C, H, W).
        like: cast the result to this tensor's dtype and device (default float32 on t's device).
    Returns:
        (B, 1, 1, 1) (or (1, 1, 1, 1) for a scalar t).
    """
    t = torch.as_tensor(t)
    # a table on t's device (NoiseSchedule.to) is gathered there; a CPU table with GPU t costs a round trip
    out = a[t.reshape(-1).long()] if a.device == t.device else a[t.reshape(-1).cpu().long()]
    dtype = like.dtype if like is not None else torch.float32
    device = like.device if like is not None else t.device
    return out.to(device=device, dtype=dtype).reshape(-1, *([1] * (len(shape) - 1)))
