"""The classroom features at handler level: deep links, the browser-side blend's payload, the cheap /forward,
bring-your-own checkpoints, ZeroGPU readiness. (Browser checks: tests/test_browser.py; load:
test_classroom_load.py.)"""
from __future__ import annotations

import base64
import math
import os
import pickle
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import make_tiny_checkpoint

from playground.ui import classroom, forward, limits, sampling
from playground.ui.classroom import apply_links, as_bool, as_float, as_int, one_of
from playground.ui.images import example_images, load_image
from playground.ui.limits import LIMITS, adapt_threads, interactive_work
from playground.ui.models import get_model, list_checkpoints
from playground.ui.page import Param

pytestmark = pytest.mark.usefixtures("one_thread_module")


# --------------------------------------------------------------------------------------------- deep links

PARAMS = [
    Param("forward", "t", "t-comp", as_int(0, 999)),
    Param("forward", "schedule", "sched-comp", one_of([("linear", "linear"), ("cosine", "cosine")])),
    Param("forward", "seed", "fseed", as_int(0, 100)),
    Param("sample", "seed", "sseed", as_int(0, 100)),
    Param("sample", "eta", "eta-comp", as_float(0, 1)),
    Param("sample", "dpm", "dpm-comp", as_bool),
]
TABS = ["forward", "sample", "train", "theory"]


def test_deep_link_sets_the_values_of_the_named_tab():
    tab, updates, present, note = apply_links(PARAMS, TABS, {"tab": "sample", "seed": "3", "eta": "1", "dpm": "0"})
    assert tab == "sample" and not present and note == ""
    assert updates == {3: 3, 4: 1.0, 5: False}  # `seed` is the Sampling seed here, not the noise seed
    tab, updates, present, _ = apply_links(PARAMS, TABS, {"tab": "1", "seed": "7", "t": "600", "present": "yes"})
    assert tab == "forward" and updates == {0: 600, 2: 7} and present is True


def test_bad_or_unknown_settings_are_ignored_with_a_note():
    tab, updates, present, note = apply_links(
        PARAMS, TABS, {"tab": "forward", "t": "1e9", "schedule": "wiggly", "eta": "0.5", "seed": "x", "zzz": "1",
                       "present": "maybe"})
    assert tab == "forward" and updates == {} and present is False
    for part in ("t=1e9", "outside 0…999", "schedule=wiggly", "choose one of linear, cosine", "`eta`",
                 "add tab=sample", "seed=x", "not a number", "`zzz` (unknown setting)", "present=maybe"):
        assert part in note, (part, note)
    tab, _, _, note = apply_links(PARAMS, TABS, {"tab": "nowhere"})
    assert tab == "forward" and "tab=nowhere" in note
    assert apply_links(PARAMS, TABS, {})[0] == "forward"


def test_parsers_reject_nan_inf_and_fractions():
    for raw in ("nan", "inf", "-inf", "2.5", ""):
        with pytest.raises(ValueError):
            as_int(0, 10)(raw)
    for raw in ("nan", "inf", "1.5"):
        with pytest.raises(ValueError):
            as_float(0, 1)(raw)
    assert as_int(0, 10)("3.0") == 3 and as_float(0, 1)("0.25") == 0.25
    assert (one_of([("quick: 5 min", "quick")])("QUICK") == "quick"
            and one_of([("quick: 5 min", "quick")])("quick: 5 min") == "quick")


def test_the_app_registers_deep_links_for_its_tabs():
    from app import page

    names = {(p.tab, p.name) for p in page.params}
    assert {("forward", "image"), ("forward", "schedule"), ("forward", "t"), ("sample", "steps"), ("sample", "eta"),
            ("sample", "seed"), ("train", "preset")} <= names
    sample = [p for p in page.params if p.tab == "sample"]
    tab, updates, _, note = apply_links(page.params, [t.TAB_ID for t in __import__("playground.ui.tabs").ui.tabs.TABS],
                                        {"tab": "sample", "steps": "10", "eta": "1", "seed": "3"})
    assert tab == "sample" and note == "" and sorted(page.params[i].name for i in updates) == ["eta", "seed", "steps"]
    assert sample and classroom.link_for("sample", steps=10, eta=1.0) == "?tab=sample&steps=10&eta=1"


def test_shortcut_keys_select_the_tabs_by_their_position():
    from playground.ui.tabs import TABS

    js = classroom.keys_js([t.TAB_ID for t in TABS])
    assert "selectTab(0); b.click()" in js and "selectTab(1);" in js  # Space → Forward (1st), S → Sampling (2nd)
    js = classroom.keys_js(["theory", "sample", "x", "forward"])
    assert "selectTab(3); b.click()" in js and "selectTab(1);" in js and "_TAB" not in js


# ------------------------------------------------------------------------------- the browser-side blend


