"""The names the command line offers as choices, defined here once and imported by the modules that
own them, so that building the parser (``--help``) needs no PyTorch: the engines, the FID modes and
feature taps, the training optimizers and schedules, the evaluation splits, and the export defaults
their help shows."""

from __future__ import annotations

ENGINES = (
    "torch",
    "torch-opt",
    "torch-bf16",
    "onnxruntime",
    "onnxruntime-int8",
    "openvino",
    "openvino-int8",
)
INT8_ENGINES = ("onnxruntime-int8", "openvino-int8")
METRIC_ENGINES = ("torch", "torch-opt", "onnxruntime", "openvino")  # the exact (fp32) ones: FID and the like

FID_MODES = (
    "pytorch-fid",
    "torch-fidelity",
    "clean",
    "torchmetrics",
    "torchmetrics-legacy",
    "clean-legacy-tensorflow",
    "clean-legacy-pytorch",
    "guided-diffusion",
)
FID_TAPS = {64: "pool_1", 192: "pool_2", 768: "mixed_6e", 2048: "mixed_7c"}  # dims -> the stage they come from

DEFAULT_OPSET = 17  # the ONNX opset an export writes
EXPORT_TOLERANCE = 1e-4  # max |onnx - torch| / max |torch| an export may differ by
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")  # how int8 ranges are calibrated

OPTIMIZERS = ("rmsprop", "sgd", "adamw")
SCHEDULES = ("cosine", "paper")
SPLITS = ("train", "val", "test")
