"""Handler tests for the tab modules of playground/ui/ on CPU with a tiny random-weight model (fast: ~20 s).

What is pinned: the forward tab's x_t is the closed form with ONE cached noise sample; uploads of every
awkward kind load and bad ones raise gr.Error with a clear message; the chain check's statistics match
N(0, 1); sampling streams and DDPM == DDIM(η=1) on the full grid from one seed; training runs, stops
on request and on tab close, saves a loadable checkpoint, and a second job gets "busy".
"""
from __future__ import annotations

import json
import threading
import types
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from playground import render
from playground.diffusion import q_sample
from playground.mnist.checkpoint import CheckpointMeta, load_model, save_checkpoint
from playground.mnist.model import UNet, UNetConfig
from playground.ui import forward, limits, sampling, training
from playground.ui.images import load_image
from playground.ui.limits import LIMITS, Limits, interactive_work
from playground.ui.models import default_checkpoint, get_model, list_checkpoints

torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a busy machine

NO_PROGRESS = lambda *a, **k: None  # noqa: E731


def make_tiny_checkpoint(folder: Path, name: str = "mnist_eps_cond.pt", prediction_type: str = "eps", T: int = 50,
                         conditional: bool = True) -> Path:
    """A (8, 16, 16) UNet with random weights; the output conv is re-initialised so outputs are not zero."""
    torch.manual_seed(0)
    cfg = UNetConfig(channels=(8, 16, 16), time_dim=32, attention=False, groups=4,
                     num_classes=10 if conditional else None)
    model = UNet(cfg)
    torch.nn.init.normal_(model.out.weight, std=0.05)
    meta = CheckpointMeta(prediction_type=prediction_type, schedule="linear", T=T, steps=0,
                          data="random weights (test)", conditional=conditional)
    return save_checkpoint(folder / name, ema_state=model.state_dict(), config=cfg, meta=meta)


@pytest.fixture()
def ckpt_dir(tmp_path, monkeypatch):
    d = tmp_path / "ckpts"
    make_tiny_checkpoint(d)
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(d))
    monkeypatch.setenv("PLAYGROUND_SAVE_TRAINED", "0")
    return d


def save(tmp_path: Path, name: str, im: Image.Image, **kw) -> str:
    p = tmp_path / name
    im.save(p, **kw)
    return str(p)


# --------------------------------------------------------------------------------------- limits


def test_limits_table_documents_every_env_var():
    import inspect

    src = inspect.getsource(Limits)
    env_vars = set(__import__("re").findall(r'"(PLAYGROUND_[A-Z_]+)"', src))
    assert len(env_vars) == len([f for f in Limits.__dataclass_fields__])
    for var in env_vars:
        assert var in limits.__doc__, f"{var} missing from the limits table in limits.py's docstring"


# --------------------------------------------------------------------------------------- uploads


def test_load_image_modes(tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    x = load_image(save(tmp_path, "a.png", rgb))
    assert x.shape == (40, 60, 3) and x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x, np.asarray(rgb, np.float32) / 127.5 - 1, atol=1e-6)

    gray = load_image(save(tmp_path, "g.png", rgb.convert("L")))
    assert gray.shape == (40, 60, 1)  # grayscale stays one channel

    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # fully transparent black -> white background
    assert np.allclose(load_image(save(tmp_path, "t.png", rgba)), 1.0)

    pal = rgb.convert("P")
    assert load_image(save(tmp_path, "p.png", pal)).shape == (40, 60, 3)

    a16 = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    im16 = Image.fromarray(a16)  # a 16-bit grayscale PNG
    x16 = load_image(save(tmp_path, "16.png", im16))
    assert (x16.shape == (32, 32, 1) and x16.min() == pytest.approx(-1, abs=1e-3)
            and x16.max() == pytest.approx(1, abs=1e-3))

    cmyk = rgb.convert("CMYK")
    assert load_image(save(tmp_path, "c.jpg", cmyk)).shape == (40, 60, 3)

    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 255, 255), (0, 0, 0))]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert np.allclose(load_image(str(gif)), 1.0, atol=0.02)  # first (white) frame


