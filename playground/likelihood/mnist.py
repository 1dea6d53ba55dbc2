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

from ..diffusion import model_output_to_x0_eps, normalize_prediction_type
from ..paths import FLOW_CLOCK
from ..runtime.device import bf16_autocast_ok, pick_device
from ..schedules import NoiseSchedule, make_schedule
from .bound import BIN_HALF_WIDTH, Progress, bound_every_t, bound_fast, mean_se, nats_to_bpd
from .ode import FM_PATH, VP_PATH, ode_log_likelihood

ESTIMATORS = ("full", "fast", "ode")
# bf16 rounds x_t by up to ~0.004 (8 bits of mantissa): comparable to the noise at small σ_t, where it biased the
# bound by +0.015 bits/dim (bench/bench_likelihood.py RESULTS). Below this σ_t (the first 11 of 1000 linear t) the
# network runs in fp32; what the bf16 terms above it still add is measured there too.
FP32_BELOW_SIGMA = 0.05
LOG2_BINS = math.log2(1.0 / (2 * BIN_HALF_WIDTH))  # −log2(bin width 2/255) = log2(127.5) bits per dimension

__all__ = ["ESTIMATORS", "FP32_BELOW_SIGMA", "Report", "unet_denoiser", "unet_path_denoiser", "digits", "evaluate",
           "schedule_of", "use_bf16", "autograd_ready"]


def schedule_of(meta) -> NoiseSchedule:
    """The checkpoint's schedule (from its CheckpointMeta)."""
    return make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)


def _labels(model, n: int, device) -> torch.Tensor | None:
    null = getattr(model.config, "null_label", None)
    return None if null is None else torch.full((n,), int(null), dtype=torch.long, device=device)


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def use_bf16(model, bf16: bool | None) -> bool:
    """bf16 autocast for the network: the argument, or (None) where the sampler uses it, a CPU with native bf16
    (bench/bench_likelihood.py measures that it moves the bound by less than its standard error)."""
    dev = next(model.parameters()).device
    on = (dev.type == "cpu" and bf16_autocast_ok(dev)) if bf16 is None else bool(bf16)
    if on and dev.type == "cpu":  # oneDNN's bf16 convolutions want NHWC weights (as in mnist.sample)
        with torch.inference_mode(False):  # new weights made under inference_mode could not enter the ODE's autograd
            model.to(memory_format=torch.channels_last)  # the same values; only the layout changes
    return on


def autograd_ready(model) -> None:
    """Give back normal tensors for any parameter or buffer made under inference_mode (the sampler converts the
    shared model to channels_last inside one): the ODE's vector–Jacobian products need them."""
    with torch.inference_mode(False):
        for mod in model.modules():
            for name, p in list(mod._parameters.items()):
                if p is not None and p.is_inference():
                    mod._parameters[name] = torch.nn.Parameter(p.clone(), requires_grad=p.requires_grad)
            for name, b in list(mod._buffers.items()):
                if b is not None and b.is_inference():
                    mod._buffers[name] = b.clone()


def _net(model, x_t: torch.Tensor, t: torch.Tensor, bf16: bool) -> torch.Tensor:
    """The network's raw output, in x_t's dtype: one conditional-only call with the null label (no guidance: a
    likelihood is of one model)."""
    dev = next(model.parameters()).device
    with _autocast(dev, bf16):
        return model(x_t, t, _labels(model, x_t.shape[0], dev)).to(x_t.dtype)


