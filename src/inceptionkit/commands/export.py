"""``inceptionkit export``: a model to ONNX, checked against PyTorch; optionally an int8 copy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..choices import CALIBRATION_METHODS, DEFAULT_OPSET
from ..choices import EXPORT_TOLERANCE as TOLERANCE
from ..cli import CommandError, UsageError, add_img_size_argument, positive_int
from ..fileio import check_output

if TYPE_CHECKING:  # the library is imported when the command runs, not when its parser is built
    from ..engines import Int8Report, Int8Request
    from ..model import InceptionNet


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX (and int8), verified in ONNX Runtime",
        description="Export a model to ONNX with its preprocessing and class names as metadata, run the "
        "file in ONNX Runtime on random inputs and compare with PyTorch (max relative "
        f"difference at most {TOLERANCE:.0e}, else exit 1 and no file). With --int8, also a "
        "statically quantized copy, compared with the fp32 model on labelled images.",
    )
    p.add_argument("name", nargs="?", help="architecture, e.g. inception_v3 (optional with --checkpoint)")
    p.add_argument("--model", metavar="NAME", help="the architecture (the same as NAME)")
    p.add_argument("--variant", help="weight-source variant, e.g. keras (default: the model's default)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--weights", metavar="W", help="a weight file or a published tag (default: random)")
    weights.add_argument(
        "--checkpoint", metavar="FILE", help="an inceptionkit checkpoint, e.g. RUN/best.safetensors"
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="the ONNX file to write")
    p.add_argument(
        "--opset",
        type=opset,
        default=DEFAULT_OPSET,
        metavar="N",
        help=f"ONNX opset (default {DEFAULT_OPSET})",
    )
    p.add_argument("--dynamic-batch", action="store_true", help="any batch size (default: batches of 1)")
    add_img_size_argument(p, "square input size (default: the weights' preprocessing size, else the model's)")
    q = p.add_argument_group("int8")
    q.add_argument("--int8", action="store_true", help="also write a statically quantized int8 model")
    q.add_argument("--int8-output", metavar="FILE", help="where (default: MODEL.int8.onnx)")
    q.add_argument(
        "--calibration",
        metavar="DIR",
        help="images to calibrate on, like those the model will see (class sub-folders give "
        "labels); default: the data a training run's checkpoint was trained on, or for "
        "inception_small without one the built-in digits",
    )
    q.add_argument("--calibration-method", choices=CALIBRATION_METHODS, default="minmax")
    q.add_argument(
        "--calibration-samples",
        type=positive_int,
        default=100,
        metavar="N",
        help="images drawn from the calibration set (default 100)",
    )
    q.add_argument(
        "--eval-data",
        metavar="DIR",
        help="labelled images (class sub-folders) to compare int8 with fp32 on (default: the "
        "digits' test split, else the calibration folder)",
    )
    p.set_defaults(func=run)


def opset(text: str) -> int:
    """An argparse type: an opset the (TorchScript) ONNX exporter writes."""
    from torch.onnx._constants import ONNX_MIN_OPSET, ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET

    n = int(text)
    if not ONNX_MIN_OPSET <= n <= ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET:
        raise argparse.ArgumentTypeError(
            f"the exporter writes opsets {ONNX_MIN_OPSET} to {ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET}, not {n}"
        )
    return n


def load(args: argparse.Namespace) -> InceptionNet:
    """The model to export: the checkpoint, the named model with its weights, or a random one."""
    from ..factory import create_model
    from ..registry import get_spec

    if args.name and args.model and args.name != args.model:
        raise UsageError(f"two different models given: {args.name} and --model {args.model}")
    args.name = args.name or args.model
    if args.checkpoint is None and args.name is None:
        raise UsageError("give a model NAME, or --checkpoint FILE")
    if args.checkpoint is not None:
        model = create_model(weights=args.checkpoint, variant=args.variant)
        if args.name is not None and model.spec.arch != args.name:
            raise UsageError(f"{args.checkpoint} holds {model.spec.arch}, not {args.name}")
        return model
    if args.weights is None:
        get_spec(args.name, args.variant)  # an unknown name or variant fails before the warning
        print(
            f"inceptionkit export: no --weights: exporting {args.name} with random weights", file=sys.stderr
        )
    return create_model(args.name, variant=args.variant, weights=args.weights)


def run(args: argparse.Namespace) -> int:
    from ..engines import export_model
    from ..errors import ExportError

    if not args.int8 and (args.calibration or args.eval_data or args.int8_output):
        raise UsageError("--calibration, --eval-data and --int8-output go with --int8")
    out = Path(args.output)
    int8_out = Path(args.int8_output or out.with_suffix(".int8.onnx"))
    _refuse_overwriting_inputs(args, out, int8_out)
    model = load(args)
    int8 = _int8_request(args, int8_out) if args.int8 else None
    try:
        done = export_model(
            model,
            out,
            input_size=args.img_size,
            opset=args.opset,
            dynamic_batch=args.dynamic_batch,
            int8=int8,
        )
    except ExportError as e:
        raise CommandError(str(e), field=getattr(e, "field", None)) from None
    shape = ", ".join(map(str, done.fp32.input_shape))
    print(
        f"wrote {out}: {model.spec.arch} ({model.spec.variant}), input ({shape}), opset {done.fp32.opset}, "
        f"{_mb(out)}, {done.fp32.seconds:.1f} s"
    )
    print(
        f"max relative difference to PyTorch on random inputs: {done.fp32.max_rel_diff:.1e} "
        f"(tolerance {TOLERANCE:.0e})"
    )
    if done.int8 is not None:
        _print_int8(done.int8)
    return 0


def _int8_request(args: argparse.Namespace, int8_out: Path) -> Int8Request:
    from ..engines import Int8Request

    return Int8Request(
        int8_out,
        args.calibration,
        args.eval_data,
        method=args.calibration_method,
        samples=args.calibration_samples,
        checkpoint=args.checkpoint,
    )


def _print_int8(r: Int8Report) -> None:
    print(f"wrote {r.path}: int8, {r.method} calibration, {_mb(r.path)}")
    print(
        f"  calibrated on {r.calibration_images} images of {r.calibration_from}; "
        f"compared on {r.agreement.images} images of {r.evaluation_from}"
    )
    for what, s in (("calibration", r.skipped_calibration), ("comparison", r.skipped_comparison)):
        if s.files:
            print(f"  {what}: {s.describe()}", file=sys.stderr)
    a = r.agreement
    line = f"  top-1 agreement with fp32: {100 * a.top1_agreement:.1f}% of {a.images} images"
    if a.accuracy_drop is not None:
        line += (
            f"; accuracy fp32 {100 * a.fp32_accuracy:.2f}%, int8 {100 * a.int8_accuracy:.2f}%"
            f" (drop {a.accuracy_drop:.2f} points)"
        )
    else:
        line += " (no labels: the images are not in sub-folders named after the model's classes)"
    print(line)


def _refuse_overwriting_inputs(args: argparse.Namespace, out: Path, int8_out: Path) -> None:
    """An output that is an input (or the other output) would destroy it: refuse before anything."""
    inputs = {
        f"--{flag}": Path(value)
        for flag in ("checkpoint", "weights", "calibration", "eval_data")
        if (value := getattr(args, flag, None)) and Path(value).exists()
    }
    outputs = {"-o": out, **({"--int8-output": int8_out} if args.int8 else {})}
    for oflag, o in outputs.items():
        for iflag, i in inputs.items():
            if o.resolve() == i.resolve() or i.resolve() in o.resolve().parents:
                raise UsageError(
                    f"{oflag} {o} is the input {iflag.replace('_', '-')} {i}: it would be overwritten"
                )
    if args.int8 and out.resolve() == int8_out.resolve():
        raise UsageError(f"-o and --int8-output are the same file ({out})")
    for o in outputs.values():
        check_output(o)


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"
