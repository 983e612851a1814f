"""A model to ONNX and, optionally, its int8 copy compared with fp32: the whole ``export`` job, one call.

:func:`export_model` checks everything that can be refused (the calibration and comparison images)
before it writes anything, exports and verifies the fp32 file (:func:`~.export.export_onnx`), then
writes the int8 copy through the one int8 path (:func:`~.build.int8_file`, the one the int8
engines use) and compares it with fp32 on labelled images (:func:`~.int8.compare_int8`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model import InceptionNet
from .build import Calibration, int8_file
from .calibration import Skipped, image_batches, quantization_data
from .export import DEFAULT_OPSET, ExportReport, export_onnx
from .int8 import Agreement, CalibrationMethod, compare_int8
from .runtime import OnnxRunner


@dataclass(frozen=True)
class Int8Request:
    """What the int8 copy is to be: where, calibrated how and on what, compared on what.

    ``calibration``/``evaluation``: folders (None: see :func:`~.calibration.quantization_data`);
    ``checkpoint``: the file the model came from (a training run's data is found next to it)."""

    path: Path
    calibration: str | Path | None = None
    evaluation: str | Path | None = None
    method: CalibrationMethod = "minmax"
    samples: int = 100
    checkpoint: str | Path | None = None


@dataclass(frozen=True)
class Int8Report:
    """The int8 copy written: on how many images of what it was calibrated, and how it compares."""

    path: Path
    method: str
    calibration_images: int
    calibration_from: str
    evaluation_from: str
    agreement: Agreement
    skipped_calibration: Skipped
    skipped_comparison: Skipped


@dataclass(frozen=True)
class ModelExport:
    """What :func:`export_model` wrote: the verified fp32 file and, when asked for, the int8 copy."""

    fp32: ExportReport
    int8: Int8Report | None


def export_model(
    model: InceptionNet,
    path: str | Path,
    *,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    int8: Int8Request | None = None,
) -> ModelExport:
    """``model`` exported to ``path`` (verified against PyTorch) and, with ``int8``, its int8 copy."""
    data = None
    if int8 is not None:  # everything that can be refused is checked before anything is written
        data = quantization_data(
            model, int8.calibration, int8.evaluation, samples=int8.samples, checkpoint=int8.checkpoint
        )
    report = export_onnx(model, path, input_size=input_size, opset=opset, dynamic_batch=dynamic_batch)
    if int8 is None or data is None:
        return ModelExport(report, None)
    fp32 = OnnxRunner(path)
    batch = fp32.input_shape[0] or 16
    skipped, skipped_eval = Skipped(), Skipped()
    calibration = Calibration(
        lambda: (b.x for b in image_batches(data.calibration, fp32.preprocess, batch, skipped)),
        key=data.calibration_from,
        note=f" of {data.calibration_from}",
    )
    int8_file(Path(path), calibration, out=int8.path, method=int8.method)
    quantized = OnnxRunner(int8.path)
    agreement = compare_int8(
        fp32, quantized, image_batches(data.evaluation, fp32.preprocess, batch, skipped_eval)
    )
    return ModelExport(
        report,
        Int8Report(
            Path(int8.path),
            int8.method,
            int(quantized.metadata["calibration_images"]),
            data.calibration_from,
            data.evaluation_from,
            agreement,
            skipped,
            skipped_eval,
        ),
    )
