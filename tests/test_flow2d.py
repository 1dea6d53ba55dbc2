"""The 2-D lab's flow matching: exact velocity, the flow ODE, straightness, reflow (playground/toy2d/flow2d.py)."""

import math

import pytest
import torch

from playground import toy2d
from playground.flow import length_ratio, straightness
from playground.toy2d.mlp import TrainConfig2D


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_exact_velocity_equals_brute_force():
    """u* = (x − Σᵢ wᵢ·x_i)/t with wᵢ ∝ exp(−‖x − (1−t)·x_i‖²/(2t²)): the posterior over the data points."""
    x0 = toy2d.make_dataset("moons", 300, 0).double()
    x = torch.randn(50, 2, generator=gen(1), dtype=torch.float64) * 1.3
    for t in (0.05, 0.3, 0.7, 1.0):
        logw = -((x[:, None, :] - (1 - t) * x0[None]) ** 2).sum(-1) / (2 * t * t)  # (M, N)
        w = torch.softmax(logw, 1)
        ref = (x - w @ x0) / t
        torch.testing.assert_close(toy2d.exact_velocity(x0, x, t), ref, rtol=1e-9, atol=1e-9)
        # the same field as E[ε − x_0 | x_t]: ε̂ − x̂_0 through the one conversion
        eps_hat = (x - (1 - t) * (w @ x0)) / t
        torch.testing.assert_close(toy2d.exact_velocity(x0, x, t), eps_hat - w @ x0, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="0 < t ≤ 1"):
        toy2d.exact_velocity(x0, x, 0.0)


def test_flow_ode_with_the_exact_velocity_lands_on_the_gaussians_mean_and_covariance():
    data = toy2d.make_dataset("gaussian", 2000, 0).double()
    x1 = torch.randn(2000, 2, generator=gen(2), dtype=torch.float64)
    out = toy2d.flow_ode(toy2d.exact_velocity_fn(data), x1, 30, solver="heun").samples.double()
    mean = torch.as_tensor(toy2d.GAUSSIAN_MEAN).double()
    cov = torch.as_tensor(toy2d.GAUSSIAN_COV).double()
    assert float((out.mean(0) - mean).abs().max()) < 0.06
    assert float((torch.cov(out.T) - cov).abs().max()) < 0.08
    # the closed-form Gaussian velocity: the population answer, to ODE accuracy
    g = toy2d.flow_ode(toy2d.gaussian_velocity_fn(mean, cov), x1, 30, solver="heun").samples.double()
    assert float((torch.cov(g.T) - cov).abs().max()) < 0.08


def test_length_ratio_and_straightness_of_known_paths():
    x0, x1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]])
    # a straight line at constant speed: ratio 1, straightness 0; at uneven speed: ratio still 1, straightness > 0
    ts = torch.linspace(1, 0, 11)
    line = torch.stack([t * x1 + (1 - t) * x0 for t in ts])
    assert float(length_ratio(line)) == pytest.approx(1.0, abs=1e-12)
    assert straightness(line, ts) == pytest.approx(0.0, abs=1e-12)
    uneven = torch.stack([(t**3) * x1 + (1 - t**3) * x0 for t in ts])
    assert float(length_ratio(uneven)) == pytest.approx(1.0, abs=1e-12) and straightness(uneven, ts) > 0.1
    # a half circle from x1 to x0: π/2, whatever the time parameterisation
    phi = torch.linspace(math.pi, 0, 2001)
    arc = torch.stack([torch.cos(phi), torch.sin(phi)], -1)[:, None, :]
    assert float(length_ratio(arc)) == pytest.approx(math.pi / 2, rel=1e-5)
    assert float(length_ratio(arc[torch.linspace(0, 1, 2001).pow(2).mul(2000).round().long().unique()])) == \
        pytest.approx(math.pi / 2, rel=1e-4)


def _small(steps=250):
    return TrainConfig2D(steps=steps, time_budget_s=None, batch_size=256, seed=0)


def test_a_flow_mlp_learns_and_runs_under_every_2d_sampler():
    data = toy2d.make_dataset("gaussians8", 1000, 0)
    trainer = toy2d.train_flow(data, _small(400))
    assert trainer.losses[-1] < 0.7 * trainer.losses[0]
    den = trainer.denoiser()
    assert den.prediction_type == "u"
    s = trainer.s
    x_T = toy2d.start_noise(300, 0)
    flow = toy2d.flow_ode(toy2d.model_velocity_fn(trainer.ema), x_T, 20).samples
    for sampler in ("ddim", "dpmpp_2m", "pf_ode"):
        out = toy2d.sample_2d(den, s, x_T, sampler=sampler, num_steps=20).samples
        assert torch.isfinite(out).all()
        assert toy2d.energy_distance(out, data) < 3 * toy2d.energy_distance(flow, data) + 0.1


def test_reflow_pairs_are_deterministic_and_straightness_falls_after_one_round():
    data = toy2d.make_dataset("moons", 800, 0)
    u = toy2d.model_velocity_fn(toy2d.train_flow(data, _small()).ema)
    a0, a1 = toy2d.reflow_pairs(u, 500, seed=7, num_steps=40)
    b0, b1 = toy2d.reflow_pairs(u, 500, seed=7, num_steps=40)
    assert torch.equal(a0, b0) and torch.equal(a1, b1)
    c0, _ = toy2d.reflow_pairs(u, 500, seed=8, num_steps=40)
    assert not torch.equal(a0, c0)
    rounds = list(toy2d.reflow(data, rounds=1, cfg=_small(), n_pairs=800, pair_steps=40, n_test=400, seed=0))
    again = list(toy2d.reflow(data, rounds=1, cfg=_small(), n_pairs=800, pair_steps=40, n_test=400, seed=0))
    assert [r.energy for r in rounds] == [r.energy for r in again]  # the whole procedure is seeded
    before, after = rounds
    assert after.straightness < 0.5 * before.straightness, (before.straightness, after.straightness)
    assert after.length_ratio < before.length_ratio
    assert after.energy[1] < before.energy[1]  # one Euler step gets better
