"""Bad input, tested like a user: every case gets a clear message and the app keeps serving.

Two levels:
* handler level: the handlers of the playground/ui/ tab modules that the widgets call (fast, no server);
* the real client: a few uploads and extreme settings through ``gradio_client`` against the live
  app (tests/conftest.py ``live_app``), each followed by a normal request that must succeed.

All bad files are generated at test time in tmp_path (nothing binary is committed).
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import LIVE_LIMITS, ROOT, TINY_T, make_tiny_checkpoint
from PIL import Image

from playground.ui import forward, limits, sampling, training
from playground.ui.images import load_image
from playground.ui.limits import LIMITS
from playground.ui.models import get_model, list_checkpoints

pytestmark = pytest.mark.usefixtures("one_thread")

# ------------------------------------------------------------------------------------------------
# Generated files
# ------------------------------------------------------------------------------------------------


def png_solid(path: Path, w: int, h: int, rgb=(200, 30, 60)) -> Path:
    """A w×h solid-colour RGB PNG written by hand (one zlib stream of identical rows): a 10000×10000
    file is ~1.4 MB and takes well under a second to make, without a 300 MB array in memory."""
    row = b"\x00" + bytes(rgb) * w  # filter byte 0 + raw pixels
    z = zlib.compressobj(1)
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def good_png(path: Path, w: int = 48, h: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def make_bad(tmp_path: Path, kind: str) -> Path:
    """One bad / unusual upload of the given kind."""
    p = tmp_path / {"text": "notes.png", "empty": "empty.png", "corrupt": "truncated.png", "garbage": "noise.jpg",
                    "animated_gif": "anim.gif"}.get(kind, f"{kind}.png")
    if kind == "corrupt":  # a real PNG cut off after its header
        p.write_bytes(good_png(tmp_path / "whole.png", 200, 200).read_bytes()[:300])
    elif kind == "garbage":  # random bytes with an image extension
        p.write_bytes(os.urandom(2048))
    elif kind == "text":
        p.write_text("This is a shopping list, not an image.\n" * 20)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "rgba":  # half-transparent red: composited on white → (1, 0.5, 0.5)
        Image.new("RGBA", (30, 20), (255, 0, 0, 128)).save(p)
    elif kind == "paletted":
        im = Image.new("P", (30, 20))
        im.putpalette([0, 0, 255] + [0, 0, 0] * 255)  # index 0 = blue
        im.save(p)
    elif kind == "i16":  # 16-bit grayscale ramp 0 … 59,900
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.fromarray((np.arange(600, dtype=np.uint16).reshape(20, 30) * 100), mode="I;16").save(p)
    elif kind == "grayscale":
        Image.new("L", (30, 20), 77).save(p)
    elif kind == "animated_gif":  # red, green, blue frames: the first frame (red) is used
        frames = [Image.new("RGB", (30, 20), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
        frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    else:
        raise ValueError(kind)
    return p


BROKEN = {  # kind → words the message must contain
    "corrupt": "corrupt or truncated",
    "garbage": "not an image this app can read",
    "text": "not an image this app can read",
    "empty": "empty (0 bytes)",
}
UNUSUAL = {  # kind → (expected shape of the working copy, expected value of the top-left pixel in [-1, 1])
    "rgba": ((20, 30, 3), [1.0, 2 * 127 / 255 - 1, 2 * 127 / 255 - 1]),
    "paletted": ((20, 30, 3), [-1.0, -1.0, 1.0]),
    "i16": ((20, 30, 1), [-1.0]),
    "grayscale": ((20, 30, 1), [2 * 77 / 255 - 1]),
    "animated_gif": ((20, 30, 3), [1.0, -1.0, -1.0]),
}


def _forward_ok(path) -> None:
    """A normal forward request right after a bad one must work."""
    img, stats = forward.forward_api(str(path), "cosine", 1000, 250, False, 0)
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.size > 0
    assert stats["t"] == 250


# ------------------------------------------------------------------------------------------------
# Uploads, handler level
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_upload_gets_a_clear_error(tmp_path, kind):
    path = make_bad(tmp_path, kind)
    for fn in (lambda: load_image(path), lambda: forward.forward_api(str(path)),
               lambda: forward.forward_load(str(path), 0, "cosine", 1000, 250, False)):
        with pytest.raises(gr.Error) as e:
            fn()
        assert BROKEN[kind] in e.value.message and path.name in e.value.message
    _forward_ok(good_png(tmp_path / "ok.png"))


def test_missing_or_no_upload_gets_a_clear_error(tmp_path):
    with pytest.raises(gr.Error, match="No image yet"):
        load_image(None)
    with pytest.raises(gr.Error, match="Cannot find"):
        load_image(tmp_path / "gone.png")
    for fn in (forward.forward_reseed, forward.chain_check, forward.forward_gif):
        with pytest.raises(gr.Error, match="Load an image first"):
            fn(None, "cosine", 1000, False, *( [10] if fn is not forward.forward_gif else []))


@pytest.mark.parametrize("kind", sorted(UNUSUAL))
def test_unusual_image_modes_load_with_the_right_pixels(tmp_path, kind):
    path = make_bad(tmp_path, kind)
    shape, top_left = UNUSUAL[kind]
    x0 = load_image(path)
    assert x0.shape == shape and x0.dtype == np.float32
    assert np.isfinite(x0).all() and x0.min() >= -1 and x0.max() <= 1
    np.testing.assert_allclose(x0[0, 0], top_left, atol=1e-4)
    if kind == "i16":  # the 16-bit ramp is rescaled by 65535, not clipped at 255
        np.testing.assert_allclose(x0[-1, -1, 0], 2 * 59_900 / 65_535 - 1, atol=1e-4)
    out = forward.forward_load(str(path), 0, "linear", 1000, 999, False)
    state, x0_img, xt_img, eps_img = out[:4]
    assert xt_img.dtype == np.uint8 and xt_img.shape[:2] == x0_img.shape[:2]
    assert ("grayscale" if shape[2] == 1 else "RGB") in out[-1]


def test_huge_image_is_refused_before_decoding_at_the_default_limit(tmp_path):
    path = png_solid(tmp_path / "huge.png", 10_000, 10_000)
    assert 10_000 * 10_000 > LIMITS.max_upload_pixels  # 100 MP vs the 60 MP local default
    t0 = time.perf_counter()
    with pytest.raises(gr.Error, match=r"10000×10000 = 100 megapixels; the limit is \d+ megapixels"):
        load_image(path)
    assert time.perf_counter() - t0 < 1.0  # only the header was read


def test_huge_image_under_a_raised_limit_is_downscaled_quickly(tmp_path, monkeypatch):
    """With PLAYGROUND_MAX_UPLOAD_PIXELS raised, a 10000×10000 upload becomes a 512-px working copy
    quickly and without a multi-GB float32 copy of the full image (measured in a fresh process)."""
    path = png_solid(tmp_path / "huge.png", 10_000, 10_000, rgb=(200, 30, 60))
    code = (
        "import resource, time, sys, numpy as np\n"
        "from playground.ui.images import load_image\n"
        "rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
        "base = rss(); t0 = time.perf_counter(); x = load_image(sys.argv[1]); dt = time.perf_counter() - t0\n"
        "print(x.shape, dt, rss() - base, *x[0, 0])\n"
    )
    env = {**os.environ, "PLAYGROUND_MAX_UPLOAD_PIXELS": "200000000",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(path)], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    shape, rest = r.stdout.split(")")
    dt, rss_mb, *px = rest.split()
    assert shape.strip("( ") == "512, 512, 3"
    np.testing.assert_allclose([float(v) for v in px], [2 * c / 255 - 1 for c in (200, 30, 60)], atol=2e-2)
    assert float(dt) < 10.0, f"took {float(dt):.1f} s"
    # the decoded 8-bit pixels are 300 MB; float32 copies of the full image would add GBs (3 GB before the fix)
    assert int(rss_mb) < 700, f"peak memory grew by {rss_mb} MB"


def test_upload_over_the_byte_limit_is_refused(tmp_path, monkeypatch):
    path = good_png(tmp_path / "big.png", 300, 300)
    monkeypatch.setattr(LIMITS, "max_upload_bytes", 10_000)
    with pytest.raises(gr.Error, match=r"MB; the limit is"):
        load_image(path)


def test_big_photo_is_downscaled_to_the_work_side(tmp_path):
    path = good_png(tmp_path / "wide.png", 2000, 300)
    x0 = load_image(path)
    assert max(x0.shape[:2]) == LIMITS.work_side and x0.shape[:2] == (77, 512)


# ------------------------------------------------------------------------------------------------
# Extreme settings, handler level
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def photo(tmp_path) -> Path:
    return good_png(tmp_path / "photo.png", 40, 40, seed=3)


def test_forward_extreme_T_and_t(photo):
    x0 = load_image(photo)
    # T = 2: the smallest schedule; t = 0 is almost clean, t = T-1 is the last step
    img0, st0 = forward.forward_api(str(photo), "linear", 2, 0, False, 0)
    img1, st1 = forward.forward_api(str(photo), "linear", 2, 1, False, 0)
    assert (st0["T"], st0["t"], st1["t"]) == (2, 0, 1)
    assert 0 < st1["alpha_bar"] < st0["alpha_bar"] < 1
    # t = 0 on T = 1000: x_t ≈ x_0 (ᾱ_0 = 1 − β_0, noise std √β_0 = 0.01 → ~1.3 grey levels)
    img, st = forward.forward_api(str(photo), "linear", 1000, 0, False, 0)
    ref = np.clip(np.round((x0 + 1) * 127.5), 0, 255)
    k = img.shape[0] // x0.shape[0]  # small images are shown upscaled ×k (nearest neighbour)
    diff = np.abs(img[::k, ::k].astype(float) - ref)
    assert diff.mean() < 2 and diff.max() <= 8
    far = forward.forward_api(str(photo), "linear", 1000, 999, False, 0)[0]
    assert np.abs(far[::k, ::k].astype(float) - ref).mean() > 40  # t = T-1: nothing of x_0 left
    # t = T (one past the slider's max) and t < 0 are clamped into [0, T-1]
    a, sa = forward.forward_api(str(photo), "cosine", 1000, 1000, False, 0)
    b, sb = forward.forward_api(str(photo), "cosine", 1000, 999, False, 0)
    assert sa["t"] == sb["t"] == 999 and np.array_equal(a, b)
    assert forward.forward_api(str(photo), "cosine", 1000, -5, False, 0)[1]["t"] == 0
    # zero terminal SNR at t = T-1: pure noise, log-SNR reported as None (not -inf / NaN in JSON)
    _, sz = forward.forward_api(str(photo), "cosine", 1000, 999, True, 0)
    assert sz["alpha_bar"] == 0 and sz["snr"] == 0 and sz["log_snr"] is None
    # T beyond the cap / below 2 are clamped; an unknown schedule is a clear error
    assert forward.forward_api(str(photo), "cosine", 10 ** 6, 5, False, 0)[1]["T"] == LIMITS.max_T
    assert forward.forward_api(str(photo), "cosine", 1, 0, False, 0)[1]["T"] == 2
    with pytest.raises(gr.Error, match="unknown schedule 'quadratic'"):
        forward.forward_api(str(photo), "quadratic", 1000, 5, False, 0)
    # the widget path: T shrinking below t moves the slider to T-1
    state = forward.forward_load(str(photo), 0, "cosine", 1000, 900, False)[0]
    slider = forward.forward_schedule_changed(state, "cosine", 100, False, 900)[0]
    assert slider.value == 99 and slider.maximum == 99


@pytest.fixture
def ckpt_env(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "checkpoints"
    make_tiny_checkpoint(d / "mnist_eps_cond.pt")
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(d))
    return d / "mnist_eps_cond.pt"


def _sample(path, steps=4, eta=0.0, n=2, seed=0, show_dpm=False, **kw):
    outs = list(sampling.sample_compare(None if path is None else str(path), steps, eta, kw.get("spacing", "trailing"),
                                        True, kw.get("digit", "3"),
                                  kw.get("guidance", 2.0), n, seed, show_dpm))
    return outs


def test_sampling_extremes_eta_0_and_1(ckpt_env):
    final0 = _sample(ckpt_env, eta=0.0)[-1]
    final1 = _sample(ckpt_env, eta=1.0)[-1]
    for final in (final0, final1):
        for img in final[:4]:  # DDPM and DDIM panels
            assert isinstance(img, np.ndarray) and img.dtype == np.uint8
        assert final[4] is None and "Done" in final[6]
    assert np.array_equal(final0[0], final1[0])  # DDPM does not depend on η
    assert not np.array_equal(final0[2], final1[2])  # DDIM does
    assert "η = 1" in final1[6]
    # η outside [0, 1] is clamped
    assert "η = 1" in _sample(ckpt_env, eta=7.0)[-1][6]


def test_sampling_more_steps_than_T_is_clamped_with_a_warning(ckpt_env):
    with pytest.warns(UserWarning, match=rf"only has T = {TINY_T}.*{TINY_T} steps"):
        final = _sample(ckpt_env, steps=TINY_T + 50)[-1]
    assert f"step **{TINY_T}/{TINY_T}**" in final[6]


def test_sampling_more_images_than_the_cap_is_clamped_with_a_warning(ckpt_env, monkeypatch):
    monkeypatch.setattr(LIMITS, "max_images", 2)
    with pytest.warns(UserWarning, match="at most 2 images"):
        final = _sample(ckpt_env, n=9)[-1]
    assert "2 images" in final[6]


def test_sampling_steps_over_the_cap_are_clamped_with_a_warning(ckpt_env, monkeypatch):
    monkeypatch.setattr(LIMITS, "max_steps", 3)
    with pytest.warns(UserWarning, match="at most 3 sampling steps"):
        final = _sample(ckpt_env, steps=50)[-1]
    assert "step **3/3**" in final[6]


# ------------------------------------------------------------------------------------------------
# Checkpoints, handler level
# ------------------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a marker file: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _write_bad_checkpoint(path: Path, kind: str, marker: Path) -> None:
    from playground.mnist.checkpoint import FORMAT

    if kind == "corrupt":  # a real checkpoint, truncated
        good = make_tiny_checkpoint(path.with_suffix(".tmpgood")).read_bytes()
        path.with_suffix(".tmpgood").unlink()
        path.write_bytes(good[: len(good) // 3])
    elif kind == "other_model":  # a valid torch state_dict of some other nn.Module
        torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1)).state_dict(),
                   path)
    elif kind == "other_weights":  # our wrapper and config, but the weights of a different network
        from playground.mnist.checkpoint import CheckpointMeta
        from playground.mnist.model import UNetConfig

        torch.save({"format": FORMAT, "config": UNetConfig(channels=(8, 16), time_dim=32, groups=4).to_dict(),
                    "meta": vars(CheckpointMeta(T=TINY_T)), "ema": torch.nn.Linear(4, 3).state_dict()}, path)
    elif kind == "pickle_payload":
        torch.save({"format": FORMAT, "config": {}, "meta": {}, "ema": {}, "boom": _Payload(marker)}, path)
    else:
        raise ValueError(kind)


BAD_CKPTS = {  # kind → words the error must contain
    "corrupt": "not a valid Diffusion Playground checkpoint",
    "other_model": "not a Diffusion Playground checkpoint",
    "other_weights": "weights do not match the stored model config",
    "pickle_payload": "unsafe unpickling, which is refused",
}


@pytest.mark.parametrize("kind", sorted(BAD_CKPTS))
def test_bad_checkpoint_in_the_folder_gets_a_clear_error_and_runs_no_code(ckpt_env, kind, tmp_path):
    marker = tmp_path / "PWNED"
    bad = ckpt_env.parent / f"bad_{kind}.pt"
    _write_bad_checkpoint(bad, kind, marker)
    # the page still builds its model list: unreadable files are left out, the good model stays first
    listed = [p for _, p in list_checkpoints()]
    assert listed[0] == str(ckpt_env)
    assert (str(bad) in listed) == (kind == "other_weights")  # readable metadata, wrong weights
    # choosing it (through the API or a stale page) is a clear error, never a traceback or code execution
    with pytest.raises(gr.Error) as e:
        _sample(bad)
    assert BAD_CKPTS[kind] in e.value.message, e.value.message
    assert not marker.exists()
    # a good model that is replaced on disk by the bad file (mtime changes) fails just as clearly
    good_copy = ckpt_env.parent / "replaced.pt"
    make_tiny_checkpoint(good_copy)
    assert str(good_copy) in [p for _, p in list_checkpoints()]
    time.sleep(0.01)
    os.replace(bad, good_copy)
    os.utime(good_copy, ns=(time.time_ns(), time.time_ns()))
    with pytest.raises(gr.Error) as e:
        _sample(good_copy)
    assert BAD_CKPTS[kind] in e.value.message
    assert not marker.exists()
    assert "Done" in _sample(ckpt_env)[-1][6]  # and the good model still samples


def test_unknown_checkpoint_path_is_refused(ckpt_env, tmp_path):
    outside = make_tiny_checkpoint(tmp_path / "elsewhere.pt")  # valid, but not in the checkpoint folder
    with pytest.raises(gr.Error, match="Unknown checkpoint 'elsewhere.pt'"):
        _sample(outside)


def test_no_checkpoint_at_all_gets_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path / "none"))
    final = _sample(None)[-1]  # the status line says so (no error badge on a fresh Space)
    assert final[:6] == (None,) * 6 and "No model yet" in final[6]
    with pytest.raises(gr.Error, match="No model available yet"):
        get_model(None)
    *_, notice = sampling.sampling_tab_load(None, 20, "trailing")
    assert notice.visible and "No model yet" in notice.value


# ------------------------------------------------------------------------------------------------
# Training settings, handler level
# ------------------------------------------------------------------------------------------------


def file_of(x) -> str:
    """The file path in a handler output: a str, or a File/DownloadButton update holding it."""
    x = getattr(x, "value", x)
    return x.get("path") if isinstance(x, dict) else x


def _train(monkeypatch, **kw):
    from playground.mnist.data import load_mnist

    args = dict(preset="tiny", objective="eps", schedule="linear", T=50, zero_terminal_snr=False,
                batch_size=8, lr=2e-3,
                steps=2, time_budget_s=30, conditional=True, model_size="small (16, 32, 64)", preview_every=0)
    args.update(kw)
    monkeypatch.setenv("PLAYGROUND_SAVE_TRAINED", "0")
    return list(training.train_run(**args, data=load_mnist()))


def test_training_caps_clamp_steps_and_time_with_a_warning(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_train_steps", 2)
    monkeypatch.setattr(LIMITS, "max_train_seconds", 20.0)
    with pytest.warns(UserWarning) as rec:
        outs = _train(monkeypatch, steps=10_000, time_budget_s=10_000)
    msgs = " ".join(str(w.message) for w in rec)
    assert "at most 2 training steps" in msgs and "at most 20 s" in msgs
    assert "step **2**" in outs[-1][0] and "Finished" in outs[-1][0]
    assert Path(file_of(outs[-1][4])).is_file()


@pytest.mark.parametrize("bad, match", [
    (dict(objective="score"), "objective"),
    (dict(schedule="quadratic"), "schedule"),
    (dict(T=1), "T"),
    (dict(batch_size=0), "batch size"),
    (dict(lr=0.0), "learning rate"),
])
def test_training_nonsense_settings_get_a_clear_error(monkeypatch, bad, match):
    with pytest.raises(gr.Error, match=match):
        _train(monkeypatch, **bad)
    assert training._job["job"] is None and not training._train_lock.locked()  # the server is free for the next job


def test_training_T_2_works(monkeypatch):
    outs = _train(monkeypatch, T=2, steps=2)
    assert "Finished" in outs[-1][0] and "T=2" in outs[-1][0]


# ------------------------------------------------------------------------------------------------
# Limits are configurable through the environment
# ------------------------------------------------------------------------------------------------


def test_limits_come_from_env_vars_and_are_documented():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PLAYGROUND_MAX_UPLOAD_BYTES": "123", "PLAYGROUND_MAX_IMAGES": "3",
           "PLAYGROUND_MAX_STEPS": "7", "PLAYGROUND_MAX_TRAIN_SECONDS": "9", "PLAYGROUND_MAX_TRAIN_STEPS": "11",
           "PLAYGROUND_MAX_UPLOAD_PIXELS": "1000"}
    env.pop("SPACE_ID", None)
    code = ("from playground.ui.limits import LIMITS as L; "
            "print(L.max_upload_bytes, L.max_images, L.max_steps, L.max_train_seconds, "
            "L.max_train_steps, L.max_upload_pixels)")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["123", "3", "7", "9.0", "11", "1000"], out.stderr[-2000:]
    doc = limits.__doc__
    for name in ("PLAYGROUND_MAX_UPLOAD_BYTES", "PLAYGROUND_MAX_UPLOAD_PIXELS", "PLAYGROUND_MAX_IMAGES",
                 "PLAYGROUND_MAX_STEPS", "PLAYGROUND_MAX_TRAIN_SECONDS", "PLAYGROUND_MAX_TRAIN_STEPS"):
        assert name in doc


# ------------------------------------------------------------------------------------------------
# Through the real client (live app with LIVE_LIMITS)
# ------------------------------------------------------------------------------------------------


def _client_forward(client, path, T=1000, t=250, **kw):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), kw.get("schedule", "cosine"), T, t, False, kw.get("seed", 0),
                          api_name="/forward")


def _assert_serving(client, tmp_path):
    img, stats = _client_forward(client, good_png(tmp_path / f"ok-{time.time_ns()}.png"))
    w, h = Image.open(img).size  # shown upscaled ×k when small
    assert Path(img).is_file() and w * 32 == h * 48 and w >= 48 and stats["t"] == 250


@pytest.mark.parametrize("kind", ["corrupt", "text", "empty"])
def test_client_broken_upload_gets_the_helpful_message(client, tmp_path, kind):
    path = make_bad(tmp_path, kind)
    with pytest.raises(Exception) as e:
        _client_forward(client, path)
    assert BROKEN[kind] in str(e.value), str(e.value)
    _assert_serving(client, tmp_path)


@pytest.mark.parametrize("kind", ["rgba", "paletted", "i16", "animated_gif"])
def test_client_unusual_modes_work(client, tmp_path, kind):
    img, stats = _client_forward(client, make_bad(tmp_path, kind), t=0)
    assert (stats["width"], stats["height"]) == (30, 20)
    arr = np.asarray(Image.open(img).convert("RGB"), dtype=float)
    expect = (np.array(UNUSUAL[kind][1]) + 1) * 127.5
    # the top-left pixel (shown ×8); JPEG: a few levels off
    np.testing.assert_allclose(arr[3, 3], np.broadcast_to(expect, (3,)), atol=8)


def test_client_huge_image_is_refused_quickly_and_server_keeps_serving(client, tmp_path):
    path = png_solid(tmp_path / "huge.png", 10_000, 10_000)
    t0 = time.perf_counter()
    with pytest.raises(Exception, match="100 megapixels; the limit is 30 megapixels"):
        _client_forward(client, path)
    assert time.perf_counter() - t0 < 20
    _assert_serving(client, tmp_path)


def test_client_upload_over_the_byte_cap_is_refused(client, tmp_path):
    cap = int(LIVE_LIMITS["PLAYGROUND_MAX_UPLOAD_BYTES"])
    big = tmp_path / "big.bmp"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1100, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > cap
    with pytest.raises(Exception, match=f"exceeds the maximum file size of {cap} bytes"):
        _client_forward(client, big)  # gradio_client checks the server's max_file_size before sending
    # the server enforces it too (a raw upload, as a hand-written client would send it)
    import httpx

    with open(big, "rb") as fh:
        r = httpx.post(client.src.rstrip("/") + "/gradio_api/upload",
                       files={"files": ("big.bmp", fh, "image/bmp")}, timeout=60)
    assert r.status_code == 413 and "maximum" in r.text.lower(), (r.status_code, r.text[:300])
    _assert_serving(client, tmp_path)


def test_client_extreme_settings(client, tmp_path, live_app):
    photo = good_png(tmp_path / "p.png")
    # the T slider's minimum (10) is enforced for API callers with a clear message
    with pytest.raises(Exception, match="less than minimum value 10"):
        _client_forward(client, photo, T=2, t=0)
    _, s = _client_forward(client, photo, T=10, t=9)
    assert (s["T"], s["t"]) == (10, 9)
    _, s = _client_forward(client, photo, T=1000, t=0)
    assert s["t"] == 0 and s["alpha_bar"] > 0.999
    # t = 999 is the slider's max; t beyond it is refused by the slider
    _, s = _client_forward(client, photo, T=1000, t=999)
    assert s["t"] == 999
    with pytest.raises(Exception, match="greater than maximum value"):
        _client_forward(client, photo, T=1000, t=1000)
    # more sampling steps than the model's T: clamped, the status says how many ran
    ck = str(live_app.ckpt_dir / "mnist_eps_cond.pt")
    res = client.predict(ck, TINY_T + 20, 1.0, "trailing", True, "7", 2.0, 1, 0, False, api_name="/sample")
    assert f"step **{TINY_T}/{TINY_T}**" in res[6] and "η = 1" in res[6]
    # more images than the cap: the slider refuses it
    with pytest.raises(Exception, match="greater than maximum value 4"):
        client.predict(ck, 5, 0.0, "trailing", True, "7", 2.0, 99, 0, False, api_name="/sample")
    # a checkpoint path that is not in the list
    with pytest.raises(Exception, match="Unknown checkpoint 'passwd': pick one from the list"):
        client.predict("/etc/passwd", 5, 0.0, "trailing", True, "7", 2.0, 1, 0, False, api_name="/sample")
    _assert_serving(client, tmp_path)
