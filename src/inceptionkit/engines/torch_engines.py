"""The PyTorch engines: eager fp32, the optimized fp32 path, and that path under bfloat16 autocast."""

from __future__ import annotations

import torch

from ..fold import fold_batchnorm
from ..model import InceptionNet
from .base import Engine, Task
from .hardware import bf16_unit, torch_fp32_path


def eager(model: InceptionNet, task: Task, device: torch.device | None = None) -> Engine:
    """``torch``: the model as it is, eval mode, inference mode, fp32 NCHW — the reference."""
    device = device or next(model.parameters()).device
    model.eval().to(device)
    forward = task.forward(model)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return forward(x.to(device, non_blocking=True))

    path = torch_fp32_path() if device.type == "cpu" else f"CUDA ({torch.cuda.get_device_name(device)})"
    return Engine("torch", "fp32", path, run, device)


def optimized(model: InceptionNet, task: Task, *, compile: bool = False, bf16: bool = False) -> Engine:
    """``torch-opt``: batch norm folded into the convolutions, channels_last, inference mode, fp32
    (optionally ``torch.compile`` with weight freezing). ``bf16``: ``torch-bf16``, the same under
    CPU bfloat16 autocast (convolutions and matmuls in bf16 on oneDNN), outputs back in fp32; check
    first that the CPU has bf16 units (:func:`~inceptionkit.engines.build.check_engine`)."""
    fast = fold_batchnorm(model).to(memory_format=torch.channels_last)
    forward = task.forward(fast)
    if compile:
        forward = torch.compile(forward, options={"freezing": True})

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return forward(x.contiguous(memory_format=torch.channels_last)).float()

    if bf16:
        return Engine("torch-bf16", "bf16", f"oneDNN {bf16_unit()}", run)
    return Engine("torch-opt", "fp32", torch_fp32_path(), run)