def test_big_upload_is_downscaled_once(tmp_path):
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (1500, 2000, 3), dtype=np.uint8))
    for name in ("big.jpg", "big.png"):
        x = load_image(save(tmp_path, name, big))
        assert max(x.shape[:2]) == LIMITS.work_side and x.shape[2] == 3
        assert x.shape[1] / x.shape[0] == pytest.approx(2000 / 1500, rel=0.02)


def test_bad_uploads_raise_clear_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    good = tmp_path / "ok.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(good)
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(good.read_bytes()[:60])
    cases = [(None, "No image"), (str(empty), "empty"), (str(text), "not an image"), (str(truncated), "corrupt"),
             (str(tmp_path / "missing.png"), "Cannot find")]
    for path, words in cases:
        with pytest.raises(gr.Error, match=words):
            load_image(path)
    monkeypatch.setattr(LIMITS, "max_upload_pixels", 1000)
    with pytest.raises(gr.Error, match="megapixels"):
        load_image(str(good))
    monkeypatch.setattr(LIMITS, "max_upload_bytes", 10)
    with pytest.raises(gr.Error, match="limit"):
        load_image(str(good))


# --------------------------------------------------------------------------------------- forward tab


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(2)
    return save(tmp_path, "photo.png", Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)))


def test_forward_load_and_render_is_the_closed_form_with_one_noise(photo):
    out = forward.forward_load(photo, 7, "cosine", 1000, False, 250)
    state, x0_img, xt, eps_img, md, fig, strip, cap, info = out
    assert x0_img.shape == xt.shape == (48 * 4, 64 * 4, 3)  # small images are upscaled ×(256 // 64) for display
    assert "t = 250" in md and "64×48" in info and strip is not None and "t=999" in cap
    s = render.cached_schedule("cosine", 1000, False)
    x0 = torch.from_numpy(state["x0"])
    eps = torch.from_numpy(state["eps"])
    for t in (0, 250, 600, 999):
        img, md, fig = forward.forward_render(state, "cosine", 1000, False, t)
        expect = render.to_uint8(q_sample(s, x0[None], torch.tensor(t), eps[None])[0].numpy())
        got = img[::4, ::4]
        assert np.abs(got.astype(int) - expect.astype(int)).max() <= 1, t  # same ε at every t
        plot = json.loads(fig.plot)
        marker = plot["data"][-4]
        assert marker["x"] == [t, t, t] and marker["y"][0] == pytest.approx(float(s.alpha_bar[t]), rel=1e-4)
        assert f"ᾱ<sub>t</sub> = **{float(s.alpha_bar[t]):.4f}**" in md
    # reseeding changes ε, a given seed reproduces it
    st2, seed2, *_ = forward.forward_reseed(state, "cosine", 1000, False, 250)
    assert seed2 != 7 and not np.allclose(st2["eps"], state["eps"])
    st3, seed3, *_ = forward.forward_reseed(state, "cosine", 1000, False, 250, seed=7)
    np.testing.assert_array_equal(st3["eps"], state["eps"])


def test_forward_grayscale_and_schedule_change(tmp_path):
    digit = save(tmp_path, "d.png", Image.fromarray(np.zeros((28, 28), np.uint8)))
    state, *_ = forward.forward_load(digit, 0, "linear", 1000, False, 10)
    img, md, fig = forward.forward_render(state, "sigmoid", 200, True, 199)
    assert img.ndim == 2 and img.shape == (28 * 9, 28 * 9)
    assert "zero terminal SNR" in md and "SNR(t) = **0**" in md
    slider, *_ = forward.forward_schedule_changed(state, "linear", 100, False, 500)
    assert slider.maximum == 99 and slider.value == 99  # t is clamped to the new T


def test_chain_matches_closed_form(photo):
    state, *_ = forward.forward_load(photo, 0, "linear", 1000, False, 0)
    md, fig = forward.chain_check(state, "linear", 200, False, 120, draws=200, progress=NO_PROGRESS)
    assert "chain (121 steps)" in md
    closed = np.asarray(fig.data[0].x)  # raw standardised draws of the closed form
    centers, dens = np.asarray(fig.data[1].x), np.asarray(fig.data[1].y)  # the chain's density histogram
    w = dens * 0.15
    chain_mean = float((centers * w).sum())
    chain_std = float(np.sqrt((((centers - chain_mean) ** 2) * w).sum() - 0.15**2 / 12))  # Sheppard's correction
    # both standardised with the closed form's theoretical mean and std: N(0, 1)
    assert abs(closed.mean()) < 0.03 and abs(closed.std() - 1) < 0.03
    assert abs(w.sum() - 1) < 0.01 and abs(chain_mean) < 0.03 and abs(chain_std - 1) < 0.03
    # (a kernel with ᾱ in place of α would leave far less signal: a mean shift of many standard errors)


