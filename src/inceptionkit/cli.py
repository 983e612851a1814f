"""The ``inceptionkit`` command: thin argument parsing over the library.

Each subcommand lives in ``inceptionkit/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a function of the parsed arguments returning an exit code).
Errors the library raises on purpose (:class:`~inceptionkit.errors.InceptionKitError`) are printed as
one line and return their ``exit_code`` (2: usage, 1: failure); a missing file is a usage error (2),
another OSError a failure (1); anything else is a bug, reported as one "internal error" line (exit 1).
``--debug`` shows the traceback instead. Output cut short by the reader (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

from . import __version__
from .errors import CommandError, InceptionKitError, InceptionKitWarning, UsageError, warnings_inside
from .preprocess import MAX_IMG_SIZE
from .settings import RunSettings
from .text import printable

__all__ = [
    "CommandError",
    "UsageError",
    "add_format_argument",
    "add_model_arguments",
    "add_run_arguments",
    "img_size",
    "main",
    "non_negative_int",
    "run_settings",
]

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


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0 (a class count, where 0 means no classifier)."""
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {n}")
    return n


def img_size(text: str) -> int:
    """An argparse type: a square input size in pixels, 1 to MAX_IMG_SIZE (4096): larger sizes are
    refused before anything of that size is allocated."""
    n = positive_int(text)
    if n > MAX_IMG_SIZE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_IMG_SIZE} pixels, got {n}")
    return n


def add_img_size_argument(
    p: argparse.ArgumentParser, help: str = "square input size (default: the model's)"
) -> None:
    """``--img-size N`` (the grammar's), with ``--input-size`` as a hidden alias."""
    p.add_argument("--img-size", dest="img_size", type=img_size, metavar="N", help=help)
    p.add_argument("--input-size", dest="img_size", type=img_size, help=argparse.SUPPRESS)


FORMATS = ("table", "json")


def add_format_argument(p: argparse.ArgumentParser, what: str = "the results") -> None:
    """``--format table|json`` (the grammar's), with ``--format text`` as a hidden alias of table."""
    p.add_argument(
        "--format",
        type=output_format,
        choices=FORMATS,
        default="table",
        help=f"how {what} are printed: table (default) or json",
    )


def output_format(text: str) -> str:
    """An argparse type: ``table`` or ``json`` (``text``, an older spelling, is ``table``)."""
    return "table" if text == "text" else text


def add_run_arguments(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    batch_size: int | None,
    batch_help: str = "images per batch",
    engines: tuple[str, ...] | None = None,
    engine_help: str = "",
    skip_bad: str | None = None,
    progress: bool = False,
    workers_help: str = "background processes decoding images",
) -> None:
    """The flags of :class:`~inceptionkit.settings.RunSettings`, each with its one type and default:
    ``--batch-size`` (``batch_size`` is this job's default), ``--workers``, ``--device``, and where
    the job has them ``--engine`` (``engines``: its choices, besides ``auto``), ``--skip-bad`` (its
    help) and ``--progress/--no-progress``. Turn the parsed arguments into the record with
    :func:`run_settings`."""
    default = f"default {batch_size}" if batch_size is not None else "default: the recipe's"
    p.add_argument(
        "--batch-size", type=positive_int, default=batch_size, metavar="N", help=f"{batch_help} ({default})"
    )
    p.add_argument(
        "--workers", type=non_negative_int, default=None, metavar="N",
        help=f"{workers_help} (default: on the CPU one per 8 CPUs, on a GPU min(8, CPUs); 0: none)",
    )
    p.add_argument("--num-workers", type=non_negative_int, dest="workers", help=argparse.SUPPRESS)
    p.add_argument(
        "--device", type=str, default=None, metavar="DEVICE",
        help="cpu, cuda or cuda:N (default: cuda if there is one, else cpu)",
    )
    if engines is not None:
        p.add_argument("--engine", choices=("auto", *engines), default="auto", help=engine_help)
    if skip_bad is not None:
        p.add_argument("--skip-bad", action="store_true", help=skip_bad)
    if progress:
        p.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=None,
            help="progress bar (default: when stderr is a terminal)",
        )


def run_settings(args: argparse.Namespace, **extra: object) -> RunSettings:
    """The :class:`~inceptionkit.settings.RunSettings` of parsed arguments: every shared flag the
    command has, ``extra`` fields besides, and one-line notes printed as ``inceptionkit CMD: ...``."""
    names = {f.name for f in dataclasses.fields(RunSettings)} - {"log"}
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    command = getattr(args, "command", None) or "inceptionkit"
    return RunSettings(
        **{**given, **extra},
        log=lambda line: print(f"inceptionkit {command}: {printable(line)}", file=sys.stderr),
    )


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """NAME (or --model NAME), --variant and --img-size: what a spec-only command (summary, draw) needs."""
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="architecture, e.g. inception_v3 (or --model NAME)"
    )
    p.add_argument("--model", dest="model_flag", metavar="NAME", help="the architecture, as NAME")
    p.add_argument("--variant", help="weight-source variant, e.g. keras (default: the model's default)")
    add_img_size_argument(p)


