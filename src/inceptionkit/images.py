"""Finding image files and decoding them, so that one bad file never stops the others.

:func:`find_images` expands folders (recursively, skipping hidden names) into image files in a stable
order; :func:`load_image` decodes one file into an upright RGB or grayscale PIL image, or raises
:class:`ImageError` whose message says in one line what is wrong with that file.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff"}
)
Mode = Literal["RGB", "L"]


@dataclass(frozen=True)
class Source:
    """One image file to read, or (``error`` set) a path that yielded none."""

    path: str
    error: str | None = None


def find_images(paths: Iterable[str | os.PathLike]) -> list[Source]:
    """The image files named by ``paths``, in order; folders are searched recursively.

    A folder contributes its image files (by suffix, sorted, hidden names skipped), or one
    :class:`Source` with an error if it has none. Other paths are kept as given, whatever their
    name: a missing or unreadable file fails later, in its place, when it is decoded.
    """
    sources: list[Source] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [Source(str(f)) for f in _image_files(p)]
            sources += found or [Source(str(p), "folder contains no image files")]
        else:
            sources.append(Source(str(p)))
    return sources


def _image_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(root, f)
            for f in sorted(files)
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES
        ]
    return found


def load_image(path: str | os.PathLike, mode: Mode = "RGB", *, max_pixels: int | None = None) -> Image.Image:
    """Decode the image at ``path`` (the first frame of an animation), upright, in ``mode``.

    EXIF orientation is applied; CMYK, palette, 16-bit and alpha images are converted (alpha is
    dropped, as keras' ``load_img`` and torchvision's loaders do). Images of more than ``max_pixels``
    pixels (default: PIL's ``Image.MAX_IMAGE_PIXELS``) are refused before decoding, as decompression
    bombs; PIL itself refuses to open images of more than twice its own limit. Raises
    :class:`ImageError` for anything that is not a readable image.
    """
    path = Path(path)
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # the size is checked below against our own limit; PIL's warning would only be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if limit and w * h > limit:
                    raise ImageError(_bomb_message(w, h, limit))
                img.load()
                return as_mode(ImageOps.exif_transpose(img), mode)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError("permission denied") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file (no decoder recognises its content)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"refused as a possible decompression bomb: {e}") from None
    except Exception as e:  # any decoder failure is this file's error, not the run's
        raise ImageError(f"cannot decode: {_describe(e)}") from None


def _check_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError("no such file or folder") from None
    except OSError as e:
        raise ImageError(_describe(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file")  # a FIFO or device would block or never end
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)")


def _bomb_message(w: int, h: int, limit: int) -> str:
    return (
        f"{w}x{h} = {w * h:,} pixels is over the limit of {limit:,} "
        f"(refused as a possible decompression bomb)"
    )


def _describe(e: BaseException) -> str:
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return text or type(e).__name__


def as_mode(img: Image.Image, mode: Mode) -> Image.Image:
    """``img`` as an 8-bit ``mode`` image; 16-bit images are scaled down rather than clipped."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = _eight_bit(img)
    elif img.mode == "P":
        img = img.convert("RGBA")  # palette transparency becomes alpha (which then goes) without a warning
    try:
        return img if img.mode == mode else img.convert(mode)
    except ValueError as e:
        raise ImageError(f"cannot convert a {img.mode} image to {mode}: {e}") from None


def _eight_bit(img: Image.Image) -> Image.Image:
    # PIL's convert() clips 16-bit values at 255, turning most of the picture white
    a = np.asarray(img, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
