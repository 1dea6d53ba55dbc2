"""Trainer: learning on real digits, determinism, objectives, stop / close / time budget, resume.

Tests that take the ``device`` fixture run on the CPU and again on CUDA / MPS where present (conftest)."""
import threading

import pytest
import torch
from conftest import TINY_MODEL

from playground import diffusion
from playground.mnist.checkpoint import load_checkpoint, load_model
from playground.mnist.data import load_mnist
from playground.mnist.model import UNetConfig
from playground.mnist.train import N_BUCKETS, PRESETS, TrainConfig, Trainer
from playground.schedules import make_schedule

TINY = UNetConfig(**TINY_MODEL)
pytestmark = pytest.mark.usefixtures("one_thread_module")


def cfg(**kw) -> TrainConfig:
    base = dict(steps=20, time_budget_s=None, batch_size=32, lr=3e-3, warmup_steps=5, log_every=1, preview_every=0,
                bf16="off", model=TINY)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def data():
    return load_mnist()


def _fixed_loss(model, c: TrainConfig, data) -> float:
    """Loss on a fixed batch with fixed t and eps: comparable before and after training (on the model's device)."""
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(99)
    s = make_schedule(c.schedule, c.T)
    x0 = data.train_x0()[:128]
    t = torch.randint(0, c.T, (128,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    x0, t, eps = x0.to(dev), t.to(dev), eps.to(dev)
    with torch.no_grad():
        out = model(diffusion.q_sample(s, x0, t, eps).float(), t, data.train_labels[:128].to(dev))
    return float(diffusion.training_loss(s, out, x0, eps, t, c.prediction_type).mean())


@pytest.mark.parametrize("pred", ["eps", "v", "x0"])
def test_a_few_steps_on_real_digits_reduce_the_loss(data, pred, device):
    c = cfg(prediction_type=pred, steps=40, ema_decay=0.9)
    tr = Trainer(c, data=data, device=device)
    before = _fixed_loss(tr.model.eval(), c, data)
    events = list(tr.run())
    after_raw = _fixed_loss(tr.model.eval(), c, data)
    assert after_raw < 0.8 * before, (before, after_raw)
    assert events[-1].kind == "done" and events[-1].step == 40
    assert _fixed_loss(tr.sampling_model(), c, data) < before  # the EMA follows


def test_training_is_deterministic_under_a_seed(data, device):
    """Bit-identical reruns: always on the CPU; on CUDA with ``deterministic=True`` (deterministic kernels, also
    inside the CUDA graph that replays the step after the first EAGER_WARMUP_STEPS)."""
    c = cfg(steps=8, deterministic=True)
    a, b = Trainer(c, data=data, device=device), Trainer(c, data=data, device=device)
    la = [e.loss for e in a.run() if e.kind == "step"]
    lb = [e.loss for e in b.run() if e.kind == "step"]
    assert la == lb and len(la) == 8
    sa, sb = a.ema.state_dict(), b.ema.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    d = Trainer(cfg(steps=8, seed=1, deterministic=True), data=data, device=device)
    assert [e.loss for e in d.run() if e.kind == "step"] != la


def test_what_is_drawn_is_the_same_under_a_seed_on_any_setting(data, device):
    """Without deterministic kernels a GPU's sums may round differently run to run; what a seed fixes is still
    fixed: the data order, and t, ε and the label-dropout mask of every step."""
    a, b = Trainer(cfg(), data=data, device=device), Trainer(cfg(), data=data, device=device)
    for _ in range(3):
        for x, y in zip(a._draw(32), b._draw(32)):
            assert x.device.type == torch.device(device).type and torch.equal(x, y)
    from playground.mnist.data import batches
    ia, ib = batches(a.x0, a.labels, 32, a.data_gen), batches(b.x0, b.labels, 32, b.data_gen)
    for _ in range(3):
        (xa, la), (xb, lb) = next(ia), next(ib)
        assert torch.equal(xa, xb) and torch.equal(la, lb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_the_cuda_graph_step_computes_what_the_eager_step_does(data):
    """Graph replays run the kernels the eager step runs: with deterministic kernels both give the same weights."""
    runs = {}
    for graph in (False, True):
        tr = Trainer(cfg(steps=12, cuda_graph=graph, deterministic=True), data=data, device="cuda")
        losses = [e.loss for e in tr.run() if e.kind == "step"]
        runs[graph] = (tr, losses)
    (eager, le), (graphed, lg) = runs[False], runs[True]
    assert graphed._graph is not None and eager._graph is None
    assert lg == pytest.approx(le, rel=1e-5, abs=1e-7)
    for k, v in eager.ema.state_dict().items():
        torch.testing.assert_close(graphed.ema.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_events_carry_what_the_app_streams(data):
    tr = Trainer(cfg(steps=4, preview_every=2, preview_steps=3), data=data)
    events = list(tr.run())
    kinds = [e.kind for e in events]
    assert kinds == ["step", "preview", "step", "preview", "done"]
    ev = events[1]
    assert ev.preview.shape == (10, 1, 28, 28) and 0 <= ev.preview.min() and ev.preview.max() <= 1
    assert ev.preview_labels == list(range(10))
    assert len(ev.bucket_loss) == N_BUCKETS and ev.steps_per_s > 0 and ev.elapsed_s > 0
    assert ev.lr == pytest.approx(3e-3 * 2 / 5)  # warmup: step index 1 of 5 -> lr * 2/5
    assert "finished (steps)" in events[-1].message


def test_stop_event_and_generator_close_leave_a_usable_checkpoint(data, tmp_path):
    stop = threading.Event()
    tr = Trainer(cfg(steps=1000), data=data, stop_event=stop, out=tmp_path / "a.pt",
                 callbacks=[lambda e: stop.set() if e.step >= 3 else None])
    events = list(tr.run())
    assert events[-1].kind == "done" and events[-1].step == 3 and "stopped" in events[-1].message
    model, meta = load_model(tmp_path / "a.pt")
    assert meta.steps == 3 and meta.data.startswith("MNIST")

    gen = Trainer(cfg(steps=1000), data=data, out=tmp_path / "b.pt").run()
    for e in gen:
        if e.step == 2:
            break
    gen.close()
    assert load_model(tmp_path / "b.pt")[1].steps == 2


def test_time_budget_stops_cleanly(data):
    events = list(Trainer(cfg(steps=10_000, time_budget_s=1.0), data=data).run())
    assert "time budget" in events[-1].message and 0 < events[-1].step < 10_000


def test_resume_continues_from_the_saved_state(data, tmp_path, device):
    tr = Trainer(cfg(steps=6), data=data, resume_out=tmp_path / "r.pt", device=device)
    list(tr.run())
    obj = load_checkpoint(tmp_path / "r.pt")
    assert {"model", "optimizer", "train_state"} <= set(obj)
    tr2 = Trainer(cfg(steps=10), data=data, resume=tmp_path / "r.pt", device=device)
    assert tr2.step == 6
    assert all(torch.equal(tr2.model.state_dict()[k].cpu(), v.cpu()) for k, v in obj["model"].items())
    events = list(tr2.run())
    assert [e.step for e in events if e.kind == "step"] == [7, 8, 9, 10]
    with pytest.raises(Exception, match="cannot resume"):
        Trainer(cfg(steps=10, prediction_type="v"), data=data, resume=tmp_path / "r.pt")


def test_presets():
    assert set(PRESETS) >= {"quick", "shipped"}
    q = TrainConfig.from_preset("quick")
    assert q.time_budget_s == 300 and q.prediction_type == "eps" and q.conditional
    assert TrainConfig.from_dict(q.to_dict()) == q
    with pytest.raises(ValueError):
        TrainConfig.from_preset("nope")


def test_loss_stats_match_a_plain_per_bucket_loop():
    """LossStats (vectorised, one host sync) equals the straightforward per-bucket running mean."""
    import math

    from playground.mnist.train import LossStats

    g = torch.Generator().manual_seed(0)
    T, nb = 1000, 10
    stats = LossStats(T, nb, window=5)
    ref_b, ref_recent = [float("nan")] * nb, []
    for _ in range(12):
        t = torch.randint(0, T, (7,), generator=g)  # 7 samples: some buckets stay empty in a batch
        loss = torch.rand(7, generator=g)
        assert stats.update(loss, t) == pytest.approx(float(loss.mean()))
        ref_recent = (ref_recent + [float(loss.mean())])[-5:]
        for b in range(nb):
            sel = t * nb // T == b
            if sel.any():
                m = float(loss[sel].mean())
                ref_b[b] = m if math.isnan(ref_b[b]) else 0.9 * ref_b[b] + 0.1 * m
    assert stats.mean == pytest.approx(sum(ref_recent) / 5)
    assert [round(x, 6) for x in stats.buckets] == [round(x, 6) for x in ref_b]


def test_loss_stats_rows_folded_later_equal_folding_each_step(device):
    """The trainer queues one device row per step and folds them only when an event is due (one host sync)."""
    from playground.mnist.train import LossStats

    g = torch.Generator().manual_seed(1)
    now, later = LossStats(1000, window=4), LossStats(1000, window=4)
    for _ in range(9):
        t, loss = torch.randint(0, 1000, (16,), generator=g), torch.rand(16, generator=g)
        now.update(loss, t)
        later.push(later.row(loss.to(device), t.to(device)))
    assert later.pending and later.flush() == pytest.approx(now.last) and not later.pending
    assert later.mean == pytest.approx(now.mean)
    assert later.buckets == pytest.approx(now.buckets)


def test_plan_turns_the_measured_steps_per_second_into_the_steps_the_budget_allows(data):
    tr = Trainer(cfg(steps=100_000, time_budget_s=120.0, warmup_frac=0.1), data=data)
    tr.step = 20  # 20 steps in the first 10 s: 2 steps/s, 110 s left -> 220 more
    assert tr.plan(run_s=10.0, steps_run=20) == 240 and tr.planned_steps == 240
    assert tr.warmup_steps == 24  # warmup_frac of the plan
    assert tr.plan(run_s=10.0, steps_run=20, wall0=60.0) == 20 + 2 * 50  # resumed: 60 s were spent before
    assert tr.plan(run_s=200.0, steps_run=20) == 20  # over budget: never plans fewer steps than taken
    tr.step = 0
    assert tr.plan(run_s=0.0, steps_run=0) == 100_000  # nothing measured yet
    capped = Trainer(cfg(steps=150, time_budget_s=120.0), data=data)
    capped.step = 20
    assert capped.plan(run_s=10.0, steps_run=20) == 150  # the step limit binds first
    no_budget = Trainer(cfg(steps=77, time_budget_s=None), data=data)
    assert no_budget.plan(run_s=5.0, steps_run=10) == 77 and no_budget.warmup_steps == 5  # warmup_steps when no frac


def test_lr_schedule_warmup_then_cosine_to_the_floor(data):
    tr = Trainer(cfg(steps=200, lr=1e-3, warmup_frac=0.05, final_lr_frac=0.1), data=data)
    tr.plan(0.0, 0)
    assert tr.warmup_steps == 10
    tr.step = 0
    assert tr.lr_at(0.0) == pytest.approx(1e-4)  # step 0 of a 10-step warmup
    tr.step = 9
    assert tr.lr_at(9 / 200) == pytest.approx(1e-3)
    tr.step = 100
    assert tr.lr_at(0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # cosine half way: mean of peak and floor
    tr.step = 200
    assert tr.lr_at(1.0) == pytest.approx(1e-4)


def test_a_time_budget_run_warms_up_over_a_fraction_of_its_planned_steps(data):
    """On any machine speed the warmup is warmup_frac of the steps the run reaches, not a fixed step count."""
    reached = {}
    for sec_per_step in (0.1, 0.25):  # a fast and a 2.5x slower machine (a fake clock: the test is deterministic)
        tr = Trainer(cfg(steps=100_000, time_budget_s=3.0, warmup_frac=0.2, lr=1e-3), data=data)
        now = [0.0]
        tr.clock = lambda now=now: now[0]
        # one event per step (log_every=1)
        tr.callbacks.append(lambda e, now=now, dt=sec_per_step: now.__setitem__(0, now[0] + dt))
        events = [e for e in tr.run() if e.kind == "step"]
        last = events[-1]
        reached[sec_per_step] = last.step
        assert last.step == pytest.approx(3.0 / sec_per_step, abs=1)
        assert abs(last.planned_steps - last.step) <= 1  # the plan was right
        peak_at = next(e.step for e in events if e.lr >= 0.999e-3)
        assert peak_at == pytest.approx(0.2 * last.step, abs=1.5)  # warmup: 20% of the steps reached, on both machines
        assert events[-1].lr < 0.15e-3  # and the cosine has reached its floor (0.1 lr) at the end
    assert reached[0.1] > 2 * reached[0.25]


def test_lognormal_timestep_probabilities():
    import math

    from playground.mnist.train import timestep_probs

    s = make_schedule("linear", 1000)
    assert timestep_probs(s, TrainConfig()) is None  # uniform
    c = TrainConfig(t_sampling="lognormal", logsnr_mean=0.0, logsnr_std=2.0)
    p = timestep_probs(s, c)
    assert p.shape == (1000,) and float(p.sum()) == pytest.approx(1.0) and (p >= 0).all()
    lam = s.log_snr
    # the mass of λ within one std of the mean is the normal's 68.3% (the grid spans λ ∈ [-10.1, 9.2])
    assert float(p[(lam - 0.0).abs() <= 2.0].sum()) == pytest.approx(0.6827, abs=0.01)
    assert float(p[lam > 0.0].sum()) == pytest.approx(0.5, abs=0.01)
    # per unit of λ the probability is the normal density: p_t / |dλ/dt| ∝ exp(−λ_t²/(2·2²))
    dens = p / torch.gradient(lam)[0].abs()
    i, j = int((lam - 0.0).abs().argmin()), int((lam - 3.0).abs().argmin())
    assert float(dens[j] / dens[i]) == pytest.approx(math.exp(-(lam[j] ** 2 - lam[i] ** 2) / 8), rel=1e-6)
    with pytest.raises(ValueError):
        timestep_probs(s, TrainConfig(t_sampling="nope"))


def test_lognormal_training_draws_t_from_those_probabilities(data, device):
    tr = Trainer(cfg(t_sampling="lognormal", logsnr_mean=2.4, logsnr_std=2.4, batch_size=64), data=data, device=device)
    ts = torch.cat([tr.train_step(tr.x0[:64], tr.labels[:64], 1e-4)[1] for _ in range(8)]).cpu()  # 512 draws
    expected = tr.t_probs
    counts = torch.bincount(ts // 100, minlength=10).double()  # by tenths of [0, T)
    exp10 = expected.reshape(10, 100).sum(1) * len(ts)
    chi2 = float(((counts - exp10) ** 2 / exp10.clamp(min=1e-9)).sum())
    assert chi2 < 27.9  # chi-square, 9 d.o.f., p = 0.001
    assert float(ts.float().mean()) < 450  # log-SNR centred at +2.4 favours small t (uniform: 499.5)
