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

from ..errors import InceptionKitWarning, MetricError
from ..fileio import atomic_write
from .checks import checked_count, checked_moments, checked_text, interruptible, loaded_array
from .sqrtm import sqrtm_diagonal

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
        if not (torch.isfinite(mu).all() and torch.isfinite(sigma).all()):
            raise MetricError(
                f"{source or 'input'}: the network's features of these images are not finite (NaN or Inf): "
                "are its weights broken?"
            )
        return Statistics(mu.cpu().numpy(), sigma.cpu().numpy(), n, mode, source)


@dataclass
class Statistics:
    """Mean and covariance of one set of features, with how they were computed (None: not recorded)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int | None
    mode: str | None
    source: str = ""
    rank: int | None = None  # of sigma, where no count is recorded and it could be told (float64)

    @property
    def dims(self) -> int:
        return int(self.mu.shape[0])


def save_statistics(path: str | Path, stats: Statistics) -> None:
    """pytorch-fid's ``.npz`` layout plus our mode, dims and count keys, written atomically, once
    checked as a file read back would be (:func:`load_statistics`)."""
    checked_moments(str(path), ("mu", stats.mu), ("sigma", stats.sigma))

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
    """A statistics file (ours, pytorch-fid's or clean-fid's), checked against ``dims`` and ``mode``:
    every array is validated by name (:mod:`.checks`) before use."""
    try:
        with _open_npz(path) as f:
            keys = set(f.files)
            if not {"mu", "sigma"} <= keys:
                raise MetricError(f"{path}: not a statistics file (it has no 'mu' and 'sigma' arrays)")
            arrays = {
                k: loaded_array(f, k, path) for k in ("mu", "sigma", "inceptionkit_mode", "inceptionkit_count", "inceptionkit_dims")
                if k in keys
            }  # fmt: skip
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, MetricError):
            raise
        raise MetricError(f"{path}: not a readable .npz archive ({e})") from None
    mu, sigma = checked_moments(str(path), ("mu", arrays["mu"]), ("sigma", arrays["sigma"]))
    if "inceptionkit_dims" in arrays and checked_count(str(path), "inceptionkit_dims", arrays["inceptionkit_dims"]) != len(mu):
        raise MetricError(f"{path}: inceptionkit_dims is {int(arrays['inceptionkit_dims'])}, but mu has {len(mu)} values")
    own = (
        checked_text(str(path), "inceptionkit_mode", arrays["inceptionkit_mode"])
        if "inceptionkit_mode" in arrays
        else None
    )
    count = (
        checked_count(str(path), "inceptionkit_count", arrays["inceptionkit_count"])
        if "inceptionkit_count" in arrays
        else None
    )
    if mu.shape[0] != dims:
        raise MetricError(
            f"{path}: statistics of {mu.shape[0]} dims; this run computes {dims} (--dims {dims}): "
            f"pass --dims {mu.shape[0]} to compare with them"
        )
    if own and own != mode:
        raise MetricError(f"{path}: {mode_clash(own, mode)}")
    if not own:
        log.warning("%s: records no mode (a pytorch-fid or clean-fid file); taken to be %s", path, mode)
    rank = _rank(sigma) if not count and arrays["sigma"].dtype == np.float64 else None
    return Statistics(mu, sigma, count or None, own or mode, str(path), rank)


def _rank(sigma: np.ndarray) -> int:
    """The rank of a float64 covariance, for a file that records no count of images (pytorch-fid's,
    clean-fid's): n images give at most n - 1; eigenvalues within float rounding of zero (numpy's
    ``matrix_rank`` bound: dims x eps x the largest) count as zero. (A float32 file's rounding is too
    coarse to tell a small eigenvalue from zero: no rank is taken from it.)"""
    with interruptible():
        eig = np.linalg.eigvalsh(sigma)
    return int(np.count_nonzero(eig > max(eig[-1], 0.0) * len(eig) * np.finfo(np.float64).eps))


def _open_npz(path: str | Path) -> np.lib.npyio.NpzFile:
    with open(path, "rb") as f:
        magic = f.read(6)
    if not magic.startswith(b"PK") and magic != b"\x93NUMPY":  # neither a zip (.npz) nor a .npy array
        raise MetricError(f"{path}: not a statistics file (not an .npz archive of 'mu' and 'sigma')")
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy array (or a pickle refused above)
        raise MetricError(
            f"{path}: not a statistics file (one .npy array, not an .npz archive of 'mu' and 'sigma')"
        )
    return loaded


def mode_clash(own: str, mode: str) -> str:
    """Why statistics computed in mode ``own`` cannot meet a run in ``mode``, and what to pass."""
    return f"statistics computed in mode {own}; this run computes mode {mode} (--mode {mode}): pass --mode {own} to compare with them"


# a distance this far below zero, relative to ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b), is float rounding
# (FID of a set with itself through sqrtm: about -1e-7 of it measured); further below, it is wrong
ROUNDING = 1e-5


def frechet_distance(a: Statistics, b: Statistics, method: str = "sqrtm", eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)).

    ``sqrtm``: pytorch-fid's and clean-fid's way (``scipy.linalg.sqrtm``; where the square root is not
    finite, ``eps`` is added to both diagonals, with a warning). ``eigvals``: torch-fidelity's way
    (the trace of the square root as the sum of the square roots of the product's eigenvalues).
    Never NaN, infinite or negative: a value below zero by float rounding is 0; one further below, or
    not finite, is a :class:`MetricError` naming both inputs.
    """
    if a.dims != b.dims:
        raise MetricError(f"{a.source or 'input 1'} has {a.dims} dims, {b.source or 'input 2'} {b.dims}")
    diff = a.mu - b.mu
    with interruptible():
        product = a.sigma.dot(b.sigma)
        if method == "eigvals":
            tr_covmean = np.sum(np.sqrt(np.linalg.eigvals(product).astype("complex128")).real)
        else:
            tr_covmean = _trace_sqrtm(a.sigma, b.sigma, product, eps)
    scale = float(diff.dot(diff) + np.trace(a.sigma) + np.trace(b.sigma))
    return _checked_distance(
        scale - 2 * float(tr_covmean), scale, a.source or "input 1", b.source or "input 2"
    )


def _checked_distance(d: float, scale: float, a: str, b: str) -> float:
    if not np.isfinite(d):
        raise MetricError(
            f"the Fréchet distance of {a} and {b} is not finite ({d}): their statistics are broken"
        )
    if d < -ROUNDING * abs(scale):
        raise MetricError(
            f"the Fréchet distance of {a} and {b} came out negative ({d:.6g}), which no two covariances give: "
            "the square root of their product is inaccurate (too few images for these dims?)"
        )
    return max(d, 0.0)


def _trace_sqrtm(s1: np.ndarray, s2: np.ndarray, product: np.ndarray, eps: float) -> float:
    covmean = sqrtm_diagonal(product)  # only the diagonal of sqrtm(product) is read
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"the product of the covariances has no finite square root; {eps} added to their diagonals "
            "(as pytorch-fid does)",
            InceptionKitWarning,
            stacklevel=3,
        )
        offset = np.eye(s1.shape[0]) * eps
        covmean = sqrtm_diagonal((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(covmean.imag, 0, atol=1e-3):
            raise MetricError(
                f"the square root of the covariances' product has an imaginary part of "
                f"{np.max(np.abs(covmean.imag)):.3g} on its diagonal: too few images for these dims?"
            )
        covmean = covmean.real
    return float(np.sum(covmean))