def test_forward_gif_and_api(photo):
    state, *_ = forward.forward_load(photo, 0, "cosine", 100, False, 0)
    path = forward.forward_gif(state, "cosine", 100, False, frames=10, progress=NO_PROGRESS)
    import imageio.v3 as iio

    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 1 + 10 and frames.shape[1:3] == (48 * 4, 64 * 4)
    img, stats = forward.forward_api(photo, "cosine", 100, 50, False, 3)
    s = render.cached_schedule("cosine", 100, False)
    assert (stats["alpha_bar"] == pytest.approx(float(s.alpha_bar[50]))
            and stats["snr"] == pytest.approx(float(s.snr[50])))
    assert img.shape == (192, 256, 3)
    with pytest.raises(gr.Error, match="unknown schedule"):
        forward.forward_api(photo, "quadratic", 100, 50)


def test_write_gif_with_one_frame_grey_or_rgb_and_none(tmp_path):
    import imageio.v3 as iio

    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    rgb = np.stack([grey, 255 - grey, grey // 2], -1)
    for name, frames, n in (("one_grey", [grey], 1), ("one_rgb", [rgb], 1), ("three", [grey, grey[::-1], grey.T], 3)):
        back = iio.imread(render.write_gif(tmp_path / f"{name}.gif", frames), index=None)
        assert back.shape[0] == n and back.shape[1:3] == (8, 8)
        first = frames[0][..., 0 if frames[0].ndim == 3 else slice(None)]
        assert np.abs(back[0][..., 0].astype(int) - first).max() <= 8  # octree colours
    with pytest.raises(ValueError, match="at least one frame"):
        render.write_gif(tmp_path / "none.gif", [])


# --------------------------------------------------------------------------------------- sampling tab


def test_checkpoint_listing_and_allowlist(ckpt_dir, tmp_path):
    choices = list_checkpoints()
    assert len(choices) == 1 and choices[0][0] == "mnist_eps_cond · ε, linear"  # short: read whole in the dropdown
    (ckpt_dir / "junk.pt").write_bytes(b"not a checkpoint")
    assert len(list_checkpoints()) == 1  # unreadable files are left out
    outside = make_tiny_checkpoint(tmp_path / "elsewhere")
    with pytest.raises(gr.Error, match="Unknown checkpoint"):
        get_model(str(outside))
    assert get_model(str(outside), {"mine": str(outside)})[1].T == 50  # this session's model is allowed


def test_timesteps_md_shows_the_list_that_runs(ckpt_dir):
    assert "t = 980, 960" in sampling.timesteps_md(None, 50, "leading")
    assert "t = 999, 979" in sampling.timesteps_md(None, 50, "trailing")
    md = sampling.timesteps_md(default_checkpoint(), 5, "leading")
    assert "T = 50" in md and "t = 40, 30, 20, 10, 0" in md


def test_sample_streams_and_shares_noise(ckpt_dir, monkeypatch):
    monkeypatch.setattr(sampling, "STREAM_EVERY_S", 0.0)
    path = default_checkpoint()
    outs = list(sampling.sample_compare(path, 50, 1.0, "leading", True, "mixed 0–9", 2.0, 4, 123, True))
    assert len(outs) == 50  # one frame per step (49 streamed + the final one)
    first, last = outs[0], outs[-1]
    assert "Running" in first[6] and "step **1/50**" in first[6] and "Done" in last[6]
    ddpm_xt, ddpm_x0, ddim_xt, ddim_x0, dpm_xt, dpm_x0 = last[:6]
    assert ddpm_xt.shape == ddim_xt.shape == dpm_xt.shape
    # DDIM with η = 1 on the full grid is DDPM, and both drew x_T and every noise from the same seed
    # (up to float32 rounding, which can move a pixel by one grey level)
    assert np.abs(ddpm_xt.astype(int) - ddim_xt.astype(int)).max() <= 1
    assert np.abs(ddpm_xt.astype(int) - dpm_xt.astype(int)).mean() > 10  # a different sampler gives a different image
    assert [Path(f).suffix for f in last[7]] == [".png", ".gif"] * 3 and all(Path(f).is_file() for f in last[7])
    # η = 0 differs from DDPM, and the same seed reproduces it
    a = list(sampling.sample_compare(path, 10, 0.0, "trailing", True, "3", 1.0, 2, 5, False))[-1]
    b = list(sampling.sample_compare(path, 10, 0.0, "trailing", True, "3", 1.0, 2, 5, False))[-1]
    assert a[4] is None  # DPM-Solver++ panel off
    np.testing.assert_array_equal(a[2], b[2])
    assert not np.array_equal(a[0], a[2])


def test_sample_without_any_model_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path / "none"))
    outs = list(sampling.sample_compare(None, 10, 0.0, "trailing", True, "3", 1.0, 2, 5, True))
    assert len(outs) == 1 and "No model yet" in outs[0][6]
    dropdown, ts, notice = sampling.sampling_tab_load(None, 50, "trailing")
    assert notice.visible is True and "No model yet" in notice.value


