"""``inceptionkit features``: one feature vector (or map) per image, written to an ``.npz`` file."""

from __future__ import annotations

import argparse
import sys

from ..cli import CommandError
from ..fileio import check_output
from ..images import IMAGE_EXTENSIONS
from .predict import add_input_arguments, model_from_args, run_options


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "features",
        help="feature vectors of images (embeddings, FID pool features) to an .npz file",
        description="The output of a stage (default: the last, before the classifier), pooled over space, "
        "for each image. OUT.npz holds `features` (N x C, or N x C x H x W with --pool none) "
        "and `paths` in input order, and `failed_paths` with `failed_errors` for the files "
        "that could not be read (exit code 1 then).",
    )
    add_input_arguments(p)
    p.add_argument(
        "--layer",
        metavar="NAME",
        help="stage to read, e.g. mixed_6e (keras names such as mixed5 work too; default: the last)",
    )
    p.add_argument(
        "--pool",
        choices=("avg", "max", "none"),
        default="avg",
        help="average (the model's own global pooling), maximum, or the whole map",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..images import display_path
    from ..inference import extract_features

    check_output(args.output, inputs=args.paths, suffixes=IMAGE_EXTENSIONS)
    result = extract_features(
        model_from_args(args), args.paths, run_options(args), layer=args.layer, pool=args.pool
    )
    for path, error in result.failed:
        print(f"{display_path(path or '<in memory>')}: error: {error}", file=sys.stderr)
    if not result.paths:
        raise CommandError("no image could be read; nothing written")
    result.save(args.output)
    shape = tuple(result.features.shape[1:])
    print(
        f"{args.output}: {len(result.paths)} feature {'vectors' if len(shape) == 1 else 'maps'} "
        f"of shape {shape}" + (f"; {len(result.failed)} failed" if result.failed else "")
    )
    return 1 if result.failed else 0
