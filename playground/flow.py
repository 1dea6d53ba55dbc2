"""Flow matching / rectified flow: continuous training times, the velocity loss, and how straight a path is.

Notation (code name → paper symbol; the direction of time is the app's, see paths.py):

    t          t ∈ [0, 1]; t = 0 data, t = 1 noise (Stable Diffusion 3, arXiv:2403.03206; Lipman et al. and
               Liu et al. write 1 − t)
    x0, eps    x_0 the data, ε ~ N(0, I) the noise (Liu et al.'s X_1 and X_0 under their time)
    x_t        x_t = (1 − t)·x_0 + t·ε                                  the straight path (paths.LINEAR)
    u          u = dx_t/dt = ε − x_0                                    the regression target
    loss       ‖u_θ(x_t, t) − (ε − x_0)‖², averaged over pixels           conditional flow matching (Lipman Eq. 23)
    t_net      the time the network is told: FLOW_CLOCK·t (paths.py)
    t-sampling uniform t, or SD3's logit-normal: t = sigmoid(n), n ~ N(m, s²) (SD3 §3.1, Eq. 19; m = 0, s = 1)
    xs         a trajectory (n+1, M, D): xs[0] at t = 1 (x_1, the noise), xs[-1] at t = 0 (the sample)
    straightness   Liu et al. (arXiv:2209.03003, Def. 2.2 / Eq. 9): S = ∫₀¹ E‖(x_1 − x_0) − u(x_t, t)‖² dt,
               0 for straight paths at constant speed
    length ratio   path length ÷ ‖x_1 − x_0‖: 1 for a straight path, whatever the time parameterisation
"""

from __future__ import annotations

import torch

from .paths import FLOW_CLOCK, LINEAR, from_x0_eps

T_SAMPLINGS = ("uniform", "logit_normal")

__all__ = ["T_SAMPLINGS", "sample_t", "flow_inputs", "flow_loss", "length_ratio", "straightness"]


def sample_t(n: int, how: str = "uniform", *, generator: torch.Generator | None = None,
             device: torch.device | str | None = None, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """(n,) training times in [0, 1): 'uniform', or 'logit_normal' t = sigmoid(N(mean, std²)) (SD3 Eq. 19).

    Drawn on the generator's device (CPU if none).
    """
    dev = generator.device if generator is not None else (device or "cpu")
    if how == "uniform":
        return torch.rand(n, generator=generator, device=dev)
    if how == "logit_normal":
        if not std > 0:
            raise ValueError(f"logit-normal t needs a positive std, got {std}")
        t = torch.sigmoid(mean + std * torch.randn(n, generator=generator, device=dev))
        return t.clamp(max=1.0 - 2.0**-24)  # float32's sigmoid rounds to 1 beyond n ≈ 17
    raise ValueError(f"unknown t sampling {how!r} for flow matching; choose one of {', '.join(T_SAMPLINGS)}")


def flow_inputs(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, t_net): the straight path at t (B,) and the time the network is told, FLOW_CLOCK·t."""
    tb = t.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    return LINEAR.sample(x0, eps, tb), FLOW_CLOCK * t


def flow_loss(output: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE of the velocity, ‖û − (ε − x_0)‖² / D, (B,); take `.mean()` to train."""
    target = from_x0_eps(x0.float(), eps.float(), "u", None, None)  # ε − x_0: the same on every path
    return (output.float() - target).pow(2).flatten(1).mean(1)


def length_ratio(xs: torch.Tensor) -> torch.Tensor:
    """Path length ÷ distance between the endpoints, per particle, (M,): 1 for a straight path.

    xs: (n+1, M, D) the states of a trajectory. Independent of how time is parameterised (only the points count).
    """
    xs = xs.double()
    length = (xs[1:] - xs[:-1]).norm(dim=-1).sum(0)
    chord = (xs[-1] - xs[0]).norm(dim=-1)
    return length / chord.clamp(min=1e-12)


def straightness(xs: torch.Tensor, ts: torch.Tensor | list[float]) -> float:
    """Liu et al.'s straightness of a flow trajectory: mean over the path of ‖(x_1 − x_0) − u‖², per dimension.

    xs: (n+1, M, D) states at the flow times ts (n+1,), from t = 1 (xs[0] = x_1) to t = 0 (xs[-1] = x_0).
    u on each step is the secant (x_{t'} − x_t)/(t' − t), which is the velocity an Euler step used; the mean is
    over the steps weighted by their length in t (the integral over t ∈ [0, 1]). 0 for a straight path at
    constant speed.
    """
    xs = xs.double()
    ts = torch.as_tensor(ts, dtype=torch.float64)
    dt = ts[1:] - ts[:-1]  # negative: time runs down
    u = (xs[1:] - xs[:-1]) / dt.view(-1, 1, 1)  # (n, M, D)
    chord = xs[0] - xs[-1]  # x_1 − x_0
    gap = (chord[None] - u).pow(2).mean(-1).mean(-1)  # (n,)
    return float((gap * dt.abs()).sum() / dt.abs().sum())
