"""Noise schedules: pinned values from the papers (recomputed in numpy float64), properties for any T.

Every reference here is computed independently of playground.schedules: numpy float64
re-implementations of the papers' formulas, or numbers printed in the papers.
"""
import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.schedules import (
    SCHEDULES,
    NoiseSchedule,
    extract,
    make_schedule,
    rescale_zero_terminal_snr,
)

TABLES = ("betas", "alphas", "alpha_bar", "alpha_bar_prev", "snr", "log_snr", "posterior_variance")


# --- independent numpy references -----------------------------------------------------------------


def np_linear_betas(T):
    """DDPM linear 1e-4 … 0.02 at T = 1000, scaled by 1000/T (improved-DDPM reference code), β ≤ 0.999."""
    scale = 1000.0 / T
    return np.linspace(1e-4 * scale, min(0.02 * scale, 0.999), T)


def np_cosine_betas(T, s=0.008):
    """Improved DDPM Eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2); β clipped at 0.999."""
    f = lambda t: np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2  # noqa: E731
    t = np.arange(T, dtype=np.float64)
    return np.minimum(1 - f(t + 1) / f(t), 0.999)


def np_sigmoid_alpha_bar_fn(t, start=-3.0, end=3.0, tau=1.0):
    """arXiv:2301.10972 Algorithm 1 (sigmoid_schedule, without its clip_min): ᾱ as a function of t ∈ [0, 1]."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    v_start, v_end = sig(start / tau), sig(end / tau)
    return (v_end - sig((t * (end - start) + start) / tau)) / (v_end - v_start)


def np_rescale_ztsnr(betas):
    """arXiv:2305.08891 Algorithm 1, in numpy."""
    sqrt_ab = np.sqrt(np.cumprod(1 - betas))
    a0, aT = sqrt_ab[0], sqrt_ab[-1]
    sqrt_ab = (sqrt_ab - aT) * a0 / (a0 - aT)
    ab = sqrt_ab**2
    return 1 - np.concatenate([ab[:1], ab[1:] / ab[:-1]])


def np_betas(name, T):
    if name == "linear":
        return np_linear_betas(T)
    if name == "scaled_linear":
        return np.linspace(0.00085**0.5, 0.012**0.5, T) ** 2
    if name == "cosine":
        return np_cosine_betas(T)
    ab = np_sigmoid_alpha_bar_fn(np.arange(T + 1) / T)
    return np.clip(1 - ab[1:] / ab[:-1], 0.0, 0.999)


# --- pinned values ----------------------------------------------------------------------------------


def test_linear_T1000_terminal_alpha_bar_matches_ddpm():
    s = make_schedule("linear", 1000)
    ref = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))  # DDPM §4: β from 1e-4 to 0.02, T = 1000
    np.testing.assert_allclose(s.alpha_bar.numpy(), ref, rtol=1e-12, atol=0)
    assert float(s.alpha_bar[999]) == pytest.approx(4.036e-5, rel=1e-3)
    assert float(s.alpha_bar[0]) == pytest.approx(1 - 1e-4, abs=1e-15)


def test_scaled_linear_T1000_terminal_snr_matches_published_value():
    # arXiv:2305.08891 §3.1: Stable Diffusion's schedule ends at √ᾱ_T = 0.068265, SNR(T) = 0.004682.
    s = make_schedule("scaled_linear", 1000)
    assert math.sqrt(float(s.alpha_bar[-1])) == pytest.approx(0.068265, abs=1e-6)
    assert s.terminal_snr == pytest.approx(0.004682, abs=1e-6)


@pytest.mark.parametrize("T", [2, 3, 10, 20, 21, 250, 1000, 2000])
def test_linear_schedule_is_rescaled_by_1000_over_T(T):
    s = make_schedule("linear", T)
    np.testing.assert_allclose(s.betas.numpy(), np_linear_betas(T), rtol=1e-12, atol=1e-15)
    assert float(s.betas[0]) == pytest.approx(0.1 / T, rel=1e-12)
    assert float(s.betas[-1]) == pytest.approx(min(20.0 / T, 0.999), rel=1e-12)


def test_linear_schedule_keeps_terminal_noise_level_for_other_T():
    # The point of the 1000/T rescaling: Σβ = 1000·(1e-4 + 0.02)/2 = 10.05 for every unclipped T, so
    # ᾱ_T ≈ exp(−Σβ − Σβ²/2) stays near DDPM's 4.04e-5. Unscaled β (diffusers' "linear") at T = 250
    # would leave Σβ = 2.51 and ᾱ_T ≈ 0.08: far too much signal at the start of sampling.
    for T in (25, 250, 500, 2000):
        s = make_schedule("linear", T)
        assert float(s.betas.sum()) == pytest.approx(10.05, rel=1e-12)
        if T >= 250:  # Σβ²/2 is still small
            assert math.log(float(s.alpha_bar[-1])) == pytest.approx(math.log(4.036e-5), abs=0.25)
    unscaled = np.cumprod(1 - np.linspace(1e-4, 0.02, 250))[-1]
    assert unscaled > 0.05 > 1000 * float(make_schedule("linear", 250).alpha_bar[-1])


@pytest.mark.parametrize("T", [2, 7, 100, 1000, 4000])
def test_cosine_matches_improved_ddpm_eq17(T):
    s = make_schedule("cosine", T)
    betas = np_cosine_betas(T)
    np.testing.assert_allclose(s.betas.numpy(), betas, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(s.alpha_bar.numpy(), np.cumprod(1 - betas), rtol=1e-10, atol=1e-300)
    # Before any β is clipped, ᾱ at our index t is the paper's f(t+1)/f(0) directly.
    f = lambda t: np.cos((t / T + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    unclipped = np.flatnonzero(np.cumsum(betas >= 0.999) == 0)
    np.testing.assert_allclose(s.alpha_bar.numpy()[unclipped], f(unclipped + 1.0) / f(0.0), rtol=1e-10)
    assert float(s.betas[-1]) == pytest.approx(0.999)  # the last step is clipped


@pytest.mark.parametrize("T", [2, 10, 1000])
def test_sigmoid_matches_chen_2023_algorithm_1(T):
    s = make_schedule("sigmoid", T)
    ab = np_sigmoid_alpha_bar_fn(np.arange(T + 1) / T)
    assert ab[0] == pytest.approx(1.0) and ab[-1] == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(s.betas.numpy(), np.clip(1 - ab[1:] / ab[:-1], 0, 0.999), rtol=1e-10, atol=1e-15)
    # Away from the clipped last step, ᾱ is the algorithm's ᾱ(t) at (t + 1)/T.
    np.testing.assert_allclose(s.alpha_bar.numpy()[:-1], ab[1:-1], rtol=1e-9)


@pytest.mark.parametrize("name", SCHEDULES)
def test_zero_terminal_snr_matches_lin_2023_algorithm_1(name):
    T = 1000
    s = make_schedule(name, T, zero_terminal_snr=True)
    plain = make_schedule(name, T)
    np.testing.assert_allclose(s.betas.numpy(), np_rescale_ztsnr(np_betas(name, T)), rtol=1e-9, atol=1e-12)
    assert float(s.alpha_bar[-1]) == 0.0 and float(s.betas[-1]) == 1.0 and s.terminal_snr == 0.0
    assert float(s.alpha_bar[0]) == pytest.approx(float(plain.alpha_bar[0]), rel=1e-12)  # ᾱ_0 is kept
    assert torch.isneginf(s.log_snr[-1]) and torch.isfinite(s.log_snr[:-1]).all()
    # The rescaling is affine in √ᾱ: √ᾱ' = (√ᾱ − √ᾱ_T)·√ᾱ_0/(√ᾱ_0 − √ᾱ_T).
    a, a0, aT = plain.alpha_bar.sqrt(), plain.alpha_bar[0].sqrt(), plain.alpha_bar[-1].sqrt()
    torch.testing.assert_close(s.alpha_bar.sqrt(), (a - aT) * a0 / (a0 - aT), rtol=1e-10, atol=1e-12)


def test_rescale_zero_terminal_snr_function_directly():
    betas = torch.linspace(1e-3, 0.05, 50, dtype=torch.float64)
    out = rescale_zero_terminal_snr(betas)
    assert out.dtype == torch.float64 and out.shape == (50,)
    np.testing.assert_allclose(out.numpy(), np_rescale_ztsnr(betas.numpy()), rtol=1e-10, atol=1e-13)


def test_snr_is_alpha_bar_over_one_minus_alpha_bar_not_squared():
    s = make_schedule("linear", 1000)
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(s.snr.numpy(), ab / (1 - ab), rtol=1e-10)
    np.testing.assert_allclose(s.log_snr.numpy(), np.log(ab) - np.log1p(-ab), rtol=1e-10)
    # The handout slip ᾱ/(1−ᾱ)² is a different curve: at t = 500 it is off by a factor 1/(1−ᾱ) ≈ 1.09.
    slip = ab / (1 - ab) ** 2
    assert abs(float(s.snr[500]) - slip[500]) / slip[500] > 0.05
    # SNR(t) = 1 where ᾱ = 1/2 (log-SNR crosses zero there).
    t_half = int(np.argmin(np.abs(ab - 0.5)))
    assert float(s.snr[t_half]) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("name", SCHEDULES)
def test_posterior_variance_is_ddpm_eq7(name):
    s = make_schedule(name, 300)
    b = np_betas(name, 300)
    ab = np.cumprod(1 - b)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    np.testing.assert_allclose(s.posterior_variance.numpy(), (1 - ab_prev) / (1 - ab) * b, rtol=1e-9, atol=1e-300)
    assert float(s.posterior_variance[0]) == 0.0  # x_0 is known exactly given x_1 and x_0
    np.testing.assert_allclose(s.alpha_bar_prev.numpy(), ab_prev, rtol=1e-9)
    np.testing.assert_allclose(s.alphas.numpy(), 1 - b, rtol=1e-12)


# --- properties for any T ---------------------------------------------------------------------------


@settings(max_examples=80, deadline=None, derandomize=True)
@given(T=st.integers(2, 2000), name=st.sampled_from(SCHEDULES), ztsnr=st.booleans())
def test_schedule_properties_for_any_T(T, name, ztsnr):
    s = make_schedule(name, T, zero_terminal_snr=ztsnr)
    assert s.T == T and s.name == name and s.zero_terminal_snr == ztsnr
    for key in TABLES:
        tensor = getattr(s, key)
        assert tensor.shape == (T,), key
        assert tensor.dtype == torch.float64, key
    b, ab, snr = s.betas, s.alpha_bar, s.snr
    assert (b > 0).all() and (b <= 1).all()
    assert (ab[1:] < ab[:-1]).all(), "ᾱ must be strictly decreasing"
    assert (snr[1:] < snr[:-1]).all(), "SNR must be strictly decreasing"
    assert (ab <= 1).all() and (ab[:-1] > 0).all()
    if ztsnr:
        assert float(ab[-1]) == 0.0 and float(snr[-1]) == 0.0 and float(b[-1]) == 1.0
    else:
        assert float(ab[-1]) > 0.0 and float(b[-1]) < 1.0
    assert (s.posterior_variance >= 0).all() and (s.posterior_variance <= b + 1e-15).all()
    assert float(s.alpha_bar_prev[0]) == 1.0 and torch.equal(s.alpha_bar_prev[1:], ab[:-1])
    torch.testing.assert_close(s.alphas, 1 - b, rtol=0, atol=0)
    torch.testing.assert_close(s.alpha_bar, torch.cumprod(1 - b, 0), rtol=1e-12, atol=0)
    torch.testing.assert_close(snr, ab / (1 - ab), rtol=1e-12, atol=0)
    assert not torch.isnan(s.log_snr).any() and not torch.isnan(s.posterior_variance).any()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(T=st.integers(2, 2000), name=st.sampled_from(SCHEDULES))
def test_schedule_matches_numpy_reference_for_any_T(T, name):
    s = make_schedule(name, T)
    np.testing.assert_allclose(s.betas.numpy(), np_betas(name, T), rtol=1e-9, atol=1e-15)


# --- construction, immutability, helpers -----------------------------------------------------------


def test_make_schedule_accepts_spelling_variants_and_rejects_bad_input():
    assert make_schedule("Scaled-Linear", 10).name == "scaled_linear"
    assert make_schedule(" cosine ", 10).name == "cosine"
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'.*linear"):
        make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="T must be at least 2"):
        make_schedule("linear", 1)
    with pytest.raises(ValueError, match="at least T = 2"):
        NoiseSchedule(name="x", zero_terminal_snr=False, betas=torch.tensor([0.1], dtype=torch.float64))


def test_schedule_is_immutable():
    s = make_schedule("linear", 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.betas = torch.zeros(10)  # type: ignore[misc]
    assert not s.alpha_bar.requires_grad


def test_describe_and_terminal_snr():
    s = make_schedule("cosine", 100, zero_terminal_snr=True)
    assert s.terminal_snr == 0.0
    assert s.describe().startswith("cosine schedule, T = 100, zero terminal SNR")
    p = make_schedule("linear", 1000)
    assert p.terminal_snr == pytest.approx(4.036e-5 / (1 - 4.036e-5), rel=1e-3)


def test_extract_gathers_and_broadcasts():
    table = torch.arange(10, dtype=torch.float64) / 10
    out = extract(table, torch.tensor([3, 0, 9]), (3, 2, 4, 4))
    assert out.shape == (3, 1, 1, 1) and out.dtype == torch.float32
    assert out.flatten().tolist() == pytest.approx([0.3, 0.0, 0.9])
    like = torch.zeros(1, dtype=torch.float64)
    scalar = extract(table, 7, (5, 1, 2, 2), like=like)
    assert scalar.shape == (1, 1, 1, 1) and scalar.dtype == torch.float64 and float(scalar) == 0.7
    assert extract(table, torch.tensor([2, 4]), (2, 8)).shape == (2, 1)
