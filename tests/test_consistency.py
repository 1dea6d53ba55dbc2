"""Consistency distillation (playground/consistency.py): the boundary condition, Alg. 1's sampler against a
hand-run of its steps, a learned student on the single-Gaussian 2-D data that lands on its teacher's ODE
endpoint in one step, and determinism under a seed."""
from __future__ import annotations

import pytest
import torch

from playground import consistency as C
from playground import distill
from playground.schedules import make_schedule
from playground.toy2d.mlp import MLPConfig, ScoreMLP


def test_grid_runs_from_pure_noise_to_the_clean_end():
    for n in (1, 2, 4, 32):
        ts = C.grid(1000, n).tolist()
        assert len(ts) == n + 1 and ts[0] == 999 and ts[-1] == -1 and ts == sorted(ts, reverse=True)


def test_f_is_x_at_the_clean_end_and_the_networks_x0_elsewhere():
    s = make_schedule("cosine", 100)
    torch.manual_seed(0)
    net = ScoreMLP(MLPConfig(T=100, prediction_type="v"))
    x = torch.randn(4, 2)
    t = torch.tensor([-1, 0, 50, 99])
    out = C.f(net, s, x, t, "v")
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=0)  # f(x, −1) = x exactly
    ab = s.alpha_bar[t[1:]].view(-1, 1).float()
    v = net(x[1:], t[1:])
    torch.testing.assert_close(out[1:], ab.sqrt() * x[1:] - (1 - ab).sqrt() * v)  # x̂_0 = α·x − σ·v̂


def test_multistep_sampling_is_alg_1():
    """n = 3 by hand: map, re-noise to the next grid time with the same generator, map again."""
    s = make_schedule("cosine", 100)
    torch.manual_seed(1)
    net = ScoreMLP(MLPConfig(T=100, prediction_type="v")).eval()
    x_T = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    got = C.consistency_sample(net, s, x_T, 3, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    ts = C.grid(100, 3).tolist()[:-1]
    with torch.no_grad():
        x = C.f(net, s, x_T, torch.full((5,), ts[0]), "v")
        for t in ts[1:]:
            ab = float(s.alpha_bar[t])
            x = C.f(net, s, ab ** 0.5 * x + (1 - ab) ** 0.5 * torch.randn(5, 2, generator=g), torch.full((5,), t), "v")
    torch.testing.assert_close(got, x)


def test_a_student_on_the_gaussian_lands_on_its_teachers_ode_endpoint(gaussian_v_teacher):
    """Teacher: a v-MLP on the single Gaussian; its ODE endpoint is 64 deterministic DDIM steps from x_T. The
    1-step consistency student must land far closer to it than the teacher's own one step."""
    torch.set_rng_state(gaussian_v_teacher.rng_state)
    s, teacher, draw = gaussian_v_teacher.s, gaussian_v_teacher.teacher, gaussian_v_teacher.draw()

    events = list(C.consistency_distill(teacher, s, draw, C.ConsistencyConfig(N=16, steps=300, batch=256)))
    assert events[-1].done and events[-1].step == 300
    student = events[-1].student
    x_T = torch.randn(1000, 2, generator=torch.Generator().manual_seed(2))
    ode = distill.student_sample(teacher, s, x_T, 64)
    err_student = (C.consistency_sample(student, s, x_T, 1) - ode).pow(2).sum(1).mean().sqrt().item()
    err_teacher = (distill.student_sample(teacher, s, x_T, 1) - ode).pow(2).sum(1).mean().sqrt().item()
    # measured: see the assertion message; the tolerance leaves room of a few times that
    print("consistency", err_student, err_teacher)
    assert err_student < 0.15 and err_student < 0.25 * err_teacher, (err_student, err_teacher)
    one = C.consistency_sample(student, s, x_T, 1)
    assert torch.equal(one, C.consistency_sample(student, s, x_T, 1))  # deterministic: no noise at one step
    two = [C.consistency_sample(student, s, x_T, 2, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*two) and not torch.equal(two[0], one)  # seeded re-noising


def test_an_eps_teacher_is_refused():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError, match="v or x0"):
        next(C.consistency_distill(ScoreMLP(MLPConfig(T=100)), s, lambda b: (torch.zeros(b, 2), ()),
                                   C.ConsistencyConfig(steps=1), prediction_type="eps"))
