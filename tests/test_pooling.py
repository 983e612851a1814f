"""The pooling layers compute in channels_last on the CPU in inference (PyTorch's NCHW kernels are 4 to
25 times slower there): the same numbers bit for bit as PyTorch's own NCHW pooling, and PyTorch's own
path wherever a gradient is taken."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import inceptionkit as ik
from inceptionkit import layers
from inceptionkit.layers import AvgPool2d, MaxPool2d

# every pooling the specs use: Inception-v3's 3/2 max and 3/1/1 averages (pytorch-fid's without the
# padded zeros), GoogLeNet's ceil-mode max, Inception-v4's 3/2 average, and 8 x 8 maps
CASES = [
    (MaxPool2d(3, 2), F.max_pool2d, dict(kernel_size=3, stride=2)),
    (MaxPool2d(3, 2, ceil_mode=True), F.max_pool2d, dict(kernel_size=3, stride=2, ceil_mode=True)),
    (MaxPool2d(3, 1, 1), F.max_pool2d, dict(kernel_size=3, stride=1, padding=1)),
    (AvgPool2d(3, 1, 1), F.avg_pool2d, dict(kernel_size=3, stride=1, padding=1)),
    (
        AvgPool2d(3, 1, 1, count_include_pad=False),
        F.avg_pool2d,
        dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
    ),
    (
        AvgPool2d(3, 2, ceil_mode=True, count_include_pad=False),
        F.avg_pool2d,
        dict(kernel_size=3, stride=2, ceil_mode=True, count_include_pad=False),
    ),
]
SHAPES = [(2, 64, 147, 147), (3, 192, 35, 35), (1, 768, 17, 17), (2, 2048, 8, 8), (1, 5, 6, 9)]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_pooling_in_inference_is_pytorchs_nchw_pooling_bit_for_bit(case):
    module, function, kwargs = CASES[case]
    g = torch.Generator().manual_seed(case)
    for shape in SHAPES:
        x = torch.randn(shape, generator=g) * 4
        x[0, 0, :3, :3] = 0.0  # ties, as ReLU leaves them
        want = function(x, **kwargs)
        with torch.inference_mode():
            got = module(x)
        assert layers._pool_channels_last(x) and got.is_contiguous()
        assert torch.equal(got, want), (module, shape)


def test_a_gradient_takes_pytorchs_own_path():
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    assert not layers._pool_channels_last(x)
    with torch.no_grad():
        assert layers._pool_channels_last(x)
    y = torch.randn(2, 8, 9, 9).contiguous(memory_format=torch.channels_last)
    assert not layers._pool_channels_last(y)  # already channels_last (torch-opt): nothing to convert


def test_inception_v3_in_inference_is_unchanged_bit_for_bit(monkeypatch):
    """The whole network, eager fp32: with the channels_last pooling and without it."""
    torch.manual_seed(0)
    model = ik.create_model("inception_v3").eval()
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d | nn.AvgPool2d)]
    assert pools and all(isinstance(m, MaxPool2d | AvgPool2d) for m in pools)  # every pooling is ours
    x = torch.randn(2, 3, 299, 299)
    with torch.inference_mode():
        fast = model(x)
    monkeypatch.setattr(layers, "_pool_channels_last", lambda x: False)
    with torch.inference_mode():
        slow = model(x)
    assert torch.equal(fast, slow) and float(fast.std()) > 0.01
