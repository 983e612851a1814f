"""What this CPU can do: its name and the flags of its matrix units (bf16, int8 dot products)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # best first
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")
MATRIX_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    entries: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        entries[key.strip()] = value.strip()
    return entries


def cpu_flags() -> frozenset[str]:
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def matrix_flags() -> list[str]:
    """The flags of this CPU that decide how fast a convolution can run, in :data:`MATRIX_FLAGS` order."""
    return [f for f in MATRIX_FLAGS if f in cpu_flags()]


def bf16_unit() -> str | None:
    """The CPU flag of its bfloat16 dot-product unit, or None."""
    return next((f for f in BF16_FLAGS if f in cpu_flags()), None)


def int8_unit() -> str | None:
    """The CPU flag of its int8 dot-product unit (VNNI or AMX), or None."""
    return next((f for f in INT8_FLAGS if f in cpu_flags()), None)


def torch_fp32_path() -> str:
    """How PyTorch runs fp32 convolutions here, e.g. ``oneDNN AVX512``."""
    return f"oneDNN {torch.backends.cpu.get_cpu_capability()}"
