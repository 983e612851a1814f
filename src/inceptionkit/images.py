"""The one image pipeline: finding image files and decoding them, for every command.

Training, evaluation, prediction, features, int8 calibration and the FID statistics all find their
files with :func:`find_images` and decode them with :func:`load_image`, so a file is the same picture
(the same tensor) wherever it is read:

- **Finding.** Folders are searched recursively in a stable order (names sorted; a folder's files
  before its sub-folders'; hidden names skipped) for the suffixes in :data:`IMAGE_EXTENSIONS`. Each
  real file is found once (paths are resolved; a file reached both directly and through a symbolic
  link is kept under its direct path). Symbolic links to folders are followed, each real folder at
  most once, so links to parent folders never loop.
- **Decoding.** Only regular files are opened (a FIFO or device named ``*.png`` would block or never
  end). The first frame, upright (EXIF orientation applied), 8-bit: 16-bit images are scaled to
  0..255 (not clipped), palette and CMYK images converted, alpha dropped (the colour under a
  transparent pixel is kept; what PIL's ``convert("RGB")`` does, and with it keras' ``load_img``,
  torchvision's loaders and pytorch-fid). Grey output (``mode="L"``) is always the grey of the RGB
  image. Sizes are checked from the header before decoding: at most ``max_pixels`` pixels (default:
  PIL's limit), each side at most :data:`MAX_SIDE` and a side ratio of at most :data:`MAX_ASPECT`
  (resizing a 100,000 x 1 strip to a 299-pixel short side would need gigabytes).

Anything that is not a usable image raises :class:`ImageError` with a one-line reason; callers report
it next to the file's :func:`display_path` and go on with the other files.
"""

from __future__ import annotations

import heapq
import os
import stat
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_ASPECT",
    "MAX_SIDE",
    "ImageError",
    "Source",
    "as_mode",
    "display_path",
    "find_images",
    "load_image",
    "verify_image",
]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff"}
    | {".ppm", ".pgm", ".pbm", ".pnm"}
)
MAX_SIDE = 65_535  # the largest side JPEG, WebP and GIF can store
MAX_ASPECT = 100  # long side / short side
Mode = Literal["RGB", "L"]
_GREY_MODES = frozenset({"1", "L", "LA", "La"})


@dataclass(frozen=True)
class Source:
    """One image file to read, or (``error`` set) a path that yielded none.

    ``folder`` is the folder argument of :func:`find_images` the file was found in (None for a
    path named directly): the ImageFolder layout takes a file's class from it.
    """

    path: str
    error: str | None = None
    folder: str | None = None


def display_path(path: str | os.PathLike) -> str:
    """``path`` as it may be shown on a terminal: as is when every character is printable, else
    Python's quoted repr (control characters and undecodable bytes escaped, e.g. ``'a\\x1b[31m.png'``)."""
    text = os.fspath(path)
    text = text.decode(errors="surrogateescape") if isinstance(text, bytes) else text
    return text if text.isprintable() else repr(text)


# -- finding ------------------------------------------------------------------------------------------

_PLAIN, _LINKED_FILE, _VIA_LINKED_FOLDER = 0, 1, 2  # which of two paths to one real file is kept


@dataclass(frozen=True)
class _Hit:
    key: tuple  # where the path comes in the listing
    rank: int
    real: str
    source: Source


def find_images(paths: Iterable[str | os.PathLike], *, recursive: bool = True) -> list[Source]:
    """The image files named by ``paths``, in order, each real file once.

    A folder contributes its image files (see the module docstring; only its own files if not
    ``recursive``), or one :class:`Source` with an error if it has none or cannot be listed. Other
    paths are kept as given, whatever their name: a missing, unreadable or non-regular file fails
    later, in its place, when it is decoded.
    """
    finder = _Finder(recursive)
    for i, p in enumerate(paths):
        finder.add(os.fspath(p), (i,))
    return finder.sources()


