"""``inceptionkit predict``: the most likely classes of image files and folders, as a table or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING

from ..choices import ENGINES
from ..cli import UsageError, add_format_argument, add_run_arguments, positive_int, run_settings
from ..settings import RunSettings

if TYPE_CHECKING:  # the library is imported when the command runs, not when its parser is built
    from rich.table import Table

    from ..inference import Prediction
    from ..model import InceptionNet
    from ..preprocess import Preprocess


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The images, the model and its weights, and how to run it: shared with ``features``."""
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="image files or folders (searched recursively): JPEG, PNG, WebP, BMP, GIF, TIFF",
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="architecture, e.g. inception_v3 (optional with an inceptionkit file, which names its model)",
    )
    p.add_argument("--variant", help="weight-source variant, e.g. keras (default: the weights' own)")
    p.add_argument("--weights", metavar="W", help="a weight file or a published tag")
    p.add_argument(
        "--checkpoint", metavar="FILE", help="an inceptionkit checkpoint, e.g. RUN/best.safetensors"
    )
    add_run_arguments(
        p,
        batch_size=16,
        engines=ENGINES,
        engine_help="auto (default): the fastest engine here whose outputs stay within tolerance of fp32, "
        "measured on the first images (and remembered for this machine); torch: exact fp32",
    )
    p.add_argument(
        "--calibration",
        metavar="DIR",
        help="images for the int8 engines to calibrate on (default: the data the weights were trained on)",
    )
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        metavar="N",
        help="refuse larger images as decompression bombs (default: PIL's, 89,478,485)",
    )


def run_options(args: argparse.Namespace) -> RunSettings:
    """How to run, from the shared arguments."""
    return run_settings(args)


def model_from_args(args: argparse.Namespace) -> InceptionNet:
    """The model named by ``--model``/``--variant`` with ``--weights`` or ``--checkpoint`` loaded
    (or, with neither, a published weight set already in the download cache): the arguments handed
    to :func:`~inceptionkit.inference.load_model`, itself a thin wrapper over the one factory."""
    from ..inference import cached_tag, load_model

    if args.weights and args.checkpoint:
        raise UsageError("give --weights or --checkpoint, not both")
    weights = args.checkpoint or args.weights
    if weights is None and args.model is None:
        raise UsageError("give --model NAME with --weights W, or --checkpoint FILE")
    if weights is None and (weights := cached_tag(args.model, args.variant)):
        print(f"inceptionkit {args.command}: using the cached weights {weights}", file=sys.stderr)
    return load_model(args.model, weights, variant=args.variant)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify images with a model and its weights",
        description="The most likely classes of each image, with the preprocessing and class names that "
        "come with the weights. Files that cannot be read are reported in their place; the "
        "exit code is 0 when every image was classified, 1 when some failed, 2 for usage errors.",
    )
    add_input_arguments(p)
    p.add_argument("--top", type=positive_int, default=5, metavar="K", help="classes per image (default 5)")
    add_format_argument(p, "the classes")
    p.add_argument(
        "--onnx",
        metavar="FILE",
        help="an ONNX file to run in ONNX Runtime (with --engine auto or onnxruntime); one "
        "without inceptionkit metadata takes its preprocessing from --model/--weights, or "
        "Inception-v3's (299 px, crop 87.5%%, pixels to [-1, 1])",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..inference import predict

    classifier, preprocess = _classifier(args)
    results = predict(classifier, args.paths, run_options(args), top=args.top, preprocess=preprocess)
    if any(r.top and r.top[0].label is None for r in results):
        print(
            "inceptionkit predict: no class names come with these weights: showing class indices",
            file=sys.stderr,
        )
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in results], indent=2, allow_nan=False))
    else:
        Console().print(_table(results))
    return 1 if any(r.error for r in results) else 0


def _classifier(args: argparse.Namespace):
    """``(model or ONNX runner, preprocessing override)``."""
    if args.onnx is None:
        return model_from_args(args), None
    if args.engine not in ("auto", "onnxruntime"):
        raise UsageError("--onnx FILE runs with --engine onnxruntime (or auto)")
    from ..engines import OnnxRunner

    runner = OnnxRunner(args.onnx)
    return runner, None if runner.preprocess else _fallback_preprocess(args, runner.input_shape)


def _fallback_preprocess(args: argparse.Namespace, input_shape: tuple) -> Preprocess:
    """The recipe of --model/--weights, else the default one sized to the file's input."""
    from ..engines import default_preprocess
    from ..registry import get_spec

    if args.weights or args.checkpoint:
        return model_from_args(args).weight_meta.preprocess
    recipe = default_preprocess(get_spec(args.model, args.variant) if args.model else None)
    c, h = input_shape[1], input_shape[2]
    if isinstance(h, int) and not args.model:
        recipe = dataclasses.replace(recipe, size=h)
    if isinstance(c, int) and c != recipe.channels:
        recipe = dataclasses.replace(recipe, channels=c, mean=recipe.mean[:1] * c, std=recipe.std[:1] * c)
    return recipe


def _table(results: list[Prediction]) -> Table:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from ..images import display_path

    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("image", overflow="fold")  # long paths break, never lose their end
    for name, justify in (("#", "right"), ("class", "left"), ("index", "right"), ("probability", "right")):
        table.add_column(name, justify=justify)
    for r in results:
        path = escape(display_path(r.path or ""))
        if r.error is not None:
            table.add_row(path, "", f"[red]error: {escape(r.error)}[/red]", "", "", end_section=True)
            continue
        for rank, g in enumerate(r.top or [], 1):
            table.add_row(
                path if rank == 1 else "",
                str(rank),
                escape(g.label or ""),
                str(g.index),
                f"{g.probability:.4f}",
                end_section=rank == len(r.top),
            )
    return table
