"""Datasets for training and evaluation: the built-in handwritten digits and folders of images.

A folder follows torchvision's ImageFolder layout, one subfolder per class, in one of two shapes::

    DIR/train/<class>/*.jpg   DIR/val/<class>/*.jpg   [DIR/test/<class>/*.jpg]
    DIR/<class>/*.jpg                       (a --val-split fraction becomes the validation set)

Files with an image extension that do not decode are skipped and counted, not fatal. The built-in
digits are the 1,797 8x8 images scikit-learn bundles (UCI, CC BY 4.0; see ``data_files/DIGITS.txt``)
with a fixed stratified split: 1,295 train, 143 validation, 359 held-out test.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler, Sampler

from .errors import DataError
from .preprocess import Preprocess

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DIGITS = "digits"
SPLIT_SEED = 0  # the --val-split and --max-train-images draws: fixed, so --seed does not move them


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that is a fixed function of ``parts`` (the same on every machine and run)."""
    digest = hashlib.blake2b(b",".join(str(p).encode() for p in parts), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class Samples:
    """Labelled images, loaded on demand: ``load(i)`` is image ``i`` as a PIL image."""

    def __init__(
        self, items: Sequence, targets: Sequence[int], load: Callable[[object], Image.Image]
    ) -> None:
        self.items = list(items)
        self.targets = [int(t) for t in targets]
        self._load = load

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, i: int) -> Image.Image:
        return self._load(self.items[i])

    def subset(self, indices: Sequence[int]) -> Samples:
        return Samples([self.items[i] for i in indices], [self.targets[i] for i in indices], self._load)


@dataclass
class Data:
    """A dataset's class names and its splits (``test`` only where the data has one)."""

    name: str  # "digits", or the folder
    classes: list[str]
    train: Samples
    val: Samples
    test: Samples | None = None
    skipped: int = 0  # files with an image extension that did not decode
    skipped_examples: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# The built-in digits
# ---------------------------------------------------------------------------------------------


def digits_arrays() -> dict[str, np.ndarray]:
    """The shipped arrays: ``images`` (1797, 8, 8) in 0..16, ``targets``, ``split`` (0/1/2)."""
    with resources.files("inceptionkit.data_files").joinpath("digits.npz").open("rb") as f, np.load(f) as z:
        return {k: z[k] for k in ("images", "targets", "split")}


