"""ONNX export: a model to an ONNX file carrying its metadata, run in ONNX Runtime and compared
with PyTorch before the file is put in place.

An exported file carries what a loaded model carries in ``model.weight_meta``, as ONNX
``metadata_props`` (all strings): ``format`` = "inceptionkit", ``arch``, ``variant``, ``input_size``,
``in_chans``, ``num_classes``, ``preprocess`` (JSON of :class:`~inceptionkit.preprocess.Preprocess`),
``classes`` (a JSON list of names, "imagenet1k", or "null"), ``source`` (where the weights came from)
and, for a quantized file, ``quantization``. :class:`~inceptionkit.engines.runtime.OnnxRunner` reads
them back.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): on every
model of the family it gives the same numbers as the torch.export-based default (both well under
1e-6 relative) two to three times faster. The models' Python-side input check and TensorFlow-style
"same" padding are evaluated while tracing, at the export's input size, so only the batch dimension
can be dynamic; the check before ONNX Runtime runs (``OnnxRunner.check_input``) takes their place.
"""

from __future__ import annotations

import dataclasses
import io
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..choices import DEFAULT_OPSET, EXPORT_TOLERANCE
from ..errors import ExportError
from ..fileio import atomic_write
from ..meta import ModelMeta, WeightMeta
from ..model import InceptionNet
from ..preprocess import Preprocess
from ..spec import NetSpec

TOLERANCE = EXPORT_TOLERANCE


# -- export ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    path: Path
    input_shape: tuple[int | str, ...]  # ("batch", C, H, W) with a dynamic batch
    opset: int
    max_rel_diff: float  # max |onnx - torch| / max |torch| on a random input
    seconds: float


def export_meta(model: InceptionNet) -> WeightMeta:
    """``model.weight_meta``, or for a model without weights what a random one stands for."""
    meta = model.weight_meta
    return meta or WeightMeta(default_preprocess(model.spec, model.in_chans), None, "random initialization")


def default_preprocess(spec: NetSpec | None = None, channels: int = 3) -> Preprocess:
    """The recipe for weights that do not name one: the spec's default input size (299 without a
    spec), the rest :class:`Preprocess`'s defaults (Inception-v3's: crop 87.5%, bilinear, pixels
    scaled to [-1, 1])."""
    return Preprocess(size=spec.default_size if spec else Preprocess.size, channels=channels)


def export_size(model: InceptionNet, input_size: int | None = None) -> int:
    """``input_size``, else the weights' preprocessing size, else the architecture's default."""
    return input_size or export_meta(model).preprocess.size


def onnx_metadata(model: InceptionNet, meta: WeightMeta, size: int) -> dict[str, str]:
    onnx_meta = WeightMeta(
        dataclasses.replace(meta.preprocess, size=size),
        meta.classes,
        meta.source + (f" ({meta.tag})" if meta.tag else ""),
    )
    return ModelMeta.of(model, onnx_meta).to_metadata(input_size=size)


def export_onnx(
    model: InceptionNet,
    path: str | Path,
    *,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export ``model`` (in eval mode) to ``path`` as ONNX with inceptionkit's metadata.

    ``input_size``: the square input the file takes (default: the weights' preprocessing size, else
    the architecture's default). The file is first run in ONNX Runtime on random inputs; if its
    output differs from PyTorch's by more than ``tolerance`` (relative to the largest logit)
    :class:`ExportError` is raised and ``path`` is left as it was.
    """
    meta = export_meta(model)
    size = export_size(model, input_size)
    device = next(model.parameters()).device
    model.check_input(torch.empty(1, model.in_chans, size, size, device="meta"))
    example = torch.randn(2 if dynamic_batch else 1, model.in_chans, size, size, device=device)
    start = time.perf_counter()
    diff = 0.0

    def write(tmp: str) -> None:
        import onnx

        nonlocal diff
        was_training = model.training
        model.eval()
        try:
            proto = _trace_to_onnx(model, example, opset, dynamic_batch)
            set_metadata(proto, onnx_metadata(model, meta, size))
            onnx.save(proto, tmp)
            diff = verify_onnx(model, tmp, example.shape, tolerance=tolerance)
        finally:
            model.train(was_training)

    atomic_write(path, write)
    shape = ("batch" if dynamic_batch else 1, model.in_chans, size, size)
    return ExportReport(Path(path), shape, opset, diff, time.perf_counter() - start)


def _trace_to_onnx(model: torch.nn.Module, example: torch.Tensor, opset: int, dynamic_batch: bool):
    import onnx

    batch_axis = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns that the Python input check and the padding arithmetic become constants:
        # that is intended (see the module docstring). The exporter warns that it is the legacy one.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=batch_axis,
        )
    return onnx.load_from_string(buffer.getvalue())


def set_metadata(proto, metadata: dict[str, str]) -> None:
    import onnx

    old = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**old, **metadata})


def relative_difference(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|: the error relative to the output's scale."""
    got, want = got.detach().float(), want.detach().float()
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))


def verify_onnx(
    model: torch.nn.Module,
    path: str | Path,
    shape: torch.Size | tuple[int, ...],
    *,
    tolerance: float = TOLERANCE,
) -> float:
    """The relative difference between ``model`` and the ONNX file at ``path`` on a random input of
    ``shape`` (with one more image when the file's batch is dynamic, to exercise it); raises
    :class:`ExportError` if it is over ``tolerance``."""
    from .runtime import OnnxRunner

    runner = OnnxRunner(path)
    device = next(model.parameters()).device
    n = shape[0] + (runner.input_shape[0] is None)
    x = torch.randn(n, *shape[1:], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model.eval()(x.to(device)).cpu()
    diff = relative_difference(runner(x), want)
    if not diff <= tolerance:
        raise ExportError(
            f"the ONNX model differs from PyTorch by {diff:.2e} (relative), over the "
            f"tolerance of {tolerance:.0e}; nothing was written"
        )
    return diff
