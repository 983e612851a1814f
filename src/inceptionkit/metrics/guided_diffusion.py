"""The numbers of guided-diffusion's ``evaluations/evaluator.py`` (Dhariwal & Nichol 2021), the table
diffusion papers report: Inception Score, FID, sFID, precision and recall, from the same activations.

The evaluator runs TensorFlow's 2015 Inception graph and takes two tensors per image:

- ``pool_3:0``: the 2048 pool features (our FID network's 2048 tap);
- ``mixed_6/conv:0``, first 7 channels: the ReLU output of the 1x1 branch of the graph's ``mixed_6``,
  which is Mixed_6d (the graph counts its 35x35 modules ``mixed``, ``mixed_1``, ``mixed_2`` = Mixed_5b-d,
  then ``mixed_3`` = Mixed_6a, ``mixed_4`` ... ``mixed_7`` = Mixed_6b-e). In inception_v3 'fid' that is
  ``features["mixed_6d"].branches[0]``: 17 x 17 x 192, of which channels 0-6 are kept and flattened
  in TensorFlow's (height, width, channel) order: 17 x 17 x 7 = 2,023 dims (the ``spatial`` output of :class:`~.network.FIDOutputs`).

Its arithmetic, reproduced here:

- statistics: ``np.mean`` (float32 for float32 activations) and ``np.cov``; a reference batch whose
  ``.npz`` holds ``mu`` / ``sigma`` (and ``mu_s`` / ``sigma_s``) is read, not recomputed;
- Fréchet distance: TTUR's (pytorch-fid's): ``sqrtm``, ``eps`` = 1e-6 added to both diagonals only
  where the square root is not finite, imaginary parts refused above 1e-3; sample first, reference second;
- IS: softmax of the pool features times the classifier's weight (no bias) in float32, consecutive
  splits of 5,000 (the last may be shorter), the mean of exp(E KL) over splits; no std, no shuffle;
- precision and recall (its ManifoldEstimator, after Kynkäänniemi et al.): k = 3, squared distances
  (no square root) in blocks of 10,000 rows x 10,000 columns, computed in float16 as
  ``max(|u|^2 - 2 u.v + |v|^2, 0)`` and cast to float32, or in float32 for a block where float16 gave
  a non-finite value; radii the k-th smallest (the point itself the 0-th); inside is ``<=``;
  ``clamp_to_percentile`` (None there) zeroes radii above that percentile. Each TensorFlow op rounds
  once: here each op's exact result (float64) is rounded to its dtype. (TensorFlow accumulates
  float16 matrix products in float32, which rounds alike except where float32 rounding crosses a
  float16 rounding boundary.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import MetricError
from .stats import Statistics, frechet_distance

SPLIT_SIZE = 5000
K, ROW_BATCH, COL_BATCH = 3, 10000, 10000


def statistics(activations: np.ndarray, source: str = "") -> Statistics:
    """The evaluator's ``compute_statistics``."""
    return Statistics(
        np.mean(activations, axis=0), np.cov(activations, rowvar=False), len(activations), None, source
    )


def fid(sample: Statistics, reference: Statistics) -> float:
    """The evaluator's ``sample_stats.frechet_distance(ref_stats)`` (FID, or sFID of spatial statistics)."""
    return frechet_distance(sample, reference, "sqrtm", eps=1e-6)


