"""The shipped MNIST student (checkpoints/mnist_v_student.pt, progressive distillation of mnist_v_cond.pt): its own
sampler in the CLI, the Sampling tab and /sample, and that its two steps beat its teacher's two DDIM steps."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from playground.distill import student_sample
from playground.mnist.checkpoint import CHECKPOINT_DIR, load_model
from playground.mnist.sample import default_labels, main, student_sampler
from playground.schedules import make_schedule

STUDENT = CHECKPOINT_DIR / "mnist_v_student.pt"
TEACHER = CHECKPOINT_DIR / "mnist_v_cond.pt"


@pytest.fixture(scope="module")
def student():
    model, meta = load_model(STUDENT)
    return model.eval(), meta


def test_the_shipped_student_says_what_it_is(student):
    _, meta = student
    assert meta.extra["student_steps"] == 1 and meta.extra["guidance_distilled"] == 1.5
    assert meta.extra["distilled_from"].endswith("mnist_v_cond.pt") and meta.prediction_type == "v"
    assert student_sampler(meta) == dict(sampler="ddim", steps=1, eta=0.0, spacing="trailing", guidance=1.0,
                                         clip_x0=False)
    assert student_sampler(load_model(TEACHER)[1]) is None  # a teacher keeps the CLI's usual defaults


@pytest.mark.parametrize("steps", [1, 2])
def test_cli_samples_the_student_with_its_own_sampler(student, steps, tmp_path, one_thread):
    """`--steps 1` / `--steps 2` run the trailing-grid DDIM the student was trained on (distill.student_sample),
    with no CFG (one pass a step); the same seed gives the same digits, and leading spacing does not."""
    model, meta = student
    out = tmp_path / "s.npy"
    argv = ["--checkpoint", str(STUDENT), "--steps", str(steps), "--num", "10", "--bf16", "off", "--device", "cpu"]
    assert main([*argv, "--out", str(out)]) == 0
    got = np.load(out)
    x_T = torch.randn((10, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    s = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    with torch.inference_mode():
        ref = student_sample(model, s, x_T, steps, "v", (default_labels(10),))
    np.testing.assert_allclose(got, ((ref[:, 0].clamp(-1, 1) + 1) / 2).numpy(), atol=1e-5)
    assert main([*argv, "--out", str(tmp_path / "again.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), got)  # deterministic under the seed
    assert main([*argv, "--spacing", "leading", "--out", str(tmp_path / "lead.npy")]) == 0
    assert np.abs(np.load(tmp_path / "lead.npy") - got).max() > 0.1


def test_two_student_steps_score_above_two_teacher_ddim_steps_from_the_same_x_T(student):
    """The issue's teacher setting (CFG 1.5, trailing, x̂₀ clipped) at 2 DDIM steps against the student's 2 steps,
    200 digits from one x_T, scored by the project's classifier (playground.mnist.quality). Measured (seeds 0, 1):
    Fréchet 37.6 and 31.6 for the student against 52.3 and 44.7 for its v teacher, whose smeared digits are still
    99 % confident (the student: 96 %, 94 %)."""
    from playground import samplers
    from playground.mnist.quality import evaluate
    from playground.mnist.sample import make_model_fn

    model, meta = student
    teacher, t_meta = load_model(TEACHER)
    labels = default_labels(200)
    s = make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)
    x_T = torch.randn((200, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        x_s = student_sample(model, s, x_T, 2, "v", (labels,)).clamp(-1, 1)
        fn = make_model_fn(teacher.eval(), labels, 1.5)
        x_t = samplers.sample(fn, s, tuple(x_T.shape), sampler="ddim", num_steps=2, spacing="trailing", eta=0.0,
                              prediction_type="v", clip_x0=True, x_T=x_T)
    q_s, q_t = evaluate((x_s + 1) / 2, labels), evaluate((x_t + 1) / 2, labels)
    assert q_s.coverage == 10 and q_s.confident >= 0.9 and q_s.label_agreement >= 0.9
    assert q_s.frechet < 0.85 * q_t.frechet, (q_s, q_t)  # measured 0.72


def test_sampling_tab_puts_the_student_beside_its_teacher_from_one_x_T(one_thread):
    """The student's panel is its own sampler; the two teacher panels are exactly what the teacher's own DDIM and
    DPM-Solver++ panels show at the same settings (the same x_T, the same seed)."""
    from playground.ui import sampling

    titles = [t.value for t in sampling.panel_titles("mnist_v_student.pt")]
    assert titles == ["### Student (its own sampler)", "### Teacher: DDIM", "### Teacher: DPM-Solver++(2M)"]
    args = (2, 0.0, "trailing", True, "3", 1.5, 4, 7)
    *imgs, status, files = list(sampling.sample_compare("mnist_v_student.pt", *args))[-1]
    *t_imgs, _, _ = list(sampling.sample_compare("mnist_v_cond.pt", *args))[-1]
    np.testing.assert_array_equal(imgs[2], t_imgs[2])  # teacher DDIM x_t
    np.testing.assert_array_equal(imgs[4], t_imgs[4])  # teacher DPM++ x_t
    assert np.abs(imgs[0].astype(int) - t_imgs[2].astype(int)).mean() > 5  # the student is not the teacher
    assert "Student 2" in status and "distilled in" in status and "teacher mnist_v_cond" in status
    assert any("student-2steps" in f for f in files)
    assert "1-step student" in sampling.timesteps_md("mnist_v_student.pt", 2, "trailing")


def test_sample_endpoint_serves_the_student(live_app):
    """/sample through the real server with the shipped student and its teacher in the server's folder."""
    from gradio_client import Client

    added = [live_app.ckpt_dir / p.name for p in (STUDENT, TEACHER)]
    for src, dst in zip((STUDENT, TEACHER), added):
        shutil.copy(src, dst)
    try:
        out = Client(live_app.url, verbose=False).predict(
            "mnist_v_student.pt", 1, 0.0, "trailing", True, "mixed 0–9", 1.5, 2, 0, True, api_name="/sample")
        status = out[6]
        assert "Done" in status and "Student 1" in status and "teacher mnist_v_cond" in status
    finally:
        for p in added:
            p.unlink(missing_ok=True)
