"""What to calibrate an int8 model on, and what to compare it with fp32 on: real images like those
the model will see — never a stand-in the user did not choose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import DIGITS, Samples, limit, load_digits
from ..errors import DataError, InputError, UsageError
from ..images import find_images, load_image
from ..loader import load_batches
from ..model import InceptionNet
from ..preprocess import Preprocess
from .export import export_meta

UNLABELLED = -1  # the target of an image whose class is not known
TRAINED = "trained by inceptionkit"  # how a training run's weights name their source


@dataclass(frozen=True)
class Batch:
    """Preprocessed images and, when every one's class is known, their class indices."""

    x: torch.Tensor
    y: torch.Tensor | None = None


def folder_samples(folder: str | Path, classes: list[str] | None) -> Samples:
    """The images under ``folder`` (recursively), each labelled with the index in ``classes`` of the
    sub-folder it is in (ImageFolder layout), or :data:`UNLABELLED`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    found = [s.path for s in find_images([folder]) if not s.error]
    if not found:
        raise DataError(f"{folder}: no images in this folder (looked for .jpg, .png, ... in it and below)")
    index = {c: i for i, c in enumerate(classes or [])}
    parts = [Path(p).relative_to(folder).parts for p in found]
    return Samples(
        found, [index.get(q[0], UNLABELLED) if len(q) > 1 else UNLABELLED for q in parts], load_image
    )


@dataclass
class Skipped:
    """The files :func:`image_batches` could not decode: ``(name, reason)`` each."""

    files: list[tuple[str, str]] = field(default_factory=list)

    def describe(self, most: int = 3) -> str:
        names = ", ".join(f"{n} ({why})" for n, why in self.files[:most])
        more = f" and {len(self.files) - most} more" if len(self.files) > most else ""
        return f"{len(self.files)} file(s) did not decode and were left out: {names}{more}"


class _Prepared:
    """Sample ``i`` through ``transform`` (a picklable transform for the loading loop)."""

    def __init__(self, samples: Samples, transform) -> None:
        self.samples, self.transform = samples, transform

    def __call__(self, i: int) -> torch.Tensor:
        return self.transform(self.samples.load(i))


def image_batches(
    samples: Samples, recipe: Preprocess, batch_size: int, skipped: Skipped | None = None, workers: int = 0
) -> Iterator[Batch]:
    """``samples`` preprocessed with ``recipe``, in batches, through the one loading loop; files that
    do not decode are left out (and listed in ``skipped``)."""
    for b in load_batches(
        range(len(samples)), _Prepared(samples, recipe.transform()), batch_size=batch_size, workers=workers,
        progress=False,
    ):
        if skipped is not None:
            skipped.files += [(str(samples.items[i]), e) for i, e in zip(b.indices, b.errors, strict=True) if e]
        if b.batch is not None:
            ys = [samples.targets[i] for i in b.good]
            yield Batch(b.batch, torch.tensor(ys) if min(ys) > UNLABELLED else None)


@dataclass
class QuantizationData:
    """What to calibrate an int8 model on and what to compare it with fp32 on."""

    calibration: Samples
    calibration_from: str  # where those images come from, for people
    evaluation: Samples
    evaluation_from: str


def training_data(model: InceptionNet, checkpoint: str | Path | None = None) -> str | None:
    """What the run that made ``model``'s weights trained on: ``"digits"``, a folder, or None when
    the weights do not come from a training run. A run's weights record it (``dataset``); older ones
    are looked up in the run folder's ``config.json`` next to ``checkpoint``. A run whose data cannot
    be found is refused: calibrating it on anything else would be silently wrong."""
    meta = model.weight_meta
    if meta is None or not meta.source.startswith(TRAINED):
        return None
    if "dataset" in meta.extra:
        return meta.extra["dataset"]
    config = Path(checkpoint).parent / "config.json" if checkpoint else None
    try:
        doc = json.loads(config.read_text()) if config else None
        return doc["config"]["data"] or DIGITS
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"{checkpoint or 'these weights'}: the training run does not say what it trained on (no "
            "readable config.json next to it); pass --calibration DIR with images like those"
        ) from None


def _default_pool(model: InceptionNet, checkpoint: str | Path | None) -> tuple[Samples, str, Samples, str]:
    data = training_data(model, checkpoint)
    if data == DIGITS or (data is None and model.spec.arch == "inception_small"):
        digits = load_digits()
        return (
            digits.train,
            "the built-in digits' training split",
            digits.test,
            "the built-in digits' held-out test split",
        )
    if data is not None:
        if not Path(data).is_dir():
            raise UsageError(
                f"the run was trained on {data}, which is not there any more; pass --calibration DIR "
                "with images like those"
            )
        pool = folder_samples(data, export_meta(model).classes)
        return pool, f"{data} (the run's training data)", pool, f"{data} (the run's training data)"
    raise UsageError(
        "int8 calibration needs a folder of images like those the model will see "
        "(--calibration DIR); only inception_small has a built-in one (the digits)"
    )


def quantization_data(
    model: InceptionNet,
    calibration: str | Path | None,
    evaluation: str | Path | None = None,
    *,
    samples: int = 100,
    checkpoint: str | Path | None = None,
) -> QuantizationData:
    """``samples`` random images of the ``calibration`` folder, and the images to compare int8 with
    fp32 on: the ``evaluation`` folder, else a held-out split, else the calibration folder.

    Without ``calibration``: the data the weights were trained on (a training run records it, see
    :func:`training_data`), or for ``inception_small`` without a run the built-in digits."""
    if samples < 1:
        raise UsageError(f"the calibration sample count must be at least 1; got {samples}")
    classes = export_meta(model).classes
    if calibration is not None:
        pool, pool_name = folder_samples(calibration, classes), str(calibration)
        held_out, held_name = pool, f"{calibration} (the calibration folder)"
    else:
        pool, pool_name, held_out, held_name = _default_pool(model, checkpoint)
    if evaluation is not None:
        held_out, held_name = folder_samples(evaluation, classes), str(evaluation)
    return QuantizationData(limit(pool, samples), pool_name, held_out, held_name)
