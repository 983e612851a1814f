"""Classify images and extract features: files, folders, PIL images or tensors in, one result each out.

Decoding and preprocessing run in background workers (a torch ``DataLoader``) while the model works
on the previous batch. Each worker hands back, per image, either the preprocessed tensor or the
one-line reason it could not be read, so a bad file becomes that file's result and never stops the run.
The model is only ever called as ``logits = run(batch)``: an ONNX Runtime session (see
:mod:`inceptionkit.export`) drops in for the PyTorch module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .images import ImageError, Source, as_mode, find_images, load_image
from .model import InceptionNet
from .preprocess import Preprocess
from .registry import get_spec
from .spec import NetSpec

ImageInput = str | os.PathLike | Image.Image | torch.Tensor
Pool = Literal["avg", "max", "none"]
SCREENFUL = 20  # more images than this get a progress bar (when stderr is a terminal)


@dataclass(frozen=True)
class Guess:
    index: int
    label: str | None
    probability: float


@dataclass
class Prediction:
    """The result for one image: ``top`` guesses, most likely first, or the ``error`` that stopped it.

    ``path`` is None for images given in memory (PIL images, tensors).
    """

    path: str | None
    top: list[Guess] | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "top": [asdict(g) for g in self.top or []]}


@dataclass
class Features:
    """Feature vectors (or maps) of the readable images, in input order, and the images that failed."""

    paths: list[str | None]
    features: torch.Tensor  # (N, C) pooled, or (N, C, H, W) with pool="none"
    failed: list[tuple[str | None, str]]

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (atomically): ``features``, ``paths``, ``failed_paths``, ``failed_errors``."""
        import numpy as np

        from .fileio import atomic_write

        def strings(xs: Iterable[str | None]) -> np.ndarray:
            return np.array([x or "" for x in xs], dtype=str)  # in-memory images have no path

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(
                    f,
                    features=self.features.numpy(),
                    paths=strings(self.paths),
                    failed_paths=strings(p for p, _ in self.failed),
                    failed_errors=strings(e for _, e in self.failed),
                )

        atomic_write(path, write)


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


def published_tags(name: str, variant: str | None = None) -> list[str]:
    """Tags of the published weight sets for ``name`` (in ``variant`` if given)."""
    from .weights import list_weights

    return [ws.tag for ws in list_weights(name) if variant is None or ws.variant == variant]


def cached_tag(name: str, variant: str | None = None) -> str | None:
    """The first published weight set for ``name`` already in the download cache, if any."""
    from .weights import get_weight_set
    from .weights.hub import cached_path

    return next((t for t in published_tags(name, variant) if cached_path(get_weight_set(t)).is_file()), None)


def load_model(name: str | None, weights: str | Path | None, *, variant: str | None = None) -> InceptionNet:
    """``name`` with ``weights`` (a file or a published tag), and its own classifier. ``name`` may be
    None for an inceptionkit file, which says which model it holds. Without ``weights``, a published
    set already in the download cache is used; without one either, this refuses to go on."""
    from .weights import create_with_weights, load_native, read_native_metadata

    if name is not None:
        get_spec(name, variant)  # an unknown model or variant is the error to report, not missing weights
    if weights is None:
        weights = cached_tag(name, variant) if name else None
        if weights is None:
            tags = published_tags(name) if name else []
            offer = f"a published tag ({', '.join(tags)}) or " if tags else ""
            raise ValueError(
                f"no weights for {name or 'the model'}, and none in the download cache: running it with "
                f"random weights would be meaningless; pass --weights (Python: weights=) {offer}a weight "
                "file (keras .h5, torchvision/timm state dict, inceptionkit .safetensors)"
            )
    if name is None:
        if read_native_metadata(weights) is None:
            raise ValueError(f"{weights}: not an inceptionkit file, so the model name must be given")
        model = load_native(weights)
        if variant is not None and model.spec.variant != variant:
            raise ValueError(f"{weights} holds variant {model.spec.variant!r}, not {variant!r}")
        return model
    return create_with_weights(name, weights, variant=variant)


