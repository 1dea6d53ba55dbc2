"""MNIST for training and evaluation: torchvision's train split when present, the bundled offline
test split otherwise, and a deterministic train / held-out split.

Notation
--------
===========  =================================================================
images       uint8 digits, (N, 28, 28), 0 = black background
labels       long class labels, (N,) in 0..9
x0           model-range images, float (N, 1, 28, 28) in [-1, 1]   (DDPM x_0)
train        digits the models and the quality classifier learn from
heldout      digits never trained on: the real-vs-real quality baseline
===========  =================================================================

Where the digits come from, in order:

1. ``<data_dir>/MNIST/raw/train-images-idx3-ubyte`` etc., the 60,000-digit train split that
   ``torchvision.datasets.MNIST(train=True)`` reads (downloaded only if ``download=True``).
2. The offline bundle ``<data_dir>/MNIST/raw/t10k-*-ubyte.gz``: the 10,000-digit MNIST *test*
   split, shipped in this repo (``data/MNIST/``, CC BY-SA 3.0, LeCun, Cortes & Burges). A fixed
   random permutation (seed 0) gives 8,000 train and 2,000 held-out digits. It is never a
   contiguous slice: the two halves of the test split come from different writers.

``data_dir`` defaults to the env var ``PLAYGROUND_DATA_DIR``, else the repo's ``data/``.
"""
from __future__ import annotations

import functools
import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

__all__ = [
    "DataNotFoundError",
    "MNISTSplits",
    "default_data_dir",
    "load_mnist",
    "to_model_range",
    "to_unit_range",
    "batches",
]

REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"
N_HELDOUT = 2_000  # held-out digits drawn from the offline test split
SPLIT_SEED = 0  # seed of the fixed permutation; changing it changes every baseline


class DataNotFoundError(FileNotFoundError):
    """No MNIST files were found (and downloading was not allowed or failed)."""


@dataclass(frozen=True)
class MNISTSplits:
    """Train and held-out digits plus a human description of where they came from."""

    train_images: torch.Tensor  # (N_train, 28, 28) uint8
    train_labels: torch.Tensor  # (N_train,) long
    heldout_images: torch.Tensor  # (N_heldout, 28, 28) uint8
    heldout_labels: torch.Tensor  # (N_heldout,) long
    source: str  # e.g. "MNIST test split, 8,000 digits (offline bundle)"
    data_dir: str

    def train_x0(self) -> torch.Tensor:
        """Train digits in model range, (N, 1, 28, 28) float32 in [-1, 1]."""
        return to_model_range(self.train_images)

    def heldout_x0(self) -> torch.Tensor:
        return to_model_range(self.heldout_images)


def default_data_dir() -> Path:
    return Path(os.environ.get("PLAYGROUND_DATA_DIR") or REPO_DATA_DIR)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or (N, 1, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1]."""
    x = images.float() / 127.5 - 1.0
    return x.unsqueeze(1) if x.ndim == 3 else x


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> [0, 1], clamped. Any shape."""
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def _read_idx(path: Path, kind: str) -> torch.Tensor:
    """Read an IDX file (optionally .gz) with torchvision's MNIST reader."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    reader = read_image_file if kind == "images" else read_label_file
    if path.suffix != ".gz":
        return reader(str(path))
    with tempfile.TemporaryDirectory() as tmp:  # the reader wants a plain file path
        plain = Path(tmp) / path.stem
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return reader(str(plain))


def _find(raw: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (raw / name).is_file():
            return raw / name
    return None


def _permuted_split(images: torch.Tensor, labels: torch.Tensor, n_heldout: int):
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SPLIT_SEED))
    tr, ho = perm[n_heldout:], perm[:n_heldout]
    return images[tr], labels[tr], images[ho], labels[ho]


def _try_torchvision_train(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=True, download=download)
    except (RuntimeError, OSError, ValueError):  # not present / no network / bad md5
        return None
    return ds.data.clone(), ds.targets.clone().long()


@functools.lru_cache(maxsize=4)
def _load_cached(root: str, download: bool) -> MNISTSplits:
    rootp = Path(root)
    raw = rootp / "MNIST" / "raw"
    test_img, test_lab = _find(raw, "t10k-images-idx3-ubyte"), _find(raw, "t10k-labels-idx1-ubyte")
    full = _try_torchvision_train(rootp, download=False)
    if full is None and download:
        full = _try_torchvision_train(rootp, download=True)
    if full is not None:
        tr_i, tr_l = full
        if test_img and test_lab:  # held-out: random 2,000 of the test split
            _, _, ho_i, ho_l = _permuted_split(_read_idx(test_img, "images"),
                                               _read_idx(test_lab, "labels").long(), N_HELDOUT)
            src = f"MNIST train split, {len(tr_i):,} digits (torchvision)"
        else:  # held-out: random 2,000 of the train split, removed from training
            tr_i, tr_l, ho_i, ho_l = _permuted_split(tr_i, tr_l, N_HELDOUT)
            src = f"MNIST train split, {len(tr_i):,} digits (torchvision, {N_HELDOUT:,} held out)"
        return MNISTSplits(tr_i, tr_l, ho_i, ho_l, src, str(rootp))
    if test_img and test_lab:
        images, labels = _read_idx(test_img, "images"), _read_idx(test_lab, "labels").long()
        tr_i, tr_l, ho_i, ho_l = _permuted_split(images, labels, N_HELDOUT)
        src = f"MNIST test split, {len(tr_i):,} digits (offline bundle)"
        return MNISTSplits(tr_i, tr_l, ho_i, ho_l, src, str(rootp))
    raise DataNotFoundError(
        f"No MNIST digits found under {rootp}. Expected either torchvision's train split in "
        f"{raw}/train-images-idx3-ubyte (run with download allowed, e.g. `python -m playground.train "
        f"--download`, on a machine with internet) or the offline bundle {raw}/t10k-images-idx3-ubyte.gz "
        f"and t10k-labels-idx1-ubyte.gz (shipped in this repo under data/MNIST/raw/). Set "
        f"PLAYGROUND_DATA_DIR or pass data_dir= to point elsewhere."
    )


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = False) -> MNISTSplits:
    """Load MNIST train / held-out digits (cached per directory).

    Args:
        data_dir: folder that holds ``MNIST/raw``; default ``$PLAYGROUND_DATA_DIR`` or repo ``data/``.
        download: let torchvision download the train split if missing (never in tests).
    Raises:
        DataNotFoundError: nothing usable was found.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load_cached(str(root.resolve()), bool(download))


def batches(
    x0: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches (epoch by epoch), randomness only from ``generator``.

    x0: (N, 1, 28, 28); labels: (N,). Yields ((B, 1, 28, 28), (B,)).
    """
    n = len(x0)
    while True:  # the order comes from the CPU generator on every device; the indices move once per epoch
        perm = torch.randperm(n, generator=generator).to(x0.device)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = perm[i : i + batch_size]
            yield x0[idx], labels[idx]
