"""Gaussian paths and the one conversion between ε̂, x̂_0, v̂ and û (playground/paths.py)."""

import math

import pytest
import torch

from playground import diffusion
from playground.paths import LINEAR, OUTPUTS, flow_model_fn, from_x0_eps, to_linear, to_x0_eps, vp_equivalent, vp_path
from playground.schedules import SCHEDULES, make_schedule


def gen(seed):
    return torch.Generator().manual_seed(seed)


def _pair(B=5, seed=0):
    g = gen(seed)
    return (torch.randn(B, 1, 4, 4, generator=g, dtype=torch.float64),
            torch.randn(B, 1, 4, 4, generator=g, dtype=torch.float64))


def _families():
    """(name, α, σ) per sample, (B, 1, 1, 1): every VP schedule at spread timesteps, and the linear path."""
    t_idx = torch.tensor([0, 1, 250, 700, 998])
    for name in SCHEDULES:
        a, s = vp_path(make_schedule(name, 1000)).scales(t_idx)
        yield name, a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
    t = torch.tensor([1e-3, 0.1, 0.5, 0.9, 0.999], dtype=torch.float64).view(-1, 1, 1, 1)
    yield "linear", *LINEAR.scales(t)


@pytest.mark.parametrize("kind", OUTPUTS)
def test_conversions_are_exact_inverses_for_both_families(kind):
    x0, eps = _pair()
    for name, alpha, sigma in _families():
        x_t = alpha * x0 + sigma * eps
        out = from_x0_eps(x0, eps, kind, alpha, sigma)
        x0_hat, eps_hat = to_x0_eps(out, x_t, kind, alpha, sigma)
        # ε-prediction's x̂_0 divides by α, x_0-prediction's ε̂ by σ: scale the tolerance by those
        tol_x0, tol_eps = 1e-12 / float(alpha.min()), 1e-12 / float(sigma.min())
        torch.testing.assert_close(x0_hat, x0, rtol=0, atol=tol_x0, msg=f"{name}/{kind} x0")
        torch.testing.assert_close(eps_hat, eps, rtol=0, atol=tol_eps, msg=f"{name}/{kind} eps")
        # and float scales give the same as tensor scales (one sample)
        f0, f1 = to_x0_eps(out[2:3], x_t[2:3], kind, float(alpha[2]), float(sigma[2]))
        torch.testing.assert_close(f0, x0_hat[2:3], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(f1, eps_hat[2:3], rtol=1e-12, atol=1e-12)


def test_u_is_the_straight_lines_velocity_and_v_the_circles():
    """u = dx_t/dt on x_t = (1−t)·x_0 + t·ε; v = dx/dφ on x = cos φ·x_0 + sin φ·ε (central differences)."""
    x0, eps = _pair(seed=1)
    h = 1e-6
    for t in (0.2, 0.5, 0.8):
        du = (LINEAR.sample(x0, eps, t + h) - LINEAR.sample(x0, eps, t - h)) / (2 * h)
        a, s = LINEAR.scales(t)
        torch.testing.assert_close(from_x0_eps(x0, eps, "u", a, s), du, rtol=0, atol=1e-8)
    for phi in (0.3, 1.0, 1.4):
        circle = lambda p: math.cos(p) * x0 + math.sin(p) * eps  # noqa: E731
        dv = (circle(phi + h) - circle(phi - h)) / (2 * h)
        v = from_x0_eps(x0, eps, "v", math.cos(phi), math.sin(phi))
        torch.testing.assert_close(v, dv, rtol=0, atol=1e-8)
        assert float((v - from_x0_eps(x0, eps, "u", math.cos(phi), math.sin(phi))).abs().max()) > 0.1  # u is not v


def test_u_is_finite_at_pure_noise_where_eps_is_not():
    x0, eps = _pair(seed=2)
    x_t = LINEAR.sample(x0, eps, 1.0)
    u = from_x0_eps(x0, eps, "u", 0.0, 1.0)
    x0_hat, eps_hat = to_x0_eps(u, x_t, "u", 0.0, 1.0)
    torch.testing.assert_close(x0_hat, x_t - u, rtol=0, atol=0)
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=1e-15)
    torch.testing.assert_close(eps_hat, eps, rtol=0, atol=0)
    x0_eps, _ = to_x0_eps(eps, x_t, "eps", 0.0, 1.0)  # ε-prediction: (x − ε̂)/0
    assert not torch.isfinite(x0_eps).any()