def _blend_like_the_browser(payload: dict, t: int) -> np.ndarray:
    """js/forward_blend.js in numpy: pixel = a·(x₀ − 127.5) + b·127.5·ε + 127.5, rounded and clipped."""
    h, w, c = payload["h"], payload["w"], payload["c"]
    x0 = np.frombuffer(base64.b64decode(payload["x0"]), np.uint8).reshape(h, w, c).astype(np.float64)
    eps = np.frombuffer(base64.b64decode(payload["eps"]), np.int8).reshape(h, w, c) / payload["eps_scale"]
    ab = payload["alpha_bar"][t]
    a, b = np.sqrt(ab), np.sqrt(1 - ab)
    return np.clip(np.rint(a * (x0 - 127.5) + b * 127.5 * eps + 127.5), 0, 255)


@pytest.mark.parametrize("example", [0, -1])  # a photo (RGB, 512 px) and an MNIST digit (grayscale, 28 px)
def test_payload_lets_the_browser_draw_the_servers_x_t(example):
    path, name = example_images()[example]
    state = forward.forward_state(load_image(path), 5, name)
    payload = forward.client_payload(state, "cosine", 1000, False)
    s_ab = forward.render.cached_schedule("cosine", 1000, False).alpha_bar
    assert payload["alpha_bar"] == s_ab.tolist() and len(payload["beta"]) == 1000 and payload["T"] == 1000
    for t in (0, 250, 700, 999):
        server = forward.forward_image(state, "cosine", 1000, False, t).astype(np.float64)
        k = state["k"]
        server = server[::k, ::k]  # the server upscales tiny images ×k; the browser scales the canvas instead
        if server.ndim == 2:
            server = server[..., None]
        diff = np.abs(_blend_like_the_browser(payload, t) - server)
        # ε travels in steps of 1/EPS_SCALE: at most 127.5·b/(2·EPS_SCALE) ≤ 2.7 grey levels, plus one for rounding
        bound = math.ceil(127.5 / (2 * payload["eps_scale"])) + 1
        assert diff.mean() < 1.0 and diff.max() <= bound, (t, diff.mean(), diff.max())
    again = forward.client_payload(forward.forward_state(load_image(path), 5, name), "cosine", 1000, False)
    assert again["key"] == payload["key"]  # same image + seed → same key: the browser decodes once
    other = forward.client_payload(forward.forward_state(load_image(path), 6, name), "cosine", 1000, False)
    assert other["key"] != payload["key"]
    assert forward.client_payload(None, "cosine", 1000, False) is None


def test_the_numbers_line_the_browser_writes_matches_the_server_format():
    """The JS formats like Python's .4f / .4g / +.2f / .3g: pin the Python side on values the JS test also sees."""
    md = forward._numbers_md("cosine", 1000, False, 900)
    assert "**t = 900** of T = 1000" in md and "SNR(t) = **" in md and "(log-SNR -" in md
    assert "terminal SNR(T−1) = **2.43e-09**" in md  # Python's %g exponent form, which the JS reproduces
    js = forward.BLEND_JS
    for piece in ("**t = ${t}** of T = ${T}", "terminal SNR(T−1) = **${g(P.terminal_snr, 3)}**", "padStart(2, \"0\")"):
        assert piece in js


# ----------------------------------------------------------------------------------- /forward stays cheap


def test_forward_api_decodes_each_file_once(tmp_path, monkeypatch):
    path, _ = example_images()[0]
    calls = []
    real = forward.load_image
    monkeypatch.setattr(forward, "load_image", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    forward._api_state_cached.cache_clear()
    img1, st1 = forward.forward_api(path, "cosine", 1000, 100, False, 0)
    img2, st2 = forward.forward_api(path, "linear", 1000, 600, False, 0)
    assert len(calls) == 1  # the second call reused the decoded image and the noise
    assert st1["t"] == 100 and st2["schedule"].startswith("linear") and img1.shape == img2.shape
    state = forward.forward_state(real(path), 0, Path(path).name)
    assert np.array_equal(img2, forward.forward_image(state, "linear", 1000, False, 600))  # same answer as uncached
    forward.forward_api(path, "cosine", 1000, 100, False, 1)  # another seed: another noise, a new entry
    assert len(calls) == 2
    with pytest.raises(gr.Error, match="No image"):
        forward.forward_api(None)


# ------------------------------------------------------------------------------ bring your own checkpoint


def test_uploaded_checkpoint_joins_this_sessions_models_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path / "shipped"))
    make_tiny_checkpoint(tmp_path / "shipped" / "mnist_eps_cond.pt")
    mine = make_tiny_checkpoint(tmp_path / "elsewhere" / "my_model.pt", seed=3)
    md, models, dropdown = sampling.upload_checkpoint(str(mine), {})
    assert "my_model.pt" in md and "loaded" in md and len(models) == 1
    (label, path), = models.items()
    assert label.startswith("uploaded: ") and Path(path).is_file() and dropdown.value == Path(path).name
    assert path not in [p for _, p in list_checkpoints()]  # other sessions never list it
    assert path in [p for _, p in list_checkpoints(models)]
    model, meta = get_model(path, models)  # and this session can sample with it
    with pytest.raises(gr.Error, match="Unknown checkpoint"):
        get_model(path, {})


