"""The model to run: a name with its weights (a file or a published tag), or a cached published set."""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from ..model import InceptionNet
from ..registry import get_spec


def published_tags(name: str, variant: str | None = None) -> list[str]:
    """Tags of the published weight sets for ``name`` (in ``variant`` if given)."""
    from ..weights import list_weights

    return [ws.tag for ws in list_weights(name) if variant is None or ws.variant == variant]


def cached_tag(name: str, variant: str | None = None) -> str | None:
    """The first published weight set for ``name`` already in the download cache, if any."""
    from ..weights import get_weight_set
    from ..weights.hub import cached_path

    return next((t for t in published_tags(name, variant) if cached_path(get_weight_set(t)).is_file()), None)


def load_model(name: str | None, weights: str | Path | None, *, variant: str | None = None) -> InceptionNet:
    """A thin wrapper over :func:`inceptionkit.factory.create_model` for running a model, which refuses
    random weights: ``name`` with ``weights`` (a file or a published tag), and its own classifier.
    ``name`` may be None for an inceptionkit file, which says which model it holds. Without
    ``weights``, a published set already in the download cache is used; without one either, this
    refuses to go on."""
    from ..factory import create_model

    if name is not None:
        get_spec(name, variant)  # an unknown model or variant is the error to report, not missing weights
    if weights is None:
        weights = cached_tag(name, variant) if name else None
        if weights is None:
            tags = published_tags(name) if name else []
            offer = f"a published tag ({', '.join(tags)}) or " if tags else ""
            raise WeightsError(
                f"no weights for {name or 'the model'}, and none in the download cache: running it with "
                f"random weights would be meaningless; pass --weights (Python: weights=) {offer}a weight "
                "file (keras .h5, torchvision/timm state dict, inceptionkit .safetensors)"
            )
    return create_model(name, weights=weights, variant=variant)
