"""Parity with diffusers' DDPMScheduler, DDIMScheduler and DPMSolverMultistepScheduler.

Both sides get the same x_t, the same model outputs and the same noise (DDIM: `variance_noise=`;
DDPM: diffusers' `randn_tensor` is replaced in its module by a feed of our noise tensors). x_{t−1},
x̂_0 (`pred_original_sample`), ᾱ (`alphas_cumprod`) and the timestep lists agree to 1e-5 in
float32 (rtol = atol = 1e-5, since x̂_0 from ε divides by √ᾱ and can be large).

Each step is compared in two modes:
  * "f64": float64 inputs, and our float64 ᾱ loaded into the diffusers scheduler (`alphas_cumprod`).
    This isolates the step formulas, which must agree to 1e-10 everywhere, however ill-conditioned.
  * "f32": float32 inputs and diffusers untouched (its float32 tables): the ≤ 1e-5 requirement,
    checked where float32 itself is accurate to 1e-5. It is not at cosine's ᾱ_999 = 2.4e-9 (T = 1000,
    trailing/linspace start there): x̂_0 = (x_t − √(1−ᾱ)·ε)/√ᾱ amplifies rounding by 1/√ᾱ ≈ 2·10⁴,
    and diffusers forms 1 − ᾱ_prev − σ_t² in float32, which cancels at η = 1 as ᾱ_t → 0 (errors ~1e-4;
    NaN from a negative square root at zero terminal SNR). Those cases run in "f64" only, as does
    the zero-terminal-SNR full grid (diffusers' float32 rescaled tail, ᾱ_998 ≈ 4e-9, is ~1e-5 off).
Tolerances are norm-wise: max |ours − theirs| ≤ tol · max(1, max |theirs|).
The tables themselves are compared by `test_alphas_cumprod_match` (float32 vs float64, 1e-5).

Name map: our "cosine" = diffusers "squaredcos_cap_v2"; our "scaled_linear" = diffusers
"scaled_linear" with beta_start=0.00085, beta_end=0.012 (Stable Diffusion; diffusers' defaults are
DDPM's 1e-4/0.02); eps/x0/v = "epsilon"/"sample"/"v_prediction"; DDPM variance "beta_tilde"/"beta" =
"fixed_small"/"fixed_large"; zero_terminal_snr = rescale_betas_zero_snr; clip_x0 = clip_sample with
use_clipped_model_output=True.

Where we deliberately differ, the test says so and asserts OUR value against an independent formula:
  * "linear" for T ≠ 1000: we scale β by 1000/T, diffusers does not (identical at T = 1000).
  * "sigmoid": diffusers' DDPM "sigmoid" is GeoDiff's sigmoid of β; ours is arXiv:2301.10972's
    sigmoid of ᾱ. DDIMScheduler has none.
  * DDIMScheduler lands on t − ⌊T/n⌋, not on the next listed timestep: wrong for trailing spacing
    when n ∤ T and for linspace spacing when 1 < n < T. We land on the next entry.
  * DDPMScheduler adds noise whenever t > 0, so with trailing spacing (last t = ⌊T/n⌉ − 1 > 0) its
    final step onto the clean image adds noise; with "fixed_large" that is variance 1 − ᾱ_t (with
    "fixed_small", its 1e-20 variance clamp: 1e-10·z). We add none.
  * Zero terminal SNR with ε-prediction: diffusers' DDPM/DDIM divide by √ᾱ_T = 0 (non-finite x̂_0);
    we floor ᾱ at 2^-24 for x̂_0 only. DPM-Solver++: diffusers floors the whole ᾱ table at T−1; we
    keep ᾱ_T = 0 wherever it is finite (v / x_0 conversions).
  * diffusers' trailing spacing returns n + 1 timesteps (ending in −1) for some (T, n), e.g. (1000, 61).
"""
import math
import zlib

import diffusers.schedulers.scheduling_ddpm as ddpm_module
import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from playground.samplers import ALPHA_BAR_FLOOR, ddim_step, ddpm_step, dpmpp_2m_step, make_timesteps, sample
from playground.schedules import make_schedule

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")  # numpy-2 notice in diffusers

