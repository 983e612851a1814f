"""Diagrams drawn from the spec with matplotlib: a block's branches, the network, a cost chart.

Nothing is drawn by hand per architecture. A block is laid out by walking its ops: a :class:`Cat`
puts its branches side by side and joins them at a concatenation (the GoogLeNet paper's Figure 2(b)),
a :class:`Residual` puts its shortcut beside its body and joins them at the sum, and every other op is
a box whose output shape and multiplications come from the cost rules of :mod:`inceptionkit.cost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from .errors import UsageError
from .fileio import atomic_write
from .spec import LRN, Act, AdaptivePool, Cat, Conv, NetSpec, Op, Pool, Residual, SepConv, Style, pair
from .summary import format_shape, summarize
from .trace import Shape, Trace, output_shapes, trace_op

Point = tuple[float, float]

# Layout units are inches; y grows downwards.
BOX_W, LINE_H, PAD = 1.75, 0.19, 0.08  # box width, height of a text line, inner margin
V_GAP, H_GAP = 0.42, 0.25  # between boxes of a chain, between branches of a fork
IDENTITY_W = 0.5  # room for an identity shortcut's line
COLORS = {
    "conv": "#cfe2f3",
    "pool": "#fce5cd",
    "block": "#d9ead3",
    "join": "#b6d7a8",
    "io": "#eeeeee",
    "other": "#e6dcf2",
}
FORMATS = (".png", ".svg")


def human(n: int) -> str:
    """128049152 -> '128.0M'."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.{2 if unit == 'G' else 1}f}{unit}"
    return str(n)


# ---------------------------------------------------------------------------------------------
# Op labels: kernel, stride and channels, as the papers' figures write them
# ---------------------------------------------------------------------------------------------


def _stride(s: int | tuple[int, int]) -> str:
    sh, sw = pair(s)
    return "" if (sh, sw) == (1, 1) else f"/{sh}" if sh == sw else f"/{sh}×{sw}"


@singledispatch
def op_label(op: Op) -> str:
    """The text of an op's box, e.g. '5×5 conv, 32' or '3×3/2 max pool'."""
    return type(op).__name__


@op_label.register
def _(op: Conv) -> str:
    kh, kw = pair(op.k)
    extras = ([f"groups {op.groups}"] if op.groups > 1 else []) + ([] if op.act else ["linear"])
    return f"{kh}×{kw}{_stride(op.s)} conv, {op.out}" + (f" ({', '.join(extras)})" if extras else "")


@op_label.register
def _(op: SepConv) -> str:
    return f"{op.k}×{op.k}{_stride(op.s)} sep conv, {op.out}"


@op_label.register
def _(op: Pool) -> str:
    kh, kw = pair(op.k)
    return f"{kh}×{kw}{_stride(op.s)} {op.kind} pool"


@op_label.register
def _(op: AdaptivePool) -> str:
    return f"avg pool to {op.size}×{op.size}"


@op_label.register
def _(op: LRN) -> str:
    return f"LRN ({op.size})"


@op_label.register
def _(op: Act) -> str:
    return "ReLU"


def _kind(op: Op | None) -> str:
    if isinstance(op, (Conv, SepConv)):
        return "conv"
    if isinstance(op, (Cat, Residual)):
        return "block"
    return "pool" if isinstance(op, (Pool, AdaptivePool)) else "other"


# ---------------------------------------------------------------------------------------------
# Layout: boxes, chains of boxes, forks of chains joined by one box
# ---------------------------------------------------------------------------------------------


@dataclass
class Canvas:
    """What a layout draws, collected first so that the figure can be sized to fit."""

    boxes: list[tuple[float, float, float, float, tuple[str, ...], str]] = field(default_factory=list)
    paths: list[list[Point]] = field(default_factory=list)  # polylines, arrow at the end
    notes: list[tuple[float, float, str]] = field(default_factory=list)  # labels on lines

    def render(self, title: str, width: float, height: float) -> Figure:
        span = max(width, 0.1 * max(map(len, title.splitlines())))  # room for the title
        fig = Figure(figsize=(span + 0.4, height + 1.1))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim((width - span) / 2 - 0.2, (width + span) / 2 + 0.2)
        ax.set_ylim(height + 0.2, -0.9)
        ax.axis("off")
        ax.text(width / 2, -0.55, title, ha="center", va="center", fontsize=10, weight="bold")
        for pts in self.paths:
            _arrow(ax, pts)
        for x, y, w, h, lines, kind in self.boxes:
            ax.add_patch(
                FancyBboxPatch(
                    (x, y),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.06",
                    facecolor=COLORS[kind],
                    edgecolor="#555555",
                    linewidth=0.8,
                )
            )
            for i, line in enumerate(lines):
                ax.text(
                    x + w / 2,
                    y + PAD + (i + 0.5) * LINE_H,
                    line,
                    ha="center",
                    va="center",
                    fontsize=8 if i == 0 else 7,
                    color="black" if i == 0 else "#444444",
                    weight="bold" if i == 0 and kind == "io" else "normal",
                )
        for x, y, text in self.notes:
            ax.text(
                x,
                y,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="#7a1f1f",
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"),
            )
        return fig


