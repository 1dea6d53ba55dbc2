"""Samplers: timestep lists, step formulas against numpy, equivalences, and an exact Gaussian denoiser.

For data x_0 ~ N(0, s0²) the optimal denoiser is known in closed form, so every sampler's output
distribution (and the probability-flow ODE's endpoint) can be predicted independently in numpy.
"""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.samplers import (
    ALPHA_BAR_FLOOR,
    SAMPLERS,
    SPACINGS,
    cfg_model_fn,
    ddim_sigma,
    ddim_step,
    ddpm_step,
    dpmpp_2m_step,
    make_timesteps,
    normalize_sampler,
    sample,
    sample_loop,
)
from playground.schedules import SCHEDULES, make_schedule

S0 = 0.5  # std of the Gaussian "data set"


def gen(seed):
    return torch.Generator().manual_seed(seed)


def np_ab(s):
    return np.cumprod(1 - s.betas.numpy())


def gaussian_model(s, kind="eps", s0=S0):
    """The exact denoiser for x_0 ~ N(0, s0²): E[ε|x_t] = √(1−ᾱ)·x/(ᾱ·s0² + 1 − ᾱ), E[x_0|x_t] = √ᾱ·s0²·x/(…)."""
    ab_table = torch.from_numpy(np_ab(s))

    def model_fn(x, t):
        ab = ab_table[t.cpu()].to(x.dtype).view(-1, *[1] * (x.ndim - 1))
        V = ab * s0**2 + 1 - ab
        eps = (1 - ab).sqrt() * x / V
        x0 = ab.sqrt() * s0**2 * x / V
        return {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[kind]

    return model_fn


def predicted_std(s, sampler, pairs, eta=0.0, variance="beta_tilde", s0=S0):
    """Std of the sampler's output under the exact Gaussian denoiser, x_T ~ N(0, 1), in numpy float64.

    Every step is linear: x_prev = A·x + B·z for DDPM/DDIM (var ← A²·var + B²); DPM-Solver++(2M) is
    deterministic, x_i = g_i·x_T, with a two-step recursion for the gains g_i.
    """
    abt = np_ab(s)
    var, gains, last = 1.0, [1.0], None
    for t, tp in pairs:
        ab, abp = abt[t], (abt[tp] if tp >= 0 else 1.0)
        V = ab * s0**2 + 1 - ab
        k = math.sqrt(ab) * s0**2 / V  # x̂_0 = k·x
        if sampler == "ddim":  # DDIM Eqs. 12 and 16
            sig = eta * math.sqrt((1 - abp) / (1 - ab)) * math.sqrt(1 - ab / abp)
            A = math.sqrt(abp) * k + math.sqrt(max(1 - abp - sig**2, 0.0)) * math.sqrt(1 - ab) / V
            var = A * A * var + sig**2
        elif sampler == "ddpm":  # DDPM Eq. 7 with β' = 1 − ᾱ_t/ᾱ_{t_prev}
            beta = 1 - ab / abp
            A = math.sqrt(abp) * beta / (1 - ab) * k + math.sqrt(ab / abp) * (1 - abp) / (1 - ab)
            B2 = 0.0 if tp < 0 else ((1 - abp) / (1 - ab) * beta if variance == "beta_tilde" else beta)
            var = A * A * var + B2
        else:  # DPM-Solver++(2M), arXiv:2211.01095 Alg. 2
            g = gains[-1]
            if tp < 0:
                gains.append(k * g)
                continue
            lam = 0.5 * math.log(ab / (1 - ab))
            h = 0.5 * math.log(abp / (1 - abp)) - lam
            D = k * g
            if last is not None:
                r = (lam - last[0]) / h
                D = (1 + 1 / (2 * r)) * k * g - 1 / (2 * r) * last[1]
            last = (lam, k * g)
            gains.append(math.sqrt((1 - abp) / (1 - ab)) * g - math.sqrt(abp) * math.expm1(-h) * D)
    return abs(gains[-1]) if sampler == "dpmpp_2m" else math.sqrt(var)


# --- 1. timestep spacing ----------------------------------------------------------------------------


def test_spacings_pinned_examples():
    lead = make_timesteps(1000, 50, "leading")
    trail = make_timesteps(1000, 50, "trailing")
    lin = make_timesteps(1000, 50, "linspace")
    assert [t for t, _ in lead][:3] == [980, 960, 940] and lead[-1] == (0, -1)
    assert [t for t, _ in trail][:3] == [999, 979, 959] and trail[-1] == (19, -1)
    assert lin[0][0] == 999 and lin[1][0] == 979 and lin[-2:] == [(20, 0), (0, -1)]  # round(k·999/49)
    assert [t for t, _ in make_timesteps(10, 3, "leading")] == [6, 3, 0]
    assert [t for t, _ in make_timesteps(10, 3, "trailing")] == [9, 6, 2]  # round(10, 6.67, 3.33) − 1
    assert [t for t, _ in make_timesteps(10, 3, "linspace")] == [9, 4, 0]  # round(0, 4.5, 9) = 0, 4, 9
    assert make_timesteps(5, 5, "leading") == [(4, 3), (3, 2), (2, 1), (1, 0), (0, -1)]


def test_trailing_spacing_for_counts_where_arange_overshoots():
    # np.arange(1000, 0, -1000/61) has 62 elements; the list must still have exactly 61 steps.
    for T, n in [(1000, 61), (1000, 103), (15, 13), (17, 7)]:
        ts = [t for t, _ in make_timesteps(T, n, "trailing")]
        assert len(ts) == n and ts[0] == T - 1 and min(ts) >= 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data(), T=st.integers(2, 2000), spacing=st.sampled_from(SPACINGS))
