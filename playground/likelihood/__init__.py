"""Likelihoods: the DDPM variational bound term by term, the probability-flow ODE likelihood, and what each
training objective weights. No gradio here.

Notation (code name → paper symbol):

    x0, x_t, eps    x_0, x_t, ε          as in diffusion.py; data on the 256 levels −1 + 2k/255 for pixels
    t               t                    0-based timestep (the papers' t − 1)
    alpha_bar       ᾱ_t                  schedules.py;  snr = ᾱ/(1−ᾱ),  log_snr = λ = log snr
    L_T, L_t, L_0   L_T, L_{t−1}, L_0    the bound's prior term, KL terms, decoder term (Ho et al. 2020, Eq. 5)
    sigma²          σ_t²                 reverse variance: β_t ("beta") or β̃_t ("beta_tilde")
    D               D                    dimensions per example (784 for MNIST, 2 in the 2-D lab)
    bpd             bits/dim             nats ÷ (D·ln 2)
    lam             λ                    log-SNR, the ODE's and the weightings' time axis
    a, sigma        α_λ, σ_λ             a Gaussian path x = a·x_0 + σ·ε (VP: a² = sigmoid(λ), a² + σ² = 1)
    z               z                    Hutchinson probe: Rademacher or Gaussian, E[zzᵀ] = I
    w(λ), p(λ)      w(λ), p(λ)           effective weight and t-sampling density over λ (Kingma & Gao 2023)
    nfe             NFE                  network evaluations

Modules: bound.py (the bound, the decoder, the fast estimate), ode.py (probability-flow ODE likelihood),
weighting.py (w(λ) of each objective), mnist.py (a checkpoint on real digits), toy2d.py (the 2-D section).
CLI: ``python -m playground.likelihood --checkpoint PATH --num 100 [--held-out] [--estimator full|fast|ode]``.
"""
from __future__ import annotations

from .bound import (  # noqa: F401
    VARIANCES,
    BoundResult,
    FastResult,
    bound_every_t,
    bound_fast,
    discretized_gaussian_log_likelihood,
    mean_se,
    nats_to_bpd,
    normal_kl,
    prior_kl,
    reverse_variances,
    strata,
    vb_terms,
)
from .ode import (  # noqa: F401
    FM_PATH,
    PROBES,
    VP_PATH,
    GaussianPath,
    ODEResult,
    drift,
    exact_trace,
    hutchinson_trace,
    ode_log_likelihood,
    standard_normal_logp,
)
from .weighting import OBJECTIVES, effective_weight, error_multiplier, sampling_density, weighting_curves  # noqa: F401

__all__ = [
    "VARIANCES", "BoundResult", "FastResult", "bound_every_t", "bound_fast", "discretized_gaussian_log_likelihood",
    "mean_se", "nats_to_bpd", "normal_kl", "prior_kl", "reverse_variances", "strata", "vb_terms",
    "PROBES", "VP_PATH", "FM_PATH", "GaussianPath", "ODEResult", "drift", "exact_trace", "hutchinson_trace",
    "ode_log_likelihood", "standard_normal_logp",
    "OBJECTIVES", "effective_weight", "error_multiplier", "sampling_density", "weighting_curves",
]
