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

from ..preprocess import IMAGENET_MEAN, IMAGENET_STD, KERAS, Preprocess, imagenet_categories
from .formats import WeightsError
from .native import atomic_write

log = logging.getLogger("inceptionkit.weights")


@dataclass(frozen=True)
class WeightSet:
    """One published set of weights."""

    tag: str
    variant: str
    url: str
    source: Literal["keras", "torchvision", "timm"]
    format: Literal["keras-h5", "torch", "safetensors"]
    preprocess: Preprocess
    checksum: str | None  # "md5:<hex>" (full) or "sha256:<hex prefix>"; None: none published
    num_classes: int = 1000  # 0: no classifier (keras' notop files)
    reference: str = ""  # the implementation that named the tensors, "timm:<model>" / "torchvision:<model>"
    notes: str = ""

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


# torchvision's weights expect ImageNet mean/std and their models start with ``transform_input=True``,
# which maps that back to (x - 0.5) / 0.5; we fold both into the recipe (mean = std = 0.5).
def _torchvision(size: int, resize: int) -> Preprocess:
    return Preprocess(size=size, crop_pct=size / resize, interpolation="bilinear")


def _timm(crop_pct: float, mean: tuple[float, ...] = (0.5, 0.5, 0.5),
          std: tuple[float, ...] = (0.5, 0.5, 0.5)) -> Preprocess:
    return Preprocess(size=299, crop_pct=crop_pct, interpolation="bicubic", mean=mean, std=std)


KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"
HF_URL = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"


def _keras(arch: str, folder: str, stem: str, md5: str, md5_notop: str) -> list[WeightSet]:
    return [
        WeightSet(f"{arch}.keras_imagenet{suffix}", "keras",
                  f"{KERAS_URL}/{folder}/{stem}_weights_tf_dim_ordering_tf_kernels{suffix}.h5",
                  "keras", "keras-h5", KERAS, f"md5:{h}", classes,
                  notes="keras.applications, legacy HDF5 written by keras 2")
        for suffix, h, classes in (("", md5, 1000), ("_notop", md5_notop, 0))
    ]


def _timm_hub(tag: str, timm_name: str, pre: Preprocess, notes: str) -> WeightSet:
    return WeightSet(tag, "timm", HF_URL.format(timm_name), "timm", "safetensors", pre, None,
                     reference=f"timm:{timm_name.split('.')[0]}", notes=notes)


WEIGHT_SETS: dict[str, WeightSet] = {
    ws.tag: ws
    for ws in (
        WeightSet("googlenet.tv_imagenet", "torchvision",
                  "https://download.pytorch.org/models/googlenet-1378be20.pth", "torchvision", "torch",
                  _torchvision(224, 256), "sha256:1378be20", reference="torchvision:googlenet",
                  notes="torchvision GoogLeNet_Weights.IMAGENET1K_V1 (with auxiliary heads)"),
        WeightSet("inception_v3.tv_imagenet", "torchvision",
                  "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth", "torchvision",
                  "torch", _torchvision(299, 342), "sha256:0cc3c7bd", reference="torchvision:inception_v3",
                  notes="torchvision Inception_V3_Weights.IMAGENET1K_V1 (with the auxiliary head)"),
        *_keras("inception_v3", "inception_v3", "inception_v3", "9a0d58056eeedaa3f26cb7ebd46da564",
                "bcbd6486424b2319ff4ef7d526e38f63"),
        _timm_hub("inception_v3.timm_tv_imagenet", "inception_v3.tv_in1k", _timm(0.875),
                  "timm inception_v3.tv_in1k: torchvision's weights, with the auxiliary head"),
        _timm_hub("inception_v3.timm_tf_imagenet", "inception_v3.tf_in1k", _timm(0.875),
                  "timm inception_v3.tf_in1k: ported from TF-slim"),
        _timm_hub("inception_v3.timm_tf_adv_imagenet", "inception_v3.tf_adv_in1k", _timm(0.875),
                  "timm inception_v3.tf_adv_in1k: adversarially trained, ported from TF"),
        _timm_hub("inception_v3.timm_gluon_imagenet", "inception_v3.gluon_in1k", _timm(0.875, IMAGENET_MEAN, IMAGENET_STD),
                  "timm inception_v3.gluon_in1k: from GluonCV"),
        _timm_hub("inception_v4.timm_imagenet", "inception_v4.tf_in1k", _timm(0.875),
                  "timm inception_v4.tf_in1k: ported from TF-slim"),
        *_keras("inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2",
                "e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4"),
        _timm_hub("inception_resnet_v2.timm_imagenet", "inception_resnet_v2.tf_in1k", _timm(0.8975),
                  "timm inception_resnet_v2.tf_in1k: ported from TF-slim"),
        _timm_hub("inception_resnet_v2.timm_ens_adv_imagenet",
                  "inception_resnet_v2.tf_ens_adv_in1k", _timm(0.8975),
                  "timm inception_resnet_v2.tf_ens_adv_in1k: ensemble adversarial training"),
        *_keras("xception", "xception", "xception", "0a58e3b7378bc2990ea3b43d5981f1f6",
                "b0042744bf5b25fce3cb969f33bebb97"),
        WeightSet("xception.timm_imagenet", "timm",
                  "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/"
                  "xception-43020ad28.pth", "timm", "torch", _timm(0.8975), "sha256:43020ad28",
                  reference="timm:legacy_xception",
                  notes="timm legacy_xception.tf_in1k: Cadene's port of the keras weights"),
    )
}


def list_weights(arch: str | None = None) -> list[WeightSet]:
    """Every published weight set (of ``arch`` if given)."""
    return [ws for ws in WEIGHT_SETS.values() if arch is None or ws.arch == arch]


def get_weight_set(tag: str) -> WeightSet:
    if tag not in WEIGHT_SETS:
        raise WeightsError(f"{tag}: no published weights of that name (`inceptionkit weights list` shows them)")
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
        raise WeightsError(f"{ws.tag}: checksum mismatch for {ws.url}: expected {algo} {expected}, got "
                           f"{got[:len(expected)]}; nothing was cached")


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
