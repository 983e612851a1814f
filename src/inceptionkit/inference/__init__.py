"""Inference: classify images (:func:`predict`) and extract features (:func:`extract_features`)
with any engine, over files, folders, PIL images or tensors."""

from ..settings import RunSettings, default_workers
from .api import Pool, RunOptions, extract_features, predict
from .models import cached_tag, load_model, published_tags
from .pipeline import ImageInput
from .results import Features, Guess, Prediction, Predictions

__all__ = [
    "Features",
    "Guess",
    "ImageInput",
    "Pool",
    "Prediction",
    "Predictions",
    "RunSettings",
    "RunOptions",
    "cached_tag",
    "default_workers",
    "extract_features",
    "load_model",
    "predict",
    "published_tags",
]
