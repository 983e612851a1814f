"""What a report of one :func:`~inceptionkit.metrics.calculate_metrics` result shows
(:class:`~.report_page.ReportData`): its metrics and settings, the FD∞ fit and the intervals when they
were computed, and, from the features kept with ``report=True``, the grids of both inputs and the
precision and recall failures."""

from __future__ import annotations

from ..errors import MetricError
from .api import MetricResult
from .prdc import K_DC, K_PR
from .report import manifold_failures
from .report_page import ReportData

INTERVALS = {"FID": "frechet_inception_distance", "KID": "kernel_inception_distance_mean"}


def report_data(result: MetricResult, *, worst: int = 16) -> ReportData:
    """``result`` as a report shows it; at most ``worst`` failures of each kind."""
    m, s = result.metrics, result.settings
    data = ReportData(metrics=dict(m), settings=dict(s), warnings=list(result.warnings))
    if "fid_infinity" in s and "frechet_inception_distance_infinity" in m:
        fit, key = s["fid_infinity"], "frechet_inception_distance_infinity"
        data.fid_curve = list(zip(fit["sizes"], fit["fids"], strict=True))
        data.fid_infinity = m[key]
        data.fid_line = (fit["slope"], m[key])
        data.fid_infinity_interval = (m[f"{key}_ci_low"], m[f"{key}_ci_high"])
    for key in INTERVALS.values():
        if f"{key}_ci_low" in m:
            data.intervals[key] = (m[key], m[f"{key}_ci_low"], m[f"{key}_ci_high"])
    a, b = result.kept or (None, None)
    data.a_images, data.b_images = (a.sources if a else []), (b.sources if b else [])
    for kept, label in ((a, "A"), (b, "B")):
        if kept is None or not kept.sources:
            data.warnings.append(f"{label}: no images to show (a statistics file, a tensor or an iterator)")
    if a is not None and b is not None and a.sources and b.sources:  # the failures are shown as images
        k = s.get("prdc", {})
        try:
            data.outside_manifold, data.uncovered = manifold_failures(
                a.features, b.features, count=worst, k_pr=k.get("k_pr", K_PR), k_dc=k.get("k_dc", K_DC)
            )
        except MetricError as e:  # too few images for the k-NN balls
            data.warnings.append(f"the precision and recall failures were not found: {e}")
    return data
