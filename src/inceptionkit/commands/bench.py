"""``inceptionkit bench``: inference speed per engine against the machine's matmul rate; or the
end-to-end predict pipeline (``--predict-folder``); or training speed (``--train``)."""

from __future__ import annotations

import argparse
import json
import sys

import torch
from rich import box
from rich.console import Console
from rich.table import Table

from ..bench import ENGINES, BenchReport, benchmark, benchmark_predict, torch_threads
from ..cli import UsageError, positive_int
from ..factory import create_model


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers of at least 1, got {text!r}")
    return values


def engine_list(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]  # checked by benchmark()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="inference (or training) speed of a model on this machine, per engine",
        description="Times the model on each engine at each batch size, in turns with a large fp32 matrix "
        "multiplication (the machine's own yardstick, same threads, same run), and reports the "
        "median and spread: latency, images/s, G multiply-adds/s and the efficiency against "
        "the matmul. Timings depend on what else the machine is doing: the load average is shown.",
    )
    p.add_argument("name", help="architecture, e.g. inception_v3")
    p.add_argument("--variant", help="weight-source variant (default: the model's default)")
    p.add_argument(
        "--engine",
        type=engine_list,
        default=list(ENGINES),
        metavar="E[,E...]",
        help=f"engines to time (default: all of {','.join(ENGINES)})",
    )
    p.add_argument("--batch-size", type=int_list, default=[1, 8], metavar="B[,B...]", help="default: 1,8")
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="threads for PyTorch and ONNX Runtime (default: the physical cores)",
    )
    p.add_argument("--input-size", type=positive_int, metavar="N", help="square input (default: the model's)")
    p.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed rounds first (default 3)")
    p.add_argument("--runs", type=positive_int, default=20, metavar="N", help="timed rounds (default 20)")
    p.add_argument("--compile", action="store_true", help="torch-opt: also torch.compile the model")
    p.add_argument("--format", choices=("table", "json"), default="table")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--predict-folder",
        metavar="DIR",
        help="instead: time `predict` with the onnxruntime engine over DIR (first batch size) "
        "against the bare engine",
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
    if args.train:
        from ..train import benchmark_training

        with torch_threads(args.threads or torch.get_num_threads()):
            result = benchmark_training(
                args.name, batch_size=args.batch_size[0], steps=args.runs, img_size=args.input_size
            )
        _print_flat(result, args.format, "training")
        return 0
    torch.manual_seed(0)  # the same random weights every time, so the cached ONNX exports are reused
    model = create_model(args.name, variant=args.variant)
    log = (
        (lambda line: print(f"inceptionkit bench: {line}", file=sys.stderr)) if sys.stderr.isatty() else None
    )
    if args.predict_folder:
        result = benchmark_predict(
            model, args.predict_folder, batch_size=args.batch_size[0], threads=args.threads, passes=args.runs
        )
        _print_flat(result.as_dict(), args.format, "predict --engine onnxruntime, end to end")
        return 0
    report = benchmark(
        model,
        engines=args.engine,
        batch_sizes=args.batch_size,
        threads=args.threads,
        input_size=args.input_size,
        warmup=args.warmup,
        runs=args.runs,
        compile=args.compile,
        log=log,
    )
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in report.results], indent=2))
    else:
        console = Console(width=None if sys.stdout.isatty() else 120)  # a file gets the whole table
        console.print(_header(report))
        console.print(_table(report))
        for note in sorted({r.note for r in report.results if r.note}):
            console.print(f"note: {note}")
    return 0


def _header(report: BenchReport) -> str:
    r = report.results[0]
    load = " → ".join(f"{a[0]:.2f}" for a in (report.load_before, report.load_after))
    return (
        f"{r.model} ({r.variant}), {r.input_size}×{r.input_size}, "
        f"{r.macs_per_image / 1e9:.2f} G multiply-adds per image; {report.threads} threads; "
        f"fp32 matmul {report.matmul_gflops:.0f} GFLOP/s (= 100%); {report.runs} timed rounds after "
        f"{report.warmup} warm-up; load average {load}. ms: median time per batch; IQR: its "
        f"interquartile range; vs matmul: 2 × multiply-adds/s over the matmul's FLOP/s"
    )


def _table(report: BenchReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("engine", "batch", "images/s", "ms", "IQR ms", "GMAC/s", "vs matmul", "× torch"):
        table.add_column(name, justify="left" if name == "engine" else "right", no_wrap=True)
    for r in report.results:
        s = r.seconds
        table.add_row(
            r.engine,
            str(r.batch_size),
            f"{r.images_per_s:.1f}",
            f"{1000 * s.median:.1f}",
            f"{1000 * s.q1:.1f}–{1000 * s.q3:.1f}",
            f"{r.gmacs_per_s:.1f}",
            f"{100 * r.efficiency:.0f}%",
            f"{r.speedup:.2f}" if r.speedup is not None else "",
        )
    return table


def _print_flat(result: dict, fmt: str, title: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=2))
        return
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
