"""What the GPU paths change must not change the numbers: schedule tables on the device, the deterministic
upsampling, and CUDA-graph replays of the sampler's model call (CUDA-only tests skip elsewhere, with the reason)."""
import pytest
import torch
import torch.nn.functional as F
from conftest import make_tiny_checkpoint

from playground import diffusion
from playground.mnist.checkpoint import load_model
from playground.mnist.model import _upsample_nearest
from playground.mnist.sample import generate, make_model_fn
from playground.schedules import make_schedule

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


def test_schedule_tables_move_to_the_device_bit_for_bit(device):
    s = make_schedule("cosine", 1000, zero_terminal_snr=True)
    d = s.to(device)
    assert d.alpha_bar.device.type == torch.device(device).type and s.to("cpu") is s
    for name in ("betas", "alphas", "alpha_bar", "alpha_bar_prev", "snr", "log_snr", "posterior_variance"):
        assert torch.equal(getattr(d, name).cpu(), getattr(s, name)), name
    g = torch.Generator().manual_seed(0)
    x0, eps, t = (torch.randn(16, 1, 28, 28, generator=g), torch.randn(16, 1, 28, 28, generator=g),
                  torch.randint(0, 1000, (16,), generator=g))
    on_dev = diffusion.q_sample(d, x0.to(device), t.to(device), eps.to(device))
    torch.testing.assert_close(on_dev.cpu(), diffusion.q_sample(s, x0, t, eps), rtol=1e-6, atol=1e-6)
    loss_dev = diffusion.training_loss(d, x0.to(device), x0.to(device) * 0, eps.to(device), t.to(device), "v", 5.0)
    torch.testing.assert_close(loss_dev.cpu(), diffusion.training_loss(s, x0, x0 * 0, eps, t, "v", 5.0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsampling_equals_nearest_interpolation_values_and_gradients(device, channels_last):
    h = torch.randn(3, 5, 7, 7, generator=torch.Generator().manual_seed(1))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = h.clone().to(device).contiguous(memory_format=fmt).requires_grad_(True)
    y = _upsample_nearest(x, (14, 14))
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(2))
    (y * w.to(device)).sum().backward()
    ref_x = h.detach().clone().requires_grad_(True)
    ref = F.interpolate(ref_x, scale_factor=2.0, mode="nearest")
    (ref * w).sum().backward()
    assert torch.equal(y.detach().cpu(), ref.detach())
    torch.testing.assert_close(x.grad.cpu(), ref_x.grad, rtol=1e-6, atol=1e-6)  # each = the sum of its 4 copies' w


@cuda_only
@pytest.mark.parametrize("bf16", [False, True])
def test_cuda_graph_sampling_gives_the_digits_eager_sampling_gives(tmp_path, bf16):
    model, meta = load_model(make_tiny_checkpoint(tmp_path / "t.pt"), device="cuda")
    kw = dict(num=12, batch_size=5, steps=6, seed=3, bf16=bf16)  # batches of 5, 5, 2: two shapes, graphs reused
    eager, lab_e = generate(model, meta, cuda_graph=False, **kw)
    graphed, lab_g = generate(model, meta, cuda_graph=True, **kw)
    assert torch.equal(lab_e, lab_g)
    torch.testing.assert_close(graphed, eager, rtol=1e-4, atol=1e-4)


@cuda_only
def test_graphed_model_fn_replays_for_any_t_and_runs_other_devices_eagerly(tmp_path):
    model, meta = load_model(make_tiny_checkpoint(tmp_path / "t.pt"), device="cuda")
    labels = torch.arange(4, device="cuda") % 10
    eager = make_model_fn(model, labels, 2.0)
    graphed = make_model_fn(model, labels, 2.0, cuda_graph=True)
    x = torch.randn(4, 1, 28, 28, device="cuda")
    with torch.no_grad():
        for t in (99, 50, 0):
            tt = torch.full((4,), t, device="cuda")
            torch.testing.assert_close(graphed(x, tt), eager(x, tt), rtol=1e-5, atol=1e-5)
    assert len(graphed.graphs) == 1 and graphed.eager_calls == 0  # one capture served every t
