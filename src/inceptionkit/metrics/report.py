"""A FID report: one HTML page, ``index.html``, with its pictures beside it, that a browser opens
from the disk (no script, no network, every link relative).

It shows the metrics with the settings that reproduce them, FID against 1 / N with the fitted line
read at 1 / N = 0 (FD∞), the confidence intervals, a grid of each image set, and the precision and
recall failures as thumbnails: the generated images farthest outside the real manifold and the real
images that no generated image covers (:func:`manifold_failures`, from the two sets' features).

The page is built in a temporary folder beside its destination and then renamed into place, so a
reader never sees half a report; into an existing folder, the pictures are replaced one by one and
``index.html`` last (each replacement atomic), and pictures of an earlier report that the new one
does not use are removed. Every piece of text (file names included, which can hold anything) is
HTML-escaped.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from ..errors import CommandError, ImageError, InceptionKitError, OutputError, UsageError
from ..fileio import check_output
from ..images import as_mode, load_image
from ..text import printable
from .prdc import K_DC, K_PR, ball_ratios
from .report_page import ImageSource, Pictures, ReportData, Thumbnail, render
from .uncertainty import Extrapolation

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

CELL = 96  # pixels of one grid cell
THUMB = 160  # the longest side of a failure's thumbnail
OWN = ("fid_curve.png", "a_grid.png", "b_grid.png")  # with outside-*.png and uncovered-*.png

__all__ = ["ImageSource", "ReportData", "extrapolation_fields", "manifold_failures", "write_report"]


def extrapolation_fields(ext: Extrapolation) -> dict:
    """The ``ReportData`` fields of an FD∞ fit: ``ReportData(..., **extrapolation_fields(ext))``."""
    return {
        "fid_curve": list(zip(ext.sizes, ext.fids, strict=True)),
        "fid_infinity": ext.value,
        "fid_line": (ext.slope, ext.value),
        "fid_infinity_interval": (ext.interval.low, ext.interval.high),
    }


def manifold_failures(
    real, fake, *, count: int = 16, k_pr: int = K_PR, k_dc: int = K_DC, **blocks
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """The precision and recall failures, worst first, at most ``count`` of each: generated samples
    outside every real ``k_pr``-ball (index into ``fake``, ratio > 1) and real samples whose
    ``k_dc``-ball holds no generated one (index into ``real``, ratio >= 1); ratios from
    :func:`~inceptionkit.metrics.prdc.ball_ratios`, ties broken by the lower index."""
    outside, uncovered = ball_ratios(real, fake, k_pr=k_pr, k_dc=k_dc, **blocks)
    return _worst(outside, outside > 1, count), _worst(uncovered, uncovered >= 1, count)


def _worst(ratios: np.ndarray, failed: np.ndarray, count: int) -> list[tuple[int, float]]:
    order = np.lexsort((np.arange(len(ratios)), -ratios))
    return [(int(i), float(ratios[i])) for i in order[failed[order]][:count]]


def write_report(out_dir: str | Path, data: ReportData, *, grid: int = 64, worst: int = 16) -> Path:
    """Write the report into ``out_dir`` (created, or updated in place) and return its ``index.html``:
    ``grid`` images of each set, at most ``worst`` thumbnails of each kind of failure."""
    out_dir = Path(out_dir)
    _check_indices(data)
    staging = _staging(out_dir)
    try:
        warnings = list(data.warnings)
        pictures = _pictures(staging, data, grid, worst, warnings)
        (staging / "index.html").write_text(render(data, pictures, warnings), encoding="utf-8")
        _publish(staging, out_dir)
    except OSError as e:  # a full disk, the folder removed meanwhile
        raise CommandError(f"cannot write the report to {printable(out_dir)}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "index.html"


def _check_indices(data: ReportData) -> None:
    for what, pairs, images, name in (
        ("outside_manifold", data.outside_manifold, data.b_images, "B"),
        ("uncovered", data.uncovered, data.a_images, "A"),
    ):
        for i, _ in pairs or ():
            if not 0 <= i < len(images):
                raise UsageError(f"{what}: index {i}, but {name} has {len(images)} image source(s)")


def _staging(out_dir: Path) -> Path:
    """A new temporary folder on the destination's file system: in it if it exists, else beside it.
    Creating it is the last check that the destination can be written (root passes the permission
    test of :func:`~inceptionkit.fileio.check_output` on a read-only file system)."""
    check_output(out_dir, folder=True)
    where = out_dir if out_dir.is_dir() else out_dir.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=where))
    except OSError as e:
        raise OutputError(f"cannot write the report to {printable(out_dir)}: {e.strerror or e}") from None


def _publish(staging: Path, out_dir: Path) -> None:
    names = sorted(p.name for p in staging.iterdir())
    for name in names:
        with open(staging / name, "rb") as f:
            os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; a finished folder gets the usual mode
    if staging.parent != out_dir:
        os.rename(staging, out_dir)
        return
    for name in [n for n in names if n != "index.html"] + ["index.html"]:
        os.replace(staging / name, out_dir / name)
    stale = [
        *OWN,
        *(p.name for p in out_dir.glob("outside-*.png")),
        *(p.name for p in out_dir.glob("uncovered-*.png")),
    ]
    for name in set(stale) - set(names):
        (out_dir / name).unlink(missing_ok=True)


def _pictures(staging: Path, data: ReportData, grid: int, worst: int, warnings: list[str]) -> Pictures:
    pictures = Pictures()
    if data.fid_curve:
        fid_curve_figure(data).savefig(staging / "fid_curve.png", dpi=100)
        pictures.fid_curve = "fid_curve.png"
    for images, name, label in ((data.a_images, "a_grid.png", "A"), (data.b_images, "b_grid.png", "B")):
        if len(images) and grid > 0:
            picks = np.unique(np.linspace(0, len(images) - 1, min(grid, len(images))).round().astype(int))
            cells = [_thumbnail(images, int(i), label, CELL, warnings, square=True) for i in picks]
            _grid(cells).save(staging / name)
            pictures.grids[label] = (name, len(picks))
    for pairs, images, label, stem in (
        (data.outside_manifold, data.b_images, "B", "outside"),
        (data.uncovered, data.a_images, "A", "uncovered"),
    ):
        figures = []
        for rank, (i, ratio) in enumerate((pairs or [])[:worst], 1):
            file = f"{stem}-{rank:02d}.png"
            _thumbnail(images, i, label, THUMB, warnings, square=False).save(staging / file)
            figures.append(Thumbnail(file, _name(images[i], label, i), i, ratio))
        pictures.failures[stem] = figures
    return pictures


def _name(source: ImageSource, label: str, i: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"{label} #{i}"


def _thumbnail(
    images: Sequence[ImageSource], i: int, label: str, side: int, warnings: list[str], *, square: bool
) -> Image.Image:
    """Image ``i`` within ``side`` x ``side`` pixels (``square``: padded to the square, for a grid); a
    source that cannot be read becomes a grey square, and a warning says why."""
    try:
        img = _open(images[i])
    except (InceptionKitError, OSError) as e:
        warnings.append(f"{label} image {i} ({_name(images[i], label, i)}) could not be shown: {e}")
        return Image.new("RGB", (side, side), (200, 200, 200))
    if square:
        return ImageOps.pad(img, (side, side), Image.Resampling.LANCZOS, color=(255, 255, 255))
    return ImageOps.contain(img, (side, side), Image.Resampling.LANCZOS)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ImageError(f"an array of {source.dtype} {source.shape}; a uint8 (H, W, 3) image is needed")
        return Image.fromarray(source, "RGB")
    img = source()
    if not isinstance(img, Image.Image):
        raise ImageError(f"the source gave a {type(img).__name__}, not a PIL image")
    return as_mode(img, "RGB")


def fid_curve_figure(data: ReportData) -> MplFigure:
    """FID against 1 / N: the measured points, the fitted line down to 1 / N = 0 and FD∞ there."""
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    n, fid = np.array([p[0] for p in data.fid_curve], float), np.array([p[1] for p in data.fid_curve])
    ax.plot(1 / n, fid, "o", color="tab:blue", label="FID of N samples")
    if data.fid_line is not None:
        x = np.array([0, (1 / n).max()])
        ax.plot(x, data.fid_line[1] + data.fid_line[0] * x, "-", color="tab:gray", label="least-squares line")
    if data.fid_infinity is not None:
        low, high = data.fid_infinity_interval or (data.fid_infinity, data.fid_infinity)
        err = [[data.fid_infinity - low], [high - data.fid_infinity]]
        ax.errorbar([0], [data.fid_infinity], yerr=err, fmt="s", color="tab:red", capsize=4, label="FD∞")
    ax.set_xlabel("1 / N")
    ax.set_ylabel("FID")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _grid(cells: list[Image.Image]) -> Image.Image:
    cols = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / cols)
    out = Image.new("RGB", (cols * (CELL + 2), rows * (CELL + 2)), (255, 255, 255))
    for n, cell in enumerate(cells):
        out.paste(cell, ((n % cols) * (CELL + 2) + 1, (n // cols) * (CELL + 2) + 1))
    return out
