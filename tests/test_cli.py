"""End to end: `python -m playground.train` then `python -m playground.sample` on a tiny setting."""
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, ok=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: one thread is fastest, and safe on a busy machine
    p = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    p = run("playground.train", "--steps", "3", "--batch-size", "16", "--channels", "8,16", "--preview-every", "0",
            "--bf16", "off", "--out", str(out))
    assert "finished (steps) after 3 steps" in p.stdout and "MNIST test split" in p.stdout
    return out


def test_train_cli_writes_a_loadable_checkpoint(tiny_ckpt):
    from playground.mnist.checkpoint import load_model

    model, meta = load_model(tiny_ckpt)
    assert meta.steps == 3 and meta.prediction_type == "eps" and model.config.channels == (8, 16)


def test_sample_cli_npy_png_gif(tiny_ckpt, tmp_path):
    run("playground.sample", "--checkpoint", str(tiny_ckpt), "--num", "12", "--steps", "4", "--out",
        str(tmp_path / "a.npy"))
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (12, 28, 28) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    run("playground.sample", "--checkpoint", str(tiny_ckpt), "--num", "12", "--steps", "4", "--sampler", "dpm++",
        "--label", "3", "--guidance", "3", "--out", str(tmp_path / "b.png"))
    png = iio.imread(tmp_path / "b.png")
    assert png.ndim == 2 and png.shape[0] > 28
    run("playground.sample", "--checkpoint", str(tiny_ckpt), "--num", "4", "--steps", "3", "--sampler", "ddpm",
        "--out", str(tmp_path / "c.gif"))
    frames = iio.imread(tmp_path / "c.gif", index=None)
    # one frame per sampler step; Pillow merges identical consecutive frames, and an untrained model's
    # last two steps clamp to the same picture, so 2 or 3
    assert 2 <= frames.shape[0] <= 3 and frames.shape[1] > 28


def test_write_gif_writes_one_frame_per_step(tmp_path):
    from playground.render import write_gif

    frames = [np.full((30, 30), 40 * i, np.uint8) for i in range(5)]
    write_gif(tmp_path / "g.gif", frames, duration_ms=100, hold_last_ms=1500)  # the CLI's timing
    assert iio.imread(tmp_path / "g.gif", index=None).shape[:3] == (5, 30, 30)


def test_sample_cli_rejects_bad_arguments(tiny_ckpt, tmp_path):
    p = run("playground.sample", "--checkpoint", str(tiny_ckpt), "--sampler", "lms", "--out",
            str(tmp_path / "x.npy"), ok=False)
    assert p.returncode != 0 and "unknown sampler" in p.stderr
    p = run("playground.sample", "--checkpoint", str(tmp_path / "missing.pt"), "--out",
            str(tmp_path / "x.npy"), ok=False)
    assert p.returncode != 0 and "Checkpoint not found" in p.stderr


def test_every_config_field_is_a_documented_flag_and_only_typed_flags_override_the_preset():
    import dataclasses

    from playground.mnist.model import UNetConfig
    from playground.mnist.train import PRESETS, TrainConfig
    from playground.mnist.train_cli import build_parser, config_from_args

    ap = build_parser()
    flags = {a.dest: a for a in ap._actions}
    for cls, skip in ((TrainConfig, {"model"}), (UNetConfig, {"image_size", "in_channels", "num_classes"})):
        for f in dataclasses.fields(cls):
            if f.name not in skip:
                assert f.name in flags and flags[f.name].help and flags[f.name].help != f.name, f.name
    assert config_from_args(ap.parse_args([])) == TrainConfig.from_preset("quick")  # nothing typed: the preset
    cfg = config_from_args(ap.parse_args(["--preset", "shipped", "--objective", "v", "--time-budget", "none",
                                          "--min-snr-gamma", "0", "--unconditional", "--channels", "8,16",
                                          "--no-attention", "--lr", "1e-3", "--zero-terminal-snr"]))
    want = dataclasses.replace(TrainConfig.from_preset("shipped"), prediction_type="v", time_budget_s=None,
                               min_snr_gamma=None, conditional=False, lr=1e-3, zero_terminal_snr=True,
                               model=dataclasses.replace(PRESETS["shipped"].get("model", UNetConfig()),
                                                         channels=(8, 16), attention=False))
    assert cfg == want
    with pytest.raises(SystemExit):
        ap.parse_args(["--channels", "8,x"])
