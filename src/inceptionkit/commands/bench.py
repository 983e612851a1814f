"""``inceptionkit bench``: inference speed per engine against the machine's matmul rate; or the
end-to-end predict pipeline (``--predict-folder``); or training speed (``--train``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..choices import ENGINES
from ..cli import UsageError, add_format_argument, add_img_size_argument, positive_int

if TYPE_CHECKING:  # the library is imported when the command runs, not when its parser is built
    from rich.table import Table

    from ..bench import BenchReport


def engine_list(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]  # checked by benchmark()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="inference (or training) speed of a model on this machine, per engine",
        description="Times the model on each engine this machine can run (and with --peers, on timm, "
        "ONNX Runtime and OpenVINO at their defaults) at each batch size, in turns with large "
        "matrix multiplications in fp32, bf16 and int8 (the machine's own yardsticks, same "
        "threads, same run), and reports the median and spread: latency, images/s, G "
        "multiply-adds/s and the efficiency against the matmul of the precision the engine ran "
        "in. Timings depend on what else the machine is doing: the load average is shown.",
    )
    p.add_argument("name", nargs="?", help="architecture, e.g. inception_v3")
    p.add_argument("--model", metavar="NAME", help="the architecture (the same as NAME)")
    p.add_argument("--variant", help="weight-source variant (default: the model's default)")
    p.add_argument(
        "--engine",
        type=engine_list,
        metavar="E[,E...]",
        help=f"engines to time (default: every one this machine can run of {','.join(ENGINES)})",
    )
    p.add_argument(
        "--peers",
        action="store_true",
        help="also time timm's eager model, ONNX Runtime and OpenVINO on the same file at their defaults",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        nargs="+",
        default=[1, 8],
        metavar="N",
        help="batch sizes (default: 1 8)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="threads for PyTorch and ONNX Runtime (default: the physical cores)",
    )
    add_img_size_argument(p, "square input (default: the model's)")
    p.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed rounds first (default 3)")
    p.add_argument("--runs", type=positive_int, default=20, metavar="N", help="timed rounds (default 20)")
    p.add_argument("--compile", action="store_true", help="torch-opt: also torch.compile the model")
    add_format_argument(p, "the timings")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--predict-folder",
        metavar="DIR",
        help="instead: time `predict` over DIR (first batch size; --engine, default auto) "
        "against the engine it ran on bare tensors",
    )
    mode.add_argument(
        "--train",
        action="store_true",
        help="instead: training images/s of inceptionkit's step next to a plain PyTorch loop",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.warmup < 0:
        raise UsageError(f"--warmup must be at least 0, got {args.warmup}")
    if args.name and args.model and args.name != args.model:
        raise UsageError(f"two different models given: {args.name} and --model {args.model}")
    args.name = args.name or args.model
    if args.name is None:
        raise UsageError("give a model NAME (or --model NAME)")
    if args.predict_folder and args.engine and len(args.engine) > 1:
        raise UsageError("--predict-folder times one engine (or auto)")
    if args.train:
        return _train(args)
    return _predict(args) if args.predict_folder else _engines(args)


def _train(args: argparse.Namespace) -> int:
    from ..bench.jobs import bench_training
    from ..bench.timing import unreliable

    result = bench_training(
        args.name,
        batch_size=args.batch_size[0],
        steps=args.runs,
        img_size=args.img_size,
        threads=args.threads,
    )
    _print_flat(result, args.format, "training")
    _caution(unreliable(args.runs))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from ..bench.jobs import bench_predict
    from ..bench.timing import unreliable

    engine = args.engine[0] if args.engine else "auto"
    result = bench_predict(
        args.name,
        args.variant,
        args.predict_folder,
        engine=engine,
        batch_size=args.batch_size[0],
        threads=args.threads,
        passes=args.runs,
    )
    _print_flat(result.as_dict(), args.format, f"predict --engine {engine}, end to end")
    _caution(unreliable(args.runs))
    return 0


def _engines(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..bench.jobs import bench_engines

    log = (
        (lambda line: print(f"inceptionkit bench: {line}", file=sys.stderr)) if sys.stderr.isatty() else None
    )
    report = bench_engines(
        args.name,
        args.variant,
        engines=args.engine,
        batch_sizes=args.batch_size,
        threads=args.threads,
        input_size=args.img_size,
        warmup=args.warmup,
        runs=args.runs,
        compile=args.compile,
        peers=args.peers,
        log=log,
    )
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in report.results], indent=2))
    else:
        console = Console(width=None if sys.stdout.isatty() else 120)  # a file gets the whole table
        console.print(_header(report))
        console.print(_table(report))
        for engine, hardware in dict.fromkeys((r.engine, r.hardware) for r in report.results):
            console.print(f"{engine}: {hardware}")
        for engine, why in report.skipped.items():
            console.print(f"not timed: {engine}: {why}")
        for note in sorted({r.note for r in report.results if r.note}):
            console.print(f"note: {note}")
    _caution(report.unreliable)
    return 0


def _caution(why: str | None) -> None:
    """One line on stderr when the figures cannot be trusted (stdout keeps the figures, JSON or not)."""
    if why:
        print(f"inceptionkit bench: these figures are unreliable: {why}", file=sys.stderr)


def _header(report: BenchReport) -> str:
    r = report.results[0]
    from ..engines.hardware import cpu_model, matrix_flags

    load = " → ".join(f"{a[0]:.2f}" for a in (report.load_before, report.load_after))
    rates = ", ".join(f"{p} {g:.0f}" for p, g in report.matmul_gflops.items())
    return (
        f"{r.model} ({r.variant}), {r.input_size}×{r.input_size}, "
        f"{r.macs_per_image / 1e9:.2f} G multiply-adds per image; {report.threads} threads on "
        f"{cpu_model()} ({' '.join(matrix_flags())}); matmul G ops/s: {rates} (= 100% for that precision); "
        f"{report.runs} timed rounds after {report.warmup} warm-up; load average {load}. ms: median time "
        f"per batch; IQR: its interquartile range; vs matmul: 2 × multiply-adds/s over the matmul rate "
        f"of the engine's precision; peers (*) run at their own defaults"
    )


def _table(report: BenchReport) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ("engine", "precision", "batch", "images/s", "ms", "IQR ms", "GMAC/s", "vs matmul", "× torch")
    for name in columns:
        table.add_column(name, justify="left" if name in ("engine", "precision") else "right", no_wrap=True)
    for r in report.results:
        s = r.seconds
        table.add_row(
            r.engine + (" *" if r.peer else ""),
            r.precision,
            str(r.batch_size),
            f"{r.images_per_s:.1f}",
            f"{1000 * s.median:.1f}",
            f"{1000 * s.q1:.1f}–{1000 * s.q3:.1f}",
            f"{r.gmacs_per_s:.1f}",
            f"{100 * r.efficiency:.0f}%" if r.efficiency is not None else "",
            f"{r.speedup:.2f}" if r.speedup is not None else "",
        )
    return table


def _print_flat(result: dict, fmt: str, title: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False)
    for key, value in result.items():
        table.add_row(
            key,
            _number(value)
            if not isinstance(value, dict)
            else ", ".join(f"{k} {_number(v)}" for k, v in value.items()),
        )
    Console().print(table)


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
