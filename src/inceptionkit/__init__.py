"""inceptionkit: the Inception family of convolutional networks, written once as specs."""

from .model import InceptionNet
from .registry import create_model, default_variant, get_spec, list_models, list_variants

__all__ = [
    "InceptionNet",
    "create_model",
    "default_variant",
    "get_spec",
    "list_models",
    "list_variants",
]
__version__ = "0.1.0"
