"""Forward process, parameterizations and the training loss: statistics, formulas, round trips.

References are independent of playground.diffusion: numpy float64 formulas written out from the
papers (DDPM Eqs. 2, 4, 6–7; Salimans & Ho for v; Min-SNR), and distribution tests with scipy.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from playground.diffusion import (
    PREDICTION_TYPES,
    get_v,
    model_output_to_x0_eps,
    normalize_prediction_type,
    predict_eps_from_v,
    predict_eps_from_x0,
    predict_x0_from_eps,
    predict_x0_from_v,
    q_chain,
    q_posterior,
    q_sample,
    q_step,
    training_loss,
    training_target,
)
from playground.schedules import SCHEDULES, make_schedule

N = 20_000  # scalars per statistical test
Z = 5.0  # tolerance in standard errors


def gen(seed):
    return torch.Generator().manual_seed(seed)


def np_ab(s):
    """ᾱ recomputed in numpy from β alone: an independent check of the schedule tables used below."""
    return np.cumprod(1 - s.betas.numpy())


# --- the closed form q(x_t | x_0) --------------------------------------------------------------------


@pytest.mark.parametrize("t", [0, 100, 500, 999])
@pytest.mark.parametrize("x0_value", [0.7, -1.0])
def test_q_sample_mean_and_variance(t, x0_value):
    s = make_schedule("linear", 1000)
    ab = np_ab(s)[t]
    x0 = torch.full((N,), x0_value, dtype=torch.float64)
    noise = torch.randn(N, generator=gen(t), dtype=torch.float64)
    x_t = q_sample(s, x0, torch.full((N,), t), noise).numpy()
    mean_se = math.sqrt((1 - ab) / N)
    var_se = (1 - ab) * math.sqrt(2 / (N - 1))
    assert abs(x_t.mean() - math.sqrt(ab) * x0_value) < Z * mean_se
    assert abs(x_t.var(ddof=1) - (1 - ab)) < Z * var_se


def test_q_sample_is_ddpm_eq4_with_given_noise():
    s = make_schedule("cosine", 200)
    ab = np_ab(s)
    x0 = torch.randn(4, 1, 3, 3, generator=gen(1), dtype=torch.float64)
    eps = torch.randn(4, 1, 3, 3, generator=gen(2), dtype=torch.float64)
    t = torch.tensor([0, 5, 150, 199])
    ref = (np.sqrt(ab[t.numpy()])[:, None, None, None] * x0.numpy()
           + np.sqrt(1 - ab[t.numpy()])[:, None, None, None] * eps.numpy())
    np.testing.assert_allclose(q_sample(s, x0, t, eps).numpy(), ref, rtol=1e-12, atol=1e-14)
    # float32 inputs stay float32
    assert q_sample(s, x0.float(), t, eps.float()).dtype == torch.float32


def test_q_step_uses_alpha_t_not_alpha_bar():
    """x_t = √α_t·x_{t−1} + √β_t·ε (DDPM Eq. 2); a handout slip puts ᾱ_t here."""
    s = make_schedule("linear", 1000)
    b = np.linspace(1e-4, 0.02, 1000)
    x_prev = torch.randn(3, 5, generator=gen(3), dtype=torch.float64)
    eps = torch.randn(3, 5, generator=gen(4), dtype=torch.float64)
    t = torch.tensor([0, 400, 999])
    out = q_step(s, x_prev, t, eps).numpy()
    bt = b[t.numpy()][:, None]
    np.testing.assert_allclose(out, np.sqrt(1 - bt) * x_prev.numpy() + np.sqrt(bt) * eps.numpy(), rtol=1e-12)
    abt = np.cumprod(1 - b)[t.numpy()][:, None]
    slip = np.sqrt(abt) * x_prev.numpy() + np.sqrt(1 - abt) * eps.numpy()
    assert np.abs(out[1:] - slip[1:]).max() > 0.1


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_q_chain_has_the_closed_form_distribution(name):
    """t one-step kernels from x_0 give q(x_t|x_0) = N(√ᾱ_t·x_0, 1 − ᾱ_t) (KS test and moments)."""
    T = 200
    s = make_schedule(name, T)
    ab = np_ab(s)
    x0 = torch.full((N,), 0.8, dtype=torch.float64)
    states = list(q_chain(s, x0, T - 1, generator=gen(11)))
    assert len(states) == T + 1 and states[0] is x0
    for t in (0, 40, 120, T - 1):
        x_t = states[t + 1].numpy()  # states[k + 1] is x at timestep index k
        mean, sd = math.sqrt(ab[t]) * 0.8, math.sqrt(1 - ab[t])
        assert stats.kstest(x_t, stats.norm(loc=mean, scale=sd).cdf).pvalue > 1e-3, t
        assert abs(x_t.mean() - mean) < Z * sd / math.sqrt(N)
        assert abs(x_t.var(ddof=1) - sd**2) < Z * sd**2 * math.sqrt(2 / (N - 1))
    # A chain, not independent draws: Cov(x_s, x_t) = √(ᾱ_t/ᾱ_s)·(1 − ᾱ_s) for s < t.
    s_, t_ = 40, 120
    cov = np.cov(states[s_ + 1].numpy(), states[t_ + 1].numpy())[0, 1]
    expected = math.sqrt(ab[t_] / ab[s_]) * (1 - ab[s_])
    assert abs(cov - expected) < Z * math.sqrt((1 - ab[s_]) * (1 - ab[t_]) / N)


def test_ks_test_above_rejects_the_alpha_bar_slip():
    """Power check for the test above: the ᾱ-in-the-kernel slip gives a clearly different law."""
    T = 200
    s = make_schedule("linear", T)
    ab = np_ab(s)
    g = gen(12)
    x = torch.full((N,), 0.8, dtype=torch.float64)
    for t in range(41):  # x_t = √ᾱ_t·x_{t−1} + √(1−ᾱ_t)·ε, the wrong kernel
        x = math.sqrt(ab[t]) * x + math.sqrt(1 - ab[t]) * torch.randn(N, generator=g, dtype=torch.float64)
    closed = stats.norm(loc=math.sqrt(ab[40]) * 0.8, scale=math.sqrt(1 - ab[40]))
    assert stats.kstest(x.numpy(), closed.cdf).pvalue < 1e-6


def test_q_posterior_is_the_bayes_product_of_gaussians():
    """q(x_{t−1}|x_t, x_0) ∝ N(x_t; √α_t·x_{t−1}, β_t) · N(x_{t−1}; √ᾱ_{t−1}·x_0, 1 − ᾱ_{t−1})."""
    s = make_schedule("cosine", 500)
    b = s.betas.numpy()
    ab = np.cumprod(1 - b)
    x0 = torch.randn(4, 2, generator=gen(5), dtype=torch.float64)
    x_t = torch.randn(4, 2, generator=gen(6), dtype=torch.float64)
    t = torch.tensor([1, 10, 250, 499])
    mean, var = q_posterior(s, x0, x_t, t)
    tn = t.numpy()
    a_t, ab_prev = (1 - b[tn])[:, None], ab[tn - 1][:, None]
    precision = a_t / b[tn][:, None] + 1 / (1 - ab_prev)
    ref_mean = (np.sqrt(a_t) * x_t.numpy() / b[tn][:, None]
                + np.sqrt(ab_prev) * x0.numpy() / (1 - ab_prev)) / precision
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-9)
    np.testing.assert_allclose(var.flatten().numpy(), 1 / precision.flatten(), rtol=1e-9)
    # At t = 0 (ᾱ_{−1} = 1) the posterior is a point mass at x_0.
    m0, v0 = q_posterior(s, x0, x_t, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(m0, x0, rtol=1e-12, atol=1e-12)
    assert float(v0.abs().max()) == 0.0


# --- parameterizations ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(SCHEDULES), t=st.integers(0, 998), seed=st.integers(0, 2**16))
def test_eps_x0_v_conversions_round_trip(name, t, seed):
    s = make_schedule(name, 1000)
    ab = float(np_ab(s)[t])
    g = gen(seed)
    x0 = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64)
    tt = torch.full((2,), t)
    x_t = q_sample(s, x0, tt, eps)
    v = get_v(s, x0, eps, tt)
    # v = √ᾱ·ε − √(1−ᾱ)·x_0 (Salimans & Ho), against numpy
    np.testing.assert_allclose(v.numpy(), math.sqrt(ab) * eps.numpy() - math.sqrt(1 - ab) * x0.numpy(),
                               rtol=1e-10, atol=1e-12)
    # Each parameterization recovers the truth. x_0 from ε divides by √ᾱ: scale the tolerance.
    tol = 1e-10 / math.sqrt(ab)
    torch.testing.assert_close(predict_x0_from_eps(s, x_t, tt, eps), x0, rtol=0, atol=tol)
    torch.testing.assert_close(predict_eps_from_x0(s, x_t, tt, x0), eps, rtol=0, atol=1e-10 / math.sqrt(1 - ab))
    torch.testing.assert_close(predict_x0_from_v(s, x_t, tt, v), x0, rtol=0, atol=1e-10)
    torch.testing.assert_close(predict_eps_from_v(s, x_t, tt, v), eps, rtol=0, atol=1e-10)
    # x_0 = √ᾱ·x_t − √(1−ᾱ)·v, written out
    np.testing.assert_allclose(math.sqrt(ab) * x_t.numpy() - math.sqrt(1 - ab) * v.numpy(), x0.numpy(), atol=1e-10)
    for kind in PREDICTION_TYPES:
        out = training_target(s, x0, eps, tt, kind)
        x0_hat, eps_hat = model_output_to_x0_eps(s, out, x_t, tt, kind)
        torch.testing.assert_close(x0_hat, x0, rtol=0, atol=tol)
        torch.testing.assert_close(eps_hat, eps, rtol=0, atol=1e-10 / math.sqrt(1 - ab))


def test_v_is_zero_terminal_snr_safe():
    """At ᾱ = 0 the v-parameterization still recovers x_0 = −v and ε = x_t exactly."""
    s = make_schedule("linear", 100, zero_terminal_snr=True)
    x0 = torch.randn(3, 4, generator=gen(7), dtype=torch.float64)
    eps = torch.randn(3, 4, generator=gen(8), dtype=torch.float64)
    t = torch.full((3,), 99)
    x_t = q_sample(s, x0, t, eps)
    torch.testing.assert_close(x_t, eps, rtol=0, atol=0)
    v = get_v(s, x0, eps, t)
    torch.testing.assert_close(v, -x0, rtol=0, atol=0)
    x0_hat, eps_hat = model_output_to_x0_eps(s, v, x_t, t, "v")
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=0)
    torch.testing.assert_close(eps_hat, eps, rtol=0, atol=0)


def test_prediction_type_names():
    assert [normalize_prediction_type(n) for n in ("epsilon", "sample", "v_prediction", "EPS", "x_0",
                                                   "v-prediction")] == [
        "eps", "x0", "v", "eps", "x0", "v"]
    with pytest.raises(ValueError, match="unknown prediction type 'score'"):
        normalize_prediction_type("score")


# --- training loss ----------------------------------------------------------------------------------


def _batch(s, B=6, seed=0):
    g = gen(seed)
    x0 = torch.rand(B, 1, 4, 4, generator=g) * 2 - 1
    eps = torch.randn(B, 1, 4, 4, generator=g)
    t = torch.linspace(0, s.T - 1, B).long()
    return x0, eps, t


@pytest.mark.parametrize("kind", ["eps", "x0", "v", "epsilon", "sample", "v_prediction"])
def test_training_loss_is_zero_for_a_perfect_prediction_and_mse_otherwise(kind):
    s = make_schedule("cosine", 1000)
    x0, eps, t = _batch(s)
    x_t = q_sample(s, x0, t, eps)
    ab = torch.from_numpy(np_ab(s)[t.numpy()]).float().view(-1, 1, 1, 1)
    target = {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[normalize_prediction_type(kind)]
    loss = training_loss(s, target, x0, eps, t, kind)
    assert loss.shape == (6,) and float(loss.abs().max()) < 1e-12
    for gamma in (None, 5.0):
        assert float(training_loss(s, target, x0, eps, t, kind, min_snr_gamma=gamma).abs().max()) < 1e-12
    off = training_loss(s, target + 0.1, x0, eps, t, kind)
    torch.testing.assert_close(off, torch.full((6,), 0.01), rtol=1e-5, atol=1e-7)
    # the target really is ε, x_0 or v: the true ε (or x_0) is not a perfect output for the others
    for wrong_kind, wrong in (("eps", x0), ("x0", eps), ("v", x0)):
        if normalize_prediction_type(kind) == wrong_kind:
            assert float(training_loss(s, wrong, x0, eps, t, kind).min()) > 1e-3
    # and the target is consistent with the noised input: x_t → x̂_0 from the target gives x_0 back
    x0_hat, _ = model_output_to_x0_eps(s, target, x_t, t, kind)
    torch.testing.assert_close(x0_hat[:-1], x0[:-1], rtol=0, atol=1e-3)


@pytest.mark.parametrize("ztsnr", [False, True])
@pytest.mark.parametrize("kind", PREDICTION_TYPES)
def test_min_snr_gamma_weights(kind, ztsnr):
    """Min-SNR-γ (arXiv:2303.09556): ε: min(SNR,γ)/SNR, x_0: min(SNR,γ), v: min(SNR,γ)/(SNR+1)."""
    gamma = 5.0
    s = make_schedule("linear", 1000, zero_terminal_snr=ztsnr)
    t = torch.tensor([0, 50, 200, 400, 700, 999])
    x0 = torch.zeros(6, 1, 2, 2)
    eps = torch.zeros(6, 1, 2, 2)
    target = training_target(s, x0, eps, t, kind)
    loss = training_loss(s, target + 1.0, x0, eps, t, kind, min_snr_gamma=gamma)  # per-sample MSE = 1
    ab = np.cumprod(1 - s.betas.numpy())[t.numpy()]
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = ab / (1 - ab)
        ref = {"eps": np.where(snr > 0, np.minimum(snr, gamma) / snr, 1.0),
               "x0": np.minimum(snr, gamma),
               "v": np.minimum(snr, gamma) / (snr + 1)}[kind]
    assert torch.isfinite(loss).all()
    np.testing.assert_allclose(loss.numpy(), ref, rtol=1e-5)
    if ztsnr:  # SNR = 0 at t = T−1: the limits 1, 0, 0, and no NaN
        assert float(loss[-1]) == {"eps": 1.0, "x0": 0.0, "v": 0.0}[kind]
    expect = {"eps": gamma / float(s.snr[0]), "x0": gamma, "v": gamma / (float(s.snr[0]) + 1)}[kind]
    assert float(loss[0]) == pytest.approx(expect, rel=1e-5)


@pytest.mark.parametrize("kind", PREDICTION_TYPES)
def test_min_snr_weights_all_measure_the_x0_error(kind):
    """The docstring's claim: each weighted loss equals min(SNR, γ)·‖x̂_0 − x_0‖² for the x̂_0 it implies."""
    gamma = 5.0
    s = make_schedule("cosine", 1000)
    x0, eps, t = _batch(s, B=8, seed=3)
    x0, eps = x0.double(), eps.double()
    x_t = q_sample(s, x0, t, eps)
    target = training_target(s, x0, eps, t, kind)
    output = target + 0.3 * torch.randn(target.shape, generator=gen(4), dtype=torch.float64)
    x0_hat, _ = model_output_to_x0_eps(s, output, x_t, t, kind)
    ab = np.cumprod(1 - s.betas.numpy())[t.numpy()]
    ref = np.minimum(ab / (1 - ab), gamma) * (x0_hat - x0).pow(2).flatten(1).mean(1).numpy()
    loss = training_loss(s, output, x0, eps, t, kind, min_snr_gamma=gamma)
    np.testing.assert_allclose(loss.numpy(), ref, rtol=1e-4)


def test_forward_process_and_loss_on_each_device(device):
    """q_sample, the conversions and the loss take their coefficients to the data's device and agree with the CPU."""
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 1, 8, 8, generator=g), torch.randn(6, 1, 8, 8, generator=g)
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    ref = q_sample(s, x0, t, eps)
    x_t = q_sample(s, x0.to(device), t.to(device), eps.to(device))
    assert x_t.device.type == device.type and torch.allclose(x_t.cpu(), ref, atol=1e-5)
    back = predict_x0_from_eps(s, x_t, t.to(device), eps.to(device))
    assert torch.allclose(back.cpu(), x0, atol=1e-3)
    loss = training_loss(s, eps.to(device), x0.to(device), eps.to(device), t.to(device), "eps", min_snr_gamma=5.0)
    assert loss.device.type == device.type and torch.allclose(loss.cpu(), torch.zeros(6))
