"""Benchmarks: inference per engine against the machine's matmul rates and the peers
(:mod:`.engines`), and ``predict`` end to end (:mod:`.predict`); the ``bench`` command's jobs by
model name (:mod:`.jobs`)."""

from .engines import BenchReport, BenchResult, benchmark, check_memory, model_macs
from .jobs import bench_engines, bench_predict, bench_training, random_model
from .predict import PredictBench, benchmark_predict, write_sample_photos
from .timing import Spread, time_in_turns, torch_threads

__all__ = [
    "BenchReport",
    "BenchResult",
    "PredictBench",
    "Spread",
    "bench_engines",
    "bench_predict",
    "bench_training",
    "benchmark",
    "benchmark_predict",
    "check_memory",
    "model_macs",
    "random_model",
    "time_in_turns",
    "torch_threads",
    "write_sample_photos",
]
