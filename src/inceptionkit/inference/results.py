"""What predict and extract_features give back: one result per image, in input order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..fileio import atomic_write


@dataclass(frozen=True)
class Guess:
    index: int
    label: str | None
    probability: float


@dataclass
class Prediction:
    """The result for one image: ``top`` guesses, most likely first, or the ``error`` that stopped it.

    ``path`` is None for images given in memory (PIL images, tensors).
    """

    path: str | None
    top: list[Guess] | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "top": [asdict(g) for g in self.top or []]}


class Predictions(list):
    """:func:`~inceptionkit.inference.predict`'s answers: a list of :class:`Prediction`, in input
    order, with ``engine``: the engine that ran (what ``auto`` chose; None when nothing was read)."""

    def __init__(self, items: Iterable[Prediction] = (), engine: str | None = None) -> None:
        super().__init__(items)
        self.engine = engine


@dataclass
class Features:
    """Feature vectors (or maps) of the readable images, in input order, and the images that failed."""

    paths: list[str | None]
    features: torch.Tensor  # (N, C) pooled, or (N, C, H, W) with pool="none"
    failed: list[tuple[str | None, str]]
    engine: str | None = None  # the engine that ran (what auto chose); None when nothing was read

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (atomically): ``features``, ``paths``, ``failed_paths``, ``failed_errors``."""
        import numpy as np

        def strings(xs: Iterable[str | None]) -> np.ndarray:
            return np.array([x or "" for x in xs], dtype=str)  # in-memory images have no path

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(
                    f,
                    features=self.features.numpy(),
                    paths=strings(self.paths),
                    failed_paths=strings(p for p, _ in self.failed),
                    failed_errors=strings(e for _, e in self.failed),
                )

        atomic_write(path, write)


NOT_FINITE = "the model's outputs for this image are not finite (NaN or Inf): its weights are broken"


def top_k(logits: torch.Tensor, k: int, classes: list[str] | None) -> list[list[Guess] | str]:
    """Per image: the ``k`` most likely classes, or :data:`NOT_FINITE` where the logits are not finite
    (a probability of NaN is no answer, and not valid JSON)."""
    logits = logits.detach().float().cpu()
    probs = torch.softmax(logits, dim=1)
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    finite = torch.isfinite(logits).all(dim=1) & torch.isfinite(probs).all(dim=1)
    return [
        [
            Guess(i, classes[i] if classes and i < len(classes) else None, p)
            for i, p in zip(row_i.tolist(), row_p.tolist(), strict=True)
        ]
        if ok
        else NOT_FINITE
        for row_i, row_p, ok in zip(indices, values, finite.tolist(), strict=True)
    ]
