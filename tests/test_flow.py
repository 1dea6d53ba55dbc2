"""Flow matching in the core: samplers on a flow model, DDIM ≡ Euler, the trainer and the CLI."""

import pytest
import torch

from playground.paths import flow_model_fn
from playground.samplers import make_timesteps, sample, sample_loop
from playground.schedules import make_schedule

T = 1000
S0 = 0.5  # data N(0, S0²·I): the exact velocity and the ODE's solution are known in closed form


def gen(seed):
    return torch.Generator().manual_seed(seed)


def gaussian_velocity(x, t_net):
    """u*(x, t) = (x − E[x_0|x_t = x])/t for data N(0, S0²): E[x_0|x] = (1−t)·S0²·x/((1−t)²·S0² + t²)."""
    t = (t_net / 1000.0).double().view(-1, *([1] * (x.dim() - 1)))
    x0_hat = (1 - t) * S0**2 * x / ((1 - t) ** 2 * S0**2 + t**2)
    return ((x - x0_hat) / t).to(x.dtype)


def wobbly_velocity(x, t_net):
    """A nonlinear, time-dependent 'network' (any function will do for the identities)."""
    t = (t_net / 1000.0).view(-1, *([1] * (x.dim() - 1))).to(x.dtype)
    return torch.tanh(1.7 * x + t) * (1 + t) - 0.3 * x.roll(1, -1)


def euler_on_the_flow_ode(u, x1, taus):
    """Plain Euler in flow time on x_lin, written independently of samplers.py: x ← x + (τ' − τ)·u(x, τ)."""
    x = x1
    for tau, tau_next in zip(taus, taus[1:]):
        x = x + (tau_next - tau) * u(x, torch.full((x.shape[0],), 1000.0 * tau, dtype=x.dtype))
    return x


def heun_on_the_flow_ode(u, x1, taus):
    """EDM's Algorithm 1 shape (no churn) in flow time; no correction on the last step onto τ = 0."""
    x, nfe = x1, 0
    for tau, tau_next in zip(taus, taus[1:]):
        tb = torch.full((x.shape[0],), 1000.0 * tau, dtype=x.dtype)
        d_cur = u(x, tb)
        x_next = x + (tau_next - tau) * d_cur
        nfe += 1
        if tau_next > 0:
            d_prime = u(x_next, torch.full((x.shape[0],), 1000.0 * tau_next, dtype=x.dtype))
            x_next = x + (tau_next - tau) * (0.5 * d_cur + 0.5 * d_prime)
            nfe += 1
        x = x_next
    return x, nfe


def _taus(n, spacing="trailing"):
    ts = [t for t, _ in make_timesteps(T, n, spacing)]
    return [(t + 1) / T for t in ts] + [0.0]


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_ddim_eta0_on_a_flow_model_is_euler_on_its_ode(n):
    s = make_schedule("flow", T)
    x1 = torch.randn(4, 1, 5, 5, generator=gen(n))
    fn = flow_model_fn(wobbly_velocity, s)
    ddim = sample(fn, s, x1.shape, sampler="ddim", eta=0.0, num_steps=n, spacing="trailing", x_T=x1,
                  prediction_type="u")
    euler = sample(fn, s, x1.shape, sampler="euler", num_steps=n, spacing="trailing", x_T=x1, prediction_type="u")
    ref = euler_on_the_flow_ode(wobbly_velocity, x1, _taus(n))
    assert float(ref.abs().max()) > 0.1
    torch.testing.assert_close(ddim, ref, rtol=0, atol=2e-5)
    torch.testing.assert_close(euler, ref, rtol=0, atol=2e-5)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_heun_follows_edm_algorithm_1_and_counts_nfe_honestly(n):
    s = make_schedule("flow", T)
    x1 = torch.randn(3, 1, 4, 4, generator=gen(10 + n))
    states = list(sample_loop(flow_model_fn(wobbly_velocity, s), s, x1.shape, sampler="heun", num_steps=n,
                              spacing="trailing", x_T=x1, prediction_type="u"))
    ref, nfe = heun_on_the_flow_ode(wobbly_velocity, x1, _taus(n))
    torch.testing.assert_close(states[-1].x_t, ref, rtol=0, atol=2e-5)
    assert states[-1].nfe == nfe == 2 * n - 1
    assert [st.nfe for st in states] == [2 * (i + 1) for i in range(n - 1)] + [2 * n - 1]


