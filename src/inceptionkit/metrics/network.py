"""The FID network (``inception_v3``, variant ``fid``) as a feature extractor with the four taps that
pytorch-fid and torch-fidelity expose (64, 192, 768, 2048) and torch-fidelity's ``logits_unbiased``.

Each tap is a stage output averaged over its grid (pytorch-fid's ``adaptive_avg_pool2d``): 64 after
the first max pool, 192 after the second, 768 after Mixed_6e (what feeds the auxiliary classifier),
2048 after Mixed_7c. ``logits_unbiased`` is the 2048 vector times the classifier's weight, without its
bias (torch-fidelity feeds those to the Inception Score).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import FID_TAPS
from ..errors import DownloadError, MetricError, WeightsError
from ..factory import create_model
from ..fold import fold_batchnorm
from ..model import InceptionNet

TAPS = FID_TAPS
DIMS = tuple(TAPS)
CLASSES = 1008  # TensorFlow's 2015 graph: ImageNet's 1000 classes and 8 unused ones
DEFAULT_WEIGHTS = (
    "inception_v3.pytorch_fid"  # the registered weight set (the same tensors as torch-fidelity's)
)


def load_fid_model(weights: str | Path | None = None) -> InceptionNet:
    """The FID network with ``weights``: a file (either published file, or one of the same layout) or a
    registered tag; None: pytorch-fid's published file, downloaded into the cache once."""
    source = weights or DEFAULT_WEIGHTS
    try:
        model = create_model("inception_v3", variant="fid", weights=source)
    except DownloadError:
        raise  # the network failed, not the weights (exit 1)
    except WeightsError as e:
        raise WeightsError(f"--weights {source}: not the FID network's weights: {e}") from None
    if model.num_classes != CLASSES:
        raise WeightsError(
            f"--weights {source}: a classifier of {model.num_classes} classes, not the FID network's "
            f"{CLASSES} (TensorFlow's inception-2015-12-05): weights for another inception_v3 variant"
        )
    return model.eval()


class FIDFeatures(nn.Module):
    """``forward(x) -> (features (N, dims), logits_unbiased (N, 1008) or None)``, in float32.

    ``x``: a batch already resized to 299 x 299 and scaled to [-1, 1] (a mode's pipeline does that).
    ``fast``: batch norm folded into the convolutions and channels_last memory (the same function;
    the features differ from the unfolded network's by float32 rounding only).
    """

    def __init__(self, model: InceptionNet, dims: int = 2048, *, logits: bool = False, fast: bool = True):
        super().__init__()
        if dims not in TAPS:
            raise MetricError(f"--dims {dims}: the FID network's taps are {', '.join(map(str, DIMS))}")
        net = fold_batchnorm(model) if fast else model.eval()
        last = "mixed_7c" if logits else TAPS[dims]
        names = model.spec.node_names
        self.nodes = nn.ModuleList(net.features[n] for n in names[: names.index(last) + 1])
        self.tap = names.index(TAPS[dims])
        self.register_buffer(
            "fc_weight", net.fc.weight.detach().clone() if logits else None, persistent=False
        )
        self.dims, self.fast = dims, fast
        if fast:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.fast:
            x = x.contiguous(memory_format=torch.channels_last)
        features = None
        for i, node in enumerate(self.nodes):
            x = node(x)
            if i == self.tap:
                features = F.adaptive_avg_pool2d(x, 1).flatten(1)
        if self.fc_weight is None:
            return features, None
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return features, pooled.mm(self.fc_weight.T)
