"""The small language every architecture is written in.

An architecture is a list of named nodes, each an *op*. Ops read like the columns of the papers'
tables::

    Conv(64, 7, s=2)                      # 7x7/2 convolution unit (conv, norm, ReLU), 64 filters
    Pool("max", 3, s=2)                   # 3x3/2 max pooling
    Cat([Conv(64, 1)], [Conv(96, 1), Conv(128, 3)], ...)   # branches, concatenated
    Residual(body, scale=0.17)            # x + scale * body(x), then ReLU

Everything else (the ``nn.Module``, the summary, the cost analysis, the diagrams) is derived from
these objects, so a number is written once.

Padding follows keras' words: ``"same"`` keeps the size at stride 1; ``"valid"`` (the papers' "V")
pads nothing; an int or an (h, w) pair pads symmetrically. How ``"same"`` pads at stride > 1 is a
property of the variant (:class:`Style.same`): TensorFlow pads the extra pixel at the bottom/right
when the total is odd (``"tf"``), PyTorch ports pad ``k // 2`` on both sides (``"symmetric"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from .errors import UnknownName

Pad = int | tuple[int, int] | Literal["same", "valid"]
Pair = tuple[int, int]


def pair(v: int | tuple[int, int]) -> Pair:
    """(v, v) for an int, the pair itself otherwise."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass(frozen=True)
class Style:
    """How a variant realises the spec's conv units, normalisation and padding."""

    norm: Literal["bn", "bn_noscale"] | None = "bn"  # bn_noscale: keras' BatchNormalization(scale=False)
    eps: float = 1e-3
    momentum: float = 0.1  # PyTorch convention (keras' 0.99 is 1 - 0.01)
    same: Literal["symmetric", "tf"] = "symmetric"
    avg_include_pad: bool = False  # count padded zeros in average pooling (torchvision inception_v3 does)


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conv:
    """A convolution unit: conv, then batch norm (if the style has one), then ReLU.

    ``norm=False`` drops the norm (the linear 1x1 projection of residual blocks); ``act=False`` drops
    the ReLU. A conv has a bias exactly when no norm follows it, unless ``bias`` says otherwise.
    """

    out: int
    k: int | tuple[int, int]
    s: int | tuple[int, int] = 1
    p: Pad = "same"
    act: bool = True
    norm: bool = True
    bias: bool | None = None
    groups: int = 1


@dataclass(frozen=True)
class SepConv:
    """A depthwise-separable convolution (depthwise k x k, then pointwise 1x1), then its norm.

    As keras' ``SeparableConv2D`` + ``BatchNormalization``: no norm between the two convs, no ReLU
    after (Xception puts the ReLU before, as an :class:`Act`).
    """

    out: int
    k: int = 3
    s: int = 1
    p: Pad = "same"
    norm: bool = True
    act: bool = False


@dataclass(frozen=True)
class Pool:
    kind: Literal["max", "avg"]
    k: int | tuple[int, int]
    s: int | tuple[int, int] = 1
    p: Pad = "valid"
    ceil: bool = False  # Caffe's rounding (GoogLeNet)
    include_pad: bool | None = None  # avg only; None: the style's default


@dataclass(frozen=True)
class AdaptivePool:
    """Average pooling to a fixed output size (torchvision's GoogLeNet auxiliary heads)."""

    size: int = 1


