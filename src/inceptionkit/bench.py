"""How fast a model runs here, engine by engine, measured against this machine's own matmul rate.

Engines: ``torch`` (plain eager inference: eval mode, no_grad, NCHW float32), ``torch-opt`` (our
best PyTorch path, :func:`inceptionkit.fold.optimize_for_inference`: batch norm folded, channels_last,
inference mode, optionally ``torch.compile``), ``onnxruntime`` (the exported model,
:class:`inceptionkit.export.OnnxRunner`) and ``onnxruntime-int8`` (that model statically quantized;
calibrated on random inputs, so its timings are meaningful and its outputs are not).

All engines and a large fp32 matrix multiplication (the yardstick: the rate the same threads reach
on the simplest dense work) are timed in turns, one call each per round, so that a change in the
machine's load hits them alike (with a short pause before each call, see :func:`time_in_turns`).
Reported per (engine, batch size): the median and spread of the time per batch, images/s, G multiply-adds/s (the model's multiply-adds from
:func:`inceptionkit.cost.trace`) and the efficiency: 2 x multiply-adds/s over the matmul's FLOP/s.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .export import OnnxRunner, ensure_onnx, export_size, quantize_int8
from .fold import optimize_for_inference
from .model import InceptionNet
from .trace import trace

ENGINES = ("torch", "torch-opt", "onnxruntime", "onnxruntime-int8")
MATMUL_SIZE = 2048  # a 2048^3 GEMM: 17 GFLOP, large enough to run at the machine's peak
SETTLE = 0.1  # seconds between timed calls (see time_in_turns); measured: enough for spinning threads to stop
INT8_NOTE = "int8 calibrated on random inputs: for timing only, its outputs are meaningless"
Runner = Callable[[torch.Tensor], torch.Tensor]


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


@dataclass(frozen=True)
class BenchResult:
    """One engine at one batch size."""

    model: str
    variant: str
    engine: str
    batch_size: int
    input_size: int
    threads: int
    runs: int
    seconds: Spread  # per batch
    macs_per_image: int
    matmul_gflops: float
    torch_seconds: float | None = None  # the plain torch engine's median at this batch size, if timed
    note: str = ""

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.seconds.median

    @property
    def gmacs_per_s(self) -> float:
        return self.macs_per_image * self.images_per_s / 1e9

    @property
    def efficiency(self) -> float:
        """The model's FLOP/s (2 per multiply-add) over the matmul's."""
        return 2 * self.gmacs_per_s / self.matmul_gflops

    @property
    def speedup(self) -> float | None:
        """How many times faster than the plain torch engine."""
        return self.torch_seconds / self.seconds.median if self.torch_seconds else None

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "variant": self.variant,
            "engine": self.engine,
            "batch_size": self.batch_size,
            "input_size": self.input_size,
            "threads": self.threads,
            "runs": self.runs,
            "images_per_s": self.images_per_s,
            "latency_ms": {k: 1000 * v for k, v in asdict(self.seconds).items()},
            "gmacs_per_image": self.macs_per_image / 1e9,
            "gmacs_per_s": self.gmacs_per_s,
            "matmul_gflops": self.matmul_gflops,
            "efficiency": self.efficiency,
            "speedup_vs_torch": self.speedup,
            "note": self.note,
        }


@dataclass(frozen=True)
class BenchReport:
    results: list[BenchResult]
    matmul_gflops: float
    threads: int
    warmup: int
    runs: int
    load_before: tuple[float, float, float]  # os.getloadavg(): other work on the machine
    load_after: tuple[float, float, float]


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
        raise ValueError(f"runs must be at least 1 and warm-up rounds at least 0; got {runs} and {warmup}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(warmup + runs):
        for name, call in calls.items():
            time.sleep(settle)
            start = time.perf_counter()
            call()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def matmul_call(n: int = MATMUL_SIZE) -> tuple[Callable[[], object], float]:
    """A large fp32 matrix multiplication and its FLOP count (2 n^3)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    return (lambda: torch.mm(a, b, out=out)), 2.0 * n**3


def model_macs(model: InceptionNet, size: int) -> int:
    """Multiply-adds per image at ``size`` x ``size``, from the spec."""
    rows = trace(model.spec, size, in_chans=model.in_chans, num_classes=model.num_classes)
    return sum(r.macs for r in rows)


def int8_model(fp32: Path, model: InceptionNet, size: int) -> Path:
    """Next to the cached fp32 file: its int8 copy, calibrated on random inputs (timing only)."""
    path = fp32.with_suffix(".int8-random.onnx")
    if not path.is_file():
        g = torch.Generator().manual_seed(0)
        batches = [torch.randn(4, model.in_chans, size, size, generator=g) for _ in range(2)]
        quantize_int8(fp32, path, batches, note=" of random noise (for timing only)")
    return path


