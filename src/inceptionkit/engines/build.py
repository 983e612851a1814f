"""Every engine by name: which this machine can run, and building one for a model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ..choices import ENGINES, INT8_ENGINES
from ..errors import EngineError, UsageError
from ..model import InceptionNet
from . import onnx_engines, torch_engines
from .base import LOGITS, Engine, Task
from .cache import cached, ensure_onnx
from .hardware import bf16_unit, int8_unit
from .int8 import CalibrationMethod, quantize_int8
from .memo import built_once

CalibrationBatches = Callable[[], Iterable[torch.Tensor]]


class Calibration:
    """Where an int8 engine's ranges come from: ``batches()`` gives preprocessed images; ``key``
    names them in the cached file's name (the same images give the same file); ``note`` says what
    they are, for the file's metadata."""

    def __init__(self, batches: CalibrationBatches, key: str, note: str) -> None:
        self.batches, self.key, self.note = batches, key, note

    @classmethod
    def random(cls, in_chans: int, size: int) -> Calibration:
        """Random inputs: for timing only, the outputs are meaningless."""
        g = torch.Generator().manual_seed(0)

        def batches() -> list[torch.Tensor]:
            return [torch.randn(4, in_chans, size, size, generator=g) for _ in range(2)]

        return cls(batches, "random", " of random noise (for timing only)")


def check_engine(name: str, device: str | torch.device | None = None) -> None:
    """Raise :class:`UsageError` for an unknown engine or one asked to run off the CPU (see
    :func:`check_device`), :class:`EngineError` for one this machine cannot run."""
    check_device(name, device)
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name}; valid engines: {', '.join(ENGINES)}")
    if why := unavailable(name):
        raise EngineError(why)


def check_device(name: str, device: str | torch.device | None) -> None:
    """The one rule of where engines run: ``torch`` (and ``auto``, which then picks it) on any
    device, every other engine on the CPU only; ``device`` None is the engine's default."""
    if name not in ("torch", "auto") and device is not None and str(device).split(":")[0] != "cpu":
        raise UsageError(
            f"the {name} engine runs on the CPU, not on {device}; only the torch engine runs there"
        )


def unavailable(name: str) -> str | None:
    """Why this machine cannot run ``name``, or None when it can."""
    if name == "torch-bf16" and bf16_unit() is None:
        return (
            "the torch-bf16 engine needs a CPU with bfloat16 units (avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo); this one has neither: use torch-opt (fp32) or --engine auto"
        )
    if name in INT8_ENGINES and int8_unit() is None:
        return (
            f"the {name} engine needs a CPU with int8 dot-product units (avx512_vnni, avx_vnni or "
            "amx_int8 in /proc/cpuinfo); this one has none: use an fp32 engine or --engine auto"
        )
    if name.startswith("openvino") and not onnx_engines.openvino_installed():
        return f"the {name} engine needs OpenVINO, which is not installed: {onnx_engines.INSTALL_OPENVINO}"
    return None


def runnable_engines() -> list[str]:
    """The engines this machine can run, in :data:`ENGINES` order."""
    return [e for e in ENGINES if unavailable(e) is None]


def int8_file(
    fp32: Path,
    calibration: Calibration,
    *,
    out: str | Path | None = None,
    method: CalibrationMethod = "minmax",
) -> Path:
    """The one int8 path: the int8 copy of ``fp32`` calibrated on ``calibration`` by ``method``, written
    to ``out`` (the ``export`` job), or with ``out`` None cached next to ``fp32`` and made once (the
    int8 engines)."""
    if out is not None:
        return quantize_int8(fp32, out, calibration.batches(), method=method, note=calibration.note)
    key = hashlib.blake2b(calibration.key.encode(), digest_size=8).hexdigest()
    how = "" if method == "minmax" else f"-{method}"
    return cached(
        fp32.with_suffix(f".int8{how}-{key}.onnx"),
        lambda p: int8_file(fp32, calibration, out=p, method=method),
    )


def build_engine(
    name: str,
    model: InceptionNet,
    *,
    task: Task = LOGITS,
    size: int | None = None,
    threads: int | None = None,
    device: torch.device | None = None,
    compile: bool = False,
    cache_dir: str | Path | None = None,
    calibration: Calibration | None = None,
) -> Engine:
    """Engine ``name`` (one of :data:`ENGINES`) computing ``task`` with ``model`` at ``size`` pixels.

    ONNX engines export the model once (cached, see :func:`~inceptionkit.engines.ensure_onnx`);
    int8 engines also need ``calibration`` (their int8 copy is cached too). ``device`` applies to the
    ``torch`` engine; the others run on the CPU. An engine is built once per process for the same
    model in the same state and the same arguments (:mod:`.memo`).
    """
    check_engine(name, device)
    threads = threads or torch.get_num_threads()
    key = (name, task, size, threads, str(device), compile, str(cache_dir), calibration and calibration.key)
    return built_once(model, key, lambda: _build(name, model, task, size, threads, device, compile, cache_dir, calibration))


def _build(name, model, task, size, threads, device, compile, cache_dir, calibration) -> Engine:
    if name == "torch":
        return torch_engines.eager(model, task, device)
    if name in ("torch-opt", "torch-bf16"):
        return torch_engines.optimized(model, task, compile=compile, bf16=name == "torch-bf16")
    if not task.exportable:
        raise UsageError(
            f"the {name} engine computes the logits or the last stage's average-pooled features; "
            "for other stages or pooling use a torch engine"
        )
    path = ensure_onnx(task.exported_model(model), cache_dir, input_size=size)
    if name in INT8_ENGINES:
        if calibration is None:
            raise UsageError(
                f"the {name} engine needs images to calibrate its int8 ranges on: pass "
                "--calibration DIR with images like those the model will see"
            )
        path = int8_file(path, calibration)
    runtime = onnx_engines.onnxruntime if name.startswith("onnxruntime") else onnx_engines.openvino
    return runtime(path, threads, int8=name in INT8_ENGINES)
