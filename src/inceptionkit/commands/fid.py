"""``inceptionkit fid A B``: FID (and KID, IS, precision/recall/density/coverage, FD∞, intervals) of two
inputs, computed exactly as the chosen library computes it; ``fid stats SRC -o FILE``;
``fid compare A B`` (every mode side by side: :mod:`.fid_compare`); ``fid bench A B``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from ..choices import ENGINES, FID_TAPS
from ..choices import FID_MODES as MODES
from ..cli import add_format_argument, add_run_arguments, positive_int, run_settings
from ..errors import DownloadError, UsageError
from ..fileio import check_output
from ..images import IMAGE_EXTENSIONS
from .fid_flags import check_flags
from .fid_flags import defaults as flag_defaults

DIMS = tuple(FID_TAPS)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fid",
        usage="inceptionkit fid [options] A B | stats SRC -o FILE.npz | compare A B | bench A B",
        help="FID, KID, IS, precision/recall as pytorch-fid, torch-fidelity, clean-fid, torchmetrics or "
        "guided-diffusion's evaluator compute them",
        description="inceptionkit fid A B: the Frechet Inception Distance between A (the reference) and B "
        "(the samples), each a folder of images (searched recursively, any size and format), an .npz "
        "image batch (arr_0, N x H x W x 3 uint8), a .zip of images or a statistics .npz; printed last. "
        "inceptionkit fid stats SRC -o FILE.npz: save SRC's statistics. inceptionkit fid compare A B: "
        "every mode side by side. inceptionkit fid bench A B: every FID tool timed on A and B (--stages: "
        "where our time goes). "
        "Under torchrun the images are split across the processes.",
    )
    p.add_argument("inputs", nargs="+", metavar="A B | stats SRC | compare A B | bench A B")
    p.add_argument("--mode", choices=MODES, default="pytorch-fid", help="whose pipeline to reproduce")
    p.add_argument("--dims", type=int, choices=DIMS, default=2048, help="feature tap (default 2048)")
    p.add_argument(
        "--kid", action="store_true", help="also the Kernel Inception Distance (keeps the features)"
    )
    p.add_argument("--isc", action="store_true", help="also A's Inception Score (keeps A's logits)")
    p.add_argument("--kid-subsets", type=positive_int, default=100, metavar="N")
    p.add_argument("--kid-subset-size", type=positive_int, default=1000, metavar="N")
    p.add_argument("--isc-splits", type=positive_int, default=10, metavar="N")
    _add_extras(p)
    p.add_argument("--weights", metavar="FILE_OR_TAG", help="the FID network's weights (default: the mode's)")
    add_run_arguments(
        p, batch_size=50, skip_bad="compute on the readable images, listing the others",
        workers_help="background processes decoding and resizing images", engines=ENGINES,
        engine_help="the network's engine: auto (default: the fastest here whose features are within 1e-5 "
        "of fp32 PyTorch), torch (eager fp32), torch-opt, onnxruntime or openvino (forced to f32); "
        "the low-precision engines are refused for metrics",
    )  # fmt: skip
    p.add_argument("-o", "--output", metavar="FILE.npz", help="fid stats: where to save the statistics")
    p.add_argument("--modes", metavar="M1,M2", help="fid compare, fid bench: the modes (default: all)")
    p.add_argument("--stages", action="store_true", help="fid bench: time each stage of ours instead of the tools")
    p.add_argument("--report", metavar="DIR", help="also write an HTML report of the results into DIR")
    add_format_argument(p, "the metrics")
    p.set_defaults(func=run, flag_defaults=flag_defaults(p))


def _k_pair(text: str) -> tuple[int, int]:
    parts = [positive_int(t) for t in text.split(",")]
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"one k or two (k for precision/recall, k for density/coverage): {text}")
    return (parts[0], parts[-1])


def _ci(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a confidence level between 0 and 1 (e.g. 0.95), got {text}")
    return value


def _add_extras(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prdc", action="store_true", help="also precision, recall, density and coverage (A real, B generated)"
    )
    p.add_argument(
        "--prdc-k", type=_k_pair, default=(3, 5), metavar="K[,K_DC]",
        help="their neighbourhoods: K for all four, or K for precision/recall and K_DC for density/coverage "
        "(default 3,5: Kynkaenniemi et al.'s and Naeem et al.'s)",
    )  # fmt: skip
    p.add_argument("--fid-infinity", action="store_true", help="also FD∞ (Chong & Forsyth) of B against A")
    p.add_argument(
        "--fid-infinity-min-size", type=positive_int, default=5000, metavar="N",
        help="FD∞'s smallest subset (default 5000, as score_infinity.py)",
    )  # fmt: skip
    p.add_argument("--ci", type=_ci, metavar="LEVEL", help="bootstrap confidence intervals for FID and KID")
    p.add_argument("--bootstrap", type=positive_int, default=1000, metavar="N", help="resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's and FD∞'s random seed (default 0)")


def metric_arguments(args: argparse.Namespace) -> dict:
    """The keywords of :func:`~inceptionkit.metrics.calculate_metrics` that the flags give."""
    return dict(
        mode=args.mode, dims=args.dims, kid=args.kid, isc=args.isc, kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size, isc_splits=args.isc_splits, prdc=args.prdc, prdc_k=args.prdc_k,
        fid_infinity=args.fid_infinity, fid_infinity_min_size=args.fid_infinity_min_size, ci=args.ci,
        bootstrap=args.bootstrap, seed=args.seed, weights=args.weights, settings=run_settings(args),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..devices import current_world
    from ..metrics import calculate_metrics

    check_flags(args, args.flag_defaults)
    action, rest = args.inputs[0], args.inputs[1:]
    if action in ("stats", "bench", "compare"):
        return {"stats": _stats, "bench": _bench, "compare": _compare}[action](args, rest)
    if len(args.inputs) != 2:
        raise UsageError(f"fid takes two inputs, A and B; got {len(args.inputs)}")
    if args.report:
        check_output(args.report, folder=True)  # before any image is read
    with _offline_hint(args):
        result = calculate_metrics(*args.inputs, **metric_arguments(args), report=bool(args.report))
    if not current_world().is_main:
        return 0
    if args.report:
        write_report(args.report, result)
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, allow_nan=False))
    else:
        print_result(result, args)
    return 0


def write_report(directory: str, result) -> None:
    """``--report DIR``: the HTML report of ``result`` (kept features included) into ``directory``."""
    from ..metrics.report import write_report as write
    from ..metrics.report_result import report_data

    index = write(Path(directory), report_data(result))
    print(f"report: {index}", file=sys.stderr)


def print_result(result, args: argparse.Namespace) -> None:
    s, m = result.settings, result.metrics
    w = s["weights"]
    weights = f", weights {w['file']} (sha256 {w['sha256'][:12]})" if w else ""
    print(f"mode {s['mode']}, {s['dims']} dims{weights}")
    print("; ".join(f"{k}: {_images(v)}" for k, v in s["images"].items()))
    if args.kid:
        mean, std = m["kernel_inception_distance_mean"], m["kernel_inception_distance_std"]
        print(f"KID: {mean:.7g} ± {std:.7g} ({s['kid_subsets']} subsets of {s['kid_subset_size']})")
    if args.isc and s["mode"] != "guided-diffusion":
        print(f"IS ({args.inputs[0]}): {m['inception_score_mean']:.7g} ± {m['inception_score_std']:.7g}")
    for line in extras_lines(m, s):
        print(line)
    if s["mode"] == "guided-diffusion":
        for line in evaluator_lines(m):
            print(line)
    else:
        print(f"FID: {m['frechet_inception_distance']:.7g}")


def extras_lines(m: dict, s: dict) -> list[str]:
    """The figures of :mod:`~inceptionkit.metrics.extras`, one line each."""
    out = []
    if "density" in m:
        k = s["prdc"]
        pr = f"precision {m['precision']:.4f}, recall {m['recall']:.4f} (k = {k['k_pr']}); " if s["mode"] != "guided-diffusion" else ""
        out.append(f"{pr}density {m['density']:.4f}, coverage {m['coverage']:.4f} (k = {k['k_dc']})")
    if "frechet_inception_distance_infinity" in m:
        f = s["fid_infinity"]
        out.append(
            f"FD∞: {m['frechet_inception_distance_infinity']:.7g} ({f['ci']:.0%} interval "
            f"{m['frechet_inception_distance_infinity_ci_low']:.7g} to {m['frechet_inception_distance_infinity_ci_high']:.7g}; "
            f"{len(f['sizes'])} FIDs from {f['sizes'][0]} to {f['sizes'][-1]} samples)"
        )
    for name, key in (("FID", "frechet_inception_distance"), ("KID", "kernel_inception_distance_mean")):
        if f"{key}_ci_low" in m:
            i = s["interval"]
            out.append(
                f"{name} {i['ci']:.0%} interval: {m[f'{key}_ci_low']:.7g} to {m[f'{key}_ci_high']:.7g} "
                f"({i['bootstrap']} bootstrap resamples, seed {i['seed']})"
            )
    return out


def evaluator_lines(m: dict) -> list[str]:
    """guided-diffusion's evaluator's last lines, as it prints them (``print("FID:", value)``)."""
    names = [("Inception Score", "inception_score_mean"), ("FID", "frechet_inception_distance"),
             ("sFID", "spatial_frechet_inception_distance"), ("Precision", "precision"), ("Recall", "recall")]  # fmt: skip
    return [f"{label}: {float(m[key])}" for label, key in names if key in m]


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
    from ..metrics import compute_reference, compute_statistics, save_reference, save_statistics

    if len(rest) != 1 or not args.output:
        raise UsageError("fid stats takes one input (a folder, .npz image batch or .zip) and -o FILE.npz")
    if not Path(rest[0]).exists():
        raise UsageError(f"{rest[0]}: no such folder or file")
    check_output(args.output, inputs=rest, suffixes=IMAGE_EXTENSIONS)
    common = dict(mode=args.mode, dims=args.dims, weights=args.weights, settings=run_settings(args))
    if args.mode == "guided-diffusion":
        with _offline_hint(args):
            pool, spatial = compute_reference(rest[0], **common)
        if current_world().is_main:
            with_images = save_reference(args.output, pool, spatial, images=rest[0])
            what = "arr_0 and its " if with_images else ""
            print(f"{args.output}: {what}mu, sigma, mu_s, sigma_s of {pool.count} images (guided-diffusion)")
        return 0
    with _offline_hint(args):
        stats = compute_statistics(rest[0], **common)
    if current_world().is_main:
        save_statistics(args.output, stats)
        print(f"{args.output}: statistics of {stats.count} images ({args.mode}, {stats.dims} dims)")
    return 0


def _compare(args: argparse.Namespace, rest: list[str]) -> int:
    from .fid_compare import run_compare

    return run_compare(args, rest)


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    from .fid_bench import run_bench

    return run_bench(args, rest)
