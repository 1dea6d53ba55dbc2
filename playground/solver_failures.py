"""The solver lab on MNIST: a digit problem for the error curves, the classifier's verdict, and "what goes wrong".

Notation (code name → paper symbol; see solvers.py and solver_lab.py):

    x_T        (B, 1, 28, 28) starting noise from one seed, shared by the bad run and the good run
    w          classifier-free guidance scale (arXiv:2207.12598), ε̃ = ε_u + w·(ε_c − ε_u)
    verdict    the quality classifier (playground.mnist.quality): share of digits classified with p ≥ 0.9
               ("confident") and share classified as the digit asked for ("agreement")

Every preset fails by the classifier on the shipped ε model (tests/test_solvers_ui.py checks each one against the
good run). Two of the issue's examples do not fail on it and are not shown: DDPM with 5 steps (its last step
returns x̂₀ from t ≈ 200, so the digits come out clean and confident) and guidance w = 8 (thicker strokes,
every digit still confident and the class asked for).

Each preset is one setting a student can move; its "good" run is the app's default (DPM-Solver++(2M), 20 steps,
trailing, w = 1.5, x̂_0 clipped) from the same x_T, on the schedule the model was trained with.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import torch

from . import solvers as S
from .mnist.checkpoint import load_model
from .mnist.quality import CONFIDENCE, load_classifier
from .mnist.sample import default_labels, make_model_fn
from .schedules import NoiseSchedule, make_schedule
from .solver_lab import FLOOR_MNIST, FLOOR_MNIST_BF16, GridSpec, Problem, fine_reference
from .toy2d import exact_denoiser, make_dataset, nearest_distance, start_noise

__all__ = ["Run", "Preset", "PRESETS", "GOOD", "digits_problem", "model_schedule", "verdict", "run_digits",
           "run_preset", "run_preset_2d"]


@dataclass(frozen=True)
class Run:
    """One sampling run on MNIST: solver, steps, grid, guidance, clipping, and the schedule the grid is read on."""

    solver: str = "dpmpp_2m"
    steps: int = 20
    grid: str = "trailing"
    guidance: float = 1.5
    clip_x0: bool = True
    schedule: str | None = None  # None: the model's own; else the (wrong) schedule to sample with
    zero_terminal_snr: bool = False


GOOD = Run()
# the error curves solve the conditional model's own probability-flow ODE (w = 1): one network pass a step instead
# of CFG's two, and a smoother field, on which Heun and DPM-Solver++(2M) show order ~1.9 (1.55 and 2.13 at w = 1.5;
# bench/bench_solvers.py RESULTS). The failure gallery keeps the app's w = 1.5.
CURVE_GUIDANCE = 1.0
REF_STEPS_MNIST = 200  # the MNIST reference's DPM-Solver++(3M) steps (bench/bench_solvers.py ref measures it)


@dataclass(frozen=True)
class Preset:
    """A failure in one click: the bad run, a one-line why, the Theory section that explains it."""

    key: str
    title: str
    bad: Run
    why: str
    theory: str
    measure: str = "confident"  # the verdict figure that shows the failure: "confident" or "agreement"


PRESETS = (
    Preset("one_step", "1 step (trailing)", Run("ddim", 1),
           "One step from pure noise lands on x̂₀ = E[x₀ | x_T], the blurred average of every digit the noise could "
           "become.", "solvers_failures"),
    Preset("leading1", "leading spacing, 1 step", Run("ddim", 1, "leading"),
           "Leading spacing's one step is at t = 0, so pure noise is read as a clean digit: the class is lost.",
           "solvers_failures", "agreement"),
    Preset("karras2", "Karras' grid (ρ = 7), 2 steps", Run("ddim", 2, "karras"),
           "With 2 points Karras' grid is σ̃_max then σ̃_min: one jump from pure noise to almost clean, so no better "
           "than 1 step.", "solvers_failures"),
    Preset("mismatch", "trained on linear, sampled on cosine", Run(schedule="cosine"),
           "The network's t means the linear schedule's noise level; the cosine coefficients at that t assume "
           "another, so every x̂₀ is off.", "solvers_failures"),
    Preset("w200", "guidance w = 200", Run(guidance=200.0),
           "ε̃ = ε_u + w(ε_c − ε_u) extrapolates far outside what the model saw. This model shrugs off w = 8 (thicker "
           "strokes, still confident); by w = 200 the digits stop being the class asked for.", "solvers_failures",
           "agreement"),
    Preset("ztsnr_eps", "ε-prediction at zero terminal SNR, 2 steps, no x̂₀ clipping",
           Run("ddim", 2, clip_x0=False, zero_terminal_snr=True),
           "At ᾱ = 0 the ε-model's x̂₀ = (x − σε̂)/√ᾱ is 0/0 (read as ÷2⁻¹²): unclipped, the first step's x̂₀ "
           "reaches hundreds. Clipping x̂₀ to [−1, 1] hides it.", "solvers_failures"),
)
PRESET_KEYS = tuple(p.key for p in PRESETS)


def _preset(key: str) -> Preset:
    for p in PRESETS:
        if p.key == key:
            return p
    raise ValueError(f"unknown failure preset {key!r}; choose from {', '.join(PRESET_KEYS)}")


@functools.lru_cache(maxsize=4)
def _model(path: str):
    model, meta = load_model(path)
    # NHWC: oneDNN's fp32 convolutions at these sizes are ~1.3× faster in it (the same values; only the layout)
    return model.to(memory_format=torch.channels_last), meta


def _x_T(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def model_schedule(path: str) -> NoiseSchedule:
    """The schedule a checkpoint was trained on (its meta), the one its grids are read on."""
    _, meta = _model(str(path))
    return make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)


def _sampling_schedule(meta, run: Run) -> NoiseSchedule:
    return make_schedule(run.schedule or meta.schedule, meta.T, run.zero_terminal_snr or meta.zero_terminal_snr)


def run_digits(path: str, run: Run, n: int = 16, seed: int = 0) -> torch.Tensor:
    """Sample n digits (labels 0…9 cycling) from x_T(seed) with one Run; (n, 1, 28, 28) in [−1, 1]."""
    model, meta = _model(str(path))
    fn = make_model_fn(model, default_labels(n), run.guidance)
    s = _sampling_schedule(meta, run)
    grid = S.make_grid(s, min(run.steps, s.T), run.grid)
    *_, x = S.solve(run.solver, fn, grid, _x_T(n, seed), prediction_type=meta.prediction_type,
                    clip_x0=run.clip_x0, generator=torch.Generator().manual_seed(seed + 1))
    return x


@torch.no_grad()
def verdict(x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
    """The classifier's verdict on digits in [−1, 1]: the confident share, and the label agreement if labels given."""
    img = ((x.float().clamp(-1, 1) + 1) / 2).cpu()
    probs = load_classifier()(img).softmax(1)
    conf, pred = probs.max(1)
    out = {"confident": float((conf >= CONFIDENCE).float().mean())}
    if labels is not None:
        out["agreement"] = float((pred == labels).float().mean())
    return out


