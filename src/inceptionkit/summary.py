"""Model summaries: keras' ``model.summary()`` table plus multiplications, derived from the spec.

Everything here comes from :func:`inceptionkit.cost.trace`; nothing runs the network. Totals follow
keras' convention: ``total_params`` counts everything a keras model holds (weights, biases and batch
norm's moving statistics), ``non_trainable_params`` the moving statistics (and frozen parameters when
a built model is summarized), ``layers`` what ``len(keras_model.layers)`` counts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .errors import UsageError
from .registry import get_spec
from .spec import Cat, NetSpec, Residual, pair

if TYPE_CHECKING:
    from .model import InceptionNet
from .trace import InputTooSmall, Row, min_input_size, trace

By = Literal["layer", "block"]

# Layers a block's type is not named after: they follow every convolution.
_FOLLOWERS = ("BatchNorm", "ReLU")


@dataclass
class Summary:
    """A model's layers (or blocks) with their shapes, parameters and multiplications, and totals."""

    model: str
    variant: str
    input_size: tuple[int, int]
    by: By
    rows: list[Row]  # layers, or blocks when ``by == "block"``
    layers: int
    parameters: int  # the sum of the ``nn.Parameter`` sizes
    total_params: int
    trainable_params: int
    macs: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def as_dict(self) -> dict:
        h, w = self.input_size
        return {
            "model": self.model,
            "variant": self.variant,
            "input_size": h if h == w else [h, w],
            "by": self.by,
            "layers": self.layers,
            "parameters": self.parameters,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "rows": [_row_dict(r, self.by) for r in self.rows],
        }

    def table(self) -> Table:
        """The rows as a rich table; shapes are written H×W×C, as in the papers."""
        h, w = self.input_size
        table = Table(
            title=f"{self.model} ({self.variant}) at {h}×{w}", title_justify="left", header_style="bold"
        )
        table.add_column("Block" if self.by == "block" else "Layer", overflow="fold")
        table.add_column("Type", overflow="fold")
        table.add_column("Output (H×W×C)", no_wrap=True)
        if self.by == "block":
            table.add_column("Layers", justify="right", no_wrap=True)
        table.add_column("Params", justify="right", no_wrap=True)
        if self.by == "block":
            table.add_column("Weights", justify="right", no_wrap=True)
        table.add_column("MACs", justify="right", no_wrap=True)
        for r in self.rows:
            counts = [r.layers, r.params, r.weights] if self.by == "block" else [r.params]
            table.add_row(
                r.name, r.type, format_shape(r.output_shape), *(f"{n:,}" for n in counts), f"{r.macs:,}"
            )
        return table

    def totals(self) -> Text:
        return Text(
            "\n".join(
                [
                    f"Layers: {self.layers:,}",
                    f"Total params: {self.total_params:,}",
                    f"Trainable params: {self.trainable_params:,}",
                    f"Non-trainable params: {self.non_trainable_params:,}",
                    f"MACs: {self.macs:,} ({self.macs / 1e9:.3f} G)",
                ]
            )
        )

    def __rich__(self) -> Group:
        return Group(self.table(), self.totals())


def format_shape(shape: tuple[int, int, int]) -> str:
    """A (C, H, W) shape as the papers write it: H×W×C."""
    c, h, w = shape
    return f"{h}×{w}×{c}"


def _row_dict(r: Row, by: By) -> dict:
    d = r.as_dict()
    if by == "block":
        d["layers"] = r.layers
    return d


def _is_built(model: object) -> bool:
    """Whether ``model`` is a built :class:`~inceptionkit.model.InceptionNet`: only where the module
    that defines it (and torch) is loaded already, so that a summary by name or spec imports no torch."""
    module = sys.modules.get("inceptionkit.model")
    return module is not None and isinstance(model, module.InceptionNet)


def summarize(
    model: str | NetSpec | InceptionNet,
    variant: str | None = None,
    input_size: int | tuple[int, int] | None = None,
    *,
    by: By = "layer",
    in_chans: int = 3,
    num_classes: int | None = None,
) -> Summary:
    """The summary of a model given by name (and variant), by spec, or as a built model.

    A built :class:`InceptionNet` is summarized with its own input channels, classes, auxiliary
    heads and dropout, and its frozen parameters (``requires_grad=False``) count as non-trainable in
    the totals (the rows stay the spec's).
    An input too small for the network raises :class:`~inceptionkit.cost.InputTooSmall` naming the
    layer where the spatial size reaches zero.
    """
    if by not in ("layer", "block"):
        raise UsageError(f"by must be 'layer' or 'block', not {by!r}")
    built = _is_built(model)
    if built:
        spec = model.spec
        options = dict(
            in_chans=model.in_chans,
            num_classes=model.num_classes,
            aux_logits=model.aux_logits,
            drop_rate=model.drop_rate,
        )
    else:
        spec = model if isinstance(model, NetSpec) else get_spec(model, variant)
        classes = spec.default_classes if num_classes is None else num_classes
        options = dict(in_chans=in_chans, num_classes=classes)
    size = pair(spec.default_size if input_size is None else input_size)
    try:
        rows = trace(spec, size, **options)
    except InputTooSmall as e:
        need = min_input_size(spec, bool(options.get("aux_logits")))
        if min(size) >= need:  # big enough, but the branches of a block disagree on their size
            raise
        raise InputTooSmall(
            f"{spec.arch} ({spec.variant}) needs an input of at least {need}×{need}; "
            f"at {size[0]}×{size[1]} {e}"
        ) from None
    trainable = parameters = sum(r.trainable for r in rows)
    if built:
        parameters = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Summary(
        model=spec.arch,
        variant=spec.variant,
        input_size=size,
        by=by,
        rows=by_block(rows, spec) if by == "block" else rows,
        layers=len(rows),
        parameters=parameters,
        total_params=sum(r.params for r in rows),
        trainable_params=trainable,
        macs=sum(r.macs for r in rows),
    )


def by_block(rows: list[Row], spec: NetSpec) -> list[Row]:
    """One row per block (``Row.block``, in order): costs summed, the block's last output shape."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.block, []).append(r)
    ops = dict(spec.features)
    return [
        Row(
            name,
            _block_type(ops.get(name), members),
            members[-1].output_shape,
            params=sum(r.params for r in members),
            trainable=sum(r.trainable for r in members),
            macs=sum(r.macs for r in members),
            weights=sum(r.weights for r in members),
            block=name,
            layers=len(members),
        )
        for name, members in groups.items()
    ]


def _block_type(op: object, members: list[Row]) -> str:
    if isinstance(op, Cat):
        return f"Cat({len(op.branches)} branches)"
    if isinstance(op, Residual):
        return "Residual" if op.scale is None else f"Residual(×{op.scale})"
    return " + ".join(r.type for r in members if r.type not in _FOLLOWERS)
