"""``--engine auto``: the fastest engine whose outputs stay within tolerance of fp32, measured here.

:func:`engine_for` is the one way a run gets its engine, named or ``auto``: it holds the policy
(which engines are candidates, what the int8 ones calibrate on, the cache key; the rule that only
``torch`` leaves the CPU is :func:`~.build.check_device`'s). The choice is made on the first batches of the user's own images: every candidate engine runs
them (once untimed, then timed) and is compared with the fp32 reference (``torch``) on them —
for classification every image's top-1 class must agree, for features the relative error
(max |got - fp32| / max |fp32|) must be at most :data:`FEATURE_TOLERANCE`. The fastest such engine
wins; a low-precision one (bf16, int8) only when it was compared on at least :data:`MEASURE_IMAGES`
images (agreement on one image proves nothing): with fewer, the fastest fp32 engine. The choice is
cached per machine in ``auto.json`` in the cache folder, keyed by the CPU (model and flags), the
library versions, the model (architecture, variant, a checksum of its weights), the task, the input
size and the batch size: a cache made on another CPU or with other library versions does not match and the engines are measured again, as does an entry measured on
fewer images than the run offers (up to :data:`MEASURE_IMAGES`). The cache is an optimisation, never
a failure: a damaged file, or an entry with a missing field or one of the wrong type, is ignored
(measured again); a cache that cannot be written is said in one line and the command goes on;
writers take turns (a lock on the folder), so concurrent commands lose no entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # Windows has none: the cache is written there without a lock
    fcntl = None

from ..choices import INT8_ENGINES
from ..devices import parse_device
from ..errors import EngineError, InceptionKitError
from ..fileio import atomic_write
from ..model import InceptionNet
from ..preprocess import Preprocess
from ..settings import RunSettings
from .base import Engine, Task
from .build import Calibration, build_engine, check_engine, runnable_engines
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
    precision: str | None = None  # what the engine computed in (None: it could not be built)


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


def cache_file(cache_dir: str | Path | None = None) -> Path:
    """Where measured choices are remembered: ``auto.json`` in the ONNX cache folder."""
    return onnx_cache_dir(cache_dir) / "auto.json"


def _read_cache(path: Path) -> dict:
    """The cache's entries; anything unreadable (missing, garbage, nested beyond the parser) is none."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, dict)} if isinstance(doc, dict) else {}


@dataclass(frozen=True)
class Remembered:
    """A choice read back from the cache: the engine and on how many images it was measured."""

    engine: str
    images: int


def cached_choice(key: dict, cache_dir: str | Path | None = None) -> Remembered | None:
    """The choice remembered for ``key``; an entry with a missing field or a field of the wrong type is
    none (and is measured again)."""
    entry = _read_cache(cache_file(cache_dir)).get(_entry_name(key))
    if entry is None or entry.get("key") != key:
        return None
    engine, images = entry.get("engine"), entry.get("images")
    if not isinstance(engine, str) or not isinstance(images, int) or isinstance(images, bool):
        return None
    return Remembered(engine, images)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """The cache folder locked against other processes remembering a choice at the same time (so none
    of their entries is lost); a folder that cannot be locked is written without the lock."""
    try:
        fd = os.open(folder, os.O_RDONLY) if fcntl is not None else None
    except OSError:
        fd = None
    if fd is None:
        yield
        return
    try:
        with suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (closing releases the lock)


def store_choice(
    key: dict, trials: list[Trial], choice: str, images: int, cache_dir: str | Path | None = None
) -> str | None:
    """Remember ``choice`` for ``key``; None, or why it could not be (the cache is an optimisation:
    a folder that cannot be written, a full disk, a damaged file never stop the command)."""
    path = cache_file(cache_dir)
    entry = {"key": key, "engine": choice, "images": images, "trials": [t.__dict__ for t in trials]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path.parent):
            doc = {**_read_cache(path), _entry_name(key): entry}
            text = json.dumps(doc, indent=1)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    except (OSError, InceptionKitError) as e:
        why = f"in {path} ({e.strerror})" if isinstance(e, OSError) and e.strerror else f"({e})"
        return f"the choice could not be remembered {why}; it is measured again next time"
    return None


