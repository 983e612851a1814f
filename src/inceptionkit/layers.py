"""The few modules every architecture is built from: a conv unit, a concatenation of branches and a
scaled residual. Nothing here knows about any particular network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spec import same_pads


class BatchNorm2dNoScale(nn.BatchNorm2d):
    """Batch norm with a learned shift but no learned scale: keras' ``BatchNormalization(scale=False)``.

    Used by the keras variants of Inception-v3 and Inception-ResNet-v2: their weight files hold
    beta, moving mean and moving variance, but no gamma.
    """

    def __init__(self, num_features: int, eps: float = 1e-3, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=False)
        self.bias = nn.Parameter(torch.zeros(num_features))

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if isinstance(getattr(self, "bias", None), nn.Parameter):
            nn.init.zeros_(self.bias)


def _pool_channels_last(x: torch.Tensor) -> bool:
    """Whether to pool ``x`` in channels_last: a CPU batch in NCHW, in inference. PyTorch's NCHW
    pooling kernels on the CPU take 4 to 25 times as long as its channels_last ones (Inception-v3 at
    299 x 299, one thread: a fifth of its eager forward pass went to pooling); both visit each window
    in the same order, so the result is the same bit for bit (tests/test_pooling.py). Training keeps
    PyTorch's own path (its backward), as do tracing, scripting and torch.compile."""
    return (
        type(x) is torch.Tensor  # not torch.fx's Proxy, nor a subclass
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.is_contiguous()
        and not x.is_contiguous(memory_format=torch.channels_last)
        and not (x.requires_grad and torch.is_grad_enabled())
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
    )


class _ChannelsLastPooling:
    """The forward pass of the pooling layers below: in channels_last where
    :func:`_pool_channels_last` says so, its output NCHW as ever."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _pool_channels_last(x):
            return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return super().forward(x)


class MaxPool2d(_ChannelsLastPooling, nn.MaxPool2d):
    """``nn.MaxPool2d``, computed in channels_last on the CPU in inference."""


class AvgPool2d(_ChannelsLastPooling, nn.AvgPool2d):
    """``nn.AvgPool2d``, computed in channels_last on the CPU in inference."""


class TFSamePad(nn.Module):
    """TensorFlow's "same" padding at stride > 1: the odd pixel goes bottom/right, sized per input."""

    def __init__(self, k: tuple[int, int], s: tuple[int, int], value: float = 0.0) -> None:
        super().__init__()
        self.k, self.s, self.value = k, s, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = same_pads(x.shape[-2], self.k[0], self.s[0], "tf")
        left, r = same_pads(x.shape[-1], self.k[1], self.s[1], "tf")
        if t == b == left == r == 0:
            return x
        return F.pad(x, (left, r, t, b), value=self.value)

    def extra_repr(self) -> str:
        return f"k={self.k}, s={self.s}"


class TFSameAvgPool(nn.Module):
    """Average pooling with TensorFlow "same" padding at stride > 1, padded zeros not counted."""

    def __init__(self, k: tuple[int, int], s: tuple[int, int], include_pad: bool) -> None:
        super().__init__()
        self.pad = TFSamePad(k, s)
        self.k, self.s, self.include_pad = k, s, include_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(self.pad(x), self.k, self.s)
        if self.include_pad:
            return y
        ones = self.pad(torch.ones_like(x[:1, :1]))
        return y / F.avg_pool2d(ones, self.k, self.s)


class ConvUnit(nn.Module):
    """conv -> batch norm -> ReLU, each part optional; the unit every Inception paper draws as a box."""

    def __init__(
        self,
        conv: nn.Conv2d,
        bn: nn.Module | None,
        act: bool,
        pad: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.pad = pad
        self.conv = conv
        self.bn = bn
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


class SeparableConv2d(nn.Module):
    """Depthwise k x k conv followed by a pointwise 1x1 conv, as keras' ``SeparableConv2D``."""

    def __init__(self, depthwise: nn.Conv2d, pointwise: nn.Conv2d, pad: nn.Module | None) -> None:
        super().__init__()
        self.pad = pad
        self.conv1 = depthwise
        self.pointwise = pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = self.pad(x)
        return self.pointwise(self.conv1(x))


class Concat(nn.Module):
    """Branches applied to the same input, concatenated along channels."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class ScaledResidual(nn.Module):
    """``act(shortcut(x) + scale * body(x))``. The shortcut is registered first, as in keras and timm."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None, scale: float | None, act: bool) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.body = body
        self.scale = scale
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        y = self.body(x)
        y = skip + (y if self.scale is None else y * self.scale)
        return y if self.act is None else self.act(y)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
