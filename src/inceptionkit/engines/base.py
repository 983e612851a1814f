"""One interface for every inference engine: a callable with a name, a precision and a hardware path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "int8"]
Run = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Engine:
    """``engine(x)`` runs a float NCHW batch and gives float32 outputs (logits or features) on the CPU
    or ``device``.

    ``name``: as given to ``--engine``; ``precision``: what the arithmetic really ran in
    (fp32, bf16 or int8); ``hardware``: the path it took (``oneDNN avx512_bf16``, OpenVINO's chosen
    inference precision, ...); ``peer``: a reference a user would otherwise pick (timm, ONNX Runtime
    or OpenVINO at their default settings), not one of inceptionkit's own engines.
    """

    name: str
    precision: Precision
    hardware: str
    run: Run = field(repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    peer: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def describe(self) -> str:
        return f"{self.name} ({self.precision}, {self.hardware})"


@dataclass(frozen=True)
class Task:
    """What an engine computes from a model: its logits, or features — the output of stage ``layer``
    (default: the last) pooled over space by ``pool`` (``avg``: the model's own global pooling,
    ``max``, or ``none``: the whole map)."""

    features: bool = False
    layer: str | None = None
    pool: str = "avg"

    @property
    def exportable(self) -> bool:
        """Whether an ONNX file can compute it: the logits, or the model's own pooled features (the
        output of the model without its classifier)."""
        return not self.features or (self.layer is None and self.pool == "avg")

    def forward(self, model: torch.nn.Module) -> Run:
        """``model``'s function for this task (``model`` an InceptionNet, or its folded copy)."""
        if not self.features:
            return model
        layer, pool = self.layer, self.pool

        def stage(x: torch.Tensor) -> torch.Tensor:
            fmap = model.forward_intermediates(x, [layer])[layer] if layer else model.forward_features(x)
            if pool == "avg":
                return model.forward_head(fmap, pre_logits=True)
            return fmap.amax(dim=(2, 3)) if pool == "max" else fmap

        return stage

    def exported_model(self, model):
        """The model whose ONNX export computes this task: ``model`` itself, or a headless copy."""
        if not self.features:
            return model
        import copy

        from ..meta import WeightMeta

        headless = copy.deepcopy(model)
        headless.reset_classifier(0)
        meta = model.weight_meta
        if meta is not None:  # features have no class names
            headless.weight_meta = WeightMeta(meta.preprocess, None, meta.source, meta.tag)
        return headless


LOGITS = Task()
