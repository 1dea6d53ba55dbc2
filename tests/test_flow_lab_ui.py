"""The 2-D lab's flow-matching section (playground/ui/lab2d/flowlab.py) and /lab2d's objective and reflow rounds:
the two ODEs from one x_T with their straightness, the velocity arrows, reflow streamed round by round with Stop,
and the endpoint through the live server."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
import torch

from playground import toy2d
from playground.flow import length_ratio
from playground.ui import jobs
from playground.ui.lab2d import flowlab, runs, session


def _fig(plot) -> dict:
    return json.loads(plot.plot)


def _decode(spec: dict) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.float32)


@pytest.fixture(scope="module")
def moons():
    return session.lab_data("moons", 600, 0)


def test_both_odes_from_one_x_T_with_their_own_straightness_numbers(moons):
    paths, vel, md, cache = flowlab.lab_flow_compare(moons, "cosine", False, "exact", 0.5, 300, 3)
    assert cache is None  # exact fields: nothing trained
    # recompute both paths independently: the table's numbers are theirs
    s = session.lab_schedule("cosine", False)
    x_T = toy2d.start_noise(300, 3)
    vp = toy2d.sample_2d(toy2d.exact_denoiser(moons["x0"], s), s, x_T, sampler="pf_ode", num_steps=flowlab.ODE_STEPS)
    fl = toy2d.flow_ode(toy2d.exact_velocity_fn(moons["x0"]), x_T, flowlab.ODE_STEPS, "heun")
    r_vp, r_fl = float(length_ratio(vp.xs).mean()), fl.length_ratio()
    assert f"**{r_vp:.3f}**" in md and f"**{r_fl:.3f}**" in md and f"**{fl.straightness():.4f}**" in md
    assert r_fl >= 1.0 and r_vp >= 1.0
    assert float((fl.samples - vp.samples).norm(dim=1).median()) < 0.05  # one map: DDIM ≡ Euler on the flow ODE
    fig = _fig(paths)
    assert len(fig["layout"]["annotations"]) == 2 and "length ÷ chord" in fig["layout"]["annotations"][1]["text"]
    # the velocity arrows start on the grid and point along −u*: check one arrow against exact_velocity
    tr = _fig(vel)["data"][1]
    xs, ys = _decode(tr["x"]), _decode(tr["y"])
    p, tip = np.array([xs[0], ys[0]]), np.array([xs[1], ys[1]])
    u = toy2d.exact_velocity(moons["x0"], torch.from_numpy(p[None].astype(np.float64)), 0.5)[0].numpy()
    cos = float(np.dot(tip - p, -u) / (np.linalg.norm(tip - p) * np.linalg.norm(u)))
    assert cos > 0.999, cos


def test_on_one_data_point_the_flow_path_is_a_straight_line_and_diffusions_an_arc():
    point = session.lab_data("gaussian", 8, 0)
    point["x0"] = torch.tensor([[1.5, 0.5]], dtype=point["x0"].dtype).repeat(8, 1)
    point["dist"] = point["x0"]
    md = flowlab.lab_flow_compare(point, "cosine", False, "exact", 0.5, 200, 0)[2]
    flow_row = next(r for r in md.splitlines() if r.startswith("| flow ODE"))
    vp_row = next(r for r in md.splitlines() if r.startswith("| diffusion PF-ODE"))
    assert "**1.000**" in flow_row and "**0.0000**" in flow_row  # straight, at constant speed
    assert float(vp_row.split("**")[1]) > 1.02  # the VP path from the same x_T is curved


def test_the_velocity_field_needs_a_flow_time_in_0_1(moons):
    with pytest.raises(gr.Error, match=r"\(0, 1\]"):
        flowlab.lab_flow_compare(moons, "cosine", False, "exact", 0.0, 300, 0)
    with pytest.raises(gr.Error, match="Unknown field source"):
        flowlab.lab_flow_compare(moons, "cosine", False, "guess", 0.5, 300, 0)
    with pytest.raises(gr.Error, match="dataset"):
        flowlab.lab_flow_compare(None, "cosine", False, "exact", 0.5, 300, 0)


def test_trained_networks_are_cached_and_their_arrows_drawn(moons, monkeypatch):
    monkeypatch.setattr(flowlab, "TRAIN_SECONDS", 1.0)
    _, vel, md, cache = flowlab.lab_flow_compare(moons, "cosine", False, "learned", 0.5, 200, 0)
    assert cache["data"] == moons["key"] and "trained 1 s each" in md
    assert len(_fig(vel)["data"]) == 3  # data, exact, learned
    again = flowlab.lab_flow_compare(moons, "cosine", False, "learned", 0.5, 200, 0, cache)[3]
    assert again is cache  # not retrained
    assert len(_fig(flowlab.lab_velocity(moons, 0.3, cache))["data"]) == 3
    other = session.lab_data("moons", 600, 1)
    assert len(_fig(flowlab.lab_velocity(other, 0.3, cache))["data"]) == 2  # another dataset: exact only


def test_reflow_streams_each_round_and_stops_between_rounds(moons):
    outs = list(flowlab.lab_reflow(moons, 1, 1, 0))
    assert len(outs) == 2  # round 0 (flow matching), then the reflow
    md = outs[-1][1]
    assert md.startswith("✓ **Done**") and "| 0 |" in md and "| 1 |" in md
    fig = _fig(outs[-1][0])
    assert len(fig["layout"]["annotations"]) == 6  # 2 rounds × (1, 2, 4) steps
    gen = flowlab.lab_reflow(moons, 3, 1, 0)
    next(gen)
    assert jobs.request_stop("lab2d-reflow", None)
    last = list(gen)[-1][1]
    assert "Stopped** after round 0 of 3" in last and "| 0 |" in last and "| 1 |" not in last
    with pytest.raises(gr.Error, match="from 0 to 3"):
        next(flowlab.lab_reflow(moons, 9, 1, 0))


def test_lab2d_api_takes_the_objective_and_reflow_rounds(monkeypatch):
    monkeypatch.setattr(runs, "AUTO_TRAIN_SECONDS", 1.0)
    samples, _, info = runs.lab2d_api("moons", 400, "euler", 8, 0.0, "exact", 0, "cosine", 200, "flow", 0)
    assert info["nfe"] == 8 and info["ratio"] < 3 and len(samples) == 200
    s1, _, i1 = runs.lab2d_api("gaussians8", 300, "euler", 1, 0.0, "learned", 0, "cosine", 200, "flow", 1)
    assert i1["objective"] == "flow" and i1["reflow_rounds"] == 1 and i1["nfe"] == 1
    s2 = runs.lab2d_api("gaussians8", 300, "euler", 1, 0.0, "learned", 0, "cosine", 200, "flow", 1)[0]
    assert s1 == s2  # the server's reflowed model is cached: same model, same seed, same samples
    with pytest.raises(gr.Error, match="needs objective='flow'"):
        runs.lab2d_api("moons", 400, "ddim", 8, 0.0, "learned", 0, "cosine", 200, "v", 1)
    with pytest.raises(gr.Error, match="flow model's ODE"):
        runs.lab2d_api("moons", 400, "heun", 8, 0.0, "learned", 0, "cosine", 200, "v", 0)
    with pytest.raises(gr.Error, match="objective must be"):
        runs.lab2d_api("moons", 400, "ddim", 8, 0.0, "learned", 0, "cosine", 200, "score", 0)


def test_lab2d_endpoint_takes_the_flow_objective_through_the_client(client):
    samples, _, info = client.predict("moons", 400, "heun", 5, 0.0, "exact", 1, "cosine", 100, "flow", 0,
                                      api_name="/lab2d")
    assert len(samples) == 100 and info["nfe"] == 9 and info["sampler"] == "heun"  # Heun: 2·5 − 1 calls
