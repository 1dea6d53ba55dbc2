"""How good are the generated digits? A small MNIST classifier scores a batch of samples, and the
same score on real held-out digits (same n) is always reported next to it as the baseline.

Notation
--------
==============  ==================================================================
images          digits in [0, 1], (N, 1, 28, 28) (or (N, 28, 28))
p(y|x)          classifier softmax, (N, 10)
confident       fraction of images with max p(y|x) >= 0.9
coverage        how many of the 10 digits are predicted at least once
class entropy   entropy (bits) of the predicted-class histogram; log2(10) = 3.32 is uniform
features        the classifier's penultimate activations, (N, 128)
grey            fraction of pixels strictly between 0.25 and 0.75: blur raises it (real digits are nearly
                binary, ink or paper); the classifier alone reads a blurred class mean as its digit
Fréchet         ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) between Gaussian fits of
                the features (the FID formula, in this MNIST classifier's feature space)
reference       the 8,000 train digits (what the diffusion models learned from)
real-vs-real    the same numbers for n random held-out digits: the floor to compare with
==============  ==================================================================

Reproduce the shipped classifier (about 2 minutes on 2 CPU cores)::

    python -m playground.mnist.quality --train-classifier --out checkpoints/mnist_classifier.pt
"""
from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from playground.mnist.checkpoint import CHECKPOINT_DIR, CheckpointError, atomic_torch_save
from playground.mnist.data import MNISTSplits, load_mnist

__all__ = [
    "CLASSIFIER_PATH",
    "MNISTClassifier",
    "QualityReport",
    "train_classifier",
    "load_classifier",
    "frechet_distance",
    "evaluate",
    "real_baseline",
    "quality_report",
    "grey_fraction",
    "real_grey_fraction",
]

CLASSIFIER_PATH = CHECKPOINT_DIR / "mnist_classifier.pt"
CLASSIFIER_FORMAT = "diffusion-playground-classifier/1"
CONFIDENCE = 0.9
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class MNISTClassifier(nn.Module):
    """Small CNN: 28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4, then a 128-d feature layer and 10 logits."""

    def __init__(self, feature_dim: int = 128):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 4 * 4, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, 10))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images in [0, 1], (N, 1, 28, 28) -> penultimate features (N, 128)."""
        return self.fc(self.conv((images - MNIST_MEAN) / MNIST_STD))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images in [0, 1] -> logits (N, 10)."""
        return self.head(self.features(images))


def _as_images(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x.unsqueeze(1) if x.ndim == 3 else x


def train_classifier(
    data: MNISTSplits | None = None, *, epochs: int = 8, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
    log=print,
) -> tuple[MNISTClassifier, float]:
    """Train the classifier on the train digits (small random shifts/rotations as augmentation).

    Returns (model in eval mode, held-out accuracy).
    """
    from torchvision.transforms import v2

    data = data or load_mnist()
    g = torch.Generator().manual_seed(seed)
    x = data.train_images.float().unsqueeze(1) / 255.0  # (N, 1, 28, 28) in [0, 1]
    y = data.train_labels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # init, dropout and augmentation draw from the (forked) global RNG
        model = MNISTClassifier()
        augment = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        steps = epochs * (len(x) // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        step = 0
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x) - batch_size + 1, batch_size):
                idx = perm[i : i + batch_size]
                xb = torch.cat([augment(chunk) for chunk in x[idx].split(8)])  # one random affine per 8 digits
                loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
            acc = accuracy(model.eval(), data.heldout_images, data.heldout_labels)
            log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, held-out accuracy {acc:.4f}")
    return model.eval(), acc


@torch.no_grad()
def accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    x = _as_images(images) / (255.0 if images.dtype == torch.uint8 else 1.0)
    pred = torch.cat([model(xb).argmax(1) for xb in x.split(1000)])
    return float((pred == labels).float().mean())


def save_classifier(model: MNISTClassifier, path: str | Path, heldout_accuracy: float, data_source: str) -> None:
    atomic_torch_save({"format": CLASSIFIER_FORMAT,
                       "state_dict": {k: v.contiguous() for k, v in model.state_dict().items()},
                       "meta": {"heldout_accuracy": heldout_accuracy, "data": data_source}}, path)


@functools.lru_cache(maxsize=2)
def load_classifier(path: str | Path = CLASSIFIER_PATH) -> MNISTClassifier:
    """Load the shipped classifier (weights_only; cached)."""
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
        assert isinstance(obj, dict) and obj.get("format") == CLASSIFIER_FORMAT
        model = MNISTClassifier()
        model.load_state_dict(obj["state_dict"])
    except Exception as e:  # noqa: BLE001 - any failure means the same thing to the caller
        raise CheckpointError(f"cannot load the quality classifier {path}: {str(e)[:200]} "
                              f"(recreate it with `python -m playground.mnist.quality --train-classifier`)") from None
    return model.eval().requires_grad_(False)


