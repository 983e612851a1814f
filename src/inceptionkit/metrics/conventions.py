"""What each mode computes after the features: a table, so that a tool's convention is one entry.

``fast``: batch norm folded (float32 rounding only; the torch-fidelity-network modes keep its
arithmetic, as the IS std of few images amplifies rounding). ``fid``: the trace of the square root by
``scipy.linalg.sqrtm`` (pytorch-fid, clean-fid) or by eigenvalues (torch-fidelity, torchmetrics).
``strict_kid``: a KID subset larger than an input is refused (torch-fidelity, torchmetrics), not reduced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .scores import inception_score, inception_score_torchmetrics, kernel_inception_distance, kid_torchmetrics


@dataclass(frozen=True)
class Convention:
    weights: str  # the weight set the tool loads by default
    fast: bool = True
    fid: str = "sqrtm"
    kid: Callable = kernel_inception_distance
    isc: Callable = inception_score
    strict_kid: bool = False


_PYTORCH_FID, _TORCH_FIDELITY = "inception_v3.pytorch_fid", "inception_v3.torch_fidelity"
_TORCHMETRICS = Convention(
    _TORCH_FIDELITY, fast=False, fid="eigvals", kid=kid_torchmetrics, isc=inception_score_torchmetrics,
    strict_kid=True,
)  # fmt: skip
CONVENTIONS: dict[str, Convention] = {
    "pytorch-fid": Convention(_PYTORCH_FID),
    "torch-fidelity": Convention(_TORCH_FIDELITY, fast=False, fid="eigvals", strict_kid=True),
    # clean-fid runs NVIDIA's torchscript copy of the same TensorFlow weights
    "clean": Convention(_PYTORCH_FID),
    "torchmetrics": _TORCHMETRICS,
    "torchmetrics-legacy": _TORCHMETRICS,
    "clean-legacy-tensorflow": Convention(_PYTORCH_FID),
    "clean-legacy-pytorch": Convention(_PYTORCH_FID),
}
