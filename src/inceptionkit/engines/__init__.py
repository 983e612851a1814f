"""Inference engines: ONNX export (verified), ONNX Runtime, OpenVINO, int8, PyTorch paths, ``auto``.

Every engine has one interface (:class:`Engine`: a callable with a name, the precision it runs in
and its hardware path), built by name with :func:`build_engine`:

- ``torch``: eager fp32, the reference; ``torch-opt``: batch norm folded, channels_last (fp32);
  ``torch-bf16``: ``torch-opt`` under CPU bfloat16 autocast (CPUs with avx512_bf16 or amx_bf16);
- ``onnxruntime``: the exported file (fp32); ``onnxruntime-int8``: its QDQ int8 copy, calibrated on
  real images (:mod:`.int8`, :mod:`.calibration`);
- ``openvino``: the exported file at OpenVINO's default precision (bf16 where the CPU has it);
  ``openvino-int8``: OpenVINO running the int8 file (``pip install 'inceptionkit[openvino]'``).

``auto`` (:mod:`.auto`) measures them on the first batches and picks the fastest within tolerance of fp32.
"""

from .base import LOGITS, Engine, Precision, Task
from .build import ENGINES, Calibration, build_engine, check_engine, runnable_engines, unavailable
from .cache import ensure_onnx, weights_digest
from .calibration import (
    Batch,
    QuantizationData,
    Skipped,
    folder_samples,
    image_batches,
    quantization_data,
    training_data,
)
from .export import (
    DEFAULT_OPSET,
    TOLERANCE,
    ExportReport,
    default_preprocess,
    export_meta,
    export_onnx,
    export_size,
    relative_difference,
    verify_onnx,
)
from .int8 import CALIBRATION_METHODS, Agreement, compare_int8, quantize_int8
from .model_export import Int8Report, Int8Request, ModelExport, export_model
from .runtime import OnnxRunner

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_OPSET",
    "ENGINES",
    "LOGITS",
    "TOLERANCE",
    "Agreement",
    "Batch",
    "Calibration",
    "Engine",
    "ExportReport",
    "Int8Report",
    "Int8Request",
    "ModelExport",
    "OnnxRunner",
    "Precision",
    "QuantizationData",
    "Skipped",
    "Task",
    "build_engine",
    "check_engine",
    "compare_int8",
    "default_preprocess",
    "ensure_onnx",
    "export_meta",
    "export_model",
    "export_onnx",
    "export_size",
    "folder_samples",
    "image_batches",
    "quantization_data",
    "quantize_int8",
    "relative_difference",
    "runnable_engines",
    "training_data",
    "unavailable",
    "verify_onnx",
    "weights_digest",
]
