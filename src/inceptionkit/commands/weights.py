"""``inceptionkit weights``: the published weight sets (``list``) and fetching them (``download``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from ..cli import add_format_argument
from ..preprocess import Preprocess
from ..registry import get_spec
from ..text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "weights",
        help="published weight sets: list them, download them into the cache",
        description="Published weight sets (keras.applications, torchvision, timm) with their URL, "
        "checksum, variant and preprocessing. Downloads go to $INCEPTIONKIT_CACHE, else "
        "$XDG_CACHE_HOME/inceptionkit, else ~/.cache/inceptionkit.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the published weight sets")
    ls.add_argument("--model", metavar="NAME", help="only those of this architecture")
    add_format_argument(ls, "the weight sets")
    ls.set_defaults(func=run_list)
    dl = sub.add_parser("download", help="download (and verify) weight sets into the cache")
    dl.add_argument("tags", nargs="+", metavar="TAG")
    dl.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from ..weights import cache_dir, list_weights
    from ..weights.hub import cached_path

    if args.model is not None:
        get_spec(args.model)  # an unknown name is a usage error, not an empty list
    sets = list_weights(args.model)
    if args.format == "json":
        rows = [
            {
                **asdict(ws),
                "arch": ws.arch,
                "preprocess": asdict(ws.preprocess),
                "cached": str(cached_path(ws)) if cached_path(ws).is_file() else None,
            }
            for ws in sets
        ]
        print(json.dumps(rows, indent=2, allow_nan=False))
        return 0
    table = Table(title=f"published weights (cache: {cache_dir()})")
    # what a user copies (the tag, the checksum) is never wrapped or cut, however narrow the terminal
    checksums = [ws.checksum or "none published" for ws in sets]
    table.add_column("tag", no_wrap=True, min_width=max((len(ws.tag) for ws in sets), default=3))
    table.add_column("variant")
    table.add_column("checksum", no_wrap=True, min_width=max(map(len, checksums), default=8))
    table.add_column("preprocessing")
    table.add_column("cached")
    for ws, checksum in zip(sets, checksums, strict=True):
        table.add_row(
            ws.tag,
            ws.variant,
            checksum,
            _recipe(ws.preprocess),
            "yes" if cached_path(ws).is_file() else "",
        )
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ  # pipes get 140 columns, not 80
    console = Console(width=140 if piped else None)
    # never narrower than the table: a narrow terminal wraps the long lines, nothing is cut off
    console.width = max(
        console.width, Measurement.get(console, console.options.update_width(1000), table).maximum
    )
    console.print(table)
    return 0


def _recipe(pre: Preprocess) -> str:
    size = f"{pre.size}x{pre.size}" if pre.crop_pct is None else f"resize {pre.resize_size}, crop {pre.size}"
    scale = "to [-1, 1]" if pre.mean == pre.std == (0.5, 0.5, 0.5) else f"mean {pre.mean}, std {pre.std}"
    return f"{size}, {pre.interpolation}, {scale}"


def run_download(args: argparse.Namespace) -> int:
    from ..weights import download, get_weight_set

    for ws in [get_weight_set(t) for t in args.tags]:  # every tag checked before the first download
        print(f"{ws.tag}: {printable(download(ws))}")
    return 0
