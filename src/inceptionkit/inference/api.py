"""Classify images and extract features: files, folders, PIL images or tensors in, one result each out.

Both run on any engine (:mod:`inceptionkit.engines`): ``torch`` (the default in Python: exact fp32),
a named faster one, or ``auto`` (the command line's default), which measures the engines this
machine can run on the first batches and keeps the fastest whose outputs stay within tolerance of
fp32 (see :mod:`inceptionkit.engines.auto`). How they run is the one record of run settings,
:class:`~inceptionkit.settings.RunSettings` (``settings=``); each of its fields may also be given as a
keyword argument. In Python the engine is ``torch`` unless asked; the batch size 16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import torch

from ..engines import LOGITS, Task
from ..engines.auto import MEASURE_IMAGES, engine_for
from ..engines.build import check_device
from ..engines.export import default_preprocess
from ..errors import UsageError
from ..model import InceptionNet
from ..preprocess import Preprocess
from ..settings import RunSettings, settings_from
from .models import load_model
from .pipeline import ImageInput, Run, run_batches
from .results import Features, Prediction, Predictions, top_k

Pool = Literal["avg", "max", "none"]
BATCH_SIZE = 16  # predict's and features' batch when the settings give none
RunOptions = RunSettings  # the record's name before it was shared by every job


def predict(
    model_or_name: InceptionNet | Callable[[torch.Tensor], torch.Tensor] | str,
    images: ImageInput | Iterable[ImageInput],
    settings: RunSettings | None = None,
    *,
    weights: str | Path | None = None,
    variant: str | None = None,
    top: int = 5,
    preprocess: Preprocess | None = None,
    **overrides: object,
) -> Predictions:
    """The ``top`` most likely classes of each image, in input order (folders expand to their files),
    and the engine that ran them (``.engine``).

    ``model_or_name``: an :class:`InceptionNet` (its ``weight_meta`` gives the preprocessing and
    class names), a model name (with ``weights``, or a published set in the download cache;
    ``variant`` optional), or any callable from a float NCHW batch to logits with
    ``preprocess``/``classes`` attributes (an ONNX runner, run on the CPU). ``images``: paths (files
    or folders), PIL images, or already preprocessed tensors (C, H, W) or (N, C, H, W).
    ``settings`` (or its fields as keywords, e.g. ``batch_size=8, engine="auto"``): how to run;
    ``preprocess`` overrides the model's recipe.
    An image whose logits are not finite gets an error, never a NaN probability.
    """
    opts = settings_from(settings, overrides)
    if top < 1:
        raise UsageError(f"top must be at least 1, got {top}")
    model = _resolve(model_or_name, weights, variant)
    _refuse_headless(model)
    recipe, classes = _recipe(model, preprocess)
    results = Predictions()
    for paths, logits, errors in _run(model, images, recipe, LOGITS, opts, results):
        answers = iter(top_k(logits, top, classes) if logits is not None else [])
        for p, e in zip(paths, errors, strict=True):
            answer = None if e else next(answers)
            error = e or (answer if isinstance(answer, str) else None)
            results.append(Prediction(p, error=error) if error else Prediction(p, top=answer))
    return results


def extract_features(
    model_or_name: InceptionNet | str,
    images: ImageInput | Iterable[ImageInput],
    settings: RunSettings | None = None,
    *,
    weights: str | Path | None = None,
    variant: str | None = None,
    layer: str | None = None,
    pool: Pool = "avg",
    preprocess: Preprocess | None = None,
    **overrides: object,
) -> Features:
    """Features of each readable image: the output of stage ``layer`` (default: the last one, what
    ``model.forward_features`` gives; keras names such as ``mixed5`` work), pooled over space with
    the model's own global pooling (``avg``, i.e. ``model.forward_head(x, pre_logits=True)``), by
    maximum (``max``) or not at all (``none``). Other arguments as for :func:`predict`."""
    opts = settings_from(settings, overrides)
    if pool not in ("avg", "max", "none"):
        raise UsageError(f"pool must be avg, max or none, got {pool!r}")
    model = _resolve(model_or_name, weights, variant)
    if not isinstance(model, InceptionNet):
        raise UsageError("features need an inceptionkit model (InceptionNet), not an exported one")
    if layer is not None:
        model.spec.resolve(layer)  # an unknown stage fails now, not after decoding every image
    recipe, _ = _recipe(model, preprocess)
    kept: list[str | None] = []
    outputs: list[torch.Tensor] = []
    failed: list[tuple[str | None, str]] = []
    used = Predictions()  # only its ``engine`` is used
    for paths, out, errors in _run(model, images, recipe, Task(True, layer, pool), opts, used):
        kept += [p for p, e in zip(paths, errors, strict=True) if not e]
        failed += [(p, e) for p, e in zip(paths, errors, strict=True) if e]
        if out is not None:
            outputs.append(out.float().cpu())
    features = torch.cat(outputs) if outputs else torch.empty(0)
    return Features(kept, features, failed, used.engine)


# -- internals ---------------------------------------------------------------------------------------


def _resolve(model_or_name, weights, variant):
    if isinstance(model_or_name, str):
        return load_model(model_or_name, weights, variant=variant)
    if weights is not None or variant is not None:
        raise UsageError("weights and variant apply only to a model given by name")
    return model_or_name


def _refuse_headless(model: object) -> None:
    heads = model.num_classes if isinstance(model, InceptionNet) else None
    metadata = getattr(model, "metadata", None)
    if isinstance(metadata, dict) and metadata.get("num_classes") == "0":
        heads = 0
    if heads == 0:
        raise UsageError(
            "this model has no classifier (num_classes 0): its outputs are features, not classes; "
            "use `inceptionkit features` (Python: extract_features)"
        )


def _recipe(model: object, preprocess: Preprocess | None) -> tuple[Preprocess, list[str] | None]:
    meta = getattr(model, "weight_meta", None)
    known = meta.preprocess if meta else getattr(model, "preprocess", None)
    classes = meta.classes if meta else getattr(model, "classes", None)
    if preprocess or known:
        return preprocess or known, classes
    if isinstance(model, InceptionNet):
        return default_preprocess(model.spec, model.in_chans), classes
    return default_preprocess(), classes


def _run(model, images, recipe: Preprocess, task: Task, opts: RunSettings, record: Predictions):
    opts = opts.replace(engine=opts.engine or "torch")  # in Python, exact fp32 unless asked
    """The pipeline's batches with the engine ``opts`` asks for; its name goes to ``record.engine``."""
    if isinstance(model, InceptionNet):
        model.check_input(torch.empty(1, recipe.channels, recipe.size, recipe.size, device="meta"))
        chooser = engine_for(model, task, recipe, opts, batch_size=opts.batch(BATCH_SIZE))
        make, device = chooser, chooser.device
    else:  # an engine of its own (an ONNX runner), fed from the CPU
        if opts.engine not in ("torch", "auto", "onnxruntime"):
            raise UsageError(f"an ONNX file runs in ONNX Runtime, not with the {opts.engine} engine")
        check_device("onnxruntime", opts.device)
        make, device = (lambda first: model), torch.device("cpu")

    def named(first: list[torch.Tensor]) -> Run:
        engine = make(first)
        record.engine = getattr(engine, "name", "onnxruntime")  # an ONNX runner has no name
        return engine

    return run_batches(
        images,
        recipe,
        named,
        batch_size=opts.batch(BATCH_SIZE),
        workers=opts.workers,
        progress=opts.progress,
        max_pixels=opts.max_pixels,
        lookahead=MEASURE_IMAGES if opts.engine == "auto" else 0,
        pin_memory=device.type == "cuda",
    )
