"""One process, or many under ``torchrun``: each takes every world-th image, and the sums are added up.

Under torchrun (``WORLD_SIZE`` > 1) the process group is started on first use: gloo on CPU, NCCL on
CUDA. Sums travel by ``all_reduce``; the few things that are not sums (kept features, unreadable
files) by ``all_gather_object`` between our own processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .. import devices


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device: torch.device) -> World:
    """This process's place among those torchrun started (a world of one without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def sum_all(world: World, *tensors: torch.Tensor) -> None:
    """Add each tensor up across processes, in place."""
    if world.size > 1:
        for t in tensors:
            dist.all_reduce(t)


def gather(world: World, obj: object) -> list:
    """Every process's ``obj``, in rank order."""
    if world.size == 1:
        return [obj]
    out: list = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def parse_device(name: str | None) -> torch.device:
    """``--device`` as :func:`inceptionkit.devices.parse_device` reads it; under torchrun each process
    takes the GPU of its local rank."""
    dev = devices.parse_device(name)
    if dev.type == "cuda":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return dev
