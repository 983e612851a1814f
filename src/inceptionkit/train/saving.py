"""A training run's state: where it is (:class:`Position`), its best epoch (:class:`Best`), and
:class:`Saving`, the part of the trainer that writes a checkpoint set (weights, best weights, the
optimiser's state) and restores a run from one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import DIGITS
from ..devices import agree
from ..errors import Diverged
from ..weights.native import WeightMeta, native_bytes
from .checkpoint import STATE_FORMAT, Checkpoint, write_set
from .report import EpochSums


@dataclass
class Position:
    epoch: int = 0  # epochs completed
    batch: int = 0  # steps completed in the current epoch
    step: int = 0  # steps completed in all


@dataclass
class Best:
    """The epoch with the best validation accuracy so far (ties: the lower validation loss)."""

    acc: float = -1.0
    loss: float = math.inf
    epoch: int = 0

    def beaten_by(self, acc: float, loss: float) -> bool:
        return (acc, -loss) > (self.acc, -self.loss)


class Saving:
    """The trainer's checkpoints: written at each epoch end (and every ``checkpoint_every`` steps),
    restored on resume. A mixin of :class:`~.loop.Trainer`, whose attributes it uses."""

    def _restore(self, checkpoint: Checkpoint) -> None:
        from safetensors.torch import load_file

        state = checkpoint.state
        self.net.load_state_dict(load_file(checkpoint.weights), strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.pos = Position(state["epoch"], state["batch"], state["global_step"])
        self.history = list(state["history"])
        self.best = Best(state["best_acc"], state["best_loss"], state["best_epoch"])
        # the epoch's partial sums were summed over processes when saved: rank 0 carries them
        self.sums = EpochSums.from_list(state["sums"]) if self.d.is_main else EpochSums()

    # -- state ----------------------------------------------------------------------------------
    def _check_finite(self) -> None:
        """Diverged (on every process) unless all weights and statistics are finite."""
        tensors = [t for t in self.net.state_dict().values() if t.is_floating_point()]
        ok = torch.stack([torch.isfinite(t).all() for t in tensors]).all().float().cpu()
        if self.d.size > 1:
            torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
        if not ok.item():
            raise Diverged(f"the weights stopped being finite by step {self.pos.step}")

    def _weights(self, **extra: object) -> bytes:
        """The current weights as an inceptionkit file, with what they were trained on."""
        cfg = self.cfg
        meta = WeightMeta(self.pre, list(self.data.classes), f"trained by inceptionkit on {self.data.name}")
        record = {"dataset": DIGITS if cfg.data is None else str(Path(cfg.data).resolve())}
        if cfg.data is not None:
            record["val_files_sha256"] = self.val_digest
            if cfg.val_split is not None:
                record["val_split"] = str(cfg.val_split)
        return native_bytes(self.net, meta, extra={**record, **{k: str(v) for k, v in extra.items()}})

    def _checkpoint(self, best_changed: bool = False) -> None:
        """Weights and state at the current position, rank 0 writing; every process takes part (and
        stops with rank 0 if the write fails: a full disk)."""
        self._check_finite()
        sums = self.sums.gathered(self.d.size)
        agree(self.d, lambda: self._write_set(sums, best_changed))

    def _write_set(self, sums: EpochSums, best_changed: bool) -> None:
        pos, best = self.pos, self.best
        state = {
            "format": STATE_FORMAT,
            "global_step": pos.step,
            "epoch": pos.epoch,
            "batch": pos.batch,
            "seed": self.cfg.seed,
            "world_size": self.d.size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sums": sums.to_list(),
            "history": self.history,
            "best_acc": best.acc,
            "best_loss": best.loss,
            "best_epoch": best.epoch,
        }
        write_set(
            self.run_dir,
            pos.step,
            state,
            lambda: self._weights(train_step=pos.step, epoch=pos.epoch),
            (lambda: self._weights(epoch=best.epoch, val_acc=best.acc)) if best_changed else None,
        )