def _pickle_payload(path: Path) -> Path:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {path.parent / 'pwned'}",))

    with open(path, "wb") as f:
        pickle.dump({"format": "diffusion-playground/1", "ema": Evil()}, f)
    return path


def test_bad_checkpoint_uploads_get_a_clear_message(tmp_path, monkeypatch):
    evil = _pickle_payload(tmp_path / "evil.pt")
    with pytest.raises(gr.Error, match="Cannot use 'evil.pt'"):
        sampling.upload_checkpoint(str(evil), {})
    assert not (tmp_path / "pwned").exists()
    good = make_tiny_checkpoint(tmp_path / "good.pt")
    obj = torch.load(good, weights_only=True)
    obj["ema"] = {k: v[..., :1] if v.ndim else v for k, v in obj["ema"].items()}  # wrong shapes
    torch.save(obj, tmp_path / "shapes.pt")
    with pytest.raises(gr.Error, match="do not match"):
        sampling.upload_checkpoint(str(tmp_path / "shapes.pt"), {})
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(gr.Error, match="empty"):
        sampling.upload_checkpoint(str(tmp_path / "empty.pt"), {})
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(gr.Error, match="Cannot use 'text.pt'"):
        sampling.upload_checkpoint(str(tmp_path / "text.pt"), {})
    monkeypatch.setattr(LIMITS, "max_checkpoint_bytes", 1000)
    with pytest.raises(gr.Error, match="up to 0 MB|MB; this server takes"):
        sampling.upload_checkpoint(str(good), {})
    with pytest.raises(gr.Error, match="No file"):
        sampling.upload_checkpoint(None, {})


# -------------------------------------------------------------------------------------------- ZeroGPU


def test_sampling_stream_pickles_for_the_zerogpu_worker(tmp_path, monkeypatch):
    """ZeroGPU runs the handler in a forked worker: its arguments and every yielded value must pickle."""
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path))
    make_tiny_checkpoint(tmp_path / "mnist_eps_cond.pt")
    monkeypatch.setattr(sampling, "STREAM_EVERY_S", 0.0)
    args = (None, 4, 0.5, "trailing", True, "mixed 0–9", 1.5, 2, 0, True, {})
    pickle.loads(pickle.dumps(args))
    outs = list(sampling.sample_compare(*args))
    assert len(outs) == 4
    for out in outs:
        back = pickle.loads(pickle.dumps(out))
        assert len(back) == len(out) == 8


# ---------------------------------------------------------------------------------------------- busy hosts


def test_busy_host_drops_to_one_thread_and_comes_back(monkeypatch):
    monkeypatch.delenv("PLAYGROUND_THREADS", raising=False)
    monkeypatch.setattr(limits, "_DEFAULT_THREADS", 2)
    monkeypatch.setattr(limits, "_cores", lambda: 2)
    before = torch.get_num_threads()
    try:
        assert adapt_threads(load=9.0) == 1 and torch.get_num_threads() == 1  # others hold the cores
        assert adapt_threads(load=2.2) == 1  # in between: keep what we have (no flapping)
        assert adapt_threads(load=0.3) == 2 and torch.get_num_threads() == 2  # calm again
        assert adapt_threads(load=2.2) == 2
        with interactive_work():  # another student's sampling job is running: one thread each
            assert adapt_threads(load=0.3) == 1 and torch.get_num_threads() == 1
        assert adapt_threads(load=0.3) == 2  # alone and calm: all the cores again
        monkeypatch.setenv("PLAYGROUND_THREADS", "2")  # pinned by the operator: never changed
        assert adapt_threads(load=50.0) == 2
    finally:
        torch.set_num_threads(before)


def test_a_schedule_change_never_overwrites_t_unless_the_new_T_forces_it():
    """A deep link sets schedule and t in one update; the schedule's change event must not put the old t back."""
    path, name = example_images()[0]
    state = forward.forward_state(load_image(path), 0, name)
    slider = forward.forward_schedule_changed(state, "linear", 1000, False, 250)[0]
    assert slider._constructor_args[0] == {"maximum": 999}  # the update sends the new maximum only: t untouched
    slider = forward.forward_schedule_changed(None, "linear", 100, False, 600)[0]
    assert slider.maximum == 99 and slider.value == 99  # forced down to T−1
