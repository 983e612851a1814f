"""Weights: inceptionkit's own format, plus (see the weights issue) keras, torchvision and timm files."""

from .native import WeightMeta, atomic_write, load_native, read_native_metadata, save_native

__all__ = ["WeightMeta", "atomic_write", "load_native", "read_native_metadata", "save_native",
           "create_with_weights"]


def create_with_weights(name, weights, **kwargs):
    """Build ``name`` and load ``weights`` (a file path or a published tag). Extended by the loaders."""
    md = read_native_metadata(weights)
    if md is None:
        raise ValueError(f"{weights}: unrecognised weight file")
    model = load_native(weights)
    if model.spec.arch != name:
        raise ValueError(f"{weights} holds {model.spec.arch}, not {name}")
    return model
