"""The ``inceptionkit`` command: thin argument parsing over the library.

Each subcommand lives in ``inceptionkit/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a function of the parsed arguments returning an exit code).
Errors meant for the user are raised as :class:`UsageError` (exit 2) or :class:`CommandError`
(exit 1) and printed as one line; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import CommandError, InceptionKitError, UsageError

COMMANDS = (
    "summary",
    "cost",
    "draw",
    "convert",
    "weights",
    "predict",
    "features",
    "train",
    "eval",
    "export",
    "bench",
    "fid",
)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """NAME, --variant and --input-size: what a spec-only command (summary, draw) needs."""
    p.add_argument("name", help="architecture, e.g. inception_v3")
    p.add_argument("--variant", help="weight-source variant, e.g. keras (default: the model's default)")
    p.add_argument(
        "--input-size", type=positive_int, metavar="N", help="square input size (default: the model's)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inceptionkit",
        description="The Inception family: build, summarize, cost, load weights, predict, train, export.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def _report(args: argparse.Namespace, e: BaseException) -> None:
    """One line on stderr; under torchrun, from rank 0 only."""
    if os.environ.get("RANK", "0") == "0":
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"inceptionkit {args.command}: error: {msg}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse's usage errors (2) and --help (0), as a return code
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InceptionKitError as e:  # refused on purpose: its own exit code (2 usage, 1 failure)
        if args.debug:
            raise
        _report(args, e)
        return e.exit_code
    except (UsageError, ValueError, KeyError, FileNotFoundError) as e:
        if args.debug:
            raise
        _report(args, e)
        return 2
    except (CommandError, OSError) as e:  # OSError: a file we could not write or read
        if args.debug:
            raise
        _report(args, e)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
