"""The loading pipeline: images in (paths, folders, PIL images, tensors), preprocessed batches out.

Decoding and preprocessing run in background workers (the one loading loop,
:func:`inceptionkit.loader.load_batches`) while the engine works on the previous batch. Each image
comes back as the preprocessed tensor or the one-line reason it could not be read, so a bad file
becomes that file's result and never stops the run.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator

import torch
from PIL import Image

from ..errors import ImageError, InputError
from ..images import Source, as_mode, find_images, load_image
from ..loader import Loaded, load_batches
from ..preprocess import Preprocess
from ..settings import default_workers

ImageInput = str | os.PathLike | Image.Image | torch.Tensor


class Prepare:
    """One input ready for the model: a tensor as it is, a PIL image or a file through ``recipe``
    (a picklable transform for :func:`~inceptionkit.loader.load_batches`)."""

    def __init__(self, recipe: Preprocess, max_pixels: int | None) -> None:
        self.transform = recipe.transform()
        self.mode = "L" if recipe.channels == 1 else "RGB"
        self.max_pixels = max_pixels

    def __call__(self, item: Source | Image.Image | torch.Tensor) -> torch.Tensor:
        if isinstance(item, torch.Tensor):
            return item
        if isinstance(item, Image.Image):
            return self.transform(as_mode(item, self.mode))
        if item.error:
            raise ImageError(item.error)
        return self.transform(load_image(item.path, self.mode, max_pixels=self.max_pixels))


def _items(images: ImageInput | Iterable[ImageInput], recipe: Preprocess) -> list:
    if isinstance(images, (str, os.PathLike, Image.Image, torch.Tensor)):
        images = [images]
    shape = (recipe.channels, recipe.size, recipe.size)
    items: list = []
    for im in images:
        if isinstance(im, torch.Tensor):
            batch = im.unsqueeze(0) if im.dim() == 3 else im
            if batch.dim() != 4 or tuple(batch.shape[1:]) != shape:
                raise InputError(
                    f"a tensor input must be preprocessed to (C, H, W) = {shape} or a batch "
                    f"of those; got shape {tuple(im.shape)}"
                )
            items += list(batch.float())
        elif isinstance(im, Image.Image):
            items.append(im)
        else:
            items += find_images([im])
    return items


Batch = tuple[list[str | None], torch.Tensor | None, list]  # paths, readable images, each one's error
Run = Callable[[torch.Tensor], torch.Tensor]


def run_batches(
    images: ImageInput | Iterable[ImageInput],
    recipe: Preprocess,
    engine_for: Callable[[list[torch.Tensor]], Run],
    *,
    batch_size: int,
    workers: int | None,
    progress: bool | None,
    max_pixels: int | None,
    lookahead: int = 0,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """Per batch: the inputs' paths, the engine's outputs on the readable ones, each input's error.

    ``engine_for(first)`` gives the engine, seeing the readable images of the first batches (at
    least ``lookahead`` images where there are that many): ``auto`` measures the engines on them.
    """
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    if workers is not None and workers < 0:
        raise InputError(f"workers must be at least 0, got {workers}")
    items = _items(images, recipe)
    batches = load_batches(
        items,
        Prepare(recipe, max_pixels),
        batch_size=batch_size,
        workers=default_workers() if workers is None else workers,
        progress=progress,
        label=f"{len(items)} images",
        pin_memory=pin_memory,
    )
    paths = [it.path if isinstance(it, Source) else None for it in items]
    first: list[Loaded] = []
    for loaded in batches:
        first.append(loaded)
        if sum(len(b.good) for b in first) >= lookahead:
            break
    engine = engine_for([b.batch for b in first if b.batch is not None])
    for b in itertools.chain(first, batches):
        yield [paths[i] for i in b.indices], engine(b.batch) if b.batch is not None else None, b.errors
