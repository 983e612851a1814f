"""The published weight sets as the ``weights list`` command shows them: each with whether (and
where) it is in the download cache, as a JSON-ready record and with its preprocessing in words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..preprocess import Preprocess
from ..registry import get_spec
from ..weight_sets import WeightSet
from .hub import cached_path, list_weights


@dataclass(frozen=True)
class Listed:
    """A published weight set and its file in the download cache (None: not downloaded)."""

    weight_set: WeightSet
    cached: Path | None

    def as_dict(self) -> dict:
        ws = self.weight_set
        return {
            **asdict(ws),
            "arch": ws.arch,
            "preprocess": asdict(ws.preprocess),
            "cached": str(self.cached) if self.cached else None,
        }

    @property
    def checksum(self) -> str:
        return self.weight_set.checksum or "none published"

    @property
    def preprocessing(self) -> str:
        return describe_preprocess(self.weight_set.preprocess)


def listing(model: str | None = None) -> list[Listed]:
    """The published weight sets (of ``model`` only, when given: an unknown name is refused, not an
    empty list), each with its cached file."""
    if model is not None:
        get_spec(model)
    return [Listed(ws, p if (p := cached_path(ws)).is_file() else None) for ws in list_weights(model)]


def describe_preprocess(pre: Preprocess) -> str:
    """``pre`` in a few words: the size (or resize and crop), the interpolation, the scaling."""
    size = f"{pre.size}x{pre.size}" if pre.crop_pct is None else f"resize {pre.resize_size}, crop {pre.size}"
    scale = "to [-1, 1]" if pre.mean == pre.std == (0.5, 0.5, 0.5) else f"mean {pre.mean}, std {pre.std}"
    return f"{size}, {pre.interpolation}, {scale}"
