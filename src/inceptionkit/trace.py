"""The shape and cost engine: shapes, parameters and multiplications from a spec, without running anything.

Every row is one layer in keras' sense (a convolution, a batch norm, an activation, a pooling, a
concatenation, ...), with its output shape, parameters and multiplications. Multiplications follow
the seed's formula: output H x W x C_out x (C_in / groups) x k_h x k_w for a convolution, in x out
for a fully connected layer; pooling, normalisation and additions are not multiplications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch

from .errors import InputError
from .spec import (
    LRN,
    Act,
    AdaptivePool,
    Cat,
    Conv,
    NetSpec,
    Op,
    Pool,
    Residual,
    SepConv,
    Style,
    pair,
    window_hw,
)

Shape = tuple[int, int, int]  # (C, H, W)


class InputTooSmall(InputError):
    """The input does not fit the network: a spatial size would reach zero."""


class ShapeMismatch(InputTooSmall):
    """The input is large enough, but the branches of a block disagree on their output size."""


@dataclass
class Row:
    name: str
    type: str
    output_shape: Shape
    params: int = 0  # everything a keras summary counts: weights, biases, BN's moving statistics
    trainable: int = 0
    macs: int = 0
    weights: int = 0  # kernel weights only (what the GoogLeNet paper's "params" column counts)
    block: str = ""
    layers: int = 1  # keras layers the row stands for (more than one for a block's row)

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable

    def as_dict(self) -> dict:
        """The row for JSON output; the shape is [H, W, C], as every command prints shapes."""
        c, h, w = self.output_shape
        return {
            "name": self.name,
            "type": self.type,
            "block": self.block,
            "output_shape": [h, w, c],
            "params": self.params,
            "trainable_params": self.trainable,
            "non_trainable_params": self.non_trainable,
            "weights": self.weights,
            "macs": self.macs,
        }


@dataclass
class Trace:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Shape:
        c, h, w = row.output_shape
        if h <= 0 or w <= 0:
            raise InputTooSmall(f"the spatial size reaches zero at layer {row.name} ({row.type})")
        self.rows.append(row)
        return row.output_shape


def _norm_rows(t: Trace, name: str, shape: Shape, style: Style) -> None:
    c = shape[0]
    if style.norm is None:
        return
    learned = 2 * c if style.norm == "bn" else c
    t.add(Row(f"{name}_bn", "BatchNorm", shape, learned + 2 * c, learned))


@singledispatch
def trace_op(op: Op, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    raise TypeError(f"no cost rule for {type(op).__name__}")


@trace_op.register
def _(op: Conv, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    c, h, w = shape
    (oh, ow), _ = window_hw((h, w), op.k, op.s, op.p, style.same)
    kh, kw = pair(op.k)
    weights = op.out * (c // op.groups) * kh * kw
    has_norm = op.norm and style.norm is not None
    bias = (not has_norm) if op.bias is None else op.bias
    params = weights + (op.out if bias else 0)
    return _unit_rows(
        t,
        name,
        f"Conv{kh}x{kw}/{pair(op.s)[0]}",
        (op.out, oh, ow),
        params,
        oh * ow * weights,
        weights,
        has_norm,
        op.act,
        style,
    )


@trace_op.register
def _(op: SepConv, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    c, h, w = shape
    (oh, ow), _ = window_hw((h, w), op.k, op.s, op.p, style.same)
    weights = c * op.k * op.k + c * op.out  # depthwise k x k, then pointwise 1x1
    return _unit_rows(
        t,
        name,
        f"SepConv{op.k}x{op.k}/{op.s}",
        (op.out, oh, ow),
        weights,
        oh * ow * weights,
        weights,
        op.norm,
        op.act,
        style,
    )


def _unit_rows(
    t: Trace,
    name: str,
    kind: str,
    out: Shape,
    params: int,
    macs: int,
    weights: int,
    norm: bool,
    act: bool,
    style: Style,
) -> Shape:
    """A conv unit's rows: the convolution, its batch norm (if any), its ReLU (if any)."""
    t.add(Row(name, kind, out, params=params, trainable=params, macs=macs, weights=weights))
    if norm:
        _norm_rows(t, name, out, style)
    if act:
        t.add(Row(f"{name}_relu", "ReLU", out))
    return out


