"""``create_model``: a spec from the registry, plus weights if asked for."""

from __future__ import annotations

from pathlib import Path

from .model import InceptionNet
from .registry import get_spec
from .weights.load import create_with_weights


def create_model(
    name: str,
    *,
    variant: str | None = None,
    num_classes: int | None = None,
    aux_logits: bool = False,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    weights: str | Path | None = None,
) -> InceptionNet:
    """Build ``name`` (optionally a named ``variant``) and, if given, load ``weights``.

    ``weights`` is a file (keras .h5, torchvision/timm state dict, safetensors) or the tag of a
    published weight set (see :func:`inceptionkit.weights.list_weights`). ``num_classes=None`` means
    the classifier of the weights (without weights, the variant's: 1000 classes, 1008 for the FID network); another count keeps the loaded
    backbone and a fresh classifier. ``in_chans=None`` means 3, or what an inceptionkit weight file
    was trained with (another count adapts the first convolution, as timm's ``adapt_input_conv``).
    ``drop_rate=None`` keeps the variant's own dropout.
    """
    if weights is not None:
        return create_with_weights(
            name,
            weights,
            variant=variant,
            num_classes=num_classes,
            aux_logits=aux_logits,
            in_chans=in_chans,
            drop_rate=drop_rate,
        )
    spec = get_spec(name, variant)
    return InceptionNet(
        spec,
        num_classes=spec.default_classes if num_classes is None else num_classes,
        in_chans=3 if in_chans is None else in_chans,
        aux_logits=aux_logits,
        drop_rate=drop_rate,
    )
