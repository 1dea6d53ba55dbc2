"""The Fewer-steps tab's handlers and failure presets (shipped checkpoints, small sizes)."""
import gradio as gr
import pytest
import torch

from playground import solver_failures as F
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT
from playground.ui import solvers as U


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_api_streams_one_solver_at_a_time_and_grid_changes_the_errors():
    args = ("2-D: one Gaussian (closed form)", ["ddim", "dpmpp_2m"])
    a = list(U.solvers_api(*args, "logsnr", 7, 0, 0, 3, "2, 8, 32", 0))
    b = list(U.solvers_api(*args, "karras", 7, 0, 0, 3, "2, 8, 32", 0))
    assert len(a) == 2 and set(a[-1][1]) == {"ddim", "dpmpp_2m"}
    assert a[-1][1]["ddim"]["nfe"] == [2, 8, 32]
    assert a[-1][1]["dpmpp_2m"]["error"] != b[-1][1]["dpmpp_2m"]["error"]


@pytest.mark.parametrize("bad, msg", [("1, x", "whole numbers"), ("0, 4", "1 … 128"), ("", "1 … 128")])
def test_bad_nfe_list_is_a_clear_error(bad, msg):
    with pytest.raises(gr.Error, match=msg):
        list(U.solvers_api("2-D: one Gaussian (closed form)", ["ddim"], "logsnr", 7, 0, 0, 3, bad, 0))


def test_bad_grid_parameters_are_a_clear_error():
    with pytest.raises(gr.Error, match="σ_min and σ_max"):
        list(U.solvers_api("2-D: one Gaussian (closed form)", ["ddim"], "karras", 7, 0, 1e6, 3, "4", 0))
    with pytest.raises(gr.Error, match="pick at least one solver"):
        list(U.solvers_api("2-D: one Gaussian (closed form)", [], "karras", 7, 0, 0, 3, "4", 0))


@pytest.mark.parametrize("key", ["leading1", "mismatch"])
def test_failure_presets_fail_by_the_classifier(key):
    r = F.run_preset(key, str(DEFAULT_CHECKPOINT), n=10, seed=0)
    m = r["preset"].measure
    assert r["good_verdict"][m] >= 0.9
    assert r["bad_verdict"][m] < r["good_verdict"][m] - 0.3, (r["bad_verdict"], r["good_verdict"])


def test_two_ddim_steps_land_between_the_modes():
    r = F.run_preset_2d("gaussians8", n_points=500, n_particles=300)
    assert r["bad_near"] < 0.1 < 0.8 < r["good_near"]
