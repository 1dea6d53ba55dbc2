"""Bits/dim of an MNIST checkpoint: the bound (every t, or the fast estimate) and the ODE likelihood, on the
training digits or the held-out ones (playground.mnist.data's fixed 8,000 / 2,000 split).

Part of playground.likelihood (see its docstring for the notation). The conditional UNets are evaluated with the
null label (the CFG-dropout label), so the number is log p(x), not log p(x | class). The ODE likelihood uses
uniform dequantization, x = x_0 + u, u ~ U(−1/255, 1/255)^D (one draw per digit, seeded): the bins of the
discretized decoder, so −log P(bin) ≤ E_u[−log p(x_0 + u)] + D·log(255/2) (Song et al. 2021, App. D; Ho et al.).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..diffusion import model_output_to_x0_eps
from ..runtime.device import pick_device
from ..schedules import NoiseSchedule, make_schedule
from .bound import BIN_HALF_WIDTH, Progress, bound_every_t, bound_fast, mean_se, nats_to_bpd
from .ode import VP_PATH, ode_log_likelihood

ESTIMATORS = ("full", "fast", "ode")
LOG2_BINS = math.log2(1.0 / (2 * BIN_HALF_WIDTH))  # −log2(bin width 2/255) = log2(127.5) bits per dimension

__all__ = ["ESTIMATORS", "Report", "unet_denoiser", "unet_path_denoiser", "digits", "evaluate", "schedule_of"]


def schedule_of(meta) -> NoiseSchedule:
    """The checkpoint's schedule (from its CheckpointMeta)."""
    return make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)


def _labels(model, n: int, device) -> torch.Tensor | None:
    null = getattr(model.config, "null_label", None)
    return None if null is None else torch.full((n,), int(null), dtype=torch.long, device=device)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def unet_denoiser(model, s: NoiseSchedule, prediction_type: str, *, clip: bool = True, bf16: bool = False):
    """den(x_t, t) → (x̂_0, ε̂) in float64 for the bound; x̂_0 clipped to [−1, 1] when ``clip`` (as
    improved-diffusion's calc_bpd_loop: still a valid model, and a better one for pixels)."""
    dev = next(model.parameters()).device

    def den(x_t: torch.Tensor, t: torch.Tensor):
        with torch.inference_mode(), _autocast(dev, bf16):
            out = model(x_t.to(dev, torch.float32), t.to(dev), _labels(model, x_t.shape[0], dev))
        x0_hat, eps_hat = model_output_to_x0_eps(s, out.double(), x_t.to(dev, torch.float64), t.to(dev),
                                                 prediction_type)
        return (x0_hat.clamp(-1, 1) if clip else x0_hat), eps_hat

    return den


def unet_path_denoiser(model, s: NoiseSchedule, prediction_type: str, *, bf16: bool = False):
    """den(x, λ) → (x̂_0, ε̂) for the ODE: the network at the real-valued t where the schedule's λ_t = λ
    (linear in t between the table's steps), with a = √sigmoid(λ), σ = √sigmoid(−λ); differentiable in x."""
    dev = next(model.parameters()).device
    lam_t = s.log_snr.numpy()
    steps = np.arange(s.T, dtype=np.float64)
    kind = prediction_type

    def den(x: torch.Tensor, lam: float):
        t_real = float(np.interp(-lam, -lam_t, steps))  # λ_t falls with t
        t = torch.full((x.shape[0],), t_real, device=dev)
        with _autocast(dev, bf16):
            out = model(x, t, _labels(model, x.shape[0], dev)).to(x.dtype)
        a, sd = math.sqrt(1 / (1 + math.exp(-lam))), math.sqrt(1 / (1 + math.exp(lam)))
        if kind == "eps":
            return (x - sd * out) / a, out
        if kind == "x0":
            return out, (x - a * out) / sd
        return a * x - sd * out, sd * x + a * out  # v

    return den


def digits(n: int, held_out: bool = False, data_dir=None) -> torch.Tensor:
    """The first n digits of the training or held-out split, (n, 1, 28, 28) in [−1, 1] on the 256 levels."""
    from ..mnist.data import load_mnist

    splits = load_mnist(data_dir)
    images = splits.heldout_images if held_out else splits.train_images
    if not 1 <= int(n) <= len(images):
        raise ValueError(f"number of digits must be between 1 and {len(images)}, got {n}")
    from ..mnist.data import to_model_range

    return to_model_range(images[: int(n)])


