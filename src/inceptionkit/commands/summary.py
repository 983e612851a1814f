"""``inceptionkit summary``: the keras-style table (or JSON) of a model, with MACs per layer."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli import add_format_argument, add_model_arguments, model_name


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary",
        help="layers, output shapes, parameters and multiplications of a model",
        description="Layers (or blocks), output shapes, parameters and multiplications (MACs), "
        "computed from the spec without running the network. Table shapes are H×W×C; "
        "JSON shapes are [C, H, W].",
    )
    add_model_arguments(p)
    p.add_argument("--by", choices=("layer", "block"), default="layer", help="one row per layer or per block")
    add_format_argument(p, "the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..summary import summarize

    s = summarize(model_name(args), args.variant, args.img_size, by=args.by)
    if args.format == "json":
        print(json.dumps(s.as_dict(), indent=2, allow_nan=False))
    else:
        # a pipe gets 120 columns, not rich's 80, so that names are not folded
        piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
        Console(width=120 if piped else None).print(s)
    return 0
