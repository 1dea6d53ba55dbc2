"""Sampling as solving an ODE: time grids on the log-SNR axis, and solvers with an honest NFE count.

Notation (code name → paper symbol):

    t            the model's time, real-valued in [0, T−1] (0-based, as in samplers.py); −1 = clean
    alpha, sigma α_t = √ᾱ_t and σ_t = √(1−ᾱ_t): x_t = α_t·x_0 + σ_t·ε (any path with these two works)
    sigma_tilde  σ̃_t = σ_t/α_t, EDM's noise level of x̄ = x/α_t (Karras et al. arXiv:2206.00364, Eq. 4)
    lam          λ_t = log(α_t/σ_t) = ½·log-SNR, DPM-Solver's clock (arXiv:2206.00927, Eq. 3.4)
    log_snr      log SNR(t) = 2·λ_t, the axis every grid is drawn on
    x0_fn        the denoiser x̂_0(x, i) at grid point i: the network output turned into x̂_0
    nfe          network evaluations, not steps: a Heun step costs two, its last step one (EDM Alg. 1)
    rho          ρ of Karras' grid σ̃_i = (σ̃_max^{1/ρ} + i/(n−1)·(σ̃_min^{1/ρ} − σ̃_max^{1/ρ}))^ρ  (EDM Eq. 5)
    shift        SD3's shift u' = s·u/(1 + (s−1)·u) of flow time u = σ/(α+σ) (arXiv:2403.03206, Eq. 23)

A :class:`Grid` is n + 1 points from noisy to clean; the last point is the clean end (α = 1, σ = 0), and every
solver's last step onto it returns x̂_0 (EDM's last Euler step). DDIM, DDPM and DPM-Solver++(2M) are the step
functions of samplers.py, run on the grid as a NoiseSchedule of its own (:meth:`Grid.as_schedule`); Heun and
DPM-Solver++(3M) are written here against x̂_0 and (α, σ) only, so any path x = α·x_0 + σ·ε plugs in.

Solvers (papers):
    ddim       DDIM η = 0 (arXiv:2010.02502, Eq. 12) = Euler on dx̄/dσ̃ = ε̂ (§4.3): order 1
    heun       Heun's 2nd-order method in (x̄, σ̃), EDM Alg. 1 with S_churn = 0; last step Euler: order 2
    dpmpp_2m   DPM-Solver++(2M), arXiv:2211.01095 Alg. 2 (samplers.py): order 2
    dpmpp_3m   DPM-Solver++(3M), the third-order multistep update of diffusers' DPMSolverMultistepScheduler
               (arXiv:2211.01095 §4 / App. B), with its lower orders at the start and end: order 3
    ddpm       ancestral DDPM (arXiv:2006.11239, Alg. 2): an SDE sampler, not a solver of this ODE (contrast)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .diffusion import normalize_prediction_type
from .samplers import ALPHA_BAR_FLOOR, SPACINGS, make_timesteps, sample_loop
from .schedules import NoiseSchedule
from .toy2d.exact import alpha_bar_at

GRIDS = ("leading", "trailing", "linspace", "karras", "logsnr", "sd3_shift")
GRID_LABELS = {"leading": "leading (uniform in t)", "trailing": "trailing (uniform in t)",
               "linspace": "linspace (uniform in t)", "karras": "Karras σ grid (ρ)", "logsnr": "uniform in log-SNR",
               "sd3_shift": "SD3 shift (flow time)"}
SOLVERS = ("ddim", "heun", "dpmpp_2m", "dpmpp_3m", "ddpm")
SOLVER_LABELS = {"ddim": "DDIM (Euler)", "heun": "Heun (EDM)", "dpmpp_2m": "DPM-Solver++(2M)",
                 "dpmpp_3m": "DPM-Solver++(3M)", "ddpm": "DDPM (ancestral)"}
ORDER = {"ddim": 1, "heun": 2, "dpmpp_2m": 2, "dpmpp_3m": 3, "ddpm": None}  # None: converges to no ODE solution
NFE_LIST = (1, 2, 4, 8, 16, 32, 64)
LOWER_ORDER_BELOW = 15  # DPM-Solver++(3M) takes its last-but-one step at order ≤ 2 on grids of < 15 steps
_ALPHA_FLOOR = math.sqrt(ALPHA_BAR_FLOOR)  # α = 0 (zero terminal SNR) read as 2^-12, as samplers.py does

X0Fn = Callable[[torch.Tensor, int], torch.Tensor]
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = ["GRIDS", "GRID_LABELS", "SOLVERS", "SOLVER_LABELS", "ORDER", "NFE_LIST", "Grid", "make_grid",
           "steps_for_nfe", "solver_nfe", "log_snr_table", "x0_from_output", "make_x0_fn", "heun_loop",
           "dpmpp_3m_loop", "solve", "normalize_solver", "normalize_grid"]


def normalize_solver(name: str) -> str:
    """'Heun', 'dpm++3m', … → one of SOLVERS; ValueError names the choices."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_").replace("++", "pp").replace("(", "_")
    key = {"euler": "ddim", "dpmpp2m": "dpmpp_2m", "dpmpp_2m)": "dpmpp_2m", "dpmpp3m": "dpmpp_3m",
           "dpmpp_3m)": "dpmpp_3m", "ancestral": "ddpm", "edm": "heun"}.get(key, key)
    if key not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    return key


