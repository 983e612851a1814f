"""Checkpoints as consistent sets, so that a run folder survives ``kill -9`` at any instant.

Each checkpoint is one folder, ``RUN/checkpoints/step-<N>/``, holding the weights
(``last.safetensors``), what resuming needs besides them (``train_state.pt``) and the best weights so
far (``best.safetensors``, a hard link to the previous set's when they did not change). Its
``manifest.json``, written last, names every file of the set with its size and SHA-256: a set without
a manifest, or whose files do not match it, is not a checkpoint. The previous set is removed only
once the new one is complete, and ``RUN/last.safetensors`` and ``RUN/best.safetensors`` (what users
evaluate and predict with) are then replaced by links to the new set's files, each in one rename.

Resuming picks the newest complete set and removes what killed writes left behind (sets without a
manifest, temporary files). Run folders written before sets existed (``train_state.pt`` and
``train_state.prev.pt`` beside ``last.safetensors``) are still read.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError, InceptionKitError
from ..fileio import atomic_write, file_sha256

STATE_FORMAT = "inceptionkit-train-state"
SETS = "checkpoints"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "inceptionkit-checkpoint-set"
WEIGHTS, STATE, BEST = "last.safetensors", "train_state.pt", "best.safetensors"
STATE_KEYS = ("global_step", "epoch", "batch", "optimizer", "scheduler", "scaler", "sums", "history")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CheckpointError(InceptionKitError):
    """A checkpoint that could not be written (a full disk) or read (a damaged file)."""


def kill_point(name: str) -> None:
    """Tests only: ``INCEPTIONKIT_TEST_KILL_AT=name[:n]`` ends the process abruptly (like ``kill -9``:
    no cleanup) the n-th time it passes the point ``name`` (default the first)."""
    target = os.environ.get("INCEPTIONKIT_TEST_KILL_AT")
    if not target:
        return
    point, _, count = target.partition(":")
    if point == name:
        _PASSES[name] = _PASSES.get(name, 0) + 1
        if _PASSES[name] == int(count or 1):
            os._exit(137)


_PASSES: dict[str, int] = {}


@dataclass
class Checkpoint:
    """A complete checkpoint: where it lies, its train state, and its weights' file."""

    folder: Path
    state: dict
    weights: Path

    @property
    def step(self) -> int:
        return int(self.state["global_step"])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    """``data`` to a new file, flushed to disk (written in two halves: a test may kill in between)."""
    with open(path, "wb") as f:
        half = len(data) // 2
        f.write(data[:half])
        f.flush()
        kill_point(f"inside-{path.name}")
        f.write(data[half:])
        f.flush()
        os.fsync(f.fileno())


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copyfile(src, dst)


def _publish(src: Path, dst: Path) -> None:
    """``dst`` becomes ``src``'s file in one rename (readers see the old file or the new one)."""
    if dst.exists() and os.path.samefile(src, dst):
        return  # (a rename between two links of one file would do nothing, leaving the temporary)
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    _link_or_copy(src, tmp)
    os.replace(tmp, dst)


def set_folder(run_dir: Path, step: int) -> Path:
    return run_dir / SETS / f"step-{step:09d}"


def write_set(
    run_dir: Path,
    step: int,
    state: dict,
    weights: Callable[[], bytes],
    new_best: Callable[[], bytes] | None,
) -> None:
    """Write the checkpoint set of ``step``: ``weights()`` gives the weight file's bytes, ``new_best()``
    the best weights' when they changed (otherwise the previous set's are kept)."""
    previous = latest_complete(run_dir)
    folder = set_folder(run_dir, step)
    try:
        _write_files(folder, state, weights, new_best, previous)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        if e.errno not in NO_SPACE:
            raise
        kept = f"the last good checkpoint ({previous}) is kept" if previous else "no checkpoint was written"
        raise CheckpointError(
            f"the disk is full ({e.strerror}) writing the checkpoint at step {step} in {run_dir}; {kept}"
            f"; free some space and continue with: inceptionkit train --resume {run_dir}"
        ) from None
    for name in (WEIGHTS, BEST):
        if (folder / name).exists():
            _publish(folder / name, run_dir / name)
            kill_point(f"published-{name}")
    for old in _set_folders(run_dir):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    kill_point("old-sets-removed")


