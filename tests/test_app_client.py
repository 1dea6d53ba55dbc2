"""The three public endpoints of the running app, called with gradio_client (the real server, as a user starts it).

Uses the session-wide ``live_app`` / ``client`` fixtures of tests/conftest.py: ``python app.py --port <free>``
with a tiny random-weight checkpoint and tight limits. Each call is small: the whole file takes a few seconds
once the server is up.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from playground.schedules import make_schedule

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "examples" / "chelsea.png"


def _path(v):
    """A file output as gradio_client returns it: a local path (str) or a dict with one."""
    if isinstance(v, dict):
        return v.get("path") or v.get("value")
    return v


def test_public_endpoints_are_named_and_internal_ones_hidden(client):
    api = client.view_api(print_info=False, return_format="dict")
    named = set(api["named_endpoints"])
    assert {"/forward", "/sample", "/train"} <= named
    # widget wiring (slider moves, timers, page-load events) is not part of the public API
    assert not any(n.startswith(("/forward_render", "/play_tick", "/forward_load")) for n in named)
    params = [p["parameter_name"] for p in api["named_endpoints"]["/forward"]["parameters"]]
    assert params[:4] == ["image", "schedule", "diffusion_steps", "t"]


def test_forward_endpoint_by_keyword(client):
    """T and t have distinct names, so keyword calls can't mix them up."""
    _, stats = client.predict(image=handle_file(str(EXAMPLE)), schedule="linear", diffusion_steps=100, t=7,
                              zero_terminal_snr=False, seed=0, api_name="/forward")
    assert (stats["T"], stats["t"]) == (100, 7)


def test_forward_endpoint(client):
    img, stats = client.predict(handle_file(str(EXAMPLE)), "cosine", 1000, 500, False, 3, api_name="/forward")
    s = make_schedule("cosine", 1000)
    assert stats["t"] == 500 and stats["alpha_bar"] == pytest.approx(float(s.alpha_bar[500]), rel=1e-9)
    assert stats["snr"] == pytest.approx(float(s.snr[500]), rel=1e-9)
    assert stats["log_snr"] == pytest.approx(math.log(float(s.snr[500])), rel=1e-9)
    w, h = Image.open(EXAMPLE).size
    assert (stats["width"], stats["height"]) == (w, h)
    with Image.open(_path(img)) as x_t:
        assert x_t.size == (w, h)
        # at t = 500 of a cosine schedule the image is about half signal: not the clean image, not pure noise
        a = np.asarray(x_t.convert("RGB"), float)
        clean = np.asarray(Image.open(EXAMPLE).convert("RGB"), float)
        corr = np.corrcoef(a.ravel(), clean.ravel())[0, 1]
        assert 0.2 < corr < 0.95, corr


def test_forward_endpoint_rejects_a_non_image(client, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), "cosine", 1000, 10, False, 0, api_name="/forward")


def test_sample_endpoint_streams_then_returns_grids_and_gifs(client, live_app):
    ckpt = str(live_app.ckpt_dir / "mnist_eps_cond.pt")
    job = client.submit(ckpt, 30, 0.0, "trailing", True, "mixed 0–9", 2.0, 2, 0, True, api_name="/sample")
    final = job.result(timeout=120)
    streamed = job.outputs()
    assert len(streamed) >= 2, "the sample endpoint should stream intermediate frames"
    *images, status, files = final
    assert "Done" in status and "step **30/30**" in status
    for img in images:  # DDPM, DDIM, DPM-Solver++: x_t and predicted x̂₀
        assert Path(_path(img)).is_file()
    assert [Path(_path(f)).suffix for f in files] == [".png", ".gif"] * 3  # grid + trajectory per sampler


def test_train_endpoint_then_sample_the_trained_model(client):
    out = client.predict("tiny", "eps", "linear", 100, False, 8, 1e-3, 3, 8, True, "small (16, 32, 64)", 2,
                         api_name="/train")
    status, loss_fig, bucket_fig, preview, download, dropdown_value = out
    assert "Finished" in status and "after 3 steps" in status
    assert Path(_path(download)).is_file() and Path(_path(download)).stat().st_size > 10_000
    assert Path(_path(preview)).is_file()
    # the model trained in this (client) session is now a valid choice for /sample: by its server path
    # (the model dropdown's new value), or simply by its file name
    server_path = dropdown_value if isinstance(dropdown_value, str) else dropdown_value["value"]
    for ref in (server_path, Path(_path(download)).name):
        final = client.predict(ref, 5, 0.0, "trailing", True, "3", 1.0, 1, 0, False, api_name="/sample")
        assert "Done" in final[6]
