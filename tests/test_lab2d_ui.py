"""The 2-D lab tab (playground/ui/lab2d/): its handlers called directly, the /lab2d endpoint through the real
server (gradio_client), and the tab in headless Chromium (open it, move t, train, sample).

Handlers run with the learned-model trainer capped at a few hundred steps (monkeypatched) so the file stays fast.
"""
from __future__ import annotations

import base64
import json
import math
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from playground import toy2d
from playground.ui.lab2d import config, runs, session, view

pytestmark = pytest.mark.usefixtures("one_thread_module")


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass


@pytest.fixture(autouse=True)
def quick_training(monkeypatch):
    """Any training a test triggers stops after 60 steps (the tab's runs end at 2,000 steps or the time budget)."""
    monkeypatch.setattr(runs, "TRAIN_STEPS", 60)
    monkeypatch.setattr(runs, "AUTO_TRAIN_SECONDS", 20.0)


@pytest.fixture(scope="module")
def moons():
    return session.lab_data("moons", 800, 0)


@pytest.fixture(scope="module")
def training(moons):
    """One streamed training run of 250 steps: (every streamed output, the final model state)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "TRAIN_STEPS", 250)
        events = list(runs.lab_train(moons, "cosine", False, 60, "v"))
    return events, events[-1][2]


@pytest.fixture(scope="module")
def trained(training):
    return training[1]


def decode(spec) -> np.ndarray:
    """plotly.js typed-array spec (or a plain list) → numpy."""
    if isinstance(spec, dict) and "bdata" in spec:  # ours are f4; plotly's own go.Figure JSON writes f8
        return np.frombuffer(base64.b64decode(spec["bdata"]),
                             dtype={"f4": np.float32, "f8": np.float64}[spec["dtype"]])
    return np.asarray(spec, dtype=np.float64)


def fig_of(plot) -> dict:
    return json.loads(plot.plot)


# --- data ----------------------------------------------------------------------------------------------------------


def test_lab_data_is_seeded_and_capped(moons):
    again = session.lab_data("moons", 800, 0)
    assert torch.equal(moons["x0"], again["x0"]) and torch.equal(moons["eps"], again["eps"])
    assert moons["x0"].shape == (800, 2) and len(moons["sub"]) == config.DISAGREE_POINTS
    with pytest.raises(gr.Error, match="PLAYGROUND_LAB2D_MAX_POINTS"):
        session.lab_data("moons", config.MAX_POINTS + 1, 0)
    with pytest.raises(gr.Error, match="from 8"):
        session.lab_data("moons", 0, 0)
    with pytest.raises(gr.Error, match="finite"):
        session.lab_data("moons", float("nan"), 0)
    with pytest.raises(gr.Error, match="unknown dataset"):
        session.lab_data("spirals", 100, 0)
    with pytest.raises(gr.Error, match="Use my drawing"):
        session.lab_data(config.DRAWING, 100, 0, None)


def _canvas(draw) -> dict:
    img = np.zeros((360, 360, 4), np.uint8)  # the Sketchpad sends RGBA with a transparent background
    draw(img)
    return {"background": None, "layers": [img], "composite": img}


def test_drawing_turns_into_a_dataset_and_bad_drawings_are_explained():
    def ring(img):
        yy, xx = np.mgrid[0:360, 0:360]
        img[np.abs(np.hypot(xx - 180, yy - 180) - 100) < 4] = (0, 0, 0, 255)

    drawing, choice = session.use_drawing(_canvas(ring))
    assert choice == config.DRAWING
    state = session.lab_data(config.DRAWING, 500, 3, drawing)
    r = state["x0"].double().norm(dim=1)
    assert abs(float(r.std() / r.mean())) < 0.05  # a ring stays a ring after standardization
    assert state["key"][0] == "drawing"
    with pytest.raises(gr.Error, match="empty"):
        session.use_drawing(_canvas(lambda img: None))
    with pytest.raises(gr.Error, match="empty"):
        session.use_drawing(None)

    def dot(img):
        img[178:182, 178:182] = (0, 0, 0, 255)

    with pytest.raises(gr.Error, match="single dot"):
        session.use_drawing(_canvas(dot))


# --- the hot path ---------------------------------------------------------------------------------------------------


def test_render_draws_the_cloud_the_density_and_exact_arrows(moons):
    q, score, md = view.lab_render(moons, None, "cosine", False, 300, "both")
    fq, fs = fig_of(q), fig_of(score)
    heat, cloud = fq["data"]
    assert heat["type"] == "heatmap" and decode(heat["z"]).size == config.HEAT**2
    z = decode(heat["z"])
    assert z.max() == 0 and z.min() >= -9  # log q_t relative to its peak, clipped at 9 nats
    # the cloud is √ᾱ·x0 + √(1−ᾱ)·ε with the state's fixed ε
    ab = float(session.lab_schedule("cosine", False).alpha_bar[300])
    expect = (math.sqrt(ab) * moons["x0"] + math.sqrt(1 - ab) * moons["eps"]).numpy()
    assert (np.allclose(decode(cloud["x"]), expect[:, 0], atol=1e-6)
            and np.allclose(decode(cloud["y"]), expect[:, 1], atol=1e-6))
    arrows = [tr for tr in fs["data"] if tr.get("mode") == "lines"]
    assert [a["name"] for a in arrows] == ["exact"]  # no model yet: exact only, and the numbers say so
    assert config.HEAT == 32 and decode(arrows[0]["x"]).size == 7 * 32**2  # 32×32 arrows, 7 entries each
    assert "t = 300" in md and "Train the MLP" in md


def test_arrows_point_along_the_exact_score(moons):
    """Each arrow's shaft goes from its grid point in the direction of the exact score there."""
    _, score, _ = view.lab_render(moons, None, "cosine", False, 200, "exact")
    tr = next(t for t in fig_of(score)["data"] if t.get("name") == "exact")
    x, y = decode(tr["x"]).reshape(-1, 7), decode(tr["y"]).reshape(-1, 7)
    start, tip = np.stack([x[:, 0], y[:, 0]], 1), np.stack([x[:, 1], y[:, 1]], 1)
    gy, gx = np.meshgrid(config.GRID, config.GRID, indexing="ij")
    assert np.allclose(start, np.stack([gx, gy], -1).reshape(-1, 2), atol=1e-5)
    ab = float(session.lab_schedule("cosine", False).alpha_bar[200])
    s = toy2d.exact_score(moons["x0"].double(), torch.from_numpy(start).double(), ab).numpy()
    d = tip - start
    cos = (d * s).sum(1) / (np.linalg.norm(d, axis=1) * np.linalg.norm(s, axis=1) + 1e-12)
    long = np.linalg.norm(d, axis=1) > 0.05 * config.CELL
    assert cos[long].min() > 0.999
    assert np.linalg.norm(d, axis=1).max() <= 0.95 * config.CELL + 1e-6  # saturates at a cell


