"""Issue 16: the Fréchet distance's square root. ``sqrtm_diagonal`` must give the diagonal of
``scipy.linalg.sqrtm`` (what pytorch-fid, clean-fid and guided-diffusion read) to rounding, and where
scipy's result is not finite or complex, scipy's own answer; and the distance built on it must equal
pytorch-fid's ``calculate_frechet_distance``, warning and all."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import linalg

from inceptionkit.metrics import Statistics, frechet_distance
from inceptionkit.metrics.sqrtm import LEAF, sqrtm_diagonal


def covariance(n: int, dims: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0.5, 0.2, (n, dims))
    return np.cov(x, rowvar=False)


def stats(mu: np.ndarray, sigma: np.ndarray) -> Statistics:
    return Statistics(mu, sigma, count=None, mode=None)


def scipy_sqrtm(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return linalg.sqrtm(m)


@pytest.mark.parametrize(
    ("n", "dims"),
    [(300, 200), (40, 200), (20, 5), (10, 3 * LEAF + 7)],
    ids=["full-rank", "singular", "small", "singular-odd-blocks"],
)
def test_diagonal_is_scipys(n, dims):
    product = covariance(n, dims, 0) @ covariance(n, dims, 1)
    root = scipy_sqrtm(product)
    expected = np.diagonal(root)
    ours = sqrtm_diagonal(product)
    assert ours.dtype == np.float64  # imaginary part below pytorch-fid's 1e-3: read as real, as it does
    np.testing.assert_allclose(ours, expected.real, rtol=1e-9, atol=1e-12)
    assert ours.sum() == pytest.approx(np.trace(root).real, rel=1e-12)


@pytest.mark.parametrize("dead", [1, 2])
def test_channels_no_image_activates_are_scipys_and_two_skip_the_schur_step(dead, monkeypatch):
    """A channel zero in every image is an all-zero row and column of its covariance, an eigenvalue
    exactly 0 of the product: one is the blocked method's; with two, scipy decides (their Sylvester
    block is singular), without the blocked Schur step first (guided-diffusion's sFID on a few images:
    hundreds of spatial ReLUs that are zero in every image)."""
    x, y = np.random.default_rng(4).normal(0.5, 0.2, (2, 40, 200))
    x[:, 7 : 7 + dead] = 0
    product = np.cov(x, rowvar=False) @ np.cov(y, rowvar=False)
    schurs = []
    real_schur = linalg.schur
    monkeypatch.setattr(linalg, "schur", lambda *a, **k: schurs.append(1) or real_schur(*a, **k))
    ours, expected = sqrtm_diagonal(product), np.diagonal(scipy_sqrtm(product))
    if dead == 1:
        np.testing.assert_allclose(ours, expected.real, rtol=1e-9, atol=1e-12)
        assert schurs == [1]
    else:
        np.testing.assert_array_equal(ours, expected)  # scipy's own
        assert schurs == []


def test_complex_roots_are_scipys():
    """Negative eigenvalues: the root is imaginary there, as scipy gives it (pytorch-fid then refuses)."""
    m = np.diag([-1.0, 4.0, -9.0]) + np.triu(np.arange(1.0, 10.0).reshape(3, 3), 1)
    np.testing.assert_allclose(sqrtm_diagonal(m), [1j, 2, 3j], atol=1e-12)
    np.testing.assert_allclose(sqrtm_diagonal(m), np.diagonal(scipy_sqrtm(m)), atol=1e-12)


def test_no_finite_root_is_nan_as_scipys_is_not_finite():
    """A nilpotent block: scipy's recurrence divides by zero (inf); the caller sees NaN and retries with eps."""
    m = np.array([[0.0, 1.0], [0.0, 0.0]])
    assert not np.isfinite(scipy_sqrtm(m)).all()
    assert np.isnan(sqrtm_diagonal(m)).all()


def test_distance_equals_pytorch_fids_with_and_without_its_eps_retry():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(3)
    for n in (300, 30):  # 30 images for 200 dims: a singular product
        a, b = rng.normal(0.5, 0.2, (n, 200)), rng.normal(0.55, 0.2, (n, 200))
        mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = frechet_distance(stats(mu1, s1), stats(mu2, s2))
        assert ours == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-9)
    s = np.diag([1.0, 0.0])
    s[0, 1] = 1.0  # s @ s is nilpotent-like in its second block: no finite root without eps
    zero = np.zeros(2)
    with pytest.warns(UserWarning, match="no finite square root"):
        ours = frechet_distance(stats(zero, s), stats(zero, np.array([[0.0, 1.0], [0.0, 0.0]])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = calculate_frechet_distance(zero, s, zero, np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_an_overflowing_product_is_a_metric_error_not_a_crash():
    """Finite covariances whose product overflows: scipy's answer (not finite), the eps retry, then the
    one-line error naming both inputs, as before the blocked method (whose Schur step refuses inf)."""
    from inceptionkit.errors import MetricError

    s = np.eye(4)
    s[0, 0] = 1e200
    a, b = Statistics(np.zeros(4), s, None, None, "a.npz"), Statistics(np.zeros(4), s, None, None, "b.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MetricError, match=r"the Fréchet distance of a\.npz and b\.npz is not finite"):
            frechet_distance(a, b)
