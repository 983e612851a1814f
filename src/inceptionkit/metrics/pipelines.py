"""What each library does to an image before the FID network: resize to 299 x 299 and scale.

- ``pytorch-fid``: ``ToTensor`` (floats in [0, 1]), ``F.interpolate(bilinear, align_corners=False)``
  to 299, then ``2x - 1`` (``pytorch_fid.inception.InceptionV3.forward``).
- ``torch-fidelity``: uint8 pixels as floats, its re-implementation of TensorFlow 1.x bilinear resizing
  (``interpolate_bilinear_2d_like_tensorflow1x``, the exact "slow" method), then ``(x - 128) / 128``.
- ``clean`` (clean-fid's "clean" mode): each channel resized on its own as a float image with PIL's
  bicubic filter (antialiased), clipped to [0, 255], then ``(x - 128) / 128`` (the scaling of the
  torchscript network clean-fid runs).
- ``torchmetrics`` (1.9's default, ``antialias=True``): uint8 pixels as floats,
  ``F.interpolate(bilinear, align_corners=False, antialias=True)``, then ``(x - 128) / 128``;
  ``torchmetrics-legacy`` (``antialias=False``, its resize before 1.8): torch-fidelity's TensorFlow 1.x
  bilinear. Floats in [0, 1] become pixels as torchmetrics' ``normalize=True`` makes them:
  ``(x * 255).byte()``, truncated.
- ``clean-legacy-tensorflow`` (clean-fid's ``legacy_tensorflow``): no resize outside the network; its
  torchscript network resizes with ``affine_grid`` + ``grid_sample(bilinear, border)`` (TensorFlow 1.x's
  ``resize_bilinear`` sampling: source = destination x in / out), then ``(x - 128) / 128``.
- ``clean-legacy-pytorch`` (clean-fid's ``legacy_pytorch``): the pixels (0-255) resized by
  ``F.interpolate(bilinear, align_corners=False)``, clipped to [0, 255], then pytorch-fid's network
  on ``x / 255`` (which scales ``2x - 1``).
- ``guided-diffusion`` (its ``evaluations/evaluator.py``): the uint8 batch as float32 into the 2015
  graph's ``ExpandDims``, whose own ``ResizeBilinear`` (TensorFlow 1.x) and ``(x - 128) / 128`` follow:
  torch-fidelity's pipeline (floats in [0, 1] rounded to 8 bits first, as its batches are uint8).

Each function takes a batch (N, 3, H, W) of uint8 pixels, or of floats in [0, 1] (generated samples),
and returns float32 (N, 3, 299, 299) in the network's scale. Every one but ``clean`` is torch
operations that run on the batch's own device (:data:`DEVICE_RESIZE`): on a GPU the images go there
as uint8 and are resized there; clean's PIL filter runs on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..choices import FID_MODES

SIZE = 299
MODES = FID_MODES


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] (ToTensor's division for uint8)."""
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 255]; torch-fidelity takes uint8 only, so floats are rounded to 8 bits first."""
    if x.dtype == torch.uint8:
        return x.float()
    return (x.float() * 255).round().clamp(0, 255)


def pytorch_fid(x: torch.Tensor) -> torch.Tensor:
    y = F.interpolate(_unit(x), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return 2 * y - 1


def tf1_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1.x ``resize_bilinear(align_corners=False)``, computed as torch-fidelity computes it."""
    h, w = x.shape[-2:]

    def grid(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(0, n_out, 1, dtype=x.dtype, device=x.device)
        pos = pos * torch.tensor(n_in / n_out, dtype=torch.float32, device=x.device)
        lo = pos.long()
        return lo, (lo + 1).clamp_max(n_in - 1), pos - lo.float()

    x_lo, x_hi, dx = grid(size[1], w)
    y_lo, y_hi, dy = grid(size[0], h)
    top, bottom = x[:, :, y_lo, :], x[:, :, y_hi, :]
    in_0 = top[:, :, :, x_lo] + (top[:, :, :, x_hi] - top[:, :, :, x_lo]) * dx.view(1, 1, 1, -1)
    in_1 = bottom[:, :, :, x_lo] + (bottom[:, :, :, x_hi] - bottom[:, :, :, x_lo]) * dx.view(1, 1, 1, -1)
    return in_0 + (in_1 - in_0) * dy.view(1, 1, -1, 1)


def torch_fidelity(x: torch.Tensor) -> torch.Tensor:
    return (tf1_bilinear(_pixels(x), (SIZE, SIZE)) - 128) / 128


def _pil_bicubic(channel: np.ndarray) -> np.ndarray:
    img = Image.fromarray(channel.astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BICUBIC)
    return np.asarray(img).clip(0, 255)


def clean(x: torch.Tensor) -> torch.Tensor:
    pixels = (_unit(x) * 255 if x.dtype != torch.uint8 else x).cpu().numpy()
    out = np.stack([np.stack([_pil_bicubic(c) for c in img]) for img in pixels]).astype(np.float32)
    return (torch.from_numpy(out) - 128) / 128


def _truncated(x: torch.Tensor) -> torch.Tensor:
    """torchmetrics' pixels: uint8 as they are, floats in [0, 1] as ``(x * 255).byte()``."""
    return x.float() if x.dtype == torch.uint8 else (x.float() * 255).to(torch.uint8).float()


def torchmetrics(x: torch.Tensor) -> torch.Tensor:
    y = F.interpolate(_truncated(x), size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    return (y - 128) / 128


def torchmetrics_legacy(x: torch.Tensor) -> torch.Tensor:
    return (tf1_bilinear(_truncated(x), (SIZE, SIZE)) - 128) / 128


def clean_legacy_tensorflow(x: torch.Tensor) -> torch.Tensor:
    pixels = _unit(x) * 255 if x.dtype != torch.uint8 else x.float()
    n, c, h, w = pixels.shape
    theta = torch.eye(2, 3, dtype=pixels.dtype, device=pixels.device)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / SIZE
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / SIZE
    grid = F.affine_grid(theta[None].repeat(n, 1, 1), [n, c, SIZE, SIZE], align_corners=False)
    y = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (y - 128) / 128


def clean_legacy_pytorch(x: torch.Tensor) -> torch.Tensor:
    pixels = _unit(x) * 255 if x.dtype != torch.uint8 else x.float()
    y = F.interpolate(pixels, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 255)
    return 2 * (y / 255) - 1


PIPELINES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "pytorch-fid": pytorch_fid,
    "torch-fidelity": torch_fidelity,
    "clean": clean,
    "torchmetrics": torchmetrics,
    "torchmetrics-legacy": torchmetrics_legacy,
    "clean-legacy-tensorflow": clean_legacy_tensorflow,
    "clean-legacy-pytorch": clean_legacy_pytorch,
    "guided-diffusion": torch_fidelity,
}


DEVICE_RESIZE = frozenset(PIPELINES) - {"clean"}  # the modes whose resize runs on any torch device


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB PIL image as a uint8 (3, H, W) tensor."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()
