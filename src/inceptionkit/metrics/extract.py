"""Images (files, tensors or batches from an iterator) through a mode's pipeline and the FID network,
into streaming statistics.

Files are found and decoded by :mod:`inceptionkit.images` (the one image pipeline) and read through
the one loading loop (:func:`inceptionkit.loader.load_batches`), whose worker processes also resize,
so decoding overlaps the network; on a GPU the workers only decode, and the images go to the device
as uint8 and are resized there, each group of one size as a batch (every mode but ``clean``). Each
image is resized on its own: folders of mixed sizes work in every mode. Under torchrun each process takes every world-th
file; counts and sums are added up across processes, kept features gathered back into file order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from ..devices import World, gather, sum_all
from ..images import load_image
from ..loader import load_batches
from ..text import progress_bar
from .engine import ExactNetwork, full_fp32
from .pipelines import DEVICE_RESIZE, PIPELINES, SIZE, image_to_tensor
from .stats import Moments


@dataclass
class Features:
    """What one pass over a set of images gives."""

    moments: Moments
    kept: torch.Tensor | None = None  # (N, dims) float32, in input order: for KID
    logits: torch.Tensor | None = None  # (N, 1008) float32, in input order: for IS
    bad: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


RAW_PIXELS = 4 * SIZE * SIZE  # uint8 pixels that take no more room than a resized float32 image
RAW_SIDE = 16 * SIZE  # and no side shrunk more than 16 times (CUDA's antialiased bilinear refuses ~94)


def prepared(mode: str, pixels: torch.Tensor, for_device: bool) -> torch.Tensor:
    """One decoded image (uint8, (3, H, W)) as a worker hands it on: resized by the mode's pipeline;
    with ``for_device``, left as it is for the device to resize unless it is larger than the resized
    float32 image would be (:data:`RAW_PIXELS`), so that the batches in flight never take more memory
    than resized ones (a 12-megapixel photo is 36 MB of uint8, against 1 MB resized), nor a side
    longer than :data:`RAW_SIDE`."""
    h, w = pixels.shape[-2:]
    if for_device and h * w <= RAW_PIXELS and max(h, w) <= RAW_SIDE:
        return pixels
    return PIPELINES[mode](pixels[None])[0]


def resizes_on(mode: str, device: torch.device) -> bool:
    """Whether ``mode``'s resize runs on ``device`` by default: on a GPU, in every mode but ``clean``."""
    return device.type != "cpu" and mode in DEVICE_RESIZE


def network_input(mode: str, x: torch.Tensor, device: torch.device, on_device: bool) -> torch.Tensor:
    """A batch (uint8 pixels, or floats in [0, 1]) through the mode's resize and onto ``device``:
    resized there with ``on_device``, else on the CPU and then moved; in IEEE fp32 and outside a
    caller's autocast either way, as the network runs (clean-legacy-tensorflow's sampling grid is a
    matrix product)."""
    where = device if on_device else torch.device("cpu")
    with full_fp32(where):
        return PIPELINES[mode](x.to(where)).to(device)


class Decode:
    """One file decoded (the one image pipeline) and resized by a mode's pipeline (``for_device``: see
    :func:`prepared`): a picklable transform for :func:`~inceptionkit.loader.load_batches`."""

    def __init__(self, mode: str, for_device: bool = False) -> None:
        self.mode, self.for_device = mode, for_device

    def __call__(self, file: str) -> torch.Tensor:
        return prepared(self.mode, image_to_tensor(load_image(file, "RGB")), self.for_device)

    def on_device(self) -> Decode:
        """The same decoding, leaving the resize to the network's device where it can."""
        return Decode(self.mode, for_device=True)