def test_arrow_segments_geometry():
    x, y = view.arrow_segments(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]),
                            np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -5.0]]), ref=1.0)
    seg = np.stack([x, y], 1).reshape(3, 7, 2)
    assert np.allclose(seg[0, 1], [0.95 * config.CELL * 0.5, 0.0])  # |d| = ref → half of 0.95 cell, along +x
    assert np.allclose(seg[1, 1], [1.0, 1.0])  # a zero score draws nothing
    assert np.allclose(seg[2, 1], [2.0, 2.0 - 0.95 * config.CELL * 5 / 6])
    assert np.isnan(seg[:, 2]).all() and np.isnan(seg[:, 6]).all()  # strokes are separated


def test_training_streams_and_the_learned_score_joins_the_plot(moons, trained):
    assert trained["steps"] == 250 and trained["key"] == session.model_key(moons, "cosine", False)
    _, score, md = view.lab_render(moons, trained, "cosine", False, 300, "both")
    names = [t.get("name") for t in fig_of(score)["data"] if t.get("mode") == "lines"]
    assert names == ["exact", "learned"]
    gap, share = re.search(r"= \*\*([0-9.]+)\*\* over .*?\(([0-9.]+)% of", md).groups()
    assert float(share) < 25  # 250 steps: the learned ε̂ is within a quarter of the exact one's size
    # the model belongs to its settings: another schedule shows exact arrows only and says why
    _, score2, _ = view.lab_render(moons, trained, "linear", False, 300, "both")
    assert [t.get("name") for t in fig_of(score2)["data"] if t.get("mode") == "lines"] == ["exact"]
    assert "other settings" in runs.describe_model(trained, moons, "linear", False)


