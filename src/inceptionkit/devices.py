"""Devices and processes, for every job: which device a command runs on (one parser for predict,
features, eval, train, bench and FID) and, under torchrun, which process this is (:class:`World`:
rank, size, local rank, ``is_main``) and how processes add up sums and agree on a decision."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from .errors import InceptionKitError, UsageError

T = TypeVar("T")

DEVICE_KINDS = ("cpu", "cuda")


def parse_device(name: str | torch.device | None, *, default: str | None = None) -> torch.device:
    """``name`` as a torch device this machine has: ``cpu``, ``cuda`` or ``cuda:N``.

    ``None`` gives ``default``, else CUDA when there is one, else the CPU. Anything else (an unknown
    name, ``meta``, a CUDA device on a machine without CUDA, an index past the last GPU) is a
    :class:`UsageError` naming the flag's value.
    """
    if name is None:
        name = default or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"device {str(name)!r} is unknown; use cpu, cuda or cuda:N", field="device") from None
    if device.type not in DEVICE_KINDS:
        raise UsageError(f"device {name} cannot run a model here; use cpu, cuda or cuda:N", field="device")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {name}: no CUDA device is available on this machine; use cpu", field="device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    return device


# -- processes: one, or many under torchrun ------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """This process's place among those torchrun started (a world of one without torchrun): train and
    FID alike. ``rank`` 0 is the main process, the one that prints and writes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join(device: torch.device) -> World:
    """Start (or find) the process group torchrun asked for: gloo on CPU, NCCL on CUDA; a world of one
    when ``WORLD_SIZE`` is not above 1."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), local)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local)


def process_device(name: str | torch.device | None) -> torch.device:
    """``--device`` as :func:`parse_device` reads it, where under torchrun each process takes the GPU
    of its local rank (and makes it current)."""
    dev = parse_device(name)
    if dev.type == "cuda":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        elif dev.index is None:
            dev = torch.device("cuda", 0)
        torch.cuda.set_device(dev)
    return dev


def sum_all(world: World, *tensors: torch.Tensor) -> None:
    """Add each tensor up across processes, in place."""
    if world.size > 1:
        import torch.distributed as dist

        for t in tensors:
            dist.all_reduce(t)


def gather(world: World, obj: object) -> list:
    """Every process's ``obj`` (our own processes' objects), in rank order."""
    if world.size == 1:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def agree(world: World, fn: Callable[[], T]) -> T | None:
    """``fn()`` on the main process; its error (an :class:`InceptionKitError`, or an OSError: a file it
    could not write) is raised on every process, so none hangs waiting. The others get None."""
    err, out = None, None
    if world.is_main:
        try:
            out = fn()
        except (InceptionKitError, OSError) as e:
            err = (type(e), str(e))
    if world.size > 1:
        import torch.distributed as dist

        box = [err]
        dist.broadcast_object_list(box, src=0)
        err = box[0]
    if err is not None:
        raise err[0](err[1])
    return out


def current_world() -> World:
    """The world the process group already started describes (a world of one when none is), without
    starting one: for the command line, to print and write from the main process only."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return World()
