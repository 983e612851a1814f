"""inceptionkit's own weight format: a safetensors file whose metadata says what it holds.

The metadata is a :class:`~inceptionkit.meta.ModelMeta` (see :mod:`inceptionkit.meta` for its keys),
written and read there; reading checks every field and that the tensors are those the metadata
describes, before any model is built. Files are written atomically (:func:`~inceptionkit.fileio.atomic_write`).
"""

from __future__ import annotations

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
]


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
    """The metadata of an inceptionkit weight file for ``model`` and ``meta`` (:class:`ModelMeta`)."""
    return ModelMeta.of(model, meta).to_metadata(**(extra or {}))


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
    with torch.device("meta"):  # shapes only: nothing is allocated, whatever the metadata says
        model = InceptionNet(
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
    model = InceptionNet(
        get_spec(meta.arch, meta.variant),
        num_classes=meta.num_classes,
        in_chans=meta.in_chans,
        aux_logits=meta.aux_logits,
    )
    state = load_file(str(path), device=str(device))
    check_finite(state, path)
    model.load_state_dict(state, strict=True)
    model.weight_meta = meta.weights
    return model.to(device)
