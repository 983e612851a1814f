"""How far to trust one FID: FD∞ (the FID of infinitely many samples, extrapolated) and bootstrap
confidence intervals for FID and KID. Every random choice is seeded: the same input, the same number.

**FD∞** (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them",
``score_infinity.py``): FID is biased upwards by about c / N for N samples. The generated features
are shuffled (``np.random.shuffle``, once per size and cumulatively, as there) and the FID of the first
N computed for ``points`` = 15 sizes N evenly spaced from ``min_size`` = 5,000 to all of them
(``np.linspace(...).astype(int32)``); a straight line fitted by least squares to FID against 1 / N is
read at 1 / N = 0. Each FID is score_infinity's: mean (``np.mean``) and covariance (``np.cov``) of the
subset against fixed reference statistics, matrix square root by ``scipy.linalg.sqrtm``. Its
interval is the fit's: intercept ± t(ci, points - 2) x its standard error. The 15 FIDs share samples,
so they are not the independent points that formula assumes: the interval is an indication.

**Bootstrap** (percentile intervals, Efron 1979): each of ``bootstrap`` resamples draws every input's
rows with replacement (``np.random.default_rng(seed)``) and recomputes the statistic; the interval is
the (1 - ci) / 2 and (1 + ci) / 2 percentiles of the resampled values. Chosen as the plainest interval
that assumes no shape for the statistic's distribution; it inherits the statistic's bias (FID's
c / N is larger still on a resample, whose duplicates count as fewer distinct samples), so an interval
for FID covers the expected FID at this N, not the FID of infinitely many samples (FD∞ estimates that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import MetricError
from .scores import SEED, _poly, kernel_inception_distance
from .stats import Statistics, frechet_distance

MIN_SIZE, POINTS = 5000, 15  # score_infinity.py's defaults


@dataclass(frozen=True)
class Interval:
    value: float  # the statistic of the data as given
    low: float
    high: float
    ci: float

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class Extrapolation:
    """FD∞ (``value``) with its interval, and the FIDs it was fitted to."""

    value: float
    interval: Interval
    sizes: tuple[int, ...]
    fids: tuple[float, ...]
    slope: float


def _check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise MetricError(f"confidence level {ci}: must be between 0 and 1 (e.g. 0.95)")


def _stats(x: np.ndarray) -> Statistics:
    return Statistics(np.mean(x, axis=0), np.cov(x, rowvar=False), len(x), None)


def fid_infinity(
    features: np.ndarray,
    reference: Statistics,
    *,
    min_size: int = MIN_SIZE,
    points: int = POINTS,
    seed: int = 0,
    ci: float = 0.95,
) -> Extrapolation:
    """FD∞ of generated ``features`` (N, dims) against ``reference`` statistics, as score_infinity.py
    computes it, with ``np.random.RandomState(seed)`` for its shuffles."""
    _check_ci(ci)
    acts = np.array(features, copy=True)
    if acts.ndim != 2 or acts.shape[1] != reference.dims:
        raise MetricError(f"features of shape {acts.shape}; FD∞ needs (N, {reference.dims})")
    if len(acts) < min_size or points < 3:
        raise MetricError(
            f"FD∞ fits {points} FIDs from {min_size} samples up; {len(acts)} feature vectors given "
            f"(at least {min_size} and 3 points needed)"
        )
    sizes = np.linspace(min_size, len(acts), points).astype("int32")
    if len(set(sizes.tolist())) < 3:  # a line through fewer distinct sizes is not fitted, and has no interval
        raise MetricError(
            f"FD∞ fits a line to FIDs at 3 or more subset sizes; {len(acts)} samples from {min_size} up give "
            f"{len(set(sizes.tolist()))}: set a smaller smallest subset (--fid-infinity-min-size)"
        )
    rng = np.random.RandomState(seed)
    fids = []
    for n in sizes:
        rng.shuffle(acts)
        fids.append(frechet_distance(_stats(acts[:n]), reference))
    x, y = 1 / sizes.astype(np.float64), np.array(fids)
    slope, intercept = np.polyfit(x, y, 1)
    return Extrapolation(
        float(intercept),
        _fit_interval(x, y, slope, intercept, ci),
        tuple(int(n) for n in sizes),
        tuple(fids),
        float(slope),
    )


def _fit_interval(x: np.ndarray, y: np.ndarray, slope: float, intercept: float, ci: float) -> Interval:
    from scipy import stats

    n = len(x)
    residual = y - (intercept + slope * x)
    s = np.sqrt(residual @ residual / (n - 2))
    se = s * np.sqrt(1 / n + x.mean() ** 2 / ((x - x.mean()) @ (x - x.mean())))
    half = stats.t.ppf((1 + ci) / 2, n - 2) * se
    return Interval(float(intercept), float(intercept - half), float(intercept + half), ci)


def _percentiles(value: float, estimates: np.ndarray, ci: float) -> Interval:
    low, high = np.percentile(estimates, [50 * (1 - ci), 50 * (1 + ci)])
    return Interval(float(value), float(low), float(high), ci)


def _bootstrap(
    stat: Callable[[list[np.ndarray]], float], inputs: list[np.ndarray], bootstrap: int, ci: float, seed: int
) -> Interval:
    _check_ci(ci)
    if bootstrap < 2:
        raise MetricError(f"bootstrap of {bootstrap} resamples: at least 2 are needed (1000 is usual)")
    rng = np.random.default_rng(seed)
    estimates = np.array(
        [stat([x[rng.integers(0, len(x), len(x))] for x in inputs]) for _ in range(bootstrap)]
    )
    return _percentiles(stat(inputs), estimates, ci)


def bootstrap_fid(
    features1: np.ndarray,
    other: np.ndarray | Statistics,
    *,
    bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    method: str = "sqrtm",
) -> Interval:
    """FID of ``features1`` against ``other`` (features, resampled too, or fixed statistics) with its
    percentile bootstrap interval."""
    if isinstance(other, Statistics):
        return _bootstrap(
            lambda xs: frechet_distance(_stats(xs[0]), other, method), [features1], bootstrap, ci, seed
        )
    return _bootstrap(
        lambda xs: frechet_distance(_stats(xs[0]), _stats(xs[1]), method),
        [features1, other],
        bootstrap,
        ci,
        seed,
    )


def _kid_of_origins(f1, f2, o1, o2, subsets: int, size: int, seed: int) -> float:
    """torch-fidelity's KID (its seeded subsets, its kernel), where the within-set sums leave out every
    pair of rows drawn from the same original sample (not just the diagonal): a resample's duplicates
    would otherwise add k(x, x) terms and bias it upwards. Without duplicates it is torch-fidelity's."""
    rng = np.random.RandomState(seed)
    values = np.zeros(subsets)
    for i in range(subsets):
        a, b = rng.choice(len(f1), size, replace=False), rng.choice(len(f2), size, replace=False)
        x, y, ox, oy = f1[a], f2[b], o1[a], o2[b]
        pairs = [o[:, None] != o[None, :] for o in (ox, oy)]
        if min(p.sum() for p in pairs) == 0:  # every row one image's copy: no pair to compare (0 / 0)
            raise MetricError(
                f"KID's bootstrap interval: a resample's subset of {size} drew one image {size} times, which "
                "leaves KID no pair of images; use more images, or drop --ci"
            )
        within = [(_poly(z, z) * p).sum() / p.sum() for z, p in zip((x, y), pairs, strict=True)]
        values[i] = within[0] + within[1] - 2 * _poly(x, y).mean()
    return float(values.mean())


def bootstrap_kid(
    features1: np.ndarray,
    features2: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> Interval:
    """KID (torch-fidelity's mean over ``subsets`` of ``subset_size``) with its percentile bootstrap
    interval; pairs of a resample's duplicates are left out of its within-set sums (see
    :func:`_kid_of_origins`)."""
    _check_ci(ci)
    if bootstrap < 2:
        raise MetricError(f"bootstrap of {bootstrap} resamples: at least 2 are needed (1000 is usual)")
    size = min(subset_size, len(features1), len(features2))
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(bootstrap):
        o1, o2 = (
            rng.integers(0, len(features1), len(features1)),
            rng.integers(0, len(features2), len(features2)),
        )
        estimates.append(_kid_of_origins(features1[o1], features2[o2], o1, o2, subsets, size, SEED))
    value = kernel_inception_distance(features1, features2, subsets, size)[0]
    return _percentiles(value, np.array(estimates), ci)
