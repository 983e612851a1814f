"""How a weight set wants its images: resize, crop, scale, normalise. Travels with the weights."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # imported where used: reading a recipe (the command line's --help) needs no PyTorch
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # pixels scaled to [-1, 1]: keras' preprocess_input(mode="tf")
INCEPTION_STD = (0.5, 0.5, 0.5)
# The largest square input (pixels) anything accepts: 4096 x 4096 is 16 times a 1024 photo, and a
# size from a flag or a file beyond it is refused before a tensor of that size is allocated.
MAX_IMG_SIZE = 4096


@dataclass(frozen=True)
class Preprocess:
    """Image -> tensor recipe.

    ``crop_pct=None`` resizes the whole image to ``size`` x ``size`` (keras' ``load_img(target_size)``);
    otherwise the shorter side goes to ``size / crop_pct`` and the centre ``size`` x ``size`` is cut
    (torchvision and timm). Pixels are scaled to [0, 1], then ``(x - mean) / std``.
    """

    size: int = 299
    crop_pct: float | None = 0.875
    interpolation: Literal["nearest", "bilinear", "bicubic"] = "bilinear"
    mean: tuple[float, ...] = INCEPTION_MEAN
    std: tuple[float, ...] = INCEPTION_STD
    channels: int = 3  # 1: grayscale input

    @property
    def resize_size(self) -> int | None:
        return None if self.crop_pct is None else int(self.size / self.crop_pct)

    def transform(self) -> Transform:
        """The transform from a PIL image to a normalised float tensor (C, H, W): torchvision's
        ``Compose`` of these steps, bit for bit, without importing torchvision (1.3 s of every
        process's start, and of every decoding worker's fork server's)."""
        return Transform(self)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a float tensor already in [0, 1] (N, C, H, W) or (C, H, W)."""
        import torch

        shape = (-1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std

    def to_json(self) -> str:
        return json.dumps(asdict(self), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Preprocess:
        d = json.loads(text)
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        return cls(**d)


_PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling, as torchvision maps them


@dataclass(frozen=True)
class Transform:
    """``recipe`` applied to a PIL image, as torchvision's transforms do it (picklable, for decoding
    workers). Step by step, each as torchvision 0.29 does it to a PIL image: ``Grayscale(1)``
    (``convert("L")``) or RGB; ``Resize`` of the shorter side to ``resize_size`` (the longer one
    ``int(size * long / short)``; left alone when already that size), or of both sides to ``size``;
    ``CenterCrop`` (offsets ``int(round((have - size) / 2))``, a side shorter than the crop padded
    with zeros first); ``PILToTensor``; ``/ 255``; ``Normalize``. (tests/test_preprocess.py compares
    it with torchvision's own, bit for bit.)"""

    recipe: Preprocess

    def __call__(self, img) -> torch.Tensor:
        import numpy as np
        import torch

        r = self.recipe
        img = img.convert("L") if r.channels == 1 else _to_rgb(img)
        w, h = img.size
        if r.crop_pct is None:
            new_w, new_h = r.size, r.size
        else:
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = r.resize_size, int(r.resize_size * long / short)
            new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), _PIL_FILTERS[r.interpolation])
        if r.crop_pct is not None:
            img = _center_crop(img, r.size)
        x = torch.as_tensor(np.array(img, copy=True)).view(img.size[1], img.size[0], r.channels)
        x = x.permute((2, 0, 1)).float().div_(255.0)
        mean = torch.as_tensor(r.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.as_tensor(r.std, dtype=x.dtype).view(-1, 1, 1)
        return x.sub_(mean).div_(std)


def _center_crop(img, size: int):
    """torchvision's ``CenterCrop(size)`` of a PIL image: a side shorter than ``size`` is first padded
    with zeros (half before, the odd pixel after), then the centre is cut at ``round((have - size) / 2)``."""
    from PIL import ImageOps

    w, h = img.size
    if size > w or size > h:
        pad_w, pad_h = max(size - w, 0), max(size - h, 0)
        border = (pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2)
        bands = len(img.getbands())
        img = ImageOps.expand(img, border=border, fill=(0,) * bands if bands > 1 else 0)
        w, h = img.size
        if (w, h) == (size, size):
            return img
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def _to_rgb(img):
    return img.convert("RGB") if img.mode != "RGB" else img


# keras.applications' documented pipeline: load_img(path, target_size=(299, 299)) -- which resizes the
# whole image with its default "nearest" interpolation -- then preprocess_input (pixels to [-1, 1]).
KERAS = Preprocess(size=299, crop_pct=None, interpolation="nearest")


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, in torchvision's order and spelling (``data_files/imagenet1k.txt``
    is torchvision's ``models._meta._IMAGENET_CATEGORIES``, one per line, tested equal to it; read
    from there, it spares a prediction torchvision's 1.3 s import)."""
    return list(_imagenet_categories())


@functools.cache
def _imagenet_categories() -> tuple[str, ...]:
    from importlib import resources

    text = resources.files("inceptionkit.data_files").joinpath("imagenet1k.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())
