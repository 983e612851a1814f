"""Spec -> ``nn.Module``. One builder serves every architecture of the family."""

from __future__ import annotations

from collections import OrderedDict
from functools import singledispatch

import torch
from torch import nn

from .layers import (
    AvgPool2d,
    BatchNorm2dNoScale,
    Concat,
    ConvUnit,
    MaxPool2d,
    ScaledResidual,
    SeparableConv2d,
    TFSameAvgPool,
    TFSamePad,
)
from .spec import (
    LRN,
    Act,
    AdaptivePool,
    Aux,
    Cat,
    Conv,
    NetSpec,
    Op,
    Pool,
    Residual,
    SepConv,
    Style,
    pair,
)


def _padding(p, k, s, style: Style) -> tuple[tuple[int, int] | None, bool]:
    """Static symmetric padding for ``nn.Conv2d``/pooling, or (None, True) for TF's dynamic one."""
    kh, kw = pair(k)
    sh, sw = pair(s)
    if p == "valid":
        return (0, 0), False
    if p == "same":
        if style.same == "tf" and (sh > 1 or sw > 1):
            return None, True
        return ((kh - 1) // 2 if sh == 1 else kh // 2, (kw - 1) // 2 if sw == 1 else kw // 2), False
    return pair(p), False


def _norm(c: int, style: Style) -> nn.Module | None:
    if style.norm == "bn":
        return nn.BatchNorm2d(c, eps=style.eps, momentum=style.momentum)
    if style.norm == "bn_noscale":
        return BatchNorm2dNoScale(c, eps=style.eps, momentum=style.momentum)
    return None


@singledispatch
def build_op(op: Op, c_in: int, style: Style) -> tuple[nn.Module, int]:
    """(module, output channels) of one op."""
    raise TypeError(f"no builder for {type(op).__name__}")


@build_op.register
def _(op: Conv, c_in: int, style: Style) -> tuple[nn.Module, int]:
    norm = _norm(op.out, style) if op.norm else None
    bias = (norm is None) if op.bias is None else op.bias
    padding, dynamic = _padding(op.p, op.k, op.s, style)
    conv = nn.Conv2d(c_in, op.out, pair(op.k), pair(op.s), padding or 0, groups=op.groups, bias=bias)
    pad = TFSamePad(pair(op.k), pair(op.s)) if dynamic else None
    return ConvUnit(conv, norm, op.act, pad), op.out


@build_op.register
def _(op: SepConv, c_in: int, style: Style) -> tuple[nn.Module, int]:
    padding, dynamic = _padding(op.p, op.k, op.s, style)
    dw = nn.Conv2d(c_in, c_in, op.k, op.s, padding or 0, groups=c_in, bias=False)
    pw = nn.Conv2d(c_in, op.out, 1, bias=False)
    sep = SeparableConv2d(dw, pw, TFSamePad(pair(op.k), pair(op.s)) if dynamic else None)
    norm = _norm(op.out, style) if op.norm else None
    parts = [m for m in (sep, norm, nn.ReLU(inplace=True) if op.act else None) if m is not None]
    return (nn.Sequential(*parts) if len(parts) > 1 else sep), op.out


@build_op.register
def _(op: Pool, c_in: int, style: Style) -> tuple[nn.Module, int]:
    k, s = pair(op.k), pair(op.s)
    padding, dynamic = _padding(op.p, k, s, style)
    include_pad = style.avg_include_pad if op.include_pad is None else op.include_pad
    if op.kind == "max":
        if dynamic:
            return nn.Sequential(TFSamePad(k, s, float("-inf")), MaxPool2d(k, s)), c_in
        return MaxPool2d(k, s, padding, ceil_mode=op.ceil), c_in
    if dynamic:
        return TFSameAvgPool(k, s, include_pad), c_in
    return AvgPool2d(k, s, padding, ceil_mode=op.ceil, count_include_pad=include_pad), c_in


@build_op.register
def _(op: AdaptivePool, c_in: int, style: Style) -> tuple[nn.Module, int]:
    return nn.AdaptiveAvgPool2d(op.size), c_in


@build_op.register
def _(op: LRN, c_in: int, style: Style) -> tuple[nn.Module, int]:
    return nn.LocalResponseNorm(op.size, op.alpha, op.beta, op.k), c_in


@build_op.register
def _(op: Act, c_in: int, style: Style) -> tuple[nn.Module, int]:
    # Not in place: the input may also feed a shortcut or a sibling branch.
    return nn.ReLU(inplace=False), c_in


def build_branch(ops: tuple[Op, ...], c_in: int, style: Style) -> tuple[nn.Module, int]:
    """A chain of ops as ``nn.Sequential`` (the single module itself when there is one)."""
    mods = []
    for op in ops:
        m, c_in = build_op(op, c_in, style)
        mods.append(m)
    return (mods[0] if len(mods) == 1 else nn.Sequential(*mods)), c_in


@build_op.register
def _(op: Cat, c_in: int, style: Style) -> tuple[nn.Module, int]:
    built = [build_branch(b, c_in, style) for b in op.branches]
    return Concat([m for m, _ in built]), sum(c for _, c in built)


@build_op.register
def _(op: Residual, c_in: int, style: Style) -> tuple[nn.Module, int]:
    shortcut, c_skip = build_branch(op.shortcut, c_in, style) if op.shortcut else (None, c_in)
    body, c_out = build_branch(op.body, c_in, style)
    if c_out != c_skip:
        raise ValueError(f"residual body gives {c_out} channels, its shortcut {c_skip}")
    return ScaledResidual(body, shortcut, op.scale, op.act), c_out


class AuxHead(nn.Module):
    """An auxiliary classifier: its ops, flatten, hidden FC layers with ReLU, dropout, classifier."""

    def __init__(self, spec: Aux, c_in: int, style: Style, num_classes: int, flat: int) -> None:
        super().__init__()
        self.features, c = build_branch(spec.ops, c_in, style)
        hidden: list[nn.Module] = []
        n = flat
        for width in spec.hidden:
            hidden += [nn.Linear(n, width), nn.ReLU(inplace=True)]
            n = width
        self.hidden = nn.Sequential(*hidden)
        self.dropout = nn.Dropout(spec.dropout)
        self.fc = nn.Linear(n, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc(self.dropout(self.hidden(x)))


def build_features(spec: NetSpec, in_chans: int) -> tuple[OrderedDict[str, nn.Module], dict[str, int]]:
    """The named feature nodes and the channel count after each."""
    nodes: OrderedDict[str, nn.Module] = OrderedDict()
    channels: dict[str, int] = {}
    c = in_chans
    for name, op in spec.features:
        nodes[name], c = build_op(op, c, spec.style)
        channels[name] = c
    return nodes, channels
