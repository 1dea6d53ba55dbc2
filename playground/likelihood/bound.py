"""The DDPM variational bound, term by term (Ho et al. 2020, Eq. 5; improved-diffusion's ``_vb_terms_bpd``).

Part of playground.likelihood (see its docstring for the notation). With the app's 0-based t:

    L_T      KL(q(x_{T−1} | x_0) ‖ N(0, I))                          the prior term, no network
    L_t      KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)),  t = 1 … T−1      Gaussians: closed form
    L_0      −log p_θ(x_0 | x_{t=0}): the discretized Gaussian decoder on 256 levels (Ho et al. §3.3)

p_θ(x_{t−1} | x_t) = N(μ̃_t(x̂_0, x_t), σ_t²) with σ_t² = β_t ("beta") or β̃_t ("beta_tilde"). The decoder's variance
is β_0 under "beta" (Ho et al.: σ_1² = β_1 in their numbering) and β̃_1 under "beta_tilde" (β̃_0 = 0, so
improved-diffusion clips it to β̃_1). Only x̂_0 enters: μ̃_t(x_0, x_t) − μ̃_t(x̂_0, x_t) = c_t·(x_0 − x̂_0) with
c_t = √ᾱ_{t−1}·β_t/(1−ᾱ_t), so one network call per (x_0, t) gives the terms of both variances.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..diffusion import q_sample
from ..runtime.workers import cpu_workers, ordered_map
from ..schedules import NoiseSchedule

VARIANCES = ("beta", "beta_tilde")
BIN_HALF_WIDTH = 1.0 / 255.0  # pixel levels −1 + 2k/255: bins of width 2/255

# den(x_t (B, ...), t (B,) long) → (x̂_0, ε̂), both like x_t
Denoiser = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Progress = Callable[[int, int], None]

__all__ = [
    "VARIANCES", "Denoiser", "BoundResult", "FastResult", "normal_kl", "discretized_gaussian_log_likelihood",
    "prior_kl", "reverse_variances", "vb_terms", "strata", "bound_every_t", "bound_fast", "nats_to_bpd", "mean_se",
]


def nats_to_bpd(nats, D: int):
    """bits/dim = nats ÷ (D·ln 2)."""
    return nats / (D * math.log(2.0))


def mean_se(values) -> tuple[float, float]:
    """Mean and its standard error (std / √n, ddof 1; 0 for a single value) of a 1-D array."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("no values to average")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return float(v.mean()), se


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """Elementwise KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) in nats (tensors broadcast)."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def _log_ndtr_diff(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Φ(hi) − Φ(lo)) for lo < hi, accurate in both tails (mirrored where lo > 0)."""
    flip = lo > 0
    a, b = torch.where(flip, -hi, lo), torch.where(flip, -lo, hi)  # Φ(b) − Φ(a), now with a ≤ 0
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log1p(-torch.exp((log_a - log_b).clamp(max=0.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Elementwise log P(x) of N(mean, e^{2·log_scale}) integrated over x's bin (Ho et al. §3.3).

    x on the 256 levels −1 + 2k/255; bins [x − 1/255, x + 1/255], the edge bins open: (−∞, −1 + 1/255] and
    [1 − 1/255, ∞). So the 256 probabilities sum to 1 exactly. Returns log-probabilities like x (nats).
    """
    inv = torch.exp(-log_scale)
    lo, hi = (x - mean - BIN_HALF_WIDTH) * inv, (x - mean + BIN_HALF_WIDTH) * inv
    inner = _log_ndtr_diff(lo, hi)
    left = torch.special.log_ndtr(hi)  # x = −1: (−∞, −1 + 1/255]
    right = torch.special.log_ndtr(-lo)  # x = +1: [1 − 1/255, ∞)
    return torch.where(x < -0.999, left, torch.where(x > 0.999, right, inner))


def prior_kl(s: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_{T−1} | x_0) ‖ N(0, I)) per example, (B,) nats (float64)."""
    ab = s.alpha_bar[-1].to(torch.float64)
    x0 = x0.to(torch.float64).flatten(1)
    mean, logvar = ab.sqrt() * x0, torch.log1p(-ab).expand_as(x0)
    return normal_kl(mean, logvar, torch.zeros_like(x0), torch.zeros_like(x0)).sum(1)


def reverse_variances(s: NoiseSchedule) -> dict[str, torch.Tensor]:
    """σ_t² of p_θ(x_{t−1} | x_t) for t = 0 … T−1, (T,) float64 each; entry 0 is the decoder's variance."""
    beta, bt = s.betas, s.posterior_variance
    return {"beta": beta.clone(), "beta_tilde": torch.cat([bt[1:2], bt[1:]])}


def vb_terms(s: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, x0_hat: torch.Tensor,
             discrete: bool = True) -> dict[str, torch.Tensor]:
    """The bound's term at each (x_0, t) pair for both variances: {variance: (B,) nats}.

    t ≥ 1: KL(q(x_{t−1}|x_t,x_0) ‖ N(μ̃_t(x̂_0, x_t), σ_t²)). t = 0: the decoder's −log p(x_0 | x_{t=0}), the
    discretized one (discrete=True, pixels) or the Gaussian density (continuous data, e.g. 2-D points).
    """
    x0 = x0.detach().to("cpu", torch.float64).flatten(1)
    x0_hat = x0_hat.detach().to("cpu", torch.float64).flatten(1)
    t = t.reshape(-1).long().cpu()
    D = x0.shape[1]
    ab, ab_prev, beta = s.alpha_bar[t], s.alpha_bar_prev[t], s.betas[t]
    c2 = (ab_prev.sqrt() * beta / (1 - ab)) ** 2  # μ̃ − μ_θ = c·(x_0 − x̂_0)
    post_logvar = torch.log(s.posterior_variance[t].clamp(min=1e-300))
    sq = (x0 - x0_hat).pow(2).sum(1)  # ‖x_0 − x̂_0‖², (B,): the only per-pixel work of a KL term
    first = t == 0
    zero = torch.zeros(())
    out = {}
    for name, var in reverse_variances(s).items():
        logvar = torch.log(var[t])
        # Σ_d KL(N(μ̃_d, β̃_t) ‖ N(μ_θ,d, σ_t²)) = D·KL(N(0, β̃_t) ‖ N(0, σ_t²)) + ½·c²·‖x_0 − x̂_0‖²/σ_t²
        kl = D * normal_kl(zero, post_logvar, zero, logvar) + 0.5 * c2 * sq * torch.exp(-logvar)
        if bool(first.any()):
            m, ls = x0_hat[first], 0.5 * logvar[first, None]
            if discrete:
                nll = -discretized_gaussian_log_likelihood(x0[first], m, ls).sum(1)
            else:
                nll = (0.5 * math.log(2 * math.pi) + ls + 0.5 * ((x0[first] - m) * torch.exp(-ls)) ** 2).sum(1)
            kl[first] = nll
        out[name] = kl
    return out


@dataclass(frozen=True)
class BoundResult:
    """Every term for every t: per example (N,) and per (example, t) (N, T), in nats (float64).

    ``terms[v][:, 0]`` is L_0 (the decoder), ``terms[v][:, t]`` is L_t for t ≥ 1; the bound is prior + Σ_t terms.
    ``eps_mse[:, t]`` is ‖ε − ε̂‖²/D at the same x_t: L_simple's term, for comparing weightings.
    """

    prior: torch.Tensor  # (N,)  L_T
    terms: dict[str, torch.Tensor]  # variance → (N, T)
    eps_mse: torch.Tensor  # (N, T)
    D: int

    def total(self, variance: str = "beta_tilde") -> torch.Tensor:
        """The bound per example, (N,) nats."""
        return self.prior + self.terms[variance].sum(1)

    def bpd(self, variance: str = "beta_tilde") -> tuple[float, float]:
        """(mean, standard error) of the bound in bits/dim over the examples."""
        return mean_se(nats_to_bpd(self.total(variance), self.D).numpy())

    def per_t_bpd(self, variance: str = "beta_tilde") -> np.ndarray:
        """The mean contribution of each t in bits/dim, (T,): index 0 is L_0."""
        return nats_to_bpd(self.terms[variance].mean(0), self.D).numpy()


@dataclass(frozen=True)
class FastResult:
    """The stratified estimate per example (N,) nats, for each variance, and how many t it evaluated.

    ``stratum_terms[v]`` (k + 1,): the mean term over the examples' draws in each stratum, entry 0 being L_0 (an
    unbiased estimate of the stratum's mean L_t: the per-t curve at ``edges``' resolution); ``stratum_mse`` the
    same for ‖ε − ε̂‖²/D. ``edges`` (k + 1,): stratum j holds t = edges[j] … edges[j + 1] − 1.
    """

    total: dict[str, torch.Tensor]
    D: int
    k: int  # strata (t's per example besides t = 0)
    edges: np.ndarray | None = None
    stratum_terms: dict[str, torch.Tensor] | None = None
    stratum_mse: torch.Tensor | None = None

    def bpd(self, variance: str = "beta_tilde") -> tuple[float, float]:
        return mean_se(nats_to_bpd(self.total[variance], self.D).numpy())

    def stratum_t(self) -> np.ndarray:
        """Where each entry of the per-stratum curve sits: 0 for L_0, then each stratum's geometric middle."""
        lo, hi = self.edges[:-1], self.edges[1:] - 1
        return np.concatenate([[0.0], np.sqrt(lo * hi)])


def _check(s: NoiseSchedule, x0: torch.Tensor) -> None:
    if x0.ndim < 2 or x0.shape[0] == 0:
        raise ValueError(f"x0 must be a non-empty batch (N, ...), got shape {tuple(x0.shape)}")
    if not bool(torch.isfinite(x0).all()):
        raise ValueError("x0 holds NaN or infinite values")
    if s.zero_terminal_snr:
        raise ValueError("the variational bound needs ᾱ_{T−1} > 0; a zero-terminal-SNR schedule makes L_T infinite")


def _noised(s: NoiseSchedule, x0, t, gen) -> tuple:
    """(x0, t, ε, x_t) for the pairs (x0[i], t[i]), with fresh ε drawn from gen (in the caller's thread, in order)."""
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(device=x0.device, dtype=x0.dtype)
    return x0, t, eps, q_sample(s, x0, t, eps)


def _terms(s: NoiseSchedule, den: Denoiser, discrete: bool, x0, t, eps, x_t):
    """(terms {v: (B,)}, ε-MSE (B,)) at the pairs (x0[i], t[i]) noised to x_t with ε."""
    x0_hat, eps_hat = den(x_t, t)
    mse = (eps.to(torch.float64) - eps_hat.to(torch.float64)).pow(2).flatten(1).mean(1)
    return vb_terms(s, x0, t, x0_hat, discrete), mse.cpu()


def _each_batch(s, den, x0, pairs_n, pairs_t, gen, batch, discrete, workers):
    """(start, terms, ε-MSE) for each batch of the pairs, in order; up to ``workers`` network calls at once."""
    starts = range(0, pairs_n.numel(), batch)
    workers = cpu_workers(x0.device) if workers is None else workers
    noised = (_noised(s, x0[pairs_n[i:i + batch].to(x0.device)], pairs_t[i:i + batch].to(x0.device), gen)
              for i in starts)
    results = ordered_map(functools.partial(_terms, s, den, discrete), noised, min(workers, len(starts)))
    for i, (out, mse) in zip(starts, results):
        yield i, out, mse


def bound_every_t(s: NoiseSchedule, den: Denoiser, x0: torch.Tensor, *, seed: int = 0, batch: int = 125,
                  discrete: bool = True, workers: int | None = None,
                  progress: Progress | None = None) -> BoundResult:
    """Every term of the bound for every t (one ε per (example, t), as improved-diffusion's calc_bpd_loop).

    Args: x0 (N, ...) data (pixels on the 256 levels when discrete); den gives (x̂_0, ε̂) at (x_t, t);
    batch: network inputs per call (examples × timesteps are flattened into it); workers: calls at once (None:
    one per CPU thread, playground.runtime.workers; the numbers do not depend on it). Returns a BoundResult.
    """
    _check(s, x0)
    N, T, D = x0.shape[0], s.T, x0[0].numel()
    gen = torch.Generator().manual_seed(seed)
    # t-major: (n, t) for n = 0 … N−1 at each t, so the fp32 pairs of small t fill whole batches of their own
    pairs_n = torch.arange(N).repeat(T)
    pairs_t = torch.arange(T).repeat_interleave(N)
    terms = {v: torch.empty(N * T, dtype=torch.float64) for v in VARIANCES}
    mse = torch.empty(N * T, dtype=torch.float64)
    total = N * T
    for i, out, m in _each_batch(s, den, x0, pairs_n, pairs_t, gen, batch, discrete, workers):
        for v in VARIANCES:
            terms[v][i:i + batch] = out[v]
        mse[i:i + batch] = m
        if progress is not None:
            progress(min(i + batch, total), total)
    return BoundResult(prior_kl(s, x0.cpu()), {v: terms[v].reshape(T, N).T.contiguous() for v in VARIANCES},
                       mse.reshape(T, N).T.contiguous(), D)


def strata(T: int, k: int) -> np.ndarray:
    """At most k + 1 edges splitting t = 1 … T−1 into strata of geometrically growing size.

    The terms fall roughly like 1/t, so equal strata in log t keep each stratum's spread small; the first
    strata hold a single t, whose term is then exact."""
    if not 1 <= k <= T - 1:
        raise ValueError(f"the fast estimate needs 1 ≤ k ≤ T − 1 = {T - 1} strata, got {k}")
    return np.unique(np.round(np.geomspace(1, T, k + 1)).astype(np.int64))


def bound_fast(s: NoiseSchedule, den: Denoiser, x0: torch.Tensor, *, k: int = 16, seed: int = 0,
               batch: int = 125, discrete: bool = True, workers: int | None = None,
               progress: Progress | None = None) -> FastResult:
    """An unbiased estimate of each example's bound from L_T, L_0 and one t per stratum (k strata of 1 … T−1).

    Σ_{t≥1} L_t ≈ Σ_j n_j·L_{t_j} with t_j uniform in stratum j of size n_j: unbiased, since E[n_j·L_{t_j}] is
    the stratum's sum. The standard error over examples then covers both the data and the choice of t.
    """
    _check(s, x0)
    N, T, D = x0.shape[0], s.T, x0[0].numel()
    gen = torch.Generator().manual_seed(seed)
    edges = strata(T, k)
    k = len(edges) - 1
    sizes = torch.as_tensor(np.diff(edges), dtype=torch.float64)
    lo = torch.as_tensor(edges[:-1]).repeat(N)
    u = torch.rand(N * k, generator=gen, dtype=torch.float64)
    t = torch.cat([torch.zeros(N, dtype=torch.long), (lo + (u * sizes.repeat(N)).long()).long()])
    n = torch.cat([torch.arange(N), torch.arange(N).repeat_interleave(k)])
    w = torch.cat([torch.ones(N, dtype=torch.float64), sizes.repeat(N)])
    j = torch.cat([torch.zeros(N, dtype=torch.long), torch.arange(1, k + 1).repeat(N)])  # stratum, 0 = L_0
    total = {v: prior_kl(s, x0.cpu()) for v in VARIANCES}
    per = {v: torch.zeros(k + 1, dtype=torch.float64) for v in VARIANCES}
    per_mse = torch.zeros(k + 1, dtype=torch.float64)
    for i, out, mse in _each_batch(s, den, x0, n, t, gen, batch, discrete, workers):
        nb, jb = n[i:i + batch], j[i:i + batch]
        for v in VARIANCES:
            total[v].index_add_(0, nb, out[v] * w[i:i + batch])
            per[v].index_add_(0, jb, out[v] / N)
        per_mse.index_add_(0, jb, mse.to(torch.float64) / N)
        if progress is not None:
            progress(min(i + batch, n.numel()), n.numel())
    return FastResult(total, D, k, edges, per, per_mse)
