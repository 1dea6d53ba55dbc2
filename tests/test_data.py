"""MNIST loading: the offline bundle, the fixed random split, errors, no downloads."""
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from playground.mnist import data as D

BUNDLE = D.REPO_DATA_DIR / "MNIST" / "raw"


def _hashes(images: torch.Tensor) -> list[str]:
    return [hashlib.sha1(im.numpy().tobytes()).hexdigest() for im in images]


def test_offline_bundle_split_sizes_and_source(monkeypatch):
    monkeypatch.delenv("PLAYGROUND_DATA_DIR", raising=False)
    d = D.load_mnist()
    assert d.train_images.shape == (8000, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.heldout_images.shape == (2000, 28, 28) and d.heldout_labels.shape == (2000,)
    assert d.source == "MNIST test split, 8,000 digits (offline bundle)"
    assert torch.bincount(d.train_labels, minlength=10).min() > 600
    assert torch.bincount(d.heldout_labels, minlength=10).min() > 150


def test_split_is_a_random_permutation_of_all_10k_not_a_slice():
    raw = D._read_idx(BUNDLE / "t10k-images-idx3-ubyte.gz", "images")
    labels = D._read_idx(BUNDLE / "t10k-labels-idx1-ubyte.gz", "labels")
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the canonical test split
    d = D.load_mnist(D.REPO_DATA_DIR)
    position = {h: i for i, h in enumerate(_hashes(raw))}
    held_pos = torch.tensor([position[h] for h in _hashes(d.heldout_images)])
    # both writer populations (first 5k SD-3, last 5k SD-1) are in the held-out set, about half each
    assert 800 < int((held_pos < 5000).sum()) < 1200
    assert len(set(_hashes(d.train_images)) | set(_hashes(d.heldout_images))) == len(set(position))


def test_env_var_and_missing_data_error(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(empty))
    with pytest.raises(D.DataNotFoundError, match="PLAYGROUND_DATA_DIR"):
        D.load_mnist()
    copy = tmp_path / "copy" / "MNIST" / "raw"
    copy.mkdir(parents=True)
    for f in BUNDLE.glob("*.gz"):
        shutil.copy(f, copy / f.name)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "copy"))
    d = D.load_mnist()
    assert Path(d.data_dir) == (tmp_path / "copy").resolve()
    assert torch.equal(d.heldout_labels, D.load_mnist(D.REPO_DATA_DIR).heldout_labels)  # same split anywhere


def test_never_downloads(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tvm

    def boom(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(tvm, "download_and_extract_archive", boom)
    with pytest.raises(D.DataNotFoundError):
        D.load_mnist(tmp_path)


def test_ranges_and_batches_are_deterministic():
    d = D.load_mnist(D.REPO_DATA_DIR)
    x0 = d.train_x0()
    assert x0.shape == (8000, 1, 28, 28) and x0.min() == -1.0 and x0.max() == 1.0
    torch.testing.assert_close(D.to_unit_range(x0[:5]), d.train_images[:5, None].float() / 255)
    a = D.batches(x0, d.train_labels, 32, torch.Generator().manual_seed(5))
    b = D.batches(x0, d.train_labels, 32, torch.Generator().manual_seed(5))
    for _ in range(3):
        (xa, ya), (xb, yb) = next(a), next(b)
        assert xa.shape == (32, 1, 28, 28) and torch.equal(xa, xb) and torch.equal(ya, yb)
