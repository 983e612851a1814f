"""inceptionkit: the Inception family of convolutional networks, written once as specs.

The names below are imported on first use (PEP 562), so ``import inceptionkit`` and the command
line's ``--help`` load neither PyTorch nor any runtime until something needs them.
"""

from __future__ import annotations

import sys
import types

from .lazy import lazy_exports

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "benchmark": "bench",
    "conv_cost": "calculator",
    "Engine": "engines",
    "OnnxRunner": "engines",
    "build_engine": "engines",
    "ensure_onnx": "engines",
    "export_onnx": "engines",
    "quantize_int8": "engines",
    "create_model": "factory",
    "fold_batchnorm": "fold",
    "optimize_for_inference": "fold",
    "RunOptions": "inference",
    "extract_features": "inference",
    "predict": "inference",
    "InceptionNet": "model",
    "default_variant": "registry",
    "get_spec": "registry",
    "list_models": "registry",
    "list_variants": "registry",
    "RunSettings": "settings",
    "summarize": "summary",
    "TrainConfig": "train",
    "TrainResult": "train",
    "benchmark_training": "train",
    "train": "train",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _Package(types.ModuleType):
    """``inceptionkit.train`` is the function, as it always was, not the ``train`` subpackage that
    importing it would otherwise put there (reach the subpackage through ``sys.modules`` or
    ``from inceptionkit.train import ...``)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

