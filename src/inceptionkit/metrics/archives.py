"""Images stored in one file: guided-diffusion's ``.npz`` sample batches and ``.zip`` archives of images.

**.npz batches** (guided-diffusion's ``sample.py`` and reference batches): ``arr_0``, N x H x W x 3
uint8. An ``.npz`` is a zip of ``.npy`` members, which ``np.load(mmap_mode=...)`` cannot map; so the
member is opened as a stream, its header read (``np.lib.format``, never unpickling: object arrays are
refused from the header) and its rows read batch by batch, never the whole array. A reference batch
may also hold ``mu``, ``sigma`` (pool features) and ``mu_s``, ``sigma_s`` (spatial ones):
:func:`npz_statistics` reads those (checked as statistics files are).

**.zip archives** (the layout StyleGAN's ``dataset_tool.py`` writes: ``00000/img00000000.png`` ...,
with a ``dataset.json`` of labels): every member whose extension is an image's, in sorted order
(clean-fid's), decoded in memory. A member whose name escapes the archive (absolute, or with a ``..``
part) is refused, as is an archive with no image.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, MetricError
from ..images import IMAGE_EXTENSIONS, as_mode
from .checks import checked_moments, loaded_array

IMAGES, STATISTICS, SPATIAL = "arr_0", ("mu", "sigma"), ("mu_s", "sigma_s")
# what reading a member's data can raise: a CRC that does not match, a stream cut short or damaged
UNREADABLE = (zipfile.BadZipFile, EOFError, zlib.error)


def _members(zf: zipfile.ZipFile) -> list[str]:
    return [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise MetricError(f"{path}: not a readable .npz or .zip file ({e})") from None


class NpzImages:
    """``arr_0`` of a guided-diffusion ``.npz``: its count and size from the header, its rows streamed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with _open_zip(self.path) as zf:
            if f"{IMAGES}.npy" not in zf.namelist():
                found = ", ".join(_members(zf)) or "no arrays"
                raise MetricError(f"{self.path}: no '{IMAGES}' images (it holds: {found})")
            with zf.open(f"{IMAGES}.npy") as f:
                shape, dtype = _header(f, self.path)
        self.count, self.height, self.width = shape[0], shape[1], shape[2]
        self.dtype = dtype

    def batches(self, batch_size: int = 50) -> Iterator[torch.Tensor]:
        """(B, 3, H, W) uint8 tensors, ``batch_size`` images at a time."""
        row = self.height * self.width * 3
        with _open_zip(self.path) as zf, zf.open(f"{IMAGES}.npy") as f:
            _header(f, self.path)
            for start in range(0, self.count, batch_size):
                n = min(batch_size, self.count - start)
                data = _read(f, n * row, self.path)
                if len(data) != n * row:
                    got = start + len(data) // row
                    raise MetricError(f"{self.path}: '{IMAGES}' ends after {got} of its {self.count} images")
                batch = np.frombuffer(data, np.uint8).reshape(n, self.height, self.width, 3)
                yield torch.from_numpy(batch.copy()).permute(0, 3, 1, 2)

    def row(self, index: int) -> np.ndarray:
        """Image ``index`` as an (H, W, 3) uint8 array (a seek into a stored member, a read up to it
        in a compressed one)."""
        row = self.height * self.width * 3
        with _open_zip(self.path) as zf, zf.open(f"{IMAGES}.npy") as f:
            _header(f, self.path)
            data = _read(f, row, self.path, skip=index * row)
        if len(data) != row:
            raise MetricError(f"{self.path}: '{IMAGES}' has no image {index} (it ends before)")
        return np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)


def _read(f, size: int, path: Path, skip: int = 0) -> bytes:
    """``size`` bytes of ``arr_0`` after skipping ``skip``; a damaged member is one line naming it."""
    try:
        if skip:
            f.seek(skip, 1)
        return f.read(size)
    except UNREADABLE as e:
        raise _unreadable(path, e) from None


def _unreadable(path: Path, e: Exception) -> MetricError:
    return MetricError(f"{path}: '{IMAGES}' cannot be read: {e}")


