"""Training and fine-tuning, in one process or many (torchrun), resumable, with progress and curves.

Without data, :func:`train` trains ``inception_small`` on the built-in handwritten digits (12x12
grey, upsampled from 8x8; :data:`DIGITS_RECIPE`) and reports the accuracy on their held-out test
split: 98.9-99.4% over seeds 0-2, in about 30 s on two CPU cores. With a folder
(see :mod:`inceptionkit.data`) it trains or fine-tunes any model of the family.

The run folder RUN holds::

    config.json          the resolved settings, class names and preprocessing
    best.safetensors     the weights of the epoch with the best validation accuracy  } inceptionkit's
    last.safetensors     the weights of the latest checkpoint                        } own format
    train_state.pt       what resuming needs besides the weights: optimizer, schedule, AMP scaler,
                         position (epoch, batch), partial epoch sums, history; train_state.prev.pt is
                         the one before (a kill between the two writes of a checkpoint leaves one of
                         them matching last.safetensors). ``torch.load(path, weights_only=True)``.
    metrics.csv          one row per epoch;   curves.png: loss and accuracy per epoch
    tensorboard/         with ``tensorboard=True``

Checkpoints are written at each epoch end and every ``checkpoint_every`` steps, each file to a
temporary name and renamed. Randomness is a fixed function of the seed and the position: the epoch's
order is a permutation seeded by (seed, epoch), each sample's augmentation is seeded by (seed, epoch,
index), and the global random generator (dropout) is reseeded by (seed, rank, step) before every
step. The seed and the position are therefore the whole random state, and a run resumed from any
checkpoint repeats the uninterrupted run bit for bit on CPU with the same number of processes.

More than one process: launch with torchrun; every process trains on its own share of each batch
(``batch_size`` is the global batch, split evenly), gradients are averaged by
DistributedDataParallel (gloo on CPU, nccl on CUDA), and only rank 0 writes files and prints::

    torchrun --nproc_per_node 2 -m inceptionkit train --data DIR --model inception_v3
    # two machines, 4 GPUs each; run on both, RUN on a filesystem both see if you will --resume
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id myrun -m inceptionkit train --data DIR --model inception_v3 --device cuda
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import DIGITS, EpochSampler, ImageDataset, derive_seed, limit, load_data, train_transform
from .errors import ConfigError, Diverged
from .evaluate import EvalResult, evaluate
from .fileio import atomic_write
from .model import InceptionNet
from .preprocess import INCEPTION_MEAN, INCEPTION_STD, Preprocess
from .registry import create_model
from .weights import WeightsError
from .weights.native import WeightMeta, load_native, read_native_metadata, save_native

RUN_FORMAT = "inceptionkit-train-run"
STATE_FORMAT = "inceptionkit-train-state"
OPTIMIZERS = ("rmsprop", "sgd", "adamw")
SCHEDULES = ("cosine", "paper")


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


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return d


def _device(cfg: TrainConfig, d: Dist) -> torch.device:
    name = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available")
        dev = torch.device("cuda", d.local_rank if d.world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    return dev


def _agree(d: Dist, fn: Callable[[], object]) -> object:
    """``fn()`` on rank 0; its ConfigError is raised on every process (none hangs waiting)."""
    err, out = None, None
    if d.main:
        try:
            out = fn()
        except ConfigError as e:
            err = str(e)
    if d.world > 1:
        box = [err]
        torch.distributed.broadcast_object_list(box, src=0)
        err = box[0]
    if err is not None:
        raise ConfigError(err)
    return out


# ---------------------------------------------------------------------------------------------
# Settings, model, data
# ---------------------------------------------------------------------------------------------


def resolve(cfg: TrainConfig, model: InceptionNet) -> TrainConfig:
    """``cfg`` with every recipe default filled in for ``model``."""
    recipe = DIGITS_RECIPE if cfg.data is None else FOLDER_RECIPE
    values = {k: v if getattr(cfg, k) is None else getattr(cfg, k) for k, v in recipe.items()}
    if cfg.optimizer is None and cfg.weights is not None:
        values["optimizer"] = "sgd"  # fine-tuning: momentum SGD at a tenth of its rate
    if values["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {values['optimizer']!r}; choose from {', '.join(OPTIMIZERS)}")
    if cfg.schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if values["img_size"] is None:
        meta = getattr(model, "weight_meta", None)
        values["img_size"] = meta.preprocess.size if meta is not None else model.spec.default_size
    if cfg.lr is None:
        values["lr"] = default_lr(values["optimizer"], values["batch_size"])
        if cfg.weights is not None and not cfg.freeze_backbone:
            values["lr"] *= 0.1
    if cfg.weight_decay is None:
        values["weight_decay"] = DEFAULT_WEIGHT_DECAY[values["optimizer"]]
    out = replace(cfg, **values)
    for name in ("epochs", "batch_size", "img_size"):
        if getattr(out, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(out, name)}")
    if not 0 < out.crop_scale <= 1:
        raise ConfigError(f"--crop-scale must be in (0, 1]; got {out.crop_scale}")
    if out.img_size < model.min_size:
        raise ConfigError(
            f"--img-size {out.img_size} is below the minimum input of {model.spec.arch} "
            f"({model.min_size}x{model.min_size})"
        )
    return out


def build_model(cfg: TrainConfig, num_classes: int) -> InceptionNet:
    """The model to train: fresh, or from ``cfg.weights`` with a classifier for ``num_classes``."""
    if cfg.freeze_backbone and cfg.weights is None:
        raise ConfigError("--freeze-backbone needs --weights: a pretrained backbone to keep")
    if cfg.freeze_backbone and cfg.aux:
        raise ConfigError(
            "--aux has nothing to train with --freeze-backbone (auxiliary heads only shape the backbone)"
        )
    kwargs = dict(variant=cfg.variant, num_classes=num_classes, aux_logits=cfg.aux, drop_rate=cfg.drop_rate)
    if cfg.weights is None:
        return create_model(cfg.model, in_chans=1 if cfg.data is None else 3, **kwargs)
    try:
        # the loader keeps the backbone and gives a fresh classifier when the class count differs
        return create_model(cfg.model, weights=cfg.weights, **kwargs)
    except WeightsError as e:
        raise ConfigError(str(e)) from None


def preprocess_for(cfg: TrainConfig, model: InceptionNet) -> Preprocess:
    """How the trained model wants its images (evaluation and prediction): the weights' own recipe
    at ``cfg.img_size`` when fine-tuning, otherwise Inception scaling to [-1, 1]."""
    meta = getattr(model, "weight_meta", None)
    if meta is not None:
        return replace(meta.preprocess, size=cfg.img_size, channels=model.in_chans)
    c = model.in_chans
    crop = None if cfg.data is None else 0.875  # the digits are whole 8x8 images, not photographs
    return Preprocess(cfg.img_size, crop, "bilinear", INCEPTION_MEAN[:1] * c, INCEPTION_STD[:1] * c, c)


def _train_mode(net: InceptionNet, frozen: bool) -> None:
    net.train()
    if frozen:
        net.features.eval()  # batch norm statistics stay those of the pretrained backbone


def _param_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    trainable = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    flat = [p for p in trainable if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": flat, "weight_decay": 0.0}]


def make_optimizer(cfg: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    groups = _param_groups(net, cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        # Inception-v3 paper: decay 0.9, epsilon 1.0 (TF-slim adds momentum 0.9). PyTorch adds
        # epsilon outside the square root, TensorFlow inside; with epsilon 1.0 both damp the same way.
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.9, eps=1.0, momentum=0.9)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(step: int, *, total: int, warmup: int, steps_per_epoch: int, schedule: str) -> float:
    """The learning rate multiplier at ``step``: linear warm-up, then cosine decay to zero, or the
    paper's x0.94 every two epochs."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "paper":
        return 0.94 ** (step // (2 * steps_per_epoch))
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def _sync_batchnorm(module: nn.Module) -> nn.Module:
    """``nn.SyncBatchNorm.convert_sync_batchnorm`` that also keeps keras' scale-free batch norm
    (a shift parameter without ``affine``), with the same parameter names."""
    if isinstance(module, nn.BatchNorm2d):
        sync = nn.SyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias
        elif isinstance(module.bias, nn.Parameter):
            sync.bias = module.bias
        sync.running_mean, sync.running_var = module.running_mean, module.running_var
        sync.num_batches_tracked = module.num_batches_tracked
        return sync
    for name, child in module.named_children():
        module.add_module(name, _sync_batchnorm(child))
    return module


# ---------------------------------------------------------------------------------------------
# One step (shared with the benchmark)
# ---------------------------------------------------------------------------------------------


def aux_weights(net: InceptionNet) -> list[float]:
    """The loss weights of the auxiliary outputs, in the order ``forward`` returns them."""
    order = net.spec.node_names
    return [a.loss_weight for a in sorted(net.spec.aux, key=lambda a: order.index(a.after))]


@dataclass
class Stepper:
    """Forward, loss, finiteness check, backward, optimizer and schedule step for one batch."""

    model: nn.Module  # the network, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    channels_last: bool
    label_smoothing: float
    aux_weights: list[float]
    distributed: bool = False

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, correct) of the batch, after updating the weights."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(self.device, non_blocking=True)
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.amp):
            out = self.model(x)
            logits, *aux = out if isinstance(out, tuple) else (out,)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
            for w, a in zip(self.aux_weights, aux, strict=False):
                loss = loss + w * F.cross_entropy(a, y, label_smoothing=self.label_smoothing)
        finite = torch.isfinite(loss.detach()).float()
        if self.distributed:  # every process stops together, or none does
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if not finite.item():
            value = loss.item()
            raise Diverged(
                f"the loss became {value}"
                if not math.isfinite(value)
                else "the loss stopped being finite on another process"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: InceptionNet  # the final weights
    run_dir: Path | None  # None on processes other than rank 0
    history: list[dict]
    best_epoch: int
    best_val_acc: float
    final: EvalResult | None  # best.safetensors on the held-out split (rank 0 only)
    final_split: str  # "test" or "val"


METRIC_FIELDS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_top5",
    "seconds",
    "img_per_s",
)


