"""inceptionkit's own weight format: a safetensors file whose metadata says what it holds.

Metadata keys (all strings): ``format`` = "inceptionkit", ``arch``, ``variant``, ``num_classes``,
``in_chans``, ``aux_logits``, ``preprocess`` (JSON of :class:`~inceptionkit.preprocess.Preprocess`),
``classes`` (a JSON list of names, or "imagenet1k"), ``source`` (where the weights came from), ``tag``
(the published weight set they were converted from, if any).
Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..fileio import atomic_write
from ..preprocess import Preprocess, imagenet_categories

MAGIC = "inceptionkit"


@dataclass
class WeightMeta:
    """What a loaded model knows about its weights: how to feed it and what its outputs mean."""

    preprocess: Preprocess
    classes: list[str] | None = None
    source: str = ""
    tag: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def classes_to_text(classes: list[str] | None) -> str:
    """Class names as stored in metadata: "imagenet1k" for ImageNet-1k's, else a JSON list (or null)."""
    return "imagenet1k" if classes is not None and classes == imagenet_categories() else json.dumps(classes)


def classes_from_text(text: str) -> list[str] | None:
    return imagenet_categories() if text == "imagenet1k" else json.loads(text)


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
    """The metadata of an inceptionkit weight file for ``model`` and ``meta``."""
    classes_text = classes_to_text(meta.classes)
    return {
        "format": MAGIC,
        "arch": model.spec.arch,
        "variant": model.spec.variant,
        "num_classes": str(model.num_classes),
        "in_chans": str(model.in_chans),
        "aux_logits": str(bool(model.aux_logits)).lower(),
        "preprocess": meta.preprocess.to_json(),
        "classes": classes_text,
        "source": meta.source,
        **({"tag": meta.tag} if meta.tag else {}),
        **meta.extra,
        **(extra or {}),
    }


def read_native_metadata(path: str | Path) -> dict[str, str] | None:
    """The metadata of an inceptionkit safetensors file, or None if it is not one."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:
        return None
    return meta if meta.get("format") == MAGIC else None


def meta_from_metadata(md: dict[str, str]) -> WeightMeta:
    classes_text = md.get("classes", "null")
    classes = classes_from_text(classes_text)
    known = {
        "format",
        "arch",
        "variant",
        "num_classes",
        "in_chans",
        "aux_logits",
        "preprocess",
        "classes",
        "source",
        "tag",
    }
    return WeightMeta(
        preprocess=Preprocess.from_json(md["preprocess"]),
        classes=classes,
        source=md.get("source", ""),
        tag=md.get("tag"),
        extra={k: v for k, v in md.items() if k not in known},
    )


def load_native(path: str | Path, *, device: str | torch.device = "cpu"):
    """Build the model an inceptionkit file describes and load it; ``model.weight_meta`` is set."""
    from safetensors.torch import load_file

    from ..registry import create_model

    md = read_native_metadata(path)
    if md is None:
        raise ValueError(f"{path}: not an inceptionkit weight file (no inceptionkit metadata)")
    model = create_model(
        md["arch"],
        variant=md["variant"],
        num_classes=int(md["num_classes"]),
        in_chans=int(md.get("in_chans", 3)),
        aux_logits=md.get("aux_logits") == "true",
    )
    state = load_file(str(path), device=str(device))
    model.load_state_dict(state, strict=True)
    model.weight_meta = meta_from_metadata(md)
    return model.to(device)
