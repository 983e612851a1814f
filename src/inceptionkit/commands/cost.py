"""``inceptionkit cost conv``: the multiplications of one convolution, with or without a bottleneck."""

from __future__ import annotations

import argparse
import json
import re

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..calculator import ConvCost, conv_cost
from ..cli import UsageError, add_format_argument, positive_int
from ..spec import pair


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cost", help="cost calculators (multiplications of a convolution)")
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    conv = sub.add_parser(
        "conv",
        help="multiplications of a convolution, optionally behind a 1x1 bottleneck",
        description="Multiplications of a convolution: output H x W x C_out x C_in/groups x k_h x k_w. "
        "With --reduce, a 1x1 convolution to that many channels goes first.",
    )
    conv.add_argument("--input", required=True, metavar="HxWxC", help="input feature map, e.g. 28x28x192")
    conv.add_argument("--filters", required=True, type=positive_int, help="output channels")
    conv.add_argument("--kernel", required=True, metavar="K|KHxKW", help="kernel size, e.g. 5 or 1x7")
    conv.add_argument("--stride", default="1", metavar="S|SHxSW")
    conv.add_argument("--padding", default="same", metavar="same|valid|N")
    conv.add_argument("--groups", type=positive_int, default=1)
    conv.add_argument(
        "--reduce", type=positive_int, metavar="N", help="channels of a 1x1 bottleneck in front"
    )
    add_format_argument(conv, "the costs")
    conv.set_defaults(func=run_conv)


def parse_dims(text: str, lengths: tuple[int, ...], what: str) -> tuple[int, ...]:
    """``"28x28x192"`` -> (28, 28, 192): positive integers joined by x, as many as ``lengths`` allows."""
    value = text.strip().lower().replace("×", "x")
    dims = tuple(int(v) for v in value.split("x")) if re.fullmatch(r"\d+(x\d+)*", value) else ()
    if len(dims) not in lengths or min(dims) <= 0:
        raise UsageError(f"{what} takes positive integers, got {text!r}")
    return dims


def _window(text: str, what: str) -> int | tuple[int, int]:
    """A kernel or stride: ``"5"`` or ``"1x7"``."""
    dims = parse_dims(text, (1, 2), f"{what} N|HxW")
    return dims[0] if len(dims) == 1 else (dims[0], dims[1])


def _padding(text: str) -> str | int:
    if text in ("same", "valid"):
        return text
    if not text.isdigit():
        raise UsageError(f"--padding takes same, valid or a number of pixels, got {text!r}")
    return int(text)


def run_conv(args: argparse.Namespace) -> int:
    h, w, c = parse_dims(args.input, (3,), "--input HxWxC")
    cost = conv_cost(
        (h, w, c),
        args.filters,
        _window(args.kernel, "--kernel"),
        stride=_window(args.stride, "--stride"),
        padding=_padding(args.padding),
        groups=args.groups,
        reduce=args.reduce,
    )
    if args.format == "json":
        print(json.dumps(cost.as_dict(), indent=2, allow_nan=False))
    else:
        Console().print(render(cost))
    return 0


def _hwc(shape: tuple[int, int, int]) -> str:
    return "×".join(map(str, shape))


def render(cost: ConvCost) -> Group:
    """The stages and their multiplications; with a bottleneck, the total and how many times fewer."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for title in ("stage", "input", "output", "multiplications"):
        table.add_column(title, justify="right" if title == "multiplications" else "left", no_wrap=True)
    for s in cost.stages:
        kh, kw = pair(s.op.k)
        label = f"{s.name}: {kh}×{kw} conv, {s.op.out} filters"
        table.add_row(label, _hwc(s.input_hwc), _hwc(s.output_hwc), f"{s.macs:,}")
    if len(cost.stages) == 1:
        return Group(table)
    table.add_section()
    table.add_row("total", "", "", f"{cost.macs:,}")
    table.add_row("without the bottleneck", "", "", f"{cost.direct_macs:,}")
    verdict = f"{cost.ratio:.2f}× fewer" if cost.ratio >= 1 else f"{1 / cost.ratio:.2f}× more"
    return Group(table, Text(f"{verdict} multiplications than without the bottleneck"))