def _header(f, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise MetricError(f"{path}: '{IMAGES}' is a .npy of format {version}, not 1.0 or 2.0")
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except ValueError as e:
        raise MetricError(f"{path}: '{IMAGES}' has no readable .npy header ({e})") from None
    except UNREADABLE as e:  # a small member is read whole here, and its CRC checked
        raise _unreadable(path, e) from None
    if dtype.hasobject:
        raise MetricError(f"{path}: '{IMAGES}' holds Python objects ({dtype}); refused, never unpickled")
    if dtype != np.uint8:
        raise MetricError(f"{path}: '{IMAGES}' is {dtype}; images must be uint8 pixels (N x H x W x 3)")
    if len(shape) != 4 or shape[3] != 3 or min(shape) < 1:
        raise MetricError(f"{path}: '{IMAGES}' has shape {shape}; images must be N x H x W x 3")
    if fortran:
        raise MetricError(f"{path}: '{IMAGES}' is stored in Fortran order; write it with np.savez (C order)")
    return tuple(int(s) for s in shape), dtype


def npz_has(path: str | Path, keys: tuple[str, str] = STATISTICS) -> bool:
    """Whether a reference ``.npz`` holds arrays under both ``keys`` (read: :func:`npz_statistics`)."""
    with _open_zip(Path(path)) as zf:
        return all(f"{k}.npy" in zf.namelist() for k in keys)


def npz_statistics(
    path: str | Path, keys: tuple[str, str] = STATISTICS
) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, covariance) saved under ``keys`` in a reference ``.npz``, checked as a statistics file's
    are (:func:`~.checks.checked_moments`: finite, real, symmetric positive semi-definite), or None
    when it has none."""
    path = Path(path)
    if not npz_has(path, keys):
        return None
    with np.load(path, allow_pickle=False) as f:
        arrays = [(k, loaded_array(f, k, path)) for k in keys]
    return checked_moments(str(path), *arrays)


def npz_kind(path: str | Path) -> str:
    """ "images" (``arr_0``) or "statistics" (``mu`` and ``sigma`` only); refuses anything else."""
    path = Path(path)
    with _open_zip(path) as zf:
        names = set(_members(zf))
    if IMAGES in names:
        return "images"
    if set(STATISTICS) <= names:
        return "statistics"
    found = ", ".join(sorted(names)) or "no arrays"
    raise MetricError(f"{path}: neither '{IMAGES}' images nor 'mu'/'sigma' statistics (it holds: {found})")


class ZipImages:
    """The images of a ``.zip`` archive, by member name (sorted)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with _open_zip(self.path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:
            p = PurePosixPath(info.filename.replace("\\", "/"))
            if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
                raise MetricError(f"{self.path}: member {info.filename!r} escapes the archive; refused")
        self.names = sorted(i.filename for i in infos if Path(i.filename).suffix.lower() in IMAGE_EXTENSIONS)
        if twice := next((a for a, b in zip(self.names, self.names[1:], strict=False) if a == b), None):
            raise MetricError(  # a reader by name gets the last of them, twice, and never the first
                f"{self.path}: member {twice!r} stands twice in the archive; refused (rename one and zip again)"
            )
        if not self.names:
            raise MetricError(f"{self.path}: no images in this archive ({len(infos)} other files)")

    def __len__(self) -> int:
        return len(self.names)

    def images(self) -> Iterator[tuple[str, torch.Tensor | None, str]]:
        """(member, (3, H, W) uint8 tensor or None, why not) for each image, in order."""
        with _open_zip(self.path) as zf:
            for name in self.names:
                try:
                    yield name, _decode(read_member(zf, name)), ""
                except ImageError as e:
                    yield name, None, str(e)


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """The bytes of member ``name``; a member that cannot be read (its CRC does not match, it is
    encrypted, compressed by a method Python lacks, cut short) is that member's
    :class:`~inceptionkit.errors.ImageError`, listed with the unreadable images."""
    try:
        return zf.read(name)
    except (*UNREADABLE, RuntimeError, NotImplementedError) as e:  # RuntimeError: encrypted
        raise ImageError(f"cannot be read from the archive: {e}") from None


def _decode(data: bytes) -> torch.Tensor:
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = as_mode(ImageOps.exif_transpose(img), "RGB")
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image file (no decoder recognises its content)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"refused as a possible decompression bomb: {e}") from None
    except Exception as e:  # any decoder failure is this member's error
        raise ImageError(f"cannot decode: {' '.join(str(e).split()) or type(e).__name__}") from None
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).contiguous()
