"""``calculate_metrics`` and ``compute_statistics``: FID, KID and IS of folders, statistics files,
tensors or iterators of batches, computed the way the chosen library computes them."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..devices import World, join, process_device
from ..errors import MetricError, UnreadableImages
from ..fileio import file_sha256
from ..images import find_images
from ..model import InceptionNet
from ..settings import RunSettings, settings_from
from ..weights.hub import download, get_weight_set
from .checks import unreliable
from .conventions import CONVENTIONS
from .extract import Features, Runner
from .network import CLASSES, FIDFeatures, load_fid_model
from .notes import noting
from .pipelines import MODES
from .stats import Statistics, frechet_distance, load_statistics

log = logging.getLogger("inceptionkit.metrics")

# whose published file each mode loads by default (clean-fid runs NVIDIA's torchscript copy of the
# same TensorFlow weights, which cannot be loaded without its code; pytorch-fid's file is the same graph)
DEFAULT_WEIGHTS = {mode: c.weights for mode, c in CONVENTIONS.items()}
BATCH_SIZE = 50  # pytorch-fid's, when the settings give none
Source = str | os.PathLike | torch.Tensor | Iterable[torch.Tensor]


@dataclass
class Network:
    """The FID network, loaded once, and where its weights came from."""

    model: InceptionNet
    file: str = ""
    sha256: str = ""

    @classmethod
    def load(cls, weights: str | os.PathLike | None, mode: str) -> Network:
        path = Path(weights) if weights is not None and Path(weights).exists() else None
        if path is None:
            tag = str(weights) if weights is not None else DEFAULT_WEIGHTS[mode]
            path = download(get_weight_set(tag))
        return cls(load_fid_model(path), str(path), file_sha256(path))


@dataclass
class MetricResult:
    """The figures under torch-fidelity's names, and the settings that reproduce them."""

    metrics: dict[str, float]
    settings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # why a figure may mean little, as shown

    def as_dict(self) -> dict:
        return {**self.metrics, "settings": self.settings, "warnings": self.warnings}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise MetricError(f"--mode {mode}: use one of {', '.join(MODES)}")


def _files(folder: str, mode: str) -> list[str]:
    found = find_images([folder])
    if len(found) == 1 and found[0].error:
        raise MetricError(f"{folder}: no images in this folder (0 found); the metrics need at least 2")
    files = [s.path for s in found]
    if mode == "torch-fidelity":  # its order (sorted real paths): KID's subsets and IS's splits follow it
        files = sorted(files, key=os.path.realpath)
    return files


def _isc_splits(splits: int, n: int, label: str) -> None:
    if splits > n:  # a split without images has no score
        raise MetricError(
            f"the Inception Score in {splits} splits needs at least {splits} images; {label} has {n}: "
            f"use {n} splits or fewer"
        )


def _refuse_nan_settings(a: _Input, kid_subset_size: int, isc_splits: int) -> None:
    if kid_subset_size and kid_subset_size < 2:  # the unbiased estimator divides by m (m - 1)
        raise MetricError(f"KID subset size {kid_subset_size}: KID needs subsets of at least 2 images")
    if isc_splits and a.files is not None:
        _isc_splits(isc_splits, len(a.files), a.label)


@dataclass
class _Input:
    label: str
    files: list[str] | None = None
    stats: Statistics | None = None
    batches: Iterable[torch.Tensor] | None = None


def _input(source: Source, label: str, mode: str, dims: int) -> _Input:
    if isinstance(source, torch.Tensor):
        if source.dim() != 4:
            raise MetricError(f"{label}: a tensor of images must be (N, 3, H, W); got {tuple(source.shape)}")
        return _Input(label, batches=source.split(50))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _Input(str(path), files=_files(str(path), mode))
        if path.suffix.lower() == ".npz" or path.is_file():
            if not path.is_file():
                raise MetricError(f"{path}: no such statistics file")
            return _Input(str(path), stats=load_statistics(path, dims=dims, mode=mode))
        raise MetricError(f"{path}: no such folder or statistics file")
    return _Input(label, batches=source)


def _run(inp: _Input, runner: Runner, skip_bad: bool) -> Features:
    out = (
        runner.files(inp.files, inp.label)
        if inp.files is not None
        else runner.batches(inp.batches, inp.label)
    )
    if out.bad:
        listed = "; ".join(f"{f} ({why})" for f, why in out.bad[:10])
        more = f"; and {len(out.bad) - 10} more" if len(out.bad) > 10 else ""
        if not skip_bad:
            raise UnreadableImages(
                f"{inp.label}: {len(out.bad)} of {len(inp.files)} images cannot be read: {listed}{more}; "
                "pass --skip-bad to compute the metrics on the others"
            )
        log.warning("%s: skipped %d unreadable images: %s%s", inp.label, len(out.bad), listed, more)
    if out.moments.count < 2:
        raise MetricError(f"{inp.label}: {out.moments.count} usable image(s); the metrics need at least 2")
    return out


def _kid_size(asked: int, n1: int, n2: int, mode: str, labels: tuple[str, str]) -> int:
    smallest = min(n1, n2)
    if smallest >= asked:
        return asked
    if CONVENTIONS[mode].strict_kid:
        raise MetricError(
            f"KID subset size {asked} is more than the images of {labels[0]} ({n1}) or {labels[1]} ({n2}); "
            f"{mode} refuses this: pass --kid-subset-size {smallest} or less"
        )
    warnings.warn(
        f"KID subset size reduced from {asked} to {smallest}, the smaller input's count", stacklevel=3
    )
    return smallest


