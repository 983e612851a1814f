"""``inceptionkit convert``: any supported weight file (or published tag) to inceptionkit's format."""

from __future__ import annotations

import argparse
import sys

from ..cli import CommandError, non_negative_int, positive_int
from ..fileio import check_output
from ..text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert keras / torchvision / timm weights to an inceptionkit .safetensors file",
        description="Read a keras .h5 (legacy or keras 3), a torchvision or timm state dict "
        "(.pth/.pt/.bin/.safetensors), an inceptionkit file or a published tag; write inceptionkit's "
        "format (safetensors with the architecture, variant, preprocessing and class names). "
        "The format is told from the file's content.",
    )
    p.add_argument("source", metavar="SRC", help="a weight file or a published tag")
    p.add_argument("--model", required=True, metavar="NAME", help="architecture, e.g. inception_v3")
    p.add_argument("--variant", help="weight-source variant (default: the one the file fits)")
    p.add_argument(
        "--num-classes",
        type=non_negative_int,
        metavar="N",
        help="classes of the classifier (default: the file's); another count keeps a fresh one",
    )
    p.add_argument(
        "--in-chans",
        type=positive_int,
        metavar="N",
        help="input channels (default: the file's); another count adapts the first convolution as timm does",
    )
    p.add_argument("--aux-logits", action="store_true", help="keep the auxiliary classifiers")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the .safetensors file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..weights import load_pretrained, save_native

    check_output(args.output, inputs=[args.source])
    model, notes = load_pretrained(
        args.model,
        args.source,
        variant=args.variant,
        num_classes=args.num_classes,
        aux_logits=args.aux_logits,
        in_chans=args.in_chans,
    )
    for _, note in notes:
        print(f"note: {printable(note)}", file=sys.stderr)
    try:
        save_native(args.output, model, model.weight_meta)
    except OSError as e:
        raise CommandError(f"cannot write {args.output}: {e.strerror or e}") from None
    n = sum(p.numel() for p in model.parameters())
    print(
        f"wrote {printable(args.output)}: {args.model} ({model.spec.variant}), {model.num_classes} classes, "
        f"{n:,} parameters, from {printable(model.weight_meta.source)}"
    )
    return 0
