"""Datasets of the 2-D lab (standardised, seeded point clouds; "draw your own"), its constants and input checks.

Part of playground.toy2d (see its docstring for the notation and the papers).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

DEFAULT_N = 2000  # points in a dataset by default
MIN_N = 8  # fewer points than this is not a distribution worth drawing
MAX_N = 10_000  # the cap: the exact score costs N·M per evaluation
MAX_STEPS = 1000  # sampler steps (also bounded by T)

DATASET_LABELS = {
    "moons": "two moons",
    "swiss_roll": "Swiss roll",
    "gaussians8": "8 Gaussians",
    "checkerboard": "checkerboard",
    "circles": "concentric circles",
    "gaussian": "one Gaussian",
}
DATASETS = tuple(DATASET_LABELS)
_DATASET_ALIASES = {"two_moons": "moons", "moon": "moons", "swissroll": "swiss_roll", "roll": "swiss_roll",
                    "8gaussians": "gaussians8", "8_gaussians": "gaussians8", "eight_gaussians": "gaussians8",
                    "ring": "gaussians8", "checker": "checkerboard", "concentric_circles": "circles",
                    "one_gaussian": "gaussian", "normal": "gaussian"}

SAMPLER_LABELS = {
    "ddpm": "DDPM (ancestral)",
    "ddim": "DDIM (η)",
    "dpmpp_2m": "DPM-Solver++(2M)",
    "pf_ode": "probability-flow ODE (Heun)",
    "sde": "reverse SDE (Euler–Maruyama)",
    "langevin": "annealed Langevin",
}
SAMPLERS_2D = tuple(SAMPLER_LABELS)
SAMPLER_ALIASES = {"ancestral": "ddpm", "dpm++": "dpmpp_2m", "dpmpp": "dpmpp_2m", "dpm_solver++": "dpmpp_2m",
                    "dpm": "dpmpp_2m", "ode": "pf_ode", "pf-ode": "pf_ode", "pfode": "pf_ode",
                    "probability_flow": "pf_ode", "reverse_sde": "sde", "em": "sde", "euler_maruyama": "sde",
                    "ald": "langevin", "annealed_langevin": "langevin", "ncsn": "langevin"}

# One Gaussian: N(0, Σ) with tr Σ = 2, i.e. already standardized; Σ = R(30°)·diag(1.6, 0.4)·R(30°)ᵀ.
_GAUSS_ANGLE = math.pi / 6
_GAUSS_VARS = (1.6, 0.4)


def _gaussian_cov() -> torch.Tensor:
    c, s = math.cos(_GAUSS_ANGLE), math.sin(_GAUSS_ANGLE)
    R = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return R @ torch.diag(torch.tensor(_GAUSS_VARS, dtype=torch.float64)) @ R.T


GAUSSIAN_MEAN = torch.zeros(2, dtype=torch.float64)
GAUSSIAN_COV = _gaussian_cov()  # (2, 2) float64, the exact covariance of the "gaussian" dataset



# --- 0. input checks --------------------------------------------------------------------------------


def as_points(x, name: str = "points", dtype: torch.dtype | None = None) -> torch.Tensor:
    """Any (M, 2) array-like → a float tensor; ValueError on a wrong shape, no points, or NaN/inf."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"{name} must be a list of (x, y) pairs, shape (M, 2); got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty: need at least one (x, y) pair")
    if not t.is_floating_point():
        t = t.float()
    if dtype is not None:
        t = t.to(dtype)
    if not bool(torch.isfinite(t.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def as_finite(value, name: str) -> float:
    """``value`` as a finite float; ValueError naming ``name`` otherwise."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def as_count(value, name: str, lo: int, hi: int) -> int:
    """``value`` as a whole number in [lo, hi]; ValueError naming ``name`` otherwise."""
    v = as_finite(value, name)
    if v != int(v):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    v = int(v)
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be between {lo:,} and {hi:,}, got {v:,}")
    return v


def as_alpha_bar(alpha_bar) -> float:
    """ᾱ as a float in [0, 1); ValueError otherwise."""
    ab = as_finite(alpha_bar, "alpha_bar")
    if not 0.0 <= ab < 1.0:
        raise ValueError(f"alpha_bar must be in [0, 1) (ᾱ = 1 is noise-free data, whose score is undefined), got {ab}")
    return ab


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with ``seed``."""
    return torch.Generator().manual_seed(int(seed))


# --- 1. datasets ------------------------------------------------------------------------------------


def _normalize_dataset(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = _DATASET_ALIASES.get(key, key)
    if key not in DATASET_LABELS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} (or draw your own)")
    return key


def _randn(n: int, g: torch.Generator, d: int = 2) -> torch.Tensor:
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def _rand(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _raw_moons(n: int, g: torch.Generator) -> torch.Tensor:
    """Two interleaving half circles (as sklearn's make_moons), noise 0.06."""
    theta = math.pi * _rand(n, g)
    lower = _rand(n, g) < 0.5
    x = torch.where(lower, 1 - torch.cos(theta), torch.cos(theta))
    y = torch.where(lower, 0.5 - torch.sin(theta), torch.sin(theta))
    return torch.stack([x, y], 1) + 0.06 * _randn(n, g)


def _raw_swiss_roll(n: int, g: torch.Generator) -> torch.Tensor:
    """The 2-D Swiss roll: θ ~ 1.5π·(1 + 2u), (θ·cos θ, θ·sin θ), noise 0.25."""
    theta = 1.5 * math.pi * (1 + 2 * _rand(n, g))
    return torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], 1) + 0.25 * _randn(n, g)


def _raw_gaussians8(n: int, g: torch.Generator) -> torch.Tensor:
    """Eight Gaussians (std 0.12) at radius 2, angles k·π/4."""
    k = torch.randint(0, 8, (n,), generator=g).double()
    centers = 2 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1)
    return centers + 0.12 * _randn(n, g)


