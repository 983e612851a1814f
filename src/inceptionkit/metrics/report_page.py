"""What a FID report shows (:class:`ReportData`) and its page, written as HTML: no script, no
resource from the network, every picture a relative link, every piece of text escaped."""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..text import printable

ImageSource = str | os.PathLike | np.ndarray | Callable[[], Image.Image]


@dataclass
class ReportData:
    """What a report shows. Image sources: file paths, uint8 (H, W, 3) arrays, or callables returning
    a PIL image (an item of a stream read on demand). ``outside_manifold``: (index into ``b_images``,
    distance ratio), worst first; ``uncovered``: (index into ``a_images``, ratio); ``None`` where they
    were not computed. ``fid_line``: (slope, intercept) of FID against 1 / N; ``intervals``: name ->
    (estimate, low, high)."""

    metrics: dict[str, float]
    settings: dict
    fid_curve: list[tuple[int, float]] | None = None
    fid_infinity: float | None = None
    fid_line: tuple[float, float] | None = None
    fid_infinity_interval: tuple[float, float] | None = None
    intervals: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    a_images: Sequence[ImageSource] = ()
    b_images: Sequence[ImageSource] = ()
    outside_manifold: list[tuple[int, float]] | None = None
    uncovered: list[tuple[int, float]] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Thumbnail:
    file: str  # the picture, beside index.html
    name: str  # the image's file name, or "B #12"
    index: int
    ratio: float


@dataclass
class Pictures:
    """The pictures written for a page: file names relative to ``index.html``."""

    fid_curve: str | None = None
    grids: dict[str, tuple[str, int]] = field(default_factory=dict)  # "A" -> (file, images shown)
    failures: dict[str, list[Thumbnail]] = field(default_factory=dict)  # "outside", "uncovered"


STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { font-family: monospace; text-align: right; }
.warn { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }
.grids { display: flex; flex-wrap: wrap; gap: 2em; }
.grids figure { flex: 1 1 30em; max-width: 40em; }
.grids img { width: 100%; height: auto; }
.thumbs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
.thumbs figure { max-width: 170px; }
figcaption { font-size: 0.8em; word-break: break-all; }
"""


def _e(value: object) -> str:
    return html.escape(printable(value), quote=True)


def number(v: object) -> str:
    """A number as the page shows it: floats in full (Python's shortest exact form), ∞ and NaN named."""
    if isinstance(v, float | np.floating):
        v = float(v)
        return "NaN" if math.isnan(v) else ("∞" if v == math.inf else "−∞" if v == -math.inf else repr(v))
    return str(v)


def _value(v: object) -> str:
    if isinstance(v, int | float | np.number) and not isinstance(v, bool):
        return number(v)
    return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)


def _table(head: Iterable[str], rows: Iterable[Iterable[object]], numeric_from: int = 1) -> str:
    cells = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(number(c))}</td>' if k >= numeric_from else f"<td>{_e(_value(c))}</td>"
            for k, c in enumerate(row)
        )
        + "</tr>\n"
        for row in rows
    )
    return "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr>\n{cells}</table>\n"


def _img(file: str, alt: str, title: str = "") -> str:
    extra = f' title="{_e(title)}"' if title else ""
    return f'<img src="{html.escape(file, quote=True)}" alt="{_e(alt)}"{extra}>'


def _curve(data: ReportData, pictures: Pictures) -> str:
    if not data.fid_curve:
        return "<p>Not computed (FD∞ needs FIDs of several sample sizes).</p>\n"
    out = [_img(pictures.fid_curve, "FID against 1 / N") if pictures.fid_curve else ""]
    if data.fid_infinity is not None:
        low, high = data.fid_infinity_interval or (None, None)
        span = f" (interval {_e(number(low))} to {_e(number(high))})" if low is not None else ""
        out.append(f"<p>FD∞ = <b>{_e(number(data.fid_infinity))}</b>{span}")
        if data.fid_line is not None:
            slope, intercept = data.fid_line
            out.append(f"; fitted line FID = {_e(number(intercept))} + {_e(number(slope))} / N")
        out.append("</p>\n")
    out.append(_table(("N", "FID"), data.fid_curve))
    return "".join(out)


def _grids(data: ReportData, pictures: Pictures) -> str:
    parts = []
    for label, what, images in (("A", "real", data.a_images), ("B", "generated", data.b_images)):
        if label in pictures.grids:
            file, shown = pictures.grids[label]
            caption = f"{label} ({what}): {shown} of {len(images)} images, evenly spaced"
            parts.append(f"<figure>{_img(file, caption)}<figcaption>{_e(caption)}</figcaption></figure>")
        else:
            parts.append(f"<p>{label} ({what}): no images to show.</p>")
    return '<div class="grids">' + "\n".join(parts) + "</div>\n"


FAILURES = {
    "outside": (
        "Generated images farthest outside the real manifold (precision failures)",
        "distance to the nearest real image's ball over its radius; above 1: outside every ball",
        "Every generated image lies inside the real manifold.",
    ),
    "uncovered": (
        "Real images no generated image covers (coverage failures)",
        "distance to the nearest generated image over the real image's own radius; 1 or more: uncovered",
        "Every real image's neighbourhood holds a generated image (coverage 1).",
    ),
}


def _failures(kind: str, pairs: list | None, pictures: Pictures) -> str:
    title, meaning, none = FAILURES[kind]
    out = [f"<h2>{_e(title)}</h2>\n"]
    if pairs is None:
        return out[0] + "<p>Not computed (it needs the features of both sets).</p>\n"
    thumbs = pictures.failures.get(kind, [])
    if not pairs:
        return out[0] + f"<p>{_e(none)}</p>\n"
    given = f" of {len(pairs)}" if len(pairs) > len(thumbs) else ""
    out.append(
        f"<p>{len(thumbs)}{given} shown, worst first; the ratio under each is the {_e(meaning)}.</p>\n"
    )
    out.append('<div class="thumbs">\n')
    for t in thumbs:
        alt = f"{t.name}: ratio {number(t.ratio)}"
        out.append(
            f"<figure>{_img(t.file, alt, t.name)}<figcaption>{_e(t.name)}<br>"
            f"index {t.index}, ratio {_e(f'{t.ratio:.3f}')}</figcaption></figure>\n"
        )
    return "".join([*out, "</div>\n"])


def render(data: ReportData, pictures: Pictures, warnings: list[str]) -> str:
    """The page, as one HTML document."""
    warn = (
        '<div class="warn"><b>Warnings</b><ul>'
        + "".join(f"<li>{_e(w)}</li>" for w in warnings)
        + "</ul></div>\n"
        if warnings
        else ""
    )
    intervals = (
        _table(("metric", "estimate", "low", "high"), ((k, *v) for k, v in data.intervals.items()))
        if data.intervals
        else "<p>Not computed.</p>\n"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>FID report</title><style>{STYLE}</style></head><body>\n"
        f"<h1>FID report</h1>\n{warn}"
        f"<h2>Metrics</h2>\n{_table(('metric', 'value'), data.metrics.items())}"
        f"<h2>Confidence intervals</h2>\n{intervals}"
        f"<h2>FID against 1 / N</h2>\n{_curve(data, pictures)}"
        f"<h2>The images</h2>\n{_grids(data, pictures)}"
        f"{_failures('outside', data.outside_manifold, pictures)}"
        f"{_failures('uncovered', data.uncovered, pictures)}"
        f"<h2>Settings</h2>\n<p>What reproduces these numbers.</p>\n"
        f"{_table(('setting', 'value'), data.settings.items(), numeric_from=2)}"
        "</body></html>\n"
    )
