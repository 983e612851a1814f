"""Statistics of features, accumulated as images stream through, and the Fréchet distance between two.

:class:`Moments` keeps, in float64, the count, the sum and the sum of outer products of the features:
memory independent of the number of images (no N x dims array), and sums add up across processes.
The mean and covariance follow (the covariance with N - 1, as ``np.cov``).

Statistics files are pytorch-fid's ``.npz`` layout (``mu``, ``sigma``); inceptionkit adds
``inceptionkit_mode``, ``inceptionkit_dims`` and ``inceptionkit_count`` so that statistics computed
under one mode are not compared with another's. pytorch-fid's and clean-fid's files (``mu`` and
``sigma`` only) are read too; they are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MetricError
from ..fileio import atomic_write

log = logging.getLogger("inceptionkit.metrics")


class Moments:
    """Running count, sum and sum of outer products of feature vectors, in float64."""

    def __init__(self, dims: int, device: torch.device | str = "cpu") -> None:
        self.count = 0
        self.sum = torch.zeros(dims, dtype=torch.float64, device=device)
        self.outer = torch.zeros(dims, dims, dtype=torch.float64, device=device)

    def add(self, features: torch.Tensor) -> None:
        f = features.to(self.sum.device, torch.float64)
        self.count += f.shape[0]
        self.sum += f.sum(0)
        self.outer.addmm_(f.T, f)

    def statistics(self, mode: str | None, source: str = "") -> Statistics:
        n = self.count
        mu = self.sum / n
        sigma = (self.outer - n * torch.outer(mu, mu)) / (n - 1)
        return Statistics(mu.cpu().numpy(), sigma.cpu().numpy(), n, mode, source)


@dataclass
class Statistics:
    """Mean and covariance of one set of features, with how they were computed (None: not recorded)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int | None
    mode: str | None
    source: str = ""

    @property
    def dims(self) -> int:
        return int(self.mu.shape[0])


def save_statistics(path: str | Path, stats: Statistics) -> None:
    """pytorch-fid's ``.npz`` layout plus our mode, dims and count keys, written atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                mu=stats.mu,
                sigma=stats.sigma,
                inceptionkit_mode=np.array(stats.mode or ""),
                inceptionkit_dims=np.array(stats.dims),
                inceptionkit_count=np.array(stats.count or 0),
            )

    atomic_write(Path(path), write)


def load_statistics(path: str | Path, *, dims: int, mode: str) -> Statistics:
    """A statistics file (ours, pytorch-fid's or clean-fid's), checked against ``dims`` and ``mode``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"mu", "sigma"} <= keys:
                raise MetricError(f"{path}: not a statistics file (it has no 'mu' and 'sigma' arrays)")
            mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
            own = str(f["inceptionkit_mode"]) if "inceptionkit_mode" in keys else None
            count = int(f["inceptionkit_count"]) if "inceptionkit_count" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, MetricError):
            raise
        raise MetricError(f"{path}: cannot read statistics: {e}") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise MetricError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not make a statistics file")
    if mu.shape[0] != dims:
        raise MetricError(f"{path}: statistics of {mu.shape[0]} dims, but --dims {dims} was asked")
    if own and own != mode:
        raise MetricError(f"{path}: statistics computed in mode {own}, but --mode {mode} was asked")
    if not own:
        log.warning("%s: records no mode (a pytorch-fid or clean-fid file); taken to be %s", path, mode)
    return Statistics(mu, sigma, count or None, own or mode, str(path))


def frechet_distance(a: Statistics, b: Statistics, method: str = "sqrtm", eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)).

    ``sqrtm``: pytorch-fid's and clean-fid's way (``scipy.linalg.sqrtm``; where the square root is not
    finite, ``eps`` is added to both diagonals, with a warning). ``eigvals``: torch-fidelity's way
    (the trace of the square root as the sum of the square roots of the product's eigenvalues).
    """
    if a.dims != b.dims:
        raise MetricError(f"{a.source or 'input 1'} has {a.dims} dims, {b.source or 'input 2'} {b.dims}")
    diff = a.mu - b.mu
    product = a.sigma.dot(b.sigma)
    if method == "eigvals":
        tr_covmean = np.sum(np.sqrt(np.linalg.eigvals(product).astype("complex128")).real)
    else:
        tr_covmean = _trace_sqrtm(a.sigma, b.sigma, product, eps)
    return float(diff.dot(diff) + np.trace(a.sigma) + np.trace(b.sigma) - 2 * tr_covmean)


def _sqrtm(m: np.ndarray) -> np.ndarray:
    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's "singular matrix" notes: checked below, as pytorch-fid does
        return linalg.sqrtm(m)


def _trace_sqrtm(s1: np.ndarray, s2: np.ndarray, product: np.ndarray, eps: float) -> float:
    covmean = _sqrtm(product)
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"the product of the covariances has no finite square root; {eps} added to their diagonals "
            "(as pytorch-fid does)",
            stacklevel=3,
        )
        offset = np.eye(s1.shape[0]) * eps
        covmean = _sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise MetricError(
                f"the square root of the covariances' product has an imaginary part of "
                f"{np.max(np.abs(covmean.imag)):.3g}: too few images for these dims?"
            )
        covmean = covmean.real
    return float(np.trace(covmean))
