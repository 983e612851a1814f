"""The bottleneck calculator of the walk-through: one convolution, optionally behind a 1x1 reduction.

Shapes are written (H, W, C), as the seed and the papers write a feature map; the arithmetic is the
trace's (:mod:`inceptionkit.trace`), so a number here is the number a model's summary shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .spec import Conv, Pad, Style, pair
from .trace import Shape, Trace, trace_op

HWC = tuple[int, int, int]  # (H, W, C): how the seed and the papers write a feature map


@dataclass(frozen=True)
class ConvStage:
    """One convolution of :func:`conv_cost`, with shapes written (H, W, C)."""

    name: str
    op: Conv
    input_hwc: HWC
    output_hwc: HWC
    macs: int
    weights: int

    def as_dict(self) -> dict:
        kh, kw = pair(self.op.k)
        return {
            "name": self.name,
            "kernel": [kh, kw],
            "filters": self.op.out,
            "input": list(self.input_hwc),
            "output": list(self.output_hwc),
            "macs": self.macs,
            "weights": self.weights,
        }


@dataclass(frozen=True)
class ConvCost:
    """The stages of a convolution (a 1x1 ``reduce`` stage first, if any) and what they cost.

    ``direct_macs`` is the cost of the same convolution applied to the input without the reduction.
    """

    stages: tuple[ConvStage, ...]
    direct_macs: int

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.stages)

    @property
    def weights(self) -> int:
        return sum(s.weights for s in self.stages)

    @property
    def ratio(self) -> float:
        """How many times fewer multiplications than the direct convolution."""
        return self.direct_macs / self.macs

    def as_dict(self) -> dict:
        return {
            "input": list(self.stages[0].input_hwc),
            "output": list(self.stages[-1].output_hwc),
            "direct_macs": self.direct_macs,
            "stages": [s.as_dict() for s in self.stages],
            "macs": self.macs,
            "weights": self.weights,
            "ratio": self.ratio,
        }


def conv_cost(
    input_hwc: HWC,
    filters: int,
    kernel: int | tuple[int, int],
    *,
    stride: int | tuple[int, int] = 1,
    padding: Pad = "same",
    groups: int = 1,
    reduce: int | None = None,
) -> ConvCost:
    """Multiplications of a convolution on an (H, W, C) input, with the seed's formula.

    ``reduce=n`` puts a 1x1 convolution to ``n`` channels in front (the bottleneck):
    ``conv_cost((28, 28, 192), 32, 5, reduce=16)`` costs 12,443,648 multiplications where the
    direct 5x5 convolution costs 120,422,400.
    """
    h, w, c = input_hwc
    if min(h, w, c, filters) <= 0 or (reduce is not None and reduce <= 0):
        raise UsageError(f"sizes must be positive: input {h}x{w}x{c}, filters {filters}, reduce {reduce}")
    main = Conv(filters, kernel, stride, padding, act=False, norm=False, bias=False, groups=groups)
    direct = _trace_convs((("conv", main),), (c, h, w))
    if reduce is None:
        return ConvCost(direct, direct[0].macs)
    reduction = Conv(reduce, 1, act=False, norm=False, bias=False)
    return ConvCost(_trace_convs((("reduce", reduction), ("conv", main)), (c, h, w)), direct[0].macs)


def _trace_convs(convs: tuple[tuple[str, Conv], ...], shape: Shape) -> tuple[ConvStage, ...]:
    stages = []
    for name, op in convs:
        if shape[0] % op.groups or op.out % op.groups:
            raise UsageError(
                f"{name}: {shape[0]} input and {op.out} output channels "
                f"are not both divisible by groups={op.groups}"
            )
        t = Trace()
        out = trace_op(op, shape, Style(norm=None), name, t)
        (row,) = t.rows
        stages.append(ConvStage(name, op, _hwc(shape), _hwc(out), row.macs, row.weights))
        shape = out
    return tuple(stages)


def _hwc(shape: Shape) -> HWC:
    c, h, w = shape
    return h, w, c