def _raw_checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    """A 4×4 checkerboard on [−2, 2]² with every other square filled (FFJORD's toy set)."""
    x1 = 4 * _rand(n, g) - 2
    x2 = _rand(n, g) - 2 * torch.randint(0, 2, (n,), generator=g).double()
    x2 = x2 + torch.floor(x1).remainder(2)
    return torch.stack([x1, x2], 1)


def _raw_circles(n: int, g: torch.Generator) -> torch.Tensor:
    """Two concentric circles of radius 1 and 0.5 (as sklearn's make_circles), noise 0.04."""
    theta = 2 * math.pi * _rand(n, g)
    r = torch.where(_rand(n, g) < 0.5, 1.0, 0.5).double()
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1) + 0.04 * _randn(n, g)


def _raw_gaussian(n: int, g: torch.Generator) -> torch.Tensor:
    """N(0, Σ) with the tilted covariance GAUSSIAN_COV (tr Σ = 2, so already standardized)."""
    L = torch.linalg.cholesky(GAUSSIAN_COV)
    return _randn(n, g) @ L.T


_RAW = {"moons": _raw_moons, "swiss_roll": _raw_swiss_roll, "gaussians8": _raw_gaussians8,
        "checkerboard": _raw_checkerboard, "circles": _raw_circles, "gaussian": _raw_gaussian}


@dataclass(frozen=True)
class Dataset2D:
    """A 2-D distribution to draw from: raw samples, then one fixed (population-level) standardization.

    The centre and the single scale are properties of the *distribution*, not of one draw, so sets drawn
    with different seeds come from exactly the same standardized distribution (needed for the
    data-against-data reference distance). The scale is one number, so shapes keep their aspect ratio.
    """

    name: str
    label: str
    raw: Callable[[int, torch.Generator], torch.Tensor] = field(repr=False)
    center: tuple[float, float]
    scale: float

    def sample(self, n: int = DEFAULT_N, seed: int = 0) -> torch.Tensor:
        """(n, 2) float32 points, standardized; the same seed gives the same points."""
        n = as_count(n, "number of points", MIN_N, MAX_N)
        x = self.raw(n, seeded_generator(seed))
        return ((x - torch.tensor(self.center, dtype=torch.float64)) / self.scale).float()