def _default_run_dir(cfg: TrainConfig) -> Path:
    data = DIGITS if cfg.data is None else Path(cfg.data).resolve().name
    base = Path("runs") / f"{cfg.model}-{data}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _new_run_dir(cfg: TrainConfig) -> Path:
    path = Path(cfg.run_dir) if cfg.run_dir else _default_run_dir(cfg)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        hint = "; continue it with --resume" if (path / "config.json").exists() else ""
        raise ConfigError(f"{path} already exists and is not empty{hint}; choose another --run-dir")
    return path


def read_run_config(run_dir: str | Path) -> dict:
    """The ``config.json`` of a run folder (ConfigError if it is not one)."""
    path = Path(run_dir)
    try:
        doc = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
        raise ConfigError(f"{path} is not a training run folder (no inceptionkit config.json)")
    return doc


@dataclass
class _Checkpoint:
    state: dict
    weights: dict[str, torch.Tensor]
    metadata: dict[str, str]


def _read_checkpoint(run_dir: Path, model: str) -> _Checkpoint:
    """The latest complete checkpoint of ``run_dir`` (weights and the train state that matches them)."""
    from safetensors.torch import load_file

    last = run_dir / "last.safetensors"
    md = read_native_metadata(last) if last.exists() else None
    if md is None or "train_step" not in md:
        raise ConfigError(f"{run_dir} has no checkpoint to resume from (last.safetensors)")
    if md["arch"] != model:
        raise ConfigError(f"{last} holds {md['arch']} weights, but the run trains {model}")
    for name in ("train_state.pt", "train_state.prev.pt"):
        p = run_dir / name
        if p.exists():
            state = torch.load(p, weights_only=True)
            if state.get("format") == STATE_FORMAT and state["global_step"] == int(md["train_step"]):
                return _Checkpoint(state, load_file(last), md)
    raise ConfigError(f"{run_dir}: no train_state.pt matches last.safetensors (step {md['train_step']})")


