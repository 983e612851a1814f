"""inceptionkit's own weight format: a safetensors file whose metadata says what it holds.

The metadata is a :class:`~inceptionkit.meta.ModelMeta` (see :mod:`inceptionkit.meta` for its keys),
written and read there; reading checks every field and that the tensors are those the metadata
describes, before any model is built. Files are written atomically (:func:`~inceptionkit.fileio.atomic_write`).

Every file written here records a checksum of its tensors (``tensors_sha256``: :func:`tensors_sha256`)
in its own metadata, and every load verifies it (:func:`verify_tensors`), so a file damaged on disk
(bits flipped in its tensor data) is refused naming it, never used. Files that carry no checksum
(other tools', or inceptionkit's before it wrote one) load as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import WeightsError
from ..fileio import atomic_write
from ..meta import MAGIC, ModelMeta, WeightMeta, classes_to_text
from ..model import InceptionNet
from ..registry import get_spec, list_models, list_variants
from .formats import check_file, check_finite

__all__ = [
    "MAGIC",
    "ModelMeta",
    "WeightMeta",
    "classes_to_text",
    "load_native",
    "meta_from_metadata",
    "native_bytes",
    "native_metadata",
    "read_native_meta",
    "read_native_metadata",
    "save_native",
    "tensors_sha256",
    "verify_tensors",
]


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """The SHA-256 of ``tensors``: for each, in name order, its name, dtype and shape, then its bytes
    (as stored, little-endian). It does not depend on how a file lays them out."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def verify_tensors(tensors: Mapping[str, torch.Tensor], checksum: str | None, origin: object) -> None:
    """That ``tensors`` are those the file's ``tensors_sha256`` was written for (nothing to check when
    the file carries none); a :class:`WeightsError` naming ``origin`` otherwise."""
    if checksum is not None and tensors_sha256(tensors) != checksum:
        raise WeightsError(
            f"{origin}: damaged: its tensor data does not match the checksum it was written with "
            "(metadata field 'tensors_sha256'); it is not used"
        )


def save_native(path: str | Path, model, meta: WeightMeta, extra: dict[str, str] | None = None) -> None:
    """Save ``model`` (an InceptionNet) with ``meta`` in inceptionkit's format, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = native_metadata(model, meta, extra)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def native_bytes(model, meta: WeightMeta, extra: dict[str, str] | None = None) -> bytes:
    """What :func:`save_native` writes, as bytes (for writers that handle the file themselves)."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return save(tensors, metadata=native_metadata(model, meta, extra))


def native_metadata(model, meta: WeightMeta, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata of an inceptionkit weight file for ``model`` and ``meta`` (:class:`ModelMeta`), with
    the checksum of the model's tensors."""
    record = dataclasses.replace(ModelMeta.of(model, meta), tensors_sha256=tensors_sha256(model.state_dict()))
    return record.to_metadata(**(extra or {}))


def read_native_metadata(path: str | Path) -> dict[str, str] | None:
    """The raw metadata of an inceptionkit safetensors file, or None if it is not one."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:
        return None
    return meta if meta.get("format") == MAGIC else None


def meta_from_metadata(md: dict[str, str], origin: object = "metadata") -> WeightMeta:
    """The weights' part of the record in ``md`` (checked: see :meth:`ModelMeta.from_metadata`)."""
    return ModelMeta.from_metadata(md, origin).weights


def read_native_meta(path: str | Path) -> ModelMeta:
    """The checked record of the inceptionkit file at ``path``: its fields are valid, name a model and
    variant that exist, and match the shapes of the tensors in the file."""
    p = check_file(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            md = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception:
        raise WeightsError(f"{p}: cannot read the safetensors file (truncated or corrupt)") from None
    meta = ModelMeta.from_metadata(md, p)
    check_shapes(meta, shapes, p)
    return meta


def _spec(meta: ModelMeta, origin: object):
    if meta.arch not in list_models():
        raise WeightsError(f"{origin}: metadata field 'arch': unknown model {meta.arch[:40]!r}")
    if meta.variant not in list_variants(meta.arch):
        raise WeightsError(
            f"{origin}: metadata field 'variant': {meta.arch} has no variant {meta.variant[:40]!r}"
        )
    return get_spec(meta.arch, meta.variant)


def check_shapes(meta: ModelMeta, shapes: dict[str, tuple[int, ...]], origin: object) -> None:
    """That the tensors (name -> shape) are exactly those of the model ``meta`` describes; the error
    names the metadata field that disagrees (num_classes, in_chans, aux_logits) or the tensor."""
    spec = _spec(meta, origin)
    model = InceptionNet.on_meta(  # shapes only: nothing is allocated, whatever the metadata says
        spec, num_classes=meta.num_classes, in_chans=meta.in_chans, aux_logits=meta.aux_logits
    )
    want = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    first = next(iter(want))  # the stem's first convolution
    if first in shapes and shapes[first][1:2] != want[first][1:2]:
        raise WeightsError(
            f"{origin}: metadata field 'in_chans' says {meta.in_chans}, the tensors take {shapes[first][1]}"
        )
    fc = "fc.weight"
    if shapes.get(fc, (0,))[0] != want.get(fc, (0,))[0]:
        found = shapes.get(fc, (0,))[0]
        raise WeightsError(
            f"{origin}: metadata field 'num_classes' says {meta.num_classes}, the tensors have {found}"
        )
    for k in sorted(want.keys() ^ shapes.keys()):
        if k.startswith("aux."):
            raise WeightsError(
                f"{origin}: metadata field 'aux_logits' says {str(meta.aux_logits).lower()}, "
                f"and the file {'has' if k in shapes else 'lacks'} {k}"
            )
        raise WeightsError(
            f"{origin}: tensor {k} is {'not in the file' if k in want else 'not in the model'}"
        )
    for k, s in want.items():
        if shapes[k] != s:
            raise WeightsError(f"{origin}: tensor {k}: expected {s}, found {shapes[k]}")


def load_native(path: str | Path, *, device: str | torch.device = "cpu") -> InceptionNet:
    """Build the model an inceptionkit file describes and load it; ``model.weight_meta`` is set."""
    from safetensors.torch import load_file

    if read_native_metadata(path) is None:
        raise WeightsError(f"{path}: not an inceptionkit weight file (no inceptionkit metadata)")
    meta = read_native_meta(path)
    model = InceptionNet.uninitialised(  # the strict load below sets every tensor
        get_spec(meta.arch, meta.variant),
        num_classes=meta.num_classes,
        in_chans=meta.in_chans,
        aux_logits=meta.aux_logits,
    )
    state = load_file(str(path))
    check_finite(state, path)
    verify_tensors(state, meta.tensors_sha256, path)
    model.load_state_dict(state, strict=True)
    model.weight_meta = meta.weights
    return model.to(device)
