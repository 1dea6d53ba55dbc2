"""The likelihood core (playground.likelihood): KL, decoder, the bound on Gaussian data with the exact denoiser,
the fast estimate, the ODE likelihood and Hutchinson's trace, the weightings, and the CLI end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from playground.diffusion import predict_x0_from_eps, training_loss, training_target
from playground.likelihood import (
    FM_PATH,
    VP_PATH,
    bound_every_t,
    bound_fast,
    discretized_gaussian_log_likelihood,
    exact_trace,
    hutchinson_trace,
    nats_to_bpd,
    normal_kl,
    ode_log_likelihood,
    prior_kl,
    vb_terms,
)
from playground.likelihood import weighting as W
from playground.likelihood.mnist import unet_path_denoiser
from playground.paths import FLOW_CLOCK
from playground.schedules import make_schedule

MU, S2 = 0.5, 0.25  # 1-D Gaussian data N(μ, s²)


def gaussian_den(s, mu=MU, s2=S2):
    """The exact denoiser of N(μ, s²) data at integer t: (E[x_0|x_t], ε̂)."""
    def den(x, t):
        ab = s.alpha_bar[t.cpu()].to(torch.float64).reshape(-1, *([1] * (x.ndim - 1)))
        a, var = ab.sqrt(), 1 - ab
        x0 = mu + a * s2 / (ab * s2 + var) * (x - a * mu)
        return x0, (x - a * x0) / var.sqrt()
    return den


def gaussian_data(n, seed=0, d=1):
    g = torch.Generator().manual_seed(10_000 + seed)  # not a seed the bound draws its ε from (they would be equal)
    return MU + math.sqrt(S2) * torch.randn(n, d, generator=g, dtype=torch.float64)


def gaussian_nll(x0):
    return (0.5 * math.log(2 * math.pi * S2) + (x0 - MU) ** 2 / (2 * S2)).sum(1)


# --- KL and decoder ---------------------------------------------------------------------------------


def test_normal_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    m1, lv1, m2, lv2 = 0.3, math.log(0.5), -0.2, math.log(2.0)
    x = m1 + math.exp(0.5 * lv1) * torch.randn(400_000, generator=g, dtype=torch.float64)
    logq = -0.5 * (x - m1) ** 2 / math.exp(lv1) - 0.5 * lv1
    logp = -0.5 * (x - m2) ** 2 / math.exp(lv2) - 0.5 * lv2
    d = logq - logp
    kl = float(normal_kl(*(torch.tensor(v, dtype=torch.float64) for v in (m1, lv1, m2, lv2))))
    assert abs(float(d.mean()) - kl) < 4 * float(d.std()) / math.sqrt(d.numel())
    assert kl > 0


@pytest.mark.parametrize("mean,scale", [(0.0, 0.01), (0.37, 0.3), (-1.2, 0.004), (0.999, 1e-4), (3.0, 2.0)])
def test_decoder_probabilities_over_256_levels_sum_to_one(mean, scale):
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    logp = discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=torch.float64),
                                               torch.tensor(math.log(scale), dtype=torch.float64))
    assert torch.isfinite(logp).all() or scale < 1e-3  # far tails may underflow to −inf, never NaN
    assert not torch.isnan(logp).any()
    assert abs(float(logp.exp().sum()) - 1.0) < 1e-9


def test_decoder_inner_bin_is_the_gaussian_integral():
    x, m, sd = torch.tensor(0.2 + 2 / 255, dtype=torch.float64), torch.tensor(0.21, dtype=torch.float64), 0.02
    p = float(discretized_gaussian_log_likelihood(x, m, torch.tensor(math.log(sd), dtype=torch.float64)).exp())
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    ref = phi((float(x) + 1 / 255 - 0.21) / sd) - phi((float(x) - 1 / 255 - 0.21) / sd)
    assert abs(p - ref) < 1e-12


def test_prior_term_closed_form_and_bpd():
    s = make_schedule("linear", 1000)
    x0 = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    ab = float(s.alpha_bar[-1])
    ref = sum(0.5 * (-math.log(1 - ab) + (1 - ab) + ab * v * v - 1) for v in (0.5, -1.0))
    assert abs(float(prior_kl(s, x0)[0]) - ref) < 1e-15
    assert nats_to_bpd(784 * math.log(2), 784) == pytest.approx(1.0)


# --- the bound with a known answer ------------------------------------------------------------------


def test_bound_on_gaussian_data_is_above_the_nll_and_approaches_it():
    x0 = gaussian_data(8000)
    nll = gaussian_nll(x0)
    gaps = {}
    for T in (10, 100, 1000):
        s = make_schedule("linear", T)
        r = bound_every_t(s, gaussian_den(s), x0, discrete=False, batch=80_000)
        for v in ("beta", "beta_tilde"):
            d = (r.total(v) - nll).numpy()
            gaps[T, v] = (d.mean(), d.std(ddof=1) / math.sqrt(d.size))
    for (T, v), (g, se) in gaps.items():
        assert g > -4 * se, f"bound below the NLL at T={T}, {v}: gap {g:.4f} ± {se:.4f}"
    # σ² = β_t: a clear gap at T = 10 that vanishes by T = 1000 (β is the right reverse variance here)
    assert gaps[10, "beta"][0] > 5 * gaps[10, "beta"][1]
    assert abs(gaps[1000, "beta"][0]) < 4 * gaps[1000, "beta"][1] + 0.01
    # σ² = β̃_t shrinks with T too, but more slowly (the decoder's β̃_1 is too small for continuous data)
    assert gaps[10, "beta_tilde"][0] > gaps[100, "beta_tilde"][0] > gaps[1000, "beta_tilde"][0] > 0


def test_bound_kl_term_is_half_delta_snr_times_x0_error():
    """VDM Eq. 13: with σ² = β̃_t, L_t = ½·(SNR_{t−1} − SNR_t)·‖x_0 − x̂_0‖² exactly (the ELBO's weight)."""
    s = make_schedule("cosine", 50)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(49, 4, generator=g, dtype=torch.float64)
    err = 0.1 * torch.randn(49, 4, generator=g, dtype=torch.float64)
    t = torch.arange(1, 50)
    kl = vb_terms(s, x0, t, x0 - err, discrete=False)["beta_tilde"]
    d_snr = s.snr[t - 1] - s.snr[t]
    torch.testing.assert_close(kl, 0.5 * d_snr * (err ** 2).sum(1), rtol=1e-9, atol=1e-12)


def test_vb_terms_closed_sum_equals_the_per_pixel_kl():
    """vb_terms sums the KL over pixels in closed form: the same as normal_kl per pixel, summed, at every t ≥ 1."""
    s = make_schedule("linear", 100)
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(99, 5, generator=g, dtype=torch.float64)
    x0_hat = x0 + 0.2 * torch.randn(99, 5, generator=g, dtype=torch.float64)
    t = torch.arange(1, 100)
    ab, ab_prev = s.alpha_bar[t, None], s.alpha_bar_prev[t, None]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(99, 5, generator=g, dtype=torch.float64)
    beta = s.betas[t, None]
    coef_x0, coef_xt = ab_prev.sqrt() * beta / (1 - ab), (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)  # Ho Eq. 7
    mu, mu_hat = coef_x0 * x0 + coef_xt * x_t, coef_x0 * x0_hat + coef_xt * x_t  # μ̃_t(x_0, x_t), μ̃_t(x̂_0, x_t)
    post = torch.log(s.posterior_variance[t, None]).expand_as(x0)
    got = vb_terms(s, x0, t, x0_hat, discrete=False)
    for name, var in {"beta": s.betas[t], "beta_tilde": s.posterior_variance[t]}.items():
        want = normal_kl(mu, post, mu_hat, torch.log(var)[:, None].expand_as(x0)).sum(1)
        torch.testing.assert_close(got[name], want, rtol=1e-9, atol=1e-12)


def test_fast_estimate_is_unbiased():
    x0 = gaussian_data(4000, seed=5)
    s = make_schedule("linear", 200)
    full = bound_every_t(s, gaussian_den(s), x0, discrete=False, batch=40_000).total("beta")
    fast = bound_fast(s, gaussian_den(s), x0, discrete=False, k=6, seed=1).total["beta"]
    d = (fast - full).numpy()  # paired: the same digits, only the choice of t and ε differ
    assert abs(d.mean()) < 4 * d.std(ddof=1) / math.sqrt(d.size)


def test_fast_per_stratum_curve_adds_up_to_the_estimate_and_follows_the_full_curve():
    x0 = gaussian_data(3000, seed=6)
    s = make_schedule("linear", 200)
    full = bound_every_t(s, gaussian_den(s), x0, discrete=False, batch=40_000)
    res = bound_fast(s, gaussian_den(s), x0, discrete=False, k=6, seed=2)
    sizes = np.diff(res.edges)
    per = res.stratum_terms["beta"].numpy()
    # the mean estimate = prior + L_0 + Σ_j n_j · (stratum j's mean term): the curve is the estimate, spread over t
    want = float(res.total["beta"].mean())
    assert float(prior_kl(s, x0).mean()) + per[0] + float((sizes * per[1:]).sum()) == pytest.approx(want, rel=1e-12)
    full_mean = full.terms["beta"].mean(0).numpy()
    for j in range(len(sizes)):  # each stratum's mean term against the full bound's mean over that stratum
        lo, hi = res.edges[j], res.edges[j + 1]
        assert per[j + 1] == pytest.approx(full_mean[lo:hi].mean(), rel=0.15), j
    assert per[0] == pytest.approx(full_mean[0], rel=0.05)
    t_mid = res.stratum_t()
    assert t_mid[0] == 0 and np.all(np.diff(t_mid) > 0) and t_mid[-1] < s.T


def test_bound_rejects_bad_input():
    s = make_schedule("linear", 20)
    with pytest.raises(ValueError, match="NaN"):
        bound_every_t(s, gaussian_den(s), torch.full((2, 1), float("nan")), discrete=False)
    with pytest.raises(ValueError, match="strata"):
        bound_fast(s, gaussian_den(s), gaussian_data(3), k=0, discrete=False)
    with pytest.raises(ValueError, match="zero-terminal"):
        zs = make_schedule("linear", 20, zero_terminal_snr=True)
        bound_every_t(zs, gaussian_den(zs), gaussian_data(3), discrete=False)


# --- the ODE likelihood and the trace ---------------------------------------------------------------


def path_gaussian_den(mu, cov, path=VP_PATH):
    """The exact (x̂_0, ε̂) of N(μ, Σ) data on a Gaussian path at log-SNR λ, differentiable in x."""
    mu, cov = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)

    def den(x, lam):
        a, sd, _, _ = path.coefs(lam)
        C = a * a * cov + sd * sd * torch.eye(len(mu), dtype=torch.float64)
        K = a * cov @ torch.linalg.inv(C)
        x0 = mu + (x - a * mu) @ K.T
        return x0, (x - a * x0) / sd
    return den