@dataclass(frozen=True)
class LRN:
    """Local response normalisation across channels (GoogLeNet, Caffe's defaults)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@dataclass(frozen=True)
class Act:
    """A standalone ReLU (Xception's pre-activation)."""


Branch = tuple["Op", ...]


@dataclass(frozen=True, init=False)
class Cat:
    """Branches applied to the same input, concatenated along channels: the Inception block."""

    branches: tuple[Branch, ...]

    def __init__(self, *branches: Op | list[Op] | tuple[Op, ...]) -> None:
        norm = tuple(tuple(b) if isinstance(b, (list, tuple)) else (b,) for b in branches)
        object.__setattr__(self, "branches", norm)


@dataclass(frozen=True)
class Residual:
    """``act(shortcut(x) + scale * body(x))``: Inception-ResNet blocks and Xception's blocks.

    ``shortcut=()`` is the identity. ``scale=None`` is a plain sum (keras' ``Add``); a number is
    the paper's residual scaling (keras' ``CustomScaleLayer``).
    """

    body: Branch
    scale: float | None = None
    shortcut: Branch = ()
    act: bool = True


Op = Conv | SepConv | Pool | AdaptivePool | LRN | Act | Cat | Residual


def inception_resnet(branches: Cat, width: int, scale: float, act: bool = True) -> Residual:
    """The Inception-ResNet block (the 2016 paper's Figure 15 scaling):
    ``ReLU(x + scale * W(branches(x)))``, where W is the 1x1 "Linear" conv (bias, no norm, no ReLU)
    that restores the input's width."""
    return Residual((branches, Conv(width, 1, act=False, norm=False)), scale=scale, act=act)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aux:
    """An auxiliary classifier that taps the output of node ``after`` (training mode only)."""

    name: str
    after: str
    ops: Branch
    hidden: tuple[int, ...] = ()  # fully connected layers before the classifier (ReLU after each)
    dropout: float = 0.0  # before the classifier
    loss_weight: float = 0.3


@dataclass(frozen=True)
class NetSpec:
    """One variant of one architecture: everything needed to build, summarize and draw it."""

    arch: str
    variant: str
    features: tuple[tuple[str, Op], ...]
    style: Style = field(default_factory=Style)
    default_size: int = 299
    default_classes: int = 1000  # the classifier built when no class count is given (the FID net's: 1008)
    drop_rate: float = 0.0
    aux: tuple[Aux, ...] = ()
    paper: str = ""
    notes: str = ""  # where and why the variant departs from the paper
    aliases: tuple[tuple[str, str], ...] = ()  # other names of nodes (keras: mixed0 -> mixed_5b)

    def with_(self, **changes: object) -> NetSpec:
        return replace(self, **changes)

    @property
    def node_names(self) -> list[str]:
        return [n for n, _ in self.features]

    def resolve(self, name: str) -> str:
        """The node name for ``name`` or one of its aliases."""
        alias = dict(self.aliases)
        if name in alias:
            return alias[name]
        if name in self.node_names:
            return name
        raise UnknownName(
            f"{self.arch} ({self.variant}) has no stage {name!r}; stages: {', '.join(self.node_names)}"
        )


# ---------------------------------------------------------------------------------------------
# Shape arithmetic, shared by the builder and the cost analysis
# ---------------------------------------------------------------------------------------------


def same_pads(n: int, k: int, s: int, mode: str) -> tuple[int, int]:
    """(before, after) padding of one spatial dimension for ``"same"``."""
    if mode == "symmetric" and s > 1:
        return k // 2, k // 2
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)  # TensorFlow's rule; k - 1 at stride 1
    return total // 2, total - total // 2


def pads_of(p: Pad, n: int, k: int, s: int, mode: str) -> tuple[int, int]:
    if p == "same":
        return same_pads(n, k, s, mode)
    if p == "valid":
        return 0, 0
    v = p if isinstance(p, int) else None
    if v is None:
        raise TypeError("pads_of takes the padding of one dimension")
    return v, v


def out_len(n: int, k: int, s: int, before: int, after: int, ceil: bool = False) -> int:
    """Output length of a sliding window (PyTorch's rule, Caffe's when ``ceil``)."""
    span = n + before + after - k
    if span < 0:
        return 0
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + before:  # PyTorch: the last window must start inside the input
        o -= 1
    return o


def window_hw(
    hw: Pair, k: int | Pair, s: int | Pair, p: Pad, mode: str, ceil: bool = False
) -> tuple[Pair, tuple[int, int, int, int]]:
    """Output (h, w) and paddings (top, bottom, left, right) of a conv or pooling window."""
    kh, kw = pair(k)
    sh, sw = pair(s)
    ph = p if isinstance(p, str) else pair(p)[0]
    pw = p if isinstance(p, str) else pair(p)[1]
    t, b = pads_of(ph, hw[0], kh, sh, mode)
    left, r = pads_of(pw, hw[1], kw, sw, mode)
    return (out_len(hw[0], kh, sh, t, b, ceil), out_len(hw[1], kw, sw, left, r, ceil)), (t, b, left, r)