def _agreement(got: torch.Tensor, want: torch.Tensor, task: Task) -> tuple[bool, str]:
    if not task.features:
        same = int((got.argmax(1) == want.argmax(1)).sum())
        return same == len(want), f"top-1 agrees on {same}/{len(want)} images"
    err = relative_difference(got, want)
    return err <= FEATURE_TOLERANCE, f"relative error {err:.1e} (bound {FEATURE_TOLERANCE:.0e})"


Agreement = Callable[[torch.Tensor, torch.Tensor], tuple[bool, str]]  # (got, fp32) -> (agrees, detail)


def _measure(engine: Engine, batches: Sequence[torch.Tensor], want: list[torch.Tensor], agree: Agreement) -> Trial:
    engine(batches[0])  # untimed: first calls build caches and compile
    times, outs = [], []
    for x in batches:
        start = time.perf_counter()
        outs.append(engine(x).float().cpu())
        times.append((time.perf_counter() - start) / len(x))
    agrees, detail = agree(torch.cat(outs), torch.cat(want))
    return Trial(engine.name, 1 / statistics.median(times), agrees, detail, engine.precision)


def measure(
    candidates: Sequence[str],
    build: Build,
    batches: Sequence[torch.Tensor],
    task: Task,
    agree: Agreement | None = None,
) -> tuple[list[Trial], dict[str, Engine]]:
    """Each candidate's speed and agreement with ``torch`` (fp32) on ``batches``, and the engines built.
    ``agree``: how outputs are compared with fp32 (default: the ``task``'s rule, see the module)."""
    agree = agree or (lambda got, want: _agreement(got, want, task))
    built = {"torch": build("torch")}
    want = [built["torch"](x).float().cpu() for x in batches]
    trials = []
    for name in candidates:
        try:
            built[name] = built.get(name) or build(name)
            trials.append(_measure(built[name], batches, want, agree))
        except (InceptionKitError, RuntimeError, OSError) as e:  # one that fails here is no candidate
            trials.append(Trial(name, None, False, str(e).splitlines()[0] if str(e) else type(e).__name__))
    return trials, built


def fastest(trials: Sequence[Trial], images: int = MEASURE_IMAGES) -> Trial:
    """The fastest trial within tolerance of fp32; a low-precision one only if it was compared on at
    least :data:`MEASURE_IMAGES` images (agreement on one or two images proves nothing)."""
    eligible = [t for t in trials if t.agrees and t.images_per_s]
    if images < MEASURE_IMAGES:
        eligible = [t for t in eligible if t.precision == "fp32"]
    if not eligible:
        raise EngineError("engine auto: no engine ran within tolerance of fp32 here; use the torch engine", field="engine")
    return max(eligible, key=lambda t: t.images_per_s)


def _reuse(name: str | None, candidates: Sequence[str], build: Build) -> Engine | None:
    if name not in candidates:
        return None
    try:
        return build(name)
    except (InceptionKitError, RuntimeError, OSError):  # it ran before and fails now: measure again
        return None