def _model_from_metadata(md: dict[str, str], drop_rate: float | None) -> InceptionNet:
    return create_model(
        md["arch"],
        variant=md["variant"],
        num_classes=int(md["num_classes"]),
        in_chans=int(md["in_chans"]),
        aux_logits=md["aux_logits"] == "true",
        drop_rate=drop_rate,
    )


class _Trainer:
    def __init__(self, cfg: TrainConfig, d: Dist, resume: Path | None, verbose: bool) -> None:
        self.d = d
        self.verbose = verbose and d.main
        self.device = _device(cfg, d)
        checkpoint = None
        if resume is not None:
            doc = read_run_config(resume)
            saved = TrainConfig(**{f.name: doc["config"].get(f.name) for f in fields(TrainConfig)})
            cfg = replace(saved, **{k: getattr(cfg, k) for k in RUNTIME_FIELDS})
            checkpoint = _read_checkpoint(resume, cfg.model)
        self.data = load_data(cfg.data, val_split=cfg.val_split, workers=cfg.workers)
        self.data.train = limit(self.data.train, cfg.max_train_images)
        if checkpoint is not None:
            if doc["classes"] != self.data.classes:
                raise ConfigError(f"the classes in {cfg.data} changed since {resume} started")
            net = _model_from_metadata(checkpoint.metadata, cfg.drop_rate)
            self.pre = Preprocess.from_json(doc["preprocess"])
        else:
            torch.manual_seed(cfg.seed)  # the initial weights
            net = build_model(cfg, len(self.data.classes))
            cfg = resolve(cfg, net)
            self.pre = preprocess_for(cfg, net)
        if cfg.freeze_backbone:
            _freeze(net)
        self.cfg = cfg
        if cfg.batch_size % d.world:
            raise ConfigError(f"--batch-size {cfg.batch_size} does not split evenly over {d.world} processes")
        self.local_batch = cfg.batch_size // d.world
        self.steps_per_epoch = (len(self.data.train) // d.world) // self.local_batch
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{len(self.data.train)} training images make no full batch of {cfg.batch_size}; "
                "lower --batch-size"
            )
        if cfg.sync_bn and d.world > 1 and self.device.type != "cuda":
            raise ConfigError("--sync-bn needs CUDA: SyncBatchNorm does not run on the CPU (gloo)")
        self.amp = self.device.type == "cuda" if cfg.amp is None else cfg.amp
        self.net = net.to(
            self.device, memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format
        )
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.optimizer = make_optimizer(cfg, self.net)
        warmup = round(cfg.warmup_epochs * self.steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(
                s,
                total=self.total_steps,
                warmup=warmup,
                steps_per_epoch=self.steps_per_epoch,
                schedule=cfg.schedule,
            ),
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and self.device.type == "cuda")
        self.epoch, self.batch, self.step = 0, 0, 0
        self.sums = [0.0, 0.0, 0.0, 0.0]  # loss x images, correct, images, seconds: this epoch so far
        self.history: list[dict] = []
        self.best_acc, self.best_loss, self.best_epoch = -1.0, math.inf, 0
        if checkpoint is not None:
            self._restore(checkpoint)
            if self.epoch >= cfg.epochs:
                raise ConfigError(f"{resume} has finished its {cfg.epochs} epochs; nothing to resume")
            self.run_dir = resume
        else:
            self.run_dir = _agree(d, lambda: _new_run_dir(cfg))
        model: nn.Module = self.net
        if d.world > 1:
            if cfg.sync_bn:
                model = _sync_batchnorm(model)
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.stepper = Stepper(
            model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.device,
            self.amp,
            cfg.channels_last,
            cfg.label_smoothing,
            aux_weights(self.net) if cfg.aux else [],
            distributed=d.world > 1,
        )
        self.train_ds = ImageDataset(
            self.data.train, train_transform(self.pre, crop_scale=(cfg.crop_scale, 1.0), hflip=cfg.hflip)
        )
        self.eval_tf = self.pre.transform()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        folder_workers = max(1, min(4, (os.cpu_count() or 1) // local_world))
        # the digits sit in memory: worker processes would cost more than they save
        self.workers = cfg.workers if cfg.workers is not None else 0 if cfg.data is None else folder_workers
        self.tb = (
            _summary_writer(self.run_dir / "tensorboard", self.step) if cfg.tensorboard and d.main else None
        )

    # -- state ----------------------------------------------------------------------------------
    def _restore(self, checkpoint: _Checkpoint) -> None:
        state = checkpoint.state
        self.net.load_state_dict(checkpoint.weights, strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["global_step"]
        self.history = list(state["history"])
        self.best_acc, self.best_loss = state["best_acc"], state["best_loss"]
        self.best_epoch = state["best_epoch"]
        # the epoch's partial sums were summed over processes when saved: rank 0 carries them
        self.sums = list(state["sums"]) if self.d.main else [0.0, 0.0, 0.0, 0.0]

    def _check_finite(self) -> None:
        """Diverged (on every process) unless all weights and statistics are finite."""
        tensors = [t for t in self.net.state_dict().values() if t.is_floating_point()]
        ok = torch.stack([torch.isfinite(t).all() for t in tensors]).all().float().cpu()
        if self.d.world > 1:
            torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
        if not ok.item():
            raise Diverged(f"the weights stopped being finite by step {self.step}")

    def _global_sums(self) -> list[float]:
        t = torch.tensor(self.sums, dtype=torch.float64)
        if self.d.world > 1:
            torch.distributed.all_reduce(t)
            t[3] /= self.d.world  # the processes train side by side: their mean time
        return t.tolist()

    def _meta(self) -> WeightMeta:
        src = f"trained by inceptionkit on {self.data.name}"
        return WeightMeta(self.pre, list(self.data.classes), src)

    def _save_weights(self, path: Path, **extra: object) -> None:
        save_native(
            path,
            self.net,
            self._meta(),
            extra={
                "dataset": DIGITS if self.cfg.data is None else str(Path(self.cfg.data).resolve()),
                **{k: str(v) for k, v in extra.items()},
            },
        )

    def _checkpoint(self) -> None:
        """Weights and state at the current position, rank 0 writing; every process takes part."""
        self._check_finite()
        sums = self._global_sums()
        if not self.d.main:
            return
        state = {
            "format": STATE_FORMAT,
            "global_step": self.step,
            "epoch": self.epoch,
            "batch": self.batch,
            "seed": self.cfg.seed,
            "world_size": self.d.world,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sums": sums,
            "history": self.history,
            "best_acc": self.best_acc,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
        }
        current, prev = self.run_dir / "train_state.pt", self.run_dir / "train_state.prev.pt"
        if current.exists():
            os.replace(current, prev)
        atomic_write(current, lambda tmp: torch.save(state, tmp))
        self._save_weights(self.run_dir / "last.safetensors", train_step=self.step, epoch=self.epoch)

    def _write_config(self) -> None:
        doc = {
            "format": RUN_FORMAT,
            "config": asdict(self.cfg),
            "classes": self.data.classes,
            "preprocess": self.pre.to_json(),
            "world_size": self.d.world,
            "images": {
                "train": len(self.data.train),
                "val": len(self.data.val),
                "test": len(self.data.test) if self.data.test else 0,
            },
            "skipped_unreadable": self.data.skipped,
        }
        text = json.dumps(doc, indent=2)
        atomic_write(self.run_dir / "config.json", lambda tmp: Path(tmp).write_text(text))

    # -- output ---------------------------------------------------------------------------------
    def log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def _describe(self) -> None:
        cfg, data = self.cfg, self.data
        sizes = f"{len(data.train):,} train / {len(data.val):,} val"
        if data.test is not None:
            sizes += f" / {len(data.test):,} held-out test"
        self.log(
            f"{cfg.model} ({self.net.spec.variant}) on {data.name}: {len(data.classes)} classes, {sizes} "
            f"images at {self.pre.size}x{self.pre.size}x{self.pre.channels}"
        )
        if data.skipped:
            self.log(
                f"skipped {data.skipped} unreadable image file(s), e.g. {', '.join(data.skipped_examples)}"
            )
        procs = f" x {self.d.world} processes" if self.d.world > 1 else ""
        self.log(
            f"{cfg.epochs} epochs of {self.steps_per_epoch} steps, batch {cfg.batch_size}, {cfg.optimizer} "
            f"lr {cfg.lr:g}, {cfg.schedule} schedule, on {self.device}{procs}"
            f"{' with mixed precision' if self.amp else ''}; run folder {self.run_dir}"
        )

    def _write_metrics(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
        w.writeheader()
        w.writerows(self.history)
        atomic_write(self.run_dir / "metrics.csv", lambda tmp: Path(tmp).write_text(buf.getvalue()))
        save_curves(self.history, self.run_dir / "curves.png", title=f"{self.cfg.model} on {self.data.name}")

    # -- loops ----------------------------------------------------------------------------------
    def _loader(self, dataset, sampler, batch_size: int, drop_last: bool = False):
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.workers,
            drop_last=drop_last,
            pin_memory=self.device.type == "cuda",
        )

    def evaluate(self, samples, distributed: bool, net: nn.Module | None = None) -> EvalResult:
        ds = ImageDataset(samples, self.eval_tf)
        rank, world = (self.d.rank, self.d.world) if distributed else (0, 1)
        loader = self._loader(ds, list(range(rank, len(ds), world)), max(self.local_batch, 64))
        return evaluate(
            net or self.net,
            loader,
            self.data.classes,
            device=self.device,
            channels_last=self.cfg.channels_last,
            amp=self.amp,
            distributed=distributed and world > 1,
        )

    def _train_epoch(self) -> None:
        from tqdm import tqdm

        cfg = self.cfg
        sampler = EpochSampler(
            len(self.train_ds),
            seed=cfg.seed,
            epoch=self.epoch,
            rank=self.d.rank,
            world=self.d.world,
            skip=self.batch * self.local_batch,
        )
        loader = self._loader(self.train_ds, sampler, self.local_batch, drop_last=True)
        show = self.verbose and (sys.stderr.isatty() if cfg.progress is None else cfg.progress)
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=self.batch,
            desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
            unit="step",
            disable=not show,
            leave=False,
            dynamic_ncols=True,
        )
        _train_mode(self.net, cfg.freeze_backbone)
        start = time.perf_counter()
        done_before = self.sums[3]
        try:
            for x, y in loader:
                torch.manual_seed(derive_seed(cfg.seed, self.d.rank, self.step))
                try:
                    loss, correct = self.stepper(x, y)
                except Diverged as e:
                    raise Diverged(f"{e} at step {self.step + 1}") from None
                self.step += 1
                self.batch += 1
                n = len(y)
                self.sums[0] += loss.item() * n
                self.sums[1] += correct.item()
                self.sums[2] += n
                self.sums[3] = done_before + time.perf_counter() - start
                if self.tb is not None:
                    self.tb.add_scalar("train/loss", loss.item(), self.step)
                    self.tb.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.step)
                bar.update()
                bar.set_postfix(
                    loss=f"{self.sums[0] / self.sums[2]:.3f}",
                    acc=f"{self.sums[1] / self.sums[2]:.1%}",
                    img_s=f"{self.sums[2] * self.d.world / max(self.sums[3], 1e-9):.0f}",
                    refresh=False,
                )
                if (
                    cfg.checkpoint_every
                    and self.step % cfg.checkpoint_every == 0
                    and self.batch < self.steps_per_epoch
                ):
                    self._checkpoint()
        finally:
            bar.close()

    def _end_epoch(self) -> None:
        if self.d.world > 1:
            # each process updated the batch norm statistics with its own share of the last batch;
            # take rank 0's (what the checkpoint saves) so that every process evaluates the same model
            for b in self.net.buffers():
                torch.distributed.broadcast(b, src=0)
        self._check_finite()  # before a best.safetensors could be written
        sums = self._global_sums()
        val = self.evaluate(self.data.val, distributed=True)
        self.epoch += 1
        self.batch = 0
        self.sums = [0.0, 0.0, 0.0, 0.0]
        row = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": sums[0] / sums[2],
            "train_acc": sums[1] / sums[2],
            "val_loss": val.loss,
            "val_acc": val.top1,
            "val_top5": val.topk,
            "seconds": sums[3],
            "img_per_s": sums[2] / max(sums[3], 1e-9),
        }
        self.history.append(row)
        # ties in accuracy (a small validation set) go to the lower validation loss
        best = (val.top1, -val.loss) > (self.best_acc, -self.best_loss)
        if best:
            self.best_acc, self.best_loss, self.best_epoch = val.top1, val.loss, self.epoch
            if self.d.main:
                self._save_weights(self.run_dir / "best.safetensors", epoch=self.epoch, val_acc=val.top1)
        self._checkpoint()
        if self.d.main:
            self._write_metrics()
        if self.tb is not None:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "img_per_s"):
                self.tb.add_scalar(k.replace("_", "/", 1), row[k], self.step)
        self.log(
            f"epoch {self.epoch:>{len(str(self.cfg.epochs))}}/{self.cfg.epochs}  "
            f"loss {row['train_loss']:.3f}  acc {row['train_acc']:.2%}  val loss {row['val_loss']:.3f}  "
            f"val acc {row['val_acc']:.2%}  top-{val.k} {row['val_top5']:.2%}  lr {row['lr']:.2e}  "
            f"{row['seconds']:.1f} s  {row['img_per_s']:.0f} img/s{'  *' if best else ''}"
        )

    def run(self) -> TrainResult:
        resumed = self.step > 0
        if self.d.main and not resumed:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
        self._describe()
        if resumed:
            self.log(f"resuming at epoch {self.epoch + 1}, step {self.batch} of {self.steps_per_epoch}")
        try:
            while self.epoch < self.cfg.epochs:
                self._train_epoch()
                self._end_epoch()
        except Diverged as e:
            last = self.run_dir / "last.safetensors" if self.d.main else None
            kept = (
                f"the last good checkpoint ({last}) is intact"
                if last is not None and last.exists()
                else "no checkpoint had been written yet"
            )
            raise Diverged(
                f"{e} (epoch {self.epoch + 1}, lr {self.scheduler.get_last_lr()[0]:.3g}); training stopped, "
                f"{kept}; try a lower --lr"
            ) from None
        except KeyboardInterrupt:
            self.log(f"\ninterrupted; continue with: inceptionkit train --resume {self.run_dir}")
            raise
        finally:
            if self.tb is not None:
                self.tb.close()
        return self._finish()

    def _finish(self) -> TrainResult:
        split = "test" if self.data.test is not None else "val"
        final = None
        if self.d.main:
            best = load_native(self.run_dir / "best.safetensors", device=self.device)
            best = best.to(
                memory_format=torch.channels_last if self.cfg.channels_last else torch.contiguous_format
            )
            final = self.evaluate(
                self.data.test if split == "test" else self.data.val, distributed=False, net=best
            )
            what = "held-out test" if split == "test" else "validation"
            self.log(f"run folder: {self.run_dir}")
            self.log(
                f"{what} accuracy: {final.top1:.2%} ({final.correct}/{final.n}, top-{final.k} "
                f"{final.topk:.2%}) with best.safetensors (epoch {self.best_epoch})"
            )
        return TrainResult(
            self.net,
            self.run_dir if self.d.main else None,
            self.history,
            self.best_epoch,
            self.best_acc,
            final,
            split,
        )


