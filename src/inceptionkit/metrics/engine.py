"""The FID network on the fastest **exact** engine: fp32 only, each output within :data:`TOLERANCE` of
eager fp32 PyTorch, checked on the run's own first images.

:class:`ExactNetwork` is what every metric runs (``net(x) -> [one tensor per output]``). Its engine
is named by ``settings.engine``:

- ``torch``: the network as it is, eager fp32 (the reference every other engine is held to);
- ``torch-opt``: batch norm folded into the convolutions, channels_last memory;
- ``onnxruntime``: ONNX Runtime (MLAS, fp32) running the folded network's export (cached);
- ``openvino``: OpenVINO running that export with its inference precision forced to f32 (its default
  is bf16 where the CPU has bf16 units: not exact, so never used for metrics);
- ``auto`` (the metrics' default): the fastest of those this machine runs, measured on the first
  batch at its size (:func:`~inceptionkit.engines.auto.choose`) and remembered per machine and batch
  size; on a GPU, ``torch``. A run whose images (all inputs, all processes: :meth:`ExactNetwork.expect`)
  are known to be fewer than :data:`MEASURE_BATCHES` batches, with no choice remembered, runs on
  ``torch``: measuring would take longer than the run.

The low-precision engines (``torch-bf16``, the int8 ones) are refused for metrics with the reason.
Every engine but ``torch`` is compared with eager fp32 on the first :data:`CHECK_IMAGES` images of
every run (the whole first batch when ``auto`` measures): a named engine off by more than
:data:`TOLERANCE` (max |got - fp32| / max |fp32|, each output on its own) is an error; ``auto`` falls
back to the next fastest within it (at worst ``torch``) and says so in one line.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from ..choices import DEFAULT_OPSET, METRIC_ENGINES
from ..engines import Engine
from ..engines.auto import cache_key, cached_choice, choose
from ..engines.base import LOGITS
from ..engines.build import check_engine, runnable_engines
from ..engines.cache import cached, onnx_cache_dir, weights_digest
from ..engines.export import relative_difference
from ..engines.hardware import torch_fp32_path
from ..engines.memo import built_once
from ..errors import EngineError, InceptionKitError, UsageError
from ..fileio import atomic_write
from ..fold import fold_batchnorm
from ..model import InceptionNet
from ..settings import RunSettings
from .network import OUTPUTS, FIDOutputs

BATCH_SIZE = 50  # the metrics' batch when the settings give none (pytorch-fid's)
TOLERANCE = 1e-5  # max |got - fp32| / max |fp32| of each output an engine may have for metrics
OPENVINO_STREAMS = 2  # each batch in two halves at once, its threads split between them: 14.8 against 11.7
# images/s at batch 50 on 2 cores (AMD EPYC, avx2); the features the same to the bit there (OpenVINO's CPU
# kernels compute each image alone), and held to TOLERANCE of eager fp32 like every engine's
CHECK_IMAGES = 4  # each run's check against eager fp32: an engine's precision is off on any image or on none
# (eager fp32 is the slowest path: 16 images cost 3 s of a 2-core machine's minute-long FID, 4 cost 0.7 s)
LOW_PRECISION = {"torch-bf16": "bf16", "onnxruntime-int8": "int8", "openvino-int8": "int8"}
MEASURE_BATCHES = 4  # auto measures the engines on a run of at least this many batches: measuring runs the first
# batch twice on each of the four engines (and exports and compiles two of them), more than a shorter run costs
# on eager fp32 itself; a shorter run takes the choice remembered on this machine, else eager fp32 (``torch``)


def check_metric_engine(name: str, device: str | None = None) -> None:
    """Refuse, before any image is read, an engine the metrics cannot use: an unknown or
    low-precision one (:class:`UsageError`), one not installed or that this CPU cannot run, or a
    non-torch engine off the CPU."""
    if name in LOW_PRECISION:
        raise UsageError(
            f"the {name} engine computes in {LOW_PRECISION[name]}; metrics are computed in fp32 only "
            f"(features within {TOLERANCE:.0e} of PyTorch's): use auto or one of {', '.join(METRIC_ENGINES)}"
        )
    if name != "auto" and name not in METRIC_ENGINES:
        raise UsageError(f"unknown engine {name}; the metrics' engines: auto, {', '.join(METRIC_ENGINES)}")
    check_engine("torch" if name == "auto" else name, device)


def agreement(names: tuple[str, ...]):
    """The comparison of concatenated outputs ``names`` with fp32: each within :data:`TOLERANCE`."""
    sizes = [OUTPUTS[n] for n in names]

    def agree(got: torch.Tensor, want: torch.Tensor) -> tuple[bool, str]:
        errors = [relative_difference(g, w) for g, w in zip(got.split(sizes, 1), want.split(sizes, 1), strict=True)]
        worst = max(errors)
        return worst <= TOLERANCE, f"relative error {worst:.1e} (bound {TOLERANCE:.0e})"

    return agree


def export_outputs(model: InceptionNet, names: tuple[str, ...], cache_dir: str | Path | None = None) -> Path:
    """The folded network's outputs ``names`` as an ONNX file (dynamic batch, 299 x 299), made once."""
    digest = weights_digest(model, json.dumps(names), torch.__version__, str(DEFAULT_OPSET))
    path = onnx_cache_dir(cache_dir) / f"fid-{'-'.join(names)}-{digest[:16]}.onnx"
    return cached(path, lambda p: _export(FIDOutputs(fold_batchnorm(model), names), p))