def run_preset(key: str, path: str, n: int = 16, seed: int = 0) -> dict:
    """A failure preset and the good run from the same x_T: both digit batches, both verdicts, why, theory key."""
    p = _preset(key)
    labels = default_labels(n)
    bad, good = run_digits(path, p.bad, n, seed), run_digits(path, GOOD, n, seed)
    return {"preset": p, "bad": bad, "good": good, "bad_verdict": verdict(bad, labels),
            "good_verdict": verdict(good, labels)}


def run_preset_2d(dataset: str = "gaussians8", n_points: int = 2000, n_particles: int = 1000, seed: int = 0,
                  steps: int = 2) -> dict:
    """2-D: DDIM (first order) with `steps` steps from x_T lands between the modes; DPM-Solver++(2M) with 20 does not.

    The verdict is the share of particles within 0.1 (data units) of a data point."""
    s = make_schedule("linear", 1000)
    data = make_dataset(dataset, n_points, seed)
    fn = exact_denoiser(data, s).fn
    x_T = start_noise(n_particles, seed)
    runs = {"bad": ("ddim", steps), "good": ("dpmpp_2m", 20)}
    out = {}
    for name, (solver, n) in runs.items():
        *_, x = S.solve(solver, fn, S.make_grid(s, n, "trailing"), x_T, prediction_type="x0")
        out[name] = x
        out[f"{name}_near"] = float((nearest_distance(x, data) < 0.1).float().mean())
    out["data"] = data
    return out


@functools.lru_cache(maxsize=4)
def digits_problem(path: str, n: int = 16, seed: int = 0, guidance: float = CURVE_GUIDANCE,
                   ref_steps: int = REF_STEPS_MNIST, bf16: bool = False) -> Problem:
    """The MNIST problem for the error curves: the checkpoint's model with CFG w, x_T(seed), and the fine reference
    (DPM-Solver++(3M), ref_steps steps uniform in log-SNR, x̂_0 clipped as the app samples).
    Cached: the reference does not depend on the grid, so changing the grid only runs the solvers.
    bf16: the network under bf16 autocast, reference and solvers alike: ~2.4× faster on a CPU with native bf16, but
    its rounding bends the curves below ~1e-2 (bench RESULTS), so fp32 is the default and the order fit ignores
    errors below FLOOR_MNIST_BF16."""
    model, meta = _model(str(path))
    fn = make_model_fn(model, default_labels(n), guidance, bf16=bf16)
    s = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    x_T = _x_T(n, seed)
    ref = fine_reference(fn, s, x_T, meta.prediction_type, steps=ref_steps, clip_x0=True)
    name = "MNIST (bf16)" if bf16 else "MNIST"
    return dataclasses.replace(Problem(fn, meta.prediction_type, s, x_T, ref,
                                       FLOOR_MNIST_BF16 if bf16 else FLOOR_MNIST, name), clip_x0=True)


GridSpec = GridSpec  # re-exported for the tab
