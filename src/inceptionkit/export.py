"""ONNX: export a model (verified against PyTorch), quantize it to int8, run it with ONNX Runtime.

An exported file carries what a loaded model carries in ``model.weight_meta``, as ONNX
``metadata_props`` (all strings): ``format`` = "inceptionkit", ``arch``, ``variant``, ``input_size``,
``in_chans``, ``num_classes``, ``preprocess`` (JSON of :class:`~inceptionkit.preprocess.Preprocess`),
``classes`` (a JSON list of names, "imagenet1k", or "null"), ``source`` (where the weights came from)
and, for a quantized file, ``quantization``. :class:`OnnxRunner` reads them back.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): on every
model of the family it gives the same numbers as the torch.export-based default (both well under
1e-6 relative) two to three times faster. The models' Python-side input check and TensorFlow-style
"same" padding are evaluated while tracing, at the export's input size, so only the batch dimension
can be dynamic; the check before ONNX Runtime runs (:meth:`OnnxRunner.check_input`) takes their place.
Every export is run in ONNX Runtime and compared with PyTorch before the file is put in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .data import Samples, limit, load_digits
from .errors import ExportError
from .fileio import atomic_write
from .images import ImageError, find_images, load_image
from .meta import MAGIC, ModelMeta, WeightMeta
from .model import InceptionNet
from .preprocess import Preprocess
from .weights.native import meta_from_metadata

DEFAULT_OPSET = 17
TOLERANCE = 1e-4  # max |onnx - torch| / max |torch| an export may differ by
CalibrationMethod = Literal["minmax", "entropy", "percentile"]
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile")


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
    from .predict import default_preprocess

    meta = getattr(model, "weight_meta", None)
    return meta or WeightMeta(default_preprocess(model.spec, model.in_chans), None, "random initialization")


def export_size(model: InceptionNet, input_size: int | None = None) -> int:
    """``input_size``, else the weights' preprocessing size, else the architecture's default."""
    return input_size or export_meta(model).preprocess.size


def _metadata(model: InceptionNet, meta: WeightMeta, size: int) -> dict[str, str]:
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
            _set_metadata(proto, _metadata(model, meta, size))
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


def _set_metadata(proto, metadata: dict[str, str]) -> None:
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


# -- running -----------------------------------------------------------------------------------------


def session_options(threads: int | None = None):
    """ONNX Runtime options for the fastest CPU inference: every graph optimization, sequential
    execution, ``threads`` intra-op threads (default: PyTorch's, which is the physical core count)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    return opts


class OnnxRunner:
    """An ONNX image classifier in ONNX Runtime, called like a model: ``logits = runner(x)``.

    ``x`` is a float NCHW batch (a torch tensor); the logits come back as a torch tensor. Files
    exported by inceptionkit say how to feed them: ``weight_meta`` (with ``preprocess`` and
    ``classes``), ``arch`` and ``variant``; for other files these are None. ``input_shape`` is the
    input's (N, C, H, W), None where the file leaves a dimension free. A file whose batch is fixed
    at ``b`` is run ``b`` images at a time.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises its own exception types for unreadable files
            raise ValueError(f"{path}: not a usable ONNX model ({str(e).splitlines()[0]})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4:
            found = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
            raise ValueError(
                f"{path}: not an image model (it takes {found}; an image model takes one 4-D float tensor)"
            )
        self.input_name = inputs[0].name
        self.input_shape: tuple[int | None, ...] = tuple(
            d if isinstance(d, int) and d > 0 else None for d in inputs[0].shape
        )
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        ours = self.metadata.get("format") == MAGIC
        self.weight_meta: WeightMeta | None = meta_from_metadata(self.metadata, path) if ours else None
        self.arch: str | None = self.metadata.get("arch") if ours else None
        self.variant: str | None = self.metadata.get("variant") if ours else None

    @property
    def preprocess(self) -> Preprocess | None:
        return self.weight_meta.preprocess if self.weight_meta else None

    @property
    def classes(self) -> list[str] | None:
        return self.weight_meta.classes if self.weight_meta else None

    def describe_input(self) -> str:
        return (
            "("
            + ", ".join(
                "N" if d is None and i == 0 else str(d or "?") for i, d in enumerate(self.input_shape)
            )
            + ")"
        )

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError, naming the expected shape, if ``x`` does not fit the file's input."""
        fits = x.dim() == 4 and all(
            want is None or got == want for got, want in zip(x.shape[1:], self.input_shape[1:], strict=True)
        )
        batch = self.input_shape[0]
        if fits and batch is not None and x.shape[0] % batch:
            raise ValueError(f"{self.path.name} runs batches of exactly {batch}; got {x.shape[0]} inputs")
        if not fits:
            raise ValueError(
                f"{self.path.name} takes input of shape {self.describe_input()}; got {tuple(x.shape)}"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        batch = self.input_shape[0] or x.shape[0]
        outs = [
            self.session.run(None, {self.input_name: part.detach().float().cpu().contiguous().numpy()})[0]
            for part in x.split(batch)
        ]
        return torch.from_numpy(np.concatenate(outs) if len(outs) > 1 else outs[0])


# -- cache -------------------------------------------------------------------------------------------


def weights_digest(model: InceptionNet, *extra: str) -> str:
    """A hash of the model's architecture, tensors and ``extra`` strings."""
    h = hashlib.blake2b(digest_size=16)
    for s in (model.spec.arch, model.spec.variant, str(model.in_chans), *extra):
        h.update(s.encode() + b"\0")
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def ensure_onnx(
    model: InceptionNet, cache_dir: str | Path | None = None, *, input_size: int | None = None
) -> Path:
    """The model exported to ONNX (dynamic batch), made once and reused: the file lives in
    ``cache_dir`` (default: inceptionkit's cache folder, ``onnx/``), named by architecture, variant,
    input size and a hash of the weights and metadata."""
    from .weights.hub import cache_dir as default_cache

    size = export_size(model, input_size)
    md = _metadata(model, export_meta(model), size)
    digest = weights_digest(model, json.dumps(md, sort_keys=True), torch.__version__, str(DEFAULT_OPSET))
    folder = Path(cache_dir) if cache_dir is not None else default_cache() / "onnx"
    path = folder / f"{model.spec.arch}-{model.spec.variant}-{size}-{digest[:16]}.onnx"
    if not path.is_file():
        export_onnx(model, path, input_size=size, dynamic_batch=True)
    return path


# -- int8 --------------------------------------------------------------------------------------------


UNLABELLED = -1  # the target of an image whose class is not known


@dataclass(frozen=True)
class Batch:
    """Preprocessed images and, when every one's class is known, their class indices."""

    x: torch.Tensor
    y: torch.Tensor | None = None


def folder_samples(folder: str | Path, classes: list[str] | None) -> Samples:
    """The images under ``folder`` (recursively), each labelled with the index in ``classes`` of the
    sub-folder it is in (ImageFolder layout), or :data:`UNLABELLED`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found = [s.path for s in find_images([folder]) if not s.error]
    if not found:
        raise ValueError(f"{folder}: no images in this folder (looked for .jpg, .png, ... in it and below)")
    index = {c: i for i, c in enumerate(classes or [])}
    parts = [Path(p).relative_to(folder).parts for p in found]
    return Samples(
        found, [index.get(q[0], UNLABELLED) if len(q) > 1 else UNLABELLED for q in parts], load_image
    )


def image_batches(samples: Samples, recipe: Preprocess, batch_size: int) -> Iterator[Batch]:
    """``samples`` preprocessed with ``recipe``, in batches; files that do not decode are skipped."""
    transform = recipe.transform()
    for start in range(0, len(samples), batch_size):
        xs, ys = [], []
        for i in range(start, min(start + batch_size, len(samples))):
            try:
                xs.append(transform(samples.load(i)))
            except ImageError:
                continue
            ys.append(samples.targets[i])
        if xs:
            yield Batch(torch.stack(xs), torch.tensor(ys) if min(ys) > UNLABELLED else None)


@dataclass
class QuantizationData:
    """What to calibrate an int8 model on and what to compare it with fp32 on."""

    calibration: Samples
    calibration_from: str  # where those images come from, for people
    evaluation: Samples
    evaluation_from: str

    @property
    def description(self) -> str:
        return (
            f"calibrated on {len(self.calibration)} images of {self.calibration_from}; "
            f"compared on {len(self.evaluation)} images of {self.evaluation_from}"
        )


def quantization_data(
    model: InceptionNet,
    calibration: str | Path | None,
    evaluation: str | Path | None = None,
    *,
    samples: int = 100,
) -> QuantizationData:
    """``samples`` random images of the ``calibration`` folder (for ``inception_small`` without one:
    of the built-in digits' training split), and the images to compare int8 with fp32 on: the
    ``evaluation`` folder, else the digits' held-out test split, else the calibration folder."""
    if samples < 1:
        raise ValueError(f"the calibration sample count must be at least 1; got {samples}")
    classes = export_meta(model).classes
    if calibration is not None:
        pool, pool_name = folder_samples(calibration, classes), str(calibration)
        held_out, held_name = pool, f"{calibration} (the calibration folder)"
    elif model.spec.arch == "inception_small":
        digits = load_digits()
        pool, pool_name = digits.train, "the built-in digits' training split"
        held_out, held_name = digits.test, "the built-in digits' held-out test split"
    else:
        raise ValueError(
            "int8 calibration needs a folder of images like those the model will see "
            "(--calibration DIR); only inception_small has a built-in one (the digits)"
        )
    if evaluation is not None:
        held_out, held_name = folder_samples(evaluation, classes), str(evaluation)
    return QuantizationData(limit(pool, samples), pool_name, held_out, held_name)


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
    ``quantization`` entry saying how (and on what, ``note``) it was calibrated.
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
        raise ValueError(f"unknown calibration method {method!r}; valid: {', '.join(CALIBRATION_METHODS)}")
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
                raise ValueError("no calibration images: nothing to calibrate the int8 ranges on")
            how = (
                f"int8 static QDQ, {'per-channel' if per_channel else 'per-tensor'} weights, "
                f"{method} calibration on {count} images{note}"
            )
            proto = onnx.load(tmp)
            _set_metadata(proto, {**fp32.metadata, "quantization": how})
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
        raise ValueError("no readable images to compare the int8 model on")
    return Agreement(
        n, same / n, right32 / labelled if labelled else None, right8 / labelled if labelled else None
    )
