"""KID and Inception Score, computed as torch-fidelity computes them (``metric_kid.py``,
``metric_isc.py``): the same random subsets and splits for the same seed, the same arithmetic.

Both need every feature vector, not just sums: KID's features (N x dims, float32) are kept only when
KID is asked, the IS logits (N x 1008, float32) only when IS is asked.
"""

from __future__ import annotations

import numpy as np
import torch

SEED = 2020  # torch-fidelity's rng_seed


def _mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    m = k_xx.shape[0]
    kt_xx_sum = (k_xx.sum(axis=1) - np.diagonal(k_xx)).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - np.diagonal(k_yy)).sum()
    k_xy_sum = k_xy.sum(axis=0).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def _poly(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (np.matmul(x, y.T) * (1.0 / x.shape[1]) + 1) ** 3  # degree 3, gamma 1/dims, coef0 1


def kernel_inception_distance(
    f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = SEED
) -> tuple[float, float]:
    """(mean, std) over ``subsets`` random subsets of the unbiased MMD^2 with the cubic polynomial kernel."""
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = f1[rng.choice(len(f1), subset_size, replace=False)]
        b = f2[rng.choice(len(f2), subset_size, replace=False)]
        mmds[i] = _mmd2_unbiased(_poly(a, a), _poly(a, b), _poly(b, b))
    return float(np.mean(mmds)), float(np.std(mmds))


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = SEED) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(E KL(p(y|x) || p(y))), the samples shuffled first."""
    n = logits.shape[0]
    logits = logits[np.random.RandomState(seed).permutation(n), :].double()
    p, log_p = logits.softmax(dim=1), logits.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = slice(i * n // splits, (i + 1) * n // splits)
        q = p[part].mean(dim=0, keepdim=True)
        kl = (p[part] * (log_p[part] - q.log())).sum(dim=1).mean().exp().item()
        scores.append(kl)
    return float(np.mean(scores)), float(np.std(scores))


def kid_torchmetrics(
    f_fake: np.ndarray, f_real: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = SEED
) -> tuple[float, float]:
    """torchmetrics' ``KernelInceptionDistance.compute``: each subset a ``torch.randperm`` of the real
    features then one of the generated (a generator seeded with ``seed`` in place of torch's global
    one), the kernel in the features' float32, the std without Bessel's correction."""
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.as_tensor(f_real).float(), torch.as_tensor(f_fake).float()
    scores = []
    for _ in range(subsets):
        a = real[torch.randperm(len(real), generator=g)[:subset_size]]
        b = fake[torch.randperm(len(fake), generator=g)[:subset_size]]
        k_aa, k_bb, k_ab = ((x @ y.T * (1.0 / x.shape[1]) + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
        m = len(a)
        value = ((k_aa.sum(-1) - k_aa.diag()).sum() + (k_bb.sum(-1) - k_bb.diag()).sum()) / (m * (m - 1))
        scores.append(value - 2 * k_ab.sum(0).sum() / m**2)
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))


def inception_score_torchmetrics(
    logits: torch.Tensor, splits: int = 10, seed: int = SEED
) -> tuple[float, float]:
    """torchmetrics' ``InceptionScore.compute``: a ``torch.randperm`` shuffle (seeded generator), float32
    softmax, ``chunk(splits)`` (ceil-sized parts), the std with Bessel's correction."""
    x = logits.float()[torch.randperm(len(logits), generator=torch.Generator().manual_seed(seed))]
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    kl = [
        (pc * (lc - pc.mean(dim=0, keepdim=True).log())).sum(dim=1).mean().exp()
        for pc, lc in zip(p.chunk(splits), log_p.chunk(splits), strict=True)
    ]
    s = torch.stack(kl)
    return float(s.mean()), float(s.std())
