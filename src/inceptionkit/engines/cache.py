"""The ONNX cache: a model's export (and its int8 copies), made once and reused while it is intact.

Each cached file has a checksum file next to it (``NAME.onnx.sha256``), written after the file is
complete; a file whose checksum is missing or does not match (a truncated write, a disk error, an
edit) is rebuilt, never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from weakref import WeakKeyDictionary

import torch

from ..fileio import atomic_write, file_sha256
from ..model import InceptionNet
from .export import DEFAULT_OPSET, export_meta, export_onnx, export_size, onnx_metadata
from .memo import tensor_state


def weights_digest(model: InceptionNet, *extra: str) -> str:
    """A hash of the model's architecture, tensors and ``extra`` strings (SHA-256). The tensors' part
    is computed once per model and state of its tensors (:func:`~inceptionkit.engines.memo.tensor_state`,
    as engines are remembered): each ``fid`` with ``--engine auto`` looks its engine up by it."""
    h = hashlib.sha256()
    for s in (model.spec.arch, model.spec.variant, str(model.in_chans), *extra, _tensors_digest(model)):
        h.update(s.encode() + b"\0")
    return h.hexdigest()


_TENSORS: WeakKeyDictionary[torch.nn.Module, tuple[tuple, str]] = WeakKeyDictionary()


def _tensors_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the names, types, shapes and bytes of ``model``'s tensors, read from their memory
    without a copy (Inception-v3: 0.06 s)."""
    state = tensor_state(model)
    known = _TENSORS.get(model)
    if known is not None and known[0] == state:
        return known[1]
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode() + b"\0" + str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().reshape(-1).view("uint8"))
    _TENSORS[model] = (state, h.hexdigest())
    return h.hexdigest()


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_intact(path: Path) -> bool:
    """Whether ``path`` exists and matches the checksum written when it was made."""
    sums = _sum_path(path)
    if not (path.is_file() and sums.is_file()):
        return False
    return sums.read_text().strip() == file_sha256(path)


def cached(path: Path, make: Callable[[Path], object]) -> Path:
    """``path``, made by ``make(path)`` unless an intact copy is already there."""
    if not is_intact(path):
        _sum_path(path).unlink(missing_ok=True)
        make(path)
        digest = file_sha256(path)
        atomic_write(_sum_path(path), lambda tmp: Path(tmp).write_text(digest + "\n"))
    return path


def onnx_cache_dir(cache_dir: str | Path | None = None) -> Path:
    from ..weights.hub import cache_dir as default_cache

    return Path(cache_dir) if cache_dir is not None else default_cache() / "onnx"


def ensure_onnx(
    model: InceptionNet, cache_dir: str | Path | None = None, *, input_size: int | None = None
) -> Path:
    """The model exported to ONNX (dynamic batch), made once and reused: the file lives in
    ``cache_dir`` (default: inceptionkit's cache folder, ``onnx/``), named by architecture, variant,
    input size and a hash of the weights and metadata. A cached file that is not intact is rebuilt."""
    size = export_size(model, input_size)
    md = onnx_metadata(model, export_meta(model), size)
    digest = weights_digest(model, json.dumps(md, sort_keys=True), torch.__version__, str(DEFAULT_OPSET))
    path = onnx_cache_dir(cache_dir) / f"{model.spec.arch}-{model.spec.variant}-{size}-{digest[:16]}.onnx"
    return cached(path, lambda p: export_onnx(model, p, input_size=size, dynamic_batch=True))
