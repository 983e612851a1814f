"""Weights: inceptionkit's own format, keras / torchvision / timm files, and published weight sets.

These are the loaders of the one model factory, :func:`inceptionkit.factory.create_model`:
``create_model(name, weights=PATH_or_TAG)`` goes through :func:`create_with_weights`,
``create_model(weights=INCEPTIONKIT_FILE)`` (no name: the file names its model) through
:func:`load_native`; use the factory. The CLI's ``convert`` and ``weights`` commands use the same functions.
"""

from .formats import WeightsError, detect_format
from .hub import (
    WeightSet,
    cache_dir,
    download,
    get_weight_set,
    list_weights,
    register_weight_set,
)
from .load import create_with_weights, load_pretrained
from .native import ModelMeta, WeightMeta, load_native, read_native_meta, read_native_metadata, save_native

__all__ = [
    "ModelMeta",
    "WeightMeta",
    "WeightSet",
    "WeightsError",
    "cache_dir",
    "create_with_weights",
    "detect_format",
    "download",
    "get_weight_set",
    "list_weights",
    "load_native",
    "load_pretrained",
    "read_native_meta",
    "read_native_metadata",
    "register_weight_set",
    "save_native",
]