def test_heun_is_second_order_and_euler_first_on_the_gaussian_flow():
    """Exact solution for N(0, S0²) data: x_0 = S0·x_1. Heun's error falls ~4x per doubling, Euler's ~2x."""
    s = make_schedule("flow", T)
    x1 = torch.randn(64, 2, generator=gen(0), dtype=torch.float64)
    fn = flow_model_fn(gaussian_velocity, s)

    def err(sampler, n):
        x = sample(fn, s, x1.shape, sampler=sampler, num_steps=n, spacing="trailing", x_T=x1, prediction_type="u")
        return float((x.double() - S0 * x1).abs().max())

    e_eu = [err("euler", n) for n in (8, 16, 32)]
    e_he = [err("heun", n) for n in (8, 16, 32)]
    for a, b in zip(e_eu, e_eu[1:]):
        assert 1.6 < a / b < 2.6
    for a, b in zip(e_he, e_he[1:]):
        assert a / b > 3.0
    assert e_he[0] < e_eu[-1]


@pytest.mark.parametrize("sampler, tol", [("ddim", 0.08), ("euler", 0.08), ("dpmpp_2m", 0.01), ("heun", 0.003)])
def test_every_deterministic_sampler_lands_on_the_gaussian_flows_answer(sampler, tol):
    """50 steps: the first-order solvers within 0.08 of x_0 = S0·x_1 (|x_1| ≤ 4), the second-order ones 10x closer."""
    s = make_schedule("flow", T)
    x1 = torch.randn(256, 2, generator=gen(1), dtype=torch.float64)
    x = sample(flow_model_fn(gaussian_velocity, s), s, x1.shape, sampler=sampler, num_steps=50, spacing="trailing",
               x_T=x1, prediction_type="u")
    torch.testing.assert_close(x.double(), S0 * x1, rtol=0, atol=tol)


def test_ddpm_on_a_flow_model_samples_the_right_distribution():
    s = make_schedule("flow", T)
    x = sample(flow_model_fn(gaussian_velocity, s), s, (4000, 2), sampler="ddpm", num_steps=100, spacing="trailing",
               generator=gen(2), prediction_type="u")
    assert torch.isfinite(x).all()
    assert float(x.std()) == pytest.approx(S0, rel=0.05) and abs(float(x.mean())) < 0.03


def test_a_flow_model_samples_on_a_vp_schedule_too():
    """The conversion is schedule-free: a flow model under DDIM on the cosine schedule reaches the same answer."""
    s = make_schedule("cosine", T)
    x1 = torch.randn(128, 2, generator=gen(3), dtype=torch.float64)
    x = sample(flow_model_fn(gaussian_velocity, s), s, x1.shape, sampler="ddim", num_steps=100, spacing="trailing",
               x_T=x1, prediction_type="u")
    torch.testing.assert_close(x.double(), S0 * x1, rtol=0, atol=0.05)


# --- the MNIST trainer and the CLI ----------------------------------------------------------------------------


def _flow_fixed_loss(model, data, n=128):
    """The velocity loss on a fixed batch with fixed t and ε (comparable before and after training)."""
    from playground import flow

    dev = next(model.parameters()).device
    g = gen(99)
    x0 = data.train_x0()[:n].to(dev)
    t = torch.rand(n, generator=g).to(dev)
    eps = torch.randn(x0.shape, generator=g).to(dev)
    x_t, t_net = flow.flow_inputs(x0, eps, t)
    with torch.no_grad():
        out = model(x_t, t_net, data.train_labels[:n].to(dev))
    return float(flow.flow_loss(out, x0, eps).mean())


