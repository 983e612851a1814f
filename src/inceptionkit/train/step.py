"""One training step: forward, loss (with the auxiliary classifiers' weighted losses), a finiteness
check that every process agrees on, backward, optimizer and schedule step. The benchmark times it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Diverged
from ..model import InceptionNet


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