def _arrow(ax: Axes, pts: list[Point]) -> None:
    xs, ys = zip(*pts, strict=True)
    ax.plot(xs, ys, color="#555555", linewidth=0.8, zorder=0)
    ax.annotate(
        "",
        xy=pts[-1],
        xytext=pts[-2],
        arrowprops=dict(arrowstyle="-|>", color="#555555", lw=0.8, shrinkA=0, shrinkB=0),
    )


def _elbow(a: Point, b: Point) -> list[Point]:
    """From a box's bottom ``a`` to another's top ``b``: down, across just above ``b``, down."""
    if a[0] == b[0]:
        return [a, b]
    turn = b[1] - V_GAP / 2
    return [a, (a[0], turn), (b[0], turn), b]


@dataclass
class Box:
    lines: tuple[str, ...]
    kind: str

    @property
    def size(self) -> tuple[float, float]:
        return BOX_W, 2 * PAD + LINE_H * len(self.lines)

    def place(self, c: Canvas, x: float, y: float) -> tuple[list[Point], Point]:
        """Draw at top-left (x, y); return the entry points and the exit point."""
        w, h = self.size
        c.boxes.append((x, y, w, h, self.lines, self.kind))
        return [(x + w / 2, y)], (x + w / 2, y + h)


@dataclass
class Chain:
    items: list[Box | Chain | Fork]

    @property
    def size(self) -> tuple[float, float]:
        if not self.items:
            return IDENTITY_W, 0.0
        sizes = [i.size for i in self.items]
        return max(w for w, _ in sizes), sum(h for _, h in sizes) + V_GAP * (len(sizes) - 1)

    def place(self, c: Canvas, x: float, y: float) -> tuple[list[Point], Point]:
        width = self.size[0]
        entries: list[Point] = []
        exit_: Point = (x + width / 2, y)  # an empty chain is a line straight through
        for item in self.items:
            w, h = item.size
            ins, out = item.place(c, x + (width - w) / 2, y)
            if entries:
                c.paths += [_elbow(exit_, p) for p in ins]
            else:
                entries = ins
            exit_, y = out, y + h + V_GAP
        return entries or [exit_], exit_


@dataclass
class Fork:
    """Branches side by side (each labelled with its MACs) meeting at ``join``."""

    branches: list[Chain]
    notes: list[str]
    join: Box

    @property
    def size(self) -> tuple[float, float]:
        sizes = [b.size for b in self.branches]
        width = max(sum(w for w, _ in sizes) + H_GAP * (len(sizes) - 1), self.join.size[0])
        return width, max(h for _, h in sizes) + 2 * V_GAP + self.join.size[1]

    def place(self, c: Canvas, x: float, y: float) -> tuple[list[Point], Point]:
        width, height = self.size
        sizes = [b.size for b in self.branches]
        bx = x + (width - sum(w for w, _ in sizes) - H_GAP * (len(sizes) - 1)) / 2
        jy = y + height - self.join.size[1]
        (join_in,), join_out = self.join.place(c, x + (width - self.join.size[0]) / 2, jy)
        entries = []
        for branch, (w, _), note in zip(self.branches, sizes, self.notes, strict=True):
            ins, out = branch.place(c, bx, y)
            entries += ins
            c.paths.append(_elbow(out, join_in))
            c.notes.append((out[0], jy - 1.25 * V_GAP, note))  # all on one level, above the merge
            bx += w + H_GAP
        return entries, join_out


# ---------------------------------------------------------------------------------------------
# From the spec to a layout
# ---------------------------------------------------------------------------------------------


@singledispatch
def layout(op: Op, shape: Shape, style: Style) -> tuple[Box | Chain | Fork, Shape, int]:
    """(what to draw, output shape, MACs) of one op on an input of ``shape`` (C, H, W)."""
    t = Trace()
    out = trace_op(op, shape, style, op_label(op), t)
    return Box((op_label(op), format_shape(out)), _kind(op)), out, sum(r.macs for r in t.rows)


def layout_branch(ops: tuple[Op, ...], shape: Shape, style: Style) -> tuple[Chain, Shape, int]:
    items, macs = [], 0
    for op in ops:
        item, shape, m = layout(op, shape, style)
        items.append(item)
        macs += m
    return Chain(items), shape, macs


@layout.register
def _(op: Cat, shape: Shape, style: Style) -> tuple[Box | Chain | Fork, Shape, int]:
    laid = [layout_branch(b, shape, style) for b in op.branches]
    if len(laid) == 1:  # a single branch is no concatenation
        return laid[0]
    out = (sum(o[0] for _, o, _ in laid), *laid[0][1][1:])
    join = Box(("concat", format_shape(out)), "join")
    notes = [f"{human(m)} MACs" for _, _, m in laid]
    return Fork([c for c, _, _ in laid], notes, join), out, sum(m for _, _, m in laid)


