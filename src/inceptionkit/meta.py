"""The one record of what a file says about its model, written and read here and nowhere else.

inceptionkit weight files (safetensors metadata), ONNX exports (metadata properties) and training runs
carry a flat ``str -> str`` dictionary. :meth:`ModelMeta.to_metadata` writes it, and
:meth:`ModelMeta.from_metadata` reads it back, checking every field: a file is untrusted input, so a
bad field is a :class:`~inceptionkit.errors.WeightsError` naming the file and the field, never a
traceback or an allocation of whatever size the file asks for.

Keys (all strings): ``format`` = "inceptionkit", ``arch``, ``variant``, ``num_classes``, ``in_chans``,
``aux_logits`` ("true"/"false"), ``preprocess`` (JSON of :class:`~inceptionkit.preprocess.Preprocess`),
``classes`` (a JSON list of names, "imagenet1k", or "null"), ``source`` (where the weights came from),
``tag`` (the published weight set they were converted from, if any), ``tensors_sha256`` (a checksum
of the tensors, written by inceptionkit and verified on every load: see
:func:`inceptionkit.weights.native.tensors_sha256`; files from other tools have none). Any other key (a training run's
``train_step``, an export's ``input_size``) is kept as it is in ``extra``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import WeightsError
from .preprocess import MAX_IMG_SIZE, Preprocess, imagenet_categories

MAGIC = "inceptionkit"
MAX_CLASSES = 1_000_000  # more than any dataset; a file asking for more is refused before building
MAX_IN_CHANS = 64
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
KNOWN = ("format", "arch", "variant", "num_classes", "in_chans", "aux_logits", "preprocess", "classes")
KNOWN += ("source", "tag", "tensors_sha256")


@dataclass
class WeightMeta:
    """What a loaded model knows about its weights: how to feed it and what its outputs mean."""

    preprocess: Preprocess
    classes: list[str] | None = None
    source: str = ""
    tag: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelMeta:
    """A file's model: which network (arch, variant, head, input channels) and its :class:`WeightMeta`."""

    arch: str
    variant: str
    num_classes: int
    in_chans: int
    aux_logits: bool
    weights: WeightMeta
    tensors_sha256: str | None = None  # None: a file that carries no checksum (older, or another tool's)

    @classmethod
    def of(cls, model: Any, weights: WeightMeta) -> ModelMeta:
        """The record of ``model`` (an InceptionNet) with ``weights``."""
        return cls(
            model.spec.arch,
            model.spec.variant,
            int(model.num_classes),
            int(model.in_chans),
            bool(model.aux_logits),
            weights,
        )

    def to_metadata(self, **extra: object) -> dict[str, str]:
        """The flat metadata dictionary; ``extra`` keys (and ``weights.extra``) are added as strings."""
        w = self.weights
        return {
            "format": MAGIC,
            "arch": self.arch,
            "variant": self.variant,
            "num_classes": str(self.num_classes),
            "in_chans": str(self.in_chans),
            "aux_logits": str(self.aux_logits).lower(),
            "preprocess": w.preprocess.to_json(),
            "classes": classes_to_text(w.classes),
            "source": w.source,
            **({"tag": w.tag} if w.tag else {}),
            **w.extra,
            **{k: str(v) for k, v in extra.items()},
            **({"tensors_sha256": self.tensors_sha256} if self.tensors_sha256 else {}),
        }

    @classmethod
    def from_metadata(cls, md: dict[str, str], origin: object = "metadata") -> ModelMeta:
        """The record in ``md``, every field checked (a :class:`WeightsError` naming ``origin`` and the
        field otherwise)."""
        if md.get("format") != MAGIC:
            raise WeightsError(f"{origin}: not an inceptionkit file (no inceptionkit metadata)")
        f = _Fields(md, origin)
        num_classes = f.integer("num_classes", 0, MAX_CLASSES)
        in_chans = f.integer("in_chans", 1, MAX_IN_CHANS, default=3)
        classes = f.classes(num_classes)
        weights = WeightMeta(
            preprocess=f.preprocess(),
            classes=classes,
            source=f.text("source", ""),
            tag=md.get("tag"),
            extra={k: v for k, v in md.items() if k not in KNOWN},
        )
        aux = f.choice("aux_logits", ("true", "false"), default="false") == "true"
        checksum = f.hex_digest("tensors_sha256") if "tensors_sha256" in md else None
        return cls(f.text("arch"), f.text("variant"), num_classes, in_chans, aux, weights, checksum)


