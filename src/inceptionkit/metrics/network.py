"""The FID network (``inception_v3``, variant ``fid``) as a feature extractor with the four taps that
pytorch-fid and torch-fidelity expose (64, 192, 768, 2048), torch-fidelity's ``logits_unbiased`` and
guided-diffusion's spatial features (sFID).

Each tap is a stage output averaged over its grid (pytorch-fid's ``adaptive_avg_pool2d``): 64 after
the first max pool, 192 after the second, 768 after Mixed_6e (what feeds the auxiliary classifier),
2048 after Mixed_7c. ``logits_unbiased`` is the 2048 vector times the classifier's weight, without its
bias (torch-fidelity feeds those to the Inception Score). ``spatial``: the first 7 channels of
Mixed_6d's first branch (its 1x1 convolution, 17 x 17), flattened in TensorFlow's (height, width,
channel) order, 2,023 values: what guided-diffusion's evaluator reads as ``mixed_6/conv``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import FID_TAPS
from ..errors import DownloadError, MetricError, WeightsError
from ..factory import create_model
from ..model import InceptionNet

TAPS = FID_TAPS
DIMS = tuple(TAPS)
SPATIAL_NODE, SPATIAL_CHANNELS = "mixed_6d", 7  # guided-diffusion's mixed_6/conv[..., :7]
CLASSES = 1008  # TensorFlow's 2015 graph: ImageNet's 1000 classes and 8 unused ones


def load_fid_model(weights: str | Path) -> InceptionNet:
    """The FID network with ``weights``: a file (either published file, or one of the same layout) or a
    registered tag (each mode's default: :data:`inceptionkit.metrics.DEFAULT_WEIGHTS`)."""
    source = weights
    try:
        model = create_model("inception_v3", variant="fid", weights=source)
    except DownloadError:
        raise  # the network failed, not the weights (exit 1)
    except WeightsError as e:
        raise WeightsError(f"weights {source}: not the FID network's weights: {e}", field="weights") from None
    if model.num_classes != CLASSES:
        raise WeightsError(
            f"weights {source}: a classifier of {model.num_classes} classes, not the FID network's "
            f"{CLASSES} (TensorFlow's inception-2015-12-05): weights for another inception_v3 variant",
            field="weights",
        )
    return model.eval()


def tap_name(dims: int) -> str:
    """The output of the ``dims`` tap: ``pool_64``, ``pool_192``, ``pool_768`` or ``pool_2048``."""
    if dims not in TAPS:
        raise MetricError(f"{dims} dims: the FID network's taps are {', '.join(map(str, DIMS))}")
    return f"pool_{dims}"


OUTPUTS = {  # every output the metrics read, and its length
    **{f"pool_{d}": d for d in DIMS},
    "logits_unbiased": CLASSES,
    "spatial": 17 * 17 * SPATIAL_CHANNELS,
}
EVALUATOR_OUTPUTS = ("pool_2048", "spatial")  # guided-diffusion's evaluator: pool_3 and the spatial features


def output_dims(name: str) -> int:
    """The length of output ``name`` (:data:`OUTPUTS`)."""
    if name not in OUTPUTS:
        raise MetricError(f"the FID network has no output {name}; it has {', '.join(OUTPUTS)}")
    return OUTPUTS[name]


def fid_outputs(dims: int, *, logits: bool = False) -> tuple[str, ...]:
    """The outputs a pytorch-fid-style metric reads: the ``dims`` tap, and the logits for IS."""
    return (tap_name(dims), "logits_unbiased") if logits else (tap_name(dims),)


class FIDOutputs(nn.Module):
    """``forward(x) -> (N, sum of the outputs' lengths)`` float32: the named :data:`OUTPUTS` side by side,
    in the order of ``names`` (split them with :meth:`split`).

    ``x``: a batch already resized to 299 x 299 and scaled to [-1, 1] (a mode's pipeline does that).
    ``model``: the FID network as it is (the exact reference, ``--engine torch``) or its folded copy
    (the other engines start from :func:`~inceptionkit.fold.fold_batchnorm`'s copy). One module, one
    graph: the ONNX engines run its export.
    """

    def __init__(self, model: InceptionNet, names: tuple[str, ...]) -> None:
        super().__init__()
        for n in names:
            output_dims(n)
        self.names = tuple(names)
        self.sizes = [OUTPUTS[n] for n in names]
        order = model.spec.node_names
        need = [TAPS[int(n[5:])] if n.startswith("pool_") else "mixed_7c" for n in names if n != "spatial"]
        last = max([order.index(n) for n in need] + [order.index(SPATIAL_NODE) if "spatial" in names else 0])
        self.nodes = nn.ModuleList(model.features[n] for n in order[: last + 1])
        self.node_names = order[: last + 1]
        self.register_buffer(
            "fc_weight", model.fc.weight.detach().clone() if "logits_unbiased" in names else None,
            persistent=False,
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        got: dict[str, torch.Tensor] = {}
        for name, node in zip(self.node_names, self.nodes, strict=True):
            if name == SPATIAL_NODE and "spatial" in self.names:
                parts = [b(x) for b in node.branches]  # the node, with its first branch's output kept
                got["spatial"] = parts[0][:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1).flatten(1)
                x = torch.cat(parts, dim=1)
            else:
                x = node(x)
            for dims, tap in TAPS.items():
                if tap == name:
                    got[f"pool_{dims}"] = F.adaptive_avg_pool2d(x, 1).flatten(1)
        if self.fc_weight is not None:
            got["logits_unbiased"] = got["pool_2048"].mm(self.fc_weight.T)
        return torch.cat([got[n].float() for n in self.names], dim=1)

    def split(self, out: torch.Tensor) -> list[torch.Tensor]:
        """The concatenated output back as one tensor per name."""
        return list(out.split(self.sizes, dim=1))
