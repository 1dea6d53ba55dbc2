"""The 2-D lab's core: toy datasets, the exact score of the noised data, a small MLP denoiser, and
particle samplers (DDPM, DDIM, DPM-Solver++, probability-flow ODE, reverse SDE, annealed Langevin).

In two dimensions the whole distribution that diffusion carries can be seen: the data is a point
cloud, the noised marginal q_t a blur, the score a field of arrows, a sampler a set of particle paths.

Notation (code name → paper symbol):

    x0            x_0^{(i)}    the N data points, (N, 2), standardized (mean 0, mean per-axis variance 1)
    x_t           x_t          query points / particles, (M, 2)
    alpha_bar     ᾱ_t          from the shared NoiseSchedule (schedules.py); a = √ᾱ_t, var = 1 − ᾱ_t
    q_t           q_t(x) = (1/N)·Σ_i N(x; √ᾱ_t·x_0^{(i)}, (1−ᾱ_t)·I)   the noised *empirical* distribution
    weights       w_i(x) = softmax_i(−‖x − √ᾱ_t·x_0^{(i)}‖² / (2(1−ᾱ_t)))   posterior p(i | x_t)
    x0_hat        E[x_0 | x_t] = Σ_i w_i·x_0^{(i)}      the ideal denoiser (Tweedie)
    score         ∇_x log q_t(x) = (√ᾱ_t·E[x_0|x_t] − x) / (1−ᾱ_t)
    eps           ε̂ = (x − √ᾱ_t·E[x_0|x_t]) / √(1−ᾱ_t) = −√(1−ᾱ_t)·score     (so score = −ε̂/√(1−ᾱ_t))
    sigma_tilde   σ̃_t = √((1−ᾱ_t)/ᾱ_t), the noise level of x̄ = x/√ᾱ_t (the "VE" view, Karras et al. Eq. 4)
    Denoiser      a score source: the learned MLP or the exact formulas above, with its prediction type

The samplers (all start from the same x_T ~ N(0, I), on the same list of timesteps):

    ddpm, ddim, dpmpp_2m   the step functions of samplers.py, unchanged (they work on any tensor shape)
    pf_ode     the probability-flow ODE of the VP SDE (Song et al. 2021, arXiv:2011.13456, Eq. 13)
               dx = −½β(t)·[x + ∇log q_t(x)]·dt. In x̄ = x/√ᾱ and σ̃ it reads dx̄/dσ̃ = ε̂(x, t)
               (DDIM arXiv:2010.02502 §4.3), integrated with Heun's method (Karras et al. arXiv:2206.00364,
               Alg. 1) or Euler; Euler on this grid *is* DDIM(η = 0).
    sde        the reverse-time SDE (Song et al. Eq. 6), Euler–Maruyama in the same variables:
               x̄ ← x̄ + (σ̃_next² − σ̃²)·∇_x̄ log q + √(σ̃² − σ̃_next²)·z,  ∇_x̄ log q = −ε̂/σ̃;
               the last step returns the mean (Tweedie's x̂_0), as Song et al.'s code does.
    langevin   annealed Langevin dynamics (Song & Ermon 2019, arXiv:1907.05600, Alg. 1): L steps per
               noise level of x ← x + (α/2)·∇log q_t(x) + √α·z with α = c·σ_t², σ_t² = 1 − ᾱ_t
               (step size proportional to σ², not σ); then one denoising step x ← E[x_0|x].

Flow matching (flow2d.py; conventions in playground/paths.py: t = 0 data, t = 1 noise):

    u*(x, t)   the exact marginal velocity (x − E[x_0 | x_t = x])/t of the empirical data, from the same denoiser
    flow_ode   Euler / Heun on dx/dt = u from t = 1 to 0; straightness (Liu et al.) and length ÷ chord
    reflow     pairs (x_1, ODE endpoint), retrained on straight lines between them (Liu et al. 2022, §2.3)

Distances between point sets: the energy distance (Székely & Rizzo 2013; scipy's convention, a metric)
and the sliced 2-Wasserstein distance over evenly spaced directions.

Randomness comes only from explicit seeds / torch.Generator objects. No gradio here: bad input raises
ValueError with a message the UI shows as it is.
"""
from __future__ import annotations

from .data import (  # noqa: F401
    DATASET_LABELS,
    DATASETS,
    DEFAULT_N,
    GAUSSIAN_COV,
    GAUSSIAN_MEAN,
    MAX_N,
    MAX_STEPS,
    MIN_N,
    SAMPLER_LABELS,
    SAMPLERS_2D,
    Dataset2D,
    as_finite,
    drawing_dataset,
    get_dataset,
    ink_mask,
    make_dataset,
)
from .distance import energy_distance, eps_gap, nearest_distance, reference_distance, sliced_wasserstein  # noqa: F401
from .exact import (  # noqa: F401
    Denoiser,
    ExactQ,
    denoise,
    exact_denoiser,
    exact_log_density,
    exact_on_grid,
    exact_quantities,
    exact_score,
    gaussian_denoiser,
    gaussian_marginal,
    gaussian_score,
    ideal_denoiser,
    ideal_eps,
    model_denoiser,
)
from .flow2d import (  # noqa: F401
    FlowPath,
    ReflowRound,
    exact_velocity,
    exact_velocity_fn,
    few_step_samples,
    flow_denoiser,
    flow_ode,
    gaussian_velocity_fn,
    model_velocity_fn,
    reflow,
    reflow_pairs,
    train_flow,
)
from .mlp import MLPConfig, ScoreMLP, Toy2DTrainer, TrainConfig2D, TrainEvent, train_denoiser  # noqa: F401
from .particles import Trajectory, langevin_dynamics, nfe, pf_ode, sample_2d, start_noise  # noqa: F401

__all__ = [
    "DATASETS", "DATASET_LABELS", "DEFAULT_N", "MAX_N", "MIN_N", "MAX_STEPS",
    "SAMPLERS_2D", "SAMPLER_LABELS",
    "Dataset2D", "get_dataset", "make_dataset", "drawing_dataset", "ink_mask",
    "ExactQ", "exact_quantities", "exact_log_density", "exact_score", "ideal_denoiser", "ideal_eps",
    "exact_on_grid", "gaussian_marginal", "gaussian_score",
    "Denoiser", "exact_denoiser", "gaussian_denoiser", "model_denoiser", "denoise",
    "MLPConfig", "ScoreMLP", "TrainConfig2D", "TrainEvent", "Toy2DTrainer", "train_denoiser",
    "Trajectory", "start_noise", "sample_2d", "pf_ode", "langevin_dynamics", "nfe",
    "energy_distance", "sliced_wasserstein", "nearest_distance", "reference_distance", "eps_gap",
    "exact_velocity", "exact_velocity_fn", "gaussian_velocity_fn", "model_velocity_fn", "flow_denoiser",
    "FlowPath", "flow_ode", "few_step_samples", "train_flow", "reflow_pairs", "ReflowRound", "reflow",
]
