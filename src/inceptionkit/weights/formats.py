"""What a weight file is, told from its first bytes, and reading the PyTorch-side formats safely.

The name of a file says nothing we trust: ``model.bin`` may be a zip written by ``torch.save``, an
``.h5`` may be a keras 3 file or a legacy one. :func:`detect_format` reads the content:

- HDF5 (keras, either layout): the 8-byte signature ``\\x89HDF\\r\\n\\x1a\\n`` at offset 0 (or after a
  user block of 512, 1024, 2048, ... bytes, as the HDF5 spec allows);
- safetensors: an 8-byte little-endian header length, then a JSON header starting with ``{``;
- keras 3 ``.keras`` archive: a zip holding ``model.weights.h5`` (read as a keras 3 weight file);
- PyTorch zip (``torch.save`` since 1.6): the zip signature ``PK\\x03\\x04``;
- PyTorch legacy pickle: the pickle protocol opcode ``\\x80`` followed by a protocol number 2-5.

PyTorch files are only ever read with ``torch.load(..., weights_only=True)``: a pickle that asks for
anything but tensors and plain containers is refused, never run.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch

from ..errors import WeightsError

Format = Literal["hdf5", "keras_zip", "safetensors", "torch"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_ARCHIVE_WEIGHTS = "model.weights.h5"  # the weights inside a keras 3 .keras zip


def check_file(path: str | Path) -> Path:
    """``path`` as a Path if it is a non-empty regular file; a :class:`WeightsError` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise WeightsError(f"{p}: is a directory, not a weight file")
    if not p.exists():
        raise WeightsError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise WeightsError(f"{p}: empty file")
    return p


def _hdf5_offsets(size: int):
    yield 0
    offset = 512
    while offset + len(HDF5_SIGNATURE) <= size:
        yield offset
        offset *= 2


def detect_format(path: str | Path) -> Format:
    """The format of the weight file at ``path``, from its content."""
    p = check_file(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(16)
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            return "keras_zip" if _is_keras_archive(p) else "torch"
        if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
            return "torch"
        for offset in _hdf5_offsets(size):
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return "hdf5"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    raise WeightsError(f"{p}: unrecognised weight file (not HDF5, safetensors or a PyTorch state dict)")


def _is_keras_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return KERAS_ARCHIVE_WEIGHTS in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # let the PyTorch reader say what is wrong with it


def _unwrap(obj: object, path: Path) -> OrderedDict[str, torch.Tensor]:
    """The state dict inside what ``torch.load`` returned (training checkpoints wrap it)."""
    for _ in range(2):
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return OrderedDict(obj)
        if isinstance(obj, dict):
            inner = next((obj[k] for k in ("state_dict", "model", "state_dict_ema") if k in obj), None)
            if isinstance(inner, dict):
                obj = inner
                continue
        break
    raise WeightsError(f"{path}: a PyTorch file, but not a state dict of tensors")


def read_torch(path: str | Path) -> OrderedDict[str, torch.Tensor]:
    """The state dict in a ``torch.save`` file, in the file's order. Refuses pickled code."""
    p = check_file(path)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower():
            raise WeightsError(
                f"{p}: refused: the pickle asks to run code or build objects other than tensors "
                "(read with torch.load(weights_only=True); never unpickle untrusted files)"
            ) from None
        raise WeightsError(f"{p}: cannot read the PyTorch file (truncated or corrupt)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        kind = "truncated or corrupt" if not isinstance(e, OSError) else e.strerror or "unreadable"
        raise WeightsError(f"{p}: cannot read the PyTorch file ({kind})") from None
    return _unwrap(obj, p)


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (sorted by name: safetensors keeps no order) and the metadata of a safetensors file."""
    from safetensors import safe_open

    p = check_file(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # safetensors raises its own error types; none of their text helps here
        raise WeightsError(f"{p}: cannot read the safetensors file (truncated or corrupt)") from None
    return tensors, meta


def check_finite(tensors: Mapping[str, torch.Tensor], origin: object) -> None:
    """That every tensor is floating point and finite (batch norm's step counter excepted): a file of
    NaN, Inf, integer or complex weights would load and then compute nonsense without a word."""
    for name, t in tensors.items():
        if name.endswith("num_batches_tracked"):
            continue
        if not t.is_floating_point():
            raise WeightsError(
                f"{origin}: tensor {name} is {str(t.dtype).removeprefix('torch.')}, not floating point"
            )
        if t.device.type != "meta" and not all_finite(t):
            raise WeightsError(f"{origin}: tensor {name} holds non-finite values (NaN or Inf)")


def all_finite(t: torch.Tensor) -> bool:
    """Whether every value of the floating-point ``t`` is finite. A finite sum says so at once (a NaN
    or an infinity among the values makes the sum NaN or infinite): a sixth of the time of
    ``isfinite(t).all()``; a sum that overflowed from finite values is checked value by value."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def safetensors_complete(path: str | Path) -> bool:
    """Whether the safetensors file at ``path`` is whole: its size is exactly what its header declares
    (8 bytes, the header, and the end of the last tensor's data)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            size = Path(path).stat().st_size
            if n > size - 8:
                return False
            header = json.loads(f.read(n))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    except (OSError, struct.error, ValueError, TypeError, KeyError, IndexError):
        return False
    return size == 8 + n + max(ends, default=0)
