"""How a job runs: the one record of run settings that predict, features, eval, FID, training and the
benchmarks all take (:class:`RunSettings`), and the defaults they share.

What a job computes (the model, the images, the metric) is its own arguments; how it runs (batch size,
decoding processes, device, engine, progress bar, what to do with unreadable files) is this record, so
each setting has one name, one type, one default and one check. The command line fills it from the
shared flags (:func:`inceptionkit.cli.add_run_arguments`, :func:`inceptionkit.cli.run_settings`); the
Python API takes it as ``settings=`` or its fields as keywords.

This module imports nothing heavy: the command line's ``--help`` reads it without loading PyTorch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

ALIASES = {"num_workers": "workers"}  # the keyword arguments' older names


def default_workers(device: str | None = None) -> int:
    """Decoding processes when none are asked for. On the CPU, one per eight cores (none below
    eight: the images are decoded between batches): the engine's threads keep the cores. Decoding and
    resizing a photo takes a few milliseconds and the network tens of them per core, so below eight
    cores a worker saves less than it costs (it preempts the engine's threads; measured with ``fid
    bench --stages``: 95% of the network's rate end to end without a worker, 77% with one, on 2
    cores). On a GPU (``device`` ``cuda...``; None: when
    there is one), one per core, at most eight (pytorch-fid's ``min(8, cores)``): there the network
    is fast and the CPU has nothing else to do."""
    cores = os.cpu_count() or 1
    if device is None:
        import torch  # (only at run time: the parser's --help imports nothing heavy)

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        return min(8, cores)
    return cores // 8


@dataclass(frozen=True)
class RunSettings:
    """How a job runs; every field has the same meaning in every job.

    - ``batch_size``: images per batch (None: the job's own default, e.g. 50 for FID as pytorch-fid).
    - ``workers``: background processes decoding images (None: :func:`default_workers` for the device; 0: none).
    - ``device``: ``cpu``, ``cuda`` or ``cuda:N`` (None: CUDA when there is one, else the CPU).
    - ``engine``: ``torch`` (exact fp32), ``auto`` or a name in :data:`inceptionkit.engines.ENGINES`
      (None: the job's default: ``torch`` for predict and features in Python, ``auto`` for the
      metrics, which run only exact fp32 engines: :mod:`inceptionkit.metrics.engine`).
    - ``progress``: a progress bar (None: when stderr is a terminal and the job is long).
    - ``skip_bad``: go on without unreadable images (listed and counted) where a job would otherwise stop.
    - ``threads``: threads of the CPU engines (None: PyTorch's).
    - ``max_pixels``: larger images are refused as decompression bombs (None: PIL's limit).
    - ``calibration``: images for the int8 engines to calibrate on (None: the weights' training data).
    - ``cache_dir``: where exported files and ``auto``'s choices are kept (None: the user's cache).
    - ``log``: receives the one-line notes a job makes (``auto``'s choice; None: stderr).
    """

    batch_size: int | None = None
    workers: int | None = None
    device: str | None = None
    engine: str | None = None
    progress: bool | None = None
    skip_bad: bool = False
    threads: int | None = None
    max_pixels: int | None = None
    calibration: str | Path | None = None
    cache_dir: str | Path | None = None
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("workers", 0), ("threads", 1), ("max_pixels", 1)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name} must be a whole number, got {value!r}")
            if value < least:
                raise UsageError(f"{name} must be at least {least}, got {value}")
        if self.device is not None and not isinstance(self.device, str):
            object.__setattr__(self, "device", str(self.device))  # a torch.device, spelled as the flag

    def batch(self, default: int) -> int:
        """The batch size, or the job's ``default`` when none was set."""
        return self.batch_size if self.batch_size is not None else default

    def worker_count(self, limit: int | None = None) -> int:
        """The decoding processes to start (never more than ``limit``, e.g. the number of batches)."""
        n = default_workers(self.device) if self.workers is None else self.workers
        return n if limit is None else max(0, min(n, limit))

    def say(self, line: str) -> None:
        """A one-line note: to ``log``, else to stderr."""
        if self.log is not None:
            self.log(line)
        else:
            import sys

            print(f"inceptionkit: {line}", file=sys.stderr)

    def replace(self, **changes: object) -> RunSettings:
        """A copy with fields (or their older aliases, e.g. ``num_workers``) replaced; an unknown name
        is a TypeError, as for any function."""
        named = {ALIASES.get(k, k): v for k, v in changes.items()}
        known = {f.name for f in dataclasses.fields(self)}
        if unknown := sorted(set(named) - known):
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **named)


def settings_from(settings: RunSettings | None, overrides: Mapping[str, object]) -> RunSettings:
    """``settings`` (default: all defaults) with keyword ``overrides``: what an API function given both
    ``settings=`` and keywords runs with."""
    base = settings if settings is not None else RunSettings()
    return base.replace(**overrides) if overrides else base

