"""What a run depends on (:class:`TrainConfig`), the recipes that fill in its defaults, and the checks
that every setting is usable, made before anything is created."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..choices import OPTIMIZERS, SCHEDULES
from ..errors import ConfigError

MAX_IMG_SIZE = 4096  # far above any Inception input; beyond it a batch would not fit in memory


@dataclass
class TrainConfig:
    """Everything a run depends on. ``None`` means: the recipe's default (see :func:`resolve`)."""

    model: str = "inception_small"
    variant: str | None = None
    data: str | None = None  # a folder; None: the built-in digits
    weights: str | None = None  # start from these (a file or a published tag), new head if needed
    freeze_backbone: bool = False  # train the classifier only; batch norm statistics stay fixed
    aux: bool = False  # auxiliary classifiers, their losses weighted by the spec (0.4 for inception_v3)
    epochs: int | None = None
    batch_size: int | None = None  # global, over all processes
    optimizer: str | None = None  # rmsprop (Inception-v3 paper), sgd, adamw
    lr: float | None = None
    weight_decay: float | None = None  # not applied to biases and batch norm
    schedule: str = "cosine"  # linear warm-up then cosine to 0; "paper": x0.94 every 2 epochs
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1  # Inception-v3 paper, section 7
    img_size: int | None = None
    in_chans: int | None = None  # default: the weights' own, 1 for the digits, 3 for folders
    crop_scale: float | None = None  # smallest area fraction of the random resized crop
    hflip: bool | None = None
    drop_rate: float | None = None
    val_split: float | None = None
    max_train_images: int | None = None
    seed: int = 0
    checkpoint_every: int = 0  # steps; 0: at epoch ends only
    run_dir: str | None = None
    tensorboard: bool = False
    sync_bn: bool = False
    channels_last: bool = True
    # how to run, not what is trained: may change on resume
    device: str | None = None  # default: cuda if available
    amp: bool | None = None  # default: on for CUDA (float16 + loss scaling); bfloat16 on CPU if True
    workers: int | None = None
    progress: bool | None = None  # default: when stderr is a terminal


RUNTIME_FIELDS = ("device", "amp", "workers", "progress", "tensorboard")

# The recipe for the built-in digits: two to five seconds an epoch on two CPU cores.
DIGITS_RECIPE = dict(epochs=12, batch_size=64, optimizer="rmsprop", img_size=12, crop_scale=0.6, hflip=False)
# Folders: the model's own input size (or the weights'), Inception-style crops and flips.
FOLDER_RECIPE = dict(
    epochs=10, batch_size=32, optimizer="rmsprop", img_size=None, crop_scale=0.08, hflip=True
)


def default_lr(optimizer: str, batch_size: int) -> float:
    """The learning rate for a global batch: RMSProp 0.045 per 32 images (Inception-v3 paper,
    scaled linearly), SGD 0.1 per 256 (Goyal et al. 2017), AdamW 1e-3."""
    return {"rmsprop": 0.045 * batch_size / 32, "sgd": 0.1 * batch_size / 256, "adamw": 1e-3}[optimizer]


DEFAULT_WEIGHT_DECAY = {"rmsprop": 4e-5, "sgd": 1e-4, "adamw": 0.05}  # 4e-5: TF-slim's Inception-v3


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# (field, lowest, highest, lowest allowed itself, highest allowed itself); None: unbounded
_RANGES = (
    ("epochs", 1, None, True, True),
    ("batch_size", 1, None, True, True),
    ("img_size", 1, MAX_IMG_SIZE, True, True),
    ("in_chans", 1, 64, True, True),
    ("lr", 0, None, False, True),
    ("weight_decay", 0, None, True, True),
    ("warmup_epochs", 0, None, True, True),
    ("label_smoothing", 0, 1, True, False),
    ("crop_scale", 0, 1, False, True),
    ("drop_rate", 0, 1, True, False),
    ("val_split", 0, 1, False, False),
    ("max_train_images", 1, None, True, True),
    ("seed", 0, 2**63 - 1, True, True),
    ("checkpoint_every", 0, None, True, True),
    ("workers", 0, 256, True, True),
)


def _check_range(name: str, value: object, low, high, low_ok: bool, high_ok: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{_flag(name)} must be a finite number; got {value!r}")
    too_low = low is not None and (value < low or (value == low and not low_ok))
    too_high = high is not None and (value > high or (value == high and not high_ok))
    if too_low or too_high:
        lo = "" if low is None else f"{'[' if low_ok else '('}{low}"
        hi = "" if high is None else f"{high}{']' if high_ok else ')'}"
        where = f"in {lo}, {hi}" if low is not None and high is not None else f"at least {low}"
        if not low_ok and high is None:
            where = f"above {low}"
        raise ConfigError(f"{_flag(name)} must be {where}; got {value}")


def validate(cfg: TrainConfig) -> None:
    """ConfigError naming the flag of the first setting that cannot be used (checked before anything
    is created: no run folder, no model)."""
    for name, low, high, low_ok, high_ok in _RANGES:
        value = getattr(cfg, name)
        if value is not None:
            _check_range(name, value, low, high, low_ok, high_ok)
    if cfg.optimizer is not None and cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if cfg.freeze_backbone and cfg.weights is None:
        raise ConfigError("freeze_backbone needs pretrained weights: a backbone to keep", field="freeze_backbone")
    if cfg.freeze_backbone and cfg.aux:
        raise ConfigError(
            "--aux has nothing to train with --freeze-backbone (auxiliary heads only shape the backbone)"
        )
    if cfg.data is None and cfg.val_split is not None:
        raise ConfigError("val_split applies to data folders; the digits have a fixed split", field="val_split")


def resolve(cfg: TrainConfig, model) -> TrainConfig:
    """``cfg`` with every recipe default filled in for ``model`` (an InceptionNet)."""
    validate(cfg)
    recipe = DIGITS_RECIPE if cfg.data is None else FOLDER_RECIPE
    values = {k: v if getattr(cfg, k) is None else getattr(cfg, k) for k, v in recipe.items()}
    if cfg.optimizer is None and cfg.weights is not None:
        values["optimizer"] = "sgd"  # fine-tuning: momentum SGD at a tenth of its rate
    if values["img_size"] is None:
        meta = model.weight_meta
        values["img_size"] = meta.preprocess.size if meta is not None else model.spec.default_size
    if cfg.lr is None:
        values["lr"] = default_lr(values["optimizer"], values["batch_size"])
        if cfg.weights is not None and not cfg.freeze_backbone:
            values["lr"] *= 0.1
    if cfg.weight_decay is None:
        values["weight_decay"] = DEFAULT_WEIGHT_DECAY[values["optimizer"]]
    out = replace(cfg, **values, in_chans=model.in_chans)
    validate(out)
    if out.img_size < model.min_size:
        raise ConfigError(
            f"--img-size {out.img_size} is below the minimum input of {model.spec.arch} "
            f"({model.min_size}x{model.min_size})"
        )
    return out