def model_name(args: argparse.Namespace) -> str:
    """The architecture of a spec-only command: NAME or --model NAME (one of them, or both the same)."""
    names = {n for n in (args.name, args.model_flag) if n}
    if len(names) != 1:
        raise UsageError(
            "give the model once: NAME or --model NAME" if names else "the model is missing: NAME"
        )
    return names.pop()


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line like every other refusal
    (``inceptionkit CMD: error: ...``, exit 2; ``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message.removeprefix('argument '))}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="inceptionkit",
        description="The Inception family: build, summarize, cost, load weights, predict, train, export.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"inceptionkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    _debug_after_commands(sub)
    return parser


def _debug_after_commands(sub: argparse._SubParsersAction) -> None:
    """``--debug`` after any command and sub-command too (``inceptionkit fid a b --debug``)."""
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _debug_after_commands(action)


def _report(args: argparse.Namespace, message: object, kind: str = "error") -> None:
    """One line on stderr, control characters escaped; under torchrun, from rank 0 only."""
    if os.environ.get("RANK", "0") == "0":
        print(f"inceptionkit {args.command}: {kind}: {printable(message)}", file=sys.stderr)


class _WarningLines(logging.Handler):
    """The library's log warnings, each as one ``warning:`` line."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(logging.WARNING)
        self.args = args

    def emit(self, record: logging.LogRecord) -> None:
        _report(self.args, record.getMessage(), "warning")


@contextlib.contextmanager
def _warnings_as_lines(args: argparse.Namespace) -> Iterator[None]:
    """Warnings (Python's and the library's log) take the errors' channel: one line each, with no
    source file or line, for the duration of the command. The library's own caveats
    (:class:`~inceptionkit.errors.InceptionKitWarning`) show once per command whatever filters the
    process had (a caller's "ignore", or the registry of a warning an earlier command in the same
    process already showed): a number the tool warns about is never printed without its warning.
    Other libraries' warnings follow the process's filters, as they would without us (Python hides
    their deprecation notes by default); the filters that modules imported during the command add
    (their own "ignore"s) are kept when the command's own filter is taken away."""
    handler = _WarningLines(args)
    logger = logging.getLogger("inceptionkit")
    logger.addHandler(handler)
    try:
        with warnings_inside("default", InceptionKitWarning, lambda message, *rest, **kw: _report(args, message, "warning")):
            yield
    finally:
        logger.removeHandler(handler)


def _quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null, so that neither
    we nor the interpreter's final flush print "Broken pipe"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _run(args: argparse.Namespace) -> int:
    """``args.func(args)``, its exceptions turned into one line and an exit code (see the docstring)."""
    try:
        with _warnings_as_lines(args):
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a command cut off by its reader
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, InceptionKitError):
            _report(args, e.worded_for_the_command_line())
            return e.exit_code
        if isinstance(e, OSError):  # a file we could not read or write
            _report(args, f"{e.filename}: {e.strerror}" if e.filename and e.strerror else e)
            return 2 if isinstance(e, FileNotFoundError) else 1
        _report(args, f"internal error (a bug): {type(e).__name__}: {e}; run with --debug for the traceback")
        return 1


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default: the program's arguments) and return its exit code. Run as
    the program (no ``argv``), a Ctrl-C ends the process with 130 within 1 s (nothing is left to
    clean up: writes are atomic; the interpreter's own teardown of torch takes more than a second)."""
    if argv is None:
        signal.signal(signal.SIGINT, _ctrl_c)
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # while the commands' modules are imported
        code = 130
    if code == 130 and argv is None:
        _exit_now()
    if argv is None:
        # The program ends next: nothing it made is needed any more, so the interpreter's teardown
        # need not search every object for cycles (0.4 s of every command's end with torch loaded).
        # Handlers registered with atexit, threads' joins and files' flushes all run as before.
        gc.freeze()
    return code


def _exit_now() -> None:
    """End the process with 130 now, and the worker processes it started (the loading loop's decoders
    ignore SIGINT: they are ended here, not left to notice their parent is gone)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    if "multiprocessing" in sys.modules:
        # A snapshot of the children (one C call: not torn by the main thread, which may be joining
        # one of them meanwhile, as active_children() can be), each killed on its own if still running
        for child in list(sys.modules["multiprocessing"].process._children):
            with contextlib.suppress(Exception):
                if child.exitcode is None:
                    child.kill()
    os._exit(130)


def _ctrl_c(signum: int, frame: object) -> None:
    """SIGINT as Python's own handler (KeyboardInterrupt), and the process ends 1 s later whatever
    happens to that exception (CPython drops one raised while a worker process is forked)."""
    watchdog = threading.Timer(1.0, _exit_now)
    watchdog.daemon = True
    watchdog.start()
    sys.unraisablehook = lambda unraisable: None  # "Exception ignored in __del__" of what was cut short
    raise KeyboardInterrupt


_ctrl_c.keyboard_interrupt = True  # metrics.checks.interruptible may put SIGINT's default in its place


def _main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse's usage errors (2), --help and --version (0), as a return code
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
