"""``inceptionkit eval``: top-1, top-5 and the confusion matrix of a checkpoint on labelled images.

Without ``--data`` (or with the run's own data folder) a checkpoint written by ``train`` is scored on
the images its run held out; the command says which images it scored, and ``--format json`` lists
them, each with its answer under ``predict``'s keys (``path``, ``top``: index, label, probability),
its true class and whether the top guess is right."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..choices import SPLITS
from ..cli import UsageError, add_format_argument, add_run_arguments, run_settings
from ..fileio import check_output

if TYPE_CHECKING:  # the library is imported when the command runs, not when its parser is built
    from ..evaluate import EvalResult
    from ..inference.results import Guess
    from ..train.held_out import EvalImages


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="accuracy and confusion matrix of a checkpoint on labelled images",
        description="Evaluate an inceptionkit checkpoint (e.g. RUN/best.safetensors) on labelled images.",
    )
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="inceptionkit .safetensors weights")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="folder of class subfolders, or a train/val/test layout (default: the images the "
        "checkpoint's run held out: the test digits, its folder's test/ or val/, or its --val-split draw)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="which part of a train/val/test layout, of the digits, or of the run's folder "
        "(default: test, else val)",
    )
    add_run_arguments(p, batch_size=64)
    p.add_argument("--confusion-png", metavar="PATH", help="also draw the confusion matrix into PATH")
    add_format_argument(p, "the scores (json: with each image's answer)")
    p.set_defaults(func=run_eval)


def _check(args: argparse.Namespace) -> None:
    from ..devices import parse_device
    from ..weights.native import read_native_metadata

    args.device = str(parse_device(args.device))
    if not Path(args.checkpoint).is_file():
        raise UsageError(f"{args.checkpoint}: no such file")
    if read_native_metadata(args.checkpoint) is None:
        raise UsageError(
            f"{args.checkpoint}: not an inceptionkit checkpoint (.safetensors with its metadata)"
        )
    if args.confusion_png:
        check_output(args.confusion_png, inputs=[args.checkpoint])


def run_eval(args: argparse.Namespace) -> int:

    from ..data import DataError
    from ..evaluate import evaluate_samples, save_confusion_png
    from ..train.held_out import images_to_evaluate
    from ..weights.native import load_native

    _check(args)
    model = load_native(args.checkpoint, device=args.device)
    meta = model.weight_meta
    if not meta.classes:
        raise UsageError(f"{args.checkpoint} has no class names to evaluate against")
    try:
        images = images_to_evaluate(
            args.checkpoint, meta.classes, data=args.data, split=args.split, workers=args.workers
        )
    except DataError as e:
        raise UsageError(str(e), field=e.field) from None
    result = evaluate_samples(
        model, images.samples, meta.classes, meta.preprocess.transform(), run_settings(args),
        batch_size=args.batch_size, answers=args.format == "json",
    )  # fmt: skip
    name = f"{model.spec.arch} ({model.spec.variant})"
    if args.confusion_png:
        save_confusion_png(result, args.confusion_png, title=f"{model.spec.arch} on {images.where}")
    if args.format == "json":
        print(json.dumps(_as_json(args, name, images, result), indent=2, allow_nan=False))
    else:
        _print_table(args, name, images, result)
    return 0


def _print_table(args: argparse.Namespace, name: str, images: EvalImages, result: EvalResult) -> None:
    from ..evaluate import format_confusion

    if images.note:
        print(images.note)
    if images.skipped:
        print(f"skipped {images.skipped} unreadable image file(s)")
    print(f"{name} on {images.where}: {result.n} images")
    if len(result.classes) <= 30:
        print("confusion matrix (rows: true class, columns: predicted):")
        print(format_confusion(result))
    if args.confusion_png:
        print(f"confusion matrix drawn in {args.confusion_png}")
    print(f"top-1 {result.top1:.2%} ({result.correct}/{result.n})   top-{result.k} {result.topk:.2%}")


def _as_json(args: argparse.Namespace, name: str, images: EvalImages, result: EvalResult) -> dict:
    classes = result.classes
    return {
        "checkpoint": str(args.checkpoint),
        "model": name,
        "images_from": images.where,
        "note": images.note,
        "skipped_unreadable": images.skipped,
        "n": result.n,
        "top1": result.top1,
        "correct": result.correct,
        f"top{result.k}": result.topk,
        "loss": result.loss if math.isfinite(result.loss) else None,  # strict JSON: no NaN
        "classes": classes,
        "confusion": result.confusion.tolist(),
        "images": [
            _image(f, classes[t], answer)
            for f, t, answer in zip(images.files, images.samples.targets, result.answers, strict=True)
        ],
    }


def _image(path: str, true: str, answer: list[Guess] | str) -> dict:
    """One image's answer, under predict's keys (path, top: index, label, probability)."""
    if isinstance(answer, str):  # logits not finite: no class, and no NaN in the JSON
        return {"path": path, "class": true, "error": answer}
    top = [asdict(g) for g in answer]
    return {
        "path": path,
        "class": true,
        "predicted": answer[0].label,
        "correct": answer[0].label == true,
        "top": top,
    }
