"""inceptionkit: the Inception family of convolutional networks, written once as specs."""

from .cost import conv_cost
from .model import InceptionNet
from .registry import create_model, default_variant, get_spec, list_models, list_variants
from .summary import summarize

__all__ = [
    "InceptionNet",
    "conv_cost",
    "create_model",
    "default_variant",
    "get_spec",
    "list_models",
    "list_variants",
    "summarize",
]
__version__ = "0.1.0"
