"""Training in many processes: batch norm synchronised across them, and the model wrapped for
DistributedDataParallel. (Which process this is and how processes agree: :mod:`inceptionkit.devices`.)"""

from __future__ import annotations

import torch
from torch import nn

from ..devices import World
from ..errors import ConfigError


def sync_batchnorm(module: nn.Module) -> nn.Module:
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
        module.add_module(name, sync_batchnorm(child))
    return module


def wrap_for_processes(net: nn.Module, d: World, device: torch.device, sync_bn: bool) -> nn.Module:
    """``net`` itself in one process; DistributedDataParallel (optionally with SyncBatchNorm) in many."""
    if d.size == 1:
        return net
    if sync_bn:
        if device.type != "cuda":
            raise ConfigError("sync_bn needs CUDA: SyncBatchNorm does not run on the CPU (gloo)", field="sync_bn")
        net = sync_batchnorm(net)
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None
    )
