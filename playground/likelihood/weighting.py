"""What each objective weights: the effective weight w(λ) over log-SNR (Kingma & Gao 2023, arXiv:2303.00848).

Part of playground.likelihood (see its docstring for the notation). Every objective below is, in expectation,

    L = ½ ∫ w(λ) · E‖ε − ε̂_λ‖² dλ,     w(λ) = p(λ) · m(λ) · c(λ)

where p(λ) is the density of λ when t is drawn as the objective draws it, c(λ) the loss weight it applies, and m(λ)
turns its target's squared error into ε's (with x = a·x̂_0 + σ·ε̂ held fixed):

    target x_0:  ‖δx_0‖² = e^{−λ}·‖δε‖²        target v (VP):  ‖δv‖² = (1 + e^{−λ})·‖δε‖²
    flow matching, u = ε − x_0 on x = (1−t)·x_0 + t·ε:  ‖δu‖² = (1 + e^{−λ/2})²·‖δε‖²

The ELBO is w(λ) = 1: every noise level counts the same per unit of log-SNR. Closed forms (derived in the theory
text, "Weighting: a choice of which noise levels matter"), p_s(λ) = 1/(T·|dλ_t/dt|) for t uniform on the schedule s:

    ε:        w = p_s(λ)                       x_0:  w = p_s(λ)·e^{−λ}            v:  w = p_s(λ)·(1 + e^{−λ})
    min-SNR-γ: w = p_s(λ)·min(1, γ·e^{−λ})     (the same for all three targets, as diffusion.training_loss weights)
    FM, t ~ U(0, 1):  w = ½·e^{−λ/2}            FM, logit t ~ N(m, s²):  w = ½·N(−λ/2; m, s²)·(1 + e^{−λ/2})²
    EDM (Karras et al. 2022): ln σ ~ N(P_mean, P_std²), loss weight (σ² + σ_d²)/(σ·σ_d)², σ² = e^{−λ}:
              w = N(λ; −2·P_mean, (2·P_std)²)·(e^{−λ} + σ_d²)/σ_d²
"""
from __future__ import annotations

import math

import numpy as np

from ..schedules import NoiseSchedule

OBJECTIVES = ("elbo", "eps", "x0", "v", "min_snr", "fm_uniform", "fm_logit_normal", "edm")
LABELS = {"elbo": "ELBO (w = 1)", "eps": "ε-prediction", "x0": "x₀-prediction", "v": "v-prediction",
          "min_snr": "min-SNR-γ", "fm_uniform": "flow matching, uniform t", "fm_logit_normal":
          "flow matching, logit-normal t", "edm": "EDM weighting"}
DEFAULTS = dict(gamma=5.0, ln_m=0.0, ln_s=1.0, p_mean=-1.2, p_std=1.2, sigma_data=0.5)

__all__ = ["OBJECTIVES", "LABELS", "DEFAULTS", "schedule_density", "sampling_density", "error_multiplier",
           "effective_weight", "normalized", "weighting_curves"]


def _normal_pdf(x, mean: float, std: float):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def schedule_density(s: NoiseSchedule) -> tuple[np.ndarray, np.ndarray]:
    """(λ_t, p_s(λ_t)) for t uniform on 0 … T−1: p = 1/(T·|dλ/dt|) (central differences), finite λ only."""
    lam = s.log_snr.numpy()
    keep = np.isfinite(lam)
    lam = lam[keep]
    if lam.size < 3:
        raise ValueError("the schedule needs at least 3 finite log-SNR values")
    dlam = np.abs(np.gradient(lam))
    return lam, 1.0 / (s.T * dlam)


def _sched_p(s: NoiseSchedule, lam):
    lam_t, p_t = schedule_density(s)
    return np.interp(lam, lam_t[::-1], p_t[::-1], left=0.0, right=0.0)  # zero outside the schedule's range


def sampling_density(objective: str, lam, s: NoiseSchedule | None = None, **kw) -> np.ndarray:
    """p(λ): the density of λ when t (or σ) is drawn as ``objective`` draws it."""
    o, lam, k = _key(objective), np.asarray(lam, dtype=np.float64), {**DEFAULTS, **kw}
    if o in ("elbo", "eps", "x0", "v", "min_snr"):
        if s is None:
            raise ValueError(f"{objective!r} samples t on a schedule: pass s")
        return _sched_p(s, lam)
    t = 1.0 / (1.0 + np.exp(lam / 2))  # flow matching: t = sigmoid(−λ/2)
    if o == "fm_uniform":
        return 0.5 * t * (1 - t)
    if o == "fm_logit_normal":
        return 0.5 * _normal_pdf(-lam / 2, k["ln_m"], k["ln_s"])
    return _normal_pdf(lam, -2 * k["p_mean"], 2 * k["p_std"])  # edm: λ = −2·ln σ


def error_multiplier(target: str, lam) -> np.ndarray:
    """m(λ) = ‖δ target‖² / ‖δε‖² at fixed x: 'eps', 'x0', 'v', 'u' (flow matching) or 'edm' (x̂_0 in VE units)."""
    lam = np.asarray(lam, dtype=np.float64)
    table = {"eps": np.ones_like(lam), "x0": np.exp(-lam), "v": 1 + np.exp(-lam), "u": (1 + np.exp(-lam / 2)) ** 2,
             "edm": np.exp(-lam)}
    if target not in table:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(table)}")
    return table[target]


def effective_weight(objective: str, lam, s: NoiseSchedule | None = None, **kw) -> np.ndarray:
    """w(λ) = p(λ)·m(λ)·c(λ) of ``objective`` (one of OBJECTIVES), unnormalized; kw override DEFAULTS."""
    o, lam, k = _key(objective), np.asarray(lam, dtype=np.float64), {**DEFAULTS, **kw}
    if o == "elbo":
        return np.ones_like(lam)
    p = sampling_density(o, lam, s, **kw)
    if o in ("eps", "x0", "v"):
        return p * error_multiplier(o, lam)
    if o == "min_snr":
        return p * np.minimum(1.0, k["gamma"] * np.exp(-lam))
    if o in ("fm_uniform", "fm_logit_normal"):
        return p * error_multiplier("u", lam)
    sd2 = k["sigma_data"] ** 2  # edm: c = (σ² + σ_d²)/(σ·σ_d)², m = σ²
    return p * (np.exp(-lam) + sd2) / sd2


def _key(objective: str) -> str:
    o = str(objective).strip().lower().replace("-", "_")
    if o not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return o


def normalized(lam, w) -> np.ndarray:
    """w / ∫ w dλ over the given grid: the share of the loss each noise level gets."""
    lam, w = np.asarray(lam, dtype=np.float64), np.asarray(w, dtype=np.float64)
    order = np.argsort(lam)
    area = float(np.trapezoid(w[order], lam[order]))
    if not area > 0:
        raise ValueError("the weighting integrates to zero on this λ range")
    return w / area


def weighting_curves(s: NoiseSchedule, points: int = 200, **kw) -> dict:
    """Every objective's normalized w(λ) and p(λ) on a λ grid over the schedule's finite range (plain lists)."""
    lam_t, _ = schedule_density(s)
    lam = np.linspace(float(lam_t.min()), float(lam_t.max()), int(points))
    out = {"lambda": lam.tolist(), "curves": {}}
    for o in OBJECTIVES:
        w = effective_weight(o, lam, s, **kw)
        p = sampling_density(o, lam, s, **kw)
        out["curves"][o] = {"label": LABELS[o], "weight": normalized(lam, w).tolist(),
                            "density": normalized(lam, p).tolist()}
    return out
