"""Timing on a shared machine: calls timed in turns, and the spread of the times."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..errors import UsageError

SETTLE = 0.1  # seconds between timed calls (see time_in_turns); measured: enough for spinning threads to stop
RELIABLE_RUNS = 3  # fewer timed rounds give a "median" that is one or two samples: no spread, no median
RELIABLE_WARMUP = 1  # without an untimed round, the first timed call pays one-time setup (caches, compiling)


def unreliable(runs: int, warmup: int | None = None) -> str | None:
    """Why figures timed over ``runs`` rounds after ``warmup`` untimed ones (None: not applicable)
    cannot be trusted, or None when they can."""
    why = []
    if runs < RELIABLE_RUNS:
        why.append(f"{runs} timed round{'' if runs == 1 else 's'} (a median needs at least {RELIABLE_RUNS})")
    if warmup is not None and warmup < RELIABLE_WARMUP:
        why.append("no warm-up round (the first calls pay one-time setup)")
    return "; ".join(why) or None


@dataclass(frozen=True)
class Spread:
    """Median, quartiles and extremes of a list of times, in seconds."""

    median: float
    q1: float
    q3: float
    min: float
    max: float

    @classmethod
    def of(cls, times: Sequence[float]) -> Spread:
        q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else times * 3
        return cls(statistics.median(times), q1, q3, min(times), max(times))


def time_in_turns(
    calls: dict[str, Callable[[], object]],
    *,
    warmup: int,
    runs: int,
    settle: float = SETTLE,
) -> dict[str, list[float]]:
    """Seconds per call of each of ``calls``, run in turns: ``warmup`` untimed rounds, then ``runs``.

    Each call starts ``settle`` seconds after the previous one ended: ONNX Runtime's and OpenMP's
    worker threads spin for a while after their work, and would otherwise slow down the next engine.
    """
    if runs < 1 or warmup < 0:
        raise UsageError(f"runs must be at least 1 and warm-up rounds at least 0; got {runs} and {warmup}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(warmup + runs):
        for name, call in calls.items():
            time.sleep(settle)
            start = time.perf_counter()
            call()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``n`` for the duration."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