HF_NAME = {"linear": "linear", "scaled_linear": "scaled_linear", "cosine": "squaredcos_cap_v2"}
HF_PRED = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
HF_VAR = {"beta_tilde": "fixed_small", "beta": "fixed_large"}
SHAPE = (2, 1, 4, 4)
NAMES = ("linear", "scaled_linear", "cosine")
KINDS = ("eps", "x0", "v")
SPACINGS = ("leading", "trailing", "linspace")
TOL = {"f64": 1e-10, "f32": 1e-5}
DTYPE = {"f64": torch.float64, "f32": torch.float32}


def close(a, b, tol=1e-5):
    """Norm-wise: max |a − b| ≤ tol · max(1, max |b|); NaN anywhere fails."""
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a.double() - b.double()).abs().max().item()
    scale = max(1.0, b.double().abs().max().item())
    assert err <= tol * scale, f"max |Δ| = {err:.3g} > {tol:g} × {scale:.3g}"


def gen(seed):
    return torch.Generator().manual_seed(seed)


def seed_of(*parts):
    """A per-case seed that does not depend on PYTHONHASHSEED."""
    return zlib.crc32(repr(parts).encode()) % 10_000


def f32_ok(name, spacing, eta=0.0, ztsnr=False):
    """Whether float32 is accurate to 1e-5 for a T = 1000 run (see the module docstring)."""
    starts_at_T = spacing in ("trailing", "linspace")
    if starts_at_T and name == "cosine" and not ztsnr:
        return False  # ᾱ_999 = 2.4e-9
    return not (starts_at_T and ztsnr and eta == 1.0)  # 1 − ᾱ_prev − σ² cancels at ᾱ_T = 0


def with_modes(combos, spacing_index=1, eta_index=None, ztsnr=False):
    """Every combination in "f64"; those where float32 is well conditioned also in "f32"."""
    out = []
    for c in combos:
        out.append(("f64",) + c)
        eta = c[eta_index] if eta_index is not None else 0.0
        if f32_ok(c[0], c[spacing_index], eta, ztsnr):
            out.append(("f32",) + c)
    return out


def hf(cls, name, T, **kw):
    """A diffusers scheduler configured like our make_schedule(name, T)."""
    if name == "scaled_linear":
        kw = dict(beta_start=0.00085, beta_end=0.012) | kw
    elif name == "linear":  # our rescaled linear, spelled out (a no-op at T = 1000)
        kw = dict(beta_start=1e-4 * 1000 / T, beta_end=0.02 * 1000 / T) | kw
        assert kw["beta_end"] <= 0.999
    if cls is not DPMSolverMultistepScheduler:
        kw.setdefault("clip_sample", False)
    return cls(num_train_timesteps=T, beta_schedule=HF_NAME[name], **kw)


