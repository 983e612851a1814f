"""Our fastest PyTorch inference path: batch norm folded into the convolutions, channels_last, inference mode.

In eval mode a batch norm is an affine map per channel, so the convolution before it can absorb it:
``w' = w * gamma / sqrt(var + eps)`` and ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``
(:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`). Every batch norm of the family follows a
convolution: the one of a conv unit (:class:`~inceptionkit.layers.ConvUnit`) or the one after a
separable convolution's pointwise conv. The folded network computes the same function with one pass
over memory less per layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .layers import ConvUnit, SeparableConv2d


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every batch norm folded into the convolution before it.

    The copy has no ``BatchNorm2d`` left and computes the same function as ``model.eval()``.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, ConvUnit) and module.bn is not None:
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = None
        elif isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                sep, bn = module[i], module[i + 1]
                if isinstance(sep, SeparableConv2d) and isinstance(bn, nn.BatchNorm2d):
                    sep.pointwise = fuse_conv_bn_eval(sep.pointwise, bn)
                    module[i + 1] = nn.Identity()
    left = [name for name, m in folded.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise ValueError(f"cannot fold batch norms that follow no convolution: {', '.join(left)}")
    return folded


def optimize_for_inference(
    model: nn.Module, *, compile: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``run(x) -> logits``: ``model`` with batch norm folded, in channels_last memory format, run in
    inference mode. ``model`` is left untouched.

    ``compile``: also ``torch.compile`` it, with inductor's weight freezing (the weights become
    constants, prepacked for oneDNN). Measured on two cores for inception_v3: 0 to 15% faster at
    batch 1, no faster at batch 8, after 30 to 50 s of compiling per new input shape.
    """
    fast = fold_batchnorm(model).to(memory_format=torch.channels_last)
    forward = torch.compile(fast, options={"freezing": True}) if compile else fast

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return forward(x.contiguous(memory_format=torch.channels_last))

    return run