@pytest.fixture(scope="module")
def mnist():
    from playground.mnist.data import load_mnist

    return load_mnist()


@pytest.mark.parametrize("t_sampling", ["uniform", "logit_normal"])
def test_a_flow_model_trains_on_real_digits_with_a_falling_loss(mnist, t_sampling, tmp_path):
    from conftest import TINY_MODEL

    from playground.mnist.checkpoint import load_model
    from playground.mnist.model import UNetConfig
    from playground.mnist.sample import generate
    from playground.mnist.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    c = TrainConfig.from_preset("tiny", prediction_type="flow", t_sampling=t_sampling, steps=40, time_budget_s=None,
                                batch_size=32, warmup_steps=5, log_every=1, preview_every=0, bf16="off",
                                ema_decay=0.9, model=UNetConfig(**TINY_MODEL))
    assert c.min_snr_gamma is None  # from_preset turns γ off for flow
    tr = Trainer(c, data=mnist, device="cpu", out=tmp_path / "f.pt")
    before = _flow_fixed_loss(tr.model.eval(), mnist)
    events = list(tr.run())
    after = _flow_fixed_loss(tr.model.eval(), mnist)
    assert after < 0.8 * before, (before, after)
    assert events[-1].kind == "done" and events[-1].step == 40
    model, meta = load_model(tmp_path / "f.pt")
    assert (meta.prediction_type, meta.schedule, meta.zero_terminal_snr) == ("u", "flow", True)
    assert meta.extra["train_config"]["t_sampling"] == t_sampling
    for sampler in ("euler", "heun", "ddim", "dpmpp_2m", "ddpm"):
        x, _ = generate(model, meta, num=4, steps=3, sampler=sampler, bf16="off")
        assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()


def test_flow_objective_refuses_diffusion_only_options(mnist):
    from playground.mnist.train import TrainConfig, Trainer

    with pytest.raises(ValueError, match="min-SNR-γ weights the diffusion objectives"):
        Trainer(TrainConfig(prediction_type="flow", min_snr_gamma=5.0), data=mnist, device="cpu")
    with pytest.raises(ValueError, match="flow matching samples t as uniform or logit_normal, not 'lognormal'"):
        Trainer(TrainConfig(prediction_type="flow", min_snr_gamma=None, t_sampling="lognormal"), data=mnist,
                device="cpu")
    with pytest.raises(ValueError, match="logit_normal t is for the flow objective"):
        Trainer(TrainConfig(t_sampling="logit_normal"), data=mnist, device="cpu")


def test_flow_cli_round_trip(tmp_path):
    """python -m playground.train --objective flow … then python -m playground.sample --sampler euler|heun|…"""
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    root = Path(__file__).resolve().parents[1]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}

    def run(*args):
        p = subprocess.run([sys.executable, "-m", *args], cwd=root, capture_output=True, text=True, timeout=240,
                           env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    ckpt = tmp_path / "flow.pt"
    out = run("playground.train", "--objective", "flow", "--t-sampling", "logit_normal", "--steps", "3",
              "--batch-size", "16", "--channels", "8,16", "--preview-every", "0", "--bf16", "off", "--out", str(ckpt))
    assert "u/flow/T=1000" in out and "finished (steps) after 3 steps" in out
    from playground.mnist.sample import main as sample_main

    for sampler in ("euler", "heun", "ddim", "dpm++"):  # one through a fresh interpreter, the rest in this one
        args = ["--checkpoint", str(ckpt), "--sampler", sampler, "--steps", "2", "--num", "3", "--bf16", "off",
                "--out", str(tmp_path / f"{sampler}.npy")]
        if sampler == "euler":
            run("playground.sample", *args)
        else:
            assert sample_main(args) == 0
        a = np.load(tmp_path / f"{sampler}.npy")
        assert a.shape == (3, 28, 28) and np.isfinite(a).all()
