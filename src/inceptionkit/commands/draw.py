"""``inceptionkit draw``: a block, the whole network, or a cost chart, as PNG or SVG."""

from __future__ import annotations

import argparse

from ..cli import CommandError, add_model_arguments, model_name
from ..fileio import check_output
from ..registry import get_spec
from ..text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "draw",
        help="draw a block, the network or its cost per block (PNG or SVG)",
        description="Diagrams derived from the spec: --block draws one block as its branches meeting "
        "at the concatenation; without it, the network as a chain of blocks with the output "
        "shape between them; --chart draws MACs and parameters per block as bars.",
    )
    add_model_arguments(p)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--block", help="the block to draw, e.g. inception_3a (keras aliases work too)")
    what.add_argument("--chart", action="store_true", help="MACs and parameters per block, as bars")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png or FILE.svg")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from .. import viz
    except ModuleNotFoundError as e:
        raise CommandError(f"drawing needs matplotlib ({e}); pip install matplotlib") from None
    spec = get_spec(model_name(args), args.variant)
    viz.check_format(args.output)
    check_output(args.output)
    if args.block:
        fig = viz.block_figure(spec, args.block, args.img_size)
    elif args.chart:
        fig = viz.cost_chart(spec, args.img_size)
    else:
        fig = viz.network_figure(spec, args.img_size)
    print(printable(viz.save(fig, args.output)))
    return 0