def marginal_logp(x, mu, cov, lam, path=VP_PATH):
    a, sd, _, _ = path.coefs(lam)
    C = a * a * torch.as_tensor(cov, dtype=torch.float64) + sd * sd * torch.eye(2, dtype=torch.float64)
    dist = torch.distributions.MultivariateNormal(a * torch.as_tensor(mu, dtype=torch.float64), C)
    return dist.log_prob(x)


MU2, COV2 = [0.5, -0.3], [[0.3, 0.12], [0.12, 0.2]]


def test_ode_likelihood_of_gaussian_data_is_exact():
    lam_max, lam_min = 6.0, -6.0
    g = torch.Generator().manual_seed(2)
    x = torch.as_tensor(MU2, dtype=torch.float64) + torch.randn(200, 2, generator=g, dtype=torch.float64) @ \
        torch.linalg.cholesky(torch.as_tensor(COV2, dtype=torch.float64)).T
    exact = marginal_logp(x, MU2, COV2, lam_max)
    prior = lambda y: marginal_logp(y, MU2, COV2, lam_min)  # noqa: E731
    den = path_gaussian_den(MU2, COV2)
    errs = [float((ode_log_likelihood(den, x, lam_max, lam_min, steps=n, probe="exact", prior=prior).log_p
                   - exact).abs().max()) for n in (30, 60)]
    assert errs[1] < 5e-3 and errs[1] < errs[0] / 3  # Heun: second order in the step
    for probe in ("rademacher", "gaussian"):
        est = ode_log_likelihood(den, x, lam_max, lam_min, steps=60, probe=probe, prior=prior, seed=4).log_p
        d = (est - exact).numpy()
        assert abs(d.mean()) < 4 * d.std(ddof=1) / math.sqrt(d.size) + 5e-3, probe
        assert d.std() > 0  # the estimator really is random


