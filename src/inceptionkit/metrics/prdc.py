"""k-nearest-neighbour metrics of two sets of features, computed in blocks: no N x N matrix is held.

- **Precision and recall** (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", k = 3): each set's manifold is the union of balls around its points,
  each ball's radius the distance to the point's k-th nearest neighbour in its own set. Precision: the
  fraction of generated points inside the real manifold; recall: of real points inside the generated
  one. A point on a ball's surface counts as inside (``<=``), as in the paper's code, torch-fidelity's
  ``metric_prc.py`` and guided-diffusion's evaluator; prdc counts it outside (``<``): ``closed=False``.
- **Density and coverage** (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models", k = 5, their ``prdc`` package): density is the mean number of real balls holding each
  generated point, divided by k; coverage the fraction of real balls holding at least one generated
  point. Strictly inside (``<``), as prdc.

The k-th neighbour of a point is counted with the point itself as the 0-th (prdc's
``get_kth_value(k + 1)``, torch-fidelity's ``kthvalue(k + 1)``). Squared distances are computed in
float64 (``|x|^2 + |y|^2 - 2 x.y``) and compared squared; prdc (float64 rounded to float32) and
torch-fidelity (float32) agree with them except where a distance and a radius agree to float32
rounding. Memory: the features (float64) and one block of rows x columns; the radii, flags and counts
are vectors. Time: three N x N x dims products (real-real, generated-generated, real-generated).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import MetricError

K_PR = 3  # Kynkäänniemi et al.'s neighbourhood
K_DC = 5  # Naeem et al.'s
ROWS, COLS = 4096, 8192  # a block: 4096 x 8192 float64 = 256 MiB


@dataclass(frozen=True)
class ManifoldScores:
    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_features(x, label: str, need: int, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != 2:
        raise MetricError(f"{label}: features must be (N, dims); got shape {tuple(t.shape)}")
    if t.shape[0] < need:
        raise MetricError(
            f"{label}: {t.shape[0]} feature vectors; the k-th neighbour (k = {need - 1}) needs at least {need}"
        )
    t = t.to(device, torch.float64)
    if not torch.isfinite(t).all():
        raise MetricError(f"{label}: features that are not finite (NaN or infinity)")
    return t


def _sq_dist(a: torch.Tensor, a2: torch.Tensor, b: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    return (a2[:, None] + b2[None, :] - 2 * (a @ b.T)).clamp_min_(0)


def kth_neighbour_sq(
    x: torch.Tensor, ks: tuple[int, ...], rows: int = ROWS, cols: int = COLS
) -> torch.Tensor:
    """(len(ks), N): each point's squared distance to its k-th nearest neighbour in ``x`` (itself the
    0-th), for each k, keeping only the k + 1 smallest distances of each row while columns stream."""
    top = max(ks) + 1
    x2 = (x * x).sum(1)
    out = torch.empty(len(ks), x.shape[0], dtype=x.dtype, device=x.device)
    for r in range(0, x.shape[0], rows):
        a, a2 = x[r : r + rows], x2[r : r + rows]
        best = torch.empty(len(a), 0, dtype=x.dtype, device=x.device)
        for c in range(0, x.shape[0], cols):
            block = _sq_dist(a, a2, x[c : c + cols], x2[c : c + cols])
            i = torch.arange(len(a), device=x.device)  # a point is its own 0-th neighbour, at exactly 0
            j = i + r - c
            ok = (j >= 0) & (j < block.shape[1])
            block[i[ok], j[ok]] = 0
            both = torch.cat([best, block], 1)
            best = both.topk(min(top, both.shape[1]), dim=1, largest=False).values
        out[:, r : r + rows] = best[:, list(ks)].T
    return out


def prdc(
    real,
    fake,
    *,
    k_pr: int = K_PR,
    k_dc: int = K_DC,
    closed: bool = True,
    device: str | torch.device = "cpu",
    rows: int = ROWS,
    cols: int = COLS,
) -> ManifoldScores:
    """Precision and recall (``k_pr``), density and coverage (``k_dc``) of generated features ``fake``
    against ``real`` (arrays or tensors (N, dims)). ``closed``: a point on a precision/recall ball's
    surface is inside (the paper's and torch-fidelity's rule; prdc's is False)."""
    dev = torch.device(device)
    r = _as_features(real, "real features", max(k_pr, k_dc) + 1, dev)
    f = _as_features(fake, "generated features", k_pr + 1, dev)
    if r.shape[1] != f.shape[1]:
        raise MetricError(f"real features have {r.shape[1]} dims, generated features {f.shape[1]}")
    real_pr, real_dc = kth_neighbour_sq(r, (k_pr, k_dc), rows, cols)
    (fake_pr,) = kth_neighbour_sq(f, (k_pr,), rows, cols)
    inside = torch.le if closed else torch.lt
    in_real = torch.zeros(len(f), dtype=torch.bool, device=dev)  # precision: generated in a real ball
    balls = torch.zeros(len(f), dtype=torch.float64, device=dev)  # density: real balls (k_dc) holding it
    in_fake = torch.zeros(len(r), dtype=torch.bool, device=dev)  # recall
    covered = torch.zeros(len(r), dtype=torch.bool, device=dev)  # coverage
    r2, f2 = (r * r).sum(1), (f * f).sum(1)
    for i in range(0, len(r), rows):
        a, a2 = r[i : i + rows], r2[i : i + rows]
        pr_i, dc_i = real_pr[i : i + rows, None], real_dc[i : i + rows, None]
        for j in range(0, len(f), cols):
            d = _sq_dist(a, a2, f[j : j + cols], f2[j : j + cols])
            in_dc = d < dc_i
            in_real[j : j + cols] |= inside(d, pr_i).any(0)
            balls[j : j + cols] += in_dc.sum(0)
            in_fake[i : i + rows] |= inside(d, fake_pr[None, j : j + cols]).any(1)
            covered[i : i + rows] |= in_dc.any(1)
    return ManifoldScores(
        precision=in_real.double().mean().item(),
        recall=in_fake.double().mean().item(),
        density=(balls.mean() / k_dc).item(),
        coverage=covered.double().mean().item(),
        k_pr=k_pr,
        k_dc=k_dc,
    )


def _over(d: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """``d / radius`` (both squared), where a zero radius (a duplicated point) holds only distance 0."""
    zero = torch.where(d > 0, torch.inf, 0.0).to(d.dtype)
    return torch.where(radius > 0, d / radius.clamp_min(torch.finfo(d.dtype).tiny), zero)


def ball_ratios(
    real,
    fake,
    *,
    k_pr: int = K_PR,
    k_dc: int = K_DC,
    device: str | torch.device = "cpu",
    rows: int = ROWS,
    cols: int = COLS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, how far outside the other set's balls it lies, as distance / radius (float64):

    - for each generated point, the smallest over real points of its distance to the real point over
      that point's ``k_pr``-th neighbour radius: at most 1 exactly when precision counts it inside the
      real manifold (closed balls); the inverse of Kynkäänniemi et al.'s realism score (without its
      pruning of the largest radii);
    - for each real point, the distance to its nearest generated point over its own ``k_dc``-th
      neighbour radius: below 1 exactly when coverage counts it covered.

    Up to the rounding of one division, ``(outside <= 1).mean()`` is ``prdc(...).precision`` and
    ``(uncovered < 1).mean()`` is its coverage; computed in the same blocks."""
    dev = torch.device(device)
    r = _as_features(real, "real features", max(k_pr, k_dc) + 1, dev)
    f = _as_features(fake, "generated features", 1, dev)
    if r.shape[1] != f.shape[1]:
        raise MetricError(f"real features have {r.shape[1]} dims, generated features {f.shape[1]}")
    real_pr, real_dc = kth_neighbour_sq(r, (k_pr, k_dc), rows, cols)
    outside = torch.full((len(f),), torch.inf, dtype=torch.float64, device=dev)
    nearest = torch.full((len(r),), torch.inf, dtype=torch.float64, device=dev)
    r2, f2 = (r * r).sum(1), (f * f).sum(1)
    for i in range(0, len(r), rows):
        a, a2, pr_i = r[i : i + rows], r2[i : i + rows], real_pr[i : i + rows, None]
        for j in range(0, len(f), cols):
            d = _sq_dist(a, a2, f[j : j + cols], f2[j : j + cols])
            outside[j : j + cols] = torch.minimum(outside[j : j + cols], _over(d, pr_i).amin(0))
            nearest[i : i + rows] = torch.minimum(nearest[i : i + rows], d.amin(1))
    return outside.sqrt().cpu().numpy(), _over(nearest, real_dc).sqrt().cpu().numpy()