def _digit_image(pixels: np.ndarray) -> Image.Image:
    # 0..16 counts to 8-bit grey, rounded: what saving a digit as a PNG gives
    return Image.fromarray(((pixels.astype(np.uint16) * 255 + 8) // 16).astype(np.uint8))


def load_digits() -> Data:
    """The built-in digits: train 1,295, validation 143, held-out test 359 (never trained on)."""
    a = digits_arrays()
    split = a["split"]

    def part(k: int) -> Samples:
        keep = np.flatnonzero(split == k)
        return Samples(list(a["images"][keep]), a["targets"][keep].tolist(), _digit_image)

    return Data(DIGITS, [str(d) for d in range(10)], part(0), part(1), part(2))


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------


def _open_image(path: str) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im


def _decodes(path: str) -> bool:
    try:
        with Image.open(path) as im:
            im.draft(None, (64, 64))  # JPEG: decode at reduced scale; a truncated file still fails
            im.load()
        return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            os.path.join(dirpath, f)
            for f in sorted(filenames)
            if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith(".")
        ]
    return found


@dataclass
class _Scan:
    files: dict[str, list[str]]  # class -> decodable files
    bad: list[str]


def _scan(root: Path, workers: int) -> _Scan:
    per_class = {d.name: _image_files(d) for d in _class_dirs(root)}
    every = [f for fs in per_class.values() for f in fs]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        ok = dict(zip(every, pool.map(_decodes, every), strict=True))
    return _Scan(
        {c: [f for f in fs if ok[f]] for c, fs in per_class.items()}, [f for f in every if not ok[f]]
    )


def _samples(scan: _Scan, classes: list[str]) -> Samples:
    items, targets = [], []
    for c, files in scan.files.items():
        if not files:
            continue  # an empty class folder (training refuses it; evaluation has nothing to score)
        items += files
        targets += [classes.index(c)] * len(files)
    return Samples(items, targets, _open_image)


def _split_off(samples: Samples, fraction: float) -> tuple[Samples, Samples]:
    """(train, val): ``fraction`` of each class (at least one image, at most all but one) to val,
    drawn with the fixed split seed."""
    g = torch.Generator().manual_seed(SPLIT_SEED)
    targets = torch.tensor(samples.targets)
    train, val = [], []
    for c in targets.unique().tolist():
        idx = torch.nonzero(targets == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        n_val = min(max(round(fraction * len(idx)), 1), len(idx) - 1)  # every class in val if it can
        val += idx[:n_val]
        train += idx[n_val:]
    return samples.subset(sorted(train)), samples.subset(sorted(val))


def load_folder(root: str | Path, *, val_split: float | None = None, workers: int | None = None) -> Data:
    """A folder in ImageFolder layout (see the module docstring).

    ``val_split``: the fraction of each class held out for validation when the folder has no
    ``val/`` (default 0.1); given explicitly, it is used even if ``val/`` exists.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if val_split is not None and not 0 < val_split < 1:
        raise DataError(f"--val-split must be between 0 and 1; got {val_split}")
    workers = workers or os.cpu_count() or 1
    split_layout = (root / "train").is_dir()
    train_scan = _scan(root / "train" if split_layout else root, workers)
    classes = [c for c, fs in train_scan.files.items() if fs]
    where = root / "train" if split_layout else root
    if not classes:
        raise DataError(
            f"{where}: no images found; expected one subfolder per class "
            f"({where}/<class>/*.jpg){'' if split_layout else f' or {root}/train/<class>/...'}"
        )
    if len(classes) == 1:
        raise DataError(f"{where}: only one class ({classes[0]!r}); a classifier needs at least two")
    empty = [c for c, fs in train_scan.files.items() if not fs]
    if empty:
        raise DataError(
            f"{where / empty[0]}: no images in this class folder; add images or move it out of {where}"
        )
    bad = list(train_scan.bad)
    train = _samples(train_scan, classes)

    def other(name: str) -> Samples | None:
        if not (root / name).is_dir():
            return None
        scan = _scan(root / name, workers)
        bad.extend(scan.bad)
        unknown = sorted(c for c, fs in scan.files.items() if fs and c not in classes)
        if unknown:
            raise DataError(f"{root / name}: classes not in the training set: {', '.join(unknown)}")
        return _samples(scan, classes)

    val = other("val") if split_layout and val_split is None else None
    if val is None:
        train, val = _split_off(train, 0.1 if val_split is None else val_split)
    if len(val) == 0:
        raise DataError(f"{root}: the validation split is empty; add {root}/val/ or raise --val-split")
    test = other("test") if split_layout else None
    return Data(str(root), classes, train, val, test, len(bad), tuple(bad[:5]))


def load_eval_folder(
    root: str | Path, classes: list[str], *, split: str | None = None, workers: int | None = None
) -> tuple[Samples, Path, int]:
    """(samples, folder, unreadable files skipped) to evaluate a model whose outputs are ``classes``.

    ``root`` is a folder of class subfolders, or a training layout (``train/``, ``val/``,
    ``test/``) whose ``split`` is taken (default: ``test/`` if there is one, else ``val/``).
    Labels follow the model's class names; a subfolder naming no class of the model is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if (root / "train").is_dir():
        split = split or ("test" if (root / "test").is_dir() else "val")
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"{root} has no {split}/ folder")
    elif split is not None:
        raise DataError(f"{root} has no train/val/test layout; drop --split")
    else:
        folder = root
    scan = _scan(folder, workers or os.cpu_count() or 1)
    present = [c for c, fs in scan.files.items() if fs]
    if not present:
        raise DataError(
            f"{folder}: no images found; expected one subfolder per class ({folder}/<class>/*.jpg)"
        )
    unknown = [c for c in present if c not in classes]
    if unknown:
        raise DataError(f"{folder}: the model has no class {', '.join(map(repr, unknown[:5]))}")
    return _samples(scan, classes), folder, len(scan.bad)


def load_data(data: str | Path | None, *, val_split: float | None = None, workers: int | None = None) -> Data:
    """The built-in digits (``data`` None or "digits") or a folder."""
    if data is None or str(data) == DIGITS:
        if val_split is not None:
            raise DataError("--val-split applies to --data folders; the digits have a fixed split")
        return load_digits()
    return load_folder(data, val_split=val_split, workers=workers)


def limit(samples: Samples, n: int | None) -> Samples:
    """At most ``n`` samples, a fixed random choice (for quick looks at a big dataset)."""
    if n is None or n >= len(samples):
        return samples
    keep = torch.randperm(len(samples), generator=torch.Generator().manual_seed(SPLIT_SEED))[:n]
    return samples.subset(sorted(keep.tolist()))


# ---------------------------------------------------------------------------------------------
# Transforms, datasets, sampling
# ---------------------------------------------------------------------------------------------


def train_transform(pre: Preprocess, *, crop_scale: tuple[float, float] = (0.08, 1.0), hflip: bool = True):
    """torchvision augmentation sized to ``pre``: random resized crop, optional flip, then ``pre``'s
    scaling and normalisation (its resize is then a no-op)."""
    from torchvision import transforms as T

    steps: list = [
        partial(Image.Image.convert, mode="L" if pre.channels == 1 else "RGB"),
        T.RandomResizedCrop(pre.size, scale=crop_scale, interpolation=T.InterpolationMode(pre.interpolation)),
    ]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    steps.append(replace(pre, crop_pct=None).transform())
    return T.Compose(steps)


class ImageDataset(Dataset):
    """``samples`` through ``transform``, as (tensor, label).

    A key is an index, or an (index, seed) pair: the random augmentation is then drawn from ``seed``
    alone, so a sample looks the same whichever worker, process or resumed run loads it.
    """

    def __init__(self, samples: Samples, transform: Callable) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        if isinstance(key, tuple):
            i, seed = key
            g = torch.default_generator
            outer = g.get_state()
            g.manual_seed(seed)
            try:
                x = self.transform(self.samples.load(i))
            finally:
                g.set_state(outer)
        else:
            i = key
            x = self.transform(self.samples.load(i))
        return x, self.samples.targets[i]


class EpochSampler(Sampler):
    """One process's share of one training epoch, as (index, augmentation seed) pairs.

    The order is torch's :class:`DistributedSampler` (a permutation seeded by ``seed + epoch``, the
    ragged tail dropped so processes never overlap, process ``rank`` takes every ``world``-th).
    ``skip`` drops this process's first samples: those a resumed run has already trained on.
    """

    def __init__(
        self, n: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, skip: int = 0
    ) -> None:
        self.inner = DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.inner.set_epoch(epoch)
        self.seed, self.epoch, self.skip = seed, epoch, skip

    def __len__(self) -> int:
        return max(len(self.inner) - self.skip, 0)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in list(self.inner)[self.skip :]:
            yield i, derive_seed(self.seed, self.epoch, i)