class _ExactFlowNet(torch.nn.Module):
    """A stand-in flow network: the exact u = E[ε − x_0 | x_t] of N(μ, Σ) data at t = t_net / FLOW_CLOCK."""

    config = type("Cfg", (), {"null_label": None})()

    def __init__(self, mu, cov):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.mu, self.cov = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)

    def forward(self, x, t_net, labels=None):
        t = float(t_net[0]) / FLOW_CLOCK
        a, sd = 1 - t, t
        C = a * a * self.cov + sd * sd * torch.eye(len(self.mu), dtype=torch.float64)
        x0 = self.mu + (x - a * self.mu) @ (a * self.cov @ torch.linalg.inv(C)).T
        return (x - a * x0) / sd - x0


def test_flow_model_ode_likelihood_on_its_own_path_is_exact():
    """A u-model through unet_path_denoiser on the flow-matching path: the exact log-density of Gaussian data."""
    lam_max, lam_min = 6.0, -6.0
    g = torch.Generator().manual_seed(3)
    x = torch.as_tensor(MU2, dtype=torch.float64) + torch.randn(100, 2, generator=g, dtype=torch.float64) @ \
        torch.linalg.cholesky(torch.as_tensor(COV2, dtype=torch.float64)).T
    s = make_schedule("flow", 1000, True)
    den = unet_path_denoiser(_ExactFlowNet(MU2, COV2), s, "flow", bf16=False)
    prior = lambda y: marginal_logp(y, MU2, COV2, lam_min, FM_PATH)  # noqa: E731
    res = ode_log_likelihood(den, x, lam_max, lam_min, path=FM_PATH, steps=60, probe="exact", prior=prior)
    exact = marginal_logp(x, MU2, COV2, lam_max, FM_PATH)
    assert float((res.log_p - exact).abs().max()) < 5e-3


