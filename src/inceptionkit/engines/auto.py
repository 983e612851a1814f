"""``--engine auto``: the fastest engine whose outputs stay within tolerance of fp32, measured here.

The choice is made on the first batches of the user's own images: every candidate engine runs
them (once untimed, then timed) and is compared with the fp32 reference (``torch``) on them —
for classification every image's top-1 class must agree, for features the relative error
(max |got - fp32| / max |fp32|) must be at most :data:`FEATURE_TOLERANCE`. The fastest such engine
wins. The choice is cached per machine in ``auto.json`` in the cache folder, keyed by the CPU
(model and flags), the library versions, the model (architecture, variant, a checksum of its
weights), the task, the input size and the batch size: a cache made on another CPU or with other
library versions does not match and the engines are measured again.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ..errors import EngineError, InceptionKitError
from ..fileio import atomic_write
from ..model import InceptionNet
from .base import Engine, Task
from .cache import onnx_cache_dir, weights_digest
from .export import relative_difference
from .hardware import cpu_flags, cpu_model

FEATURE_TOLERANCE = 1e-2  # max relative error of features an auto-chosen engine may have (bf16: ~4e-3)
MEASURE_IMAGES = 16  # images auto measures on (the first batches, at least this many when there are)
Build = Callable[[str], Engine]


@dataclass(frozen=True)
class Trial:
    """One candidate measured on the first batches."""

    engine: str
    images_per_s: float | None  # None: it could not be built or run
    agrees: bool
    detail: str  # top-1 agreement, relative error, or why it failed


def cache_key(model: InceptionNet, task: Task, size: int, batch_size: int, threads: int) -> dict:
    """Everything a measured choice depends on."""

    def v(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {
        "cpu": cpu_model(),
        "flags": hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:16],
        "versions": {p: v(p) for p in ("inceptionkit", "torch", "onnxruntime", "openvino")},
        "model": [model.spec.arch, model.spec.variant, weights_digest(model)],
        "task": [task.features, task.layer, task.pool],
        "size": size,
        "batch_size": batch_size,
        "threads": threads,
    }


def _entry_name(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def cached_choice(key: dict, cache_dir: str | Path | None = None) -> str | None:
    path = onnx_cache_dir(cache_dir) / "auto.json"
    try:
        entry = json.loads(path.read_text()).get(_entry_name(key))
    except (OSError, ValueError, AttributeError):
        return None
    return entry["engine"] if isinstance(entry, dict) and entry.get("key") == key else None


def store_choice(key: dict, trials: list[Trial], choice: str, cache_dir: str | Path | None = None) -> None:
    path = onnx_cache_dir(cache_dir) / "auto.json"
    try:
        doc = json.loads(path.read_text())
        doc = doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        doc = {}
    doc[_entry_name(key)] = {
        "key": key,
        "engine": choice,
        "trials": [t.__dict__ for t in trials],
    }
    text = json.dumps(doc, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _agreement(got: torch.Tensor, want: torch.Tensor, task: Task) -> tuple[bool, str]:
    if not task.features:
        same = int((got.argmax(1) == want.argmax(1)).sum())
        return same == len(want), f"top-1 agrees on {same}/{len(want)} images"
    err = relative_difference(got, want)
    return err <= FEATURE_TOLERANCE, f"relative error {err:.1e} (bound {FEATURE_TOLERANCE:.0e})"


def _measure(engine: Engine, batches: Sequence[torch.Tensor], want: list[torch.Tensor], task: Task) -> Trial:
    engine(batches[0])  # untimed: first calls build caches and compile
    times, outs = [], []
    for x in batches:
        start = time.perf_counter()
        outs.append(engine(x).float().cpu())
        times.append((time.perf_counter() - start) / len(x))
    agrees, detail = _agreement(torch.cat(outs), torch.cat(want), task)
    return Trial(engine.name, 1 / statistics.median(times), agrees, detail)


def measure(
    candidates: Sequence[str], build: Build, batches: Sequence[torch.Tensor], task: Task
) -> tuple[list[Trial], dict[str, Engine]]:
    """Each candidate's speed and agreement with ``torch`` (fp32) on ``batches``, and the engines built."""
    built = {"torch": build("torch")}
    want = [built["torch"](x).float().cpu() for x in batches]
    trials = []
    for name in candidates:
        try:
            built[name] = built.get(name) or build(name)
            trials.append(_measure(built[name], batches, want, task))
        except (InceptionKitError, RuntimeError) as e:  # an engine that fails here is not a candidate
            trials.append(Trial(name, None, False, str(e).splitlines()[0] if str(e) else type(e).__name__))
    return trials, built


def fastest(trials: Sequence[Trial]) -> Trial:
    eligible = [t for t in trials if t.agrees and t.images_per_s]
    if not eligible:
        raise EngineError("--engine auto: no engine ran within tolerance of fp32 here; use --engine torch")
    return max(eligible, key=lambda t: t.images_per_s)


def choose(
    candidates: Sequence[str],
    build: Build,
    batches: Sequence[torch.Tensor],
    task: Task,
    key: dict,
    *,
    cache_dir: str | Path | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Engine:
    """The fastest of ``candidates`` within tolerance of fp32 on ``batches`` (or the choice cached
    for ``key``); ``say`` gets one line saying which engine it is and why."""
    name = cached_choice(key, cache_dir)
    if name in candidates:
        try:
            engine = build(name)
        except (InceptionKitError, RuntimeError):  # it ran before and fails now: measure again
            pass
        else:
            say(f"engine auto: {engine.describe()} (measured before on this machine)")
            return engine
    trials, built = measure(candidates, build, batches, task)
    best = fastest(trials)
    store_choice(key, trials, best.engine, cache_dir)
    engine = built[best.engine]
    images = sum(len(x) for x in batches)
    say(
        f"engine auto: {engine.describe()}, the fastest within tolerance of fp32 on the first {images} "
        f"images ({best.images_per_s:.1f} images/s; {best.detail})"
    )
    return engine