def _freeze(net: InceptionNet) -> None:
    for name, p in net.named_parameters():
        p.requires_grad = name.startswith("fc.")


def _summary_writer(path: Path, step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard") from e
    return SummaryWriter(str(path), purge_step=step or None)


def save_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and validation) as a PNG, written atomically."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "acc", "top-1 accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def train(
    cfg: TrainConfig | None = None, *, resume: str | Path | None = None, verbose: bool = True
) -> TrainResult:
    """Train (or fine-tune, or with ``resume`` continue) a model; see the module docstring.

    Under torchrun every process calls this; rank 0 writes the run folder and prints.
    Raises :class:`ConfigError` / :class:`~inceptionkit.data.DataError` for unusable settings or
    data (before anything is written) and :class:`Diverged` when the loss stops being finite.
    """
    cfg = cfg or TrainConfig()
    d = _init_distributed(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        return _Trainer(cfg, d, Path(resume) if resume is not None else None, verbose).run()
    finally:
        if d.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------------------------


def benchmark_training(
    name: str = "inception_v3",
    *,
    batch_size: int = 8,
    steps: int = 5,
    img_size: int | None = None,
    device: str = "cpu",
) -> dict:
    """Training images/s of inceptionkit's step next to a plain eager PyTorch loop (NCHW, float32,
    ``zero_grad / backward / step``) over copies of the same model, in the same process.

    "ours" is what ``train`` does by default: channels_last, and mixed precision on CUDA. On a CPU,
    "ours_amp" adds what ``--amp`` asks for there, bfloat16 autocast (fast where the CPU has
    bfloat16 instructions, slow where it has not). The variants take turns step by step, so all see
    the same machine load; each gets one warm-up step, then the medians of ``steps`` timed steps are
    compared (``speedup`` = ours / plain).
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    base = create_model(name, num_classes=1000)
    size = img_size or base.spec.default_size
    x = torch.randn(batch_size, base.in_chans, size, size)
    y = torch.randint(0, 1000, (batch_size,))

    plain = copy.deepcopy(base).to(dev).train()
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)

    def plain_step() -> None:
        plain_opt.zero_grad()
        F.cross_entropy(plain(x.to(dev)), y.to(dev)).backward()
        plain_opt.step()

    def our_step(amp: bool) -> Callable[[], object]:
        net = copy.deepcopy(base).to(dev, memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        scaler = torch.amp.GradScaler(dev.type, enabled=amp and dev.type == "cuda")
        stepper = Stepper(
            net,
            opt,
            torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0),
            scaler,
            dev,
            amp,
            channels_last=True,
            label_smoothing=0.0,
            aux_weights=[],
        )
        return lambda: stepper(x, y)

    variants = {"plain": plain_step, "ours": our_step(dev.type == "cuda")}
    if dev.type == "cpu":
        variants["ours_amp"] = our_step(True)

    def timed(fn: Callable[[], object]) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t

    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(steps + 1):
        for k, fn in variants.items():
            t = timed(fn)
            if i:  # the first step of each warms up kernels and caches
                times[k].append(t)
    ips = {k: batch_size / statistics.median(v) for k, v in times.items()}
    out = {"model": name, "batch_size": batch_size, "img_size": size, "device": str(dev), "steps": steps}
    out.update({f"{k}_img_s": v for k, v in ips.items()})
    out["speedup"] = ips["ours"] / ips["plain"]
    if "ours_amp" in ips:
        out["amp_speedup"] = ips["ours_amp"] / ips["plain"]
    return out