def normalize_grid(name: str) -> str:
    """'Karras', 'log-SNR', … → one of GRIDS."""
    key = str(name).strip().lower().replace("-", "").replace(" ", "_")
    key = {"log_snr": "logsnr", "lambda": "logsnr", "sd3": "sd3_shift", "shift": "sd3_shift"}.get(key, key)
    if key not in GRIDS:
        raise ValueError(f"unknown time grid {name!r}; choose from {', '.join(GRIDS)}")
    return key


# --- 1. time grids ---------------------------------------------------------------------------------------


def _alpha_bar(s: NoiseSchedule, t: float) -> float:
    """ᾱ at the model time t: the table at integer t (an exact 0 stays 0), log-linear in between, 1 at t = −1."""
    if t <= -1.0:
        return 1.0
    if float(t).is_integer():
        return float(s.alpha_bar[int(t)])
    return alpha_bar_at(s, t)


@dataclass(frozen=True)
class Grid:
    """n + 1 points from noisy to clean: the model time t_i and the path's α_i, σ_i; the last is clean (−1, 1, 0)."""

    kind: str
    t: tuple[float, ...]
    alpha: tuple[float, ...]
    sigma: tuple[float, ...]

    @property
    def n_steps(self) -> int:
        return len(self.t) - 1

    @property
    def log_snr(self) -> list[float]:
        """log SNR_i = 2·log(α_i/σ_i) of the noisy points (the clean end, +∞, left out); −∞ where α = 0."""
        return [2 * (math.log(a) - math.log(s)) if a > 0 else -math.inf for a, s in zip(self.alpha[:-1], self.sigma)]

    def as_schedule(self) -> tuple[NoiseSchedule, list[tuple[int, int]]]:
        """This grid as a NoiseSchedule of n entries (index k = grid point n−1−k) and the (t, t_prev) pairs that
        run it, so samplers.py's DDIM, DDPM and DPM-Solver++(2M) steps run on any grid unchanged."""
        ab = np.array([a * a for a in self.alpha[:-1]][::-1])  # ascending noise: ᾱ falls with the index
        prev = np.concatenate([[1.0], ab[:-1]])
        betas = 1.0 - ab / prev
        if len(ab) == 1:  # NoiseSchedule needs T ≥ 2: pad with a noisier point no pair visits
            betas = np.append(betas, 0.5)
        sched = NoiseSchedule(name=f"grid:{self.kind}", zero_terminal_snr=bool(ab[-1] == 0.0),
                              betas=torch.tensor(betas, dtype=torch.float64))
        n = self.n_steps
        return sched, [(k, k - 1) for k in range(n - 1, -1, -1)]

    def model_t(self, k: int) -> float:
        """The model time of index k of :meth:`as_schedule` (k = −1: clean)."""
        return self.t[self.n_steps - 1 - k] if k >= 0 else -1.0