def parity_model(s, kind):
    """A smooth stand-in network: the exact denoiser for N(0, 0.25) data plus a t-dependent wiggle."""
    ab_table = torch.from_numpy(np.cumprod(1 - s.betas.numpy()))

    def model(x, t: int):
        ab = ab_table[t].to(x.dtype)
        V = ab * 0.25 + 1 - ab
        eps = (1 - ab).sqrt() * x / V + 0.1 * torch.sin(2 * x + t / 37)
        x0 = ab.sqrt() * 0.25 * x / V + 0.1 * torch.cos(3 * x - t / 53)
        return {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[kind]

    return model


class NoiseFeed:
    """Stands in for diffusers' randn_tensor inside scheduling_ddpm: returns our noise, counts draws."""

    def __init__(self):
        self.z, self.calls = None, 0

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == tuple(self.z.shape)
        self.calls += 1
        return self.z.to(dtype=dtype)


@pytest.fixture
def feed(monkeypatch):
    f = NoiseFeed()
    monkeypatch.setattr(ddpm_module, "randn_tensor", f)
    return f


# --- tables and timestep lists ----------------------------------------------------------------------


@pytest.mark.parametrize("ztsnr", [False, True])
@pytest.mark.parametrize("name, T", [("linear", 1000), ("linear", 250), ("scaled_linear", 1000),
                                     ("scaled_linear", 37), ("cosine", 1000), ("cosine", 37), ("cosine", 2)])
def test_alphas_cumprod_match(name, T, ztsnr):
    s = make_schedule(name, T, zero_terminal_snr=ztsnr)
    for cls in (DDPMScheduler, DDIMScheduler):
        ref = hf(cls, name, T, rescale_betas_zero_snr=ztsnr)
        torch.testing.assert_close(s.alpha_bar.float(), ref.alphas_cumprod, rtol=0, atol=1e-5)
        torch.testing.assert_close(s.betas.float(), ref.betas, rtol=0, atol=1e-5)
        # relative agreement too, where float32 can give it: ᾱ > 1e-6, and with zero terminal SNR ᾱ > 1e-2, because
        # diffusers rescales √ᾱ by subtracting √ᾱ_T in float32, so its relative error grows as ᾱ → 0 (diffusers
        # 0.42.1: 3.1e-5 at ᾱ ≈ 3e-3 for scaled_linear, T = 37; the absolute check above still holds to 1e-5)
        big = s.alpha_bar > (1e-2 if ztsnr else 1e-6)
        torch.testing.assert_close(s.alpha_bar[big].float(), ref.alphas_cumprod[big], rtol=2e-5, atol=0)
    if ztsnr:
        assert float(ref.alphas_cumprod[-1]) == 0.0 == float(s.alpha_bar[-1])


def test_linear_default_coincides_at_T1000_and_deliberately_differs_elsewhere():
    close(make_schedule("linear", 1000).alpha_bar.float(), DDPMScheduler(num_train_timesteps=1000).alphas_cumprod)
    # diffusers' "linear" at T = 250 keeps β in [1e-4, 0.02]: ᾱ_T ≈ 0.08. Ours scales by 1000/250.
    plain = DDPMScheduler(num_train_timesteps=250, beta_schedule="linear")
    ours = make_schedule("linear", 250)
    np.testing.assert_allclose(plain.betas.numpy(), np.linspace(1e-4, 0.02, 250), rtol=1e-5)
    np.testing.assert_allclose(ours.betas.numpy(), np.linspace(4e-4, 0.08, 250), rtol=1e-12)
    assert float(plain.alphas_cumprod[-1]) > 0.07 and float(ours.alpha_bar[-1]) < 1e-4


def test_sigmoid_is_a_different_schedule_from_diffusers_geodiff_sigmoid():
    T = 1000
    geodiff = DDPMScheduler(num_train_timesteps=T, beta_schedule="sigmoid")
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(geodiff.betas.numpy(), sig(np.linspace(-6, 6, T)) * (0.02 - 1e-4) + 1e-4, rtol=1e-5)
    ours = make_schedule("sigmoid", T)  # ᾱ(t) from Chen 2023 Alg. 1 (pinned in test_schedules.py)
    ab = (sig(3.0) - sig(np.arange(1, T + 1) / T * 6 - 3)) / (sig(3.0) - sig(-3.0))
    np.testing.assert_allclose(ours.alpha_bar.numpy()[:-1], ab[:-1], rtol=1e-9)
    assert abs(float(ours.alpha_bar[500]) - float(geodiff.alphas_cumprod[500])) > 0.1


def _check_lists(T, spacing, sched_ddpm, sched_ddim, n):
    ours = [t for t, _ in make_timesteps(T, n, spacing)]
    for sched in (sched_ddpm, sched_ddim):
        sched.set_timesteps(n)
        theirs = sched.timesteps.tolist()
        if spacing == "trailing" and len(theirs) == n + 1:
            assert theirs == ours + [-1]  # diffusers' arange overshoot; we keep n steps
        else:
            assert theirs == ours, (T, n, spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_timestep_lists_match_for_every_n_small_T(spacing):
    for T in range(2, 61):
        a = DDPMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
        b = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
        for n in range(1, T + 1):
            _check_lists(T, spacing, a, b, n)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("T", [999, 1000, 1001, 2000])
def test_timestep_lists_match_large_T(T, spacing):
    a = DDPMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    b = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    picked = set(np.random.default_rng(T).integers(1, T + 1, 60).tolist())
    ns = sorted(picked | {1, 7, 10, 20, 25, 50, 61, 100, 250, T})
    for n in ns:
        _check_lists(T, spacing, a, b, n)


def test_diffusers_trailing_overshoot_is_documented():
    a = DDIMScheduler(num_train_timesteps=1000, timestep_spacing="trailing")
    a.set_timesteps(61)
    assert len(a.timesteps) == 62 and int(a.timesteps[-1]) == -1  # not a valid timestep
    ours = make_timesteps(1000, 61, "trailing")
    assert len(ours) == 61 and [t for t, _ in ours] == a.timesteps.tolist()[:-1]


# --- DDIM -------------------------------------------------------------------------------------------


def run_ddim_parity(mode, name, T, n, spacing, kind, eta, ztsnr=False, clip=False, seed=0):
    """Step both schedulers along our trajectory; compare every x_{t−1} and x̂_0, then diffusers' own
    trajectory end to end. Returns (schedule, model, our x_0, diffusers' x_0), or None where diffusers
    returned NaN (asserted to be the documented zero-terminal-SNR case)."""
    dtype, tol = DTYPE[mode], TOL[mode]
    s = make_schedule(name, T, zero_terminal_snr=ztsnr)
    ref = hf(DDIMScheduler, name, T, prediction_type=HF_PRED[kind], timestep_spacing=spacing,
             rescale_betas_zero_snr=ztsnr, clip_sample=clip)
    if mode == "f64":
        ref.alphas_cumprod = s.alpha_bar.clone()
    ref.set_timesteps(n)
    pairs = make_timesteps(T, n, spacing)
    assert ref.timesteps.tolist() == [t for t, _ in pairs]
    model = parity_model(s, kind)
    g = gen(seed)
    x = torch.randn(SHAPE, generator=g, dtype=dtype)
    x_hf = x.clone()  # diffusers' own trajectory
    for t, t_prev in pairs:
        assert t - T // n == t_prev or t_prev == -1 and t - T // n < 0  # diffusers' rule lands where we do
        out = model(x, t)
        z = torch.randn(SHAPE, generator=g, dtype=dtype)
        ours = ddim_step(s, x, t, t_prev, out, z, prediction_type=kind, eta=eta, clip_x0=clip)
        theirs = ref.step(out, t, x, eta=eta, variance_noise=z, use_clipped_model_output=clip)
        assert torch.isfinite(ours.x_prev).all()
        close(ours.x0_pred, theirs.pred_original_sample, tol)
        if not torch.isfinite(theirs.prev_sample).all():
            # Deliberate difference: at ᾱ_t = 0, η = 1 gives σ² = 1 − ᾱ_prev exactly, and diffusers takes
            # √(1 − ᾱ_prev − σ²) of a rounding error that can be < 0 (NaN). We clamp it at 0:
            assert ztsnr and t == T - 1 and eta == 1.0
            abp = float(s.alpha_bar[t_prev])
            close(ours.x_prev, math.sqrt(abp) * ours.x0_pred + math.sqrt(1 - abp) * z, tol)
            return None
        close(ours.x_prev, theirs.prev_sample, tol)
        x_hf = ref.step(model(x_hf, t), t, x_hf, eta=eta, variance_noise=z, use_clipped_model_output=clip).prev_sample
        x = ours.x_prev
    close(x, x_hf, tol)
    return s, model, x, x_hf


DDIM_MATRIX = with_modes([(n, sp, k, e) for n in NAMES for sp in ("leading", "trailing") for k in KINDS
                          for e in (0.0, 0.3, 1.0)], eta_index=3)


@pytest.mark.parametrize("mode, name, spacing, kind, eta", DDIM_MATRIX)
def test_ddim_step_parity(mode, name, spacing, kind, eta):
    seed = seed_of(name, spacing, kind)
    s, model, x, x_hf = run_ddim_parity(mode, name, 1000, 10, spacing, kind, eta, seed=seed)
    if mode == "f32":  # our sample_loop, given the same x_T and noises, is this same trajectory
        g = gen(seed)
        draws = [torch.randn(SHAPE, generator=g) for _ in range(11)]
        looped = sample(lambda xx, tt: model(xx, int(tt[0])), s, SHAPE, sampler="ddim", num_steps=10,
                        spacing=spacing, eta=eta, prediction_type=kind, x_T=draws[0], noises=lambda i: draws[i + 1])
        close(looped, x_hf)


@pytest.mark.parametrize("mode, name, T, n, spacing", [
    ("f64", "cosine", 37, 5, "leading"), ("f32", "cosine", 37, 5, "leading"),
    ("f64", "scaled_linear", 250, 25, "trailing"), ("f32", "scaled_linear", 250, 25, "trailing"),
    ("f64", "linear", 250, 10, "leading"), ("f32", "linear", 250, 10, "leading"),
    ("f64", "cosine", 40, 40, "linspace"), ("f64", "linear", 1000, 1000, "linspace"),
    ("f64", "linear", 1000, 1, "linspace"), ("f64", "scaled_linear", 2, 2, "trailing")])
@pytest.mark.parametrize("kind", ["eps", "v"])
def test_ddim_parity_other_T_and_full_grids(mode, name, T, n, spacing, kind):
    assert run_ddim_parity(mode, name, T, n, spacing, kind, 0.5) is not None


@pytest.mark.parametrize("mode", ["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_clipping_parity_with_use_clipped_model_output(mode, kind, eta):
    assert run_ddim_parity(mode, "linear", 1000, 10, "trailing", kind, eta, clip=True, seed=3) is not None


def test_ddim_clipping_differs_from_diffusers_default_unclipped_eps():
    """We always recompute ε̂ from the clipped x̂_0 (Glide); diffusers' default keeps the raw ε̂."""
    s = make_schedule("linear", 1000)
    ref = hf(DDIMScheduler, "linear", 1000, clip_sample=True)
    ref.set_timesteps(10)
    x = 3 * torch.randn(SHAPE, generator=gen(0))
    out = torch.randn(SHAPE, generator=gen(1))
    ours = ddim_step(s, x, 500, 400, out, None, clip_x0=True)
    raw = ref.step(out, 500, x, use_clipped_model_output=False).prev_sample
    glide = ref.step(out, 500, x, use_clipped_model_output=True).prev_sample
    close(ours.x_prev, glide)
    assert (ours.x_prev - raw).abs().max() > 0.1


def _diffusers_ddim_lands_on_next_entry(T, n, spacing):
    pairs = make_timesteps(T, n, spacing)
    return all((t - T // n) == tp if tp >= 0 else (t - T // n) < 0 for t, tp in pairs)


def test_when_diffusers_ddim_prev_timestep_differs():
    """diffusers' DDIMScheduler.step uses prev = t − ⌊T/n⌋ (scheduling_ddim.py, step 1). That is the next
    listed timestep for leading spacing always, for trailing iff n | T, for linspace iff n ∈ {1, T}."""
    for T in range(2, 121):
        for n in range(1, T + 1):
            assert _diffusers_ddim_lands_on_next_entry(T, n, "leading")
            assert _diffusers_ddim_lands_on_next_entry(T, n, "trailing") == (T % n == 0), (T, n)
            assert _diffusers_ddim_lands_on_next_entry(T, n, "linspace") == (n in (1, T)), (T, n)
    assert not _diffusers_ddim_lands_on_next_entry(1000, 50, "linspace")  # the popular setting
    assert not _diffusers_ddim_lands_on_next_entry(1000, 30, "trailing")


@pytest.mark.parametrize("T, n, spacing", [(1000, 50, "linspace"), (1000, 30, "trailing"), (100, 7, "trailing")])
@pytest.mark.parametrize("kind", ["eps", "v"])
def test_ddim_deliberate_difference_lands_on_the_next_listed_timestep(T, n, spacing, kind):
    s = make_schedule("cosine", T)
    abt = np.cumprod(1 - s.betas.numpy())
    ref = hf(DDIMScheduler, "cosine", T, prediction_type=HF_PRED[kind], timestep_spacing=spacing)
    ref.alphas_cumprod = s.alpha_bar.clone()  # float64 ("f64" mode): this test is about formulas
    ref.set_timesteps(n)
    model = parity_model(s, kind)
    pairs = make_timesteps(T, n, spacing)
    x = torch.randn(SHAPE, generator=gen(5), dtype=torch.float64)
    differed = 0
    eta = 0.3
    for i, (t, t_prev) in enumerate(pairs):
        out = model(x, t)
        z = torch.randn(SHAPE, generator=gen(100 + i), dtype=torch.float64)
        ours = ddim_step(s, x, t, t_prev, out, z, prediction_type=kind, eta=eta)
        # OUR value: DDIM Eq. 12 with t_prev = the next listed entry, in numpy
        ab, abp = abt[t], (abt[t_prev] if t_prev >= 0 else 1.0)
        xn, on = x.numpy(), out.numpy()
        x0 = (xn - np.sqrt(1 - ab) * on) / np.sqrt(ab) if kind == "eps" else np.sqrt(ab) * xn - np.sqrt(1 - ab) * on
        ep = on if kind == "eps" else np.sqrt(1 - ab) * xn + np.sqrt(ab) * on
        sig = eta * np.sqrt((1 - abp) / (1 - ab)) * np.sqrt(1 - ab / abp)
        expected = np.sqrt(abp) * x0 + np.sqrt(1 - abp - sig**2) * ep + sig * z.numpy()
        close(ours.x_prev, torch.from_numpy(expected), 1e-10)
        # diffusers' step is the same formula, landing on t − ⌊T/n⌋ instead
        hf_prev = t - T // n
        theirs = ref.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        close(ddim_step(s, x, t, max(hf_prev, -1), out, z, prediction_type=kind, eta=eta).x_prev, theirs, 1e-10)
        if hf_prev != t_prev and not (hf_prev < 0 and t_prev == -1):
            differed += 1
            assert (ours.x_prev - theirs).abs().max() > 1e-4
        x = ours.x_prev
    assert differed > 0


# --- DDPM -------------------------------------------------------------------------------------------


def run_ddpm_parity(mode, feed, name, T, n, spacing, kind, variance, ztsnr=False, clip=False, seed=0):
    dtype, tol = DTYPE[mode], TOL[mode]
    s = make_schedule(name, T, zero_terminal_snr=ztsnr)
    ref = hf(DDPMScheduler, name, T, prediction_type=HF_PRED[kind], timestep_spacing=spacing,
             variance_type=HF_VAR[variance], rescale_betas_zero_snr=ztsnr, clip_sample=clip)
    if mode == "f64":
        ref.alphas_cumprod = s.alpha_bar.clone()
    ref.set_timesteps(n)
    pairs = make_timesteps(T, n, spacing)
    ts = [t for t, _ in pairs]
    if ref.timesteps.tolist() == ts + [-1]:  # diffusers' trailing overshoot (see the list tests)
        ref.set_timesteps(timesteps=ts)
    assert ref.timesteps.tolist() == ts
    model = parity_model(s, kind)
    g = gen(seed)
    x = torch.randn(SHAPE, generator=g, dtype=dtype)
    for t, t_prev in pairs:
        out = model(x, t)
        feed.z = torch.randn(SHAPE, generator=g, dtype=dtype)
        calls = feed.calls
        ours = ddpm_step(s, x, t, t_prev, out, feed.z, prediction_type=kind, variance=variance, clip_x0=clip)
        theirs = ref.step(out, t, x)
        assert feed.calls == calls + (t > 0)  # diffusers draws noise iff t > 0
        close(ours.x0_pred, theirs.pred_original_sample, tol)
        if t_prev == -1 and t > 0:
            # Deliberate difference: diffusers adds noise on the final step of a trailing list (it tests
            # t > 0, not t_prev ≥ 0): variance β' = 1 − ᾱ_t for "fixed_large", and for "fixed_small" its
            # clamp of β̃ = 0 to 1e-20 (1e-10·z). We return the posterior mean, which is x̂_0.
            extra = 1 - float(s.alpha_bar[t]) if variance == "beta" else 1e-20
            close(ours.x_prev, ours.x0_pred, tol)
            close(theirs.prev_sample, ours.x0_pred + math.sqrt(extra) * feed.z, tol)
            if variance == "beta":
                assert (theirs.prev_sample - ours.x_prev).abs().max() > 1e-2
        else:
            close(ours.x_prev, theirs.prev_sample, tol)
        x = ours.x_prev
    return x


DDPM_MATRIX = with_modes([(n, sp, k, v) for n in NAMES for sp in SPACINGS for k in KINDS
                          for v in ("beta_tilde", "beta")])


@pytest.mark.parametrize("mode, name, spacing, kind, variance", DDPM_MATRIX)
def test_ddpm_step_parity(feed, mode, name, spacing, kind, variance):
    run_ddpm_parity(mode, feed, name, 1000, 10, spacing, kind, variance, seed=seed_of(name, spacing, kind, variance))


@pytest.mark.parametrize("mode, name, T, n, spacing", [
    ("f64", "cosine", 37, 37, "leading"), ("f32", "cosine", 37, 37, "leading"),
    ("f64", "scaled_linear", 250, 30, "trailing"), ("f32", "scaled_linear", 250, 30, "trailing"),
    ("f64", "linear", 250, 7, "linspace"), ("f32", "linear", 250, 7, "linspace"),
    ("f64", "cosine", 1000, 61, "trailing"), ("f32", "linear", 1000, 61, "trailing")])
def test_ddpm_parity_other_T_and_full_grids(feed, mode, name, T, n, spacing):
    for kind in ("eps", "v"):
        run_ddpm_parity(mode, feed, name, T, n, spacing, kind, "beta_tilde")


@pytest.mark.parametrize("mode", ["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_ddpm_clipping_parity(feed, mode, kind):
    run_ddpm_parity(mode, feed, "linear", 1000, 10, "leading", kind, "beta_tilde", clip=True, seed=4)


# --- zero terminal SNR ------------------------------------------------------------------------------


ZTSNR_DDIM = with_modes([(n, "trailing", k, e) for n in NAMES for k in ("v", "x0") for e in (0.0, 0.3, 1.0)],
                        eta_index=3, ztsnr=True)


@pytest.mark.parametrize("mode, name, spacing, kind, eta", ZTSNR_DDIM)
def test_zero_terminal_snr_ddim_parity(mode, name, spacing, kind, eta):
    run_ddim_parity(mode, name, 1000, 10, spacing, kind, eta, ztsnr=True, seed=6)


@pytest.mark.parametrize("mode, kind, variance, n", [
    ("f64", "v", "beta_tilde", 10), ("f32", "v", "beta_tilde", 10), ("f64", "x0", "beta", 10),
    ("f32", "x0", "beta", 10),
    ("f64", "v", "beta_tilde", 1000)])  # f32 on the full grid: diffusers' float32 ᾱ tail is off by ~1e-5 relative
def test_zero_terminal_snr_ddpm_parity(feed, mode, kind, variance, n):
    # n = 1000: the full grid, where ᾱ_998 = 4.2e-9 < 2^-24 (regression test for the floor fix)
    run_ddpm_parity(mode, feed, "linear", 1000, n, "trailing", kind, variance, ztsnr=True, seed=7)


def test_zero_terminal_snr_eps_prediction_floor_where_diffusers_is_not_finite(feed):
    """Deliberate difference: ε-prediction at ᾱ_T = 0 makes x̂_0 = 0/0. diffusers' DDPM/DDIM return
    non-finite values; we floor ᾱ at 2^-24 for x̂_0 (as diffusers' DPM-Solver/Euler do for the table)."""
    s = make_schedule("linear", 1000, zero_terminal_snr=True)
    x = torch.randn(SHAPE, generator=gen(0))
    out = torch.randn(SHAPE, generator=gen(1))
    ddim = hf(DDIMScheduler, "linear", 1000, timestep_spacing="trailing", rescale_betas_zero_snr=True)
    ddim.set_timesteps(10)
    ddpm = hf(DDPMScheduler, "linear", 1000, timestep_spacing="trailing", rescale_betas_zero_snr=True)
    ddpm.set_timesteps(10)
    feed.z = torch.randn(SHAPE, generator=gen(2))
    assert not torch.isfinite(ddim.step(out, 999, x).pred_original_sample).all()
    assert not torch.isfinite(ddpm.step(out, 999, x).pred_original_sample).all()
    f = ALPHA_BAR_FLOOR
    expected = (x.double() - math.sqrt(1 - f) * out.double()) / math.sqrt(f)
    for step in (ddim_step(s, x, 999, 899, out, None), ddpm_step(s, x, 999, 899, out, feed.z)):
        assert torch.isfinite(step.x_prev).all()
        close(step.x0_pred.double(), expected)
    # from the second step on (ᾱ > 0) we agree with diffusers again
    x2 = ddim_step(s, x, 999, 899, out, None).x_prev
    close(ddim_step(s, x2, 899, 799, out, None).x_prev, ddim.step(out, 899, x2).prev_sample)


# --- DPM-Solver++(2M) -------------------------------------------------------------------------------


def run_dpm_parity(name, T, n, spacing, kind):
    """diffusers' DPM-Solver casts samples to float32 inside `step`, so this runs in float32 with our
    float64 σ = √((1−ᾱ)/ᾱ) loaded in place of its float32 ones (`sigmas`), at 1e-5."""
    s = make_schedule(name, T)
    pairs = make_timesteps(T, n, spacing)
    ts = [t for t, _ in pairs]
    # DPMSolverMultistepScheduler's own spacings differ (linspace over n + 1 points, leading ⌊T/(n+1)⌋),
    # so it gets our list; lower_order_final=False because we only drop to first order at the last step.
    ref = hf(DPMSolverMultistepScheduler, name, T, prediction_type=HF_PRED[kind], algorithm_type="dpmsolver++",
             solver_order=2, lower_order_final=False, final_sigmas_type="zero")
    ref.set_timesteps(timesteps=ts)
    ab = s.alpha_bar[ts]
    ref.sigmas = torch.cat([((1 - ab) / ab).sqrt(), torch.zeros(1, dtype=torch.float64)])
    model = parity_model(s, kind)
    x = torch.randn(SHAPE, generator=gen(8))
    last = None
    for t, t_prev in pairs:
        out = model(x, t)
        ours = dpmpp_2m_step(s, x, t, t_prev, out, prediction_type=kind, last=last)
        theirs = ref.step(out, t, x).prev_sample
        close(ours.x0_pred, ref.model_outputs[-1])  # diffusers keeps the converted x̂_0 here
        close(ours.x_prev, theirs)
        last = (t, ours.x0_pred)
        x = ours.x_prev
    return x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("name", NAMES)
def test_dpmpp_2m_parity(name, spacing, kind):
    run_dpm_parity(name, 1000, 12, spacing, kind)


def test_dpmpp_2m_parity_other_T():
    run_dpm_parity("cosine", 64, 64, "leading", "v")
    run_dpm_parity("scaled_linear", 250, 9, "trailing", "eps")


def test_dpmpp_zero_terminal_snr_floor_difference():
    """diffusers' DPM-Solver sets ᾱ_{T−1} = 2^-24 in its table, so its v-prediction x̂_0 at T−1 is
    2^-12·x_t − √(1−2^-24)·v. We keep ᾱ_{T−1} = 0 for the conversion: x̂_0 = −v exactly."""
    s = make_schedule("linear", 1000, zero_terminal_snr=True)
    ref = hf(DPMSolverMultistepScheduler, "linear", 1000, prediction_type="v_prediction", lower_order_final=False,
             rescale_betas_zero_snr=True)
    pairs = make_timesteps(1000, 10, "trailing")
    ref.set_timesteps(timesteps=[t for t, _ in pairs])
    assert float(ref.alphas_cumprod[-1]) == 2.0**-24
    x = torch.randn(SHAPE, generator=gen(9))
    v = torch.randn(SHAPE, generator=gen(10))
    ours = dpmpp_2m_step(s, x, 999, pairs[0][1], v, prediction_type="v")
    theirs = ref.step(v, 999, x).prev_sample
    assert torch.equal(ours.x0_pred, -v)
    close(ref.model_outputs[-1], 2.0**-12 * x - math.sqrt(1 - 2.0**-24) * v)
    # The first-order step is x_prev = (σ_prev/σ)·x − α_prev·(e^{−h} − 1)·x̂_0 on both sides (both use the
    # floored ᾱ for λ and σ), so the results differ by α_prev·(1 − e^{−h})·Δx̂_0 ≤ √ᾱ_prev·2^-12·|x_t|.
    assert torch.isfinite(ours.x_prev).all()
    bound = math.sqrt(float(s.alpha_bar[pairs[0][1]])) * 2.0**-12 * x.abs() + 1e-5
    assert ((ours.x_prev - theirs).abs() <= bound).all()
    assert (ours.x_prev - theirs).abs().max() > 1e-7
