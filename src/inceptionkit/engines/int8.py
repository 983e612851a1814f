"""int8: a statically quantized copy of an ONNX file (QDQ, calibrated on real images), and how it
compares with its fp32 original."""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..choices import CALIBRATION_METHODS
from ..errors import DataError, UsageError
from ..fileio import atomic_write
from .calibration import Batch
from .export import set_metadata
from .runtime import OnnxRunner

CalibrationMethod = Literal["minmax", "entropy", "percentile"]


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration: Iterable[torch.Tensor],
    *,
    method: CalibrationMethod = "minmax",
    per_channel: bool = True,
    note: str = "",
) -> Path:
    """A statically quantized copy of the ONNX file ``fp32_path`` at ``out_path``.

    ONNX Runtime's static quantization in QDQ format: int8 weights (per output channel when
    ``per_channel``), uint8 activations (the fast u8s8 path of x86 VNNI), their ranges calibrated by
    ``method`` on the preprocessed ``calibration`` batches. The model is first pre-processed for
    quantization (shape inference and graph optimization). The metadata is kept, with a
    ``quantization`` entry saying how (and on what, ``note``) it was calibrated and a
    ``calibration_images`` entry: the number of images the ranges were calibrated on.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise UsageError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
    fp32 = OnnxRunner(fp32_path)
    count = 0

    def chunks() -> Iterator[torch.Tensor]:  # a file with a fixed batch size takes exactly that
        for x in calibration:
            fp32.check_input(x)
            yield from x.split(fp32.input_shape[0] or len(x))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = chunks()

        def get_next(self) -> dict[str, np.ndarray] | None:
            nonlocal count
            x = next(self.batches, None)
            if x is None:
                return None
            count += len(x)
            return {fp32.input_name: x.float().contiguous().numpy()}

    with tempfile.TemporaryDirectory(prefix="inceptionkit-int8-") as tmpdir:
        pre = Path(tmpdir) / "preprocessed.onnx"
        quant_pre_process(str(fp32_path), str(pre))

        def write(tmp: str) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ORT suggests pre-processing, which was done
                quantize_static(
                    str(pre),
                    tmp,
                    Reader(),
                    quant_format=QuantFormat.QDQ,
                    per_channel=per_channel,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=getattr(
                        CalibrationMethod,
                        {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}[method],
                    ),
                )
            if count == 0:
                raise DataError("no calibration images: nothing to calibrate the int8 ranges on")
            how = (
                f"int8 static QDQ, {'per-channel' if per_channel else 'per-tensor'} weights, "
                f"{method} calibration on {count} images{note}"
            )
            proto = onnx.load(tmp)
            set_metadata(proto, {**fp32.metadata, "quantization": how, "calibration_images": str(count)})
            onnx.save(proto, tmp)

        atomic_write(out_path, write)
    return Path(out_path)


@dataclass(frozen=True)
class Agreement:
    """How an int8 model compares with its fp32 original on the same images."""

    images: int
    top1_agreement: float  # fraction of images where both pick the same class
    fp32_accuracy: float | None  # on labelled images only
    int8_accuracy: float | None

    @property
    def accuracy_drop(self) -> float | None:
        """fp32 accuracy minus int8 accuracy, in percentage points."""
        if self.fp32_accuracy is None or self.int8_accuracy is None:
            return None
        return 100 * (self.fp32_accuracy - self.int8_accuracy)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "accuracy_drop_points": self.accuracy_drop}


def compare_int8(fp32: OnnxRunner, int8: OnnxRunner, batches: Iterable[Batch]) -> Agreement:
    """Top-1 agreement of ``int8`` with ``fp32`` and both accuracies (when the batches have labels)."""
    n = same = labelled = right32 = right8 = 0
    for b in batches:
        p32, p8 = fp32(b.x).argmax(1), int8(b.x).argmax(1)
        n += len(b.x)
        same += int((p32 == p8).sum())
        if b.y is not None:
            labelled += len(b.y)
            right32 += int((p32 == b.y).sum())
            right8 += int((p8 == b.y).sum())
    if n == 0:
        raise DataError("no readable images to compare the int8 model on")
    return Agreement(
        n, same / n, right32 / labelled if labelled else None, right8 / labelled if labelled else None
    )
