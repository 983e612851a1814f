"""The run folder: where it goes, ``config.json`` (the settings and what the run was trained on), the
record of the validation split, and reading them back (resume, eval, export's int8 calibration)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from ..data import DIGITS, SPLIT_SEED, Data, Samples, load_data
from ..errors import ConfigError, DataError
from ..fileio import atomic_write, check_output
from ..preprocess import Preprocess
from .checkpoint import has_checkpoint
from .config import TrainConfig

RUN_FORMAT = "inceptionkit-train-run"
SPLIT_FILE = "split.json"
OWN_FILES = ("config.json", SPLIT_FILE, "metrics.csv", "curves.png", "tensorboard", "checkpoints")


def _default_run_dir(cfg: TrainConfig) -> Path:
    data = DIGITS if cfg.data is None else Path(cfg.data).resolve().name
    base = Path("runs") / f"{cfg.model}-{data}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _reusable(path: Path) -> bool:
    """A run folder that never reached its first checkpoint: only the run's own files (perhaps only
    the temporary file of a config.json whose write was killed), no weights."""
    if has_checkpoint(path):
        return False
    return all(p.name in OWN_FILES or p.name.endswith(".tmp") for p in path.iterdir())


def new_run_dir(cfg: TrainConfig) -> Path:
    """Where a new run goes: ``cfg.run_dir`` if it is new, empty, or a run that wrote no checkpoint."""
    path = Path(cfg.run_dir) if cfg.run_dir else _default_run_dir(cfg)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} exists and is not a folder; choose another --run-dir")
    check_output(path, folder=True)  # a read-only folder, or a file where a folder would be made
    if cfg.data is not None and Path(cfg.data).resolve() in (path.resolve(), *path.resolve().parents):
        raise ConfigError(f"{path} lies inside the training data {cfg.data}; choose another --run-dir")
    if path.exists() and any(path.iterdir()) and not _reusable(path):
        hint = "; continue it with --resume" if (path / "config.json").exists() else ""
        raise ConfigError(f"{path} already exists and is not empty{hint}; choose another --run-dir")
    return path


def read_run_config(run_dir: str | Path) -> dict:
    """The ``config.json`` of a run folder (ConfigError if it is not one)."""
    path = Path(run_dir)
    try:
        doc = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        doc = None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != RUN_FORMAT
        or not isinstance(doc.get("config"), dict)
    ):
        raise ConfigError(f"{path} is not a training run folder (no inceptionkit config.json)")
    return doc


def saved_config(doc: dict) -> TrainConfig:
    from dataclasses import fields

    return TrainConfig(
        **{f.name: doc["config"].get(f.name) for f in fields(TrainConfig) if f.name in doc["config"]}
    )


def relative_files(files: list[str], root: str) -> list[str]:
    base = Path(root).resolve()
    out = []
    for f in files:
        try:
            out.append(Path(f).resolve().relative_to(base).as_posix())
        except ValueError:
            out.append(str(f))
    return out


def split_digest(files: list[str]) -> str:
    """A fingerprint of a list of files (relative paths): SHA-256 of the sorted list, one per line."""
    return hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()


def data_record(cfg: TrainConfig, data: Data, pre: Preprocess) -> dict:
    """What the run was trained on, for config.json (read back by :func:`run_data_source`)."""
    record = {
        "source": DIGITS if cfg.data is None else str(Path(cfg.data).resolve()),
        "img_size": pre.size,
        "in_chans": pre.channels,
        "val_split": cfg.val_split,
        "split_seed": SPLIT_SEED,
    }
    if cfg.data is not None:
        record["val_files_sha256"] = val_digest(cfg, data)
    return record


def val_digest(cfg: TrainConfig, data: Data) -> str:
    """The fingerprint of a folder run's validation files (relative to the folder)."""
    return split_digest(relative_files([str(f) for f in data.val.items], cfg.data))


def write_run_files(run_dir: Path, cfg: TrainConfig, data: Data, pre: Preprocess, world: int) -> None:
    """config.json and, for a folder, split.json (the validation files, relative to the folder)."""
    doc = {
        "format": RUN_FORMAT,
        "config": asdict(cfg),
        "classes": data.classes,
        "preprocess": pre.to_json(),
        "world_size": world,
        "data": data_record(cfg, data, pre),
        "images": {
            "train": len(data.train),
            "val": len(data.val),
            "test": len(data.test) if data.test else 0,
        },
        "skipped_unreadable": data.skipped,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    # config.json first: with it a run folder can be resumed (from the start, before any checkpoint)
    atomic_write(run_dir / "config.json", lambda tmp: Path(tmp).write_text(text))
    if cfg.data is not None:
        val = relative_files([str(f) for f in data.val.items], cfg.data)
        split = {
            "val_split": cfg.val_split,
            "split_seed": SPLIT_SEED,
            "val": val,
            "sha256": split_digest(val),
        }
        atomic_write(run_dir / SPLIT_FILE, lambda tmp: Path(tmp).write_text(json.dumps(split, indent=1)))


@dataclass(frozen=True)
class RunDataSource:
    """What a checkpoint written by ``train`` was trained on (see :func:`run_data_source`)."""

    data: str  # "digits", or the data folder (absolute)
    img_size: int
    in_chans: int
    val_split: float | None  # the --val-split fraction drawn from a plain class folder (None: default)
    classes: list[str]
    run_dir: Path | None  # the run folder, when the checkpoint lies in one
    val_digest: str | None = None  # split_digest of the validation files drawn from a plain folder

    @property
    def digits(self) -> bool:
        return self.data == DIGITS

    def samples(self, split: str = "train", *, workers: int | None = None) -> Samples:
        """The run's ``split`` ("train", "val", or "test" where there is one) drawn as in training
        (without ``--max-train-images``'s limit): what int8 calibration should see."""
        data = load_data(None if self.digits else self.data, val_split=self.val_split, workers=workers)
        part = getattr(data, split, None)
        if part is None:
            raise DataError(f"{self.data} has no {split} split")
        return part


def run_data_source(checkpoint_path: str | Path) -> RunDataSource | None:
    """What the inceptionkit checkpoint ``checkpoint_path`` (e.g. ``RUN/best.safetensors``) was
    trained on, from its own metadata and the run folder beside it; None for weights that ``train``
    did not write (no record of their training data)."""
    from ..weights.native import meta_from_metadata, read_native_metadata

    path = Path(checkpoint_path)
    md = read_native_metadata(path)
    if md is None or "dataset" not in md:
        return None
    meta = meta_from_metadata(md)
    run_dir = path.parent if (path.parent / "config.json").exists() else None
    val_split = md.get("val_split")
    if run_dir is not None:
        try:
            doc = read_run_config(run_dir)
            val_split = doc["config"].get("val_split")
        except ConfigError:
            run_dir = None
    return RunDataSource(
        data=md["dataset"],
        img_size=meta.preprocess.size,
        in_chans=int(md.get("in_chans", meta.preprocess.channels)),
        val_split=None if val_split in (None, "None", "") else float(val_split),
        classes=list(meta.classes or []),
        run_dir=run_dir,
        val_digest=md.get("val_files_sha256"),
    )