def _export(net: FIDOutputs, path: Path) -> None:
    example = torch.zeros(2, 3, 299, 299)

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter says it is the legacy one
            torch.onnx.export(
                net.eval(), (example,), tmp, dynamo=False, opset_version=DEFAULT_OPSET,
                input_names=["input"], output_names=["outputs"],
                dynamic_axes={"input": {0: "batch"}, "outputs": {0: "batch"}},
            )  # fmt: skip

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


@contextlib.contextmanager
def full_fp32(device: torch.device) -> Iterator[None]:
    """On CUDA, convolutions and matrix products in IEEE fp32 while the FID network runs: PyTorch lets
    cuDNN convolve in TF32 by default (a 10-bit mantissa on Ampere and later), which puts features
    about 1e-3 off the CPU's. The settings are put back afterwards, through the API they were made
    with: PyTorch 2.9 and later refuse to mix the legacy ``allow_tf32`` flags with ``fp32_precision``.
    (The flags are tested on the CPU; the GPU's numbers are untested here: no GPU.) On the CPU the
    same for oneDNN, which a caller's ``torch.set_float32_matmul_precision("medium")`` sends to bf16
    matrix products (the logits). A caller's ``torch.autocast`` (a training loop's: bf16 on the CPU,
    fp16 on a GPU) is switched off inside."""
    with torch.autocast(device.type, enabled=False) if device.type in ("cpu", "cuda") else contextlib.nullcontext():
        with _ieee(device):
            yield


