"""The Fewer steps tab's MNIST distillation section (playground/ui/distill_mnist.py): the shipped student beside its
teacher from one x_T, and the in-app round's previews, its student file, bad input and Stop."""
from __future__ import annotations

import re
import types

import gradio as gr
import numpy as np
import pytest

from playground.mnist.checkpoint import load_model
from playground.mnist.sample import student_sampler
from playground.ui import distill_mnist as DM
from playground.ui import jobs
from playground.ui.events import Done, Step


def _read(caption: str) -> int:
    return int(re.search(r"(\d+)/10 read as asked", caption).group(1))


def _grey(caption: str) -> int:
    return int(re.search(r"(\d+)% grey pixels", caption).group(1))


def test_compare_streams_each_step_count_and_the_student_wins_at_one_step():
    events = list(DM.compare_job(0))
    assert isinstance(events[-1], Done) and all(isinstance(e, Step) for e in events[:-1]) and len(events) == 4
    gallery = events[-1].show["gallery"]
    assert len(gallery) == 3 * len(DM.NFES)  # student, teacher and the reflowed flow model at each NFE
    caps = {c.split(" · ")[0] + c.split(" · ")[1]: c for _, c in gallery}
    assert _read(caps["student1 step"]) >= 9 and _read(caps["student2 steps"]) >= 9  # the classifier reads them
    assert _read(caps["reflow1 step"]) >= 9 and _grey(caps["reflow1 step"]) < _grey(caps["teacher1 step"]) / 2
    assert "reflowed flow model, Euler" in events[-1].show["table"]
    # the teacher's 1 and 2 steps are blurred class means the classifier still reads; their grey share tells
    assert _grey(caps["teacher1 step"]) > 2 * _grey(caps["student1 step"])  # measured 20 % against 7 %
    assert _grey(caps["teacher2 steps"]) > 2 * _grey(caps["student2 steps"])
    assert "Real digits have 5% grey pixels" in events[-1].status
    img_s, img_t, img_r = gallery[0][0], gallery[1][0], gallery[2][0]
    assert img_s.shape == img_t.shape and np.abs(img_s.astype(int) - img_t.astype(int)).mean() > 10
    assert img_r.shape == img_s.shape and np.abs(img_r.astype(int) - img_s.astype(int)).mean() > 10
    assert events[-1].show["table"].count("\n| ") == len(DM.NFES) - 1 + 1  # a row per NFE after the header


def test_in_app_round_previews_and_writes_a_student_that_samples(monkeypatch):
    monkeypatch.setattr(DM, "ROUND_BATCH", 8)
    monkeypatch.setattr(DM, "PREVIEW_EVERY", 2)
    events = list(DM.round_job(4, 0))
    assert [e.k for e in events[:-1]] == [0, 2] and isinstance(events[-1], Done)
    first, last = events[0].show["image"], events[-1].show["image"]
    h = first.shape[0] // 3
    np.testing.assert_array_equal(first[:h], last[:h])  # the teacher's rows do not move
    np.testing.assert_array_equal(first[-h:], last[-h:])
    assert not np.array_equal(first[h:2 * h], last[h:2 * h])  # the student's row does
    model, meta = load_model(events[-1].show["file"])  # weights-only, a student by its own account
    assert student_sampler(meta)["steps"] == DM.ROUND_N and meta.extra["distill"]["steps"] == 4
    assert meta.extra["distilled_from"] == "mnist_v_cond.pt"


@pytest.mark.parametrize("args, match", [((10, 0), "between 50 and 600"), (("x", 0), "whole numbers")])
def test_round_refuses_bad_input_before_any_work(args, match, monkeypatch):
    monkeypatch.setattr(DM, "round_job", lambda *a, **k: pytest.fail("ran on bad input"))
    with pytest.raises(gr.Error, match=match):
        next(DM.round_run(*args))


def test_compare_says_when_the_student_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(gr.Error, match="Unknown checkpoint|No model"):
        next(DM.compare_run(0))


def test_compare_leaves_the_reflow_column_out_when_that_model_is_not_listed(monkeypatch, tmp_path):
    import shutil

    from playground.mnist.checkpoint import CHECKPOINT_DIR

    for name in (DM.STUDENT, "mnist_v_cond.pt"):
        shutil.copy(CHECKPOINT_DIR / name, tmp_path / name)
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setattr(DM, "NFES", (1,))
    done = list(DM.compare_job(0))[-1]
    assert [c.split(" · ")[0] for _, c in done.show["gallery"]] == ["student", "teacher"]
    assert "reflow" not in done.show["table"] and "its teacher at 1" in done.status


def test_stop_ends_the_round_with_stopped_and_keeps_the_student(monkeypatch):
    monkeypatch.setattr(DM, "ROUND_BATCH", 4)
    monkeypatch.setattr(DM, "PREVIEW_EVERY", 1)
    req = types.SimpleNamespace(session_hash="distill-mnist-stop")
    gen = DM.round_run(50, 0, None, request=req)
    outs = [next(gen), next(gen)]  # the start, then step 1
    jobs.stop_handler("distill_mnist_round")(req)
    outs += list(gen)
    assert re.search(r"Stopped\*\* at step \*\*\d+/50\*\*", outs[-1][0]), outs[-1][0]
    assert not jobs.is_running("distill_mnist_round", req)
    files = [o[2] for o in outs if isinstance(o[2], str)]
    assert files and load_model(files[-1])[1].extra["student_steps"] == DM.ROUND_N
