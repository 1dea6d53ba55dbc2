"""The probability-flow ODE likelihood (Song et al. 2021, arXiv:2011.13456, §4.3 and App. D.2).

Part of playground.likelihood (see its docstring for the notation). Any Gaussian path x = a(λ)·x_0 + σ(λ)·ε,
parametrized by its log-SNR λ = 2·log(a/σ), has the probability-flow ODE

    dx/dλ = f(x, λ) = a'(λ)·x̂_0(x, λ) + σ'(λ)·ε̂(x, λ)          (the conditional velocity, averaged over x_0 | x)

with x = a·x̂_0 + σ·ε̂. So a model that gives (x̂_0, ε̂) on a path plugs in: the VP diffusion path here, a flow-
matching path (a = 1 − t, σ = t) by its coefficients. The instantaneous change of variables (Chen et al. 2018):

    d log p_λ(x(λ)) / dλ = −tr(∂f/∂x)   ⇒   log p_{λ_max}(x) = log p_prior(x(λ_min)) + ∫_{λ_max}^{λ_min} tr(∂f/∂x) dλ

integrated here from the data end λ_max to the noise end λ_min with Heun's method on a uniform λ grid (2 network
calls with a backward pass per step). The trace: exact by autograd (one backward pass per dimension: 2-D), or
Hutchinson's estimate tr(J) ≈ zᵀJz with one fixed probe z per example for the whole path (Rademacher or Gaussian),
E[zᵀJz] = tr(J) (Hutchinson 1989; FFJORD, Grathwohl et al. 2019).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

# den(x (B, ...), λ: float) → (x̂_0, ε̂), differentiable in x
PathDenoiser = Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
PROBES = ("rademacher", "gaussian", "exact")

__all__ = ["PROBES", "PathDenoiser", "GaussianPath", "VP_PATH", "FM_PATH", "ODEResult", "drift",
           "hutchinson_trace", "exact_trace", "ode_log_likelihood", "standard_normal_logp", "make_probe"]


@dataclass(frozen=True)
class GaussianPath:
    """x = a(λ)·x_0 + σ(λ)·ε as functions of λ: ``coefs(λ) → (a, σ, da/dλ, dσ/dλ)`` (floats)."""

    name: str
    coefs: Callable[[float], tuple[float, float, float, float]]


def _vp(lam: float):  # a² = sigmoid(λ), σ² = sigmoid(−λ): a² + σ² = 1
    a, sd = math.sqrt(_sigmoid(lam)), math.sqrt(_sigmoid(-lam))
    return a, sd, 0.5 * a * sd * sd, -0.5 * sd * a * a


def _fm(lam: float):  # a = 1 − t, σ = t (data at t = 0, as Stable Diffusion 3): a = sigmoid(λ/2)
    a, sd = _sigmoid(lam / 2), _sigmoid(-lam / 2)
    return a, sd, 0.5 * a * sd, -0.5 * a * sd


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


VP_PATH = GaussianPath("vp", _vp)
FM_PATH = GaussianPath("flow matching (x = (1−t)·x0 + t·ε)", _fm)


def drift(path: GaussianPath, den: PathDenoiser, x: torch.Tensor, lam: float) -> torch.Tensor:
    """f(x, λ) = a'·x̂_0 + σ'·ε̂, the probability-flow velocity in λ, like x."""
    _, _, da, dsd = path.coefs(lam)
    x0_hat, eps_hat = den(x, lam)
    return da * x0_hat + dsd * eps_hat


def make_probe(shape, kind: str, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """A Hutchinson probe: Rademacher (±1) or standard Gaussian entries."""
    if kind == "rademacher":
        return torch.randint(0, 2, shape, generator=generator).to(dtype) * 2 - 1
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, dtype=dtype)
    raise ValueError(f"unknown probe {kind!r}; choose one of {', '.join(PROBES)}")


def hutchinson_trace(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), zᵀ·∂fn/∂x·z per example (B,)): one vector–Jacobian product, an unbiased estimate of the trace."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = fn(x)
        (vjp,) = torch.autograd.grad((f * z).sum(), x)
    return f.detach(), (vjp * z).flatten(1).sum(1).detach()


def exact_trace(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), tr ∂fn/∂x per example (B,)) by one backward pass per dimension: for small D (2-D points)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        f = fn(x)
        ff, xf = f.flatten(1), x
        tr = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(ff.shape[1]):
            (g,) = torch.autograd.grad(ff[:, i].sum(), xf, retain_graph=i + 1 < ff.shape[1])
            tr = tr + g.flatten(1)[:, i]
    return f.detach(), tr.detach()


def standard_normal_logp(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, I) per example, (B,)."""
    x = x.flatten(1)
    return -0.5 * (x * x).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


@dataclass(frozen=True)
class ODEResult:
    """log p_{λ_max}(x) per example (B,) nats = prior_logp + trace integral; x_end = x(λ_min); nfe calls."""

    log_p: torch.Tensor
    prior_logp: torch.Tensor
    x_end: torch.Tensor
    nfe: int


def ode_log_likelihood(den: PathDenoiser, x: torch.Tensor, lam_max: float, lam_min: float, *,
                       path: GaussianPath = VP_PATH, steps: int = 50, probe: str = "rademacher", seed: int = 0,
                       prior: Callable[[torch.Tensor], torch.Tensor] = standard_normal_logp,
                       progress: Callable[[int, int], None] | None = None) -> ODEResult:
    """log p(x) under the probability-flow ODE of ``den`` on ``path``, from λ_max (data) to λ_min (noise).

    Heun's method with ``steps`` uniform steps in λ (2·steps network calls, each with a backward pass).
    probe: "exact" (autograd, D backward passes per call) or "rademacher" / "gaussian" (Hutchinson, one probe per
    example held fixed along the path, drawn from ``seed``). Returns an ODEResult (float like x).
    """
    if not lam_max > lam_min:
        raise ValueError(f"need λ_max > λ_min, got {lam_max} and {lam_min}")
    if int(steps) < 1:
        raise ValueError(f"the ODE needs at least 1 step, got {steps}")
    if probe not in PROBES:
        raise ValueError(f"unknown trace estimator {probe!r}; choose one of {', '.join(PROBES)}")
    gen = torch.Generator().manual_seed(seed)
    z = None if probe == "exact" else make_probe(x.shape, probe, gen, x.dtype).to(x.device)
    lams = torch.linspace(lam_max, lam_min, int(steps) + 1, dtype=torch.float64).tolist()

    def f_tr(xc, lam):
        fn = lambda y: drift(path, den, y, lam)  # noqa: E731
        return exact_trace(fn, xc) if z is None else hutchinson_trace(fn, xc, z)

    xc, integral = x.detach(), torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    f1, tr1 = f_tr(xc, lams[0])
    for i in range(int(steps)):
        h = lams[i + 1] - lams[i]  # negative: towards the noise
        f2, tr2 = f_tr(xc + h * f1, lams[i + 1])
        xc = xc + 0.5 * h * (f1 + f2)
        integral += 0.5 * h * (tr1 + tr2).to(torch.float64)
        if i + 1 < int(steps):
            f1, tr1 = f_tr(xc, lams[i + 1])
        if progress is not None:
            progress(i + 1, int(steps))
    prior_logp = prior(xc).to(torch.float64)
    return ODEResult(prior_logp + integral, prior_logp, xc, 2 * int(steps))
