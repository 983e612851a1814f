"""How a weight set wants its images: resize, crop, scale, normalise. Travels with the weights."""

from __future__ import annotations

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

    def transform(self):
        """A torchvision transform from a PIL image to a normalised float tensor (C, H, W)."""
        from torchvision import transforms as T

        interp = T.InterpolationMode(self.interpolation)
        steps: list = [T.Grayscale(1) if self.channels == 1 else T.Lambda(_to_rgb)]
        if self.crop_pct is None:
            steps.append(T.Resize((self.size, self.size), interpolation=interp))
        else:
            steps += [T.Resize(self.resize_size, interpolation=interp), T.CenterCrop(self.size)]
        steps += [T.PILToTensor(), T.Lambda(_to_float), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)

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


def _to_rgb(img):
    return img.convert("RGB") if img.mode != "RGB" else img


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0)


# keras.applications' documented pipeline: load_img(path, target_size=(299, 299)) -- which resizes the
# whole image with its default "nearest" interpolation -- then preprocess_input (pixels to [-1, 1]).
KERAS = Preprocess(size=299, crop_pct=None, interpolation="nearest")


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, from torchvision's own metadata."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)