def predict(
    model_or_name: InceptionNet | Callable[[torch.Tensor], torch.Tensor] | str,
    images: ImageInput | Iterable[ImageInput],
    *,
    weights: str | Path | None = None,
    variant: str | None = None,
    preprocess: Preprocess | None = None,
    top: int = 5,
    batch_size: int = 16,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    max_pixels: int | None = None,
) -> list[Prediction]:
    """The ``top`` most likely classes of each image, in input order (folders expand to their files).

    ``model_or_name``: an :class:`InceptionNet` (its ``weight_meta`` gives the preprocessing and
    class names; it is put in eval mode on ``device``), a model name (with ``weights``, or a published
    set in the download cache; ``variant`` optional), or any callable from a float NCHW batch to
    logits with ``preprocess``/``classes`` attributes (an ONNX runner, run on the CPU).
    ``images``: paths (files or folders), PIL images, or already preprocessed tensors (C, H, W) or
    (N, C, H, W). ``preprocess`` overrides the model's recipe; a model without one gets
    :func:`default_preprocess`. ``progress=None`` shows a bar on a terminal for many images.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    model = _resolve(model_or_name, weights, variant)
    recipe, classes = _recipe(model, preprocess)
    run, device = _runner(model, device)
    results: list[Prediction] = []
    for paths, logits, errors in _batches(
        model, images, recipe, run, device, batch_size, num_workers, progress, max_pixels
    ):
        guesses = iter(_top_k(logits, top, classes) if logits is not None else [])
        results += [
            Prediction(p, error=e) if e else Prediction(p, top=next(guesses))
            for p, e in zip(paths, errors, strict=True)
        ]
    return results


def extract_features(
    model_or_name: InceptionNet | str,
    images: ImageInput | Iterable[ImageInput],
    *,
    weights: str | Path | None = None,
    variant: str | None = None,
    layer: str | None = None,
    pool: Pool = "avg",
    preprocess: Preprocess | None = None,
    batch_size: int = 16,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    max_pixels: int | None = None,
) -> Features:
    """Features of each readable image: the output of stage ``layer`` (default: the last one, what
    ``model.forward_features`` gives; keras names such as ``mixed5`` work), pooled over space with
    the model's own global pooling (``avg``, i.e. ``model.forward_head(x, pre_logits=True)``), by
    maximum (``max``) or not at all (``none``). Arguments as for :func:`predict`."""
    if pool not in ("avg", "max", "none"):
        raise ValueError(f"pool must be avg, max or none, got {pool!r}")
    model = _resolve(model_or_name, weights, variant)
    if not isinstance(model, InceptionNet):
        raise ValueError("features need an inceptionkit model (InceptionNet), not an exported one")
    if layer is not None:
        model.spec.resolve(layer)  # an unknown stage fails now, not after decoding every image

    def stage(x: torch.Tensor) -> torch.Tensor:
        fmap = model.forward_intermediates(x, [layer])[layer] if layer else model.forward_features(x)
        if pool == "avg":
            return model.forward_head(fmap, pre_logits=True)
        return fmap.amax(dim=(2, 3)) if pool == "max" else fmap

    recipe, _ = _recipe(model, preprocess)
    run, device = _runner(model, device, stage)
    kept: list[str | None] = []
    outputs: list[torch.Tensor] = []
    failed: list[tuple[str | None, str]] = []
    for paths, out, errors in _batches(
        model, images, recipe, run, device, batch_size, num_workers, progress, max_pixels
    ):
        kept += [p for p, e in zip(paths, errors, strict=True) if not e]
        failed += [(p, e) for p, e in zip(paths, errors, strict=True) if e]
        if out is not None:
            outputs.append(out.float().cpu())
    features = torch.cat(outputs) if outputs else torch.empty(0)
    return Features(kept, features, failed)


def default_preprocess(spec: NetSpec | None = None, channels: int = 3) -> Preprocess:
    """The recipe for weights that do not name one: the spec's default input size (299 without a
    spec), the rest :class:`Preprocess`'s defaults (Inception-v3's: crop 87.5%, bilinear, pixels
    scaled to [-1, 1])."""
    return Preprocess(size=spec.default_size if spec else Preprocess.size, channels=channels)


# -- internals ---------------------------------------------------------------------------------------


def _resolve(model_or_name, weights, variant):
    if isinstance(model_or_name, str):
        return load_model(model_or_name, weights, variant=variant)
    if weights is not None or variant is not None:
        raise ValueError("weights and variant apply only to a model given by name")
    return model_or_name


def _recipe(model: object, preprocess: Preprocess | None) -> tuple[Preprocess, list[str] | None]:
    meta = getattr(model, "weight_meta", None)
    known = meta.preprocess if meta else getattr(model, "preprocess", None)
    classes = meta.classes if meta else getattr(model, "classes", None)
    if preprocess or known:
        return preprocess or known, classes
    if isinstance(model, InceptionNet):
        return default_preprocess(model.spec, model.in_chans), classes
    return default_preprocess(), classes


def _runner(model, device, forward: Callable[[torch.Tensor], torch.Tensor] | None = None):
    """``(run, device)``: ``run(batch)`` in inference mode, on the device the batches must be moved to."""
    if not isinstance(model, torch.nn.Module):
        return model, _device(device or "cpu")  # an engine of its own, fed from the CPU
    param = next(model.parameters(), None)
    device = (
        _device(device)
        if device is not None
        else (param.device if param is not None else torch.device("cpu"))
    )
    model.eval().to(device)
    forward = forward or model

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return forward(x)

    return run, device


def _device(name: str | torch.device) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {str(name)!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA is not available on this machine; use the cpu device")
    return device


def _top_k(logits: torch.Tensor, k: int, classes: list[str] | None) -> list[list[Guess]]:
    probs = torch.softmax(logits.detach().float().cpu(), dim=1)
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    return [
        [
            Guess(i, classes[i] if classes and i < len(classes) else None, p)
            for i, p in zip(row_i.tolist(), row_p.tolist(), strict=True)
        ]
        for row_i, row_p in zip(indices, values, strict=True)
    ]


class _Images(Dataset):
    """Item i: ``(tensor, None)`` ready for the model, or ``(None, reason)`` if it cannot be read."""

    def __init__(
        self, items: list[Source | Image.Image | torch.Tensor], recipe: Preprocess, max_pixels: int | None
    ) -> None:
        self.items = items
        self.transform = recipe.transform()
        self.mode = "L" if recipe.channels == 1 else "RGB"
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, str | None]:
        item = self.items[i]
        if isinstance(item, torch.Tensor):
            return item, None
        try:
            if isinstance(item, Image.Image):
                return self.transform(as_mode(item, self.mode)), None
            if item.error:
                return None, item.error
            return self.transform(load_image(item.path, self.mode, max_pixels=self.max_pixels)), None
        except ImageError as e:
            return None, str(e)


def _collate(samples: list[tuple[torch.Tensor | None, str | None]]) -> tuple[torch.Tensor | None, list]:
    good = [x for x, _ in samples if x is not None]
    return (torch.stack(good) if good else None), [e for _, e in samples]


def _items(images: ImageInput | Iterable[ImageInput], recipe: Preprocess) -> list:
    if isinstance(images, (str, os.PathLike, Image.Image, torch.Tensor)):
        images = [images]
    shape = (recipe.channels, recipe.size, recipe.size)
    items: list = []
    for im in images:
        if isinstance(im, torch.Tensor):
            batch = im.unsqueeze(0) if im.dim() == 3 else im
            if batch.dim() != 4 or tuple(batch.shape[1:]) != shape:
                raise ValueError(
                    f"a tensor input must be preprocessed to (C, H, W) = {shape} or a batch "
                    f"of those; got shape {tuple(im.shape)}"
                )
            items += list(batch.float())
        elif isinstance(im, Image.Image):
            items.append(im)
        else:
            items += find_images([im])
    return items


def _batches(
    model,
    images,
    recipe: Preprocess,
    run,
    device: torch.device,
    batch_size: int,
    num_workers: int | None,
    progress: bool | None,
    max_pixels: int | None,
) -> Iterator[tuple[list[str | None], torch.Tensor | None, list]]:
    """Per batch: the inputs' paths, ``run`` on the readable ones, and each input's error or None."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    items = _items(images, recipe)
    if isinstance(model, InceptionNet):
        model.check_input(torch.empty(1, recipe.channels, recipe.size, recipe.size, device="meta"))
    n_batches = -(-len(items) // batch_size)
    workers = min(default_workers() if num_workers is None else num_workers, n_batches)
    loader = DataLoader(
        _Images(items, recipe, max_pixels),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
    )
    show = sys.stderr.isatty() and len(items) > SCREENFUL if progress is None else progress
    paths = [it.path if isinstance(it, Source) else None for it in items]
    start = 0
    for x, errors in _track(loader, n_batches, len(items), show):
        out = run(x.to(device, non_blocking=True)) if x is not None else None
        yield paths[start : start + len(errors)], out, errors
        start += len(errors)


def _track(loader: DataLoader, n_batches: int, n_images: int, show: bool) -> Iterator:
    if not show:
        return iter(loader)
    from rich.console import Console
    from rich.progress import track

    return iter(
        track(
            loader,
            total=n_batches,
            description=f"{n_images} images",
            console=Console(stderr=True),
            transient=True,
        )
    )
