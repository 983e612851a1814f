"""Helpers shared by several test modules (not a test module itself)."""

from __future__ import annotations

import io
import shutil
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


# -- the FID network and photographs (scikit-image's sample images) ----------------------------------

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def photo(name: str) -> Image.Image:
    """One of scikit-image's sample photographs, as an RGB image."""
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def photo_folder(folder: Path, count: int, sizes, *, fmt: str = "png", seed: int = 0) -> Path:
    """``count`` random crops of the sample photos, resized to sizes drawn from ``sizes`` ((w, h) pairs),
    written as PNG or JPEG files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = photo(PHOTOS[int(rng.integers(len(PHOTOS)))])
        w, h = img.size
        cw, ch = int(rng.integers(w // 2, w + 1)), int(rng.integers(h // 2, h + 1))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        size = tuple(sizes[int(rng.integers(len(sizes)))])
        img = img.crop((x, y, x + cw, y + ch)).resize(size, Image.BICUBIC)
        img.save(folder / f"img{i:04d}.{'jpg' if fmt == 'jpeg' else fmt}", quality=90)
    return folder


def pytorch_fid_network() -> nn.Module:
    """pytorch-fid's FID network (its fid_inception_v3 without the download), random weights."""
    from pytorch_fid import inception as pf

    m = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    for name, c_in, c in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        setattr(m, name, pf.FIDInceptionA(c_in, pool_features=c))
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        setattr(m, name, pf.FIDInceptionC(768, channels_7x7=c7))
    m.Mixed_7b, m.Mixed_7c = pf.FIDInceptionE_1(1280), pf.FIDInceptionE_2(2048)
    return m


def randomize_fid_network(model: nn.Module, seed: int = 0, *, uint8: bool = False) -> nn.Module:
    """Random weights whose features vary from photo to photo: He-initialised convolutions, batch-norm
    statistics measured on sample photos then scaled and shifted at random, a classifier whose
    softmax is neither uniform nor one-hot. ``uint8``: the model takes uint8 pixels (torch-fidelity's)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    photos = torch.stack(
        [torch.from_numpy(np.array(photo(n).resize((299, 299)))).permute(2, 0, 1) for n in PHOTOS[:4]]
    )
    with torch.no_grad():
        model.train()(photos if uint8 else photos.float() / 127.5 - 1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.momentum = 0.1
                m.running_mean.add_(torch.randn(c, generator=g) * 0.2 * m.running_var.sqrt())
                m.weight.copy_(torch.rand(c, generator=g) * 0.9 + 0.5)  # E[gamma^2] ~ 1: no blow-up
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
        fc = model.fc
        fc.weight.copy_(torch.randn(fc.weight.shape, generator=g) * 0.05)
        fc.bias.copy_(torch.randn(fc.bias.shape, generator=g))
    return model.eval()


def lazy_module(name: str):
    """Module ``name``, imported when an attribute of it is first read (a test module's heavy
    reference library, such as keras, is then imported by the worker that runs its tests only)."""
    import importlib

    class Lazy:
        def __getattr__(self, attr: str):
            if attr.startswith("__"):  # pytest's collection asks every module global for __test__
                raise AttributeError(attr)
            return getattr(importlib.import_module(name), attr)

    return Lazy()


def fid_weights_file(folder: Path, seed: int = 0) -> Path:
    """A random-weight FID network saved as pytorch-fid publishes its weights (a torchvision-named
    state dict), built with pytorch-fid's own classes: built once per process and seed (3 s), then
    copied (a copy, not a link: a test may damage its own file)."""
    path = folder / "pt_inception-2015-12-05-6726825d.pth"
    if not path.exists():
        if seed not in _FID_WEIGHTS:
            import atexit
            import tempfile

            made = Path(tempfile.mkdtemp(prefix="fid-weights-")) / path.name
            atexit.register(shutil.rmtree, made.parent, ignore_errors=True)
            torch.manual_seed(seed)
            torch.save(randomize_fid_network(pytorch_fid_network(), seed).state_dict(), made)
            _FID_WEIGHTS[seed] = made, torch.get_rng_state()
        made, rng = _FID_WEIGHTS[seed]
        shutil.copyfile(made, path)
        torch.set_rng_state(rng)  # torch's random state as building the network leaves it, as before
    return path


_FID_WEIGHTS: dict[int, tuple[Path, torch.Tensor]] = {}  # fid_weights_file's: seed -> (file, random state after)


def blob_pictures(n: int, seed: int, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    """Smooth random pictures (N, H, W, 3) uint8, a few coloured blobs each: features that vary from
    picture to picture, at a size that keeps the FID tests fast."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((n, h, w, 3))
    for i in range(n):
        for _ in range(4):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 14)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None] * rng.uniform(0, 200, 3)
    return out.clip(0, 255).astype(np.uint8)


def fid_net(model, dims: int = 2048, *, logits: bool = False, engine: str | None = None):
    """The FID network's ``dims`` tap (and logits) on ``engine`` (None: auto), as the metrics run it."""
    import torch

    from inceptionkit.metrics import ExactNetwork
    from inceptionkit.metrics.network import fid_outputs
    from inceptionkit.settings import RunSettings

    return ExactNetwork(model, fid_outputs(dims, logits=logits), RunSettings(engine=engine), torch.device("cpu"))


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    """``inceptionkit ARGV`` in this process: (exit code, stdout, stderr)."""
    from inceptionkit.cli import main

    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def noise_pictures(folder: Path, count: int) -> list[Path]:
    """``count`` small noise PNGs (30 + i by 40 pixels) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"p{i}.png" for i in range(count)]
    for i, p in enumerate(paths):
        noise(30 + i, 40, seed=i).save(p)
    return paths


def auto_lines(err: str) -> list[str]:
    """The lines in which ``auto`` says which engine it chose."""
    return [line for line in err.splitlines() if "engine auto: " in line]
