"""What each mode computes after the features: a table, so that a tool's convention is one entry.

(Every mode runs the same network on the same exact engines: :mod:`.engine`.) ``fid``: the trace of the square root by
``scipy.linalg.sqrtm`` (pytorch-fid, clean-fid) or by eigenvalues (torch-fidelity, torchmetrics).
``strict_kid``: a KID subset larger than an input is refused (torch-fidelity, torchmetrics), not reduced.

``resize`` and ``quantization`` say in words what the mode's pipeline does (``pipelines.py``), so that
``fid compare`` can say what differs from the default mode. ``input_as``: the mode whose network input
this mode's equals for 8-bit pixels (files, ``.npz`` and ``.zip`` images, uint8 tensors): both take the
same resized tensor to the same network arithmetic, so one pass serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .scores import inception_score, inception_score_torchmetrics, kernel_inception_distance, kid_torchmetrics

DEFAULT_MODE = "pytorch-fid"


@dataclass(frozen=True)
class Convention:
    weights: str  # the weight set the tool loads by default
    fid: str = "sqrtm"
    kid: Callable = kernel_inception_distance
    isc: Callable = inception_score
    strict_kid: bool = False
    resize: str = "bilinear on floats in [0, 1] (F.interpolate, no antialiasing), then 2x - 1"
    quantization: str = "floats used as they are"
    input_as: str | None = None
    reproduces: str = ""


_PYTORCH_FID, _TORCH_FIDELITY = "inception_v3.pytorch_fid", "inception_v3.torch_fidelity"
_TF1 = "TensorFlow 1.x bilinear on 0-255 pixels, then (x - 128) / 128"
_ROUNDED, _TRUNCATED = "floats rounded to 8 bits", "floats truncated to 8 bits ((x * 255).byte())"
_TORCHMETRICS = dict(
    weights=_TORCH_FIDELITY, fid="eigvals", kid=kid_torchmetrics, isc=inception_score_torchmetrics,
    strict_kid=True, quantization=_TRUNCATED,
)  # fmt: skip
CONVENTIONS: dict[str, Convention] = {
    "pytorch-fid": Convention(_PYTORCH_FID, reproduces="pytorch_fid.fid_score.calculate_fid_given_paths"),
    "torch-fidelity": Convention(
        _TORCH_FIDELITY,
        fid="eigvals",
        strict_kid=True,
        resize=_TF1,
        quantization=_ROUNDED,
        reproduces="torch_fidelity.calculate_metrics",
    ),  # fmt: skip
    # clean-fid runs NVIDIA's torchscript copy of the same TensorFlow weights
    "clean": Convention(
        _PYTORCH_FID,
        resize="PIL bicubic per channel on floats (antialiased), then (x - 128) / 128",
        reproduces="clean-fid, mode 'clean'",
    ),  # fmt: skip
    "torchmetrics": Convention(
        **_TORCHMETRICS,
        resize="bilinear with antialiasing on 0-255 pixels, then (x - 128) / 128",
        reproduces="torchmetrics 1.9 FrechetInceptionDistance (antialias=True)",
    ),  # fmt: skip
    "torchmetrics-legacy": Convention(
        **_TORCHMETRICS,
        resize=_TF1,
        input_as="torch-fidelity",
        reproduces="torchmetrics before 1.8 (antialias=False)",
    ),  # fmt: skip
    "clean-legacy-tensorflow": Convention(
        _PYTORCH_FID,
        resize="TensorFlow 1.x bilinear (affine_grid + grid_sample), then (x - 128) / 128",
        reproduces="clean-fid, mode 'legacy_tensorflow'",
    ),  # fmt: skip
    "clean-legacy-pytorch": Convention(
        _PYTORCH_FID,
        resize="bilinear on 0-255 pixels (F.interpolate), clipped, then 2x / 255 - 1",
        reproduces="clean-fid, mode 'legacy_pytorch'",
    ),  # fmt: skip
    # the evaluator's own numbers (IS, FID, sFID, precision, recall) are computed by evaluator.py
    "guided-diffusion": Convention(
        _TORCH_FIDELITY,
        resize=_TF1,
        quantization=_ROUNDED,
        input_as="torch-fidelity",
        reproduces="guided-diffusion's evaluations/evaluator.py",
    ),  # fmt: skip
}


def differences(mode: str) -> str:
    """What ``mode`` does differently from the default mode, in one line."""
    c, d = CONVENTIONS[mode], CONVENTIONS[DEFAULT_MODE]
    if mode == DEFAULT_MODE:
        return f"the default: resize {c.resize}; {c.quantization}; square root by {c.fid}"
    out = [f"resize {c.resize}" if c.resize != d.resize else ""]
    out.append(f"quantization: {c.quantization}" if c.quantization != d.quantization else "")
    out.append(f"square root by {c.fid} (not {d.fid})" if c.fid != d.fid else "")
    if mode == "guided-diffusion":
        out.append("statistics of float32 activations (np.mean); the samples' statistics taken first, as the evaluator takes them")
    if mode == "clean-legacy-pytorch":
        out.append("the same arithmetic as the default up to float rounding (resize before scaling)")
    return "; ".join(x for x in out if x)
