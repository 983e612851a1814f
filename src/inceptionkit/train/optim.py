"""The optimizer (no weight decay on biases and batch norm) and the learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


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


def make_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    total = cfg.epochs * steps_per_epoch
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(
            s, total=total, warmup=warmup, steps_per_epoch=steps_per_epoch, schedule=cfg.schedule
        ),
    )