def build_engine(
    engine: str,
    model: InceptionNet,
    *,
    size: int,
    threads: int,
    compile: bool = False,
    cache_dir: str | Path | None = None,
) -> Runner:
    """``run(x) -> logits`` for ``engine`` (one of :data:`ENGINES`)."""
    if engine == "torch":
        model.eval()

        def eager(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model(x)

        return eager
    if engine == "torch-opt":
        return optimize_for_inference(model, compile=compile)
    if engine in ("onnxruntime", "onnxruntime-int8"):
        path = ensure_onnx(model, cache_dir, input_size=size)
        return OnnxRunner(path if engine == "onnxruntime" else int8_model(path, model, size), threads)
    raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``n`` for the duration."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def benchmark(
    model: InceptionNet,
    *,
    engines: Iterable[str] = ENGINES,
    batch_sizes: Iterable[int] = (1, 8),
    threads: int | None = None,
    input_size: int | None = None,
    warmup: int = 3,
    runs: int = 20,
    compile: bool = False,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time ``model`` on each of ``engines`` at each batch size, in turns with the matmul yardstick.

    ``threads``: for PyTorch and ONNX Runtime alike (default: PyTorch's, the physical core count).
    ``input_size``: square input (default: the weights' preprocessing size, else the model's).
    ``log`` receives a line as each stage starts (building engines, exporting, timing).
    """
    engines, batch_sizes = list(engines), list(batch_sizes)
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ValueError(
            f"unknown engine {', '.join(unknown) or '(none given)'}; valid engines: {', '.join(ENGINES)}"
        )
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be at least 1; got {batch_sizes}")
    threads = threads or torch.get_num_threads()
    size = export_size(model, input_size)
    model.check_input(torch.empty(1, model.in_chans, size, size, device="meta"))
    say = log or (lambda line: None)
    macs = model_macs(model, size)
    load_before = os.getloadavg()
    with torch_threads(threads):
        runners: dict[str, Runner] = {}
        for e in engines:
            say(f"preparing {e}")
            runners[e] = build_engine(
                e, model, size=size, threads=threads, compile=compile, cache_dir=cache_dir
            )
        matmul, flop = matmul_call()
        timed: dict[int, dict[str, list[float]]] = {}
        matmul_times: list[float] = []
        for b in batch_sizes:
            say(f"timing batch size {b}: {warmup} warm-up rounds, {runs} timed")
            x = torch.randn(b, model.in_chans, size, size)
            calls = {e: (lambda r=r, x=x: r(x)) for e, r in runners.items()}
            timed[b] = time_in_turns({**calls, "matmul": matmul}, warmup=warmup, runs=runs)
            matmul_times += timed[b].pop("matmul")
    gflops = flop / statistics.median(matmul_times) / 1e9
    results = []
    for b, by_engine in timed.items():
        plain = statistics.median(by_engine["torch"]) if "torch" in by_engine else None
        for e, times in by_engine.items():
            results.append(
                BenchResult(
                    model.spec.arch,
                    model.spec.variant,
                    e,
                    b,
                    size,
                    threads,
                    runs,
                    Spread.of(times),
                    macs,
                    gflops,
                    plain,
                    INT8_NOTE if e == "onnxruntime-int8" else "",
                )
            )
    return BenchReport(results, gflops, threads, warmup, runs, load_before, os.getloadavg())


# -- end to end ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictBench:
    """``predict`` over a folder with the ONNX Runtime engine, against that engine on bare tensors."""

    images: int
    batch_size: int
    threads: int
    workers: int
    passes: int
    end_to_end: Spread  # seconds per pass over the folder
    engine: Spread  # seconds per batch of random tensors

    @property
    def end_to_end_images_per_s(self) -> float:
        return self.images / self.end_to_end.median

    @property
    def engine_images_per_s(self) -> float:
        return self.batch_size / self.engine.median

    @property
    def ratio(self) -> float:
        return self.end_to_end_images_per_s / self.engine_images_per_s

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "workers": self.workers,
            "passes": self.passes,
            "end_to_end_images_per_s": self.end_to_end_images_per_s,
            "engine_images_per_s": self.engine_images_per_s,
            "ratio": self.ratio,
            "end_to_end_s": asdict(self.end_to_end),
            "engine_batch_s": asdict(self.engine),
        }


def benchmark_predict(
    model: InceptionNet,
    folder: str | Path,
    *,
    batch_size: int = 8,
    threads: int | None = None,
    workers: int | None = None,
    passes: int = 3,
    cache_dir: str | Path | None = None,
) -> PredictBench:
    """Images/s of :func:`inceptionkit.predict` over ``folder`` (decoding, preprocessing, ONNX Runtime,
    top-5), next to the same ONNX Runtime session on ready tensors of the same batch size. Each
    round is one pass over the folder and as many engine calls as the pass has batches."""
    from .images import find_images
    from .predict import default_workers, predict

    threads = threads or torch.get_num_threads()
    workers = default_workers() if workers is None else workers
    n = sum(1 for s in find_images([folder]) if not s.error)
    if n == 0:
        raise ValueError(f"{folder}: no images in this folder")
    runner = OnnxRunner(ensure_onnx(model, cache_dir), threads)
    size = runner.input_shape[2]
    x = torch.randn(batch_size, model.in_chans, size, size)
    batches = -(-n // batch_size)

    def one_pass() -> None:
        predict(runner, folder, batch_size=batch_size, num_workers=workers, progress=False)

    def engine() -> None:
        for _ in range(batches):
            runner(x)

    times = time_in_turns({"predict": one_pass, "engine": engine}, warmup=1, runs=passes)
    per_batch = [t / batches for t in times["engine"]]
    return PredictBench(
        n, batch_size, threads, workers, passes, Spread.of(times["predict"]), Spread.of(per_batch)
    )


def write_sample_photos(folder: str | Path, n: int = 64, size: int = 400) -> list[Path]:
    """``n`` JPEG photos (``size`` px on the longer side) cut from scikit-learn's two sample photos
    (``china.jpg``, ``flower.jpg``): varied crops and scales, for end-to-end benchmarks."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(load_sample_image(f)) for f in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = photos[i % 2]
        w, h = img.size
        cw, ch = (int(d * rng.uniform(0.4, 1.0)) for d in (w, h))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((left, top, left + cw, top + ch))
        crop.thumbnail((size, size))
        paths.append(folder / f"photo_{i:03d}.jpg")
        crop.save(paths[-1], quality=90)
    return paths
