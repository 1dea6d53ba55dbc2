"""Checkpoints: round trip, clear errors, no code execution on load, atomic writes, shipped files."""
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL

from playground.mnist import checkpoint as C
from playground.mnist.model import UNet, UNetConfig

TINY = UNetConfig(**TINY_MODEL)
pytestmark = pytest.mark.usefixtures("one_thread_module")


def _model(seed=0):
    torch.manual_seed(seed)
    m = UNet(TINY)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _save(path, model=None, **meta):
    model = model or _model()
    return C.save_checkpoint(path, ema_state=model.state_dict(), config=model.config,
                             meta=C.CheckpointMeta(prediction_type="v", schedule="cosine", T=500, steps=7,
                                                   data="test", **meta))


def test_round_trip_rebuilds_model_from_file_alone(tmp_path):
    src = _model()
    path = _save(tmp_path / "m.pt", src)
    model, meta = C.load_model(path, "cpu")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert model.config == TINY
    assert (meta.prediction_type, meta.schedule, meta.T, meta.steps, meta.data) == ("v", "cosine", 500, 7, "test")
    assert meta.created.startswith("20")
    x = torch.randn(2, 1, 28, 28)
    t, y = torch.tensor([5, 300]), torch.tensor([1, 10])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, y), src.eval()(x, t, y))


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "foreign", "empty"])
def test_bad_files_give_a_clear_checkpoint_error(tmp_path, kind):
    path = tmp_path / "bad.pt"
    if kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        good = _save(tmp_path / "good.pt").read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif kind == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(3)}}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    with pytest.raises(C.CheckpointError) as e:
        C.load_model(path)
    assert str(path) in str(e.value) or "not found" in str(e.value)


class _Payload:
    """Unpickling this would create a marker file (stands in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
def test_malicious_pickle_never_executes(tmp_path, container):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    obj = {"format": C.FORMAT, "config": TINY.to_dict(), "meta": {}, "ema": {}, "x": _Payload(marker)}
    if container == "torch_zip":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    # sanity: the payload is live -- plain unpickling would run it
    with open(path, "rb") as f:
        if container == "raw_pickle":
            pickle.loads(f.read())
            assert marker.exists()
            marker.unlink()
    with pytest.raises(C.CheckpointError, match="unsafe unpickling"):
        C.load_checkpoint(path)
    assert not marker.exists()


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = _save(tmp_path / "m.pt")
    before = path.read_bytes()

    def exploding_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(C.torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        _save(path, _model(seed=1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    C.load_model(path)


def test_resume_checkpoint_holds_optimizer_and_raw_weights(tmp_path):
    m = _model()
    opt = torch.optim.AdamW(m.parameters())
    m(torch.randn(1, 1, 28, 28), torch.tensor([3])).sum().backward()
    opt.step()
    C.save_checkpoint(tmp_path / "r.pt", ema_state=m.state_dict(), config=m.config, meta=C.CheckpointMeta(),
                      model_state=m.state_dict(), optimizer_state=opt.state_dict(),
                      train_state={"noise_gen": torch.Generator().get_state()})
    obj = C.load_checkpoint(tmp_path / "r.pt")
    assert set(obj) >= {"model", "optimizer", "train_state"}
    opt2 = torch.optim.AdamW(_model().parameters())
    opt2.load_state_dict(obj["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == 1


@pytest.mark.parametrize("path, pred", [(C.DEFAULT_CHECKPOINT, "eps"), (C.V_CHECKPOINT, "v")])
def test_shipped_checkpoints_are_small_and_load(path, pred):
    if not path.exists():
        pytest.skip(f"{path.name} not trained yet")
    assert path.stat().st_size <= 10 * 1024 * 1024
    obj = C.load_checkpoint(path)
    assert "optimizer" not in obj and "model" not in obj  # EMA weights only
    model, meta = C.load_model(path)
    assert meta.prediction_type == pred and meta.conditional and model.config.num_classes == 10
    assert meta.steps > 0 and "MNIST" in meta.data