@dataclass
class Report:
    """One likelihood evaluation: bits/dim ± its standard error, and what produced it (plain values, JSON-able)."""

    estimator: str
    split: str  # "train" | "held-out"
    n: int
    bpd: float
    se: float
    variance: str  # reverse variance of the bound ("beta_tilde" | "beta"), or "" for the ODE
    seconds: float
    per_t: list = field(default_factory=list)  # full bound: bits/dim of each t (index 0 is L_0)
    per_t_simple: list = field(default_factory=list)  # L_simple's per-t term ‖ε−ε̂‖²/D, same x_t
    other: dict = field(default_factory=dict)  # the other variance, the prior term, NFE …

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(model, meta, *, n: int = 100, held_out: bool = False, estimator: str = "full", k: int = 16,
             variance: str = "beta_tilde", ode_steps: int = 50, probe: str = "rademacher", seed: int = 0,
             batch: int = 500, bf16: bool = False, x0: torch.Tensor | None = None,
             progress: Progress | None = None) -> Report:
    """Bits/dim of (model, meta) on n digits of one split with one estimator ('full', 'fast' or 'ode')."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"unknown reverse variance {variance!r}; choose 'beta' or 'beta_tilde'")
    s = schedule_of(meta)
    dev = next(model.parameters()).device
    x0 = (digits(n, held_out) if x0 is None else x0).to(dev)
    split, start = ("held-out" if held_out else "train"), time.perf_counter()
    if estimator == "ode":
        return _ode_report(model, meta, s, x0, split, ode_steps, probe, seed, bf16, progress, start)
    den = unet_denoiser(model, s, meta.prediction_type, bf16=bf16)
    other = {}
    if estimator == "fast":
        res = bound_fast(s, den, x0, k=k, seed=seed, batch=batch, progress=progress)
        bpd, se = res.bpd(variance)
        alt = "beta" if variance == "beta_tilde" else "beta_tilde"
        other = {f"bpd_{alt}": res.bpd(alt)[0], f"se_{alt}": res.bpd(alt)[1], "k": k}
        return Report("fast", split, x0.shape[0], bpd, se, variance, time.perf_counter() - start, other=other)
    res = bound_every_t(s, den, x0, seed=seed, batch=batch, progress=progress)
    bpd, se = res.bpd(variance)
    alt = "beta" if variance == "beta_tilde" else "beta_tilde"
    D = res.D
    other = {f"bpd_{alt}": res.bpd(alt)[0], f"se_{alt}": res.bpd(alt)[1],
             "prior_bpd": float(nats_to_bpd(res.prior.mean(), D)), "decoder_bpd": float(res.per_t_bpd(variance)[0]),
             "log_snr": s.log_snr.tolist()}
    return Report("full", split, x0.shape[0], bpd, se, variance, time.perf_counter() - start,
                  per_t=res.per_t_bpd(variance).tolist(), per_t_simple=res.eps_mse.mean(0).tolist(), other=other)


def _ode_report(model, meta, s, x0, split, steps, probe, seed, bf16, progress, start) -> Report:
    if not math.isfinite(float(s.log_snr[-1])):
        raise ValueError("the ODE likelihood needs a finite log-SNR at t = T−1 (not a zero-terminal-SNR schedule)")
    gen = torch.Generator().manual_seed(seed + 1)
    u = (torch.rand(x0.shape, generator=gen) * 2 - 1) * BIN_HALF_WIDTH
    x = x0 + u.to(x0.device)
    den = unet_path_denoiser(model, s, meta.prediction_type, bf16=bf16)
    res = ode_log_likelihood(den, x, float(s.log_snr[0]), float(s.log_snr[-1]), path=VP_PATH, steps=steps,
                             probe=probe, seed=seed, progress=progress)
    D = x0[0].numel()
    bpd = nats_to_bpd(-res.log_p.cpu(), D).numpy() + LOG2_BINS
    mean, se = mean_se(bpd)
    return Report("ode", split, x0.shape[0], mean, se, "", time.perf_counter() - start,
                  other={"nfe": res.nfe, "steps": steps, "probe": probe, "dequantization": "uniform, U(−1/255, 1/255)",
                         "prior_bpd": float(nats_to_bpd(-res.prior_logp.mean().cpu(), D))})


def load(checkpoint: str | Path, device: str | None = None):
    """(model, meta) from a checkpoint file, on ``device`` (default: pick_device())."""
    from ..mnist.checkpoint import load_model

    return load_model(checkpoint, pick_device(device))
