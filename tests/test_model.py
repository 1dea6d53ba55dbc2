"""UNet: shapes, conditioning, determinism, config round trip, CPU memory formats."""
import dataclasses

import pytest
import torch
from conftest import TINY_MODEL

from playground.mnist.model import UNet, UNetConfig, timestep_embedding

TINY = UNetConfig(**TINY_MODEL)
pytestmark = pytest.mark.usefixtures("one_thread_module")


def _randomize(model: UNet, seed: int = 0) -> UNet:
    """Zero-initialised output convs make a fresh UNet output exactly 0; perturb every weight."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def test_fresh_model_outputs_zero_and_has_the_right_shape():
    model = UNet(TINY)
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = model(x, torch.tensor([0, 500, 999]), torch.tensor([1, 2, 10]))
    assert out.shape == (3, 1, 28, 28)
    assert torch.count_nonzero(out) == 0  # zero-init output conv: starts as "predict 0"


@pytest.mark.parametrize("cfg", [TINY, dataclasses.replace(TINY, num_classes=None, attention=False),
                                 dataclasses.replace(TINY, channels=(8, 16, 16), num_res_blocks=2,
                                                     norm_full_res=True)])
def test_shapes_for_several_configs(cfg):
    model = _randomize(UNet(cfg))
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = model(x, torch.tensor([3, 700]), torch.tensor([4, 5]) if cfg.conditional else None)
    assert out.shape == x.shape and torch.isfinite(out).all() and out.abs().sum() > 0


def test_labels_none_means_null_label_and_labels_matter():
    model = _randomize(UNet(TINY))
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    t = torch.full((4,), 400)
    with torch.no_grad():
        none = model(x, t)
        null = model(x, t, torch.full((4,), TINY.num_classes))
        three = model(x, t, torch.full((4,), 3))
    torch.testing.assert_close(none, null)
    assert (three - null).abs().mean() > 1e-3


def test_timestep_matters_and_scalar_t_broadcasts():
    model = _randomize(UNet(TINY))
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = model(x, torch.tensor([10, 10])), model(x, torch.tensor([900, 900]))
        c = model(x, torch.tensor(10))
    assert (a - b).abs().mean() > 1e-3
    torch.testing.assert_close(a, c)


def test_timestep_embedding_values():
    e = timestep_embedding(torch.tensor([0, 1]), 4)
    # half = 2 frequencies: 1 and 10000^-0.5 = 0.01; cos then sin
    torch.testing.assert_close(e[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    torch.testing.assert_close(e[1], torch.tensor([torch.cos(torch.tensor(1.0)), torch.cos(torch.tensor(0.01)),
                                                   torch.sin(torch.tensor(1.0)), torch.sin(torch.tensor(0.01))]))


def test_init_is_deterministic_under_a_seed():
    torch.manual_seed(0)
    a = UNet(TINY).state_dict()
    torch.manual_seed(0)
    b = UNet(TINY).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_round_trip_and_default_size():
    cfg = dataclasses.replace(UNetConfig(), channels=(16, 32, 48), num_classes=None)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    default = UNet(UNetConfig())
    assert default.num_params() == 1_300_225  # pinned: changing the default architecture is deliberate
    assert default.num_params() * 4 < 10e6  # fp32 EMA weights fit the 10 MB checkpoint limit


def test_channels_last_and_bf16_agree_with_fp32():
    model = _randomize(UNet(TINY))
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    t, y = torch.tensor([1, 200, 600, 999]), torch.tensor([0, 1, 2, 10])
    with torch.no_grad():
        ref = model(x, t, y)
        cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last), t, y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = model(x, t, y).float()
    torch.testing.assert_close(cl, ref, rtol=1e-4, atol=1e-5)
    assert (bf - ref).abs().max() < 0.05 * ref.abs().max() + 1e-3


def test_attention_equals_scaled_dot_product_attention():
    """The explicit softmax(q kᵀ/√d) v (faster on the CPU for 49 tokens) is F.scaled_dot_product_attention."""
    import torch.nn.functional as F

    from playground.mnist.model import Attention

    attn = Attention(16, heads=4, groups=4)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        x = torch.randn(3, 16, 7, 7, generator=g)
        B, C, H, W = x.shape
        qkv = attn.qkv(attn.norm(x)).reshape(B, 3, 4, C // 4, H * W)
        q, k, v = qkv.transpose(-1, -2).unbind(1)
        ref = x + attn.proj(F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(B, C, H, W))
        torch.testing.assert_close(attn(x), ref, rtol=1e-5, atol=1e-5)


def test_patch_size_2_runs_the_unet_at_14x14_and_keeps_pixels_in_place():
    cfg = dataclasses.replace(TINY, channels=(8, 16, 16), patch_size=2)  # levels at 14, 7, 4 (odd: 7 -> 4 -> 7)
    model = _randomize(UNet(cfg))
    assert model.stem.in_channels == 4 and model.out.out_channels == 4  # 2x2 patches of 1 channel
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    seen = {}
    model.down[0][0].register_forward_hook(lambda m, i, o: seen.update(level0=o.shape) and None)
    model.down[2][0].register_forward_hook(lambda m, i, o: seen.update(level2=o.shape) and None)
    with torch.no_grad():
        out = model(x, torch.tensor([5, 600]), torch.tensor([1, 2]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert seen["level0"][-2:] == (14, 14) and seen["level2"][-2:] == (4, 4)
    # pixel shuffle puts output channel 2*i + j of each patch at pixel (2r + i, 2c + j)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        y = model(x, torch.tensor([5, 600]), torch.tensor([1, 2]))
    corner = [[1.0, 2.0], [3.0, 4.0]]
    assert y[0, 0, :2, :2].tolist() == corner and y[1, 0, 26:, 26:].tolist() == corner


def test_checkpoints_from_before_patch_size_rebuild_the_same_model():
    old = {k: v for k, v in UNetConfig().to_dict().items() if k != "patch_size"}  # a config stored before the option
    cfg = UNetConfig.from_dict(old)
    assert cfg == UNetConfig() and cfg.patch_size == 1
    assert UNet(cfg).num_params() == 1_300_225
