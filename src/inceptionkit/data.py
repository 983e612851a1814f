"""Datasets for training and evaluation: the built-in handwritten digits and folders of images.

A folder follows torchvision's ImageFolder layout, one subfolder per class, in one of two shapes::

    DIR/train/<class>/*.jpg   DIR/val/<class>/*.jpg   [DIR/test/<class>/*.jpg]
    DIR/<class>/*.jpg                       (a --val-split fraction becomes the validation set)

Files are found and decoded by :mod:`inceptionkit.images`, as every other command finds and decodes
them (each real file once, in one split only). Files with an image extension that cannot be read are
skipped and counted, not fatal; a class folder with no readable image is an error naming it. The built-in
digits are the 1,797 8x8 images scikit-learn bundles (UCI, CC BY 4.0; see ``data_files/DIGITS.txt``)
with a fixed stratified split: 1,295 train, 143 validation, 359 held-out test.
"""

from __future__ import annotations

import hashlib
import os
import warnings
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
from .images import ImageError, as_mode, display_path, find_images, load_image, verify_image
from .preprocess import Preprocess

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
    skipped: int = 0  # files with an image extension that cannot be read: left out
    skipped_examples: tuple[str, ...] = ()  # the first few, as display_path() shows them
    unreadable: tuple[tuple[str, str], ...] = ()  # every one: (path, why)


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


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass
class _Scan:
    files: dict[Path, list[str]]  # class folder -> its readable image files
    bad: list[tuple[str, str]]  # (file, why it cannot be read)


def _problem(path: str) -> str | None:
    try:
        verify_image(path)
    except ImageError as e:
        return str(e)
    return None


def _scan(class_dirs: list[Path], workers: int) -> _Scan:
    """The image files of every class folder, found together (each real file once, under its direct
    path: a link between splits never puts one image in two) and checked in ``workers`` threads."""
    files: dict[Path, list[str]] = {d: [] for d in class_dirs}
    bad: list[tuple[str, str]] = []
    found = []
    for s in find_images(class_dirs):
        if s.error is None:
            found.append(s)
        elif s.folder is not None:  # not the folder with no images at all: that one is checked below
            bad.append((s.path, s.error))
    with ThreadPoolExecutor(max(1, workers)) as pool, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged files' warnings: they are counted and named instead
        problems = list(pool.map(_problem, [s.path for s in found]))
    for s, problem in zip(found, problems, strict=True):
        if problem is None:
            files[Path(s.folder)].append(s.path)
        else:
            bad.append((s.path, problem))
    return _Scan(files, bad)


def _samples(scan: _Scan, class_dirs: list[Path], classes: list[str]) -> Samples:
    """The class folders' readable images, labelled by folder; a class folder without any is a
    :class:`DataError` naming it (training needs every class it is told about)."""
    items, targets = [], []
    for d in class_dirs:
        files = scan.files[d]
        if not files:
            raise DataError(_empty_class_message(d, scan.bad))
        items += files
        targets += [classes.index(d.name)] * len(files)
    return Samples(items, targets, load_image)


def _empty_class_message(folder: Path, bad: list[tuple[str, str]]) -> str:
    inside = [(p, why) for p, why in bad if Path(p).is_relative_to(folder)]
    what = "no images"
    if inside:
        p, why = inside[0]
        what = f"no readable images ({len(inside)} unreadable, e.g. {display_path(p)}: {why})"
    return (
        f"{display_path(folder)}: {what} in this class folder; "
        f"add images or move it out of {display_path(folder.parent)}"
    )


def _no_classes_message(where: Path, alternative: str = "") -> str:
    return (
        f"{display_path(where)}: no images found; expected one subfolder per class "
        f"({display_path(where / '<class>' / '*.jpg')}){alternative}"
    )


def _check_known(class_dirs: list[Path], classes: list[str], folder: Path) -> None:
    unknown = [d.name for d in class_dirs if d.name not in classes]
    if unknown:
        names = ", ".join(display_path(c) for c in unknown[:5])
        raise DataError(f"{display_path(folder)}: classes not in the training set: {names}")


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
        raise DataError(f"{display_path(root)}: no such folder")
    if val_split is not None and not 0 < val_split < 1:
        raise DataError(f"val_split must be between 0 and 1; got {val_split}", field="val_split")
    split_layout = (root / "train").is_dir()
    where = root / "train" if split_layout else root
    splits = {"train": where}
    for name in ("val", "test") if split_layout else ():
        if (root / name).is_dir() and (name == "test" or val_split is None):
            splits[name] = root / name
    dirs = {name: _class_dirs(folder) for name, folder in splits.items()}
    if not dirs["train"]:
        raise DataError(_no_classes_message(where, "" if split_layout else f" or {root}/train/<class>/..."))
    classes = [d.name for d in dirs["train"]]
    if len(classes) == 1:
        raise DataError(
            f"{display_path(where)}: only one class ({classes[0]!r}); a classifier needs at least two"
        )
    scan = _scan([d for ds in dirs.values() for d in ds], workers or os.cpu_count() or 1)
    parts = {}
    for name, folder in splits.items():
        _check_known(dirs[name], classes, folder)
        parts[name] = _samples(scan, dirs[name], classes)
    train, val = parts["train"], parts.get("val")
    if val is None:
        train, val = _split_off(train, 0.1 if val_split is None else val_split)
    if len(val) == 0:
        raise DataError(
            f"{display_path(root)}: the validation split is empty; add {root}/val/ or raise --val-split"
        )
    bad = tuple(scan.bad)
    examples = tuple(display_path(p) for p, _ in bad[:5])
    return Data(str(root), classes, train, val, parts.get("test"), len(bad), examples, bad)


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
        raise DataError(f"{display_path(root)}: no such folder")
    if (root / "train").is_dir():
        split = split or ("test" if (root / "test").is_dir() else "val")
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"{display_path(root)} has no {split}/ folder")
    elif split is not None:
        raise DataError(f"{display_path(root)} has no train/val/test layout; drop --split")
    else:
        folder = root
    scan = _scan(_class_dirs(folder), workers or os.cpu_count() or 1)
    dirs = [d for d, files in scan.files.items() if files]  # an empty class folder: nothing to score
    if not dirs:
        raise DataError(_no_classes_message(folder))
    unknown = [d.name for d in dirs if d.name not in classes]
    if unknown:
        raise DataError(f"{display_path(folder)}: the model has no class {', '.join(map(repr, unknown[:5]))}")
    return _samples(scan, dirs, classes), folder, len(scan.bad)


def load_data(data: str | Path | None, *, val_split: float | None = None, workers: int | None = None) -> Data:
    """The built-in digits (``data`` None or "digits") or a folder."""
    if data is None or str(data) == DIGITS:
        if val_split is not None:
            raise DataError("val_split applies to data folders; the digits have a fixed split", field="val_split")
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
        partial(as_mode, mode="L" if pre.channels == 1 else "RGB"),
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
