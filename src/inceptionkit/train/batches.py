"""How an epoch's training images fall into steps: full batches, then the partial last one.

Every image of the training set is used each epoch, in a last batch smaller than the others when the
count does not divide evenly (as PyTorch's ``DataLoader`` does by default). Two exceptions, both
stated in the run's header: under ``torchrun`` the images beyond a multiple of the process count are
left out (each process gets the same share, so no image is seen twice), and a last batch of a single
image per process is left out (batch norm cannot learn from one value per channel: the 1x1 maps of
an auxiliary head refuse it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class EpochPlan:
    """``steps`` per epoch, each of ``batch`` images per process except the last, of ``last`` (0: it
    is full); ``left_out`` images of the ``images`` are not used in an epoch."""

    images: int
    world: int
    batch: int
    steps: int
    last: int
    left_out: int

    def describe(self) -> str:
        """What the header says beyond ``batch N``: the partial batch and what is left out, or ""."""
        out = f" (the last of {self.last}{' per process' if self.world > 1 else ''})" if self.last else ""
        if self.left_out:
            ragged = self.images % self.world
            why = [f"{ragged} for an equal share per process"] if ragged else []
            why += ["1 per process: a last batch of one image cannot train batch norm"] * (
                self.left_out > ragged
            )
            out += f"; {self.left_out} of the {self.images} training images left out each epoch ({', '.join(why)})"
        return out


def plan_epoch(images: int, global_batch: int, world: int) -> EpochPlan:
    """The steps of one epoch over ``images`` training images at ``global_batch`` on ``world``
    processes (ConfigError if the batch does not split over the processes or no step is possible)."""
    if global_batch % world:
        raise ConfigError(f"batch_size {global_batch} does not split evenly over {world} processes", field="batch_size")
    batch = global_batch // world
    share = images // world  # each process's (torch's DistributedSampler drops the ragged tail)
    full, last = divmod(share, batch)
    if last == 1 and batch > 1:
        last = 0
    steps = full + (last > 0)
    if steps == 0:
        raise ConfigError(
            f"{images} training image(s) over {world} process(es) make no batch of two images; "
            "add images or use fewer processes"
        )
    return EpochPlan(images, world, batch, steps, last, images - world * (full * batch + last))
