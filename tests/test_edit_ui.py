"""The "Draw & edit" tab (playground/ui/edit.py): handlers called directly, the public endpoints /sdedit, /inpaint and
/invert through the real server (tests/conftest.py ``client``), and a real browser that draws a stroke on the
sketchpad and runs SDEdit (``live_app``). Handlers and the server use the tiny random checkpoint (T = 100): the
images are noise-like, but every number, file and message is real.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import ROOT, TINY_T
from PIL import Image, ImageDraw

from playground.editing import edits
from playground.ui.edit import handlers as U

pytestmark = pytest.mark.usefixtures("one_thread_module")

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(autouse=True)
def tiny_models(tiny_ckpt_dir, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tiny_ckpt_dir))


def drawing(size=280, mode="RGBA", ink=(0, 0, 0, 255), paper=(255, 255, 255, 255), width=None) -> np.ndarray:
    """A '7' as a Sketchpad composite would hold it."""
    im = Image.new(mode, (size, size), paper if mode != "L" else 255)
    k = size / 280
    pts = [(84, 70), (196, 70), (126, 224)]
    ImageDraw.Draw(im).line([(x * k, y * k) for x, y in pts], fill=ink if mode != "L" else 0,
                            width=width or max(1, round(22 * k)), joint="curve")
    return np.asarray(im)


def sketch(composite=None, layers=None, background=None) -> dict:
    return {"background": background, "layers": layers or [], "composite": composite}


def final(gen):
    out = list(gen)
    assert out, "the handler yielded nothing"
    return out


def shown(out):
    """What the page shows once the stream ends: per output, the last value sent (gr.skip() sends none)."""
    cols = [None] * len(out[-1])
    for row in out:
        for i, v in enumerate(row):
            if not (isinstance(v, dict) and v.get("__type__") == "update"):
                cols[i] = v
    return cols


# --- inputs ----------------------------------------------------------------------------------------------


def test_preview_of_a_drawing_is_the_mnist_framed_digit():
    img, md, brush = U.preview("draw", sketch(drawing()), 0, None)
    assert img.shape == (224, 224) and img.dtype == np.uint8
    ref = edits.prepare_digit(drawing(), background="white").image
    small = img[::8, ::8].astype(np.float32) / 255  # nearest-neighbour ×8 → every 8th pixel is the 28×28 digit
    assert np.abs(small - ref).max() <= 1 / 255 + 1e-6
    assert "20" in md and "centre of mass" in md
    assert brush["background"].shape == (280, 280, 3)  # the brush editor now shows the digit


@pytest.mark.parametrize("value, message", [
    (None, "empty"),
    (sketch(), "empty"),  # a fresh Sketchpad: no composite, no layers
    (sketch(np.full((280, 280, 4), 255, np.uint8)), "empty"),  # white, opaque
    (sketch(np.zeros((280, 280, 4), np.uint8)), "empty"),  # transparent
    (sketch(np.concatenate([np.zeros((280, 280, 3), np.uint8), np.full((280, 280, 1), 255, np.uint8)], 2)), "all ink"),
    (sketch(np.zeros((280, 280, 3), np.uint8)), "all ink"),  # all black, RGB
])
def test_empty_and_all_ink_sketches_explain_themselves(value, message):
    img, md, _ = U.preview("draw", value, 0, None)
    assert img is None and md.startswith("⚠") and message in md
    with pytest.raises(gr.Error, match=message):
        U.get_digit("draw", value)


def test_sketch_formats_rgba_layers_only_and_huge():
    ref = U.get_digit("draw", sketch(drawing()))["x0"]
    transparent = drawing(paper=(0, 0, 0, 0))  # strokes on a transparent canvas
    layers_only = sketch(None, layers=[transparent])  # no composite: the layers are used
    rgb = drawing(mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255))
    huge = drawing(size=4200)  # 70 MB of RGBA: reduced first, same digit
    for name, value in (("transparent", sketch(transparent)), ("layers only", layers_only), ("rgb", sketch(rgb)),
                        ("huge", sketch(huge))):
        x0 = U.get_digit("draw", value)["x0"]
        assert float(edits.pixel_rmse(x0, ref)[0]) < (0.1 if name == "huge" else 1e-3), name  # huge: ±1 px of rounding


def test_mnist_and_upload_sources(tmp_path):
    d = U.get_digit("mnist", None, 3, None)
    x0, label = edits.heldout_digit(3)
    assert torch.equal(d["x0"], x0) and d["label"] == label and f"a real **{label}**" in d["note"]
    p = tmp_path / "seven.png"
    Image.fromarray(drawing(mode="L")).save(p)
    up = U.get_digit("upload", None, 0, str(p))
    assert float((up["x0"] - U.get_digit("draw", sketch(drawing()))["x0"]).abs().max()) < 1e-5
    with pytest.raises(gr.Error, match="No image uploaded"):
        U.get_digit("upload", None, 0, None)
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    with pytest.raises(gr.Error, match="not an image"):
        U.get_digit("upload", None, 0, str(bad))


# --- the four tools, as handlers ----------------------------------------------------------------------------


def test_sdedit_handler_streams_and_ends_with_numbers_and_files():
    out = final(U.sdedit_run("mnist", None, 0, None, 0.6, "ddim", 30, "7", 1.5, 0))
    last = out[-1]
    noised, x_t, x0p, result, numbers, status, files = last
    assert result.shape == (224, 224) and "distance to the input" in numbers and "classifier:" in numbers
    assert "Done" in status and "t₀ = 60 of T = 100" in status and "30 DDIM steps" in status
    assert [Path(f).suffix for f in files] == [".png", ".gif"] and all(Path(f).stat().st_size > 100 for f in files)
    assert Image.open(files[1]).n_frames == 31  # the noised input + 30 steps


def test_sdedit_at_strength_zero_gives_back_the_input():
    out = final(U.sdedit_run("mnist", None, 5, None, 0.0, "ddpm", 50, U.LABEL_NONE, 1.0, 0))
    assert np.array_equal(out[-1][3], U._img(edits.heldout_digit(5)[0]))
    assert "distance to the input 0.000" in out[-1][4]


def test_sdedit_same_seed_same_result_and_label_choices():
    a = final(U.sdedit_run("draw", sketch(drawing()), 0, None, 0.8, "ddpm", 20, "3", 2.0, 7))[-1][3]
    b = final(U.sdedit_run("draw", sketch(drawing()), 0, None, 0.8, "ddpm", 20, "3", 2.0, 7))[-1][3]
    c = final(U.sdedit_run("draw", sketch(drawing()), 0, None, 0.8, "ddpm", 20, "3", 2.0, 8))[-1][3]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(gr.Error, match="digit label"):
        final(U.sdedit_run("mnist", None, 0, None, 0.5, "ddim", 5, "eleven", 1.0, 0))
    with pytest.raises(gr.Error, match="strength"):
        final(U.sdedit_run("mnist", None, 0, None, 1.5, "ddim", 5, "1", 1.0, 0))


def test_runs_also_refresh_the_preview_with_the_digit_they_used():
    """Preview events run un-queued while typing and can answer out of order; each run re-sends its own input."""
    out = final(U.with_seen(U.sdedit_run)("mnist", None, 4, None, 0.3, "ddim", 5, "1", 1.0, 0))
    assert all(len(o) == 9 for o in out)
    seen, seen_md = out[-1][7:]
    assert np.array_equal(seen, U._img(edits.heldout_digit(4)[0])) and "#4" in seen_md
    fig, md, seen, _ = U.with_seen(U.drift_run)("mnist", None, 4, None, "1", steps_list=(5,), guidances=(1.0,),
                                                progress=lambda *a, **k: None)
    assert np.array_equal(seen, U._img(edits.heldout_digit(4)[0]))


def test_strip_handler():
    out = final(U.sdedit_strip_run("mnist", None, 0, None, "ddim", 20, "7", 1.0, 0))
    img, md, files = shown(out)
    assert img.ndim == 3 and img.shape[1] > 9 * 112  # the input and 8 results side by side, captions below
    assert "The dial" in md and "faithfulness" in md and len(files) == 1
    assert len(out) == 1 + len(U.STRIP)  # one frame per strength, then the final


def test_inpaint_handler_keeps_the_kept_pixels_and_reads_a_brush():
    out = final(U.inpaint_run("mnist", None, 2, None, "right half", None, 2, 3, "ddpm", 12, "8", 1.5, 0))
    mask_img, x_t, x0p, result, numbers, status, files = shown(out)
    assert "max |change| = 0**" in numbers and "392 pixels regenerated" in numbers
    assert "r = 2, j = 3" in status and mask_img.shape == (224, 224, 3)
    x0 = edits.heldout_digit(2)[0]
    assert np.array_equal(result[:, :112], U._img(x0)[:, :112])  # the kept left half, pixel for pixel
    layer = np.zeros((280, 280, 4), np.uint8)
    layer[:140, :, 3] = 255  # painted the top half
    brush = {"background": None, "layers": [layer], "composite": None}
    out = final(U.inpaint_run("mnist", None, 2, None, U.BRUSH, brush, 1, 10, "ddim", 8, U.LABEL_AUTO, 1.0, 0))
    assert "392 pixels regenerated" in out[-1][4]
    with pytest.raises(gr.Error, match="No brush strokes"):
        final(U.inpaint_run("mnist", None, 2, None, U.BRUSH, {"layers": []}, 1, 10, "ddim", 8, "1", 1.0, 0))


def test_invert_handler_and_drift():
    out = final(U.invert_run("mnist", None, 0, None, 20, U.LABEL_AUTO, 1.0))
    xt, x0p, latent, recon, err, numbers, status, files = out[-1]
    m = re.search(r"reconstruction RMSE ([0-9.]+)", numbers)
    assert m and 0 <= float(m.group(1)) < 1 and "latent std" in numbers
    assert "20 DDIM steps up" in status and len(files) == 2
    assert Image.open(files[1]).n_frames == 40  # 20 up + 20 down
    fig, md = U.drift_run("mnist", None, 0, None, "7", steps_list=(5, 10), guidances=(1.0, 3.0),
                          progress=lambda *a, **k: None)
    assert len(fig.data) == 2 and list(fig.data[0].x) == [5, 10]
    assert "| 5 |" in md and "| 10 |" in md and "w = 3" in md


def test_interpolate_handler():
    row, md, files = U.interpolate_run("mnist", None, 0, None, 1, 5, True, 10)
    assert row.ndim == 3 and "5 points" in md and "label" in md and len(files) == 2


# --- the public endpoints, through the real server --------------------------------------------------------------


@pytest.fixture(scope="module")
def seven_png(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("edit") / "seven.png"
    Image.fromarray(drawing(mode="L")).save(p)
    return str(p)


def test_public_endpoints_are_listed_with_their_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/sdedit", "/inpaint", "/invert"} <= set(api)
    params = {k: [p["parameter_name"] for p in api[k]["parameters"]] for k in ("/sdedit", "/inpaint", "/invert")}
    assert params["/sdedit"][:3] == ["image", "strength", "sampler"]
    assert params["/inpaint"][:2] == ["image", "mask"] and "resamplings" in params["/inpaint"]
    assert params["/invert"][:2] == ["image", "steps"]


def test_sdedit_endpoint(client, seven_png):
    from gradio_client import handle_file

    files, numbers = client.predict(handle_file(seven_png), 0.5, "ddim", 20, "7", 1.0, 3, "", api_name="/sdedit")
    assert numbers["t0"] == TINY_T // 2 and numbers["steps"] == 20 and numbers["label"] == 7
    assert 0 <= numbers["distance_to_input"] <= 1 and 0 <= numbers["confidence"] <= 1
    paths = [f["path"] if isinstance(f, dict) else f for f in files]
    assert [Path(p).suffix for p in paths] == [".png", ".gif"] and all(Path(p).is_file() for p in paths)
    again = client.predict(handle_file(seven_png), 0.5, "ddim", 20, "7", 1.0, 3, "", api_name="/sdedit")[1]
    assert again == numbers  # deterministic given the seed


def test_inpaint_endpoint_keeps_pixels_exactly(client, seven_png, tmp_path):
    from gradio_client import handle_file

    files, numbers = client.predict(handle_file(seven_png), "bottom half", "3", 1.5, "ddpm", 10, 2, 3, 0, None, "",
                                    api_name="/inpaint")
    assert numbers["kept_max_abs_change"] == 0.0 and numbers["regenerated_pixels"] == 392
    assert numbers["model_calls"] == len([op for op in edits.repaint_ops(10, 3, 2) if op[0] == "down"])
    mask = np.zeros((28, 28), np.uint8)
    mask[:, 20:] = 255  # white = regenerate
    Image.fromarray(mask).save(tmp_path / "mask.png")
    numbers = client.predict(handle_file(seven_png), "brush", "auto", 1.0, "ddim", 5, 1, 10, 0,
                             handle_file(str(tmp_path / "mask.png")), "", api_name="/inpaint")[1]
    assert numbers["regenerated_pixels"] == 8 * 28 and numbers["kept_max_abs_change"] == 0.0


def test_invert_endpoint_returns_the_reconstruction_and_its_error(client, seven_png):
    from gradio_client import handle_file

    files, numbers = client.predict(handle_file(seven_png), 25, "auto", 1.0, "", api_name="/invert")
    assert numbers["steps"] == 25 and 0 <= numbers["rmse"] < 1 and numbers["latent_std"] > 0
    paths = [f["path"] if isinstance(f, dict) else f for f in files]
    assert Path(paths[0]).suffix == ".png" and Image.open(paths[0]).size[0] > 4 * 112


def test_endpoints_refuse_bad_input_clearly(client, tmp_path):
    from gradio_client import handle_file

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(blank)
    with pytest.raises(Exception, match="empty"):
        client.predict(handle_file(str(blank)), 0.5, "ddim", 10, "auto", 1.0, 0, "", api_name="/sdedit")
    seven = tmp_path / "seven.png"
    Image.fromarray(drawing(mode="L")).save(seven)
    with pytest.raises(Exception, match="unknown mask"):
        client.predict(handle_file(str(seven)), "diagonal", "auto", 1.0, "ddpm", 10, 1, 10, 0, None, "",
                       api_name="/inpaint")
    with pytest.raises(Exception, match="digit must be"):
        client.predict(handle_file(str(seven)), 10, "twelve", 1.0, "", api_name="/invert")


# --- a real browser: draw a stroke, run SDEdit ------------------------------------------------------------------


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_browser_draws_a_stroke_and_runs_sdedit(live_app):
    pw_mod = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live_app.url, wait_until="domcontentloaded")
        tab = page.get_by_role("tab", name=re.compile("Draw & edit"))
        tab.wait_for(timeout=90_000)
        brush = page.locator("#edit-sketch button[aria-label=Brush]")
        deadline = time.time() + 90
        while not brush.is_visible():  # the page's load event may select the first tab again: click until we stay
            assert time.time() < deadline, "the Draw & edit tab did not open"
            tab.click()
            page.wait_for_timeout(500)
        # no click on the brush: the tab selects it (Gradio 6's sketchpad starts with no tool)
        page.wait_for_function("() => { const b = document.querySelector('#edit-sketch button[aria-label=Brush]');"
                               " return !!b && b.classList.contains('highlight'); }", timeout=30_000)
        box = page.locator("#edit-sketch canvas").first.bounding_box()
        assert box and box["width"] > 100

        def at(u, v):
            return box["x"] + u * box["width"], box["y"] + v * box["height"]

        stroke = [(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)]  # a '7'
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for (u1, v1), (u2, v2) in zip(stroke, stroke[1:]):
            for k in range(1, 13):
                page.mouse.move(*at(u1 + (u2 - u1) * k / 12, v1 + (v2 - v1) * k / 12))
        page.mouse.up()
        page.locator("#edit-seen img").wait_for(timeout=120_000)  # the 28×28 preview of the drawing (slow under load)
        assert "centre of mass" in page.locator("#edit-seen-md").inner_text()
        page.locator("#edit-sdedit-btn").click()
        deadline, status = time.time() + 120, ""
        while time.time() < deadline and "Done" not in status:
            page.wait_for_timeout(100)
            status = page.locator("#edit-sd-status").inner_text()
        assert "Done" in status, status
        assert page.locator("#edit-sd-out img").count() == 1
        numbers = page.locator("#edit-sd-numbers").inner_text()
        assert re.search(r"distance to the input \d\.\d{3}", numbers), numbers
        page.screenshot(path=str(SHOTS / "6_edit_sdedit.png"))
        # Stop during the strip (8 SDEdits): it ends with "Stopped at step k/8", keeping the strip so far
        page.locator("#edit-strip-btn").click()
        page.wait_for_function("() => /Running/.test(document.querySelector('#edit-strip-md').innerText)",
                               timeout=120_000)
        page.locator("#edit-sd-stop").click()
        page.wait_for_function("() => /Stopped/.test(document.querySelector('#edit-strip-md').innerText)",
                               timeout=60_000)
        assert re.search(r"Stopped at step \d/8", page.locator("#edit-strip-md").inner_text())
        assert page.locator("#edit-strip img").count() == 1
        browser.close()
    assert not errors, errors


# --- typed job events, the one ending, Stop, and checks before the GPU --------------------------------------------


class Flag:
    """A stop flag that is set after `after` checks (what jobs.StopFlag looks like to a stream)."""

    def __init__(self, after: int):
        self.after, self.checks = after, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.after


def test_jobs_yield_typed_steps_then_one_done_and_the_endpoint_is_that_done():
    from playground.ui.edit import tools
    from playground.ui.events import Done, Step, run_to_end

    d = U.get_digit("mnist", None, 3, None)
    events = list(tools.sdedit_job(d, 0.4, "ddim", 20, "5", 1.0, 2, None, None))
    assert all(isinstance(e, Step) for e in events[:-1]) and isinstance(events[-1], Done)
    ks = [e.k for e in events[:-1]]
    assert ks == sorted(ks) and events[-2].k == events[-2].n == 20  # every step, in order, to the last
    files, numbers = run_to_end(tools.sdedit_job(d, 0.4, "ddim", 20, "5", 1.0, 2, None, None))
    assert numbers == events[-1].result[1] and numbers["steps"] == 20 and numbers["label"] == 5
    with pytest.raises(RuntimeError, match="without a result"):
        run_to_end(iter([Step(1, 2, "x")]))


def test_stream_stops_after_step_k_keeping_its_images_and_closes_the_job():
    from playground.ui.events import Done, Step, stream

    closed = []

    def job():
        try:
            for k in range(1, 11):
                yield Step(k, 10, f"step {k}", {"x_t": np.full((4, 4), k, np.uint8)})
            yield Done("done", {"x_t": np.zeros((4, 4), np.uint8), "files": ["a.png"]})
        finally:
            closed.append(True)

    out = list(stream(job(), ("x_t", "status", "files"), stop=Flag(after=3)))
    x_t, status, files = out[-1]
    assert "Stopped" in status and "step **4/10**" in status  # the step that was running when Stop came
    assert np.array_equal(x_t, np.full((4, 4), 4, np.uint8))  # its image, kept on screen
    assert isinstance(files, type(gr.skip())) and closed == [True]
    full = list(stream(job(), ("x_t", "status", "files")))
    assert full[-1][1] == "done" and full[-1][2] == ["a.png"] and len(full) == 11


def test_stream_does_not_send_an_unchanged_image_again_and_skipped_values_travel_on():
    from playground.ui.events import Done, Step, stream

    same = np.ones((3, 3), np.uint8)
    events = [Step(1, 3, "a", {"noised": same, "x_t": same * 2}),
              Step(2, 3, "b", {"noised": same.copy(), "x_t": same}),
              Done("c", {"noised": same, "x_t": same})]
    out = list(stream(iter(events), ("noised", "x_t", "status")))
    skip = type(gr.skip())
    assert isinstance(out[1][0], skip) and np.array_equal(out[1][1], same)  # noised unchanged: not re-sent
    assert isinstance(out[2][0], skip) and isinstance(out[2][1], skip) and out[2][2] == "c"
    slow = list(stream(iter(events), ("noised", "x_t", "status"), every_s=3600))
    assert len(slow) == 2 and np.array_equal(slow[0][0], same) and slow[-1][2] == "c"


def test_sdedit_run_stops_with_the_shared_flag(monkeypatch):
    from playground.ui import jobs

    gen = U.sdedit_run("mnist", None, 0, None, 1.0, "ddpm", 100, "1", 1.0, 0)
    first = next(gen)
    assert "Running" in first[5]
    assert jobs.request_stop("sdedit", None)  # what the Stop button does (this session: "anonymous")
    rest = list(gen)
    status = rest[-1][5]
    assert re.search(r"Stopped\*\* at step \*\*\d+/100\*\*", status), status
    assert isinstance(rest[-1][1], np.ndarray) and rest[-1][1].shape == (224, 224)  # x_t at that step, kept
    assert not jobs.is_running("sdedit", None)


def test_bad_input_is_refused_before_the_gpu_is_asked_for(monkeypatch):
    called = []
    for name in ("_sdedit_gpu", "_strip_gpu", "_inpaint_gpu", "_invert_gpu", "_sdedit_to_end", "_inpaint_to_end"):
        monkeypatch.setattr(U, name, lambda *a, _n=name, **k: called.append(_n))
    cases = [(lambda: final(U.sdedit_run("mnist", None, 0, None, 1.5, "ddim", 5, "1", 1.0, 0)), "strength"),
             (lambda: final(U.sdedit_run("mnist", None, 0, None, 0.5, "euler", 5, "1", 1.0, 0)), "sampler"),
             (lambda: final(U.sdedit_strip_run("mnist", None, 0, None, "ddim", 5, "eleven", 1.0, 0)), "digit label"),
             (lambda: final(U.inpaint_run("mnist", None, 0, None, U.BRUSH, None, 1, 10, "ddpm", 5, "1", 1.0, 0)),
              "No brush strokes"),
             (lambda: final(U.inpaint_run("mnist", None, 0, None, "top half", None, 40, 10, "ddpm", 5, "1", 1.0, 0)),
              "resamplings"),
             (lambda: final(U.inpaint_run("mnist", None, 0, None, "top half", None, 1, 10, "dpmpp_2m", 5, "1", 1.0,
                                          0)), "DDPM or DDIM"),
             (lambda: final(U.invert_run("draw", sketch(), 0, None, 10, "1", 1.0)), "empty")]
    for run, match in cases:
        with pytest.raises(gr.Error, match=match):
            run()
    assert called == []


def test_gpu_durations_grow_with_the_work():
    from playground.ui import zerogpu

    assert U._seconds_for(U._model_calls(10)) < U._seconds_for(U._model_calls(200))
    assert U._seconds_for(U._model_calls(50)) == zerogpu.sampling_seconds(50, 1, cfg=True)
    assert U._repaint_calls(20, 3, 5) == len([op for op in edits.repaint_ops(20, 5, 3) if op[0] == "down"]) > 20
    assert U._seconds_for(U._drift_calls()) > U._seconds_for(U._model_calls(100))


def test_summary_captions_fit_their_columns_and_every_character_has_a_glyph(monkeypatch):
    from playground import render

    tiles = [np.full((112, 112), v, np.uint8) for v in (0, 90, 180, 250)]
    caps = [["input x0"], ["latent x_T · std 0.41"], ["reconstruction · RMSE 0.0166"], ["|error| × 5"]]
    for files in (render._FONT_FILES, ()):  # DejaVu where installed, then Pillow's own font
        monkeypatch.setattr(render, "_FONT_FILES", files)
        render.caption_font.cache_clear()
        font = render.caption_font(15)
        row = render.captioned_row(tiles, caps)
        band = row[112:].min(axis=2) < 128  # ink in the caption band, per column
        ink_cols = np.flatnonzero(band.any(axis=0))
        gaps = np.flatnonzero(np.diff(ink_cols) > 6)  # white runs between captions
        assert len(gaps) >= 3, "captions run into each other"
        drawn = [render.drawable(c[0], font) for c in caps]
        assert all(render._has_glyph(font, ch) for line in drawn for ch in line)
        assert ("×" in drawn[3]) == (font.getname()[0] == "DejaVu Sans")
    render.caption_font.cache_clear()


def test_every_stop_handler_receives_the_request():
    """Gradio passes gr.Request only to a parameter whose type hint it resolves (shared jobs.stop_handler)."""
    from gradio import utils

    from playground.ui import jobs

    assert utils.get_type_hints(jobs.stop_handler("sdedit")).get("request") is gr.Request
    for fn in (U.sdedit_run, U.sdedit_strip_run, U.inpaint_run, U.invert_run, U.drift_run):
        assert utils.get_type_hints(U.with_seen(fn)).get("request") is gr.Request, fn.__name__