@pytest.mark.parametrize("probe", ["exact", "rademacher", "gaussian"])
def test_identity_flow_of_standard_normal_is_the_closed_form(probe):
    """Data N(0, I) on the VP path: every marginal is N(0, I), x̂_0 = a·x, ε̂ = σ·x, the flow is the identity."""
    def den(x, lam):
        a, sd, _, _ = VP_PATH.coefs(lam)
        return a * x, sd * x
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = ode_log_likelihood(den, x, 8.0, -8.0, steps=10, probe=probe)
    closed = -0.5 * (x * x).sum(1) - 3 * math.log(2 * math.pi)
    torch.testing.assert_close(res.log_p, closed, rtol=0, atol=1e-10)
    torch.testing.assert_close(res.x_end, x, rtol=0, atol=1e-12)


def test_hutchinson_trace_is_unbiased_on_a_small_network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 5)).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    _, exact = exact_trace(net, x)
    jac = torch.stack([torch.autograd.functional.jacobian(net, x[i]) for i in range(3)])
    torch.testing.assert_close(exact, jac.diagonal(dim1=1, dim2=2).sum(1))
    g = torch.Generator().manual_seed(1)
    for kind in ("rademacher", "gaussian"):
        reps = 4000
        xs = x.repeat(reps, 1)
        z = torch.randint(0, 2, xs.shape, generator=g).double() * 2 - 1 if kind == "rademacher" else \
            torch.randn(xs.shape, generator=g, dtype=torch.float64)
        _, est = hutchinson_trace(net, xs, z)
        est = est.reshape(reps, 3)
        se = est.std(0) / math.sqrt(reps)
        assert ((est.mean(0) - exact).abs() < 4 * se).all(), kind


