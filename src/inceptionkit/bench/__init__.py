"""Benchmarks: inference per engine against the machine's matmul rates and the peers
(:mod:`.engines`), and ``predict`` end to end (:mod:`.predict`)."""

from .engines import BenchReport, BenchResult, benchmark, check_memory, model_macs
from .predict import PredictBench, benchmark_predict, write_sample_photos
from .timing import Spread, time_in_turns, torch_threads

__all__ = [
    "BenchReport",
    "BenchResult",
    "PredictBench",
    "Spread",
    "benchmark",
    "benchmark_predict",
    "check_memory",
    "model_macs",
    "time_in_turns",
    "torch_threads",
    "write_sample_photos",
]
