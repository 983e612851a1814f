"""Issue 18, B: FD∞ as Chong & Forsyth's score_infinity.py computes it, and bootstrap intervals for FID
and KID; seeded (the same input gives the same number), with known answers on Gaussians.

score_infinity.py is restated here from its text (its file imports botorch and a CUDA network):
sizes ``np.linspace(5000, N, 15).astype('int32')``, ``np.random.shuffle`` of all activations before
each size, the FID of the first N (``np.mean``, ``np.cov``, its ``numpy_calculate_frechet_distance``,
which is pytorch-fid's ``calculate_frechet_distance``), ``LinearRegression`` on 1 / N read at 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from inceptionkit.errors import MetricError
from inceptionkit.metrics import Statistics
from inceptionkit.metrics.scores import kernel_inception_distance
from inceptionkit.metrics.uncertainty import bootstrap_fid, bootstrap_kid, fid_infinity


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    x[:, 0] += shift
    return x.astype(np.float32)


def _score_infinity(acts: np.ndarray, mu: np.ndarray, sigma: np.ndarray, seed: int) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance
    from sklearn.linear_model import LinearRegression

    np.random.seed(seed)
    acts = acts.copy()
    batches = np.linspace(5000, len(acts), 15).astype("int32")
    fids = []
    for n in batches:
        np.random.shuffle(acts)
        sub = acts[:n]
        fids.append(calculate_frechet_distance(np.mean(sub, axis=0), np.cov(sub, rowvar=False), mu, sigma))
    reg = LinearRegression().fit(1 / batches.reshape(-1, 1), np.array(fids).reshape(-1, 1))
    return float(reg.predict(np.array([[0]]))[0, 0])


@pytest.mark.slow
def test_fid_infinity_is_score_infinitys():
    gen, ref = _gaussian(9000, 8, 0, shift=0.3), _gaussian(9000, 8, 1)
    mu, sigma = ref.mean(0).astype(np.float64), np.cov(ref, rowvar=False)
    theirs = _score_infinity(gen, mu, sigma, seed=7)
    ours = fid_infinity(gen, Statistics(mu, sigma, 9000, None), seed=7)
    assert abs(ours.value - theirs) <= 1e-9 * abs(theirs)
    assert ours.sizes[0] == 5000 and ours.sizes[-1] == 9000 and len(ours.sizes) == 15
    assert 0.05 < theirs < 0.15  # about 0.3^2 = 0.09


def test_fid_infinity_is_seeded():
    gen, ref = _gaussian(6000, 8, 2), _gaussian(6000, 8, 3)
    stats = Statistics(ref.mean(0).astype(np.float64), np.cov(ref, rowvar=False), 6000, None)
    first, again, other = (fid_infinity(gen, stats, seed=s).value for s in (0, 0, 1))
    assert first == again and first != other


def test_fid_infinity_of_one_gaussian_is_zero_within_its_interval():
    """20,000 samples of N(0, I) in 16 dims against that Gaussian's own statistics: the truth is 0;
    every finite-N FID is above 0 (its bias, ~0.015 at 5,000); FD∞'s interval holds 0."""
    d = 16
    truth = Statistics(np.zeros(d), np.eye(d), None, None)
    fd = fid_infinity(_gaussian(20000, d, 4), truth, seed=0, ci=0.95)
    assert 0.0 in fd.interval and fd.interval.high - fd.interval.low < 0.005
    assert min(fd.fids) > fd.interval.high  # the bias FD∞ removes
    assert fd.slope > 0


def test_fid_bootstrap_interval_holds_the_true_fid_and_is_the_percentiles():
    """N(0, I) against N(e_1, I) in 4 dims: the true FID is |e_1|^2 = 1."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    a, b = _gaussian(3000, 4, 5).astype(np.float64), _gaussian(3000, 4, 6, shift=1.0).astype(np.float64)
    iv = bootstrap_fid(a, b, bootstrap=60, ci=0.95, seed=3)
    assert 1.0 in iv and iv.high - iv.low < 0.3
    rng, values = np.random.default_rng(3), []  # the definition, restated
    for _ in range(60):
        x, y = a[rng.integers(0, 3000, 3000)], b[rng.integers(0, 3000, 3000)]
        values.append(
            calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
        )
    assert (iv.low, iv.high) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])), rel=1e-9)
    assert bootstrap_fid(a, b, bootstrap=60, seed=3) == iv  # seeded


@pytest.mark.slow
def test_kid_bootstrap_intervals_cover_the_kid_of_far_more_samples():
    """KID is unbiased; its value for these two Gaussians (shift 0.5 in 8 dims) is taken from 20,000
    samples each (0.113; its std over subsets 0.009, far below an interval's width). Twenty pairs of
    400 samples, 30 resamples each: measured, 16 of 20 intervals hold it (80% for a nominal 95%: the
    percentile bootstrap's known undercoverage with few samples and resamples)."""
    shift, d = 0.5, 8
    truth = kernel_inception_distance(_gaussian(20000, d, 7), _gaussian(20000, d, 8, shift), 10, 2000)[0]
    hits = 0
    for s in range(20):
        a, b = _gaussian(400, d, 100 + 2 * s), _gaussian(400, d, 101 + 2 * s, shift)
        iv = bootstrap_kid(a, b, subsets=5, subset_size=200, bootstrap=30, seed=s)
        assert iv.value == kernel_inception_distance(a, b, 5, 200)[0] and iv.low < iv.value < iv.high
        hits += truth in iv
    assert hits == 16
    assert bootstrap_kid(a, b, subsets=5, subset_size=200, bootstrap=30, seed=19) == iv  # seeded


def test_refusals_name_the_numbers():
    stats = Statistics(np.zeros(8), np.eye(8), None, None)
    with pytest.raises(
        MetricError, match="FD∞ fits 15 FIDs from 5000 samples up; 4000 feature vectors given"
    ):
        fid_infinity(_gaussian(4000, 8, 0), stats)
    with pytest.raises(MetricError, match="FD∞ fits a line to FIDs at 3 or more subset sizes; 4001 samples from 4000 up give 2"):
        fid_infinity(_gaussian(4001, 8, 0), stats, min_size=4000)  # sizes 4000 and 4001: no line to fit
    with pytest.raises(MetricError, match=r"features of shape \(100, 7\); FD∞ needs \(N, 8\)"):
        fid_infinity(_gaussian(100, 7, 0), stats)
    with pytest.raises(MetricError, match="confidence level 95: must be between 0 and 1"):
        bootstrap_fid(_gaussian(50, 2, 0), stats, ci=95)
    with pytest.raises(MetricError, match="^KID's bootstrap interval: a resample's subset of 2 drew one image 2 times"):
        bootstrap_kid(_gaussian(2, 8, 0), _gaussian(2, 8, 1), subset_size=2, bootstrap=20)  # was a "came out nan"
    with pytest.raises(MetricError, match="bootstrap of 1 resamples"):
        bootstrap_kid(_gaussian(50, 2, 0), _gaussian(50, 2, 1), bootstrap=1)