def test_ode_rejects_bad_settings():
    den = path_gaussian_den(MU2, COV2)
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="λ_max > λ_min"):
        ode_log_likelihood(den, x, -1.0, 1.0)
    with pytest.raises(ValueError, match="trace estimator"):
        ode_log_likelihood(den, x, 1.0, -1.0, probe="bogus")


# --- weightings -------------------------------------------------------------------------------------

LAMS = np.array([-6.0, -2.0, 0.0, 1.5, 4.0])


def test_weightings_match_their_closed_forms():
    s = make_schedule("cosine", 1000)
    p = W.sampling_density("eps", LAMS, s)
    e = np.exp(-LAMS)
    np.testing.assert_allclose(W.effective_weight("eps", LAMS, s), p)
    np.testing.assert_allclose(W.effective_weight("x0", LAMS, s), p * e)
    np.testing.assert_allclose(W.effective_weight("v", LAMS, s), p * (1 + e))
    np.testing.assert_allclose(W.effective_weight("min_snr", LAMS, s, gamma=5.0), p * np.minimum(1, 5 * e))
    np.testing.assert_allclose(W.effective_weight("elbo", LAMS, s), 1.0)
    np.testing.assert_allclose(W.effective_weight("fm_uniform", LAMS), 0.5 * np.exp(-LAMS / 2))
    lognorm = np.exp(-0.5 * (-LAMS / 2 - 0.0) ** 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(W.effective_weight("fm_logit_normal", LAMS),
                               0.5 * lognorm * (1 + np.exp(-LAMS / 2)) ** 2)
    edm_p = np.exp(-0.5 * ((LAMS - 2.4) / 2.4) ** 2) / (2.4 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(W.effective_weight("edm", LAMS), edm_p * (e + 0.25) / 0.25)


def test_cosine_schedule_density_is_sech():
    """Kingma & Gao: the cosine schedule's p(λ) ∝ sech(λ/2); with improved DDPM's offset s, (1+s)·sech(λ/2)/2π."""
    s = make_schedule("cosine", 1000)
    lam = np.array([-5.0, -2.0, 0.0, 2.0, 3.0])  # near t = 0 the offset s bends it further
    ref = (1 + 0.008) / (2 * math.pi) / np.cosh(lam / 2)
    np.testing.assert_allclose(W.sampling_density("eps", lam, s), ref, rtol=0.01)
    # and v-prediction on it is e^{−λ/2} up to a constant (their Table 1)
    w = W.effective_weight("v", lam, s)
    ratio = w / np.exp(-lam / 2)
    np.testing.assert_allclose(ratio, ratio[2], rtol=0.01)


def test_flow_matching_density_by_monte_carlo():
    g = np.random.default_rng(0)
    t = g.uniform(1e-4, 1 - 1e-4, 400_000)
    lam = 2 * np.log((1 - t) / t)
    hist, edges = np.histogram(lam, bins=40, range=(-6, 6))
    centres = 0.5 * (edges[1:] + edges[:-1])
    dens = hist / (t.size * (edges[1] - edges[0]))
    np.testing.assert_allclose(dens, W.sampling_density("fm_uniform", centres), rtol=0.05)


@pytest.mark.parametrize("target", ["x0", "v"])
@pytest.mark.parametrize("gamma", [None, 5.0])
def test_implied_weight_of_the_projects_loss_two_ways(target, gamma):
    """diffusion.training_loss on an output whose ε̂ is off by δ equals m(λ)·c(λ)·‖δ‖²/D (the weighting's factor)."""
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([5, 100, 400, 800, 990])
    x0 = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    delta = 0.1 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    ab = s.alpha_bar[t].reshape(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    eps_hat = eps + delta
    x0_hat = predict_x0_from_eps(s, x_t, t, eps_hat)
    out = x0_hat if target == "x0" else ab.sqrt() * eps_hat - (1 - ab).sqrt() * x0_hat
    loss = training_loss(s, out, x0, eps, t, target, min_snr_gamma=gamma).double()
    eps_loss = training_loss(s, eps_hat, x0, eps, t, "eps", min_snr_gamma=gamma).double()
    lam = s.log_snr[t].numpy()
    m = W.error_multiplier(target, lam)
    ratio = (loss / eps_loss).numpy()
    if gamma is None:
        np.testing.assert_allclose(ratio, m, rtol=1e-4)
    else:  # min-SNR weights every target's loss to the same ε-weight
        np.testing.assert_allclose(ratio, 1.0, rtol=1e-4)
    assert training_target(s, x0, eps, t, target).shape == x0.shape


def test_flow_matching_error_multiplier_on_its_path():
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([0.05, 0.3, 0.5, 0.9]).double()[:, None]
    x0, eps = torch.randn(4, 8, generator=g, dtype=torch.float64), torch.randn(4, 8, generator=g, dtype=torch.float64)
    x = (1 - t) * x0 + t * eps
    eps_hat = eps + 0.1 * torch.randn(4, 8, generator=g, dtype=torch.float64)
    x0_hat = (x - t * eps_hat) / (1 - t)
    ratio = ((eps_hat - x0_hat) - (eps - x0)).pow(2).sum(1) / (eps_hat - eps).pow(2).sum(1)
    lam = (2 * torch.log((1 - t) / t)).squeeze(1).numpy()
    np.testing.assert_allclose(ratio.numpy(), W.error_multiplier("u", lam), rtol=1e-10)


def test_weighting_curves_are_normalized_and_redraw_with_the_schedule():
    a = W.weighting_curves(make_schedule("linear", 1000), points=101)
    b = W.weighting_curves(make_schedule("cosine", 1000), points=101)
    for o in W.OBJECTIVES:
        assert np.trapezoid(a["curves"][o]["weight"], a["lambda"]) == pytest.approx(1.0)
    assert a["lambda"] != b["lambda"]
    assert not np.allclose(a["curves"]["eps"]["weight"][50], b["curves"]["eps"]["weight"][50])
    with pytest.raises(ValueError, match="unknown objective"):
        W.effective_weight("nope", LAMS)


# --- the CLI, end to end at tiny sizes --------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["full", "fast", "ode"])
def test_cli_end_to_end(tmp_path, estimator, capsys):
    from conftest import make_tiny_checkpoint

    from playground.likelihood.__main__ import main

    ckpt = make_tiny_checkpoint(tmp_path / "tiny.pt", T=20)
    out = tmp_path / "r.json"
    rc = main(["--checkpoint", str(ckpt), "--num", "2", "--estimator", estimator, "--both-splits", "--k", "4",
               "--ode-steps", "2", "--threads", "1", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "bits/dim" in text and "gap" in text
    reports = json.loads(out.read_text())
    assert [r["split"] for r in reports] == ["train", "held-out"]
    for r in reports:
        assert math.isfinite(r["bpd"]) and r["bpd"] > 0 and r["se"] >= 0
        if estimator == "full":
            assert len(r["per_t"]) == 20
            assert sum(r["per_t"]) + r["other"]["prior_bpd"] == pytest.approx(r["bpd"], rel=1e-6)


def test_cli_bad_checkpoint_is_a_message(tmp_path, capsys):
    from playground.likelihood.__main__ import main

    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--num", "2", "--device", "cpu"]) == 2
    assert "not found" in capsys.readouterr().err


def test_bf16_denoiser_keeps_fp32_where_the_noise_is_small(tmp_path):
    """With bf16 on, pairs with σ_t < FP32_BELOW_SIGMA give the fp32 output (bf16 would round x_t by about the
    noise there); the others really run in bf16. Same rule on the ODE's path."""
    from conftest import make_tiny_checkpoint

    from playground.likelihood.mnist import FP32_BELOW_SIGMA, load, schedule_of, unet_denoiser

    model, meta = load(make_tiny_checkpoint(tmp_path / "tiny.pt", T=1000), "cpu")
    s = schedule_of(meta)
    sigma = (1 - s.alpha_bar).sqrt()
    t = torch.tensor([0, 1, 5, 400, 700, 999, 2, 600])
    low = sigma[t] < FP32_BELOW_SIGMA
    assert low.tolist() == [True, True, True, False, False, False, True, False]
    x_t = torch.randn(len(t), 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ref = unet_denoiser(model, s, meta.prediction_type, clip=False, bf16=False)(x_t, t)[1]
    mixed = unet_denoiser(model, s, meta.prediction_type, clip=False, bf16=True)(x_t, t)[1]
    torch.testing.assert_close(mixed[low], ref[low], rtol=1e-5, atol=1e-6)
    assert float((mixed[~low] - ref[~low]).abs().max()) > 1e-4  # bf16 did run there
    path = unet_path_denoiser(model, s, meta.prediction_type, bf16=True)
    path32 = unet_path_denoiser(model, s, meta.prediction_type, bf16=False)
    lam_small_noise = float(s.log_snr[3])  # σ ≈ 0.02
    torch.testing.assert_close(path(x_t, lam_small_noise)[1], path32(x_t, lam_small_noise)[1], rtol=1e-5, atol=1e-6)
    assert float((path(x_t, 0.0)[1] - path32(x_t, 0.0)[1]).abs().max()) > 1e-4


def test_ode_runs_on_a_model_whose_weights_were_made_under_inference_mode(tmp_path):
    """The Sampling tab converts the shared model to channels_last inside inference_mode; the ODE still runs."""
    from conftest import make_tiny_checkpoint

    from playground.likelihood.mnist import evaluate, load

    model, meta = load(make_tiny_checkpoint(tmp_path / "tiny.pt", T=20), "cpu")
    with torch.inference_mode():
        model.to(memory_format=torch.channels_last)
    assert any(p.is_inference() for p in model.parameters())
    x0 = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    before = evaluate(model, meta, x0=x0, estimator="fast", bf16=False).bpd
    r = evaluate(model, meta, x0=x0, estimator="ode", ode_steps=2, bf16=False)
    assert math.isfinite(r.bpd) and not any(p.is_inference() for p in model.parameters())
    assert evaluate(model, meta, x0=x0, estimator="fast", bf16=False).bpd == before  # the same weights


def test_the_bound_does_not_depend_on_how_many_calls_run_at_once(tmp_path):
    """Every term and the fast estimate are the same with one network call at a time or two side by side (the ε
    are drawn in order either way): exactly for the Gaussian denoiser, to float rounding for a UNet."""
    from conftest import make_tiny_checkpoint

    from playground.likelihood.mnist import load, schedule_of, unet_denoiser

    s = make_schedule("linear", 50)
    x0 = gaussian_data(40)
    one, two = (bound_every_t(s, gaussian_den(s), x0, discrete=False, batch=64, workers=w) for w in (1, 2))
    for v in ("beta", "beta_tilde"):
        torch.testing.assert_close(one.terms[v], two.terms[v], rtol=0, atol=0)
    f1, f2 = (bound_fast(s, gaussian_den(s), x0, discrete=False, k=6, batch=16, workers=w) for w in (1, 2))
    torch.testing.assert_close(f1.total["beta"], f2.total["beta"], rtol=0, atol=0)
    model, meta = load(make_tiny_checkpoint(tmp_path / "tiny.pt", T=20), "cpu")
    su, den = schedule_of(meta), unet_denoiser(model, schedule_of(meta), meta.prediction_type)
    digits = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)).mul(255).round().div(127.5).sub(1)
    u1, u2 = (bound_every_t(su, den, digits, batch=16, workers=w) for w in (1, 2))
    torch.testing.assert_close(u1.total(), u2.total(), rtol=1e-9, atol=1e-6)