def test_training_streams_its_loss_and_the_loss_falls(training):
    events, model = training
    assert len(events) >= 2 and "done" in events[-1][1] and "done" not in events[0][1]
    lengths = [decode(fig_of(fig)["data"][0]["y"]).size for fig, *_ in events]
    assert lengths == sorted(lengths) and lengths[-1] == model["steps"] == 250
    loss = decode(fig_of(events[-1][0])["data"][0]["y"])
    assert loss[-50:].mean() < 0.9 * loss[:10].mean()


# --- sampling --------------------------------------------------------------------------------------------------------


def test_sample_every_sampler_with_the_exact_score(moons):
    paths, anim, md, run, model = runs.lab_sample(moons, None, "cosine", False, list(toy2d.SAMPLERS_2D), 20,
                                                  0.0, True, 200, 0,
                                                progress=NoProgress())
    assert not (isinstance(model, dict) and "den" in model)  # the exact score trains nothing: the model stays
    for k in toy2d.SAMPLERS_2D:
        assert toy2d.SAMPLER_LABELS[k] in md
    ratios = [float(r) for r in re.findall(r"\*\*([0-9.]+)×\*\*", md)]
    assert len(ratios) == 6 and max(ratios) < 3
    fig = fig_of(anim)
    frames = fig["layout"]["meta"]["frames"]
    assert len(frames) == len(run["frames"]) == 21  # 20 steps → 21 states, all shown
    assert len(frames[0]["data"]) == 6 and len(frames[0]["data"][0]["x"]) == 200
    assert fig["layout"]["updatemenus"][0]["buttons"][0]["method"] == "animate"
    pfig = fig_of(paths)
    assert len(pfig["data"]) == 6 * (4 + config.PATHS)
    gif = runs.lab_gif(run, progress=NoProgress())
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 21 and im.size[0] > 700


def test_sample_with_the_learned_model_trains_first_when_needed(moons):
    paths, anim, md, run, model = runs.lab_sample(moons, None, "cosine", False, ["ddim", "sde"], 30, 0.0,
                                                  False, 300, 1,
                                                progress=NoProgress())
    assert isinstance(model, dict) and model["steps"] == 60 and "trained MLP" in md


def test_sample_bad_input_is_explained(moons):
    args = dict(state=moons, model=None, schedule="cosine", ztsnr=False, samplers=["ddim"], steps=10, eta=0.0,
                ideal=True, particles=50, seed=0, progress=NoProgress())
    for change, match in ((dict(steps=0), "from 1"), (dict(steps=config.MAX_STEPS + 1), "PLAYGROUND_MAX_STEPS"),
                          (dict(samplers=[]), "at least one sampler"), (dict(samplers=["euler_a"]), "unknown sampler"),
                          (dict(particles=config.MAX_PARTICLES + 1), "PLAYGROUND_LAB2D_MAX_PARTICLES"),
                          (dict(eta=float("nan")), "finite"), (dict(eta=2.0), "between 0 and 1"),
                          (dict(state=None), "Pick a dataset")):
        with pytest.raises(gr.Error, match=match):
            runs.lab_sample(**{**args, **change})


def test_memorization_ideal_lands_on_training_points(trained):
    small = session.lab_data("gaussians8", 150, 0)
    fig, md, model = runs.lab_memorize(small, None, "cosine", False, 300, 0, progress=NoProgress())
    med = {k: float(v) for k, v in zip(("exact", "learned", "fresh"), re.findall(r"\*\*([0-9.e-]+)\*\*", md))}
    assert med["exact"] < 0.01 < med["fresh"]  # on a training point vs. between them
    assert med["learned"] > 0.3 * med["fresh"]  # the network's samples fall between the points, as fresh data do
    hit = float(re.search(r"ideal denoiser \*\*(\d+)%\*\*", md).group(1))
    assert hit >= 50  # most ideal-denoiser samples are (to 10⁻⁵) a training point
    traces = fig_of(fig)["data"]
    assert [t["name"] for t in traces][2].startswith("ideal") and decode(traces[2]["y"])[0] >= 0.5  # the first bin
    assert abs(decode(traces[0]["y"]).sum() - 1) < 1e-6  # every fresh-data distance is counted somewhere


def test_study_table(moons):
    fig, md, _ = runs.lab_study(moons, None, "cosine", False, True, 0.0, 150, 0, samplers=["ddim", "langevin"],
                             steps_list=(5, 20), progress=NoProgress())
    z = fig_of(fig)["data"][0]
    assert len(z["y"]) == 2 and len(z["x"]) == 2
    assert md.count("×") >= 4 and "5 steps" in md


