"""Issue 18, A: precision and recall (k = 3), density and coverage (k = 5), computed in blocks, equal to
prdc 0.2's ``compute_prdc`` and torch-fidelity 0.4.0's ``metric_prc`` on the same features (<= 1e-6).

Features: pool-like vectors (non-negative, correlated, two clusters) for 600 real and 450 generated
samples; the blocks (200 x 256) are smaller than the sets, so rows and columns both stream. The
tie rule is shown on integer features, where distances equal radii exactly.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from inceptionkit.errors import MetricError
from inceptionkit.metrics.prdc import ball_ratios, kth_neighbour_sq, prdc

BLOCKS = {"rows": 200, "cols": 256}


def _features(n: int, seed: int, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(32, 48))
    centres = rng.integers(0, 2, n)[:, None] * 1.5 + shift
    return np.maximum(rng.normal(size=(n, 32)) @ mix * 0.3 + centres, 0).astype(np.float32)


@pytest.fixture(scope="module")
def feats():
    return _features(600, 0, 0.0), _features(450, 1, 0.25)


def _prdc(real, fake, k):
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the counts
        return compute_prdc(real, fake, k)


def test_density_and_coverage_are_prdcs(feats):
    real, fake = feats
    theirs = _prdc(real, fake, 5)
    ours = prdc(real, fake, k_dc=5, **BLOCKS)
    assert abs(ours.density - theirs["density"]) <= 1e-6
    assert abs(ours.coverage - theirs["coverage"]) <= 1e-6
    assert 0.05 < theirs["coverage"] < 0.95 and 0.05 < theirs["density"] < 1.5  # neither trivial


def test_precision_and_recall_are_prdcs_with_its_open_balls(feats):
    real, fake = feats
    theirs = _prdc(real, fake, 3)
    ours = prdc(real, fake, k_pr=3, closed=False, **BLOCKS)
    assert abs(ours.precision - theirs["precision"]) <= 1e-6
    assert abs(ours.recall - theirs["recall"]) <= 1e-6
    assert 0.05 < theirs["precision"] < 0.95 and 0.05 < theirs["recall"] < 0.95


@pytest.mark.parametrize("save_cpu_ram", [False, True])
def test_precision_and_recall_are_torch_fidelitys(feats, save_cpu_ram):
    from torch_fidelity.metric_prc import calculate_precision_recall_full, calculate_precision_recall_part

    real, fake = feats
    fn = calculate_precision_recall_part if save_cpu_ram else calculate_precision_recall_full
    # torch-fidelity's convention: features_1 generated, features_2 real
    precision, recall = fn(torch.from_numpy(fake), torch.from_numpy(real), 3, 200)
    ours = prdc(real, fake, **BLOCKS)
    assert abs(ours.precision - precision) <= 1e-6 and abs(ours.recall - recall) <= 1e-6


def test_ties_follow_each_tools_rule():
    """Integer features in {0, 1, 2}^4: many distances equal a radius exactly (in every arithmetic).
    prdc's balls are open (<), torch-fidelity's closed (<=): different numbers, each reproduced."""
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    rng = np.random.default_rng(3)
    real, fake = (rng.integers(0, 3, (300, 4)).astype(np.float32) for _ in range(2))
    theirs_open = _prdc(real, fake, 3)
    theirs_closed = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3)
    open_, closed = prdc(real, fake, k_dc=3, closed=False), prdc(real, fake, closed=True)
    assert (open_.precision, open_.recall) == pytest.approx(
        (theirs_open["precision"], theirs_open["recall"]), abs=1e-6
    )
    assert (open_.density, open_.coverage) == pytest.approx(
        (theirs_open["density"], theirs_open["coverage"]), abs=1e-6
    )
    assert (closed.precision, closed.recall) == pytest.approx(theirs_closed, abs=1e-6)
    assert abs(closed.precision - open_.precision) > 0.1  # the rule matters here


def test_radii_in_blocks_are_the_full_matrixs():
    x = torch.from_numpy(_features(300, 5, 0.0)).double()
    full = torch.cdist(x, x).square()
    want = full.sort(dim=1).values[:, [3, 5]].T
    got = kth_neighbour_sq(x, (3, 5), rows=37, cols=50)
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-9)


def test_identical_sets():
    """Each generated point sits on a real one (distance 0, inside every ball): precision, recall and
    coverage are 1; density exactly 1 (prdc too)."""
    x = _features(200, 7, 0.0)
    s = prdc(x, x.copy())
    assert (s.precision, s.recall, s.coverage) == (1.0, 1.0, 1.0)
    assert s.density == 1.0 == _prdc(x, x.copy(), 5)["density"]  # each open ball: itself and k - 1 others


def test_too_few_features_are_refused_with_the_count():
    x = _features(50, 8, 0.0)
    with pytest.raises(MetricError, match=r"^real features: 5 feature vectors; .*k = 5.* at least 6$"):
        prdc(x[:5], x)
    with pytest.raises(MetricError, match=r"^generated features: 3 feature vectors; .*at least 4$"):
        prdc(x, x[:3])
    with pytest.raises(MetricError, match="real features have 48 dims, generated features 47"):
        prdc(x, x[:, :47])


def test_ball_ratios_are_the_full_matrixs_and_give_precision_and_coverage(feats):
    """Issue 18, 6: per-sample ratios (what the report's failures are chosen by), in blocks, equal the
    full distance matrix's (<= 1e-9 relative); counted, they are our precision (closed balls, k = 3)
    and prdc 0.2's coverage (k = 5)."""
    from scipy.spatial.distance import cdist

    real, fake = feats
    outside, uncovered = ball_ratios(real, fake, **BLOCKS)
    rr, rf = cdist(real.astype(np.float64), real), cdist(real.astype(np.float64), fake)
    radius = np.sort(rr, axis=1)
    want_outside = (rf / radius[:, 3:4]).min(0)
    want_uncovered = rf.min(1) / radius[:, 5]
    assert np.allclose(outside, want_outside, rtol=1e-9, atol=0)
    assert np.allclose(uncovered, want_uncovered, rtol=1e-9, atol=0)
    assert (outside <= 1).mean() == prdc(real, fake, **BLOCKS).precision
    assert abs((uncovered < 1).mean() - _prdc(real, fake, 5)["coverage"]) <= 1e-6
    assert 0.05 < (outside > 1).mean() < 0.95 and 0.05 < (uncovered >= 1).mean() < 0.95


def test_ball_ratios_of_duplicated_points():
    """A real point repeated more than k times has a ball of radius 0: it holds a generated point at
    distance 0 (ratio 0), none other (ratio infinite), and no division by zero."""
    real = np.repeat(np.eye(3), 6, axis=0)  # three points, six copies each: every radius 0
    fake = np.array([[1.0, 0, 0], [0.5, 0.5, 0]])
    outside, uncovered = ball_ratios(real, fake)
    assert outside.tolist() == [0.0, np.inf]
    assert uncovered.tolist() == [0.0] * 6 + [np.inf] * 12
