"""Inference: classify images (:func:`predict`) and extract features (:func:`extract_features`)
with any engine, over files, folders, PIL images or tensors."""

from .api import Pool, RunOptions, extract_features, predict
from .models import cached_tag, load_model, published_tags
from .pipeline import ImageInput, default_workers
from .results import Features, Guess, Prediction

__all__ = [
    "Features",
    "Guess",
    "ImageInput",
    "Pool",
    "Prediction",
    "RunOptions",
    "cached_tag",
    "default_workers",
    "extract_features",
    "load_model",
    "predict",
    "published_tags",
]