@layout.register
def _(op: Residual, shape: Shape, style: Style) -> tuple[Box | Chain | Fork, Shape, int]:
    skip, _, skip_macs = layout_branch(op.shortcut, shape, style)
    body, out, body_macs = layout_branch(op.body, shape, style)
    add = "add" if op.scale is None else f"add ×{op.scale}"
    join = Box((add + (", ReLU" if op.act else ""), format_shape(out)), "join")
    notes = [f"{human(skip_macs)} MACs" if op.shortcut else "identity", f"{human(body_macs)} MACs"]
    return Fork([skip, body], notes, join), out, skip_macs + body_macs


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _figure(root: Box | Chain | Fork, title: str) -> Figure:
    c = Canvas()
    root.place(c, 0.0, 0.0)
    return c.render(title, *root.size)


def block_figure(spec: NetSpec, block: str, input_size: int | tuple[int, int] | None = None) -> Figure:
    """One block (a node of ``spec`` or its alias) as its branches meeting at the join."""
    name = spec.resolve(block)
    shapes = output_shapes(spec, spec.default_size if input_size is None else input_size)
    names = spec.node_names
    i = names.index(name)
    shape = shapes[names[i - 1]] if i else shapes["input"]
    item, out, macs = layout(dict(spec.features)[name], shape, spec.style)
    root = Chain([Box(("input", format_shape(shape)), "io"), item])
    title = f"{spec.arch} ({spec.variant}) {name}: {format_shape(shape)} → {format_shape(out)}, {human(macs)} MACs"
    return _figure(root, title)


def network_figure(
    spec: NetSpec, input_size: int | tuple[int, int] | None = None, per_column: int = 14
) -> Figure:
    """The network as a chain of blocks, ``per_column`` to a column, output shapes on the arrows."""
    s = summarize(spec, input_size=input_size, by="block")
    ops = dict(spec.features)
    step = 2 * PAD + 3 * LINE_H + V_GAP + 0.15  # a box and the arrow below it
    col_w = BOX_W + 1.2
    c = Canvas()
    prev: Point | None = None
    for i, r in enumerate(s.rows):
        col, k = divmod(i, per_column)
        lines = (r.name, r.type, f"{human(r.macs)} MACs") if r.macs else (r.name, r.type)
        kind = _kind(ops[r.block]) if r.block in ops else "io"
        (top,), bottom = Box(lines, kind).place(c, col * col_w, k * step)
        if prev is not None and k:
            c.paths.append([prev, top])
        elif prev is not None:  # on to the next column: down, across, up over it, into its first box
            low, gap_x = prev[1] + step - 3 * LINE_H - 2 * PAD, col * col_w - 0.6
            c.paths.append([prev, (prev[0], low), (gap_x, low), (gap_x, -0.2), (top[0], -0.2), top])
        c.notes.append(
            (bottom[0], bottom[1] + (step - (bottom[1] - top[1])) / 2, format_shape(r.output_shape))
        )
        prev = bottom
    columns = (len(s.rows) - 1) // per_column + 1
    h, w = s.input_size
    title = (
        f"{spec.arch} ({spec.variant}) at {h}×{w}\n"
        f"{s.layers} layers, {s.total_params:,} params, {human(s.macs)} MACs"
    )
    return c.render(title, columns * col_w - 1.2, min(len(s.rows), per_column) * step)


def cost_chart(spec: NetSpec, input_size: int | tuple[int, int] | None = None) -> Figure:
    """MACs and parameters per block, as horizontal bars."""
    s = summarize(spec, input_size=input_size, by="block")
    rows = [r for r in s.rows if r.block != "input"]
    names = [r.name for r in rows]
    fig = Figure(figsize=(9, 1.2 + 0.22 * len(rows)), layout="constrained")
    ax_macs, ax_params = fig.subplots(1, 2, sharey=True)
    ax_macs.barh(names, [r.macs / 1e6 for r in rows], color="#3d85c6")
    ax_macs.set_xlabel("MACs (millions)")
    ax_params.barh(names, [r.params / 1e6 for r in rows], color="#e69138")
    ax_params.set_xlabel("parameters (millions)")
    ax_macs.invert_yaxis()
    ax_macs.tick_params(axis="y", labelsize=8)
    for ax in (ax_macs, ax_params):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"{spec.arch} ({spec.variant}) at {s.input_size[0]}×{s.input_size[1]}: cost per block", fontsize=10
    )
    return fig


def check_format(path: str | Path) -> str:
    """The format of ``path`` by its suffix (png or svg), or a UsageError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot draw to {Path(path).name}: use one of {', '.join(FORMATS)}")
    return suffix[1:]


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG or SVG (by the suffix), atomically; SVG keeps its text as text, so it can
    be searched."""
    path = Path(path)
    fmt = check_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110))
    return path
