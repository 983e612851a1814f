"""inceptionkit: the Inception family of convolutional networks, written once as specs."""

from .bench import benchmark
from .calculator import conv_cost
from .engines import Engine, OnnxRunner, build_engine, ensure_onnx, export_onnx, quantize_int8
from .factory import create_model
from .fold import fold_batchnorm, optimize_for_inference
from .inference import RunOptions, extract_features, predict
from .model import InceptionNet
from .registry import default_variant, get_spec, list_models, list_variants
from .settings import RunSettings
from .summary import summarize
from .train import TrainConfig, TrainResult, benchmark_training, train

__all__ = [
    "InceptionNet",
    "conv_cost",
    "create_model",
    "default_variant",
    "extract_features",
    "get_spec",
    "list_models",
    "list_variants",
    "TrainConfig",
    "TrainResult",
    "benchmark_training",
    "train",
    "predict",
    "summarize",
    "Engine",
    "OnnxRunner",
    "RunOptions",
    "RunSettings",
    "build_engine",
    "benchmark",
    "ensure_onnx",
    "export_onnx",
    "fold_batchnorm",
    "optimize_for_inference",
    "quantize_int8",
]
__version__ = "0.1.0"