class _Finder:
    def __init__(self, recursive: bool) -> None:
        self.recursive = recursive
        self.hits: list[_Hit] = []
        self.folders: list[tuple[int, str]] = []  # the folder arguments
        self.folders_seen: set[str] = set()
        self.links: list[tuple[tuple, str, str]] = []  # (key, path, folder argument): walked last

    def add(self, path: str, key: tuple) -> None:
        if os.path.isdir(path):
            self.folders.append((key[0], path))
            self._walk(path, key, path, _PLAIN)
        else:
            self.hits.append(_Hit(key, _PLAIN, os.path.realpath(path), Source(path)))

    def sources(self) -> list[Source]:
        while self.links:  # symbolic links to folders: after every plain folder, in listing order
            key, path, folder = heapq.heappop(self.links)
            if os.path.realpath(path) not in self.folders_seen:
                self._walk(path, key, folder, _VIA_LINKED_FOLDER)
        kept: dict[str, _Hit] = {}
        errors = [h for h in self.hits if h.source.error]
        for hit in self.hits:
            best = kept.get(hit.real)
            if not hit.source.error and (best is None or (hit.rank, hit.key) < (best.rank, best.key)):
                kept[hit.real] = hit
        found_in = {h.key[0] for h in self.hits}
        errors += [
            _Hit((i,), _PLAIN, "", Source(path, "folder contains no image files"))
            for i, path in self.folders
            if i not in found_in
        ]
        return [h.source for h in sorted([*kept.values(), *errors], key=lambda h: h.key)]

    def _walk(self, top: str, key: tuple, folder: str, rank: int) -> None:
        stack = [(top, key)]
        while stack:
            path, key = stack.pop()
            real = os.path.realpath(path)
            if real in self.folders_seen and path != top:
                continue
            self.folders_seen.add(real)
            subfolders = self._list(path, real, key, folder, rank)
            stack += reversed(subfolders)

    def _list(self, path: str, real: str, key: tuple, folder: str, rank: int) -> list[tuple[str, tuple]]:
        """Record the image files of one folder; return its plain sub-folders to walk."""
        try:
            with os.scandir(path) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as e:
            reason = f"cannot list this folder: {_describe(e)}"
            self.hits.append(_Hit(key, rank, "", Source(path, reason, folder)))
            return []
        subfolders = []
        for e in entries:
            sub_key = (*key, (1, e.name))
            if _is_dir(e):
                if not self.recursive:
                    continue
                if e.is_symlink():
                    heapq.heappush(self.links, (sub_key, e.path, folder))
                else:
                    subfolders.append((e.path, sub_key))
            elif os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS:
                linked = e.is_symlink()
                file_real = os.path.realpath(e.path) if linked else os.path.join(real, e.name)
                file_rank = max(rank, _LINKED_FILE if linked else _PLAIN)
                self.hits.append(
                    _Hit((*key, (0, e.name)), file_rank, file_real, Source(e.path, None, folder))
                )
        return subfolders


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a link into a folder we may not look at: a file that will fail in its place
        return False


# -- decoding -----------------------------------------------------------------------------------------


def load_image(path: str | os.PathLike, mode: Mode = "RGB", *, max_pixels: int | None = None) -> Image.Image:
    """The image at ``path`` (the first frame of an animation), upright, as an 8-bit ``mode`` image.

    See the module docstring for what is converted and which sizes are refused. ``max_pixels``:
    images of more pixels are refused before decoding, as decompression bombs (default: PIL's
    ``Image.MAX_IMAGE_PIXELS``). Raises :class:`ImageError` for anything that is not a usable image.
    """
    with _decoding(path, max_pixels) as img:
        img.load()
        return as_mode(ImageOps.exif_transpose(img), mode)


