"""A FID for training loops, in torchmetrics' manner: ``update(images, real=...)``, ``compute()``,
``reset()``. Each process keeps running sums (count, sum and sum of outer products, float64:
:class:`~.stats.Moments`) of the features of the images it was given; ``compute()`` adds them up across
the processes torchrun started (every process must call it, as with any collective) and gives the FID
of the mode. Memory does not grow with the number of images; with ``kid=True`` the features are kept
(gathered across processes at ``compute()``) for KID.

The reference can be a statistics file or :class:`~.stats.Statistics` given once (then ``update`` takes
the generated images only), or real images passed with ``real=True``. ``reset()`` forgets the generated
images (and the real ones unless ``reset_real=False``, torchmetrics' ``reset_real_features``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..devices import World, gather, join, process_device, sum_all
from ..errors import MetricError
from ..settings import RunSettings
from .api import Network
from .checks import caution
from .conventions import CONVENTIONS
from .engine import ExactNetwork
from .extract import network_input, resizes_on
from .inputs import check_images
from .network import fid_outputs
from .pipelines import MODES
from .stats import Moments, Statistics, frechet_distance, load_statistics


class FrechetInceptionDistance:
    """``update(images, real=False)``; ``compute() -> float``; ``reset()``. ``images``: (N, 3, H, W)
    uint8 pixels or floats in [0, 1], resized by ``mode``'s pipeline."""

    def __init__(
        self,
        mode: str = "pytorch-fid",
        dims: int = 2048,
        *,
        reference: str | os.PathLike | Statistics | None = None,
        network: Network | None = None,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        engine: str | None = None,
        kid: bool = False,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        reset_real: bool = True,
    ) -> None:
        if mode not in MODES:
            raise MetricError(f"mode {mode}: use one of {', '.join(MODES)}")
        self.mode, self.dims, self.reset_real = mode, dims, reset_real
        self.kid = (kid_subsets, kid_subset_size) if kid else None
        self.device = process_device(device)
        self.world: World = join(self.device)
        self.network = network or Network.load(weights, mode)
        run = RunSettings(device=str(self.device), engine=engine)  # None: auto, the exact engines only
        self.net = ExactNetwork(self.network.model, fid_outputs(dims), run, self.device)
        if isinstance(reference, (str, os.PathLike)):
            reference = load_statistics(Path(reference), dims=dims, mode=mode)
        if reference is not None and kid:
            raise MetricError("KID needs the real images' features: pass them with update(real=True)")
        self.reference = reference
        self.real, self.fake = self._empty(), self._empty()

    def _empty(self) -> tuple[Moments, list[torch.Tensor]]:
        return Moments(self.dims, self.device), []

    def update(self, images: torch.Tensor, real: bool = False) -> None:
        """Add a batch of generated images (or of real ones, ``real=True``)."""
        if real and self.reference is not None:
            raise MetricError("this metric was given reference statistics; update() takes generated images")
        check_images(images, "real images" if real else "generated images")
        with torch.inference_mode():
            x = network_input(self.mode, images.detach(), self.device, resizes_on(self.mode, self.device))
            (features,) = self.net(x)
        moments, kept = self.real if real else self.fake
        moments.add(features)
        if self.kid:
            kept.append(features.float().cpu())

    def compute(self) -> float | dict[str, float]:
        """The FID of everything every process was given (a dict with KID's mean and std too, with
        ``kid=True``); the state is left as it is."""
        fake = self._summed(self.fake[0], "the generated set")
        real = self.reference if self.reference is not None else self._summed(self.real[0], "the real set")
        for name, s in (("generated", fake), ("real", real)):
            if s.count is not None and s.count < 2:
                raise MetricError(f"{s.count} {name} image(s) so far; the FID needs at least 2")
        fid = frechet_distance(real, fake, CONVENTIONS[self.mode].fid)
        caution([real, fake], self.dims, stacklevel=3)
        if not self.kid:
            return fid
        a, b = (torch.cat([t for part in gather(self.world, kept) for t in part]) for _, kept in (self.real, self.fake))
        size = min(self.kid[1], len(a), len(b))
        mean, std = CONVENTIONS[self.mode].kid(a.numpy(), b.numpy(), self.kid[0], size)
        return {"frechet_inception_distance": fid, "kernel_inception_distance_mean": mean,
                "kernel_inception_distance_std": std}  # fmt: skip

    def _summed(self, m: Moments, label: str) -> Statistics:
        total = Moments(self.dims, self.device)
        count = torch.tensor([m.count], dtype=torch.float64, device=self.device)
        total.sum.copy_(m.sum)
        total.outer.copy_(m.outer)
        sum_all(self.world, count, total.sum, total.outer)
        total.count = int(count.item())
        if total.count < 2:
            return Statistics(total.sum.cpu().numpy(), total.outer.cpu().numpy(), total.count, self.mode, label)
        return total.statistics(self.mode, label)

    def reset(self) -> None:
        """Forget the generated images (and the real ones, unless ``reset_real`` is False)."""
        self.fake = self._empty()
        if self.reset_real:
            self.real = self._empty()
