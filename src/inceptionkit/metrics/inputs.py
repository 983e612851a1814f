"""Every kind of input the metrics take, opened in one place, and read through the one network pass.

- a **folder**: searched recursively (:func:`inceptionkit.images.find_images`), images of any size;
- an **.npz image batch** (guided-diffusion's ``arr_0``, N x H x W x 3 uint8): streamed, batch by batch
  (:class:`~.archives.NpzImages`); under torchrun each process takes every world-th batch;
- a **.zip archive** of images (dataset_tool's layout): its image members, decoded in the loader's
  worker processes like files;
- a **statistics file** (``.npz`` with ``mu`` and ``sigma``: inceptionkit's, pytorch-fid's, clean-fid's,
  or a guided-diffusion reference's, with ``mu_s`` and ``sigma_s``);
- a **tensor** (N, 3, H, W) or an **iterable of such batches**: uint8 pixels or floats in [0, 1].

Anything else is refused in one line naming the input and what was found: a tensor of the wrong
shape, dtype or range, an ``.npz`` with neither images nor statistics, an archive with no image.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..devices import World
from ..errors import InputError, MetricError
from ..images import IMAGE_EXTENSIONS, find_images
from .archives import (
    SPATIAL,
    STATISTICS,
    NpzImages,
    ZipImages,
    _decode,
    npz_has,
    npz_kind,
    npz_statistics,
    read_member,
)
from .checks import checked_count, checked_text
from .extract import Features, Runner, prepared
from .stats import Statistics, load_statistics, mode_clash

log = logging.getLogger("inceptionkit.metrics")
Source = str | os.PathLike | torch.Tensor | Iterable[torch.Tensor]
EVALUATOR = "guided-diffusion"  # whose reference batches carry pool and spatial statistics


@dataclass
class Input:
    """One opened input: images to run (``files`` with their ``decode``, ``npz`` or ``batches``),
    saved statistics (``stats``; ``spatial``: a reference batch's ``mu_s``/``sigma_s``), or both."""

    label: str
    files: list[str] | None = None
    decode: object | None = None  # a picklable transform of one item (an archive's member)
    npz: NpzImages | None = None
    batches: Iterable[torch.Tensor] | None = None
    tensor_images: int | None = None  # how many images ``batches`` holds, where they are one tensor's
    stats: Statistics | None = None
    spatial: Statistics | None = None

    @property
    def has_images(self) -> bool:
        return self.files is not None or self.npz is not None or self.batches is not None

    @property
    def count(self) -> int | None:
        """The number of images, where it is known before they are read."""
        return len(self.files) if self.files is not None else self.npz.count if self.npz else None


def open_input(source: Source, label: str, mode: str, dims: int) -> Input:
    """``source`` opened as the kind it is (see the module's docstring); ``label`` names a tensor or
    an iterator in messages (a path names itself)."""
    if isinstance(source, torch.Tensor):
        check_images(source, label)
        return Input(label, batches=source.split(50), tensor_images=len(source))
    if isinstance(source, np.ndarray):
        raise InputError(
            f"{label}: a numpy array; pass a torch tensor (N, 3, H, W), e.g. torch.from_numpy(x).permute(0, 3, 1, 2)"
        )
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source), mode, dims)
    if isinstance(source, Iterable):
        return Input(label, batches=_checked(source, label))
    raise InputError(f"{label}: a {type(source).__name__}; inputs are folders, files, tensors or iterables")


def _open_path(path: Path, mode: str, dims: int) -> Input:
    if path.is_dir():
        return Input(str(path), files=_files(path, mode))
    suffix = path.suffix.lower()
    if not path.is_file():
        what = {".npz": "statistics or .npz image file", ".zip": "archive"}.get(suffix, "folder or file")
        raise MetricError(f"{path}: no such {what}")
    if suffix in IMAGE_EXTENSIONS:
        raise MetricError(f"{path}: one image; the inputs are folders of images, .zip archives and .npz files")
    if suffix == ".zip":
        archive = ZipImages(path)
        return Input(str(path), files=archive.names, decode=ZipDecode(str(path), mode))
    if suffix == ".npz" and _is_zip(path) and npz_kind(path) == "images":
        return _npz_images(path, mode, dims)
    if mode == EVALUATOR:
        pool, spatial = reference_statistics(path, dims, required=True)
        return Input(str(path), stats=pool, spatial=spatial)
    return Input(str(path), stats=load_statistics(path, dims=dims, mode=mode))


def _is_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _files(folder: Path, mode: str) -> list[str]:
    found = find_images([folder])
    if len(found) == 1 and found[0].error:
        raise MetricError(f"{folder}: no images in this folder (0 found); the metrics need at least 2")
    files = [s.path for s in found]
    if mode == "torch-fidelity":  # its order (sorted real paths): KID's subsets and IS's splits follow it
        files = sorted(files, key=os.path.realpath)
    return files


def _npz_images(path: Path, mode: str, dims: int) -> Input:
    images = NpzImages(path)
    if mode == EVALUATOR:  # the evaluator uses a batch's saved statistics as they are
        pool, spatial = reference_statistics(path, dims, required=False)
        return Input(str(path), npz=images, stats=pool, spatial=spatial)
    if npz_has(path):
        log.warning("%s: its saved mu/sigma are guided-diffusion's; recomputed from its images in mode %s",
                    path, mode)  # fmt: skip
    return Input(str(path), npz=images)