def unet_denoiser(model, s: NoiseSchedule, prediction_type: str, *, clip: bool = True, bf16: bool = False):
    """den(x_t, t) → (x̂_0, ε̂) in float64 for the bound; x̂_0 clipped to [−1, 1] when ``clip`` (as
    improved-diffusion's calc_bpd_loop: still a valid model, and a better one for pixels). Under inference_mode;
    with bf16, the pairs with σ_t < FP32_BELOW_SIGMA still run in fp32."""
    dev = next(model.parameters()).device
    low_noise = (1 - s.alpha_bar).sqrt() < FP32_BELOW_SIGMA  # (T,) bool

    def den(x_t: torch.Tensor, t: torch.Tensor):
        x, tt = x_t.to(dev, torch.float32), t.to(dev)
        fp32 = low_noise[t.cpu()].to(dev) if bf16 else torch.ones_like(tt, dtype=torch.bool)
        with torch.inference_mode():
            if bool(fp32.all()) or not bool(fp32.any()):
                out = _net(model, x, tt, bf16 and not bool(fp32.all()))
            else:  # one batch that straddles σ_t = FP32_BELOW_SIGMA: two calls
                out = torch.empty_like(x)
                out[fp32] = _net(model, x[fp32], tt[fp32], False)
                out[~fp32] = _net(model, x[~fp32], tt[~fp32], True)
        x0_hat, eps_hat = model_output_to_x0_eps(s, out.double(), x_t.to(dev, torch.float64), tt, prediction_type)
        return (x0_hat.clamp(-1, 1) if clip else x0_hat), eps_hat

    return den