def test_study_and_eps_v(ckpt_dir, monkeypatch):
    make_tiny_checkpoint(ckpt_dir, "mnist_v_cond.pt", prediction_type="v")
    # the real classifier's reference statistics take ~15 s to build; tests/test_quality.py covers them
    seen = []
    monkeypatch.setattr(sampling, "_quality", lambda x, labels: seen.append((x.shape, labels.tolist()))
                        or types.SimpleNamespace(confident=0.5, label_agreement=0.25))
    grid, fig, md = sampling.sample_study(default_checkpoint(), "mixed 0–9", 2.0, 0, 3, etas=(0.0, 1.0),
                                          steps_list=(2, 4),
                                    progress=NO_PROGRESS)
    assert (grid.ndim == 2 and "η = 0, 1" in md and "2, 4 DDIM steps" in md
            and "classified as the digit asked for" in md)
    assert len(seen) == 4 and seen[0] == ((3, 1, 28, 28), [0, 1, 2])
    assert np.asarray(fig.data[0].z).shape == (2, 2) and np.allclose(np.asarray(fig.data[0].z, float), 0.5)
    assert fig.data[0].text[0][0] == "50%<br>25% right"
    eps_img, v_img, md = sampling.compare_eps_v(5, "trailing", "7", 1.0, 0, 2, progress=NO_PROGRESS)
    assert eps_img is not None and v_img is not None and "v-prediction" in md


# --------------------------------------------------------------------------------------- training tab

TINY = dict(preset="tiny", objective="eps", schedule="linear", T=100, zero_terminal_snr=False, batch_size=8, lr=1e-3,
            time_budget_s=60, conditional=True, model_size="small (16, 32, 64)")


def _req(session: str):
    return types.SimpleNamespace(session_hash=session)


def test_train_runs_saves_and_feeds_the_sampling_tab(ckpt_dir):
    outs = list(training.train_run(**TINY, steps=3, preview_every=2, session_models={}, request=_req("a")))
    status, loss_fig, bucket_fig, preview, download, models, dropdown = outs[-1]
    assert "Finished" in status and "finished (steps) after 3 steps" in status and "MNIST" in status
    (path,) = models.values()  # this session's models: {label: checkpoint path}
    served = download.value if isinstance(download.value, str) else download.value["path"]
    assert Path(served).name == Path(path).name  # the download button serves the same file
    model, meta = load_model(path)
    assert meta.steps == 3 and meta.T == 100 and tuple(model.config.channels) == (16, 32, 64)
    # the dropdown lists names, not the server's paths (the public API schema shows its choices)
    assert Path(path).name in [v for _, v in dropdown.choices] and dropdown.value == Path(path).name
    assert preview is not None and preview.shape[1] > preview.shape[0]  # one row of 10 digits
    assert get_model(path, models)[1].steps == 3
    assert training._job["job"] is None and not training._train_lock.locked()


