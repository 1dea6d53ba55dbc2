"""Flow matching in the app's MNIST Train tab and the 2-D lab: the objective is offered and trains, the loss-by-t
chart is labelled in t ∈ [0, 1], options of the other family are refused with a message, and the shipped flow
checkpoint samples through the Sampling tab's handler (DDIM with η = 0 there is Euler's method on its ODE)."""
from __future__ import annotations

import gradio as gr
import pytest
import torch

from playground import render
from playground.ui import training
from playground.ui.lab2d import runs, session


def test_flow_bucket_chart_is_labelled_in_t_between_0_and_1():
    fig = render.bucket_figure([1.0] * 10, 1000, flow=True)
    assert list(fig.data[0].x)[0] == "0.0–0.1" and list(fig.data[0].x)[-1] == "0.9–1.0"
    assert "[0, 1]" in fig.layout.xaxis.title.text
    assert list(render.bucket_figure([1.0] * 10, 1000).data[0].x)[0] == "0–99"  # diffusion: timesteps


def test_train_tab_builds_a_flow_config_and_refuses_zero_terminal_snr():
    cfg = training._train_config("quick", "flow", "linear", 1000, False, 64, 1e-3, 10, 5, True,
                                 "default (32, 64, 96)", 0)
    assert cfg.prediction_type in ("flow", "u") and cfg.min_snr_gamma is None  # flow trains on the plain MSE
    with pytest.raises(gr.Error, match="already ends in pure noise"):
        training._train_config("quick", "flow", "linear", 1000, True, 64, 1e-3, 10, 5, True,
                               "default (32, 64, 96)", 0)
    with pytest.raises(gr.Error, match="Unknown objective"):
        training._check_train_settings("velocity", "linear", 1000, 64, 1e-3)


def test_lab_trains_a_flow_model_whose_samples_reach_the_data(monkeypatch):
    monkeypatch.setattr(runs, "TRAIN_STEPS", 400)
    moons = session.lab_data("moons", 800, 0)
    events = list(runs.lab_train(moons, "cosine", False, 60, "flow"))
    model = events[-1][2]
    assert model["objective"] == "flow" and model["steps"] == 400
    x_T = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    from playground.toy2d import particles

    traj = particles.sample_2d(model["den"], runs.lab_schedule("cosine", False), x_T, sampler="ddim", num_steps=50)
    d = torch.cdist(traj.xs[-1].float(), moons["x0"].float()).min(1).values
    assert d.median() < 0.15, d.median()  # on the moons (their width ~0.1), not the noise


def test_sampling_tab_gives_a_flow_model_euler_and_heun_panels_and_euler_is_ddim():
    """The flow checkpoint's panels are Euler, Heun (two network calls a step but the last) and DPM-Solver++; the
    Euler panel is deterministic DDIM on the same x_T (DDIM ≡ Euler on the flow ODE), to the pixel level."""
    from playground import samplers
    from playground.ui import sampling
    from playground.ui.models import get_model

    assert [t.value for t in sampling.panel_titles("mnist_flow_cond.pt")] == [
        "### Euler (flow ODE)", "### Heun (flow ODE)", "### DPM-Solver++(2M)"]
    assert [t.value for t in sampling.panel_titles("mnist_eps_cond.pt")][0] == "### DDPM"
    steps = 4
    *imgs, status, files = list(sampling.sample_compare("mnist_flow_cond.pt", steps, 0.0, "trailing", True, "3",
                                                        1.0, 2, 0, True))[-1]
    assert "Euler 4" in status and f"Heun {2 * steps - 1}" in status and "DPM-Solver++(2M) 4" in status, status
    assert all(im is not None for im in imgs) and any("euler" in f for f in files) and any("heun" in f for f in files)
    model, meta = get_model("mnist_flow_cond.pt")
    fn, _ = sampling._model_fn(model, meta, "3", 1.0, 2)
    s = render.cached_schedule(meta.schedule, int(meta.T), bool(meta.zero_terminal_snr))
    x = samplers.sample(fn, s, (2, 1, 28, 28), sampler="ddim", num_steps=steps, spacing="trailing", eta=0.0,
                        prediction_type=meta.prediction_type, clip_x0=True, generator=torch.Generator().manual_seed(0))
    euler_grid = imgs[0].astype(int)
    from playground.ui.images import digit_grid
    assert abs(euler_grid - digit_grid(x).astype(int)).max() <= 1  # equal up to a rounding of the uint8 level
    heun_grid = imgs[2].astype(int)
    assert abs(heun_grid - euler_grid).mean() > 1  # a different solver, not a copy of the Euler panel
