"""The 2-D section: the exact log-density of the noised data at small t, a trained 2-D model's ODE likelihood
(exact trace by autograd) and its variational bound, at the same points and on a grid.

Part of playground.likelihood (see its docstring for the notation). The data is a point cloud, so its own density
is a sum of spikes: what is exact is q_0(x) = (1/N)·Σᵢ N(x; √ᾱ_0·xᵢ, (1−ᾱ_0)·I), the data blurred by the first
noise step (toy2d.exact). The ODE likelihood is of that same level (λ_max = λ_0); the bound is of the continuous
decoder's x_0, which carries the same blur. So the three numbers are in the same units: nats per point, D = 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..diffusion import model_output_to_x0_eps, normalize_prediction_type
from ..schedules import NoiseSchedule
from ..toy2d.exact import exact_quantities
from .bound import bound_fast, mean_se
from .ode import VP_PATH, ode_log_likelihood

__all__ = ["mlp_denoiser", "mlp_path_denoiser", "exact_path_denoiser", "Section2D", "likelihood_2d", "grid_2d"]


def mlp_denoiser(model: torch.nn.Module, s: NoiseSchedule, prediction_type: str):
    """den(x_t, t) → (x̂_0, ε̂) of a trained ScoreMLP at integer t, for the bound."""
    def den(x_t, t):
        with torch.inference_mode():
            out = model(x_t.float(), t).double()
        return model_output_to_x0_eps(s, out, x_t.double(), t, prediction_type)
    return den


def _convert(out, x, lam, kind):
    a, sd = math.sqrt(1 / (1 + math.exp(-lam))), math.sqrt(1 / (1 + math.exp(lam)))
    if kind == "eps":
        return (x - sd * out) / a, out
    if kind == "x0":
        return out, (x - a * out) / sd
    return a * x - sd * out, sd * x + a * out


def mlp_path_denoiser(model: torch.nn.Module, s: NoiseSchedule, prediction_type: str):
    """den(x, λ) → (x̂_0, ε̂) of a ScoreMLP at the real t where λ_t = λ; differentiable in x (float64 in and out)."""
    lam_t, steps = s.log_snr.numpy(), np.arange(s.T, dtype=np.float64)
    kind = normalize_prediction_type(prediction_type)

    def den(x, lam):
        t = torch.full((x.shape[0],), float(np.interp(-lam, -lam_t, steps)))
        return _convert(model(x.float(), t).double(), x, lam, kind)
    return den


def exact_path_denoiser(x0_data: torch.Tensor):
    """den(x, λ) of the ideal denoiser of the point cloud (E[x_0 | x] of the noised empirical distribution)."""
    data = x0_data.double()

    def den(x, lam):
        return _convert(exact_quantities(data, x, 1 / (1 + math.exp(-lam))).x0_hat, x, lam, "x0")
    return den


@dataclass(frozen=True)
class Section2D:
    """Mean ± SE over the points, nats per point: exact −log q_0, the model's ODE −log p and its bound."""

    exact_nll: tuple[float, float]
    ode_nll: tuple[float, float]
    bound: tuple[float, float]
    ode_nfe: int
    seconds: dict


def likelihood_2d(s: NoiseSchedule, data: torch.Tensor, model: torch.nn.Module, prediction_type: str,
                  points: torch.Tensor, *, ode_steps: int = 40, k: int = 32, seed: int = 0) -> Section2D:
    """The three numbers at ``points`` (M, 2): exact −log q_0 of ``data``, the model's ODE and bound (nats)."""
    import time

    if not math.isfinite(float(s.log_snr[-1])):
        raise ValueError("the ODE likelihood needs a finite log-SNR at t = T−1 (not a zero-terminal-SNR schedule)")
    pts = points.double()
    t0 = time.perf_counter()
    exact = -exact_quantities(data.double(), pts, float(s.alpha_bar[0])).log_density
    t1 = time.perf_counter()
    ode = ode_log_likelihood(mlp_path_denoiser(model, s, prediction_type), pts, float(s.log_snr[0]),
                             float(s.log_snr[-1]), path=VP_PATH, steps=ode_steps, probe="exact", seed=seed)
    t2 = time.perf_counter()
    vb = bound_fast(s, mlp_denoiser(model, s, prediction_type), pts, k=k, seed=seed, discrete=False, batch=20_000)
    t3 = time.perf_counter()
    return Section2D(mean_se(exact.numpy()), mean_se((-ode.log_p).numpy()), mean_se(vb.total["beta"].numpy()),
                     ode.nfe, {"exact": t1 - t0, "ode": t2 - t1, "bound": t3 - t2})


def grid_2d(s: NoiseSchedule, data: torch.Tensor, model: torch.nn.Module, prediction_type: str, *,
            lim: float = 3.0, n: int = 40, ode_steps: int = 30, k: int = 32) -> dict:
    """log-densities on an n × n grid over [−lim, lim]²: exact log q_0, the ODE's log p, and −bound (lists)."""
    xs = torch.linspace(-lim, lim, n, dtype=torch.float64)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    exact = exact_quantities(data.double(), pts, float(s.alpha_bar[0])).log_density
    ode = ode_log_likelihood(mlp_path_denoiser(model, s, prediction_type), pts, float(s.log_snr[0]),
                             float(s.log_snr[-1]), steps=ode_steps, probe="exact").log_p
    vb = bound_fast(s, mlp_denoiser(model, s, prediction_type), pts, k=k, discrete=False, batch=40_000).total["beta"]
    shape = (n, n)
    return {"x": xs.tolist(), "exact": exact.reshape(shape).tolist(), "ode": ode.reshape(shape).tolist(),
            "bound": (-vb).reshape(shape).tolist()}