def test_train_stop_unload_and_busy(ckpt_dir):
    gen = training.train_run(**TINY, steps=10_000, preview_every=0, session_models={}, request=_req("b"))
    next(gen)  # "Loading…"
    assert training._job["job"] is not None and training._job["job"].session == "b"
    # a second job, from another session, is refused at once
    other = list(training.train_run(**TINY, steps=5, preview_every=0, session_models={}, request=_req("c")))
    assert len(other) == 1 and "Busy" in other[0][0]
    assert "Nothing to stop" in training.stop_training(_req("c"))  # cannot stop someone else's job
    training.on_unload(_req("b"))  # the owner closes the tab
    outs = list(gen)
    assert "Stopped" in outs[-1][0] and "(stopped)" in outs[-1][0]
    assert training._job["job"] is None and not training._train_lock.locked()
    # the Stop button does the same
    gen = training.train_run(**TINY, steps=10_000, preview_every=0, session_models={}, request=_req("d"))
    next(gen)
    assert "Stopping" in training.stop_training(_req("d"))
    assert "(stopped)" in list(gen)[-1][0]


def test_preset_values_respect_limits(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_train_seconds", 42.0)
    steps, budget, batch, lr, preview_every = training.preset_values("shipped")
    assert budget == 42.0 and steps <= LIMITS.max_train_steps and batch == 128


def test_presets_are_named_for_the_device_in_use():
    """'5-minute CPU demo' is wrong on a GPU: each device gets labels for what the presets do there, and its
    default."""
    from playground.mnist.train import PRESETS

    for dev, default in (("cpu", "quick"), ("mps", "quick"), ("cuda", "gpu")):
        choices, d = training.preset_choices(dev)
        assert d == default and sorted(name for _, name in choices) == sorted(PRESETS)
        labels = " ".join(label for label, _ in choices)
        assert ("CPU demo" in labels) == (dev != "cuda")
    gpu_label = dict((n, lab) for lab, n in training.preset_choices("cuda")[0])["gpu"]
    assert "10 s" in gpu_label  # PRESETS["gpu"]: 1,800 steps, measured 9.4-12.5 s on one H100 (bench_gpu.py recipe)


def test_training_pauses_while_someone_samples(ckpt_dir):
    """Sampling is not starved: between steps the trainer waits while an interactive job runs."""
    gen = training.train_run(**TINY, steps=10_000, preview_every=0, session_models={}, request=_req("e"))
    next(gen)  # "Loading…"
    assert "Training" in next(gen)[0]  # the model is built and stepping (first step's status)
    try:
        with interactive_work():
            box = {}
            th = threading.Thread(target=lambda: box.setdefault("out", next(gen)), daemon=True)
            th.start()
            th.join(1.5)
            assert th.is_alive(), "the trainer kept stepping while sampling ran"
        th.join(30)
        assert not th.is_alive() and "Training" in box["out"][0]
    finally:
        training.stop_training(_req("e"))
        list(gen)


def test_theory_links_switch_tab_and_set_the_control():
    from app import page
    from playground import theory
    from playground.ui import theory as theory_ui

    def show(sec_key, *inputs):
        sec = next(s for s in theory.SECTIONS if s.key == sec_key)
        return theory_ui.link_handler(sec.tab, page.links.get(sec.control))(*inputs)

    tab_ids = {tab.TAB_ID for tab in __import__("playground.ui.tabs", fromlist=["TABS"]).TABS}
    for sec in theory.SECTIONS:
        assert sec.control is None or sec.control in page.links, f"{sec.key}: no tab registered {sec.control!r}"
        link = page.links.get(sec.control)
        out = show(sec.key, *([200] * len(link.inputs) if link else []))
        tabs = out[0] if isinstance(out, tuple) else out
        assert tabs.selected == sec.tab and sec.tab in tab_ids
    assert show("forward", 200)[1] == 100
    assert show("ztsnr", 200)[1:3] == (True, 199)
    assert show("ddim")[1] == 1.0
    assert show("cfg")[1] == 4.0
    assert show("v")[1].open is True


def test_theory_states_the_formulas_course_notes_get_wrong():
    from playground import theory

    text = {s.key: s.body for s in theory.SECTIONS}
    # one-step kernel uses α_t with x_{t-1}; the closed form uses ᾱ_t with x_0
    assert r"x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon" in text["forward"]
    assert r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon" in text["forward"]
    assert r"\mathrm{SNR}(t) = \dfrac{\bar\alpha_t}{1-\bar\alpha_t}" in text["forward"]
    # DDIM: σ_t(η) and the direction term
    assert (r"\sigma_t(\eta) = "
            r"\eta\,\sqrt{\frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}}\;\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_{t-1}}}"
            in text["ddim"])
    assert r"\sqrt{1-\bar\alpha_{t-1}-\sigma_t^2}" in text["ddim"] and "980" in text["ddim"]
    # v-prediction both ways
    assert r"v = \sqrt{\bar\alpha_t}\,\varepsilon-\sqrt{1-\bar\alpha_t}\,x_0" in text["v"]
    assert r"\hat x_0 = \sqrt{\bar\alpha_t}\,x_t-\sqrt{1-\bar\alpha_t}\,\hat v" in text["v"]
    # the simple loss and its VLB weight (DDPM Eq. 12)
    assert r"\frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)}" in text["loss"]
    assert r"\tilde\varepsilon_\theta(x_t,c) = \varepsilon_\theta(x_t,\varnothing) + w\," in text["cfg"]


def test_theory_text_fixes_from_the_review():
    """The three slips (and two smaller points) an independent review found in the student-facing text."""
    from playground import theory

    text = {s.key: s.body for s in theory.SECTIONS}
    # 1. L_VLB is the *negative* bound: the words must say it is minimised
    assert r"L_\text{VLB} \ge -\log p_\theta(x_0)" in text["loss"] and "minimising the negative" in text["loss"]
    # 2. what diffusers really does at zero terminal SNR: DDPM/DDIM don't floor ᾱ; some solvers do, silently
    z = text["ztsnr"]
    assert "as diffusers does" not in z
    assert ("DDPM and DDIM schedulers do not floor it" in z and "rescale_betas_zero_snr" in z
            and "none of them warns" in z)
    # 3. the 1-based papers vs the 0-based app, explained once, where students first meet t (the intro)
    assert ("t = 1,\\dots,T" in theory.INTRO and "t = 0,\\dots,T-1" in theory.INTRO
            and "terminal SNR(T−1)" in theory.INTRO)
    assert "slider's $t=T-1$" in z
    # v has unit variance only for unit-variance data
    assert r"\mathrm{Var}[v] = \bar\alpha_t + (1-\bar\alpha_t)\,\mathrm{Var}[x_0]" in text["v"]
    assert "only for unit-variance data" in text["v"]


def test_var_v_formula_in_the_theory_holds_on_mnist():
    """The v-variance formula the theory states, checked numerically on real digits.

    Var[v] = ᾱ + (1−ᾱ)·Var[x₀] per pixel."""
    from playground.diffusion import get_v
    from playground.mnist.data import load_mnist
    from playground.schedules import make_schedule

    x0 = load_mnist().train_x0()[:2000]  # (N, 1, 28, 28) in [−1, 1]
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    for t in (10, 500, 990):
        eps = torch.randn(x0.shape, generator=g)
        v = get_v(s, x0, eps, torch.full((x0.shape[0],), t))
        ab = float(s.alpha_bar[t])
        predicted = ab + (1 - ab) * x0.var(0)
        assert torch.allclose(v.var(0), predicted, atol=0.12), t
        corner = v[:, 0, 0, 0].var()  # an always-black pixel: Var[x₀] = 0 there, so Var[v] = ᾱ < 1 at high noise
        assert abs(float(corner) - ab) < 0.12


def test_one_step_hint_when_leading_or_linspace_runs_its_only_step_at_t0(ckpt_dir):
    path = default_checkpoint()  # tiny model, T = 50
    for spacing in ("leading", "linspace"):
        md = sampling.timesteps_md(path, 1, spacing)
        assert "t = 0 →" in md and "nearly x_T" in md and "trailing spacing" in md
    assert "nearly x_T" not in sampling.timesteps_md(path, 1, "trailing")  # trailing's one step is t = T−1
    assert "nearly x_T" not in sampling.timesteps_md(path, 2, "leading")
