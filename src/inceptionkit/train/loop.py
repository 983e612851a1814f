"""The training run: set up from settings (or a run folder to resume), then epochs of steps, a
checkpoint set at each epoch end (and every ``checkpoint_every`` steps), and the final evaluation."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import torch
from torch import nn

from ..data import EpochSampler, ImageDataset, derive_seed, limit, load_data, train_transform
from ..devices import World, agree, join, parse_device, process_device
from ..errors import ConfigError, Diverged
from ..evaluate import EvalResult, evaluate
from ..loader import WorkerLoader
from ..model import InceptionNet
from ..preprocess import Preprocess
from ..text import progress_bar
from ..weights.native import load_native, read_native_metadata
from .batches import plan_epoch
from .checkpoint import Checkpoint, read_latest, tidy
from .config import RUNTIME_FIELDS, TrainConfig, resolve, validate
from .dist import wrap_for_processes
from .optim import make_optimizer, make_scheduler
from .report import (
    CURVES_EVERY,
    EpochSums,
    epoch_line,
    metrics_rows,
    rate,
    require_tensorboard,
    summary_writer,
    write_metrics,
)
from .run_folder import new_run_dir, read_run_config, saved_config, val_digest, write_run_files
from .saving import Best, Position, Saving
from .setup import (
    build_model,
    check_input_fits,
    freeze_backbone,
    model_from_metadata,
    preprocess_for,
    train_mode,
)
from .step import Stepper, aux_weights

clock = time.monotonic  # when curves.png is drawn (a test sets the time)


@dataclass
class TrainResult:
    model: InceptionNet  # the final weights
    run_dir: Path | None  # None on processes other than rank 0
    history: list[dict]
    best_epoch: int
    best_val_acc: float
    final: EvalResult | None  # best.safetensors on the held-out split (rank 0 only)
    final_split: str  # "test" or "val"


class Trainer(Saving):
    """One run. Set up job by job (settings, data, model, optimisation, restored position, run folder,
    loaders), all checked before :meth:`run` creates anything; then epochs of steps and checkpoints."""

    def __init__(self, cfg: TrainConfig, d: World, device: torch.device, resume: Path | None, verbose: bool):
        self.d, self.device = d, device
        self.verbose = verbose and d.is_main
        self.resume, self.note = resume, None
        cfg, checkpoint, doc = self._settings(cfg, resume)
        if cfg.tensorboard:
            require_tensorboard()
        self.data = load_data(cfg.data, val_split=cfg.val_split, workers=cfg.workers)
        self.data.train = limit(self.data.train, cfg.max_train_images)
        self.val_digest = val_digest(cfg, self.data) if cfg.data is not None else None
        net, self.cfg, self.pre = self._model(cfg, checkpoint, doc)
        self._batches()
        self._optimisation(net)
        self.pos, self.sums, self.best, self.history = Position(), EpochSums(), Best(), []
        self.curves_at = 0.0  # when curves.png was last drawn (clock())
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self._restore(checkpoint)
        self.run_dir = resume if resume is not None else agree(d, lambda: new_run_dir(self.cfg))
        self._loaders()
        self.tb = None

    # -- setting up -----------------------------------------------------------------------------
    def _settings(self, cfg: TrainConfig, resume: Path | None) -> tuple[TrainConfig, Checkpoint | None, dict]:
        """The run's settings (a resumed run's own, with this invocation's runtime fields), checked,
        and the checkpoint to resume from (None: start from the beginning)."""
        if resume is None:
            validate(cfg)
            return cfg, None, {}
        doc = read_run_config(resume)
        cfg = replace(saved_config(doc), **{k: getattr(cfg, k) for k in RUNTIME_FIELDS})
        validate(cfg)
        checkpoint = read_latest(resume)
        if checkpoint is not None:
            md = read_native_metadata(checkpoint.weights) or {}
            if md.get("arch") != cfg.model:
                raise ConfigError(
                    f"{checkpoint.weights} holds {md.get('arch')} weights, but the run trains {cfg.model}"
                )
            if checkpoint.state["epoch"] >= (cfg.epochs or 0) and metrics_rows(resume) == len(
                checkpoint.state["history"]
            ):  # (a kill after the last checkpoint but before the end: the run's end is redone)
                raise ConfigError(f"{resume} has finished its {cfg.epochs} epochs; nothing to resume")
        return cfg, checkpoint, doc

    def _model(
        self, cfg: TrainConfig, checkpoint: Checkpoint | None, doc: dict
    ) -> tuple[InceptionNet, TrainConfig, Preprocess]:
        if checkpoint is not None:
            if doc["classes"] != self.data.classes:
                raise ConfigError(f"the classes in {cfg.data} changed since {self.resume} started")
            net = model_from_metadata(read_native_metadata(checkpoint.weights), cfg.drop_rate)
            pre = Preprocess.from_json(doc["preprocess"])
        else:
            torch.manual_seed(cfg.seed)  # the initial weights
            net = build_model(cfg, len(self.data.classes))
            self.note = check_input_fits(cfg, net, self.data)
            cfg = resolve(cfg, net)
            pre = preprocess_for(cfg, net)
        if cfg.freeze_backbone:
            freeze_backbone(net)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        return net.to(self.device, memory_format=fmt), cfg, pre

    def _batches(self) -> None:
        self.plan = plan_epoch(len(self.data.train), self.cfg.batch_size, self.d.size)
        self.local_batch, self.steps_per_epoch = self.plan.batch, self.plan.steps

    def _optimisation(self, net: InceptionNet) -> None:
        cfg = self.cfg
        self.net = net
        self.amp = self.device.type == "cuda" if cfg.amp is None else cfg.amp
        self.optimizer = make_optimizer(cfg, net)
        self.scheduler = make_scheduler(cfg, self.optimizer, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and self.device.type == "cuda")
        self.stepper = Stepper(
            wrap_for_processes(net, self.d, self.device, cfg.sync_bn),
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.device,
            self.amp,
            cfg.channels_last,
            cfg.label_smoothing,
            aux_weights(net) if cfg.aux else [],
            distributed=self.d.size > 1,
        )

    def _loaders(self) -> None:
        cfg = self.cfg
        self.train_ds = ImageDataset(
            self.data.train, train_transform(self.pre, crop_scale=(cfg.crop_scale, 1.0), hflip=cfg.hflip)
        )
        self.eval_tf = self.pre.transform()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        folder_workers = max(1, min(4, (os.cpu_count() or 1) // local_world))
        # the digits sit in memory: worker processes would cost more than they save
        self.workers = cfg.workers if cfg.workers is not None else 0 if cfg.data is None else folder_workers

    def _loader(self, dataset, sampler, batch_size: int):
        return WorkerLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
        )

    # -- output ---------------------------------------------------------------------------------
    def log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def _describe(self) -> None:
        cfg, data, pre = self.cfg, self.data, self.pre
        sizes = f"{len(data.train):,} train / {len(data.val):,} val"
        if data.test is not None:
            sizes += f" / {len(data.test):,} held-out test"
        self.log(
            f"{cfg.model} ({self.net.spec.variant}) on {data.name}: {len(data.classes)} classes, {sizes} "
            f"images at {pre.size}x{pre.size}x{pre.channels}"
        )
        if self.note:
            self.log(self.note)
        if data.skipped:
            self.log(
                f"skipped {data.skipped} unreadable image file(s), e.g. {', '.join(data.skipped_examples)}"
            )
        procs = f" x {self.d.size} processes" if self.d.size > 1 else ""
        self.log(
            f"{cfg.epochs} epochs of {self.steps_per_epoch} steps, batch {cfg.batch_size}{self.plan.describe()}"
            f", {cfg.optimizer} lr {cfg.lr:g}, {cfg.schedule} schedule, on {self.device}{procs}"
            f"{' with mixed precision' if self.amp else ''}; run folder {self.run_dir}"
        )

    def evaluate(self, samples, distributed: bool, net: nn.Module | None = None) -> EvalResult:
        ds = ImageDataset(samples, self.eval_tf)
        rank, world = (self.d.rank, self.d.size) if distributed else (0, 1)
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

    # -- the loop -------------------------------------------------------------------------------
    def _progress_bar(self):
        cfg = self.cfg
        show = self.verbose and (sys.stderr.isatty() if cfg.progress is None else cfg.progress)
        epoch = f"epoch {self.pos.epoch + 1}/{cfg.epochs}"
        return progress_bar(self.steps_per_epoch, epoch, "step", show, initial=self.pos.batch)

    def _train_epoch(self) -> None:
        cfg, pos, sums = self.cfg, self.pos, self.sums
        sampler = EpochSampler(
            len(self.train_ds),
            seed=cfg.seed,
            epoch=pos.epoch,
            rank=self.d.rank,
            world=self.d.size,
            skip=pos.batch * self.local_batch,
        )
        loader = self._loader(self.train_ds, sampler, self.local_batch)  # the last batch may be partial
        bar = self._progress_bar()
        train_mode(self.net, cfg.freeze_backbone)
        start, before = time.perf_counter(), sums.seconds
        try:
            for x, y in islice(loader, self.steps_per_epoch - pos.batch):  # (not a last single image)
                torch.manual_seed(derive_seed(cfg.seed, self.d.rank, pos.step))
                try:
                    loss, correct = self.stepper(x, y)
                except Diverged as e:
                    raise Diverged(f"{e} at step {pos.step + 1}") from None
                pos.step += 1
                pos.batch += 1
                sums.add(loss.item(), correct.item(), len(y))
                sums.seconds = before + time.perf_counter() - start
                if self.tb is not None:
                    self.tb.add_scalar("train/loss", loss.item(), pos.step)
                    self.tb.add_scalar("train/lr", self.scheduler.get_last_lr()[0], pos.step)
                bar.update()
                bar.set_postfix(
                    loss=f"{sums.mean_loss:.3f}",
                    acc=f"{sums.accuracy:.1%}",
                    img_s=rate(sums.images_per_second(self.d.size)),
                    refresh=False,
                )
                every = cfg.checkpoint_every
                if every and pos.step % every == 0 and pos.batch < self.steps_per_epoch:
                    self._checkpoint()
        finally:
            bar.close()

    def _end_epoch(self) -> None:
        if self.d.size > 1:
            # each process updated the batch norm statistics with its own share of the last batch;
            # take rank 0's (what the checkpoint saves) so that every process evaluates the same model
            for b in self.net.buffers():
                torch.distributed.broadcast(b, src=0)
        self._check_finite()  # before a best.safetensors could be written
        sums = self.sums.gathered(self.d.size)
        val = self.evaluate(self.data.val, distributed=True)
        self.pos.epoch += 1
        self.pos.batch = 0
        self.sums = EpochSums()
        row = {
            "epoch": self.pos.epoch,
            "step": self.pos.step,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": sums.mean_loss,
            "train_acc": sums.accuracy,
            "val_loss": val.loss,
            "val_acc": val.top1,
            "val_top5": val.topk,
            "seconds": sums.seconds,
            "img_per_s": sums.images_per_second(),
        }
        self.history.append(row)
        best = self.best.beaten_by(val.top1, val.loss)
        if best:
            self.best = Best(val.top1, val.loss, self.pos.epoch)
        self._checkpoint(best_changed=best)
        if self.d.is_main:
            now = clock()
            draw = self.pos.epoch in (1, self.cfg.epochs) or now - self.curves_at >= CURVES_EVERY
            title = f"{self.cfg.model} on {self.data.name}"
            write_metrics(self.history, self.run_dir, title=title, curves=draw)
            if draw:
                self.curves_at = now
        if self.tb is not None:
            for k in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "img_per_s"):
                self.tb.add_scalar(k.replace("_", "/", 1), row[k], self.pos.step)
        self.log(epoch_line(row, self.cfg.epochs, val.k, best))

    def _prepare_folder(self) -> None:
        if self.pos.step == 0:
            write_run_files(self.run_dir, self.cfg, self.data, self.pre, self.d.size)
        tidy(self.run_dir, self.checkpoint)
        if self.history:  # a kill may have come between a checkpoint and these
            write_metrics(self.history, self.run_dir, title=f"{self.cfg.model} on {self.data.name}")

    def _start(self) -> None:
        """Create (or tidy) the run folder on rank 0; the settings were all checked before."""
        agree(self.d, self._prepare_folder)
        if self.d.is_main and self.cfg.tensorboard:
            self.tb = summary_writer(self.run_dir / "tensorboard", self.pos.step)
        self._describe()
        p = self.pos
        if p.epoch >= self.cfg.epochs:
            self.log(f"resuming after the last epoch ({p.epoch}): the final evaluation")
        elif p.step > 0:
            self.log(f"resuming at epoch {p.epoch + 1}, step {p.batch} of {self.steps_per_epoch}")
        elif self.resume is not None:
            self.log(f"{self.resume} holds no checkpoint yet: starting it from the beginning")

    def run(self) -> TrainResult:
        self._start()
        try:
            while self.pos.epoch < self.cfg.epochs:
                self._train_epoch()
                self._end_epoch()
        except Diverged as e:
            last = self.run_dir / "last.safetensors" if self.d.is_main else None
            kept = (
                f"the last good checkpoint ({last}) is intact"
                if last is not None and last.exists()
                else "no checkpoint had been written yet"
            )
            raise Diverged(
                f"{e} (epoch {self.pos.epoch + 1}, lr {self.scheduler.get_last_lr()[0]:.3g}); training "
                f"stopped, {kept}; try a lower --lr"
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
        if self.d.is_main:
            best = load_native(self.run_dir / "best.safetensors", device=self.device)
            fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
            final = self.evaluate(
                self.data.test if split == "test" else self.data.val,
                distributed=False,
                net=best.to(memory_format=fmt),
            )
            what = "held-out test" if split == "test" else "validation"
            self.log(f"run folder: {self.run_dir}")
            self.log(
                f"{what} accuracy: {final.top1:.2%} ({final.correct}/{final.n}, top-{final.k} "
                f"{final.topk:.2%}) with best.safetensors (epoch {self.best.epoch})"
            )
        run_dir = self.run_dir if self.d.is_main else None
        return TrainResult(self.net, run_dir, self.history, self.best.epoch, self.best.acc, final, split)


def train(
    cfg: TrainConfig | None = None, *, resume: str | Path | None = None, verbose: bool = True
) -> TrainResult:
    """Train (or fine-tune, or with ``resume`` continue) a model; see :mod:`inceptionkit.train`.

    Under torchrun every process calls this; rank 0 writes the run folder and prints.
    Raises :class:`ConfigError` / :class:`~inceptionkit.errors.DataError` for unusable settings or
    data (before anything is written), :class:`Diverged` when the loss stops being finite and
    :class:`~inceptionkit.train.CheckpointError` when a checkpoint cannot be written or read.
    """
    cfg = cfg or TrainConfig()
    device = parse_device(cfg.device)
    d = join(device)
    try:
        device = process_device(device)
        return Trainer(cfg, d, device, Path(resume) if resume is not None else None, verbose).run()
    finally:
        if d.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
