"""Published weight sets: where each lives, how to check it, and how its source feeds images.

Tags read ``<arch>.<source>_<dataset>[_notop]`` (``inception_v3.keras_imagenet``). Each entry records
the URL, the checksum the source itself publishes, the file format, the variant that computes
exactly what the source computes, the source's preprocessing and its class labels.

Checksums: keras.applications publishes the full MD5 of its files (``file_hash=`` in
``keras/src/applications/*.py``); torchvision and timm's GitHub releases put the first hex digits of
the SHA-256 in the file name (``inception_v3_google-0cc3c7bd.pth``; ``torch.hub`` checks that prefix).
Files timm serves from the Hugging Face hub come with no checksum we can know offline: their entry
says ``checksum=None`` and they are downloaded unchecked.

Downloads go to the cache folder: ``$INCEPTIONKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/inceptionkit``,
else ``~/.cache/inceptionkit``; one sub-folder per tag. A file is written to a temporary name, its
checksum verified, then renamed: the cache never holds a partial or unverified file, and a cached
file is reused without downloading again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..fileio import atomic_write
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, KERAS, Preprocess, imagenet_categories
from .formats import WeightsError

log = logging.getLogger("inceptionkit.weights")


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


def _keras(arch: str, builder: str, md5: str, md5_notop: str) -> list[WeightSet]:
    """The top and no-top files of ``keras.applications.<builder>(weights="imagenet")``."""
    return [
        WeightSet(
            f"{arch}.keras_imagenet{suffix}",
            "keras",
            f"{KERAS_URL}/{arch}/{arch}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
            "keras",
            "keras-h5",
            KERAS,
            f"md5:{h}",
            f"keras.applications.{builder}(include_top={top})",
            1000 if top else 0,
        )
        for suffix, h, top in (("", md5, True), ("_notop", md5_notop, False))
    ]


def _torchvision(arch: str, url: str, enum: str, size: int, resize: int) -> WeightSet:
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


def _timm(
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


def _fid(source: str, url: str, name: str) -> WeightSet:
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


FID_WEIGHT_SETS = (
    _fid(
        "pytorch-fid",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch_fid.inception.FID_WEIGHTS_URL",
    ),
    _fid(
        "torch-fidelity",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3",
    ),
)

WEIGHT_SETS: dict[str, WeightSet] = {
    ws.tag: ws
    for ws in (
        _torchvision(
            "googlenet",
            "https://download.pytorch.org/models/googlenet-1378be20.pth",
            "GoogLeNet_Weights",
            224,
            256,
        ),
        _torchvision(
            "inception_v3",
            "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
            "Inception_V3_Weights",
            299,
            342,
        ),
        *_keras(
            "inception_v3",
            "InceptionV3",
            "9a0d58056eeedaa3f26cb7ebd46da564",
            "bcbd6486424b2319ff4ef7d526e38f63",
        ),
        _timm("inception_v3.timm_tv_imagenet", "inception_v3.tv_in1k", 0.875),  # torchvision's, with aux
        _timm("inception_v3.timm_tf_imagenet", "inception_v3.tf_in1k", 0.875),
        _timm("inception_v3.timm_tf_adv_imagenet", "inception_v3.tf_adv_in1k", 0.875),
        _timm(
            "inception_v3.timm_gluon_imagenet", "inception_v3.gluon_in1k", 0.875, IMAGENET_MEAN, IMAGENET_STD
        ),
        _timm("inception_v4.timm_imagenet", "inception_v4.tf_in1k", 0.875),
        *_keras(
            "inception_resnet_v2",
            "InceptionResNetV2",
            "e693bd0210a403b3192acc6073ad2e96",
            "d19885ff4a710c122648d3b5c3b684e4",
        ),
        _timm("inception_resnet_v2.timm_imagenet", "inception_resnet_v2.tf_in1k", 0.8975),
        _timm("inception_resnet_v2.timm_ens_adv_imagenet", "inception_resnet_v2.tf_ens_adv_in1k", 0.8975),
        *_keras(
            "xception", "Xception", "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"
        ),
        _timm(
            "xception.timm_imagenet",
            "legacy_xception.tf_in1k",
            0.8975,
            url="https://github.com/rwightman/"
            "pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth",
        ),
        *FID_WEIGHT_SETS,
    )
}


def list_weights(arch: str | None = None) -> list[WeightSet]:
    """Every published weight set (of ``arch`` if given)."""
    return [ws for ws in WEIGHT_SETS.values() if arch is None or ws.arch == arch]


def get_weight_set(tag: str) -> WeightSet:
    if tag not in WEIGHT_SETS:
        raise WeightsError(
            f"{tag}: no published weights of that name (`inceptionkit weights list` shows them)"
        )
    return WEIGHT_SETS[tag]


def register_weight_set(ws: WeightSet) -> None:
    """Add or replace a weight set (a mirror, a private set; tests point URLs at local files)."""
    WEIGHT_SETS[ws.tag] = ws


def default_weight_set(arch: str, variant: str) -> WeightSet | None:
    """The first published set for ``arch`` in ``variant``: whose preprocessing a bare file gets."""
    return next((ws for ws in list_weights(arch) if ws.variant == variant), None)


def cache_dir() -> Path:
    """Where downloaded weights live (see the module docstring)."""
    if os.environ.get("INCEPTIONKIT_CACHE"):
        return Path(os.environ["INCEPTIONKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inceptionkit"


def cached_path(ws: WeightSet) -> Path:
    return cache_dir() / ws.tag / ws.file_name


def _copy_checked(ws: WeightSet, tmp: str) -> None:
    algo, _, expected = (ws.checksum or "").partition(":")
    digest = hashlib.new(algo or "sha256")
    try:
        with urllib.request.urlopen(ws.url, timeout=60) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsError(f"{ws.tag}: cannot download {ws.url} ({reason})") from None
    got = digest.hexdigest()
    if expected and not got.startswith(expected.lower()):
        raise WeightsError(
            f"{ws.tag}: checksum mismatch for {ws.url}: expected {algo} {expected}, got "
            f"{got[: len(expected)]}; nothing was cached"
        )


def download(ws: WeightSet | str) -> Path:
    """The cached file of ``ws`` (a tag or a :class:`WeightSet`), downloaded and verified if needed."""
    ws = get_weight_set(ws) if isinstance(ws, str) else ws
    dest = cached_path(ws)
    if dest.is_file():
        return dest
    existed = dest.parent.exists()
    log.info("downloading %s from %s to %s", ws.tag, ws.url, dest)
    if ws.checksum is None:
        log.warning("%s: no checksum is published for %s; the download is not verified", ws.tag, ws.url)
    try:
        atomic_write(dest, lambda tmp: _copy_checked(ws, tmp))
    except BaseException:
        if not existed:
            shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    return dest
