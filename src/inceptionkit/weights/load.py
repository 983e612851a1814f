"""``create_model(name, weights=...)``: any supported file or published tag into the right variant.

The format comes from the file's content (:func:`~inceptionkit.weights.formats.detect_format`):

- HDF5: a keras weight file, legacy or keras 3 layout (:mod:`.keras`), or a keras 3 ``.keras``
  archive (a zip around the same HDF5 layout), mapped by layer order and type;
- safetensors with inceptionkit metadata: our own format;
- other safetensors, and ``torch.save`` files: a torchvision or timm state dict, mapped by tensor
  order and shape (:mod:`.mapping`). safetensors files keep no order, so theirs is taken from the
  implementation that named the tensors: ours, or a reference (timm, torchvision) whose order is
  shipped as package data (:mod:`.refs`): neither library is needed at run time.

Without a ``variant``, keras files take the ``keras`` variant and state dicts the first other
variant (the architecture's default first) whose shapes they fit; the choice is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..model import InceptionNet
from ..preprocess import Preprocess, imagenet_categories
from ..registry import (
    WEIGHT_SETS,
    default_variant,
    default_weight_set,
    get_spec,
    list_models,
    list_variants,
    list_weights,
)
from ..spec import NetSpec
from ..weight_sets import WeightSet
from .channels import adapt_channels, file_channels
from .formats import WeightsError, check_file, detect_format, read_safetensors, read_torch
from .hub import download
from .keras import keras_found, read_keras
from .mapping import (
    SKIP,
    fresh_keys,
    load_found,
    match,
    order_by_names,
    source_classes,
    source_leaves,
    template,
)
from .native import MAGIC, WeightMeta, read_native_meta, verify_tensors
from .refs import reference_keys

log = logging.getLogger("inceptionkit.weights")


@dataclass
class Source:
    """What a weight file provides for one variant: our tensors, and how we got them."""

    found: dict[str, torch.Tensor]
    variant: str
    kind: str  # "keras legacy HDF5", "keras 3 weights", "PyTorch state dict", ...
    meta: WeightMeta | None = None  # inceptionkit files carry their own
    chosen: str = ""  # why this variant, when the caller named none
    in_chans: int = 3
    adapted: str = ""  # what was done to the first convolution for other input channels


def resolve(name: str, weights: str | Path) -> tuple[Path, WeightSet | None]:
    """The local file for ``weights`` (a path, or a tag of ``name``'s published weights: downloaded
    into the cache)."""
    p = Path(weights)
    if p.exists():
        return check_file(p), None
    if str(weights) in WEIGHT_SETS:
        ws = WEIGHT_SETS[str(weights)]
        if ws.arch != name:
            raise WeightsError(f"{ws.tag}: weights for {ws.arch}, not {name}")
        return download(ws), ws
    raise WeightsError(
        f"{weights}: no such file, and no published weights of that name "
        "(`inceptionkit weights list` shows them)"
    )


def _variants_for_state_dicts(name: str) -> list[str]:
    """Default variant first; keras variants last (their BN says keras, not torchvision or timm)."""
    return sorted(list_variants(name), key=lambda v: (v == "keras", v != default_variant(name)))


def _all_specs() -> Iterator:
    for arch in list_models():
        for v in list_variants(arch):
            yield get_spec(arch, v)


def _fits_keras(spec, stored) -> bool:
    try:
        return keras_found(spec, stored)[0] is not None
    except ValueError:  # no keras graph for this spec (LRN, adaptive pooling)
        return False


def _suggestion(fits: list[str]) -> str:
    return f"; it fits {', '.join(fits)}" if fits else "; it fits no model or variant here"


def _from_keras(name: str, path: Path, variant: str | None) -> Source:
    layout, stored = read_keras(path)
    kind = "keras legacy HDF5" if layout == "legacy" else "keras 3 weights"
    if variant is None and "keras" not in list_variants(name):
        fits = [
            f"{s.arch} ({s.variant})" for s in _all_specs() if s.variant == "keras" and _fits_keras(s, stored)
        ]
        raise WeightsError(f"{path}: a {kind} file, and {name} has no keras variant{_suggestion(fits)}")
    spec = get_spec(name, variant or "keras")
    found, misfit = keras_found(spec, stored)
    if found is None:
        fits = [f"{s.arch} ({s.variant})" for s in _all_specs() if s != spec and _fits_keras(s, stored)]
        raise WeightsError(f"{path}: does not fit {name} ({spec.variant}): {misfit}{_suggestion(fits)}")
    return Source(found, spec.variant, kind, chosen="" if variant else "a keras file")


def _name_orders(name: str) -> Iterator[tuple[str, ...]]:
    for v in list_variants(name):
        yield tuple(template(get_spec(name, v)).state_dict())
    for ref in dict.fromkeys(ws.reference for ws in list_weights(name) if ws.reference):
        keys = reference_keys(ref)
        if keys is not None:
            yield keys


def _by_class_count(name: str, fits: list[tuple[str, dict]]) -> tuple[str, dict]:
    """Of the variants whose shapes fit, the first with a published weight set of the file's class
    count (a 1008-class state dict is the FID network's, not torchvision's), else the first."""
    for v, found in fits:
        classes = source_classes(found)
        if classes and any(ws.variant == v and ws.num_classes == classes for ws in list_weights(name)):
            return v, found
    return fits[0]


def _why_chosen(kind: str, v: str, fits: list[tuple[str, dict]]) -> str:
    if v == fits[0][0]:
        return f"the first whose shapes fit a {kind}"
    return f"its published weights have the file's {source_classes(dict(fits)[v])} classes"


def _from_state_dict(name: str, path: Path, state, kind: str, variant: str | None) -> Source:
    leaves = source_leaves(state)
    in_chans = file_channels(leaves)
    candidates = [variant] if variant else _variants_for_state_dicts(name)
    first = None
    fits: list[tuple[str, dict]] = []
    for v in candidates:
        m = match(get_spec(name, v), leaves, in_chans)
        if m.ok:
            fits.append((v, m.found))
        first = first or m
    if fits:
        v, found = _by_class_count(name, fits)
        chosen = "" if variant else _why_chosen(kind, v, fits)
        return Source(found, v, kind, chosen=chosen, in_chans=in_chans)
    tried = {(name, v) for v in candidates}
    fits = [
        f"{s.arch} ({s.variant})"
        for s in _all_specs()
        if (s.arch, s.variant) not in tried and match(s, leaves).ok
    ]
    raise WeightsError(f"{path}: does not fit {name} ({candidates[0]}): {first.problem()}{_suggestion(fits)}")


def read_source(name: str, path: Path, variant: str | None, in_chans: int | None = None) -> Source:
    """Our tensors from the weight file at ``path``, for ``name`` in ``variant`` (or the one that fits).

    ``in_chans=None``: the file's own input channels; another count adapts the first convolution
    (:mod:`.channels`), whatever the source.
    """
    src = _read_source(name, path, variant)
    src.in_chans, src.adapted = adapt_channels(src.found, get_spec(name, src.variant), in_chans)
    return src


def _read_source(name: str, path: Path, variant: str | None) -> Source:
    fmt = detect_format(path)
    if fmt in ("hdf5", "keras_zip"):
        return _from_keras(name, path, variant)
    if fmt == "torch":
        return _from_state_dict(name, path, read_torch(path), "PyTorch state dict", variant)
    tensors, md = read_safetensors(path)
    if md.get("format") == MAGIC:
        meta = read_native_meta(path)
        if meta.arch != name:
            raise WeightsError(
                f"{path}: holds {meta.arch} ({meta.variant}) weights, not {name}; "
                f"it fits {meta.arch} ({meta.variant})"
            )
        variant = variant or meta.variant
        names = tuple(template(get_spec(name, variant), meta.in_chans).state_dict())
        ordered = order_by_names(tensors, [names])
        if ordered is None:
            raise WeightsError(f"{path}: its tensor names are not those of {name} ({variant})")
        src = _from_state_dict(name, path, ordered, "inceptionkit file", variant)
        verify_tensors(tensors, meta.tensors_sha256, path)
        src.meta = meta.weights
        return src
    ordered = order_by_names(tensors, _name_orders(name))
    if ordered is None:
        raise WeightsError(
            f"{path}: a safetensors file keeps no tensor order, and its tensor names are not those of "
            f"{name} in inceptionkit or of a known reference (timm, torchvision); "
            "save it with torch.save instead"
        )
    return _from_state_dict(name, path, ordered, "safetensors state dict", variant)


def _meta(
    src: Source, ws: WeightSet | None, model: InceptionNet, path: Path, head_loaded: bool
) -> WeightMeta:
    if src.meta is not None:
        meta = src.meta
        meta.classes = meta.classes if head_loaded else None
        meta.preprocess = for_channels(meta.preprocess, model.in_chans)
        return meta
    ws_for_recipe = ws or default_weight_set(model.spec.arch, src.variant)
    preprocess = ws_for_recipe.preprocess if ws_for_recipe else Preprocess(size=model.spec.default_size)
    # a published set names its classes; a bare file with 1000 classes is taken for ImageNet-1k
    labels = ws.classes if ws else imagenet_categories() if model.num_classes == 1000 else None
    classes = labels if head_loaded else None
    preprocess = for_channels(preprocess, model.in_chans)
    return WeightMeta(preprocess, classes, source=f"{src.kind} {path}", tag=ws.tag if ws else None)


def for_channels(pre: Preprocess, in_chans: int) -> Preprocess:
    """A colour recipe for a model adapted to one (grey) input channel: grey images, the mean of the
    colours' mean and std (any other count keeps the recipe: images have 1 or 3 channels)."""
    if in_chans != 1 or pre.channels == 1:
        return pre
    return replace(pre, channels=1, mean=(sum(pre.mean) / 3,), std=(sum(pre.std) / 3,))