def _points(kind: str, s: NoiseSchedule, ts: Sequence[float]) -> Grid:
    ts = [float(t) for t in ts]
    abs_ = [_alpha_bar(s, t) for t in ts]
    return Grid(kind, (*ts, -1.0), (*[math.sqrt(a) for a in abs_], 1.0),
                (*[math.sqrt(max(1.0 - a, 0.0)) for a in abs_], 0.0))


def log_snr_table(s: NoiseSchedule) -> np.ndarray:
    """log SNR(t) for t = 0 … T−1 (float64, decreasing), ᾱ = 0 read as 2^-24 as samplers.py does."""
    ab = np.maximum(s.alpha_bar.numpy(), ALPHA_BAR_FLOOR)
    return np.log(ab) - np.log1p(-ab)  # decreasing in t


def t_of_log_snr(s: NoiseSchedule, log_snr: Sequence[float]) -> list[float]:
    """The model times where the schedule's log-SNR (interpolated linearly in t) takes these values."""
    table = log_snr_table(s)
    t = np.interp(-np.asarray(log_snr, dtype=np.float64), -table, np.arange(s.T, dtype=np.float64))
    return [float(round(u, 9)) for u in t]


def sigma_tilde_range(s: NoiseSchedule) -> tuple[float, float]:
    """(σ̃ at t = 0, σ̃ at t = T−1): the default σ_min and σ_max of Karras' grid (ᾱ = 0 read as 2^-24)."""
    lo, hi = log_snr_table(s)[[0, -1]]
    return math.exp(-0.5 * lo), math.exp(-0.5 * hi)


