"""Names, variants and the one entry point that builds a model."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .model import InceptionNet
from .spec import NetSpec

# Each module in archs/ defines VARIANTS (variant name -> NetSpec) and DEFAULT_VARIANT.
ARCHS = (
    "googlenet",
    "bn_inception",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "xception",
    "inception_small",
)


def _module(name: str) -> ModuleType:
    if name not in ARCHS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(ARCHS)}")
    return importlib.import_module(f".archs.{name}", __package__)


def list_models() -> list[str]:
    """The names of every architecture in the family."""
    return list(ARCHS)


def list_variants(name: str) -> list[str]:
    return list(_module(name).VARIANTS)


def default_variant(name: str) -> str:
    return _module(name).DEFAULT_VARIANT


def get_spec(name: str, variant: str | None = None) -> NetSpec:
    """The spec of ``name`` in ``variant`` (the architecture's default variant if None)."""
    mod = _module(name)
    variant = variant or mod.DEFAULT_VARIANT
    if variant not in mod.VARIANTS:
        raise ValueError(f"{name} has no variant {variant!r}; valid variants: {', '.join(mod.VARIANTS)}")
    return mod.VARIANTS[variant]


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
    the classifier of the weights (1000 classes without weights); another count keeps the loaded
    backbone and a fresh classifier. ``in_chans=None`` means 3, or what an inceptionkit weight file
    was trained with. ``drop_rate=None`` keeps the variant's own dropout.
    """
    if weights is not None:
        from .weights import create_with_weights

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
        num_classes=1000 if num_classes is None else num_classes,
        in_chans=3 if in_chans is None else in_chans,
        aux_logits=aux_logits,
        drop_rate=drop_rate,
    )
