"""Helpers shared by several test modules (not a test module itself)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import inceptionkit as ik
from inceptionkit.preprocess import Preprocess
from inceptionkit.weights import WeightMeta, save_native


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Statistics and affine parameters far from the identity a fresh batch norm starts with."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.2)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.2)
    return model


# -- images ------------------------------------------------------------------------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


def noise(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def truncated_jpeg(path: Path) -> None:
    buf = io.BytesIO()
    noise(32, 32).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def exif_rotated_jpeg(path: Path) -> None:
    """A 48x32 landscape picture, red left half and blue right half, stored with EXIF Orientation=6:
    shown upright it is 32x48, red on top (the camera was turned 90 degrees clockwise)."""
    img = Image.new("RGB", (48, 32), RED)
    img.paste(BLUE, (24, 0, 48, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, "JPEG", exif=exif)


def palette_with_transparency(path: Path) -> None:
    """Index 0 (colour 10,20,30) is transparent and fills the left half; index 1 is 200,100,50."""
    img = Image.new("P", (8, 8), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.paste(1, (4, 0, 8, 8))
    img.save(path, transparency=0)


def sixteen_bit_png(path: Path) -> np.ndarray:
    values = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(values).save(path)
    return values


def write_messy_folder(folder: Path) -> dict[str, str | None]:
    """Files of every messy kind, with the start of the error each must give (None: it must work).
    Usable images are at most 32x32 = 1,024 pixels, except ``big.png`` (64x64 = 4,096), which a
    limit of 2,000 pixels refuses."""
    folder.mkdir(parents=True, exist_ok=True)
    noise(32, 24).save(folder / "plain.png")
    truncated_jpeg(folder / "truncated.jpg")
    (folder / "text.jpg").write_text("this is not a picture\n")
    (folder / "empty.png").write_bytes(b"")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    sixteen_bit_png(folder / "sixteen.png")
    Image.new("LA", (8, 8), (77, 0)).save(folder / "gray_alpha.png")
    palette_with_transparency(folder / "palette.png")
    exif_rotated_jpeg(folder / "rotated.jpg")
    Image.new("RGB", (1, 1), (9, 99, 199)).save(folder / "one_pixel.bmp")
    noise(64, 64).save(folder / "big.png")
    return {
        "big.png": "64x64 = 4,096 pixels is over the limit of 2,000",
        "cmyk.jpg": None,
        "empty.png": "empty file",
        "gray_alpha.png": None,
        "one_pixel.bmp": None,
        "palette.png": None,
        "plain.png": None,
        "rotated.jpg": None,
        "sixteen.png": None,
        "text.jpg": "not an image file",
        "truncated.jpg": "cannot decode: image file is truncated",
    }


# -- small models and folders -----------------------------------------------------------------------

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


RECIPE = Preprocess(size=28, crop_pct=None)


def small_model(channels: int = 3, seed: int = 0) -> ik.InceptionNet:
    """inception_small for 10 classes with random weights, its batch-norm statistics measured on a
    batch of noise (with the initial ones, every input gets the same answer)."""
    torch.manual_seed(seed)
    model = ik.create_model("inception_small", num_classes=10, in_chans=channels)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average of the batches seen
    with torch.no_grad():
        model.train()(torch.randn(16, channels, 28, 28))
    return model.eval()


def save_small(path: Path, *, channels: int = 3, classes: list[str] | None = CLASSES) -> Path:
    recipe = (
        RECIPE if channels == 3 else Preprocess(size=28, crop_pct=None, channels=1, mean=(0.5,), std=(0.5,))
    )
    save_native(path, small_model(channels), WeightMeta(recipe, classes=classes, source="test"))
    return path


def make_folder(root, counts: dict[str, int], size: int = 12, seed: int = 0) -> None:
    """``counts[class]`` random PNG images under ``root/<class>/``."""
    rng = np.random.default_rng(seed)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png"
            )
