"""``inceptionkit train``: train or fine-tune a model, resume a run; see :mod:`inceptionkit.train`."""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..choices import OPTIMIZERS, SCHEDULES
from ..cli import CommandError, UsageError, add_img_size_argument, add_run_arguments
from ..registry import list_models
from ..train.config import DEFAULT_WEIGHT_DECAY, DIGITS_RECIPE, RUNTIME_FIELDS, TrainConfig

EPILOG = """\
run folder (--run-dir, default runs/<model>-<data>-<date>-<time>):
  best.safetensors, last.safetensors   weights (inceptionkit format: predict/eval --checkpoint)
  config.json, split.json              the settings, what the run was trained on, its val split
  checkpoints/step-N/                  the latest complete checkpoint set (what --resume needs;
                                       safe against a kill at any instant)
  metrics.csv, curves.png, tensorboard/

defaults without --data: inception_small on the built-in 1,797 digits ({img_size}x{img_size} grey,
  upsampled from 8x8), {epochs} epochs, batch {batch_size}, {optimizer}, random crops of at least
  {crop_scale:.0%} of the digit; prints the accuracy on the 359 held-out test digits last.
defaults with --data: 10 epochs, batch 32, the model's input size, rmsprop as in the Inception-v3
  paper (decay 0.9, eps 1.0, momentum 0.9, lr 0.045 per 32 images); with --weights: sgd
  (lr 0.1 per 256 images, a tenth of it unless --freeze-backbone).
  Learning rate: linear warm-up (--warmup-epochs), then cosine to 0 (or --schedule paper:
  x0.94 every 2 epochs). Weight decay: rmsprop {rmsprop:g}, sgd {sgd:g}, adamw {adamw:g}.

several processes or machines (torchrun; --batch-size is the global batch):
  torchrun --nproc_per_node 2 -m inceptionkit train --data DIR
  torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      --rdzv-id RUN_ID -m inceptionkit train --data DIR --model inception_v3 --device cuda
  (run the same command on every machine; HOST is one of them. DistributedDataParallel over
  gloo on CPU, nccl on CUDA; only rank 0 writes and prints. To --resume, RUN must be readable
  by every machine.)
""".format(**DEFAULT_WEIGHT_DECAY, **DIGITS_RECIPE)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a model (default: inception_small on the built-in digits)",
        description="Train or fine-tune a model of the family, or continue a run with --resume.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(p.add_argument_group("data"))
    _model_arguments(p.add_argument_group("model"))
    _optimisation_arguments(p.add_argument_group("optimisation"))
    _run_arguments(p.add_argument_group("run"))
    p.set_defaults(func=run_train)


def _data_arguments(data) -> None:
    data.add_argument(
        "--data",
        metavar="DIR",
        help="image folder: DIR/train/<class>/ + DIR/val/<class>/ [+ DIR/test/<class>/], "
        "or DIR/<class>/ (default: the built-in digits)",
    )
    data.add_argument(
        "--val-split",
        type=float,
        metavar="F",
        help="fraction of each class held out for validation when DIR has no val/ (default 0.1)",
    )
    add_img_size_argument(data, "training and evaluation input size (default: the model's, or the weights')")
    data.add_argument(
        "--in-chans",
        type=int,
        metavar="N",
        help="input channels: 1 grey, 3 colour (default: the weights', else 3; the digits 1); "
        "weights made for other channels get their first convolution adapted as timm does",
    )
    data.add_argument(
        "--crop-scale",
        type=float,
        metavar="F",
        help="smallest area fraction of the random resized crop (default 0.08; digits {crop_scale})".format(
            **DIGITS_RECIPE
        ),
    )
    data.add_argument(
        "--hflip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random horizontal flips (default: on, off for the digits)",
    )
    data.add_argument("--max-train-images", type=int, metavar="N", help="train on a fixed random N images")


def _model_arguments(model) -> None:
    model.add_argument(
        "--model", choices=list_models(), metavar="NAME", help="architecture (default inception_small)"
    )
    model.add_argument("--variant", help="variant of the architecture")
    model.add_argument(
        "--weights",
        metavar="W",
        help="start from these weights (file or tag); a new classifier for the classes found",
    )
    model.add_argument(
        "--freeze-backbone",
        action="store_true",
        default=None,
        help="train the classifier only; batch norm statistics stay as loaded",
    )
    model.add_argument(
        "--aux",
        action="store_true",
        default=None,
        help="auxiliary classifiers with the paper's loss weights (0.3 googlenet, 0.4 inception_v3)",
    )
    model.add_argument("--drop-rate", type=float, metavar="P", help="dropout before the classifier")
    model.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="synchronised batch norm across processes (CUDA only)",
    )


def _optimisation_arguments(opt) -> None:
    opt.add_argument("--epochs", type=int, metavar="N")
    opt.add_argument("--optimizer", choices=OPTIMIZERS)
    opt.add_argument("--lr", type=float, help="peak learning rate (default: scaled with the batch size)")
    opt.add_argument("--weight-decay", type=float, metavar="WD")
    opt.add_argument("--schedule", choices=SCHEDULES, help="cosine (default) or paper (x0.94 every 2 epochs)")
    opt.add_argument("--warmup-epochs", type=float, metavar="E", help="linear warm-up length (default 1)")
    opt.add_argument("--label-smoothing", type=float, metavar="S", help="default 0.1 (Inception-v3 paper)")
    opt.add_argument("--seed", type=int)


def _run_arguments(run) -> None:
    run.add_argument("--run-dir", metavar="RUN", help="where to write the run (must be new or empty)")
    run.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint")
    run.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="STEPS",
        help="also checkpoint every STEPS steps (default: at epoch ends only)",
    )
    add_run_arguments(
        run,
        batch_size=None,
        batch_help="global batch size over all processes",
        workers_help="data loading processes per training process (the digits, in memory: 0)",
        progress=True,
    )
    run.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed precision (default: on for CUDA; bfloat16 on CPU when asked)",
    )
    run.add_argument(
        "--tensorboard", action="store_true", default=None, help="TensorBoard logs in RUN/tensorboard"
    )


def run_train(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..train import CheckpointError, ConfigError, Diverged, train

    given = {
        f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None
    }
    if args.resume:
        fixed = sorted(set(given) - set(RUNTIME_FIELDS))
        if fixed:
            names = ", ".join("--" + k.replace("_", "-") for k in fixed)
            raise UsageError(f"--resume continues with the run's own settings; drop {names}")
    try:
        train(TrainConfig(**given), resume=args.resume)
    except (ConfigError, DataError) as e:
        raise UsageError(str(e), field=e.field) from None
    except (Diverged, CheckpointError) as e:
        raise CommandError(str(e), field=getattr(e, "field", None)) from None
    return 0
