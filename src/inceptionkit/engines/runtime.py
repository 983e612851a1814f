"""ONNX Runtime: an ONNX image model called like a PyTorch one, ``logits = runner(x)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import EngineError, InputError
from ..meta import MAGIC, WeightMeta
from ..preprocess import Preprocess
from ..weights.native import meta_from_metadata


def session_options(threads: int | None = None, *, tuned: bool = True):
    """ONNX Runtime options for the fastest CPU inference: every graph optimization, sequential
    execution, ``threads`` intra-op threads (default: PyTorch's, which is the physical core count).
    ``tuned=False``: ONNX Runtime's own defaults, as a user who never heard of inceptionkit gets them."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not tuned:
        return opts
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

    def __init__(self, path: str | Path, threads: int | None = None, *, tuned: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{path}: no such ONNX file")
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads, tuned=tuned), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises its own exception types for unreadable files
            raise InputError(f"{path}: not a usable ONNX model ({str(e).splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4:
            found = ", ".join(f"{i.name}: {i.type} {i.shape}" for i in inputs)
            raise InputError(
                f"{path}: not an image model (it takes {found}; an image model takes one 4-D float tensor)"
            )
        if len(outputs) != 1 or outputs[0].type != "tensor(float)" or len(outputs[0].shape) != 2:
            found = ", ".join(f"{o.name}: {o.type} {o.shape}" for o in outputs)
            raise InputError(
                f"{path}: not an image classifier (it gives {found}; a classifier gives one float "
                "tensor of shape (N, classes))"
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
        """Raise :class:`InputError`, naming the expected shape, if ``x`` does not fit the file's input."""
        fits = x.dim() == 4 and all(
            want is None or got == want for got, want in zip(x.shape[1:], self.input_shape[1:], strict=True)
        )
        batch = self.input_shape[0]
        if fits and batch is not None and x.shape[0] % batch:
            raise InputError(f"{self.path.name} runs batches of exactly {batch}; got {x.shape[0]} inputs")
        if not fits:
            raise InputError(
                f"{self.path.name} takes input of shape {self.describe_input()}; got {tuple(x.shape)}"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        batch = self.input_shape[0] or x.shape[0]
        outs = [self._run(part.detach().float().cpu().contiguous().numpy()) for part in x.split(batch)]
        return torch.from_numpy(np.concatenate(outs) if len(outs) > 1 else outs[0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            (out,) = self.session.run(None, {self.input_name: x})
        except Exception as e:  # ORT's own exception types: a file that does not run on this input
            raise EngineError(f"{self.path.name}: ONNX Runtime failed ({str(e).splitlines()[0]})") from None
        if out.ndim != 2 or out.shape[0] != len(x):
            raise InputError(
                f"{self.path.name}: gave an output of shape {out.shape} for {len(x)} images; "
                "a classifier gives (N, classes)"
            )
        return out