def test_make_timesteps_for_any_T_and_step_count(data, T, spacing):
    n = data.draw(st.integers(1, T))
    pairs = make_timesteps(T, n, spacing)
    ts = [t for t, _ in pairs]
    assert len(pairs) == n
    assert all(0 <= t < T for t in ts) and all(a > b for a, b in zip(ts, ts[1:]))
    assert [tp for _, tp in pairs] == ts[1:] + [-1], "t_prev is the next entry, then −1 (clean)"
    if spacing == "leading":
        assert ts == [k * (T // n) for k in range(n - 1, -1, -1)]
    elif spacing == "trailing":
        assert ts[0] == T - 1
        assert all(abs(t - (T - k * T / n - 1)) <= 0.5 + 1e-9 for k, t in enumerate(ts))
    else:
        assert ts[-1] == 0 and (n == 1 or ts[0] == T - 1)
        assert all(abs(t - k * (T - 1) / max(n - 1, 1)) <= 0.5 + 1e-9 for k, t in enumerate(reversed(ts)))
    if n == T:
        assert ts == list(range(T - 1, -1, -1))


@pytest.mark.parametrize("bad, match", [
    (dict(num_steps=1001), r"cannot take 1001 steps on a schedule of T = 1000"),
    (dict(num_steps=0), r"need at least 1 sampling step, got 0"),
    (dict(num_steps=-5), r"need at least 1 sampling step, got -5"),
    (dict(spacing="uniform"), r"unknown spacing 'uniform'; choose one of leading, trailing, linspace"),
])
def test_make_timesteps_errors(bad, match):
    kwargs = dict(T=1000, num_steps=10, spacing="leading") | bad
    with pytest.raises(ValueError, match=match):
        make_timesteps(**kwargs)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("spacing", SPACINGS)
def test_T2_every_schedule_spacing_and_sampler(name, spacing):
    s = make_schedule(name, 2)
    assert make_timesteps(2, 2, spacing) == [(1, 0), (0, -1)]
    one = make_timesteps(2, 1, spacing)
    assert one == ([(1, -1)] if spacing == "trailing" else [(0, -1)])  # diffusers' choice for n = 1
    for sampler in SAMPLERS:
        for n in (1, 2):
            x = sample(gaussian_model(s), s, (2, 1, 3, 3), sampler=sampler, num_steps=n, spacing=spacing,
                       eta=1.0, generator=gen(0))
            assert x.shape == (2, 1, 3, 3) and torch.isfinite(x).all()


def test_sampler_names():
    assert [normalize_sampler(n) for n in ("DDPM", "ddim", "DPM++", "dpm-solver++", "dpmpp_2m")] == [
        "ddpm", "ddim", "dpmpp_2m", "dpmpp_2m", "dpmpp_2m"]
    assert [normalize_sampler(n) for n in ("Euler", "flow-heun")] == ["euler", "heun"]
    with pytest.raises(ValueError, match="unknown sampler 'lms'"):
        normalize_sampler("lms")


# --- 2. step functions against the papers' formulas in numpy ----------------------------------------


def _np_x0_eps(kind, out, x, ab):
    if kind == "eps":
        return (x - np.sqrt(1 - ab) * out) / np.sqrt(ab), out
    if kind == "x0":
        return out, (x - np.sqrt(ab) * out) / np.sqrt(1 - ab)
    return np.sqrt(ab) * x - np.sqrt(1 - ab) * out, np.sqrt(1 - ab) * x + np.sqrt(ab) * out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(SCHEDULES), t=st.integers(1, 999), data=st.data(),
       kind=st.sampled_from(["eps", "x0", "v"]), eta=st.sampled_from([0.0, 0.3, 1.0]))
def test_ddim_and_ddpm_steps_match_the_paper_formulas(name, t, data, kind, eta):
    s = make_schedule(name, 1000)
    t_prev = data.draw(st.integers(-1, t - 1))
    abt = np_ab(s)
    ab, abp = abt[t], (abt[t_prev] if t_prev >= 0 else 1.0)
    g = gen(t)
    x = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    out = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    z = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    x0, eps = _np_x0_eps(kind, out.numpy(), x.numpy(), ab)
    # DDIM Eq. 16 and Eq. 12
    sigma = eta * np.sqrt((1 - abp) / (1 - ab)) * np.sqrt(1 - ab / abp)
    assert ddim_sigma(s, t, t_prev, eta) == pytest.approx(sigma, rel=1e-9, abs=1e-15)
    ref = np.sqrt(abp) * x0 + np.sqrt(1 - abp - sigma**2) * eps + sigma * z.numpy()
    step = ddim_step(s, x, t, t_prev, out, z, prediction_type=kind, eta=eta)
    scale = 1 + np.abs(x0).max()
    np.testing.assert_allclose(step.x_prev.numpy(), ref, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(step.x0_pred.numpy(), x0, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(step.eps_pred.numpy(), eps, rtol=0, atol=1e-9 * scale)
    # DDPM Eq. 7 on the sub-chain t → t_prev: α' = ᾱ_t/ᾱ_{t_prev}, β' = 1 − α'
    a1, b1 = ab / abp, 1 - ab / abp
    mean = np.sqrt(abp) * b1 / (1 - ab) * x0 + np.sqrt(a1) * (1 - abp) / (1 - ab) * x.numpy()
    for variance, var in (("beta_tilde", (1 - abp) / (1 - ab) * b1), ("beta", b1)):
        ref = mean + (np.sqrt(var) * z.numpy() if t_prev >= 0 else 0.0)
        got = ddpm_step(s, x, t, t_prev, out, z, prediction_type=kind, variance=variance).x_prev.numpy()
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * scale)


def test_ddim_sigma_is_the_posterior_std_on_the_full_grid():
    s = make_schedule("cosine", 200)
    sig2 = np.array([ddim_sigma(s, t, t - 1, 1.0) ** 2 for t in range(200)])
    np.testing.assert_allclose(sig2, s.posterior_variance.numpy(), rtol=1e-10, atol=1e-18)
    assert ddim_sigma(s, 100, 99, 0.0) == 0.0
    assert ddim_sigma(s, 100, 99, 0.5) == pytest.approx(0.5 * math.sqrt(float(s.posterior_variance[100])))


def test_dpmpp_2m_step_matches_algorithm_2():
    s = make_schedule("linear", 1000)
    abt = np_ab(s)
    lam = lambda t: 0.5 * math.log(abt[t] / (1 - abt[t]))  # noqa: E731
    g = gen(3)
    x = torch.randn(2, 4, generator=g, dtype=torch.float64)
    out = torch.randn(2, 4, generator=g, dtype=torch.float64)
    x0_last = torch.randn(2, 4, generator=g, dtype=torch.float64)
    t_last, t, tp = 800, 600, 400
    x0 = (x.numpy() - math.sqrt(1 - abt[t]) * out.numpy()) / math.sqrt(abt[t])
    h, h_last = lam(tp) - lam(t), lam(t) - lam(t_last)
    first = math.sqrt((1 - abt[tp]) / (1 - abt[t])) * x.numpy() - math.sqrt(abt[tp]) * (math.exp(-h) - 1) * x0
    np.testing.assert_allclose(dpmpp_2m_step(s, x, t, tp, out).x_prev.numpy(), first, rtol=1e-10)
    r = h_last / h
    D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_last.numpy()
    second = math.sqrt((1 - abt[tp]) / (1 - abt[t])) * x.numpy() - math.sqrt(abt[tp]) * (math.exp(-h) - 1) * D
    got = dpmpp_2m_step(s, x, t, tp, out, last=(t_last, x0_last)).x_prev.numpy()
    np.testing.assert_allclose(got, second, rtol=1e-10)
    # first-order DPM-Solver++ is DDIM η = 0 (exactly, for any step)
    torch.testing.assert_close(dpmpp_2m_step(s, x, t, tp, out).x_prev, ddim_step(s, x, t, tp, out, None).x_prev)
    # the last step onto the clean end returns x̂_0
    fin = dpmpp_2m_step(s, x, 30, -1, out, last=(t, x0_last))
    torch.testing.assert_close(fin.x_prev, fin.x0_pred, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_clipping_recomputes_eps_from_the_clipped_x0(kind):
    s = make_schedule("linear", 1000)
    t, tp = 700, 600
    x = 3 * torch.randn(4, 1, 4, 4, generator=gen(5))
    out = 2 * torch.randn(4, 1, 4, 4, generator=gen(6))
    ab = float(s.alpha_bar[t])
    for step_fn in (ddim_step, ddpm_step):
        st_ = step_fn(s, x, t, tp, out, torch.zeros_like(x), prediction_type=kind, clip_x0=True)
        raw = step_fn(s, x, t, tp, out, torch.zeros_like(x), prediction_type=kind, clip_x0=False)
        assert st_.x0_pred.abs().max() <= 1.0 and raw.x0_pred.abs().max() > 1.0
        torch.testing.assert_close(st_.x0_pred, raw.x0_pred.clamp(-1, 1))
        # (x̂_0, ε̂) stay a consistent pair: x_t = √ᾱ·x̂_0 + √(1−ᾱ)·ε̂
        torch.testing.assert_close(math.sqrt(ab) * st_.x0_pred + math.sqrt(1 - ab) * st_.eps_pred, x,
                                   rtol=1e-5, atol=1e-5)


def test_step_argument_errors():
    s = make_schedule("linear", 100)
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="needs noise"):
        ddpm_step(s, x, 50, 40, x, None)
    with pytest.raises(ValueError, match="eta > 0 needs noise"):
        ddim_step(s, x, 50, 40, x, None, eta=0.5)
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        ddim_step(s, x, 50, 40, x, x, eta=1.5)
    with pytest.raises(ValueError, match="variance must be 'beta_tilde' or 'beta'"):
        ddpm_step(s, x, 50, 40, x, x, variance="learned")
    # no noise is needed where none is added
    assert torch.isfinite(ddpm_step(s, x + 1, 3, -1, x, None).x_prev).all()
    assert torch.isfinite(ddim_step(s, x + 1, 50, 40, x, None, eta=0.0).x_prev).all()


# --- 3. zero terminal SNR ---------------------------------------------------------------------------


def test_zero_terminal_snr_eps_floor_and_warning():
    s = make_schedule("linear", 1000, zero_terminal_snr=True)
    x = torch.randn(2, 1, 2, 2, generator=gen(1))
    out = torch.randn(2, 1, 2, 2, generator=gen(2))
    st_ = ddim_step(s, x, 999, 979, out, None, prediction_type="eps")
    f = ALPHA_BAR_FLOOR
    assert f == 2.0**-24
    torch.testing.assert_close(st_.x0_pred, (x - math.sqrt(1 - f) * out) / math.sqrt(f))
    # the direction term uses the true ᾱ_T = 0: x_prev = √ᾱ_prev·x̂_0 + √(1−ᾱ_prev)·ε̂
    abp = float(s.alpha_bar[979])
    torch.testing.assert_close(st_.x_prev, math.sqrt(abp) * st_.x0_pred + math.sqrt(1 - abp) * out)
    # σ_T(η) with ᾱ_T = 0 is η·√(1−ᾱ_prev): all of the step's noise is fresh at η = 1
    assert ddim_sigma(s, 999, 979, 1.0) == pytest.approx(math.sqrt(1 - abp), rel=1e-12)
    with pytest.warns(UserWarning, match="zero terminal SNR"):
        sample(gaussian_model(s), s, (1, 1, 2, 2), num_steps=5, spacing="trailing", generator=gen(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # v-prediction is the safe pairing: no warning
        x = sample(gaussian_model(s, "v"), s, (1, 1, 2, 2), num_steps=5, spacing="trailing",
                   prediction_type="v", generator=gen(0))
        sample(gaussian_model(s), s, (1, 1, 2, 2), num_steps=5, spacing="leading", generator=gen(0))  # starts < T−1
    assert torch.isfinite(x).all()


def test_tiny_but_positive_alpha_bar_is_not_floored():
    # Regression: cosine at T = 1000 has ᾱ_999 = 2.4e-9 < 2^-24 without zero terminal SNR; x̂_0 must use
    # the true ᾱ (DDIM Eq. 12, as diffusers does), not the floor meant for ᾱ = 0.
    s = make_schedule("cosine", 1000)
    ab = float(np_ab(s)[999])
    assert 0 < ab < ALPHA_BAR_FLOOR
    x = torch.randn(2, 1, 2, 2, generator=gen(6), dtype=torch.float64)
    out = torch.randn(2, 1, 2, 2, generator=gen(7), dtype=torch.float64)
    expected = (x - math.sqrt(1 - ab) * out) / math.sqrt(ab)
    for step in (ddim_step(s, x, 999, 899, out, None), ddpm_step(s, x, 999, 899, out, out),
                 dpmpp_2m_step(s, x, 999, 899, out)):
        torch.testing.assert_close(step.x0_pred, expected, rtol=1e-9, atol=0)


def test_zero_terminal_snr_full_grid_ddpm_keeps_alpha_prime_at_most_one():
    # Regression: ᾱ_998 = 4.2e-9 < 2^-24 here; flooring ᾱ_999 in the DDPM coefficients gave α' ≈ 14.
    s = make_schedule("linear", 1000, zero_terminal_snr=True)
    assert float(s.alpha_bar[998]) < ALPHA_BAR_FLOOR
    x = torch.randn(2, 1, 2, 2, generator=gen(3))
    v = torch.randn(2, 1, 2, 2, generator=gen(4))
    z = torch.randn(2, 1, 2, 2, generator=gen(5))
    got = ddpm_step(s, x, 999, 998, v, z, prediction_type="v")
    abp = float(s.alpha_bar[998])  # α' = 0, β' = 1: μ = √ᾱ_998·x̂_0 with x̂_0 = −v, σ² = 1 − ᾱ_998
    torch.testing.assert_close(got.x0_pred, -v)
    torch.testing.assert_close(got.x_prev, math.sqrt(abp) * (-v) + math.sqrt(1 - abp) * z)


# --- 4. equivalences --------------------------------------------------------------------------------


@pytest.mark.parametrize("num_steps, spacing", [(100, "leading"), (20, "trailing"), (25, "linspace")])
def test_ddim_eta1_equals_ddpm_with_posterior_variance(num_steps, spacing):
    """DDIM η = 1 is DDPM with σ² = β̃ (on the full grid, and on any sub-grid with β' = 1 − ᾱ_t/ᾱ_prev)."""
    s = make_schedule("cosine", 100)
    model = lambda x, t: 0.3 * torch.sin(3 * x) + gaussian_model(s)(x, t)  # noqa: E731
    kw = dict(num_steps=num_steps, spacing=spacing, generator=None)
    a = sample(model, s, (2, 1, 4, 4), sampler="ddim", eta=1.0, **(kw | dict(generator=gen(9))))
    b = sample(model, s, (2, 1, 4, 4), sampler="ddpm", **(kw | dict(generator=gen(9))))
    c = sample(model, s, (2, 1, 4, 4), sampler="ddim", eta=0.3, **(kw | dict(generator=gen(9))))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert (a - c).abs().max() > 1e-2  # a different η is a different sampler
    d = sample(model, s, (2, 1, 4, 4), sampler="ddpm", ddpm_variance="beta", **(kw | dict(generator=gen(9))))
    assert (b - d).abs().max() > 1e-2  # and so is DDPM with the upper-bound variance β


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_deterministic_samplers_ignore_the_generator(sampler):
    s = make_schedule("linear", 1000)
    model = lambda x, t: 0.2 * torch.tanh(x) + gaussian_model(s)(x, t)  # noqa: E731
    x_T = torch.randn(2, 1, 4, 4, generator=gen(0))
    a = sample(model, s, x_T.shape, sampler=sampler, eta=0.0, num_steps=20, x_T=x_T, generator=gen(1))
    b = sample(model, s, x_T.shape, sampler=sampler, eta=0.0, num_steps=20, x_T=x_T, generator=gen(2))
    assert torch.equal(a, b)
    c = sample(model, s, x_T.shape, sampler="ddim", eta=0.3, num_steps=20, x_T=x_T, generator=gen(1))
    d = sample(model, s, x_T.shape, sampler="ddim", eta=0.3, num_steps=20, x_T=x_T, generator=gen(2))
    assert (c - d).abs().max() > 1e-2  # stochastic samplers do use it


def test_sample_loop_yields_every_step_and_shares_noise_order():
    s = make_schedule("linear", 1000)
    model = gaussian_model(s)
    states = list(sample_loop(model, s, (2, 1, 3, 3), sampler="ddpm", num_steps=7, spacing="trailing",
                              generator=gen(4)))
    pairs = make_timesteps(1000, 7, "trailing")
    assert [(st_.t, st_.t_prev) for st_ in states] == pairs
    assert [st_.i for st_ in states] == list(range(1, 8)) and all(st_.num_steps == 7 for st_ in states)
    final = sample(model, s, (2, 1, 3, 3), sampler="ddpm", num_steps=7, spacing="trailing", generator=gen(4))
    assert torch.equal(states[-1].x_t, final) and torch.equal(states[-1].x_t, states[-1].x0_pred)
    # x_T first, then one noise tensor per step: explicit x_T / noises reproduce the seeded run
    g = gen(4)
    draws = [torch.randn((2, 1, 3, 3), generator=g) for _ in range(8)]
    again = sample(model, s, (2, 1, 3, 3), sampler="ddpm", timesteps=pairs, x_T=draws[0],
                   noises=lambda i: draws[i + 1])
    assert torch.equal(again, final)


def _ode_endpoint(s, x_T, t_start, s0=S0):
    """Probability-flow ODE for N(0, s0²) data is linear: x_0 = s0/√(ᾱ·s0² + 1 − ᾱ) · x_T."""
    ab = np_ab(s)[t_start]
    return s0 / math.sqrt(ab * s0**2 + 1 - ab) * x_T


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_dpmpp_2m_converges_to_the_ode_solution_at_second_order(name):
    s = make_schedule(name, 1000)
    model = gaussian_model(s)
    x_T = torch.linspace(-2, 2, 9, dtype=torch.float64).view(9, 1, 1, 1)
    exact = _ode_endpoint(s, x_T, 999)

    def err(sampler, n):
        x = sample(model, s, x_T.shape, sampler=sampler, num_steps=n, spacing="linspace", x_T=x_T)
        return float((x.double() - exact).abs().max())

    ns = (20, 40, 80, 160)
    dpm = [err("dpmpp_2m", n) for n in ns]
    ddim = [err("ddim", n) for n in ns]
    assert all(a > b for a, b in zip(dpm, dpm[1:])) and all(a > b for a, b in zip(ddim, ddim[1:]))
    assert dpm[-2] / dpm[-1] > 3.0, dpm  # second order: ×4 per halving of the step
    assert 1.7 < ddim[-2] / ddim[-1] < 2.3, ddim  # DDIM (= first-order DPM-Solver++): ×2
    assert dpm[-1] < ddim[-1] / 3
    # and DPM-Solver++ approaches DDIM η = 0 on the full grid as its steps grow
    ref = sample(model, s, x_T.shape, sampler="ddim", num_steps=1000, spacing="linspace", x_T=x_T)
    gaps = [float((sample(model, s, x_T.shape, sampler="dpmpp_2m", num_steps=n, spacing="linspace", x_T=x_T)
                   - ref).abs().max()) for n in (10, 40, 160)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.01, gaps


# --- 5. exact denoiser for Gaussian data: output std ------------------------------------------------

GAUSS_CASES = [
    # schedule, ztsnr, kind, sampler, eta, steps, spacing, ddpm_variance, allowed |std/s0 − 1| from discretization
    ("linear", False, "eps", "ddpm", 0.0, 1000, "leading", "beta_tilde", 0.01),
    ("cosine", False, "x0", "ddpm", 0.0, 1000, "leading", "beta", 0.01),
    ("linear", False, "eps", "ddim", 0.0, 1000, "leading", "beta_tilde", 0.005),
    ("cosine", False, "v", "ddim", 0.0, 250, "trailing", "beta_tilde", 0.01),
    ("cosine", False, "eps", "ddim", 0.3, 250, "trailing", "beta_tilde", 0.01),
    ("cosine", False, "eps", "ddim", 1.0, 250, "trailing", "beta_tilde", 0.025),
    ("linear", False, "eps", "dpmpp_2m", 0.0, 50, "trailing", "beta_tilde", 0.01),
    ("scaled_linear", False, "v", "dpmpp_2m", 0.0, 100, "trailing", "beta_tilde", 0.02),
    ("linear", True, "v", "ddim", 1.0, 1000, "trailing", "beta_tilde", 0.01),
    ("linear", True, "v", "ddpm", 0.0, 1000, "trailing", "beta_tilde", 0.01),
    ("sigmoid", True, "x0", "ddim", 0.3, 200, "trailing", "beta_tilde", 0.02),
    # coarse grids are biased low, and the numpy prediction says by how much
    ("linear", False, "eps", "ddim", 1.0, 20, "leading", "beta_tilde", 0.25),
    ("linear", False, "eps", "ddpm", 0.0, 50, "leading", "beta_tilde", 0.12),
    # DPM-Solver++ jumps from the last t to the clean end with x̂_0 = E[x_0|x_t] (first order), which
    # shrinks: from t = 39 of scaled_linear (1 − ᾱ ≈ 0.04) the std comes out ~6% low.
    ("scaled_linear", False, "v", "dpmpp_2m", 0.0, 25, "trailing", "beta_tilde", 0.08),
]


@pytest.mark.parametrize("name, ztsnr, kind, sampler, eta, n, spacing, variance, disc", GAUSS_CASES)
def test_exact_gaussian_denoiser_reproduces_the_data_std(name, ztsnr, kind, sampler, eta, n, spacing, variance, disc):
    s = make_schedule(name, 1000, zero_terminal_snr=ztsnr)
    shape = (20, 1, 32, 32)  # 20,480 independent scalars: the denoiser acts per pixel
    x = sample(gaussian_model(s, kind), s, shape, sampler=sampler, eta=eta, num_steps=n, spacing=spacing,
               prediction_type=kind, ddpm_variance=variance, generator=gen(2024))
    N = x.numel()
    pred = predicted_std(s, sampler, make_timesteps(1000, n, spacing), eta, variance)
    assert abs(pred / S0 - 1) < disc, pred  # the discretization error is as small as claimed
    se = pred / math.sqrt(2 * (N - 1))  # standard error of a sample std
    assert abs(float(x.std()) - pred) < 5 * se, (float(x.std()), pred)
    assert abs(float(x.mean())) < 5 * pred / math.sqrt(N)


# --- 6. classifier-free guidance --------------------------------------------------------------------


class _CondModel:
    """A toy class-conditional ε-model whose outputs for each label are easy to tell apart; counts calls."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, t, labels):
        self.batches.append(x.shape[0])
        return torch.tanh(x) * (1 + labels.float().view(-1, 1, 1, 1)) + 0.001 * t.float().view(-1, 1, 1, 1)


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0, -0.5])
def test_cfg_formula(w):
    null = 10
    x = torch.randn(3, 1, 4, 4, generator=gen(0))
    t = torch.tensor([5, 500, 900])
    labels = torch.tensor([1, 4, 7])
    model = _CondModel()
    cond = model(x, t, labels)
    uncond = model(x, t, torch.full((3,), null))
    model.batches.clear()
    out = cfg_model_fn(model, labels, w, null)(x, t)
    torch.testing.assert_close(out, uncond + w * (cond - uncond))
    if w == 1.0:
        torch.testing.assert_close(out, cond, rtol=0, atol=0)
        assert model.batches == [3]  # one conditional pass, no unconditional one
    elif w == 0.0:
        torch.testing.assert_close(out, uncond, rtol=0, atol=0)
        assert model.batches == [3]
    else:
        assert model.batches == [6]  # both halves as one batch


def test_cfg_without_labels_is_unconditional():
    model = _CondModel()
    x = torch.randn(2, 1, 2, 2, generator=gen(1))
    t = torch.tensor([3, 4])
    out = cfg_model_fn(model, None, 5.0, null_label=10)(x, t)
    torch.testing.assert_close(out, model(x, t, torch.tensor([10, 10])), rtol=0, atol=0)


# ----------------------------------------------------------------------------------------- on every device


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp_2m"])
def test_sampling_runs_on_each_device_and_repeats_under_a_seed(device, sampler):
    """The samplers keep every tensor on the model's device, and one seed on one device gives the same images."""
    s = make_schedule("cosine", 100)
    w = torch.linspace(-1, 1, 16, device=device).reshape(1, 1, 4, 4)

    def model_fn(x, t):  # a smooth, input-dependent stand-in for a network, on `device`
        assert x.device.type == device.type and t.device.type == device.type
        return torch.tanh(x * w + t.float().reshape(-1, 1, 1, 1) / 100)

    def run():
        return sample(model_fn, s, (3, 1, 4, 4), sampler=sampler, num_steps=20, eta=0.5, spacing="trailing",
                               generator=torch.Generator().manual_seed(7), device=device)

    a, b = run(), run()
    assert a.device.type == device.type and torch.isfinite(a).all()
    assert torch.equal(a, b)
    if device.type != "cpu":  # the same noise (drawn on the CPU generator) gives the same images as on the CPU
        cpu = sample(lambda x, t: torch.tanh(x * w.cpu() + t.float().reshape(-1, 1, 1, 1) / 100), s,
                              (3, 1, 4, 4), sampler=sampler, num_steps=20, eta=0.5, spacing="trailing",
                              generator=torch.Generator().manual_seed(7))
        assert torch.allclose(a.cpu(), cpu, atol=1e-4)