def _write_files(
    folder: Path,
    state: dict,
    weights: Callable[[], bytes],
    new_best: Callable[[], bytes] | None,
    previous: Path | None,
) -> None:
    shutil.rmtree(folder, ignore_errors=True)  # a killed attempt at the same step
    folder.mkdir(parents=True)
    kill_point("set-created")
    _write_bytes(folder / WEIGHTS, weights())
    kill_point("weights-written")
    buf = io.BytesIO()
    torch.save(state, buf)
    _write_bytes(folder / STATE, buf.getvalue())
    kill_point("state-written")
    if new_best is not None:
        _write_bytes(folder / BEST, new_best())
    elif previous is not None and (previous / BEST).exists():
        _link_or_copy(previous / BEST, folder / BEST)
    kill_point("best-written")
    files = {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in sorted(folder.iterdir())}
    manifest = {"format": MANIFEST_FORMAT, "step": state["global_step"], "files": files}
    _fsync_dir(folder)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2)))
    _fsync_dir(folder)
    kill_point("manifest-written")


def _set_folders(run_dir: Path) -> list[Path]:
    root = run_dir / SETS
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")), reverse=True)


def _manifest(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT else None


def latest_complete(run_dir: Path) -> Path | None:
    """The newest set with a manifest (its files are checked when it is read)."""
    return next((f for f in _set_folders(run_dir) if _manifest(f) is not None), None)


def _verify(folder: Path, manifest: dict) -> None:
    for name, want in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != want["bytes"] or file_sha256(path) != want["sha256"]:
            raise CheckpointError(
                f"{path} is damaged (it is not the file its {MANIFEST} names); the run cannot resume from it"
            )
    if WEIGHTS not in manifest.get("files", {}) or STATE not in manifest.get("files", {}):
        raise CheckpointError(f"{folder / MANIFEST} does not name {WEIGHTS} and {STATE}")


def load_state(path: Path) -> dict:
    """A train state file (never unpickled: tensors and plain containers only), or CheckpointError."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # truncated, garbage, or holding objects a weights-only load refuses
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable train state ({reason[:120]})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not an inceptionkit train state")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path} is an incomplete train state (no {', '.join(missing)})")
    return state


def clean_killed_writes(run_dir: Path) -> None:
    """Remove what writes killed midway left: sets without a manifest, temporary files."""
    for folder in _set_folders(run_dir):
        if _manifest(folder) is None:
            shutil.rmtree(folder, ignore_errors=True)
    for folder in (run_dir, *_set_folders(run_dir)):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def read_latest(run_dir: Path) -> Checkpoint | None:
    """The newest complete checkpoint of ``run_dir`` (None if it has none); nothing is changed."""
    folder = latest_complete(run_dir)
    if folder is None:
        return _read_legacy(run_dir)
    _verify(folder, _manifest(folder))
    return Checkpoint(folder, load_state(folder / STATE), folder / WEIGHTS)


def tidy(run_dir: Path, checkpoint: Checkpoint | None) -> None:
    """Before a run continues in ``run_dir``: remove what killed writes left (sets without a manifest,
    temporary files) and the sets older than ``checkpoint``, and publish its weights as
    ``RUN/last.safetensors`` and ``RUN/best.safetensors`` (a kill may have come before that)."""
    clean_killed_writes(run_dir)
    if checkpoint is None or checkpoint.folder == run_dir:  # none, or the layout before sets
        return
    for old in _set_folders(run_dir):
        if old != checkpoint.folder:
            shutil.rmtree(old, ignore_errors=True)
    for name in (WEIGHTS, BEST):
        if (checkpoint.folder / name).exists():
            _publish(checkpoint.folder / name, run_dir / name)


def _read_legacy(run_dir: Path) -> Checkpoint | None:
    """A run folder from before checkpoint sets: the train state whose step matches last.safetensors."""
    from ..weights.native import read_native_metadata

    last = run_dir / WEIGHTS
    md = read_native_metadata(last) if last.exists() else None
    if md is None or "train_step" not in md:
        return None
    for name in (STATE, "train_state.prev.pt"):
        if (run_dir / name).exists():
            state = load_state(run_dir / name)
            if state["global_step"] == int(md["train_step"]):
                return Checkpoint(run_dir, state, last)
    raise ConfigError(f"{run_dir}: no train_state.pt matches last.safetensors (step {md['train_step']})")


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint to resume from (a complete set, or the old layout)."""
    return latest_complete(run_dir) is not None or (run_dir / STATE).exists()