@noting
def calculate_metrics(
    input1: Source,
    input2: Source | None = None,
    *,
    mode: str = "pytorch-fid",
    dims: int = 2048,
    fid: bool = True,
    kid: bool = False,
    isc: bool = False,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    isc_splits: int = 10,
    weights: str | os.PathLike | None = None,
    network: Network | None = None,
    settings: RunSettings | None = None,
    **overrides: object,
) -> MetricResult:
    """FID (and KID, IS) of ``input1`` against ``input2``, each a folder (searched recursively), a
    statistics ``.npz`` file, a tensor (N, 3, H, W) or an iterable of such batches (uint8 pixels or
    floats in [0, 1]). IS is ``input1``'s, as torch-fidelity computes it. ``weights``: a file or tag
    (default: the mode's published file); ``network`` (:meth:`Network.load`) skips loading it again.
    ``settings`` (or its fields as keywords, e.g. ``batch_size=50, workers=2, skip_bad=True``): how to
    run (:class:`~inceptionkit.settings.RunSettings`; the batch size is 50, as pytorch-fid's)."""
    _check_mode(mode)
    run = settings_from(settings, overrides)
    dev = process_device(run.device)
    world = join(dev)
    a, b = _inputs(input1, input2, mode, dims, fid or kid, kid, isc)
    _refuse_nan_settings(a, kid and kid_subset_size, isc and isc_splits)  # before any image is read
    fa = fb = None
    if a.stats is None or (b is not None and b.stats is None):  # statistics files need no network
        network = network or Network.load(weights, mode)
        # torch-fidelity's mode keeps its arithmetic (no folding): the IS of few images amplifies rounding
        net = FIDFeatures(network.model, dims, logits=isc, fast=CONVENTIONS[mode].fast).to(dev)
        runner = _runner(net, mode, dev, world, run, keep_features=kid)
        fa = _run(a, replace(runner, keep_logits=isc), run.skip_bad) if a.stats is None else None
        fb = _run(b, runner, run.skip_bad) if b is not None and b.stats is None else None
    metrics: dict[str, float] = {}
    settings: dict = {"mode": mode, "dims": dims}
    if isc:
        _isc_splits(isc_splits, len(fa.logits), a.label)
        metrics["inception_score_mean"], metrics["inception_score_std"] = CONVENTIONS[mode].isc(
            fa.logits, isc_splits
        )
        settings["isc_splits"] = isc_splits
    sa = a.stats or fa.moments.statistics(mode, a.label)
    sb = (b.stats or fb.moments.statistics(mode, b.label)) if b is not None else None
    if kid:
        size = _kid_size(kid_subset_size, len(fa.kept), len(fb.kept), mode, (a.label, b.label))
        mean, std = CONVENTIONS[mode].kid(fa.kept.numpy(), fb.kept.numpy(), kid_subsets, size)
        metrics["kernel_inception_distance_mean"], metrics["kernel_inception_distance_std"] = mean, std
        settings.update(kid_subsets=kid_subsets, kid_subset_size=size, kid_kernel="polynomial, degree 3")
    if fid:
        metrics["frechet_inception_distance"] = frechet_distance(sa, sb, CONVENTIONS[mode].fid)
        if why := unreliable([sa, sb], dims):
            warnings.warn(f"the FID is not reliable: {why}", stacklevel=3)
    _finite(metrics)
    settings.update(
        images={s.source: s.count for s in (sa, sb) if s is not None},
        skipped={x.source: len(f.bad) for x, f in ((sa, fa), (sb, fb)) if f is not None and f.bad},
        weights={"file": network.file, "sha256": network.sha256} if network else None,
        processes=world.size,
    )
    return MetricResult(metrics, settings)


def _finite(metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise MetricError(f"{name} came out {value}: the inputs give no number for it")


def _inputs(
    input1, input2, mode: str, dims: int, pair: bool, kid: bool, isc: bool
) -> tuple[_Input, _Input | None]:
    a = _input(input1, "input 1", mode, dims)
    b = _input(input2, "input 2", mode, dims) if input2 is not None else None
    if pair and b is None:
        raise MetricError("FID and KID compare two inputs; only one was given")
    if isc and a.stats is not None:
        raise MetricError(f"{a.label}: the Inception Score needs images, not a statistics file")
    for x in (a, b):
        if kid and x is not None and x.stats is not None:
            raise MetricError(f"{x.label}: KID needs images (their features), not a statistics file")
    return a, b


def compute_statistics(
    source: Source,
    *,
    mode: str = "pytorch-fid",
    dims: int = 2048,
    weights: str | os.PathLike | None = None,
    network: Network | None = None,
    settings: RunSettings | None = None,
    **overrides: object,
) -> Statistics:
    """The mean and covariance of ``source``'s features (a folder, a tensor or an iterable of batches);
    other arguments as for :func:`calculate_metrics`."""
    _check_mode(mode)
    run = settings_from(settings, overrides)
    dev = process_device(run.device)
    world = join(dev)
    inp = _input(source, "input", mode, dims)
    if inp.stats is not None:
        return inp.stats
    net = network or Network.load(weights, mode)
    features = FIDFeatures(net.model, dims, fast=CONVENTIONS[mode].fast).to(dev)
    return _run(inp, _runner(features, mode, dev, world, run), run.skip_bad).moments.statistics(mode, inp.label)


def _runner(net: FIDFeatures, mode: str, dev: torch.device, world: World, run: RunSettings, **keep: bool) -> Runner:
    progress = run.progress is not False  # None: a bar on a terminal
    return Runner(net, mode, dev, world, run.batch(BATCH_SIZE), run.worker_count(), progress, **keep)


__all__ = ["CLASSES", "MetricResult", "Network", "World", "calculate_metrics", "compute_statistics"]
