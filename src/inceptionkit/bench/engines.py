"""How fast a model runs here, engine by engine, against this machine's own matmul rate per precision.

Engines: every inceptionkit engine this machine can run (:mod:`inceptionkit.engines`), and with
``peers`` what a user would otherwise pick, at its defaults (:mod:`.peers`). The int8 engines are
calibrated on random inputs here, so their timings are meaningful and their outputs are not.

All engines and large matrix multiplications in fp32, bf16 and int8 (the yardstick: the rate the
same threads reach on the simplest dense work in that precision) are timed in turns, one call each
per round, so that a change in the machine's load hits them alike (with a short pause before each
call, see :func:`~.timing.time_in_turns`). Reported per (engine, batch size): the median and spread
of the time per batch, images/s, G multiply-adds/s (from :func:`inceptionkit.cost.trace`), the
efficiency (2 x multiply-adds/s over the matmul rate of the precision the engine ran in) and the
engine's relative difference from eager fp32 on the timing input.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..engines import (
    ENGINES,
    Calibration,
    Engine,
    build_engine,
    check_engine,
    ensure_onnx,
    export_size,
    relative_difference,
    runnable_engines,
)
from ..errors import InputError, UsageError
from ..model import InceptionNet
from ..trace import trace
from .peers import onnx_peers, timm_peer
from .timing import Spread, time_in_turns, torch_threads, unreliable
from .yardstick import matmul_calls

INT8_NOTE = "int8 calibrated on random inputs: for timing only, its outputs are meaningless"
MEMORY_SHARE = 0.5  # a benchmark may use at most this share of the machine's memory for activations


@dataclass(frozen=True)
class BenchResult:
    """One engine at one batch size."""

    model: str
    variant: str
    engine: str
    precision: str
    hardware: str
    peer: bool
    batch_size: int
    input_size: int
    threads: int
    runs: int
    seconds: Spread  # per batch
    macs_per_image: int
    matmul_gflops: float | None  # the yardstick of this engine's precision (None: not measured here)
    rel_diff: float  # max |out - eager fp32| / max |eager fp32| on the timing input
    torch_seconds: float | None = None  # the plain torch engine's median at this batch size, if timed
    note: str = ""

    @property
    def images_per_s(self) -> float:
        return self.batch_size / self.seconds.median

    @property
    def gmacs_per_s(self) -> float:
        return self.macs_per_image * self.images_per_s / 1e9

    @property
    def efficiency(self) -> float | None:
        """The model's operations per second (2 per multiply-add) over its precision's matmul rate."""
        return 2 * self.gmacs_per_s / self.matmul_gflops if self.matmul_gflops else None

    @property
    def speedup(self) -> float | None:
        """How many times faster than the plain torch engine."""
        return self.torch_seconds / self.seconds.median if self.torch_seconds else None

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "variant": self.variant,
            "engine": self.engine,
            "precision": self.precision,
            "hardware": self.hardware,
            "peer": self.peer,
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
            "rel_diff_vs_fp32": self.rel_diff,
            "speedup_vs_torch": self.speedup,
            "note": self.note,
        }


@dataclass(frozen=True)
class BenchReport:
    results: list[BenchResult]
    matmul_gflops: dict[str, float]  # per precision
    threads: int
    warmup: int
    runs: int
    load_before: tuple[float, float, float]  # os.getloadavg(): other work on the machine
    load_after: tuple[float, float, float]
    skipped: dict[str, str]  # engines this machine cannot run, and why

    @property
    def unreliable(self) -> str | None:
        """Why these figures cannot be trusted (too few rounds, no warm-up, an engine above the matmul
        rate of its precision: a sign of a timing that went wrong), or None."""
        why = [unreliable(self.runs, self.warmup)]
        over = [f"{r.engine} at batch {r.batch_size}" for r in self.results if (r.efficiency or 0) > 1]
        why.append(f"above 100% of its matmul: {', '.join(over)}" if over else None)
        return "; ".join(w for w in why if w) or None


def model_macs(model: InceptionNet, size: int) -> int:
    """Multiply-adds per image at ``size`` x ``size``, from the spec."""
    rows = trace(model.spec, size, in_chans=model.in_chans, num_classes=model.num_classes)
    return sum(r.macs for r in rows)


def check_memory(model: InceptionNet, size: int, batch: int) -> None:
    """Refuse a size whose largest activation (a few copies of it) would not fit in memory."""
    rows = trace(model.spec, size, in_chans=model.in_chans, num_classes=model.num_classes)
    need = 3 * 4 * batch * max(c * h * w for c, h, w in (r.output_shape for r in rows))
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > MEMORY_SHARE * have:
        raise InputError(
            f"--img-size {size}: a batch of {batch} needs about {need / 1e9:.0f} GB for its largest "
            f"activation, more than half of this machine's {have / 1e9:.0f} GB; choose a smaller size"
        )


def _engines(
    names: list[str], model: InceptionNet, size: int, threads: int, compile: bool, cache_dir, say
) -> dict[str, Engine]:
    runners: dict[str, Engine] = {}
    for e in names:
        say(f"preparing {e}")
        runners[e] = build_engine(
            e,
            model,
            size=size,
            threads=threads,
            compile=compile,
            cache_dir=cache_dir,
            calibration=Calibration.random(model.in_chans, size),
        )
    return runners


def _peers(model: InceptionNet, size: int, cache_dir, say) -> dict[str, Engine]:
    say("preparing the peers")
    peers = [timm_peer(model), *onnx_peers(ensure_onnx(model, cache_dir, input_size=size))]
    return {p.name: p for p in peers if p is not None}


def _check(
    model: InceptionNet, engines: list[str] | None, batch_sizes: list[int], size: int
) -> tuple[list[str], dict]:
    if engines is not None:
        unknown = [e for e in engines if e not in ENGINES]
        if unknown or not engines:
            raise UsageError(
                f"unknown engine {', '.join(unknown) or '(none given)'}; valid engines: {', '.join(ENGINES)}"
            )
        for e in engines:
            check_engine(e)
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError(f"batch sizes must be at least 1; got {batch_sizes}")
    model.check_input(torch.empty(1, model.in_chans, size, size, device="meta"))
    check_memory(model, size, max(batch_sizes))
    if engines is None:
        from ..engines import unavailable

        return runnable_engines(), {e: unavailable(e) for e in ENGINES if unavailable(e)}
    return engines, {}


def benchmark(
    model: InceptionNet,
    *,
    engines: Iterable[str] | None = None,
    batch_sizes: Iterable[int] = (1, 8),
    threads: int | None = None,
    input_size: int | None = None,
    warmup: int = 3,
    runs: int = 20,
    compile: bool = False,
    peers: bool = False,
    cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time ``model`` on each of ``engines`` (default: every one this machine can run) and, with
    ``peers``, on the peers, at each batch size, in turns with the matmul yardsticks.

    ``threads``: for every engine (default: PyTorch's, the physical core count); the peers keep
    their own defaults. ``input_size``: square input (default: the weights' preprocessing size, else
    the model's). ``log`` receives a line as each stage starts (building engines, exporting, timing).
    """
    batch_sizes = list(batch_sizes)
    threads = threads or torch.get_num_threads()
    size = export_size(model, input_size)
    names, skipped = _check(model, None if engines is None else list(engines), batch_sizes, size)
    say = log or (lambda line: None)
    load_before = os.getloadavg()
    with torch_threads(threads):
        runners = _engines(names, model, size, threads, compile, cache_dir, say)
        if peers:
            runners.update(_peers(model, size, cache_dir, say))
        yardsticks = matmul_calls()
        timed, diffs, mm_times = {}, {}, {p: [] for p in yardsticks}
        for b in batch_sizes:
            say(f"timing batch size {b}: {warmup} warm-up rounds, {runs} timed")
            x = torch.randn(b, model.in_chans, size, size, generator=torch.Generator().manual_seed(b))
            with torch.inference_mode():
                want = model.eval()(x)
            diffs[b] = {e: relative_difference(r(x), want) for e, r in runners.items()}
            calls = {e: (lambda r=r, x=x: r(x)) for e, r in runners.items()}
            calls.update({f"matmul {p}": call for p, (call, _) in yardsticks.items()})
            timed[b] = time_in_turns(calls, warmup=warmup, runs=runs)
            for p in yardsticks:
                mm_times[p] += timed[b].pop(f"matmul {p}")
    gflops = {p: flop / statistics.median(mm_times[p]) / 1e9 for p, (_, flop) in yardsticks.items()}
    macs = model_macs(model, size)
    results = []
    for b, by_engine in timed.items():
        plain = statistics.median(by_engine["torch"]) if "torch" in by_engine else None
        for e, times in by_engine.items():
            r = runners[e]
            results.append(
                BenchResult(
                    model.spec.arch, model.spec.variant, e, r.precision, r.hardware, r.peer, b, size,
                    threads, runs, Spread.of(times), macs, gflops.get(r.precision), diffs[b][e], plain,
                    INT8_NOTE if e in ("onnxruntime-int8", "openvino-int8") else "",
                )
            )  # fmt: skip
    return BenchReport(results, gflops, threads, warmup, runs, load_before, os.getloadavg(), skipped)
