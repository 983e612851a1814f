"""The loading pipeline: images in (paths, folders, PIL images, tensors), preprocessed batches out.

Decoding and preprocessing run in background workers (a torch ``DataLoader``) while the engine works
on the previous batch. Each worker hands back, per image, either the preprocessed tensor or the
one-line reason it could not be read, so a bad file becomes that file's result and never stops the run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..errors import ImageError, InputError
from ..images import Source, as_mode, find_images, load_image
from ..preprocess import Preprocess

ImageInput = str | os.PathLike | Image.Image | torch.Tensor
SCREENFUL = 20  # more images than this get a progress bar (when stderr is a terminal)


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


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
    n_batches = -(-len(items) // batch_size)
    loader = DataLoader(
        _Images(items, recipe, max_pixels),
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(default_workers() if workers is None else workers, n_batches),
        collate_fn=_collate,
        pin_memory=pin_memory,
    )
    show = sys.stderr.isatty() and len(items) > SCREENFUL if progress is None else progress
    paths = [it.path if isinstance(it, Source) else None for it in items]
    batches = _track(loader, n_batches, len(items), show)
    first: list[tuple[torch.Tensor | None, list]] = []
    for x, errors in batches:
        first.append((x, errors))
        if sum(len(b) for b, _ in first if b is not None) >= lookahead:
            break
    engine = engine_for([x for x, _ in first if x is not None])
    start = 0
    for x, errors in _chain(first, batches):
        yield paths[start : start + len(errors)], engine(x) if x is not None else None, errors
        start += len(errors)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


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