def softmax(pool: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """float32 softmax of ``pool @ weight`` (``weight``: (2048, 1008), the classifier's, transposed)."""
    logits = pool.astype(np.float32) @ weight.astype(np.float32)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def inception_score(pool: np.ndarray, weight: np.ndarray, split_size: int = SPLIT_SIZE) -> float:
    """The evaluator's ``compute_inception_score``."""
    preds = softmax(pool, weight)
    scores = []
    for i in range(0, len(preds), split_size):
        part = preds[i : i + split_size]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


def _round(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype)


def _sq_norms(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return _round(_round(u.double() ** 2, dtype).double().sum(1), dtype)


def _distances(u: torch.Tensor, v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``max(|u|^2 - 2 u.v + |v|^2, 0)``, each op rounded to ``dtype`` (u, v already in it)."""
    uv = _round(u.double() @ v.double().T, dtype)
    return torch.clamp_min(_sq_norms(u, dtype)[:, None] - 2 * uv + _sq_norms(v, dtype)[None, :], 0)


def distance_block(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The evaluator's DistanceBlock: float16 squared distances as float32, or float32 ones where a
    float16 value is not finite."""
    d16 = _distances(u.half(), v.half(), torch.float16)
    if torch.isfinite(d16).all():
        return d16.float()
    return _distances(u.float(), v.float(), torch.float32)


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def manifold_radii(
    features: np.ndarray,
    *,
    k: int = K,
    row_batch: int = ROW_BATCH,
    col_batch: int = COL_BATCH,
    clamp_to_percentile: float | None = None,
) -> np.ndarray:
    """(N,) float32: each point's squared distance to its k-th nearest neighbour (itself the 0-th)."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if len(x) < k + 1:
        raise MetricError(
            f"{len(x)} feature vectors; the evaluator's k-th neighbour (k = {k}) needs at least {k + 1}"
        )
    radii = np.empty(len(x), dtype=np.float32)
    for rows in _blocks(len(x), row_batch):
        row = torch.cat([distance_block(x[rows], x[cols]) for cols in _blocks(len(x), col_batch)], 1)
        radii[rows] = row.kthvalue(k + 1, dim=1).values.numpy()
    if clamp_to_percentile is not None:
        radii[radii > np.percentile(radii, clamp_to_percentile, axis=0)] = 0
    return radii


def precision_recall(
    reference: np.ndarray,
    sample: np.ndarray,
    *,
    k: int = K,
    row_batch: int = ROW_BATCH,
    col_batch: int = COL_BATCH,
    clamp_to_percentile: float | None = None,
) -> tuple[float, float]:
    """The evaluator's ``compute_prec_recall(ref, sample)``: (precision, recall)."""
    opts = dict(k=k, row_batch=row_batch, col_batch=col_batch, clamp_to_percentile=clamp_to_percentile)
    r1, r2 = manifold_radii(reference, **opts), manifold_radii(sample, **opts)
    x1 = torch.as_tensor(np.asarray(reference, dtype=np.float32))
    x2 = torch.as_tensor(np.asarray(sample, dtype=np.float32))
    t1, t2 = torch.from_numpy(r1), torch.from_numpy(r2)
    ref_in = torch.zeros(len(x1), dtype=torch.bool)  # reference points in the sample manifold: recall
    sample_in = torch.zeros(len(x2), dtype=torch.bool)  # sample points in the reference one: precision
    for rows in _blocks(len(x1), row_batch):
        for cols in _blocks(len(x2), col_batch):
            d = distance_block(x1[rows], x2[cols])
            ref_in[rows] |= (d <= t2[None, cols]).any(1)
            sample_in[cols] |= (d <= t1[rows, None]).any(0)
    return float(sample_in.double().mean()), float(ref_in.double().mean())


@dataclass
class Activations:
    """One batch's activations as the evaluator computes them, or a reference's saved statistics."""

    pool: np.ndarray | None  # (N, 2048) float32
    spatial: np.ndarray | None = None  # (N, 2023) float32
    stats: tuple[Statistics, Statistics] | None = None  # (pool, spatial) read from a reference .npz
    source: str = ""  # what messages call them

    def statistics(self) -> tuple[Statistics, Statistics]:
        if self.stats is not None:
            return self.stats
        if self.pool is None or self.spatial is None:
            raise MetricError("FID and sFID need pool and spatial activations, or saved statistics")
        return statistics(self.pool, self.source), statistics(self.spatial, self.source)


def evaluate(reference: Activations, sample: Activations, weight: np.ndarray) -> dict[str, float]:
    """The evaluator's table: IS of the sample, FID and sFID, precision and recall (these need the
    reference's pool activations even where its statistics are saved, as the evaluator's do)."""
    (ref_pool, ref_spatial), (pool, spatial) = reference.statistics(), sample.statistics()
    out = {"inception_score": inception_score(sample.pool, weight), "fid": fid(pool, ref_pool)}
    out["sfid"] = fid(spatial, ref_spatial)
    out["precision"], out["recall"] = precision_recall(reference.pool, sample.pool)
    return out
