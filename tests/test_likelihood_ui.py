"""The Likelihood tab: its handlers (bad input, the figures, the Show me links) and `/likelihood` through
gradio_client against the live app (tiny checkpoint, T = 100)."""
from __future__ import annotations

import math

import gradio as gr
import pytest

from playground.ui import likelihood as L

pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture
def tiny_models(tmp_path, monkeypatch):
    from conftest import make_tiny_checkpoint

    make_tiny_checkpoint(tmp_path / "mnist_eps_cond.pt", T=20)
    make_tiny_checkpoint(tmp_path / "mnist_ztsnr.pt", T=20)
    make_tiny_checkpoint(tmp_path / "mnist_flow_cond.pt", T=20, prediction_type="u", schedule="flow")
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("args,msg", [((0, "both", "fast"), "between 1 and"), ((3, "all", "fast"), "Unknown split"),
                                      ((3, "train", "exact"), "Unknown estimator"),
                                      (("x", "train", "fast"), "whole number")])
def test_bad_input_is_a_clear_error_before_any_work(tiny_models, args, msg):
    with pytest.raises(gr.Error, match=msg):
        L.likelihood_run("mnist_eps_cond.pt", *args)


def test_unknown_checkpoint_is_refused(tiny_models):
    with pytest.raises(gr.Error, match="Unknown checkpoint"):
        L.likelihood_run("/etc/passwd", 2, "train", "fast")


def test_full_bound_gives_bits_per_dim_and_the_per_t_curve(tiny_models):
    md, fig, out = L.likelihood_run("mnist_eps_cond.pt", 2, "both", "full")
    assert "gap" in md and "bits/dim" in md
    reports = out["reports"]
    assert [r["split"] for r in reports] == ["train", "held-out"]
    assert len(reports[0]["per_t"]) == 20 and all(math.isfinite(v) for v in reports[0]["per_t"])
    assert out["gap"] == pytest.approx(reports[1]["bpd"] - reports[0]["bpd"])
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 3


def test_flow_model_gets_the_ode_and_a_clear_message_for_the_bound(tiny_models):
    with pytest.raises(gr.Error, match="flow-matching model"):
        L.likelihood_run("mnist_flow_cond.pt", 2, "train", "fast")
    md, _fig, out = L.likelihood_run("mnist_flow_cond.pt", 2, "train", "ode")
    (r,) = out["reports"]
    assert r["other"]["gaussian_path"] == "flow matching" and math.isfinite(r["bpd"]) and len(r["per_digit"]) == 2
    assert "ode" in md


def test_the_digit_limit_is_in_both_limits_tables():
    import re
    from pathlib import Path

    from playground.ui import limits

    root = Path(__file__).resolve().parents[1]
    env_vars = set(re.findall(r"PLAYGROUND_[A-Z_]+", (root / "playground/ui/likelihood.py").read_text()))
    assert env_vars == {"PLAYGROUND_LIKELIHOOD_MAX_DIGITS"}
    readme = (root / "README.md").read_text()
    for var in env_vars:
        assert var in limits.__doc__ and f"| `{var}`" in readme, var


def test_weighting_figure_redraws_with_the_schedule():
    a, b = L.weighting_figure("linear"), L.weighting_figure("cosine")
    assert len(a.data) == 2 * 8
    assert a.data[2].name == "ε-prediction"
    assert list(a.data[2].y) != list(b.data[2].y)  # its weight follows the schedule
    assert list(a.data[2].x) != list(b.data[2].x)  # over the schedule's own λ range
    with pytest.raises(gr.Error, match="unknown schedule"):
        L.weighting_figure("bogus")


def test_lab_2d_rejects_unknown_dataset():
    with pytest.raises(gr.Error, match="Unknown dataset"):
        L.lab_likelihood_2d("nope")


def test_theory_links_are_registered():
    from playground import theory
    from playground.ui.launch import build_demo

    demo = build_demo()
    keys = {s.control for s in theory.SECTIONS if s.tab == L.TAB_ID}
    assert keys == {"lik_bpd", "lik_terms", "lik_decoder", "lik_ode", "lik_weighting"}
    assert demo is not None


def test_endpoint_through_the_client(live_app):
    from gradio_client import Client

    c = Client(live_app.url, verbose=False)
    ckpt = "mnist_eps_cond.pt"  # the dropdown's choice: a name in the checkpoint folder, never a server path
    assert (live_app.ckpt_dir / ckpt).exists()
    md, _fig, out = c.predict(ckpt, 2, "held-out", "full", api_name="/likelihood")
    assert "held-out" in md
    (r,) = out["reports"]
    assert r["split"] == "held-out" and r["n"] == 2 and r["bpd"] > 0 and r["se"] >= 0
    assert len(r["per_t"]) == 100  # the live app's tiny model has T = 100
    with pytest.raises(Exception, match="less than minimum value 1"):  # the slider refuses it first
        c.predict(ckpt, 0, "train", "fast", api_name="/likelihood")
    md, _fig, out = c.predict(ckpt, 2, "train", "ode", api_name="/likelihood")
    assert out["reports"][0]["estimator"] == "ode" and math.isfinite(out["reports"][0]["bpd"])
