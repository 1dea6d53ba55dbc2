"""Quality metric: Fréchet formula against scipy, the shipped classifier, real-vs-real baseline."""
import numpy as np
import pytest
import torch

from playground.mnist import quality as Q
from playground.mnist.data import load_mnist


def test_frechet_matches_scipy_and_is_zero_for_identical_gaussians():
    from scipy import linalg

    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(300, 6, generator=g, dtype=torch.float64),
            torch.randn(300, 6, generator=g, dtype=torch.float64) * 1.5 + 0.3)
    (mu_a, ca), (mu_b, cb) = Q._gauss(a), Q._gauss(b)
    covmean = linalg.sqrtm(ca.numpy() @ cb.numpy()).real
    ref = float(((mu_a - mu_b) ** 2).sum()) + float(np.trace(ca.numpy() + cb.numpy() - 2 * covmean))
    assert Q.frechet_distance(mu_a, ca, mu_b, cb) == pytest.approx(ref, rel=1e-6)
    assert abs(Q.frechet_distance(mu_a, ca, mu_a, ca)) < 1e-8


needs_clf = pytest.mark.skipif(not Q.CLASSIFIER_PATH.exists(), reason="classifier not trained yet")


@needs_clf
def test_shipped_classifier_is_accurate_and_small():
    assert Q.CLASSIFIER_PATH.stat().st_size < 1_000_000
    d = load_mnist()
    assert Q.accuracy(Q.load_classifier(), d.heldout_images, d.heldout_labels) > 0.98


def real_baseline_2000_is_lower(real500) -> bool:
    return Q.real_baseline(2000).frechet < 0.5 * real500.frechet


@needs_clf
def test_real_baseline_and_noise_scores():
    real = Q.real_baseline(500)
    assert real.n == 500 and real.coverage == 10 and real.confident > 0.95
    assert real.class_entropy_bits > 3.2 and 5.0 < real.frechet < 40.0  # n=500: small-sample bias dominates
    assert real_baseline_2000_is_lower(real)
    noise = Q.evaluate(torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert noise.frechet > 20 * real.frechet and noise.coverage < 5
    d = load_mnist()
    rep = Q.quality_report(d.heldout_images[:200].float().unsqueeze(1) / 255, d.heldout_labels[:200])
    assert rep["real"].n == 200 and rep["samples"].label_agreement > 0.97


def test_grey_fraction_counts_the_pixels_between_ink_and_paper_and_rises_with_blur():
    import torchvision.transforms.functional as TF

    from playground.mnist.data import load_mnist
    from playground.mnist.quality import grey_fraction, real_grey_fraction

    x = torch.tensor([0.0, 0.25, 0.26, 0.5, 0.74, 0.75, 1.0, 1.0]).reshape(1, 1, 2, 4)
    assert grey_fraction(x) == 3 / 8  # strictly inside (0.25, 0.75)
    real = load_mnist().heldout_images[:500].float().unsqueeze(1) / 255.0
    g = grey_fraction(real)
    assert 0.02 < g < 0.1 and abs(real_grey_fraction() - g) < 0.01  # nearly binary: ink or paper
    assert grey_fraction(TF.gaussian_blur(real, 5, 1.0)) > 2 * g  # blur moves pixels into the middle