def _gauss(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.double()
    return f.mean(0), torch.cov(f.T)


def frechet_distance(mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), via symmetric eigendecompositions (float64).

    Tr((S_a S_b)^{1/2}) = sum sqrt(eig(S_a^{1/2} S_b S_a^{1/2})), which is symmetric PSD.
    """
    w, V = torch.linalg.eigh(cov_a.double())
    sqrt_a = (V * w.clamp(min=0).sqrt()) @ V.T
    m = sqrt_a @ cov_b.double() @ sqrt_a
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu_a.double() - mu_b.double()).pow(2).sum() + cov_a.double().trace() + cov_b.double().trace()
                 - 2 * tr_sqrt)


@functools.lru_cache(maxsize=2)
def _reference_stats(classifier_path: str, data_dir: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_mnist(data_dir)
    feats = _features(load_classifier(classifier_path), data.train_images.float().unsqueeze(1) / 255.0)
    return _gauss(feats)


@torch.no_grad()
def _features(clf: MNISTClassifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([clf.features(xb) for xb in _as_images(images).split(1000)])


@dataclass
class QualityReport:
    """Scores of one batch of digits. ``frechet`` is against the reference (train) digits."""

    n: int
    confident: float  # fraction with max p >= 0.9
    coverage: int  # distinct predicted digits (of 10)
    class_entropy_bits: float  # of the predicted-class histogram (uniform = 3.32)
    frechet: float
    class_counts: list[int] = field(default_factory=list)
    label_agreement: float | None = None  # fraction whose predicted class == requested label

    def row(self, name: str) -> str:
        agree = "" if self.label_agreement is None else f" | label agreement {self.label_agreement:.1%}"
        return (f"{name:28s} n={self.n:5d} | confident {self.confident:6.1%} | coverage {self.coverage:2d}/10 | "
                f"entropy {self.class_entropy_bits:.2f} bits | Fréchet {self.frechet:8.3f}{agree}")


@torch.no_grad()
def evaluate(images: torch.Tensor, labels: torch.Tensor | None = None, *,
             classifier_path: str | Path = CLASSIFIER_PATH, data_dir: str | None = None) -> QualityReport:
    """Score digits in [0, 1], (N, 1, 28, 28). labels: the classes asked for (conditional sampling), optional."""
    clf = load_classifier(str(classifier_path))
    x = _as_images(images).cpu()
    feats = _features(clf, x)
    probs = clf.head(feats).softmax(1)
    conf, pred = probs.max(1)
    counts = torch.bincount(pred, minlength=10)
    p = counts.double() / counts.sum()
    entropy = abs(float(-(p[p > 0] * p[p > 0].log2()).sum()))  # abs: no '-0.00'
    mu_r, cov_r = _reference_stats(str(classifier_path),
                                   str(Path(data_dir).resolve()) if data_dir else str(load_mnist().data_dir))
    mu, cov = _gauss(feats)
    return QualityReport(
        n=len(x), confident=float((conf >= CONFIDENCE).float().mean()), coverage=int((counts > 0).sum()),
        class_entropy_bits=entropy, frechet=frechet_distance(mu, cov, mu_r, cov_r), class_counts=counts.tolist(),
        label_agreement=None if labels is None else float((pred == labels.cpu()).float().mean()),
    )


def grey_fraction(images: torch.Tensor) -> float:
    """Fraction of pixels of digits in [0, 1] that are strictly between 0.25 and 0.75 (neither ink nor paper)."""
    x = _as_images(images).float()
    return float(((x > 0.25) & (x < 0.75)).float().mean())


@functools.lru_cache(maxsize=2)
def real_grey_fraction(data_dir: str | None = None) -> float:
    """grey_fraction of the 2,000 held-out real digits: the yardstick for a sample's."""
    return grey_fraction(load_mnist(data_dir).heldout_images.float().unsqueeze(1) / 255.0)


def real_baseline(n: int, *, seed: int = 0, classifier_path: str | Path = CLASSIFIER_PATH,
                  data_dir: str | None = None) -> QualityReport:
    """The same scores for n random held-out digits (n is capped at the 2,000 held-out)."""
    data = load_mnist(data_dir)
    idx = torch.randperm(len(data.heldout_images), generator=torch.Generator().manual_seed(seed))[:n]
    return evaluate(data.heldout_images[idx].float().unsqueeze(1) / 255.0, classifier_path=classifier_path,
                    data_dir=data_dir)


def quality_report(images: torch.Tensor, labels: torch.Tensor | None = None, *, seed: int = 0,
                   **kw) -> dict[str, QualityReport]:
    """{"samples": evaluate(images), "real": real_baseline(len(images))} -- always report both."""
    return {"samples": evaluate(images, labels, **kw), "real": real_baseline(len(images), seed=seed, **kw)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m playground.mnist.quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-classifier", action="store_true", help="train and save the quality classifier")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=str(CLASSIFIER_PATH))
    ap.add_argument("--baseline", type=int, default=500, help="print the real-vs-real scores for n held-out digits")
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    if args.train_classifier:
        t0 = time.perf_counter()
        data = load_mnist(args.data_dir)
        model, acc = train_classifier(data, epochs=args.epochs)
        save_classifier(model, args.out, acc, data.source)
        print(f"held-out accuracy {acc:.4f}; trained in {time.perf_counter() - t0:.0f} s; wrote {args.out}")
        load_classifier.cache_clear()
    print(real_baseline(args.baseline, classifier_path=args.out, data_dir=args.data_dir).row(f"real held-out "
                                                                                             f"(n={args.baseline})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