def test_api_handler_direct():
    samples, data, info = runs.lab2d_api("circles", 300, "pf_ode", 20, 0.0, "exact", 2, "linear", 100)
    assert len(samples) == 100 and len(data) == 300 and all(len(p) == 2 for p in samples[:5])
    assert info["sampler"] == "pf_ode" and info["nfe"] >= 39 and info["ratio"] < 3
    assert np.allclose(np.asarray(data), toy2d.make_dataset("circles", 300, 2).numpy(), atol=1e-5)
    with pytest.raises(gr.Error, match="score_source"):
        runs.lab2d_api("moons", 100, "ddim", 10, 0.0, "oracle")
    with pytest.raises(gr.Error, match="unknown schedule"):
        runs.lab2d_api("moons", 100, "ddim", 10, 0.0, "exact", 0, "quadratic")
    with pytest.raises(gr.Error, match="drawings"):
        runs.lab2d_api(config.DRAWING, 100, "ddim", 10, 0.0, "exact")


def test_train_stop_ends_with_the_step_and_keeps_the_model(moons):
    from playground.ui import jobs

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "TRAIN_STEPS", 100_000)
        gen = runs.lab_train(moons, "cosine", False, 30, "v")
        first = next(gen)
        assert "step" in first[1] and "trained" in first[3]  # the model line follows the chart, not "No model yet"
        assert jobs.request_stop("lab2d-train", None)
        rest = list(gen)
    fig, status, model, model_md = rest[-1]
    k = int(re.search(r"Stopped\*\* at step \*\*([0-9]+)/100000", status).group(1))
    assert model["steps"] == k and decode(fig_of(fig)["data"][0]["y"]).size == k  # the model and chart at step k
    assert f"trained {k:,} steps" in model_md and not jobs.is_running("lab2d-train", None)


def test_sample_trains_first_into_the_loss_chart_and_the_model_line(moons):
    outs = list(runs.lab_sample_stream(moons, None, "cosine", False, ["ddim"], 10, 0.0, False, 100, 0))
    names = runs.SAMPLE_OUT
    training = [o for o in outs if not isinstance(o[names.index("loss")], type(gr.skip()))]
    assert training, "the loss chart stayed empty while Sample trained"
    last_train = training[-1]
    assert "trains one first" in last_train[names.index("train_status")] and "done" in last_train[
        names.index("train_status")]
    assert "trained 60 steps" in last_train[names.index("model_md")]
    assert "D ÷ data-vs-data" in outs[-1][names.index("summary")]
    assert outs[-1][names.index("model")]["steps"] == 60


def test_empty_loss_chart_says_what_will_appear():
    fig = fig_of(runs.empty_loss_plot())
    assert "press Train" in fig["layout"]["annotations"][0]["text"]
    leg = fig["layout"]["legend"]
    assert leg["y"] >= 1 and leg["yanchor"] == "bottom"  # above the plot: clear of the x-axis title "step"


# --- the real server ------------------------------------------------------------------------------------------------


def test_lab2d_endpoint_through_the_client(client):
    samples, data, info = client.predict("moons", 400, "ddim", 25, 0.0, "exact", 1, "cosine", 200, api_name="/lab2d")
    assert len(samples) == 200 and len(data) == 400
    assert np.isfinite(np.asarray(samples)).all()
    assert info["score_source"] == "exact" and info["nfe"] == 25 and info["ratio"] < 3
    # learned: the server trains once (capped by the live server's PLAYGROUND_MAX_TRAIN_SECONDS), then reuses it
    t0 = time.time()
    s1, _, i1 = client.predict("gaussians8", 300, "dpmpp_2m", 20, 0.0, "learned", 0, "cosine", 200, api_name="/lab2d")
    first = time.time() - t0
    t0 = time.time()
    s2, _, i2 = client.predict("gaussians8", 300, "dpmpp_2m", 20, 0.0, "learned", 0, "cosine", 200, api_name="/lab2d")
    assert i1["trained_steps"] == i2["trained_steps"] > 0 and s1 == s2  # same model, same seed: same samples
    assert time.time() - t0 < first
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="at least one|unknown sampler"):
        client.predict("moons", 400, "euler_a", 25, 0.0, "exact", 1, "cosine", 200, api_name="/lab2d")
    with pytest.raises(AppError, match="from 1"):
        client.predict("moons", 400, "ddim", 0, 0.0, "exact", 1, "cosine", 200, api_name="/lab2d")