@dataclass
class Runner:
    """The network and how to feed it. ``net`` gives one or two outputs: the features (their moments,
    and kept for KID with ``keep_features``), and a second kept with ``keep_logits`` (IS's logits,
    or the evaluator's spatial features)."""

    net: ExactNetwork
    mode: str
    device: torch.device
    world: World = field(default_factory=World)
    batch_size: int = 50
    workers: int = 0
    progress: bool = True
    keep_features: bool = False
    keep_logits: bool = False
    resize_on_device: bool | None = None  # None: on a GPU, in every mode whose resize is torch's

    @property
    def resizes_on_device(self) -> bool:
        """Whether images reach the device as uint8 at their own sizes and are resized there (on a GPU,
        every mode but ``clean``, whose PIL filter is the CPU's); else the decoding workers resize."""
        if self.resize_on_device is None:
            return resizes_on(self.mode, self.device)
        return self.resize_on_device and self.mode in DEVICE_RESIZE

    def files(self, files: list[str], label: str = "", decode: Callable[[str], torch.Tensor] | None = None) -> Features:
        """Statistics of image files (or other items ``decode`` turns into resized images, e.g. the
        members of an archive: :class:`~.inputs.ZipDecode`; a ``decode`` has an ``on_device()``, the same
        decoding leaving the resize to the device); this process takes items rank, rank + world, ..."""
        mine = list(range(self.world.rank, len(files), self.world.size))
        out, parts, bad = self._start(), [], []
        show = bool(self.progress and self.world.is_main and sys.stderr.isatty())  # a bar on a terminal
        transform = decode or Decode(self.mode)
        later = self.resizes_on_device
        for b in load_batches(
            [files[i] for i in mine], transform.on_device() if later else transform,
            batch_size=self.batch_size, workers=self.workers, progress=show, label=label, stack=not later,
        ):
            bad += [(files[mine[i]], e) for i, e in zip(b.indices, b.errors, strict=True) if e is not None]
            if b.batch is not None:
                x = self._resized(b.batch) if later else b.batch
                parts.append(([mine[i] for i in b.good], *self._run(x, out)))
        return self._finish(out, parts, bad)

    def _resized(self, images: list[torch.Tensor]) -> torch.Tensor:
        """A batch from :func:`prepared` (uint8 images at their own sizes, and float32 ones the worker
        resized), each group of one size and type moved to the device as it is and resized there, back
        in their order."""
        out = torch.empty((len(images), 3, SIZE, SIZE), dtype=torch.float32, device=self.device)
        groups: dict[tuple, list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault((img.dtype, *img.shape), []).append(i)
        for (dtype, *_), rows in groups.items():
            group = torch.stack([images[i] for i in rows])
            done = network_input(self.mode, group, self.device, True) if dtype == torch.uint8 else group.to(self.device)
            out[torch.tensor(rows, device=self.device)] = done
        return out

    def batches(self, batches: Iterable[torch.Tensor], label: str = "") -> Features:
        """Statistics of tensors (N, 3, H, W): uint8 pixels or floats in [0, 1]. Under torchrun each
        process computes the statistics of the batches it is given (its own samples)."""
        return self.indexed(_numbered(_checked(batches), self.world.rank * (1 << 40)), label)

    def indexed(self, batches: Iterable[tuple[int, torch.Tensor]], label: str = "") -> Features:
        """Statistics of tensors, each given with the index of its first image in a stream that the
        processes share (e.g. every world-th batch of an ``.npz``): kept rows come back in that order."""
        out, parts = self._start(), []
        bar = self._bar(None, label)
        for start, batch in batches:
            x = network_input(self.mode, batch, self.device, self.resizes_on_device)
            parts.append((list(range(start, start + len(x))), *self._run(x, out)))
            bar.update(len(x))
        bar.close()
        return self._finish(out, parts, [])

    def _start(self) -> Features:
        return Features(Moments(self.net.dims, self.device))

    def _run(self, x: torch.Tensor, out: Features) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        with torch.inference_mode():
            features, *second = self.net(x.to(self.device))
        logits = second[0] if second else None
        out.moments.add(features)
        kept = features.float().cpu() if self.keep_features else None
        return kept, (logits.float().cpu() if self.keep_logits else None)

    def _finish(self, out: Features, parts: list, bad: list) -> Features:
        m = out.moments
        count = torch.tensor([m.count], dtype=torch.float64, device=m.sum.device)
        sum_all(self.world, count, m.sum, m.outer)
        m.count = int(count.item())
        out.bad = sorted(b for bs in gather(self.world, bad) for b in bs)
        if self.keep_features or self.keep_logits:
            everything = sorted((p for ps in gather(self.world, parts) for p in _rows(ps)), key=_first)
            if self.keep_features:
                out.kept = torch.stack([f for _, f, _ in everything])
            if self.keep_logits:
                out.logits = torch.stack([g for _, _, g in everything])
        return out

    def _bar(self, total: int | None, label: str):
        return progress_bar(total, label, "img", self.progress and self.world.is_main and sys.stderr.isatty())


def _first(row: tuple) -> int:
    return row[0]


def _rows(parts: list) -> Iterator[tuple[int, torch.Tensor | None, torch.Tensor | None]]:
    for idx, kept, logits in parts:
        for j, i in enumerate(idx):
            yield i, None if kept is None else kept[j], None if logits is None else logits[j]


def _numbered(batches: Iterable[torch.Tensor], start: int) -> Iterator[tuple[int, torch.Tensor]]:
    for b in batches:  # this process's samples sort after the previous ranks' (start = rank << 40)
        yield start, b
        start += len(b)


def _checked(batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    from ..errors import InputError

    for b in batches:
        if not isinstance(b, torch.Tensor) or b.dim() != 4 or b.shape[1] != 3:
            shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise InputError(f"batches of images must be (N, 3, H, W) tensors; got {shape}")
        if b.dtype != torch.uint8 and not b.is_floating_point():
            raise InputError(f"images must be uint8 pixels or floats in [0, 1]; got {b.dtype}")
        yield b.detach()  # moved where its resize runs (network_input)
