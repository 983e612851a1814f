"""Names -> specs, variants and published weight sets. Builds nothing and loads nothing.

Each module in ``archs/`` defines ``VARIANTS`` (variant name -> NetSpec), ``DEFAULT_VARIANT`` and
``WEIGHT_SETS`` (its published weight sets, :class:`~inceptionkit.weight_sets.WeightSet`). The factory
(:mod:`inceptionkit.factory`) turns a name and weights into a model, as timm's ``_builder`` does
with its ``_registry``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UsageError, WeightsError
from .spec import NetSpec
from .weight_sets import WeightSet

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
        raise UsageError(f"unknown model {name!r}; valid names: {', '.join(ARCHS)}")
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
        raise UsageError(f"{name} has no variant {variant!r}; valid variants: {', '.join(mod.VARIANTS)}")
    return mod.VARIANTS[variant]


# Every published weight set, by tag, in the order of ARCHS. A plain dict: register_weight_set adds
# mirrors and private sets (tests point tags at local files).
WEIGHT_SETS: dict[str, WeightSet] = {ws.tag: ws for arch in ARCHS for ws in _module(arch).WEIGHT_SETS}


def list_weights(arch: str | None = None) -> list[WeightSet]:
    """Every published weight set (of ``arch`` if given)."""
    return [ws for ws in WEIGHT_SETS.values() if arch is None or ws.arch == arch]


def get_weight_set(tag: str) -> WeightSet:
    if tag not in WEIGHT_SETS:
        raise WeightsError(
            f"{tag}: no published weights of that name (`inceptionkit weights list` shows them)"
        )
    return WEIGHT_SETS[tag]


def register_weight_set(ws: WeightSet) -> None:
    """Add or replace a weight set (a mirror, a private set; tests point URLs at local files)."""
    WEIGHT_SETS[ws.tag] = ws


def default_weight_set(arch: str, variant: str) -> WeightSet | None:
    """The first published set for ``arch`` in ``variant``: whose preprocessing a bare file gets."""
    return next((ws for ws in list_weights(arch) if ws.variant == variant), None)
