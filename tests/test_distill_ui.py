"""The Fewer steps tab's 2-D distillation section (playground/ui/distill.py): the job's stream, its checks before
any work, Stop, and /distill through the real server."""
from __future__ import annotations

import re
import types

import gradio as gr
import pytest

from playground.ui import distill as D
from playground.ui import jobs
from playground.ui.events import Done, Step


def test_the_job_streams_each_round_and_ends_with_the_numbers(monkeypatch):
    monkeypatch.setattr(D, "TEACHER_SECONDS", 2.0)
    events = list(D.distill_2d_job("gaussians8", 2, 50, 0))
    assert isinstance(events[-1], Done) and all(isinstance(e, Step) for e in events[:-1])
    r = events[-1].result
    assert r["rounds"] == [2, 1] and set(r["student"]) == {"2", "1"} and set(r["teacher"]) == {"4", "2", "1"}
    assert "consistency" not in r and "reflow" not in r
    # measured on this data: the 1-step student is several times closer to the data than the teacher's 1 step
    assert r["student"]["1"] < 0.5 * r["teacher"]["1"], r
    shown = [e for e in events if "fig" in e.show]
    assert len(shown) == 4  # the teacher, each student as its round ends, the final picture
    assert "| progressive student |" in events[-1].show["table"]


def test_consistency_and_reflow_beside_the_students(monkeypatch):
    """Both comparisons: their own Steps and rows, the same steps as the rounds, and each 1-step sample far
    closer to the data than the teacher's one step (measured here: consistency 0.35×, reflow 0.05× of it)."""
    monkeypatch.setattr(D, "TEACHER_SECONDS", 1.5)
    events = list(D.distill_2d_job("moons", 2, 150, 0, ("consistency", "reflow")))
    r = events[-1].result
    for who in ("consistency", "reflow"):
        assert set(r[who]) == {"2", "1"}, r
        assert r[who]["1"] < 0.5 * r["teacher"]["1"], r
    statuses = " ".join(e.status for e in events)
    assert "consistency distillation, step" in statuses and "one reflow" in statuses
    table = events[-1].show["table"]
    assert "| consistency student |" in table and "| rectified flow, 1 reflow (Euler) |" in table
    fig = events[-1].show["fig"]
    assert {t.legendgroup for t in fig.data} == set(D.WHO) | {"data"}
    with pytest.raises(gr.Error, match="Unknown comparison"):
        next(D.distill_2d_run("moons", 2, 50, 0, ["lcm"]))


@pytest.mark.parametrize("args, match", [(("nope", 8, 300, 0), "Unknown dataset"),
                                         (("moons", 3, 300, 0), "takes 8, 4, 2 steps"),
                                         (("moons", 8, 10, 0), "between 50 and"),
                                         (("moons", "x", 300, 0), "whole numbers")])
def test_bad_input_is_refused_before_any_work(args, match, monkeypatch):
    monkeypatch.setattr(D, "train_denoiser", lambda *a, **k: pytest.fail("trained on bad input"))
    with pytest.raises(gr.Error, match=match):
        next(D.distill_2d_run(*args))


def test_stop_ends_with_stopped_and_keeps_the_students(monkeypatch):
    monkeypatch.setattr(D, "TEACHER_SECONDS", 0.5)
    req = types.SimpleNamespace(session_hash="distill-stop")
    gen = D.distill_2d_run("moons", 8, 50, 0, request=req)
    outs = [next(gen), next(gen)]  # the teacher's training, then the teacher's samples
    jobs.stop_handler("distill2d")(req)
    assert jobs.stop_flag("distill2d", req).is_set()
    outs += list(gen)
    assert re.search(r"Stopped\*\* at step \*\*\d+/5\*\*", outs[-1][0]), outs[-1][0]
    assert not jobs.is_running("distill2d", req)


def test_distill_endpoint_through_the_client(live_app):
    from gradio_client import Client

    c = Client(live_app.url, verbose=False)
    r = c.predict("circles", 2, 50, 1, [], api_name="/distill")
    assert r["rounds"] == [2, 1] and r["dataset"] == "circles" and r["wall_s"] > 0 and "reflow" not in r
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio's own check, before the job
        c.predict("circles", 5, 50, 1, [], api_name="/distill")
