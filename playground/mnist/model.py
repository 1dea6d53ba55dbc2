"""A compact, time- and class-conditioned UNet for 28x28 MNIST, designed for CPU speed.

Notation
--------
=========  ==========================================================================
x_t        noisy image, (B, 1, 28, 28), roughly in [-1, 1]            (DDPM x_t)
t          integer timestep, (B,) long in [0, T)                       (DDPM t)
labels     class labels, (B,) long in [0, num_classes]; the value ``num_classes`` is
           the *null* label used for classifier-free guidance     (CFG, 2207.12598)
temb       time (+ class) embedding, (B, time_dim)
output     eps, x0 or v prediction (the model does not know which), (B, 1, 28, 28)
=========  ==========================================================================

Layout (default config, 28 -> 14 -> 7)::

    stem conv ─ [Res]₂₈ ─ down ─ [Res]₁₄ ─ down ─ [Res]₇ ─ Res+Attn+Res (mid)
                  │skip             │skip           │skip
    out conv ─ [Res]₂₈ ── up ─── [Res]₁₄ ─── up ── [Res]₇

CPU choices (measured in ``bench/bench_train_step.py``): no GroupNorm at full
resolution (``norm_full_res=False``), self-attention only at 7x7 (49 tokens), FiLM
(scale/shift) time conditioning, zero-initialised last conv of every residual branch.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from playground.mnist.config_cli import option

__all__ = ["UNetConfig", "UNet", "timestep_embedding"]


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild the UNet; stored inside every checkpoint."""

    image_size: int = option(28, "H = W of the images")
    in_channels: int = option(1, "image channels (MNIST is greyscale)")
    channels: tuple[int, ...] = option((32, 64, 96), "UNet width per resolution level, e.g. 32,64,96")
    num_res_blocks: int = option(1, "residual blocks per level on the way down (and up)")
    attention: bool = option(True, "self-attention in the middle block (7×7 = 49 tokens)")
    attn_heads: int = option(4, "heads of that attention")
    norm_full_res: bool = option(False, "GroupNorm inside the 28×28 blocks (slow on CPU, little gain)")
    groups: int = option(8, "GroupNorm groups elsewhere")
    time_dim: int = option(128, "width of the time/class embedding")
    num_classes: int | None = option(10, "None = unconditional; else label num_classes is the null label")
    dropout: float = option(0.0, "dropout inside residual blocks (0 keeps training deterministic)")
    # >1: the stem sees (p×p)-pixel patches (pixel unshuffle), 28×28 → 14×14 for p = 2, and the output conv
    # predicts p·p values per patch (pixel shuffle). 1 = the original UNet.
    patch_size: int = option(1, "the stem's patch size (2: the UNet works on 14×14 patches)")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "channels" in kw:
            kw["channels"] = tuple(int(c) for c in kw["channels"])
        return cls(**kw)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    @property
    def null_label(self) -> int | None:
        return self.num_classes


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Transformer / DDPM). t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _norm(ch: int, groups: int, enabled: bool) -> nn.Module:
    return nn.GroupNorm(math.gcd(groups, ch), ch) if enabled else nn.Identity()