@trace_op.register
def _(op: Pool, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    c, h, w = shape
    (oh, ow), _ = window_hw((h, w), op.k, op.s, op.p, style.same, op.ceil)
    kh, kw = pair(op.k)
    return t.add(Row(name, f"{op.kind.capitalize()}Pool{kh}x{kw}/{pair(op.s)[0]}", (c, oh, ow)))


@trace_op.register
def _(op: AdaptivePool, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    return t.add(Row(name, f"AdaptiveAvgPool{op.size}", (shape[0], op.size, op.size)))


@trace_op.register
def _(op: LRN, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    return t.add(Row(name, "LRN", shape))


@trace_op.register
def _(op: Act, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    return t.add(Row(name, "ReLU", shape))


def trace_branch(ops: tuple[Op, ...], shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    for i, op in enumerate(ops):
        shape = trace_op(op, shape, style, f"{name}.{i}" if len(ops) > 1 else name, t)
    return shape


@trace_op.register
def _(op: Cat, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    outs = [trace_branch(b, shape, style, f"{name}.b{i}", t) for i, b in enumerate(op.branches)]
    if len({o[1:] for o in outs}) != 1:
        raise ShapeMismatch(f"branches of {name} disagree on the output size: {outs}")
    if len(outs) == 1:  # a single branch is no concatenation
        return outs[0]
    return t.add(Row(name, "Concat", (sum(o[0] for o in outs), *outs[0][1:])))


@trace_op.register
def _(op: Residual, shape: Shape, style: Style, name: str, t: Trace) -> Shape:
    skip = trace_branch(op.shortcut, shape, style, f"{name}.shortcut", t) if op.shortcut else shape
    out = trace_branch(op.body, shape, style, f"{name}.body", t)
    if out != skip:
        raise ShapeMismatch(f"residual {name}: body gives {out}, shortcut {skip}")
    t.add(Row(name, "Add" if op.scale is None else f"ScaleAdd({op.scale})", out))
    if op.act:
        t.add(Row(f"{name}_relu", "ReLU", out))
    return out


def trace(
    spec: NetSpec,
    input_size: int | tuple[int, int] | None = None,
    *,
    in_chans: int = 3,
    num_classes: int = 1000,
    aux_logits: bool = False,
    drop_rate: float | None = None,
) -> list[Row]:
    """Every layer of ``spec`` at ``input_size``, in order, with its block (the top-level node)."""
    h, w = pair(input_size or spec.default_size)
    t = Trace()
    t.add(Row("input", "Input", (in_chans, h, w)))
    shape: Shape = (in_chans, h, w)
    taps = {a.after: a for a in spec.aux} if aux_logits else {}
    for name, op in spec.features:
        start = len(t.rows)
        shape = trace_op(op, shape, spec.style, name, t)
        _tag(t.rows[start:], name)
        if name in taps:
            _trace_aux(taps[name], shape, spec.style, num_classes, t)
    start = len(t.rows)
    t.add(Row("global_pool", "GlobalAvgPool", (shape[0], 1, 1)))
    rate = spec.drop_rate if drop_rate is None else drop_rate
    if rate and num_classes:
        t.add(Row("dropout", f"Dropout({rate})", (shape[0], 1, 1)))
    if num_classes:
        n = shape[0] * num_classes
        t.add(Row("fc", "Linear", (num_classes, 1, 1), n + num_classes, n + num_classes, n, n))
    _tag(t.rows[start:], "head")
    t.rows[0].block = "input"
    return t.rows


def _trace_aux(aux, shape: Shape, style: Style, num_classes: int, t: Trace) -> None:
    start = len(t.rows)
    shape = trace_branch(aux.ops, shape, style, aux.name, t)
    n = shape[0] * shape[1] * shape[2]
    for i, width in enumerate((*aux.hidden, num_classes)):
        t.add(
            Row(
                f"{aux.name}.fc{i + 1}",
                "Linear",
                (width, 1, 1),
                n * width + width,
                n * width + width,
                n * width,
                n * width,
            )
        )
        n = width
    _tag(t.rows[start:], aux.name)


def _tag(rows: list[Row], block: str) -> None:
    for r in rows:
        r.block = block


def output_shapes(spec: NetSpec, input_size: int | tuple[int, int], in_chans: int = 3) -> dict[str, Shape]:
    """The output shape of every top-level node."""
    rows = trace(spec, input_size, in_chans=in_chans, num_classes=0)
    out: dict[str, Shape] = {}
    for r in rows:
        out[r.block] = r.output_shape
    return out


def min_input_size(spec: NetSpec, aux_logits: bool = False) -> int:
    """The smallest square input for which no layer's output reaches zero."""

    def fits(n: int) -> bool:
        try:
            trace(spec, n, num_classes=1, aux_logits=aux_logits)
            return True
        except InputTooSmall:
            return False

    lo, hi = 1, 4096
    if not fits(hi):
        raise InputError(f"{spec.arch}: no input size up to {hi} fits")
    while lo < hi:  # every output size is non-decreasing in the input size, so fitting is monotone
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return lo