def make_grid(s: NoiseSchedule, n: int, kind: str = "trailing", *, rho: float = 7.0, sigma_min: float | None = None,
              sigma_max: float | None = None, shift: float = 3.0) -> Grid:
    """The n-step time grid of a kind (GRIDS), from noisy to clean, on schedule s.

    leading / trailing / linspace  samplers.make_timesteps (integer t)
    karras     σ̃ from σ_max to σ_min, uniform in σ̃^{1/ρ} (EDM Eq. 5); defaults: σ̃ of t = T−1 and t = 0
    logsnr     uniform in log-SNR from t = T−1 to t = 0
    sd3_shift  flow time u = σ/(α+σ) uniform from u(T−1) to u(0), then u' = shift·u/(1 + (shift−1)·u)
               (SD3, arXiv:2403.03206 §5.3.2), mapped to the model time with the same SNR
    """
    kind, n = normalize_grid(kind), int(n)
    if not 1 <= n <= s.T:
        raise ValueError(f"a grid needs 1 … T = {s.T} steps, got {n}")
    if kind in SPACINGS:
        return _points(kind, s, [t for t, _ in make_timesteps(s.T, n, kind)])
    lo_sig, hi_sig = sigma_tilde_range(s)
    if kind == "karras":
        smin = lo_sig if sigma_min is None else float(sigma_min)
        smax = hi_sig if sigma_max is None else float(sigma_max)
        if not (rho > 0 and 0 < smin < smax):
            raise ValueError(f"Karras' grid needs ρ > 0 and 0 < σ_min < σ_max; got ρ = {rho}, σ_min = {smin}, "
                             f"σ_max = {smax}")
        if smin < lo_sig * (1 - 1e-9) or smax > hi_sig * (1 + 1e-9):
            raise ValueError(f"σ_min and σ_max must lie within this schedule's σ̃ range [{lo_sig:.4g}, {hi_sig:.4g}]")
        frac = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
        sig = (smax ** (1 / rho) + frac * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
        return _points(kind, s, t_of_log_snr(s, -2 * np.log(sig)))
    lam_hi, lam_lo = log_snr_table(s)[[0, -1]]  # log-SNR at t = 0 (largest) and t = T−1
    frac = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    if kind == "logsnr":
        return _points(kind, s, t_of_log_snr(s, lam_lo + frac * (lam_hi - lam_lo)))
    if not shift > 0:
        raise ValueError(f"SD3's shift must be > 0, got {shift}")
    u_of = lambda lam: 1.0 / (1.0 + math.exp(0.5 * lam))  # noqa: E731  u = σ/(α+σ), α/σ = e^{λ/2}
    u = u_of(lam_lo) + frac * (u_of(lam_hi) - u_of(lam_lo))
    u = np.clip(shift * u / (1 + (shift - 1) * u), u_of(lam_hi), u_of(lam_lo))
    return _points(kind, s, t_of_log_snr(s, 2 * np.log((1 - u) / u)))


# --- 2. NFE ------------------------------------------------------------------------------------------------


def solver_nfe(solver: str, n_steps: int) -> int:
    """Network evaluations of n steps: Heun 2n − 1 (no correction onto the clean end), the others n."""
    return 2 * n_steps - 1 if normalize_solver(solver) == "heun" else n_steps


def steps_for_nfe(solver: str, nfe: int) -> int:
    """The most steps whose cost stays within an NFE budget (Heun: ⌊(nfe + 1)/2⌋)."""
    nfe = int(nfe)
    if nfe < 1:
        raise ValueError(f"NFE must be at least 1, got {nfe}")
    return (nfe + 1) // 2 if normalize_solver(solver) == "heun" else nfe


# --- 3. the denoiser x̂_0(x, i) --------------------------------------------------------------------------


def x0_from_output(out: torch.Tensor, x: torch.Tensor, alpha: float, sigma: float, prediction_type: str):
    """x̂_0 from a network output on the path x = α·x_0 + σ·ε: ε (x − σ·ε̂)/α, x0 as is, v α·x − σ·v̂ (α²+σ² = 1).

    α = 0 (zero terminal SNR) is read as 2^-12 for ε-prediction, as samplers.py does (x̂_0 = 0/0 there)."""
    kind = normalize_prediction_type(prediction_type)
    if kind == "eps":
        return (x - sigma * out) / max(alpha, _ALPHA_FLOOR)
    if kind == "x0":
        return out
    return alpha * x - sigma * out


def make_x0_fn(model_fn: ModelFn, grid: Grid, prediction_type: str, *, clip_x0: bool = False) -> X0Fn:
    """x0_fn(x, i): the model evaluated at grid point i (model time grid.t[i]), turned into x̂_0 (clipped if asked)."""

    def x0_fn(x: torch.Tensor, i: int) -> torch.Tensor:
        tt = torch.full((x.shape[0],), grid.t[i], dtype=torch.float64 if x.dtype == torch.float64 else torch.float32,
                        device=x.device)
        with torch.inference_mode():
            out = model_fn(x, tt).to(x.dtype)
        x0 = x0_from_output(out, x, grid.alpha[i], grid.sigma[i], prediction_type)
        return x0.clamp(-1.0, 1.0) if clip_x0 else x0

    return x0_fn


# --- 4. the new solvers ------------------------------------------------------------------------------------


def heun_loop(x0_fn: X0Fn, grid: Grid, x: torch.Tensor) -> Iterator[torch.Tensor]:
    """Heun's method on dx̄/dσ̃ = (x̄ − x̂_0)/σ̃ (EDM Alg. 1, S_churn = 0), yielding x after each step.

    x̄ = x/α and σ̃ = σ/α; the last step, onto σ̃ = 0, is Euler (it lands on x̂_0). NFE = 2n − 1.
    """
    a = [max(v, _ALPHA_FLOOR) for v in grid.alpha]
    sig = [s / al for s, al in zip(grid.sigma, a)]
    n = grid.n_steps
    for i in range(n):
        xb = x / a[i]
        d_cur = (xb - x0_fn(x, i)) / sig[i]  # Alg. 1 line 7: d_i = (x_i − D(x_i; t_i))/t_i
        xb_next = xb + (sig[i + 1] - sig[i]) * d_cur  # line 8: the Euler step
        if i < n - 1:  # lines 9–11: the 2nd-order correction, except onto σ̃ = 0
            d_prime = (xb_next - x0_fn(a[i + 1] * xb_next, i + 1)) / sig[i + 1]
            xb_next = xb + (sig[i + 1] - sig[i]) * (0.5 * d_cur + 0.5 * d_prime)
        x = a[i + 1] * xb_next
        yield x


def _order_3m(i: int, n: int) -> int:
    """The order of DPM-Solver++(3M)'s step i of n: 1, 2, then 3; the step onto clean 1; on short grids the
    last-but-one ≤ 2 (diffusers' lower_order_final)."""
    order = min(3, i + 1)
    if i == n - 1:
        return 1
    if i == n - 2 and n < LOWER_ORDER_BELOW:
        return min(order, 2)
    return order


def dpmpp_3m_loop(x0_fn: X0Fn, grid: Grid, x: torch.Tensor) -> Iterator[torch.Tensor]:
    """DPM-Solver++(3M) on x̂_0 in λ = log(α/σ), yielding x after each step; NFE = n.

    With h = λ_{i+1} − λ_i, r0 = h_{i−1}/h, r1 = h_{i−2}/h and the last three x̂_0 (m0, m1, m2):
        D1_0 = (m0 − m1)/r0,  D1_1 = (m1 − m2)/r1,
        D1 = D1_0 + r0/(r0 + r1)·(D1_0 − D1_1),  D2 = (D1_0 − D1_1)/(r0 + r1)
        x' = (σ'/σ)·x − α'(e^{−h} − 1)·m0 + α'((e^{−h} − 1)/h + 1)·D1 − α'((e^{−h} − 1 + h)/h² − ½)·D2
    (order 2: x' = (σ'/σ)·x − α'(e^{−h} − 1)·(m0 + ½·D1_0), the midpoint form of samplers.dpmpp_2m_step).
    """
    a = [max(v, _ALPHA_FLOOR) for v in grid.alpha]
    lam = [math.log(al) - math.log(s) if s > 0 else math.inf for al, s in zip(a, grid.sigma)]
    n, hist = grid.n_steps, []
    for i in range(n):
        m0 = x0_fn(x, i)
        hist = [m0, *hist[:2]]
        order = _order_3m(i, n)
        if i == n - 1:  # onto the clean end: x̂_0
            x = m0
            yield x
            continue
        h = lam[i + 1] - lam[i]
        em1 = math.expm1(-h)
        x_next = (grid.sigma[i + 1] / grid.sigma[i]) * x - a[i + 1] * em1 * m0
        if order >= 2:
            r0 = (lam[i] - lam[i - 1]) / h
            d1_0 = (m0 - hist[1]) / r0
            if order == 2:
                x_next = x_next - 0.5 * a[i + 1] * em1 * d1_0
            else:
                r1 = (lam[i - 1] - lam[i - 2]) / h
                d1_1 = (hist[1] - hist[2]) / r1
                d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x_next = x_next + a[i + 1] * (em1 / h + 1.0) * d1 - a[i + 1] * ((em1 + h) / h**2 - 0.5) * d2
        x = x_next
        yield x


# --- 5. one entry point --------------------------------------------------------------------------------------


def solve(solver: str, model_fn: ModelFn, grid: Grid, x_T: torch.Tensor, *, prediction_type: str = "eps",
          clip_x0: bool = False, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Run a solver on a grid from x_T (at grid point 0), yielding x after every step; the last is the sample.

    model_fn(x, t (B,) float) → the network output in `prediction_type`. DDIM, DDPM and DPM-Solver++(2M) are
    samplers.sample_loop on grid.as_schedule(); DDPM draws its noise from `generator` (one tensor per step).
    """
    kind = normalize_solver(solver)
    if kind in ("heun", "dpmpp_3m"):
        loop = heun_loop if kind == "heun" else dpmpp_3m_loop
        yield from loop(make_x0_fn(model_fn, grid, prediction_type, clip_x0=clip_x0), grid, x_T)
        return
    sched, pairs = grid.as_schedule()

    def idx_model(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        k0 = int(k[0])
        if bool((k == k0).all()):  # the loop passes one index for the whole batch: no per-row Python
            tt = torch.full(k.shape, grid.model_t(k0), dtype=dtype, device=x.device)
        else:
            tt = torch.tensor([grid.model_t(int(v)) for v in k.tolist()], dtype=dtype, device=x.device)
        return model_fn(x.to(x_T.dtype), tt).to(x_T.dtype)

    for state in sample_loop(idx_model, sched, tuple(x_T.shape), sampler=kind, timesteps=pairs, x_T=x_T,
                             prediction_type=prediction_type, clip_x0=clip_x0, generator=generator,
                             device=x_T.device):
        yield state.x_t.to(x_T.dtype)