# --- the browser ----------------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (install Debian's chromium)")
def test_browser_opens_the_tab_moves_t_trains_and_samples(live_app):
    pw_mod = pytest.importorskip("playwright.sync_api")
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "fonts.g" not in m.text
                and "ERR_" not in m.text else None)
        page.goto(live_app.url + "?tab=lab2d", wait_until="domcontentloaded")
        title = "() => (document.querySelector('#lab2d-q .gtitle') || {}).textContent || ''"
        page.wait_for_function(f"() => ({title})().includes('t = 150')", timeout=120_000)

        def set_number(elem_id: str, value) -> None:
            box = page.locator(f"#{elem_id} input[type=number]")
            box.fill(str(value))
            box.press("Enter")
            box.blur()

        set_number("lab2d-t", 600)  # move t: the cloud, the density and the arrows follow
        page.wait_for_function(f"() => ({title})().includes('t = 600')", timeout=30_000)
        assert "t = 600" in page.locator("#lab2d-numbers").inner_text()
        set_number("lab2d-train-seconds", 2)
        page.locator("#lab2d-train").click()
        page.wait_for_function("() => /done/.test(document.querySelector('#lab2d-train-status').innerText)",
                               timeout=120_000)
        page.wait_for_function("() => /trained/.test(document.querySelector('#lab2d-model').innerText)",
                               timeout=30_000)
        page.wait_for_function("() => /learned/.test((document.querySelector('#lab2d-score .gtitle') || "
                               "{}).textContent)",
                               timeout=30_000)
        set_number("lab2d-steps", 20)
        page.locator("#lab2d-sample").click()
        page.wait_for_function("() => /D ÷ data-vs-data/.test(document.querySelector('#lab2d-summary').innerText)",
                               timeout=120_000)
        page.locator("#lab2d-paths .js-plotly-plot").wait_for(timeout=30_000)  # plotly draws after the summary
        # draw your own: a spiral on the sketchpad becomes the dataset
        page.locator("#lab2d-dataset input").click()
        page.get_by_role("option", name="draw your own").click()
        # no click on the brush: the tab selects it once the canvas is shown
        page.wait_for_function("() => { const b = document.querySelector('#lab2d-sketch button[aria-label=Brush]');"
                               " return !!b && b.classList.contains('highlight'); }", timeout=30_000)
        box = page.locator("#lab2d-sketch canvas").first.bounding_box()
        cx, cy, radius = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2,
                          0.3 * min(box["width"], box["height"]))
        page.mouse.move(cx, cy)
        page.mouse.down()
        for deg in range(0, 721, 30):  # 25 moves: each one costs ~0.4 s of software rendering in headless Chromium
            r = radius * deg / 720
            page.mouse.move(cx + r * math.cos(math.radians(deg)), cy + r * math.sin(math.radians(deg)))
        page.mouse.up()
        page.locator("#lab2d-use-drawing").click()
        # the data is now the drawing: the model trained on the moons no longer matches it, and the tab says so
        page.wait_for_function("() => /other settings/.test(document.querySelector('#lab2d-model').innerText)",
                               timeout=60_000)
        assert "2,000 points" in page.locator("#lab2d-numbers").inner_text()
        assert problems == [], problems
        browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (install Debian's chromium)")
def test_browser_train_stop_says_stopped_and_keeps_the_model(live_app):
    pw_mod = pytest.importorskip("playwright.sync_api")
    with pw_mod.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(live_app.url + "?tab=lab2d&points=300", wait_until="domcontentloaded")
        page.wait_for_function("() => /t = 150/.test((document.querySelector('#lab2d-q .gtitle') || {}).textContent"
                               " || '')", timeout=120_000)
        page.locator("#lab2d-train").click()  # the live server caps training at 8 s: long enough to stop
        page.wait_for_function("() => /step/.test(document.querySelector('#lab2d-train-status').innerText)",
                               timeout=60_000)
        assert "No model yet" not in page.locator("#lab2d-model").inner_text()  # the model line follows
        page.locator("#lab2d-train-stop").click()
        page.wait_for_function("() => /Stopped/.test(document.querySelector('#lab2d-train-status').innerText)",
                               timeout=30_000)
        assert re.search(r"Stopped at step [0-9,]+/2,?000", page.locator("#lab2d-train-status").inner_text())
        page.wait_for_function("() => /trained/.test(document.querySelector('#lab2d-model').innerText)",
                               timeout=30_000)
        browser.close()