def choose(
    candidates: Sequence[str],
    build: Build,
    batches: Sequence[torch.Tensor],
    task: Task,
    key: dict,
    *,
    cache_dir: str | Path | None = None,
    say: Callable[[str], None] = lambda line: None,
    agree: Agreement | None = None,
    again: bool = False,
) -> Engine:
    """The fastest of ``candidates`` within tolerance of fp32 on ``batches`` (or the choice cached
    for ``key``, if it was measured on at least as many images as ``batches`` offer, up to
    :data:`MEASURE_IMAGES`); ``say`` gets one line saying which engine it is and why, and one more
    when the choice could not be remembered. ``agree``: the comparison with fp32 (default: the
    task's); ``again``: measure even if a choice is remembered (it failed a check)."""
    images = sum(len(x) for x in batches)
    remembered = None if again else cached_choice(key, cache_dir)
    if remembered is not None and remembered.images >= min(images, MEASURE_IMAGES):
        engine = _reuse(remembered.engine, candidates, build)
        if engine is not None:
            say(f"engine auto: {engine.describe()} (measured before on this machine)")
            return engine
    trials, built = measure(candidates, build, batches, task, agree)
    best = fastest(trials, images)
    engine = built[best.engine]
    line = (
        f"engine auto: {engine.describe()}, the fastest within tolerance of fp32 on the first "
        f"{images} image{'s' if images != 1 else ''} ({best.images_per_s:.1f} images/s; {best.detail})"
    )
    if off := [f"{t.engine} ({t.detail})" for t in trials if t.images_per_s and not t.agrees]:
        line += f"; not within tolerance, so not used: {', '.join(off)}"
    if images < MEASURE_IMAGES and any(e.precision != "fp32" for e in built.values()):
        line += (
            f"; fp32 kept: a lower precision is trusted only after agreeing with fp32 on at least "
            f"{MEASURE_IMAGES} images"
        )
    say(line)
    problem = store_choice(key, trials, best.engine, images, cache_dir)
    if problem:
        say(f"engine auto: {problem}")
    return engine


@dataclass(frozen=True)
class EngineFor:
    """The engine of a run, made from its first batches (``auto`` measures on them: give it at least
    :data:`MEASURE_IMAGES` images when there are), and the device its batches go to."""

    device: torch.device
    make: Callable[[list[torch.Tensor]], Engine]

    def __call__(self, first: list[torch.Tensor]) -> Engine:
        return self.make(first)


def engine_for(
    model: InceptionNet, task: Task, recipe: Preprocess, settings: RunSettings, *, batch_size: int
) -> EngineFor:
    """The engine ``settings.engine`` names for ``model`` computing ``task`` on images prepared by
    ``recipe`` in batches of ``batch_size``; with ``auto``, the fastest within tolerance of fp32 on
    the first batches (on a GPU: ``torch``). Unknown engines, engines this machine cannot run and
    non-torch engines off the CPU are refused now, before any image is read. (``engine`` None:
    ``torch``.)"""
    settings = settings.replace(engine=settings.engine or "torch")
    if settings.engine != "auto":
        check_engine(settings.engine, settings.device)
    param = next(model.parameters(), None)
    device = parse_device(settings.device, default=str(param.device) if param is not None else "cpu")
    name = "torch" if settings.engine == "auto" and device.type != "cpu" else settings.engine
    calibration = _calibration(model, recipe, settings, required=name in INT8_ENGINES)

    def build(engine: str) -> Engine:
        return build_engine(
            engine,
            model,
            task=task,
            size=recipe.size,
            threads=settings.threads,
            device=device if engine == "torch" else None,
            cache_dir=settings.cache_dir,
            calibration=calibration,
        )

    if name != "auto":
        return EngineFor(device, lambda first: build(name))
    candidates = [
        e
        for e in runnable_engines()
        if (e in ("torch", "torch-opt", "torch-bf16") or task.exportable)
        and (e not in INT8_ENGINES or calibration is not None)
    ]
    key = cache_key(model, task, recipe.size, batch_size, settings.threads or torch.get_num_threads())

    def chosen(first: list[torch.Tensor]) -> Engine:
        if not first:  # nothing readable: nothing to measure or to run
            return build("torch")
        return choose(candidates, build, first, task, key, cache_dir=settings.cache_dir, say=settings.say)

    return EngineFor(device, chosen)


def _calibration(
    model: InceptionNet, recipe: Preprocess, settings: RunSettings, *, required: bool
) -> Calibration | None:
    """The int8 engines' calibration images: ``settings.calibration``, else the weights' training
    data when known; None when there are none (and int8 was not asked for by name)."""
    from .calibration import image_batches, quantization_data

    try:
        data = quantization_data(model, settings.calibration)
    except InceptionKitError:
        if required or settings.calibration is not None:
            raise
        return None
    key = f"{data.calibration_from}|{len(data.calibration)}|{recipe.to_json()}"
    return Calibration(
        lambda: (b.x for b in image_batches(data.calibration, recipe, 16)),
        key,
        f" of {data.calibration_from}",
    )
