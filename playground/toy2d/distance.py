"""Distances between a sample set and the data (energy distance, sliced Wasserstein, nearest-point distances).

Part of playground.toy2d (see its docstring for the notation and the papers).
"""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule
from .data import Dataset2D, as_count, as_points
from .exact import Denoiser, denoise

# --- 6. distances ------------------------------------------------------------------------------------


def _mean_pdist(x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> float:
    """mean over all pairs of ‖x_i − y_j‖ (float64, chunked)."""
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        total += float(torch.cdist(x[i:i + chunk], y).sum())
    return total / (x.shape[0] * y.shape[0])


def energy_distance(x, y) -> float:
    """Energy distance D(X, Y) = √(2·E‖X−Y‖ − E‖X−X′‖ − E‖Y−Y′‖) between two point sets (M, 2), (N, 2).

    Means over all pairs, the own point included (V-statistics, as scipy.stats.energy_distance in 1-D), so
    D(X, X) = 0 exactly, and two independent draws of n points from one distribution give D ≈ √(c/n) > 0.
    """
    x = as_points(x, "first point set", dtype=torch.float64).cpu()
    y = as_points(y, "second point set", dtype=torch.float64).cpu()
    d2 = 2 * _mean_pdist(x, y) - _mean_pdist(x, x) - _mean_pdist(y, y)
    return math.sqrt(max(d2, 0.0))


def sliced_wasserstein(x, y, n_proj: int = 64) -> float:
    """Sliced 2-Wasserstein distance: √(mean over directions θ_k = π·k/K of W₂²(θ·X, θ·Y)).

    Directions are evenly spaced (no randomness); 1-D W₂ compares quantiles at (i + ½)/n. For X and its
    shift X + δ it is |δ|/√2 exactly (the mean of cos² over evenly spaced angles is ½).
    """
    x = as_points(x, "first point set", dtype=torch.float64).cpu()
    y = as_points(y, "second point set", dtype=torch.float64).cpu()
    K = as_count(n_proj, "number of projections", 2, 10_000)
    ang = torch.arange(K, dtype=torch.float64) * math.pi / K
    dirs = torch.stack([torch.cos(ang), torch.sin(ang)], 0)  # (2, K)
    px, _ = torch.sort(x @ dirs, 0)  # (M, K)
    py, _ = torch.sort(y @ dirs, 0)  # (N, K)
    n = max(px.shape[0], py.shape[0])
    q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    qx = px[(q * px.shape[0]).long().clamp(max=px.shape[0] - 1)]
    qy = py[(q * py.shape[0]).long().clamp(max=py.shape[0] - 1)]
    return math.sqrt(float(((qx - qy) ** 2).mean()))


def nearest_distance(samples, data, chunk: int = 1024) -> torch.Tensor:
    """Distance from each sample to its nearest data point, (M,) float32: near 0 means memorized."""
    x = as_points(samples, "samples", dtype=torch.float32).cpu()
    d = as_points(data, "data", dtype=torch.float32).cpu()
    return torch.cat([torch.cdist(x[i:i + chunk], d).amin(1) for i in range(0, x.shape[0], chunk)])


def reference_distance(dataset: Dataset2D, data, n: int, seed: int = 10_000) -> float:
    """The data-against-data yardstick: the energy distance between n fresh points of the same distribution
    (another seed) and `data`. A sampler whose n samples come within ~this distance is as good as the data."""
    return energy_distance(dataset.sample(n, seed), data)


def eps_gap(den_a: Denoiser, den_b: Denoiser, s: NoiseSchedule, x_t: torch.Tensor, t: int) -> float:
    """E‖ε̂_a − ε̂_b‖² over the points x_t (M, 2) at timestep t: with x_t ~ q_t and b the exact denoiser,
    this is exactly how far a's denoising loss at t lies above the best possible."""
    ea = denoise(den_a, s, x_t, t)[1]
    eb = denoise(den_b, s, x_t, t)[1]
    return float(((ea - eb) ** 2).sum(1).mean())
