"""Processes and devices: one process or many under torchrun, which device each one uses, and how
rank 0's decisions reach the others."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, InceptionKitError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return d


def process_device(dev: torch.device, d: Dist) -> torch.device:
    """The device of this process: under torchrun, each process takes the GPU of its local rank."""
    if dev.type == "cuda":
        dev = torch.device("cuda", d.local_rank if d.world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    return dev


def agree(d: Dist, fn: Callable[[], object]) -> object:
    """``fn()`` on rank 0; its error (an :class:`InceptionKitError`) is raised on every process, so
    none hangs waiting. The other processes get None."""
    err, out = None, None
    if d.main:
        try:
            out = fn()
        except (InceptionKitError, OSError) as e:  # OSError: a file rank 0 could not write
            err = (type(e), str(e))
    if d.world > 1:
        box = [err]
        torch.distributed.broadcast_object_list(box, src=0)
        err = box[0]
    if err is not None:
        raise err[0](err[1])
    return out


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


def wrap_for_processes(net: nn.Module, d: Dist, device: torch.device, sync_bn: bool) -> nn.Module:
    """``net`` itself in one process; DistributedDataParallel (optionally with SyncBatchNorm) in many."""
    if d.world == 1:
        return net
    if sync_bn:
        if device.type != "cuda":
            raise ConfigError("--sync-bn needs CUDA: SyncBatchNorm does not run on the CPU (gloo)")
        net = sync_batchnorm(net)
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None
    )