def load_pretrained(
    name: str,
    weights: str | Path,
    *,
    variant: str | None = None,
    num_classes: int | None = None,
    aux_logits: bool = False,
    in_chans: int | None = None,
    drop_rate: float | None = None,
) -> tuple[InceptionNet, list[tuple[int, str]]]:
    """Build ``name`` with ``weights`` (a file or a published tag); also (logging level, note) pairs.

    ``num_classes=None`` takes the file's classifier (the variant's default count if the file has none). A different
    count loads the backbone and keeps a fresh classifier; the notes say so.
    """
    path, ws = resolve(name, weights)
    src = read_source(name, path, variant or (ws.variant if ws else None), in_chans)
    notes = [(logging.INFO, f"variant {src.variant} (chosen: {src.chosen})")] if src.chosen else []
    notes += [(logging.INFO, src.adapted)] if src.adapted else []
    file_classes = source_classes(src.found)
    n = (file_classes or get_spec(name, src.variant).default_classes) if num_classes is None else num_classes
    options = dict(num_classes=n, in_chans=src.in_chans, aux_logits=aux_logits, drop_rate=drop_rate)
    model = built_for(get_spec(name, src.variant), src.found, **options)
    notes += load_found(model, src.found, str(path))
    model.weight_meta = _meta(src, ws, model, path, head_loaded=bool(n) and file_classes == n)
    return model, notes


def built_for(spec: NetSpec, found: Mapping[str, torch.Tensor], **options: Any) -> InceptionNet:
    """``InceptionNet(spec, **options)`` to be loaded with ``found``: left uninitialised
    (:meth:`InceptionNet.uninitialised`) when ``found`` gives every tensor (batch norm's step counters
    aside), as :func:`~inceptionkit.weights.mapping.load_found` then overwrites them all; initialised
    as ever where the file leaves one fresh (a new classifier, an auxiliary head)."""
    skeleton = InceptionNet.on_meta(spec, **options)
    fresh = fresh_keys(skeleton.state_dict(), found, skeleton.num_classes)
    if any(not k.endswith(SKIP) for k in fresh):
        return InceptionNet(spec, **options)
    return InceptionNet.uninitialised(spec, skeleton, **options)


def create_with_weights(name: str, weights: str | Path, **kwargs: Any) -> InceptionNet:
    """:func:`load_pretrained`, with its notes logged (the variant choice at INFO, the rest as warnings)."""
    model, notes = load_pretrained(name, weights, **kwargs)
    for level, note in notes:
        log.log(level, "%s: %s", weights, note)
    return model
