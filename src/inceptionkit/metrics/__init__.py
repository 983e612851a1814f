"""FID, KID and Inception Score, computed exactly as pytorch-fid, torch-fidelity or clean-fid do.

``calculate_metrics(a, b, mode=..., kid=..., isc=...)`` takes folders (searched recursively, images of
any size), statistics files, tensors or iterators of batches (a training loop's generated samples);
``compute_statistics`` gives the mean and covariance to save (``save_statistics``) and compare later.
"""

from .api import (
    DEFAULT_WEIGHTS,
    MetricResult,
    Network,
    calculate_metrics,
    compute_reference,
    compute_statistics,
)
from .compare import Comparison, compare_modes
from .engine import METRIC_ENGINES, ExactNetwork
from .evaluation import save_reference
from .extras import Extras
from .network import DIMS, OUTPUTS, TAPS, FIDOutputs, load_fid_model
from .pipelines import MODES, PIPELINES
from .prdc import ManifoldScores, prdc
from .scores import inception_score, kernel_inception_distance
from .stateful import FrechetInceptionDistance
from .stats import Moments, Statistics, frechet_distance, load_statistics, save_statistics
from .uncertainty import Extrapolation, Interval, bootstrap_fid, bootstrap_kid, fid_infinity

__all__ = [
    "DEFAULT_WEIGHTS",
    "DIMS",
    "Extras",
    "Extrapolation",
    "Interval",
    "ManifoldScores",
    "MODES",
    "PIPELINES",
    "TAPS",
    "Comparison",
    "ExactNetwork",
    "FIDOutputs",
    "METRIC_ENGINES",
    "OUTPUTS",
    "FrechetInceptionDistance",
    "MetricResult",
    "Moments",
    "Network",
    "Statistics",
    "bootstrap_fid",
    "bootstrap_kid",
    "calculate_metrics",
    "compare_modes",
    "compute_reference",
    "compute_statistics",
    "fid_infinity",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "load_fid_model",
    "load_statistics",
    "prdc",
    "save_reference",
    "save_statistics",
]
