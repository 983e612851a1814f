"""``inceptionkit fid A B``: FID (and KID, IS) of two folders or statistics files, computed exactly as
pytorch-fid, torch-fidelity or clean-fid compute it; ``fid stats DIR -o FILE``; ``fid bench A B``."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from ..choices import FID_MODES as MODES
from ..choices import FID_TAPS
from ..cli import add_format_argument, add_run_arguments, positive_int, run_settings
from ..errors import DownloadError, UsageError
from ..fileio import check_output
from ..images import IMAGE_EXTENSIONS

DIMS = tuple(FID_TAPS)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fid",
        help="FID, KID and Inception Score as pytorch-fid, torch-fidelity or clean-fid compute them",
        description="inceptionkit fid A B: the Frechet Inception Distance between A and B, each a folder of "
        "images (searched recursively, any size and format) or a statistics .npz file; printed last. "
        "inceptionkit fid stats DIR -o FILE.npz: save DIR's statistics (pytorch-fid's layout). "
        "inceptionkit fid bench A B: images/s against pytorch-fid on the same folders. "
        "Under torchrun the images are split across the processes.",
    )
    p.add_argument("inputs", nargs="+", metavar="A B | stats DIR | bench A B")
    p.add_argument("--mode", choices=MODES, default="pytorch-fid", help="whose pipeline to reproduce")
    p.add_argument("--dims", type=int, choices=DIMS, default=2048, help="feature tap (default 2048)")
    p.add_argument(
        "--kid", action="store_true", help="also the Kernel Inception Distance (keeps the features)"
    )
    p.add_argument("--isc", action="store_true", help="also A's Inception Score (keeps A's logits)")
    p.add_argument("--kid-subsets", type=positive_int, default=100, metavar="N")
    p.add_argument("--kid-subset-size", type=positive_int, default=1000, metavar="N")
    p.add_argument("--isc-splits", type=positive_int, default=10, metavar="N")
    p.add_argument("--weights", metavar="FILE_OR_TAG", help="the FID network's weights (default: the mode's)")
    add_run_arguments(
        p, batch_size=50, skip_bad="compute on the readable images, listing the others",
        workers_help="background processes decoding and resizing images",
    )
    p.add_argument("-o", "--output", metavar="FILE.npz", help="fid stats: where to save the statistics")
    add_format_argument(p, "the metrics")
    p.set_defaults(func=run)


def _common(args: argparse.Namespace) -> dict:
    return dict(weights=args.weights, settings=run_settings(args))


def run(args: argparse.Namespace) -> int:
    from ..devices import current_world
    from ..metrics import calculate_metrics

    action, rest = args.inputs[0], args.inputs[1:]
    if action == "stats":
        return _stats(args, rest)
    if action == "bench":
        return _bench(args, rest)
    if len(args.inputs) != 2:
        raise UsageError(f"fid takes two folders or statistics files, A and B; got {len(args.inputs)}")
    with _offline_hint(args):
        result = calculate_metrics(
            *args.inputs,
            mode=args.mode,
            dims=args.dims,
            kid=args.kid,
            isc=args.isc,
            kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size,
            isc_splits=args.isc_splits,
            **_common(args),
        )
    if not current_world().is_main:
        return 0
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, allow_nan=False))
        return 0
    s, m = result.settings, result.metrics
    w = s["weights"]
    print(
        f"mode {s['mode']}, {s['dims']} dims"
        + (f", weights {w['file']} (sha256 {w['sha256'][:12]})" if w else "")
    )
    print("; ".join(f"{k}: {_images(v)}" for k, v in s["images"].items()))
    if args.kid:
        mean, std = m["kernel_inception_distance_mean"], m["kernel_inception_distance_std"]
        print(f"KID: {mean:.7g} ± {std:.7g} ({s['kid_subsets']} subsets of {s['kid_subset_size']})")
    if args.isc:
        print(f"IS ({args.inputs[0]}): {m['inception_score_mean']:.7g} ± {m['inception_score_std']:.7g}")
    print(f"FID: {m['frechet_inception_distance']:.7g}")
    return 0


def _images(count: int | None) -> str:
    return "count not recorded" if count is None else f"{count} images"


@contextlib.contextmanager
def _offline_hint(args: argparse.Namespace) -> Iterator[None]:
    """A failed download of the mode's default weights says how to give a local copy instead."""
    try:
        yield
    except DownloadError as e:
        if args.weights is not None:
            raise
        from ..metrics import DEFAULT_WEIGHTS
        from ..weights.hub import get_weight_set

        name = get_weight_set(DEFAULT_WEIGHTS[args.mode]).file_name
        raise DownloadError(
            f"{e}; without a network, download {name} elsewhere and pass --weights FILE"
        ) from None


def _stats(args: argparse.Namespace, rest: list[str]) -> int:
    from ..devices import current_world
    from ..metrics import compute_statistics, save_statistics

    if len(rest) != 1 or not args.output:
        raise UsageError("fid stats takes one folder and -o FILE.npz")
    if not Path(rest[0]).is_dir():
        raise UsageError(f"{rest[0]}: no such folder")
    check_output(args.output, inputs=rest, suffixes=IMAGE_EXTENSIONS)
    with _offline_hint(args):
        stats = compute_statistics(rest[0], mode=args.mode, dims=args.dims, **_common(args))
    if current_world().is_main:
        save_statistics(args.output, stats)
        print(f"{args.output}: statistics of {stats.count} images ({args.mode}, {stats.dims} dims)")
    return 0


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    from ..devices import process_device
    from ..metrics.bench import benchmark_fid

    if len(rest) != 2:
        raise UsageError("fid bench takes two folders of images, A and B")
    settings = run_settings(args)
    r = benchmark_fid(
        *rest,
        weights=args.weights,
        dims=args.dims,
        batch_size=args.batch_size,
        workers=settings.worker_count(),
        device=str(process_device(args.device)),
    )
    if args.format == "json":
        print(json.dumps(r.as_dict(), indent=2, allow_nan=False))
        return 0
    d = r.as_dict()
    print(f"{r.images} images, batch {args.batch_size}, {settings.worker_count()} workers")
    print(f"inceptionkit fid: {d['inceptionkit_images_per_s']:.1f} images/s, FID {r.fid_ours:.7g}")
    print(f"pytorch-fid:      {d['pytorch_fid_images_per_s']:.1f} images/s, FID {r.fid_theirs:.7g}")
    print(f"speedup {r.speedup:.2f}x, FID relative difference {r.relative_difference:.2e}")
    return 0
