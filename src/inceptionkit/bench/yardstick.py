"""The machine's own yardstick: how fast the same threads multiply large matrices, per precision."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..engines.hardware import bf16_unit, int8_unit

MATMUL_SIZE = 2048  # a 2048^3 GEMM: 17 GFLOP, large enough to run at the machine's peak


def matmul_calls(n: int = MATMUL_SIZE) -> dict[str, tuple[Callable[[], object], float]]:
    """Per precision this CPU has units for (``fp32`` always, ``bf16``, ``int8``): a large matrix
    multiplication in it and its operation count (2 n^3). int8 is PyTorch's int8 x int8 -> int32
    GEMM (oneDNN, VNNI/AMX where present)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    calls: dict[str, tuple[Callable[[], object], float]] = {"fp32": ((lambda: torch.mm(a, b)), 2.0 * n**3)}
    if bf16_unit():
        a16, b16 = a.bfloat16(), b.bfloat16()
        calls["bf16"] = ((lambda: torch.mm(a16, b16)), 2.0 * n**3)
    if int8_unit() and hasattr(torch, "_int_mm"):
        a8, b8 = (t.mul(40).clamp(-127, 127).to(torch.int8) for t in (a, b))
        try:
            torch._int_mm(a8[:32, :32], b8[:32, :32])
            calls["int8"] = ((lambda: torch._int_mm(a8, b8)), 2.0 * n**3)
        except RuntimeError:  # a PyTorch build without the CPU int8 GEMM
            pass
    return calls
