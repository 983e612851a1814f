"""Engines built once per process: a second ``predict`` or FID over the same model reuses the engine
the first built (a folded copy, an ONNX Runtime session, an OpenVINO model compiled per shape)
instead of building it again, which for a short job costs more than the images.

An engine is remembered per model object (weakly: it goes when the model goes) and per the state of
the model's tensors (their storage and version counters, which every in-place change bumps: a model
trained or loaded into since is built afresh), with the build's own settings as the rest of the key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar
from weakref import WeakKeyDictionary

from torch import nn

T = TypeVar("T")
KEEP = 8  # engines remembered per model, the most recently built
_BUILT: WeakKeyDictionary[nn.Module, dict[tuple, object]] = WeakKeyDictionary()


def tensor_state(model: nn.Module) -> tuple:
    """What changes when any of ``model``'s tensors is replaced or modified in place."""
    return tuple((t.data_ptr(), t._version, t.device.type) for t in model.state_dict(keep_vars=True).values())


def built_once(model: nn.Module, key: Hashable, make: Callable[[], T]) -> T:
    """``make()``, or what it gave before for ``model`` in its present state and ``key``."""
    entries = _BUILT.setdefault(model, {})
    full = (key, tensor_state(model))
    if full in entries:
        entries[full] = entries.pop(full)  # the most recently used goes last
        return entries[full]
    value = make()
    entries[full] = value
    while len(entries) > KEEP:
        entries.pop(next(iter(entries)))
    return value
