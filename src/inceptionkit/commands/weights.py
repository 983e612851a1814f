"""``inceptionkit weights``: the published weight sets (``list``) and fetching them (``download``)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli import add_format_argument
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

    from ..weights import cache_dir
    from ..weights.listing import listing

    rows = listing(args.model)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in rows], indent=2, allow_nan=False))
        return 0
    table = Table(title=f"published weights (cache: {cache_dir()})")
    # what a user copies (the tag, the checksum) is never wrapped or cut, however narrow the terminal
    table.add_column("tag", no_wrap=True, min_width=max((len(r.weight_set.tag) for r in rows), default=3))
    table.add_column("variant")
    table.add_column("checksum", no_wrap=True, min_width=max((len(r.checksum) for r in rows), default=8))
    table.add_column("preprocessing")
    table.add_column("cached")
    for r in rows:
        ws = r.weight_set
        table.add_row(ws.tag, ws.variant, r.checksum, r.preprocessing, "yes" if r.cached else "")
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ  # pipes get 140 columns, not 80
    console = Console(width=140 if piped else None)
    # never narrower than the table: a narrow terminal wraps the long lines, nothing is cut off
    console.width = max(
        console.width, Measurement.get(console, console.options.update_width(1000), table).maximum
    )
    console.print(table)
    return 0


def run_download(args: argparse.Namespace) -> int:
    from ..weights import download, get_weight_set

    for ws in [get_weight_set(t) for t in args.tags]:  # every tag checked before the first download
        print(f"{ws.tag}: {printable(download(ws))}")
    return 0