def test_vp_equivalence_of_the_linear_path():
    """x_lin / √(α² + σ²) lies on the VP path with ᾱ = α²/(α² + σ²), and to_linear inverts it."""
    x0, eps = _pair(seed=3)
    for t in (0.01, 0.3, 0.77, 1.0):
        ab, r = vp_equivalent(*LINEAR.scales(t))
        x_vp = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
        torch.testing.assert_close(LINEAR.sample(x0, eps, t) / r, x_vp, rtol=0, atol=1e-14)
        tau, c = to_linear(ab)
        assert tau == pytest.approx(t, abs=1e-14) and c == pytest.approx(1 / r, rel=1e-14)


def test_flow_schedule_is_the_linear_path_on_t_equals_k_plus_one_over_T():
    T = 50
    s = make_schedule("flow", T)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    ref = (1 - t) ** 2 / ((1 - t) ** 2 + t**2)
    torch.testing.assert_close(s.alpha_bar, ref, rtol=1e-12, atol=1e-15)
    assert float(s.alpha_bar[-1]) == 0.0 and s.zero_terminal_snr
    tau, _ = to_linear(s.alpha_bar)
    torch.testing.assert_close(tau, t, rtol=0, atol=1e-12)


def test_flow_model_fn_feeds_the_network_the_straight_path():
    """The samplers' x_t (VP scale) and index t reach the network as x_lin = (1−τ)·x_0 + τ·ε and 1000·τ."""
    T = 20
    s = make_schedule("flow", T)
    x0, eps = _pair(B=3, seed=4)
    t_idx = torch.tensor([0, 9, 19])
    seen = {}

    def net(x, t_net):
        seen["x"], seen["t"] = x, t_net
        return torch.zeros_like(x)

    x_vp = diffusion.q_sample(s, x0, t_idx, eps)
    flow_model_fn(net, s)(x_vp, t_idx)
    tau = ((t_idx + 1) / T).double()
    torch.testing.assert_close(seen["t"], 1000 * tau, rtol=1e-7, atol=0)  # √(1−ᾱ) near ᾱ = 1 loses digits
    torch.testing.assert_close(seen["x"], LINEAR.sample(x0, eps, tau.view(-1, 1, 1, 1)), rtol=0, atol=1e-7)


def test_u_training_target_and_min_snr_weight_measure_the_x0_error():
    """On any schedule the u target is ε − x_0, and min-SNR's u weight gives min(SNR, γ)·‖x̂_0 − x_0‖²."""
    s = make_schedule("cosine", 1000)
    x0, eps = _pair(B=6, seed=5)
    t = torch.tensor([3, 100, 300, 500, 800, 990])
    target = diffusion.training_target(s, x0, eps, t, "flow")
    torch.testing.assert_close(target, eps - x0, rtol=0, atol=0)
    out = target + 0.3 * torch.randn(target.shape, generator=gen(6), dtype=torch.float64)
    x0_hat, _ = diffusion.model_output_to_x0_eps(s, out, diffusion.q_sample(s, x0, t, eps), t, "u")
    snr = s.snr[t]
    ref = snr.clamp(max=5.0) * (x0_hat - x0).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(diffusion.training_loss(s, out, x0, eps, t, "u", min_snr_gamma=5.0).double(), ref,
                               rtol=1e-5, atol=0)