def reference_statistics(
    path: str | Path, dims: int, *, required: bool
) -> tuple[Statistics | None, Statistics | None]:
    """A guided-diffusion reference's (``mu``, ``sigma``) and (``mu_s``, ``sigma_s``) statistics (both or
    neither: a file with only one pair cannot give FID and sFID alike)."""
    path = Path(path)
    pool, spatial = npz_statistics(path, STATISTICS), npz_statistics(path, SPATIAL)
    if pool is None and spatial is None and not required:
        return None, None
    missing = [" and ".join(k) for k, v in ((STATISTICS, pool), (SPATIAL, spatial)) if v is None]
    if missing:
        raise MetricError(f"{path}: no {', '.join(missing)}: a guided-diffusion reference needs both pairs")
    _check_own_mode(path)
    count = _recorded_count(path)  # the file checked whole before it is asked for dims
    if len(pool[0]) != dims:
        raise MetricError(f"{path}: statistics of {len(pool[0])} dims; the evaluator's pool_3 has {dims}")
    return Statistics(*pool, count, EVALUATOR, str(path)), Statistics(*spatial, count, EVALUATOR, str(path))


def _check_own_mode(path: Path) -> None:
    with np.load(path, allow_pickle=False) as f:
        own = checked_text(str(path), "inceptionkit_mode", f["inceptionkit_mode"]) if "inceptionkit_mode" in f.files else None
    if own and own != EVALUATOR:
        raise MetricError(f"{path}: {mode_clash(own, EVALUATOR)}")


def _recorded_count(path: Path) -> int | None:
    with np.load(path, allow_pickle=False) as f:
        if "inceptionkit_count" in f.files:
            return checked_count(str(path), "inceptionkit_count", f["inceptionkit_count"]) or None
    return None


class ZipDecode:
    """One archive member decoded (as :mod:`inceptionkit.images` decodes a file) and resized by a mode's
    pipeline (``for_device``: see :func:`~.extract.prepared`): a picklable transform for the loading
    loop; each process opens the archive once."""

    def __init__(self, path: str, mode: str, for_device: bool = False) -> None:
        self.path, self.mode, self.for_device, self._zip = path, mode, for_device, None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None}

    def __call__(self, member: str) -> torch.Tensor:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return prepared(self.mode, _decode(read_member(self._zip, member)), self.for_device)

    def on_device(self) -> ZipDecode:
        """The same decoding, leaving the resize to the network's device where it can."""
        return ZipDecode(self.path, self.mode, for_device=True)


def check_images(x: torch.Tensor, label: str) -> None:
    """A batch of images as the metrics take them: (N, 3, H, W), uint8 pixels or floats in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise InputError(
            f"{label}: batches of images must be torch tensors (N, 3, H, W); got {type(x).__name__}"
        )
    if x.dim() != 4 or x.shape[1] != 3 or min(x.shape) < 1:
        raise InputError(f"{label}: images must be (N, 3, H, W); got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise InputError(f"{label}: images must be uint8 pixels or floats in [0, 1]; got {x.dtype}")
    if x.is_floating_point():
        lo, hi = float(x.min()), float(x.max())
        if not (0 <= lo and hi <= 1):  # also NaN
            raise InputError(
                f"{label}: float images must be in [0, 1]; found values from {lo:.4g} to {hi:.4g}"
            )


def _checked(batches: Iterable[torch.Tensor], label: str) -> Iterator[torch.Tensor]:
    for i, b in enumerate(batches):
        check_images(b, f"{label}, batch {i}")
        yield b


def _share(images: NpzImages, batch_size: int, world: World) -> Iterator[tuple[int, torch.Tensor]]:
    """This process's batches of an ``.npz`` (every world-th; the stream is read whole by each, the
    network runs on its share), each with the index of its first image."""
    for i, batch in enumerate(images.batches(batch_size)):
        if i % world.size == world.rank:
            yield i * batch_size, batch


def images_to_run(inputs: Iterable[Input], world: World) -> int | None:
    """How many images ``inputs`` put through the network, all processes together, where that is
    known before any is read: files and an ``.npz`` are shared out among the processes, a tensor is one
    process's own (each process is taken to pass one of the same length); None for an iterator."""
    total = 0
    for inp in inputs:
        if inp.tensor_images is not None:
            total += inp.tensor_images * world.size
        elif inp.count is not None:
            total += inp.count
        else:
            return None
    return total


def image_sources(inp: Input, bad: Iterable[tuple[str, str]] = ()) -> list:
    """Each kept feature row's image, to show it again (a report): a file's path, or a callable giving
    an archive member or an ``.npz`` row as a PIL image; the unreadable items (``bad``) left out, as
    the kept rows leave them out. Empty for tensors and iterators, which cannot be read again."""
    if inp.npz is not None:
        return [NpzRow(inp.npz, i) for i in range(inp.npz.count)]
    if inp.files is None:
        return []
    skipped = {f for f, _ in bad}
    kept = [f for f in inp.files if f not in skipped]
    return kept if inp.decode is None else [ZipMember(inp.label, m) for m in kept]


@dataclass(frozen=True)
class ZipMember:
    """One member of an image archive, decoded on demand."""

    path: str
    member: str

    def __call__(self):
        from PIL import Image

        with zipfile.ZipFile(self.path) as zf:
            return Image.fromarray(_decode(zf.read(self.member)).permute(1, 2, 0).numpy(), "RGB")


@dataclass(frozen=True)
class NpzRow:
    """Row ``index`` of an ``.npz`` image batch, read on demand."""

    images: NpzImages
    index: int

    def __call__(self):
        from PIL import Image

        return Image.fromarray(self.images.row(self.index), "RGB")


def extract(inp: Input, runner: Runner) -> Features:
    """``inp``'s images through the runner: its features, moments and unreadable items."""
    if inp.files is not None:
        return runner.files(inp.files, inp.label, inp.decode)
    if inp.npz is not None:
        return runner.indexed(_share(inp.npz, runner.batch_size, runner.world), inp.label)
    return runner.batches(inp.batches, inp.label)
