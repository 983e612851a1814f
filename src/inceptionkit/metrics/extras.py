"""The figures computed from the kept feature vectors, in every mode: precision, recall, density and
coverage (:mod:`.prdc`), FD∞ and bootstrap intervals for FID and KID (:mod:`.uncertainty`).

Input 1 is the reference (real images), input 2 the generated samples, as in ``fid real/ generated/``.
Each figure goes into the result under its own name (:data:`NAMES`), with the settings that reproduce it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InceptionKitWarning, MetricError
from .prdc import K_DC, K_PR, prdc
from .stats import Statistics
from .uncertainty import MIN_SIZE, POINTS, bootstrap_fid, bootstrap_kid, fid_infinity

NAMES = {
    "precision": "the fraction of generated images inside the real images' k-NN balls (k_pr)",
    "recall": "the fraction of real images inside the generated images' k-NN balls (k_pr)",
    "density": "mean number of real k-NN balls (k_dc) holding a generated image, divided by k_dc",
    "coverage": "the fraction of real k-NN balls (k_dc) holding at least one generated image",
    "frechet_inception_distance_infinity": "FD∞: the FID of infinitely many samples, extrapolated",
    "frechet_inception_distance_ci_low": "the FID's percentile bootstrap interval, low end",
    "frechet_inception_distance_ci_high": "the FID's percentile bootstrap interval, high end",
    "kernel_inception_distance_mean_ci_low": "KID's percentile bootstrap interval, low end",
    "kernel_inception_distance_mean_ci_high": "KID's percentile bootstrap interval, high end",
}


@dataclass(frozen=True)
class Extras:
    """Which of these figures to compute, and how. ``prdc_k``: (k for precision and recall, k for
    density and coverage), 3 and 5 as in their papers; ``ci``: the confidence level of the intervals
    (None: none), from ``bootstrap`` resamples drawn with ``seed``; FD∞'s interval is its fit's."""

    prdc: bool = False
    prdc_k: tuple[int, int] = (K_PR, K_DC)
    fid_infinity: bool = False
    fid_infinity_min_size: int = MIN_SIZE
    fid_infinity_points: int = POINTS
    ci: float | None = None
    bootstrap: int = 1000
    seed: int = 0

    @classmethod
    def of(cls, prdc_k: int | tuple[int, int] = (K_PR, K_DC), **fields: object) -> Extras:
        """``prdc_k`` as one k for all four (prdc's ``nearest_k``) or a pair."""
        k = (prdc_k, prdc_k) if isinstance(prdc_k, int) else tuple(prdc_k)
        if len(k) != 2 or min(k) < 1:
            raise MetricError(
                f"k-NN sizes {prdc_k}: give one k or (k for precision/recall, k for density/coverage)"
            )
        return cls(prdc_k=k, **fields)

    @property
    def needs_features(self) -> bool:
        return self.prdc or self.fid_infinity or self.ci is not None

    def check_inputs(self, real_has_images: bool, fake_has_images: bool, labels: tuple[str, str]) -> None:
        """Refuse, before any work, inputs that cannot give the figures asked (statistics files)."""
        needs = [
            (self.prdc and not real_has_images, labels[0], "precision, recall, density and coverage"),
            (self.prdc and not fake_has_images, labels[1], "precision, recall, density and coverage"),
            (self.fid_infinity and not fake_has_images, labels[1], "FD∞"),
            (self.ci is not None and not fake_has_images, labels[1], "a bootstrap interval"),
        ]
        for missing, label, what in needs:
            if missing:
                raise MetricError(f"{label}: {what} needs images (their features), not a statistics file")

    def check_counts(self, counts: dict[str, int]) -> None:
        """At least k + 1 images on each side for the k-NN figures (a point is its own 0-th neighbour),
        and FD∞'s smallest subset among the samples (the last of ``counts``)."""
        low = self.fid_infinity_min_size
        if self.fid_infinity and counts and (n := list(counts.values())[-1]) < low + 2:  # 3 sizes at least
            raise MetricError(
                f"{list(counts)[-1]}: {n} images; FD∞ fits a line to the FIDs of {self.fid_infinity_points} "
                f"subsets from {low} samples up, of 3 sizes at least ({low + 2} images); set a smaller "
                "smallest subset (--fid-infinity-min-size)"
            )
        if not self.prdc:
            return
        need = max(self.prdc_k) + 1
        for label, n in counts.items():
            if n < need:
                raise MetricError(
                    f"{label}: {n} images; precision/recall (k = {self.prdc_k[0]}) and density/coverage "
                    f"(k = {self.prdc_k[1]}) need at least {need}"
                )

    def compute(
        self,
        real: np.ndarray | None,
        fake: np.ndarray,
        reference: Statistics,
        *,
        method: str,
        kid: tuple[int, int] | None = None,
        device: str = "cpu",
    ) -> tuple[dict[str, float], dict]:
        """(metrics, settings) of generated features ``fake`` against ``real`` features (None: the
        reference is a statistics file) and ``reference`` statistics. ``kid``: (subsets, subset size) of
        the KID computed, for its interval."""
        metrics: dict[str, float] = {}
        settings: dict = {}
        if self.prdc:
            s = prdc(real, fake, k_pr=self.prdc_k[0], k_dc=self.prdc_k[1], device=device)
            metrics.update(precision=s.precision, recall=s.recall, density=s.density, coverage=s.coverage)
            settings["prdc"] = {"k_pr": s.k_pr, "k_dc": s.k_dc, "precision_recall_balls": "closed (<=)",
                                "density_coverage_balls": "open (<)", "distances": "float64"}  # fmt: skip
        if self.fid_infinity:
            fd = fid_infinity(fake, reference, min_size=self.fid_infinity_min_size,
                              points=self.fid_infinity_points, seed=self.seed, ci=self.ci or 0.95)  # fmt: skip
            metrics["frechet_inception_distance_infinity"] = fd.value
            metrics["frechet_inception_distance_infinity_ci_low"] = fd.interval.low
            metrics["frechet_inception_distance_infinity_ci_high"] = fd.interval.high
            settings["fid_infinity"] = {"sizes": list(fd.sizes), "fids": list(fd.fids), "slope": fd.slope,
                                        "seed": self.seed, "ci": fd.interval.ci}  # fmt: skip
        if self.ci is not None:
            other = real if real is not None else reference
            iv = bootstrap_fid(
                fake, other, bootstrap=self.bootstrap, ci=self.ci, seed=self.seed, method=method
            )
            metrics["frechet_inception_distance_ci_low"], metrics["frechet_inception_distance_ci_high"] = (
                iv.low, iv.high,
            )  # fmt: skip
            if kid is not None and real is not None:
                kv = bootstrap_kid(real, fake, subsets=kid[0], subset_size=kid[1], bootstrap=self.bootstrap,
                                   ci=self.ci, seed=self.seed)  # fmt: skip
                metrics["kernel_inception_distance_mean_ci_low"] = kv.low
                metrics["kernel_inception_distance_mean_ci_high"] = kv.high
            settings["interval"] = {"ci": self.ci, "bootstrap": self.bootstrap, "seed": self.seed,
                                    "method": "percentile bootstrap, every input resampled"}  # fmt: skip
        return metrics, settings


def caveats(metrics: dict[str, float], settings: dict) -> None:
    """One warning for each of these figures, in ``metrics`` with the FID and KID they go with, that
    means less than it seems: an FD∞ below zero (the line fitted to FID against 1 / N crosses zero
    before N is infinite: subsets too small for FID to be linear in 1 / N), and a bootstrap interval
    that leaves out its own point estimate (resampling repeats images, which moves FID and KID by
    more than their spread: the interval describes resampled sets, not an error bar on the figure)."""
    fd = metrics.get("frechet_inception_distance_infinity")
    if fd is not None and fd < 0:
        sizes = settings["fid_infinity"]["sizes"]
        warnings.warn(
            f"FD∞ is {fd:.4g}, below zero: FID is not linear in 1 / N over subsets of {sizes[0]} to "
            f"{sizes[-1]} images (score_infinity.py starts at 5000); the extrapolation means nothing here",
            InceptionKitWarning, stacklevel=3,
        )  # fmt: skip
    for name, key in (("FID", "frechet_inception_distance"), ("KID", "kernel_inception_distance_mean")):
        low, high, point = (metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high"), metrics.get(key))
        if low is not None and point is not None and not low <= point <= high:
            ci = settings["interval"]["ci"]
            warnings.warn(
                f"the {name} ({point:.7g}) lies outside its {ci:.0%} bootstrap interval ({low:.7g} to {high:.7g}): "
                f"resampling repeats images, which moves the {name} by more than its spread at this size; the "
                "interval is not an error bar on it",
                InceptionKitWarning, stacklevel=3,
            )  # fmt: skip
