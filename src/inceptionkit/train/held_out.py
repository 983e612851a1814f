"""Which images to evaluate a trained checkpoint on: by default the images its run held out (the
digits' test split, the folder's ``test/`` or ``val/``, or the same ``--val-split`` draw as in
training, checked against the run's record), or any labelled folder given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..choices import SPLITS
from ..data import DIGITS, Samples, load_data, load_digits, load_eval_folder
from ..errors import DataError
from .run_folder import RunDataSource, relative_files, run_data_source, split_digest


@dataclass
class EvalImages:
    """Labelled images to score, and where they come from (said to the user)."""

    samples: Samples
    where: str  # e.g. "the test digits", "DIR/val", "DIR (the run's validation split: 4 of 20 images)"
    files: list[str]  # one name per sample: its path, or "digits/test/17"
    skipped: int = 0  # files with an image extension that did not decode
    note: str | None = None  # e.g. the folder changed since training


def images_to_evaluate(
    checkpoint: str | Path,
    classes: list[str],
    *,
    data: str | Path | None = None,
    split: str | None = None,
    workers: int | None = None,
) -> EvalImages:
    """The images to score ``checkpoint`` (whose outputs are ``classes``) on; see the module docstring."""
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    source = run_data_source(checkpoint)
    if data is None:
        if source is None:
            raise DataError(f"{checkpoint} has no record of its training data; give --data DIR")
        if source.digits:
            return _digits(split or "test")
        data = source.data
    elif str(data) == DIGITS:
        return _digits(split or "test")
    if _is_run_folder(source, data):
        return _run_split(source, split, workers)
    samples, folder, skipped = load_eval_folder(data, classes, split=split, workers=workers)
    return EvalImages(samples, str(folder), [str(p) for p in samples.items], skipped)


def _digits(split: str) -> EvalImages:
    samples = getattr(load_digits(), split)
    return EvalImages(samples, f"the {split} digits", [f"digits/{split}/{i}" for i in range(len(samples))])


def _is_run_folder(source: RunDataSource | None, data: str | Path) -> bool:
    """``data`` is the plain class folder (no train/ layout) the run drew its validation split from."""
    if source is None or source.digits or not Path(data).is_dir() or (Path(data) / "train").is_dir():
        return False
    return Path(data).resolve() == Path(source.data)


def _run_split(source: RunDataSource, split: str | None, workers: int | None) -> EvalImages:
    split = split or "val"
    if split == "test":
        raise DataError(f"{source.data} has no test/ folder; its held-out images are the run's val split")
    data = load_data(source.data, val_split=source.val_split, workers=workers)
    if data.classes != source.classes:
        raise DataError(f"the classes in {source.data} changed since the run trained on it")
    samples = data.val if split == "val" else data.train
    files = [str(p) for p in samples.items]
    total = len(data.train) + len(data.val)
    fraction = f"--val-split {source.val_split}" if source.val_split is not None else "the default 10%"
    what = "validation split" if split == "val" else "training part"
    where = f"{source.data} (the run's {what}: {len(samples)} of {total} images, {fraction}, drawn as in training)"
    note = None
    if (
        split == "val"
        and source.val_digest
        and split_digest(relative_files(files, source.data)) != source.val_digest
    ):
        note = (
            f"note: the files in {source.data} changed since training: the validation split drawn now "
            "is not the run's"
        )
    return EvalImages(samples, where, files, data.skipped, note)
