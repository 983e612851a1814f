"""The ONNX engines: ONNX Runtime (fp32 and int8) and OpenVINO (its defaults, and our int8 file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import EngineError
from .base import Engine
from .hardware import bf16_unit, int8_unit
from .runtime import OnnxRunner
from .signals import kept_signal_stack

INSTALL_OPENVINO = "pip install 'inceptionkit[openvino]'"


def onnxruntime(path: Path, threads: int, *, int8: bool = False, tuned: bool = True) -> Engine:
    """ONNX Runtime on the CPU. ``tuned``: inceptionkit's session options (every graph optimization,
    ``threads`` threads); else ONNX Runtime's defaults (a peer)."""
    runner = OnnxRunner(path, threads, tuned=tuned)
    if int8:
        unit = int8_unit()
        how = f"u8s8 on {unit}" if unit else "u8s8 without int8 dot-product units"
        return Engine("onnxruntime-int8", "int8", f"ONNX Runtime CPU, {how}", runner, peer=not tuned)
    return Engine("onnxruntime", "fp32", "ONNX Runtime CPU (MLAS)", runner, peer=not tuned)


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_core():
    try:
        import openvino
    except ImportError:
        raise EngineError(
            f"the openvino engines need OpenVINO, which is not installed: {INSTALL_OPENVINO}"
        ) from None
    return openvino.Core()


def _precision_name(hint) -> str:
    """An OpenVINO inference precision (a type or its name) as ``fp32`` or ``bf16`` (or f16)."""
    name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    return {"f32": "fp32", "bf16": "bf16"}.get(name, name)


class OpenVinoRunner:
    """An ONNX file compiled by OpenVINO for the CPU, one compiled model per input shape (OpenVINO
    runs static shapes fastest). ``config``: OpenVINO properties; empty: its defaults. ``streams`` > 1:
    each batch split into that many parts run at once, one per stream (``NUM_STREAMS``, its threads
    shared among them): faster on few cores, where one stream's threads wait on each other per layer."""

    def __init__(self, path: Path, config: dict, streams: int = 1) -> None:
        self.core, self.path, self.streams = openvino_core(), Path(path), streams
        self.config = {**config, "NUM_STREAMS": streams} if streams > 1 else config
        self.model = self.core.read_model(str(path))
        self.compiled: dict[tuple[int, ...] | None, object] = {}
        self.requests: dict[tuple[int, ...], list] = {}
        # what the CPU plugin computes in: the hint asked for, else its default (bf16 where the CPU has
        # bf16 units), read without compiling the model (a compile costs about a second)
        hint = config.get("INFERENCE_PRECISION_HINT")
        if hint is None:
            with kept_signal_stack():  # the CPU plugin, loaded here, installs a signal stack of its own
                hint = self.core.get_property("CPU", "INFERENCE_PRECISION_HINT")
        self.precision = _precision_name(hint)

    def _compile(self, shape: tuple[int, ...] | None):
        if shape not in self.compiled:
            model = self.model
            if shape is not None:
                model = self.model.clone()
                model.reshape({model.inputs[0].any_name: list(shape)})
            with kept_signal_stack():  # OpenVINO would leave the thread its own, later freed, signal stack
                self.compiled[shape] = self.core.compile_model(model, "CPU", self.config)
        return self.compiled[shape]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x.detach().float().cpu().contiguous().numpy()
        if self.streams > 1 and len(pixels) >= self.streams:
            return self._in_streams(pixels)
        compiled = self._compile(tuple(x.shape) if self.config else None)
        out = compiled(pixels)[compiled.outputs[0]]
        return torch.from_numpy(np.array(out, dtype=np.float32))

    def _in_streams(self, pixels: np.ndarray) -> torch.Tensor:
        """The batch in :attr:`streams` parts, each on an infer request of its own, run at once."""
        running, used = [], {}
        for part in np.array_split(pixels, self.streams):
            shape = tuple(part.shape)
            requests = self.requests.setdefault(shape, [])
            k = used[shape] = used.get(shape, -1) + 1
            if k == len(requests):
                requests.append(self._compile(shape).create_infer_request())
            requests[k].start_async({0: part})
            running.append(requests[k])
        for request in running:
            request.wait()
        out = [np.array(r.get_output_tensor(0).data, dtype=np.float32) for r in running]
        return torch.from_numpy(np.concatenate(out))


def openvino(path: Path, threads: int, *, int8: bool = False, tuned: bool = True) -> Engine:
    """OpenVINO on the CPU with its default inference precision (bf16 where the CPU has it). ``int8``:
    running our QDQ int8 file (the quantized layers in int8, the rest in that precision). ``tuned``:
    ``threads`` threads and a model compiled per input shape; else OpenVINO's defaults (a peer)."""
    runner = OpenVinoRunner(path, {"INFERENCE_NUM_THREADS": threads} if tuned else {})
    rest = runner.precision
    if int8:
        unit = int8_unit() or "no int8 dot-product unit"
        return Engine("openvino-int8", "int8", f"OpenVINO CPU, int8 on {unit}, other layers {rest}", runner)
    unit = f" on {bf16_unit()}" if rest == "bf16" and bf16_unit() else ""
    precision = rest if rest in ("fp32", "bf16") else "fp32"
    return Engine(
        "openvino", precision, f"OpenVINO CPU, inference precision {rest}{unit}", runner, peer=not tuned
    )