@contextlib.contextmanager
def _ieee(device: torch.device) -> Iterator[None]:
    """The device's fp32 convolutions and products in IEEE fp32 (no TF32, no bf16) inside; PyTorch's
    settings put back after."""
    if device.type == "cpu":
        mkldnn = torch.backends.mkldnn
        flags = [(mkldnn.conv, "fp32_precision", "ieee"), (mkldnn.matmul, "fp32_precision", "ieee")] if hasattr(mkldnn, "conv") else []
    elif device.type != "cuda":
        flags = []
    elif hasattr(torch.backends.cudnn, "conv"):  # PyTorch >= 2.9: fp32_precision per backend and op
        flags = [(torch.backends.cudnn.conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    else:
        flags = [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]
    kept = [getattr(owner, name) for owner, name, _ in flags]
    try:
        for owner, name, value in flags:
            setattr(owner, name, value)
        yield
    finally:
        for (owner, name, _), value in zip(flags, kept, strict=True):
            setattr(owner, name, value)


def build(name: str, model: InceptionNet, names: tuple[str, ...], settings: RunSettings, device: torch.device) -> Engine:
    """Engine ``name`` (one of :data:`~inceptionkit.choices.METRIC_ENGINES`) computing ``names``, built
    once per process for the same network in the same state (:mod:`~inceptionkit.engines.memo`)."""
    threads = settings.threads or torch.get_num_threads()
    key = ("fid", name, names, threads, str(device), str(settings.cache_dir))
    return built_once(model, key, lambda: _build(name, model, names, threads, device, settings.cache_dir))


def _build(name: str, model: InceptionNet, names: tuple[str, ...], threads: int, device: torch.device, cache_dir) -> Engine:
    if name in ("torch", "torch-opt"):
        net = FIDOutputs(model.eval() if name == "torch" else fold_batchnorm(model), names).to(device)
        layout = torch.contiguous_format if name == "torch" else torch.channels_last
        net = net.to(memory_format=layout)

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), full_fp32(device):
                return net(x.to(device).contiguous(memory_format=layout))

        path = torch_fp32_path() if device.type == "cpu" else f"CUDA ({torch.cuda.get_device_name(device)})"
        return Engine(name, "fp32", path if name == "torch" else f"{path}, batch norm folded", run, device)
    from ..engines.onnx_engines import OpenVinoRunner
    from ..engines.runtime import OnnxRunner

    path = export_outputs(model, names, cache_dir)
    if name == "onnxruntime":
        return Engine(name, "fp32", "ONNX Runtime CPU (MLAS)", OnnxRunner(path, threads))
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    runner = OpenVinoRunner(path, config, streams=OPENVINO_STREAMS if threads >= OPENVINO_STREAMS else 1)
    if runner.precision != "fp32":
        raise EngineError(f"OpenVINO computes in {runner.precision} here, though asked for f32")
    streams = f", {runner.streams} streams" if runner.streams > 1 else ""
    return Engine(name, "fp32", f"OpenVINO CPU, inference precision f32{streams}", runner)


class ExactNetwork:
    """The FID network computing outputs ``names`` (:data:`~.network.OUTPUTS`) on ``device`` with the
    engine that ``settings.engine`` names (None: ``auto``), chosen and checked on the first batch.
    ``net(x)`` gives one float32 tensor per output; ``engine`` is the engine once chosen."""

    def __init__(
        self, model: InceptionNet, names: tuple[str, ...], settings: RunSettings, device: torch.device
    ) -> None:
        self.model, self.names, self.settings, self.device = model.eval(), tuple(names), settings, device
        self.requested = settings.engine or "auto"
        check_metric_engine(self.requested, str(device))
        self.dims = OUTPUTS[self.names[0]]
        self.sizes = [OUTPUTS[n] for n in self.names]
        self.engine: Engine | None = None
        self.agree = agreement(self.names)
        self.images: int | None = None  # the images of the whole run, where known (auto's MEASURE_BATCHES rule)
        self.processes = 1  # among how many processes (torchrun) they are shared

    def expect(self, images: int | None, processes: int = 1) -> None:
        """The run ahead: ``images`` in all (None: not known) over ``processes`` processes, each
        deciding alike whether measuring the engines is worth it."""
        self.images, self.processes = images, processes

    def _build(self, name: str) -> Engine:
        return build(name, self.model, self.names, self.settings, self.device)

    def _start(self, x: torch.Tensor) -> tuple[Engine, torch.Tensor]:
        """The engine, and its output on the first batch ``x``: compared with eager fp32 on the first
        :data:`CHECK_IMAGES` images unless the engine is ``torch``."""
        name = "torch" if self.requested == "auto" and self.device.type != "cpu" else self.requested
        if name == "auto":
            name = self._remembered(len(x)) or self._unmeasured(len(x))
            if name is None:
                engine = self._measured(x, again=False)
                return engine, engine(x)
        try:
            engine = self._build(name)
            out = engine(x)
        except (InceptionKitError, RuntimeError, OSError) as e:  # e.g. a damaged file in the engine cache
            if name == "torch":
                raise
            why = f"the {name} engine failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            if self.requested != "auto":
                raise EngineError(f"{why}; the torch engine computes the features exactly") from None
            self.settings.say(f"engine auto: {why}; measuring the engines again")
            engine = self._measured(x, again=True)
            return engine, engine(x)
        if name == "torch":
            return engine, out
        n = min(len(x), CHECK_IMAGES)
        ok, detail = self.agree(out[:n].float().cpu(), self._build("torch")(x[:n]).float().cpu())
        if ok:
            return engine, out
        why = f"the {name} engine's features are not within tolerance of fp32 on the first {n} image{'s' if n != 1 else ''} ({detail})"
        if self.requested != "auto":
            raise EngineError(f"{why}: the torch engine computes them exactly")
        self.settings.say(f"engine auto: {why}; measuring the engines again")
        engine = self._measured(x, again=True)
        return engine, engine(x)

    def _key(self, batch: int) -> dict:
        threads = self.settings.threads or torch.get_num_threads()
        key = cache_key(self.model, LOGITS, 299, batch, threads)  # measured at the run's first batch
        return {**key, "task": ["fid", *self.names]}

    def _remembered(self, batch: int) -> str | None:
        """``auto``'s choice made before on this machine, if it can run here; None: measure."""
        remembered = cached_choice(self._key(batch), self.settings.cache_dir)
        if remembered is None or remembered.engine not in self._candidates():
            return None
        self.settings.say(f"engine auto: {remembered.engine} (measured before on this machine)")
        return remembered.engine

    def _unmeasured(self, batch: int) -> str | None:
        """``torch`` for a run too short to be worth measuring the engines on (:data:`MEASURE_BATCHES`),
        said in one line; None: measure."""
        if self.images is None or self.images >= MEASURE_BATCHES * batch * self.processes:
            return None
        each = f" over {self.processes} processes" if self.processes > 1 else ""
        self.settings.say(
            f"engine auto: torch (a run of {self.images} images{each}, under {MEASURE_BATCHES} batches of "
            f"{batch}{' each' if each else ''}: measuring the engines would take longer than the run)"
        )
        return "torch"

    def _candidates(self) -> list[str]:
        return [e for e in runnable_engines() if e in METRIC_ENGINES]

    def _measured(self, x: torch.Tensor, *, again: bool) -> Engine:
        """The fastest exact engine on the first batch itself (run once untimed, then timed): its batch
        size decides the ranking (OpenVINO compiles per shape, and gains most on large batches)."""
        x = x.float()
        return choose(self._candidates(), self._build, [x], LOGITS, self._key(len(x)),
                      cache_dir=self.settings.cache_dir, say=self.settings.say, agree=self.agree, again=again)  # fmt: skip

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.engine is None:
            self.engine, out = self._start(x)
        else:
            out = self.engine(x)
        return list(out.float().split(self.sizes, dim=1))

    def describe(self) -> str:
        return self.engine.describe() if self.engine is not None else self.requested


__all__ = ["CHECK_IMAGES", "MEASURE_BATCHES", "METRIC_ENGINES", "TOLERANCE", "ExactNetwork", "check_metric_engine"]
