"""The ``bench`` command's three jobs by model name, one call each: the engines, ``predict`` end to
end, training. Each builds the named model with the same random weights every time (so the cached
ONNX exports are reused run after run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..factory import create_model
from ..model import InceptionNet
from .engines import BenchReport, benchmark
from .predict import PredictBench, benchmark_predict
from .timing import torch_threads


def random_model(name: str, variant: str | None = None) -> InceptionNet:
    """``name`` (``variant``) with the random weights of seed 0: the same model every run."""
    torch.manual_seed(0)
    return create_model(name, variant=variant)


def bench_engines(name: str, variant: str | None = None, **options: Any) -> BenchReport:
    """:func:`~.engines.benchmark` of the named model (``options``: its keyword arguments)."""
    return benchmark(random_model(name, variant), **options)


def bench_predict(name: str, variant: str | None, folder: str | Path, **options: Any) -> PredictBench:
    """:func:`~.predict.benchmark_predict` of the named model over ``folder``."""
    return benchmark_predict(random_model(name, variant), folder, **options)


def bench_training(
    name: str, *, batch_size: int, steps: int, img_size: int | None = None, threads: int | None = None
) -> dict:
    """:func:`inceptionkit.train.benchmark_training` on ``threads`` threads (default: PyTorch's)."""
    from ..train import benchmark_training

    with torch_threads(threads or torch.get_num_threads()):
        return benchmark_training(name, batch_size=batch_size, steps=steps, img_size=img_size)
