"""Published weight sets: where each lives, how to check it, and how its source feeds images.

Each architecture declares its weight sets next to its spec (``WEIGHT_SETS`` in ``archs/<arch>.py``,
built with the helpers below); :mod:`inceptionkit.registry` collects them. Tags read
``<arch>.<source>_<dataset>[_notop]`` (``inception_v3.keras_imagenet``). Each entry records the URL, the
checksum the source itself publishes, the file format, the variant that computes exactly what the
source computes, the source's preprocessing and its class labels.

Checksums: keras.applications publishes the full MD5 of its files (``file_hash=`` in
``keras/src/applications/*.py``); torchvision and timm's GitHub releases put the first hex digits of
the SHA-256 in the file name (``inception_v3_google-0cc3c7bd.pth``; ``torch.hub`` checks that prefix).
Files timm serves from the Hugging Face hub come with no checksum we can know offline: their entry
says ``checksum=None`` and they are downloaded unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .preprocess import IMAGENET_MEAN, IMAGENET_STD, KERAS, Preprocess, imagenet_categories


@dataclass(frozen=True)
class WeightSet:
    """One published set of weights."""

    tag: str
    variant: str
    url: str
    source: Literal["keras", "torchvision", "timm", "pytorch-fid", "torch-fidelity"]
    format: Literal["keras-h5", "torch", "safetensors"]
    preprocess: Preprocess
    checksum: str | None  # "md5:<hex>" (full) or "sha256:<hex prefix>"; None: none published
    source_name: str = ""  # the source's own name of this weight set
    num_classes: int = 1000  # 0: no classifier (keras' notop files)
    reference: str = ""  # the implementation that named the tensors, "timm:<model>" / "torchvision:<model>"

    def __str__(self) -> str:
        return self.tag

    @property
    def arch(self) -> str:
        return self.tag.split(".", 1)[0]

    @property
    def file_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def classes(self) -> list[str] | None:
        """ImageNet-1k's names, in torchvision's order (keras' and timm's order is the same)."""
        return imagenet_categories() if self.num_classes == 1000 else None


KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"
HF_URL = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"


def _sha256_prefix(url: str) -> str:
    """The checksum in a ``name-<sha256 prefix>.pth`` file name, as torch.hub reads it."""
    return "sha256:" + url.rsplit("-", 1)[1].split(".")[0]


def keras_sets(arch: str, builder: str, md5: str, md5_notop: str) -> tuple[WeightSet, WeightSet]:
    """The top and no-top files of ``keras.applications.<builder>(weights="imagenet")``."""
    top, notop = (
        WeightSet(
            f"{arch}.keras_imagenet{suffix}",
            "keras",
            f"{KERAS_URL}/{arch}/{arch}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
            "keras",
            "keras-h5",
            KERAS,
            f"md5:{h}",
            f"keras.applications.{builder}(include_top={with_top})",
            1000 if with_top else 0,
        )
        for suffix, h, with_top in (("", md5, True), ("_notop", md5_notop, False))
    )
    return top, notop


def torchvision_set(arch: str, url: str, enum: str, size: int, resize: int) -> WeightSet:
    """torchvision's weights expect ImageNet mean/std, and torchvision builds their models with
    ``transform_input=True``, which maps that back to (x - 0.5) / 0.5: the recipe folds both."""
    pre = Preprocess(size=size, crop_pct=size / resize, interpolation="bilinear")
    return WeightSet(
        f"{arch}.tv_imagenet",
        "torchvision",
        url,
        "torchvision",
        "torch",
        pre,
        _sha256_prefix(url),
        f"torchvision.models.{enum}.IMAGENET1K_V1",
        reference=f"torchvision:{arch}",
    )


def timm_set(
    tag: str,
    timm_name: str,
    crop_pct: float,
    mean: tuple[float, ...] = (0.5, 0.5, 0.5),
    std: tuple[float, ...] = (0.5, 0.5, 0.5),
    url: str = "",
) -> WeightSet:
    """timm's pretrained_cfg: 299 pixels, bicubic, its crop_pct, mean and std. Hub files have no
    published checksum; GitHub release files have the SHA-256 prefix in their name."""
    pre = Preprocess(size=299, crop_pct=crop_pct, interpolation="bicubic", mean=mean, std=std)
    return WeightSet(
        tag,
        "timm",
        url or HF_URL.format(timm_name),
        "timm",
        "torch" if url else "safetensors",
        pre,
        _sha256_prefix(url) if url else None,
        timm_name,
        reference=f"timm:{timm_name.split('.')[0]}",
    )


def fid_set(source: str, url: str, name: str) -> WeightSet:
    """The FID network's weights (TensorFlow's inception-2015-12-05 graph, 1008 classes) as a
    torchvision-named state dict. Each metric mode feeds its own pixels (inceptionkit.metrics); the
    recipe here is pytorch-fid's: the whole image resized bilinearly to 299, scaled to [-1, 1]."""
    pre = Preprocess(size=299, crop_pct=None, interpolation="bilinear")
    return WeightSet(
        f"inception_v3.{source.replace('-', '_')}",
        "fid",
        url,
        source,
        "torch",
        pre,
        _sha256_prefix(url),
        name,
        1008,
    )


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "WeightSet",
    "fid_set",
    "keras_sets",
    "timm_set",
    "torchvision_set",
]