class ResBlock(nn.Module):
    """h = conv(act(norm(x))); h = FiLM(norm(h), temb); h = conv(act(h)); return h + skip(x)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, norm: bool, dropout: float):
        super().__init__()
        self.norm1 = _norm(c_in, groups, norm)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * c_out)  # -> (scale, shift)
        self.norm2 = _norm(c_out, groups, norm)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # residual branch starts as identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        scale, shift = self.film(temb)[:, :, None, None].chunk(2, dim=1)  # (B, c_out, 1, 1) each
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions (used at 7x7 only)."""

    def __init__(self, ch: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(math.gcd(groups, ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # (B, heads, HW, C/heads) each
        # softmax(q kᵀ/√d) v written out: equal to F.scaled_dot_product_attention, but for 49 tokens the explicit
        # matmuls are much faster on the CPU in bf16 (bench/bench_recipe.py RESULTS)
        if q.device.type == "cpu" or torch.are_deterministic_algorithms_enabled():  # (the fused backward uses atomics)
            # (B, heads, HW, HW), fp32
            attn = (q @ k.transpose(-1, -2)).float().mul(q.shape[-1] ** -0.5).softmax(dim=-1)
            h = attn.to(v.dtype) @ v  # (B, heads, HW, C/heads)
        else:  # GPUs: the fused kernel (one launch instead of five)
            h = F.scaled_dot_product_attention(q, k, v)
        h = h.transpose(-1, -2).reshape(B, C, H, W)
        return x + self.proj(h)


def _upsample_nearest(h: torch.Tensor, size) -> torch.Tensor:
    """Nearest-neighbour upsampling to ``size``. An exact x2 is a broadcast (each pixel repeated 2x2): the same values
    as F.interpolate, but its gradient is a plain sum, deterministic on CUDA (interpolate's backward uses atomics)."""
    B, C, H, W = h.shape
    if h.device.type == "cpu" or tuple(size) != (2 * H, 2 * W):  # the CPU's backward is deterministic already
        return F.interpolate(h, size=tuple(size), mode="nearest")
    if h.is_contiguous(memory_format=torch.channels_last):  # NHWC in, NHWC out (what cuDNN's bf16 convs want)
        n = h.permute(0, 2, 3, 1)  # (B, H, W, C), a view
        return n[:, :, None, :, None, :].expand(B, H, 2, W, 2, C).reshape(B, 2 * H, 2 * W, C).permute(0, 3, 1, 2)
    return h[:, :, :, None, :, None].expand(B, C, H, 2, W, 2).reshape(B, C, 2 * H, 2 * W)


class UNet(nn.Module):
    """model(x_t, t, labels=None) -> output, same shape as x_t.

    x_t: (B, 1, 28, 28) float; t: (B,) long in [0, T); labels: (B,) long or None
    (None = null label, i.e. unconditional). Unconditional configs ignore labels.
    """

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = cfg = config
        ch, td, g = cfg.channels, cfg.time_dim, cfg.groups
        self.time_mlp = nn.Sequential(nn.Linear(ch[0], td), nn.SiLU(), nn.Linear(td, td))
        self.label_emb = nn.Embedding(cfg.num_classes + 1, td) if cfg.conditional else None
        p = cfg.patch_size
        self.stem = nn.Conv2d(cfg.in_channels * p * p, ch[0], 3, padding=1)

        def res(c_in: int, c_out: int, level: int) -> ResBlock:
            return ResBlock(c_in, c_out, td, g, cfg.norm_full_res or level > 0, cfg.dropout)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = ch[0]
        for i, c_i in enumerate(ch):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(res(c, c_i, i))
                c = c_i
            self.down.append(blocks)
            if i < len(ch) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # 28->14->7
        self.mid1 = res(c, c, len(ch) - 1)
        self.mid_attn = Attention(c, cfg.attn_heads, g) if cfg.attention else None
        self.mid2 = res(c, c, len(ch) - 1)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(ch))):
            blocks = nn.ModuleList()
            for j in range(cfg.num_res_blocks):
                blocks.append(res(c + ch[i] if j == 0 else c, ch[i], i))  # first one eats the skip
                c = ch[i]
            self.up.append(blocks)
            if i > 0:
                self.upsample.append(nn.Conv2d(c, ch[i - 1], 3, padding=1))  # after nearest x2
                c = ch[i - 1]
        self.out_norm = _norm(c, g, cfg.norm_full_res)
        self.out = nn.Conv2d(c, cfg.in_channels * p * p, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """(B,) timesteps (+ labels) -> (B, time_dim)."""
        temb = self.time_mlp(timestep_embedding(t, self.config.channels[0]))
        if self.label_emb is not None:
            if labels is None:
                labels = torch.full_like(t, self.config.num_classes)
            temb = temb + self.label_emb(labels.long())
        return temb

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        temb = self.embed(t.to(x_t.device), None if labels is None else labels.to(x_t.device))
        p = self.config.patch_size
        h = self.stem(F.pixel_unshuffle(x_t, p) if p > 1 else x_t)  # (B, c0, 28/p, 28/p)
        skips = []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, temb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, c, H/2, W/2), 28->14->7
        h = self.mid1(h, temb)
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        h = self.mid2(h, temb)
        for k, blocks in enumerate(self.up):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, temb)
            if k < len(self.upsample):
                h = _upsample_nearest(h, skips[-1].shape[-2:])  # 7->14->28 (x2; 4->7 for odd sizes)
                h = self.upsample[k](h)
        out = self.out(F.silu(self.out_norm(h)))  # (B, p*p, 28/p, 28/p)
        return F.pixel_shuffle(out, p) if p > 1 else out  # (B, 1, 28, 28)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
