"""``Preprocess.transform()`` is torchvision's transforms, bit for bit, without importing torchvision:
checked here against torchvision's own classes on photos of every shape the recipes meet (portrait,
landscape, already the resize's size, smaller than the crop) and every PIL mode a decoder gives."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from inceptionkit.preprocess import KERAS, Preprocess


def _torchvisions(r: Preprocess):
    from torchvision import transforms as T

    interp = T.InterpolationMode(r.interpolation)
    steps: list = [T.Grayscale(1) if r.channels == 1 else T.Lambda(lambda im: im.convert("RGB"))]
    if r.crop_pct is None:
        steps.append(T.Resize((r.size, r.size), interpolation=interp))
    else:
        steps += [T.Resize(r.resize_size, interpolation=interp), T.CenterCrop(r.size)]
    steps += [T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(r.mean, r.std)]
    return T.Compose(steps)


RECIPES = {
    "inception 299": Preprocess(),
    "imagenet bicubic": Preprocess(size=299, crop_pct=0.9, interpolation="bicubic",
                                   mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),  # fmt: skip
    "keras nearest": KERAS,
    "no crop margin": Preprocess(size=64, crop_pct=1.0),
    "grey digits": Preprocess(size=12, crop_pct=None, channels=1, mean=(0.5,), std=(0.5,)),
    "crop wider than the image": Preprocess(size=40, crop_pct=1.25),  # torchvision pads
}


def _images():
    from sklearn.datasets import load_sample_image

    china = Image.fromarray(load_sample_image("china.jpg"))  # 640 x 427
    return {
        "landscape": china,
        "portrait": china.crop((100, 0, 333, 427)),
        "odd margins": china.crop((0, 0, 343, 341)),  # (resize - crop) odd on both sides at 299
        "resize size already": china.crop((0, 0, 341, 400)),  # 299 / 0.875 = 341: left as it is
        "tiny": china.resize((23, 17)),
        "grey": china.convert("L"),
        "rgba": china.convert("RGBA"),
        "palette": china.convert("P"),
        "16-bit grey": Image.fromarray(np.asarray(china.convert("L"), dtype=np.uint16) * 200),
    }


@pytest.mark.parametrize("name", list(RECIPES))
def test_transform_is_torchvisions_bit_for_bit(name):
    recipe = RECIPES[name]
    ours, theirs = recipe.transform(), _torchvisions(recipe)
    for label, img in _images().items():
        got, want = ours(img), theirs(img)
        assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape, (name, label)
        assert torch.equal(got, want), (name, label, float((got - want).abs().max()))


def test_transform_pickles_for_decoding_workers():
    t = Preprocess(size=32).transform()
    img = _images()["portrait"]
    assert torch.equal(pickle.loads(pickle.dumps(t))(img), t(img))


def test_imagenet_categories_are_torchvisions():
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from inceptionkit.preprocess import imagenet_categories

    names = imagenet_categories()
    assert names == list(_IMAGENET_CATEGORIES) and len(names) == 1000
    names.append("mutated")  # a copy each time: the caller's list is its own
    assert len(imagenet_categories()) == 1000