def unet_path_denoiser(model, s: NoiseSchedule, prediction_type: str, *, bf16: bool = False):
    """den(x, λ) → (x̂_0, ε̂) for the ODE, differentiable in x. A VP model runs at the real-valued t where the
    schedule's λ_t = λ (linear in t between the table's steps), with a = √sigmoid(λ), σ = √sigmoid(−λ); a flow
    model (u = ε − x_0) at t = sigmoid(−λ/2) of x = (1−t)·x_0 + t·ε, told FLOW_CLOCK·t."""
    dev = next(model.parameters()).device
    lam_t = s.log_snr.numpy()
    steps = np.arange(s.T, dtype=np.float64)
    kind = normalize_prediction_type(prediction_type)

    def den(x: torch.Tensor, lam: float):
        t_flow = 1.0 / (1.0 + math.exp(lam / 2))  # flow: a = 1 − t = sigmoid(λ/2)
        if kind == "u":
            t = torch.full((x.shape[0],), FLOW_CLOCK * t_flow, device=dev)
        else:
            t = torch.full((x.shape[0],), float(np.interp(-lam, -lam_t, steps)), device=dev)  # λ_t falls with t
        sd_here = t_flow if kind == "u" else math.sqrt(1 / (1 + math.exp(lam)))
        out = _net(model, x, t, bf16 and sd_here >= FP32_BELOW_SIGMA)
        if kind == "u":
            return x - t_flow * out, x + (1 - t_flow) * out
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
    per_t: list = field(default_factory=list)  # the mean term at each t of per_t_t, bits/dim (index 0 is L_0)
    per_t_simple: list = field(default_factory=list)  # L_simple's per-t term ‖ε−ε̂‖²/D, same x_t
    per_t_t: list = field(default_factory=list)  # full: every t; fast: 0, then each stratum's middle
    other: dict = field(default_factory=dict)  # the other variance, the prior term, NFE …
    per_digit: list = field(default_factory=list)  # bits/dim of each digit (what bpd and se summarize)

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(model, meta, *, n: int = 100, held_out: bool = False, estimator: str = "full", k: int = 16,
             variance: str = "beta_tilde", ode_steps: int = 50, probe: str = "rademacher", seed: int = 0,
             batch: int = 125, bf16: bool | None = None, x0: torch.Tensor | None = None,
             progress: Progress | None = None) -> Report:
    """Bits/dim of (model, meta) on n digits of one split with one estimator ('full', 'fast' or 'ode').

    bf16: autocast for the network; None = where it is fast (use_bf16). A flow-matching model has the ODE only.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"unknown reverse variance {variance!r}; choose 'beta' or 'beta_tilde'")
    if estimator != "ode" and normalize_prediction_type(meta.prediction_type) == "u":
        raise ValueError("a flow-matching model has no DDPM chain, so no variational bound here: "
                         "use the ODE likelihood (estimator 'ode')")
    s = schedule_of(meta)
    dev = next(model.parameters()).device
    x0 = (digits(n, held_out) if x0 is None else x0).to(dev)
    bf16 = use_bf16(model, bf16)
    split, start = ("held-out" if held_out else "train"), time.perf_counter()
    if estimator == "ode":
        return _ode_report(model, meta, s, x0, split, ode_steps, probe, seed, bf16, progress, start)
    den = unet_denoiser(model, s, meta.prediction_type, bf16=bf16)
    if estimator == "fast":
        res = bound_fast(s, den, x0, k=k, seed=seed, batch=batch, progress=progress)
        bpd, se = res.bpd(variance)
        alt = "beta" if variance == "beta_tilde" else "beta_tilde"
        other = {f"bpd_{alt}": res.bpd(alt)[0], f"se_{alt}": res.bpd(alt)[1], "k": k, "bf16": bf16}
        return Report("fast", split, x0.shape[0], bpd, se, variance, time.perf_counter() - start, other=other,
                      per_digit=nats_to_bpd(res.total[variance], res.D).tolist(),
                      per_t=nats_to_bpd(res.stratum_terms[variance], res.D).tolist(),
                      per_t_simple=res.stratum_mse.tolist(), per_t_t=res.stratum_t().tolist())
    res = bound_every_t(s, den, x0, seed=seed, batch=batch, progress=progress)
    bpd, se = res.bpd(variance)
    alt = "beta" if variance == "beta_tilde" else "beta_tilde"
    D = res.D
    other = {f"bpd_{alt}": res.bpd(alt)[0], f"se_{alt}": res.bpd(alt)[1],
             "prior_bpd": float(nats_to_bpd(res.prior.mean(), D)), "decoder_bpd": float(res.per_t_bpd(variance)[0]),
             "log_snr": s.log_snr.tolist(), "bf16": bf16}
    return Report("full", split, x0.shape[0], bpd, se, variance, time.perf_counter() - start,
                  per_t=res.per_t_bpd(variance).tolist(), per_t_simple=res.eps_mse.mean(0).tolist(), other=other,
                  per_digit=nats_to_bpd(res.total(variance), D).tolist(), per_t_t=list(range(s.T)))


def _ode_report(model, meta, s, x0, split, steps, probe, seed, bf16, progress, start) -> Report:
    flow = normalize_prediction_type(meta.prediction_type) == "u"
    # the noise end: t = T−1 (a VP model there meets N(0, I) up to ᾱ_{T−1}); a flow model's λ is −∞ at t = 1,
    # so it stops one step short (t = 0.999: x = 0.001·x_0 + 0.999·ε, N(0, I) off by < 1e-5 bits/dim)
    lam_min = float(s.log_snr[-2] if flow else s.log_snr[-1])
    if not math.isfinite(lam_min):
        raise ValueError("the ODE likelihood needs a finite log-SNR at t = T−1 (not a zero-terminal-SNR schedule)")
    gen = torch.Generator().manual_seed(seed + 1)
    u = (torch.rand(x0.shape, generator=gen) * 2 - 1) * BIN_HALF_WIDTH
    x = x0 + u.to(x0.device)
    autograd_ready(model)
    den = unet_path_denoiser(model, s, meta.prediction_type, bf16=bf16)
    res = ode_log_likelihood(den, x, float(s.log_snr[0]), lam_min, path=FM_PATH if flow else VP_PATH, steps=steps,
                             probe=probe, seed=seed, progress=progress)
    D = x0[0].numel()
    bpd = nats_to_bpd(-res.log_p.cpu(), D).numpy() + LOG2_BINS
    mean, se = mean_se(bpd)
    return Report("ode", split, x0.shape[0], mean, se, "", time.perf_counter() - start,
                  other={"nfe": res.nfe, "steps": steps, "probe": probe, "dequantization": "uniform, U(−1/255, 1/255)",
                         "gaussian_path": "flow matching" if flow else "vp", "bf16": bf16,  # "path" = a file to gradio
                         "prior_bpd": float(nats_to_bpd(-res.prior_logp.mean().cpu(), D))}, per_digit=bpd.tolist())


def load(checkpoint: str | Path, device: str | None = None):
    """(model, meta) from a checkpoint file, on ``device`` (default: pick_device())."""
    from ..mnist.checkpoint import load_model

    return load_model(checkpoint, pick_device(device))