@functools.lru_cache(maxsize=None)
def get_dataset(name: str) -> Dataset2D:
    """The named dataset (see DATASETS). Its standardization comes from one fixed draw of 200,000 points
    (the Gaussian's is exact: it is N(0, Σ) with tr Σ = 2 already)."""
    key = _normalize_dataset(name)
    raw = _RAW[key]
    if key == "gaussian":
        return Dataset2D(key, DATASET_LABELS[key], raw, (0.0, 0.0), 1.0)
    big = raw(200_000, seeded_generator(12345))
    mean = big.mean(0)
    scale = math.sqrt(float(big.var(0).mean()))
    return Dataset2D(key, DATASET_LABELS[key], raw, (float(mean[0]), float(mean[1])), scale)


def make_dataset(name: str, n: int = DEFAULT_N, seed: int = 0) -> torch.Tensor:
    """n standardized points (n, 2) float32 of a named dataset; seeded."""
    return get_dataset(name).sample(n, seed)


def ink_mask(image) -> np.ndarray:
    """Which pixels of a drawing hold ink: (H, W) bool.

    image: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or float in [0, 1]. With an alpha channel
    that has transparent pixels, ink is alpha ≥ ½; otherwise ink is any pixel whose colour differs from the
    background (the median colour of the border) by more than a quarter of the range.
    """
    a = np.asarray(image)
    if a.dtype == object or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"the drawing must be an image (H, W), (H, W, 3) or (H, W, 4); got shape {a.shape}")
    if min(a.shape[:2]) < 8:
        raise ValueError(f"the drawing is too small ({a.shape[1]}×{a.shape[0]} pixels)")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("the drawing contains NaN or infinite values")
    if a.max(initial=0.0) > 1.0:
        a = a / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 4 and a[:, :, 3].min() < 0.5:
        return a[:, :, 3] >= 0.5
    rgb = a[:, :, :3] if a.shape[2] >= 3 else a[:, :, :1]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    bg = np.median(border, axis=0)
    return np.abs(rgb - bg).max(axis=2) > 0.25


def drawing_dataset(image, min_spread: float = 0.025) -> Dataset2D:
    """A dataset from a drawing: points uniform over the inked pixels (y pointing up).

    Its standardization is exact: the mean and variance of "a uniform point in a uniformly chosen ink
    pixel" (pixel-centre variance + 1/12 per axis). Raises ValueError for an empty drawing, an (almost) all-ink
    canvas, or one too small to be a shape (the spread of the ink under `min_spread` of the canvas: a single dot).
    """
    mask = ink_mask(image)
    H, W = mask.shape
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("The drawing is empty: draw a shape (a few strokes) on the canvas first.")
    if rows.size > 0.6 * H * W:
        raise ValueError("The canvas is almost all ink: there is no background to tell the shape from. "
                         "Clear it and draw a few strokes.")
    xs = cols.astype(np.float64) + 0.5
    ys = (H - rows).astype(np.float64) - 0.5  # image rows grow downwards; y grows upwards
    spread = math.sqrt((xs.var() + ys.var()) / 2)
    if spread < min_spread * max(H, W):
        raise ValueError(
            f"The drawing is a single dot ({rows.size} pixel(s) in one spot): draw a shape that spans at least "
            f"a sixth of the canvas, e.g. a curve or a few strokes.")
    centers = torch.tensor(np.stack([xs, ys], 1), dtype=torch.float64)  # (K, 2) pixel centres
    center = (float(xs.mean()), float(ys.mean()))
    scale = math.sqrt((xs.var() + ys.var()) / 2 + 1 / 12)

    def raw(n: int, g: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, centers.shape[0], (n,), generator=g)
        jitter = torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5  # uniform within the pixel
        return centers[idx] + jitter

    return Dataset2D("drawing", "your drawing", raw, center, scale)
