"""Which device a command runs on: one parser for every command (predict, features, train, bench)."""

from __future__ import annotations

import torch

from .errors import UsageError

DEVICE_KINDS = ("cpu", "cuda")


def parse_device(name: str | torch.device | None, *, default: str | None = None) -> torch.device:
    """``name`` as a torch device this machine has: ``cpu``, ``cuda`` or ``cuda:N``.

    ``None`` gives ``default``, else CUDA when there is one, else the CPU. Anything else (an unknown
    name, ``meta``, a CUDA device on a machine without CUDA, an index past the last GPU) is a
    :class:`UsageError` naming the flag's value.
    """
    if name is None:
        name = default or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown --device {str(name)!r}; use cpu, cuda or cuda:N") from None
    if device.type not in DEVICE_KINDS:
        raise UsageError(f"--device {name} cannot run a model here; use cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device is available on this machine; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    return device