def verify_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> None:
    """Raise the :class:`ImageError` that :func:`load_image` would raise for ``path``, if any.

    Quicker than loading: a JPEG is decoded at reduced scale (every byte of it is still read and
    checked), and nothing is converted that the check does not need."""
    with _decoding(path, max_pixels) as img:
        img.draft(None, (64, 64))
        img.load()
        as_mode(ImageOps.exif_transpose(img), "RGB")


@contextmanager
def _decoding(path: str | os.PathLike, max_pixels: int | None) -> Iterator[Image.Image]:
    """The opened, size-checked image; any failure inside becomes this file's :class:`ImageError`."""
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with _open_regular(Path(path)) as f, _quiet():
            with Image.open(f) as img:
                _check_size(*img.size, limit)
                yield img
    except ImageError:
        raise
    except PermissionError:
        raise ImageError("permission denied") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file (no decoder recognises its content)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"refused as a possible decompression bomb: {e}") from None
    except MemoryError:
        raise ImageError("not enough memory to decode it") from None
    except Exception as e:  # any decoder failure is this file's error, not the run's
        raise ImageError(f"cannot decode: {_describe(e)}") from None


@contextmanager
def _quiet() -> Iterator[None]:
    """PIL's warnings silenced: sizes are checked against our own limit, and a damaged file either
    decodes or fails here, so its warnings (bomb, corrupt EXIF) would only be noise. The warning
    filters are process-wide: only the main thread may change them (a thread pool's caller may
    silence them around the pool, as the training scan does)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a non-empty regular file (checked before opening, and
    again on the open file: a FIFO or device must never be read)."""
    try:
        _check_regular(os.stat(path))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ImageError("no such file or folder") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as e:
        raise ImageError(_describe(e)) from None
    try:
        _check_regular(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file")  # a FIFO or device would block or never end
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)")


def _check_size(w: int, h: int, max_pixels: int | None = None) -> None:
    if w < 1 or h < 1:
        raise ImageError(f"{w}x{h}: an image without pixels")
    if max_pixels and w * h > max_pixels:
        raise ImageError(
            f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
            f"(refused as a possible decompression bomb)"
        )
    if max(w, h) > MAX_SIDE:
        raise ImageError(f"{w}x{h}: a side over {MAX_SIDE:,} pixels")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"{w}x{h}: one side over {MAX_ASPECT} times the other")


def _describe(e: BaseException) -> str:
    """A one-line description of ``e`` (an OSError's reason without its file name)."""
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    text = " ".join((text or type(e).__name__).split())
    return text if text.isprintable() else ascii(text)[1:-1]  # a decoder's message may quote raw bytes


def as_mode(img: Image.Image, mode: Mode) -> Image.Image:
    """``img`` as an 8-bit ``mode`` image (see the module docstring); :class:`ImageError` if it has
    no usable size (an in-memory image is checked as a file is) or cannot be converted."""
    _check_size(*img.size)
    if img.mode == "F":  # floats: 0-1, 0-255 or any range; no scale is known, so none is guessed
        raise ImageError("a floating-point image (mode F): its scale is unknown; save it as 8 or 16 bits")
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = _eight_bit(img)
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA")  # palette transparency becomes alpha (which then goes) without a warning
    if img.mode == mode:
        return img
    try:
        if mode == "L" and img.mode not in _GREY_MODES:
            img = img.convert("RGB")  # grey is always the RGB picture's grey, whatever the file's mode
        return img.convert(mode)
    except ValueError as e:
        raise ImageError(f"cannot convert a {img.mode} image to {mode}: {e}") from None


def _eight_bit(img: Image.Image) -> Image.Image:
    # PIL's convert() clips 16-bit values at 255, turning most of the picture white. Mode I holds
    # 16-bit files too (PNG); values beyond 16 bits are a 32-bit image, whose scale is not known.
    a = np.asarray(img, dtype=np.float64)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ImageError(
            f"a 32-bit integer image with values from {a.min():.0f} to {a.max():.0f}: beyond 16 bits, its scale "
            "is unknown; save it as 8 or 16 bits"
        )
    return Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