def classes_to_text(classes: list[str] | None) -> str:
    """Class names as stored in metadata: "imagenet1k" for ImageNet-1k's, else a JSON list (or null)."""
    if classes is not None and classes == imagenet_categories():
        return "imagenet1k"
    return json.dumps(classes, allow_nan=False)


class _Fields:
    """Reads and checks the fields of one metadata dictionary."""

    def __init__(self, md: dict[str, str], origin: object) -> None:
        self.md, self.origin = md, origin

    def bad(self, name: str, why: str) -> WeightsError:
        return WeightsError(f"{self.origin}: metadata field {name!r}: {why}")

    def text(self, name: str, default: str | None = None) -> str:
        v = self.md.get(name, default)
        if v is None:
            raise self.bad(name, "missing")
        if not isinstance(v, str):
            raise self.bad(name, f"expected text, found {type(v).__name__}")
        return v

    def integer(self, name: str, lo: int, hi: int, default: int | None = None) -> int:
        text = self.text(name, None if default is None else str(default))
        try:
            n = int(text)
        except ValueError:
            raise self.bad(name, f"expected an integer, found {text[:40]!r}") from None
        if not lo <= n <= hi:
            raise self.bad(name, f"{n} is outside {lo}..{hi}")
        return n

    def hex_digest(self, name: str) -> str:
        v = self.text(name)
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise self.bad(name, "expected 64 lowercase hexadecimal digits (a SHA-256)")
        return v

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        v = self.text(name, default)
        if v not in allowed:
            raise self.bad(name, f"expected one of {', '.join(allowed)}, found {v[:40]!r}")
        return v

    def json(self, name: str, default: str | None = None) -> Any:
        text = self.text(name, default)
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise self.bad(name, "not valid JSON") from None

    def classes(self, num_classes: int) -> list[str] | None:
        if self.md.get("classes") == "imagenet1k":
            classes = imagenet_categories()
        else:
            classes = self.json("classes", "null")
        if classes is None:
            return None
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise self.bad("classes", 'expected a JSON list of names, "imagenet1k" or null')
        if len(classes) != num_classes:
            raise self.bad("classes", f"{len(classes)} names for {num_classes} classes (num_classes)")
        return classes

    def preprocess(self) -> Preprocess:
        d = self.json("preprocess")
        if not isinstance(d, dict):
            raise self.bad("preprocess", "expected a JSON object")
        names = {f.name for f in fields(Preprocess)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise self.bad("preprocess", f"unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
        return check_preprocess(d, lambda why: self.bad("preprocess", why))


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_preprocess(d: dict[str, Any], bad: Any) -> Preprocess:
    """A :class:`Preprocess` from the plain values in ``d``, each checked; ``bad(why)`` makes the error."""
    size, crop = d.get("size", 299), d.get("crop_pct", 0.875)
    channels = d.get("channels", 3)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_IMG_SIZE:
        raise bad(f"size: expected an integer in 1..{MAX_IMG_SIZE}, found {str(size)[:40]}")
    if crop is not None and not (_number(crop) and 0 < crop <= 1):
        raise bad(f"crop_pct: expected null or a number in (0, 1], found {str(crop)[:40]}")
    if d.get("interpolation", "bilinear") not in INTERPOLATIONS:
        raise bad(f"interpolation: expected one of {', '.join(INTERPOLATIONS)}")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise bad(f"channels: expected 1 or 3, found {str(channels)[:40]}")
    out = {**d}
    for key in ("mean", "std"):
        v = d.get(key, (0.5,) * channels)
        if not isinstance(v, list | tuple) or len(v) != channels or not all(_number(x) for x in v):
            raise bad(f"{key}: expected {channels} finite numbers")
        if key == "std" and not all(x > 0 for x in v):
            raise bad("std: every value must be positive")
        out[key] = tuple(float(x) for x in v)
    return Preprocess(**out)
