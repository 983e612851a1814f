"""The one image-loading loop: items (files, images, tensors) through a per-item transform in
background worker processes, in order, in batches, with each item's error in its place and a
progress bar. predict, features, eval, FID and int8 calibration all read their images through it,
each with its own transform.

A transform takes one item and returns a tensor, or raises :class:`~inceptionkit.errors.ImageError`
(the item's one-line reason); the loop never stops for a bad item. Batches come back in item order.

Worker processes are started with ``fork`` only while no native inference runtime (ONNX Runtime,
OpenVINO) has been loaded into this process; after one has, with ``forkserver``. A forked child
inherits the parent's memory but only the forking thread: the thread pools those runtimes keep
running (OpenVINO's TBB arena, ONNX Runtime's intra-op pool) are copied as locked mutexes and
bookkeeping for threads that do not exist in the child, which is undefined behaviour under POSIX
and, at random, a segmentation fault. ``forkserver`` children come from a clean process that never
loaded them. (PyTorch's own OpenMP pool is reinitialised after fork by PyTorch itself.)

A Ctrl-C at a terminal sends SIGINT to every process of the foreground group, the workers too. The
workers ignore it (the main process ends them); they start with SIGINT blocked, so one that arrives
while a worker is still starting up, before it could ignore it, is never delivered either: that was
a ``Process-2: Traceback ... KeyboardInterrupt`` printed under the command's own clean exit.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import _BaseDataLoaderIter

from .errors import ImageError

T = TypeVar("T")
SCREENFUL = 20  # more items than this get a progress bar when stderr is a terminal (progress=None)
PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal for this process when its parent ends
NATIVE_RUNTIMES = ("onnxruntime", "openvino")  # modules whose thread pools make fork unsafe
# what the forkserver imports once, so that each worker it forks starts with it (none loads a native
# runtime): the modules of the workers' transforms, and torchvision, which training's augmentation
# uses and which costs 1.3 s to import, in every worker otherwise (predict's, features' and
# calibration's transforms, inceptionkit.preprocess.Transform, do without it)
FORKSERVER_PRELOAD = [
    "torch", "torchvision.transforms", "PIL.Image", "inceptionkit.images", "inceptionkit.preprocess",
    "inceptionkit.inference.pipeline", "inceptionkit.metrics.extract", "inceptionkit.engines.calibration",
    "inceptionkit._fork_server",  # last: SIGINT blocked in the server, so in each worker as it starts
]  # fmt: skip


@dataclass
class Loaded:
    """One batch: the items' indices (in order), the stacked tensors of the readable ones (None when
    none was; a list of them, in order, from ``load_batches(stack=False)``), and per index its error
    (None when it was read)."""

    indices: list[int]
    batch: torch.Tensor | list[torch.Tensor] | None
    errors: list[str | None]

    @property
    def good(self) -> list[int]:
        """The indices of the items in :attr:`batch`, in its order."""
        return [i for i, e in zip(self.indices, self.errors, strict=True) if e is None]


class _Items(Dataset, Generic[T]):
    def __init__(self, items: Sequence[T], transform: Callable[[T], torch.Tensor]) -> None:
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(self.items[i]), None
        except ImageError as e:
            return i, None, str(e)


def _collate(samples: list[tuple[int, torch.Tensor | None, str | None]], stack: bool = True) -> Loaded:
    good = [t for _, t, _ in samples if t is not None]
    batch = (torch.stack(good) if stack else good) if good else None
    return Loaded([i for i, _, _ in samples], batch, [e for _, _, e in samples])


def worker_context() -> str | None:
    """How worker processes start: None (the platform's default, fork on Linux) while no native
    runtime is loaded in this process, else ``forkserver`` (see the module's docstring)."""
    if not any(name in sys.modules for name in NATIVE_RUNTIMES):
        return None
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.set_forkserver_preload(FORKSERVER_PRELOAD)
    return "forkserver"


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT blocked in this thread for the block's length (a process forked meanwhile starts with
    it blocked); one that arrived meanwhile is delivered at the end."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks (and no fork)
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _quiet_worker(worker_id: int, parent: int | None = None) -> None:
    """A worker's first step (``worker_init_fn``): SIGINT ignored, then unblocked (one that came while
    it started is dropped); on Linux, killed when the process that forked it ends, however it ends
    (``os._exit`` after a Ctrl-C included), rather than when PyTorch's watchdog next looks (5 s).
    ``parent``: that process, where known (fork), so that a worker whose parent ended before this
    step ends too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if parent is not None and os.getppid() != parent:
            os._exit(0)


class WorkerLoader(DataLoader):
    """PyTorch's ``DataLoader`` with the workers started as the module's docstring says: by
    :func:`worker_context`, with SIGINT blocked from their first instruction, then ignored."""

    def __init__(self, dataset: Dataset, **kwargs) -> None:
        if kwargs.get("num_workers", 0):
            context = worker_context()  # None: fork, from this process
            init = functools.partial(_quiet_worker, parent=os.getpid() if context is None else None)
            kwargs.update(multiprocessing_context=context, worker_init_fn=init)
        super().__init__(dataset, **kwargs)

    def __iter__(self) -> _BaseDataLoaderIter:
        context = self.multiprocessing_context or multiprocessing.get_context()
        if not self.num_workers or context.get_start_method() != "fork":
            # forkserver: forked by the server, with its mask (see _fork_server); spawn: an executed
            # process starts with a clear mask whatever its parent's (and Windows has none)
            return super().__iter__()
        with _sigint_held():  # forked now, with this thread's mask
            return super().__iter__()


def load_batches(
    items: Sequence[T],
    transform: Callable[[T], torch.Tensor],
    *,
    batch_size: int,
    workers: int,
    progress: bool | None = None,
    label: str = "",
    pin_memory: bool = False,
    stack: bool = True,
) -> Iterator[Loaded]:
    """``items`` through ``transform`` in ``workers`` background processes (0: in this one), in
    batches of ``batch_size``, in order. ``progress``: a bar of items done and items/s (None: when
    stderr is a terminal and there are more than a screenful). ``stack=False``: each batch a list of
    the tensors, which may differ in shape (images at their own sizes, resized later on a device)."""
    n_batches = -(-len(items) // batch_size)
    workers = max(0, min(workers, n_batches))
    loader = WorkerLoader(
        _Items(items, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate if stack else functools.partial(_collate, stack=False),
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
    )
    show = sys.stderr.isatty() and len(items) > SCREENFUL if progress is None else progress
    if not show:
        yield from loader
        return
    from .text import progress_bar

    with progress_bar(len(items), label, "img", True) as bar:
        for loaded in loader:
            yield loaded
            bar.update(len(loaded.indices))
