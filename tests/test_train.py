"""Trainer: learning on real digits, determinism, objectives, stop / close / time budget, resume."""
import dataclasses
import threading

import pytest
import torch

from playground import diffusion
from playground.checkpoint import load_checkpoint, load_model
from playground.data import load_mnist
from playground.model import UNetConfig
from playground.schedules import make_schedule
from playground.train import PRESETS, N_BUCKETS, TrainConfig, Trainer

from conftest import TINY_MODEL

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
    """Loss on a fixed batch with fixed t and eps: comparable before and after training."""
    g = torch.Generator().manual_seed(99)
    s = make_schedule(c.schedule, c.T)
    x0 = data.train_x0()[:128]
    t = torch.randint(0, c.T, (128,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        out = model(diffusion.q_sample(s, x0, t, eps).float(), t, data.train_labels[:128])
    return float(diffusion.training_loss(s, out, x0, eps, t, c.prediction_type).mean())


@pytest.mark.parametrize("pred", ["eps", "v", "x0"])
def test_a_few_steps_on_real_digits_reduce_the_loss(data, pred):
    c = cfg(prediction_type=pred, steps=40, ema_decay=0.9)
    tr = Trainer(c, data=data)
    before = _fixed_loss(tr.model.eval(), c, data)
    events = list(tr.run())
    after_raw = _fixed_loss(tr.model.eval(), c, data)
    assert after_raw < 0.8 * before, (before, after_raw)
    assert events[-1].kind == "done" and events[-1].step == 40
    assert _fixed_loss(tr.sampling_model(), c, data) < before  # the EMA follows


def test_training_is_deterministic_under_a_seed(data):
    a, b = Trainer(cfg(steps=5), data=data), Trainer(cfg(steps=5), data=data)
    la = [e.loss for e in a.run() if e.kind == "step"]
    lb = [e.loss for e in b.run() if e.kind == "step"]
    assert la == lb and len(la) == 5
    sa, sb = a.ema.state_dict(), b.ema.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = Trainer(cfg(steps=5, seed=1), data=data)
    assert [e.loss for e in c.run() if e.kind == "step"] != la


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


def test_resume_continues_from_the_saved_state(data, tmp_path):
    tr = Trainer(cfg(steps=6), data=data, resume_out=tmp_path / "r.pt")
    list(tr.run())
    obj = load_checkpoint(tmp_path / "r.pt")
    assert {"model", "optimizer", "train_state"} <= set(obj)
    tr2 = Trainer(cfg(steps=10), data=data, resume=tmp_path / "r.pt")
    assert tr2.step == 6
    assert all(torch.equal(tr2.model.state_dict()[k], v) for k, v in obj["model"].items())
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

    from playground.train import LossStats

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
