"""``inceptionkit eval``: top-1, top-5 and the confusion matrix of a checkpoint on labelled images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import UsageError
from ..data import DIGITS, DataError, ImageDataset, load_digits, load_eval_folder
from ..evaluate import evaluate, format_confusion, save_confusion_png
from ..weights.native import load_native, read_native_metadata

SPLITS = ("train", "val", "test")


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
        help="folder of class subfolders, or a train/val/test layout (default: the held-out "
        "digits for a checkpoint trained on them)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="which part of a train/val/test layout or of the digits (default: test, else val)",
    )
    p.add_argument("--batch-size", type=int, default=64, metavar="B")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--workers", type=int, default=0, metavar="N", help="data loading processes")
    p.add_argument("--confusion-png", metavar="PATH", help="also draw the confusion matrix into PATH")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    import torch

    if not Path(args.checkpoint).is_file():
        raise UsageError(f"{args.checkpoint}: no such file")
    md = read_native_metadata(args.checkpoint)
    if md is None:
        raise UsageError(
            f"{args.checkpoint}: not an inceptionkit checkpoint (.safetensors with its metadata)"
        )
    model = load_native(args.checkpoint, device=args.device)
    meta = model.weight_meta
    if not meta.classes:
        raise UsageError(f"{args.checkpoint} has no class names to evaluate against")
    try:
        if args.data is None:
            if md.get("dataset") != DIGITS:
                raise UsageError(f"{args.checkpoint} was not trained on the built-in digits; give --data DIR")
            digits = load_digits()
            split = args.split or "test"
            samples, where, skipped = getattr(digits, split), f"the {split} digits", 0
        else:
            samples, folder, skipped = load_eval_folder(
                args.data, meta.classes, split=args.split, workers=args.workers or None
            )
            where = str(folder)
    except DataError as e:
        raise UsageError(str(e)) from None
    if skipped:
        print(f"skipped {skipped} unreadable image file(s)")
    loader = torch.utils.data.DataLoader(
        ImageDataset(samples, meta.preprocess.transform()),
        batch_size=args.batch_size,
        num_workers=args.workers,
    )
    result = evaluate(model, loader, meta.classes, device=args.device)
    print(f"{model.spec.arch} ({model.spec.variant}) on {where}: {result.n} images")
    if len(meta.classes) <= 30:
        print("confusion matrix (rows: true class, columns: predicted):")
        print(format_confusion(result))
    if args.confusion_png:
        save_confusion_png(result, args.confusion_png, title=f"{model.spec.arch} on {where}")
        print(f"confusion matrix drawn in {args.confusion_png}")
    print(f"top-1 {result.top1:.2%} ({result.correct}/{result.n})   top-{result.k} {result.topk:.2%}")
    return 0
