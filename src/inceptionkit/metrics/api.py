"""``calculate_metrics`` and ``compute_statistics``: FID, KID and IS of folders, statistics files,
tensors or iterators of batches, computed the way the chosen library computes them."""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..devices import World, join, process_device
from ..engines.memo import tensor_state
from ..errors import InceptionKitWarning, MetricError, UnreadableImages
from ..fileio import file_sha256
from ..model import InceptionNet
from ..settings import RunSettings, settings_from
from ..weights.load import resolve
from .checks import caution, isc_caution, kid_caution
from .conventions import CONVENTIONS
from .engine import BATCH_SIZE, ExactNetwork, check_metric_engine
from .evaluation import POOL_DIMS, evaluator_table, reference_from
from .extract import Features, Runner
from .extras import Extras, caveats
from .inputs import EVALUATOR, Input, Source, extract, image_sources, images_to_run, open_input
from .network import CLASSES, EVALUATOR_OUTPUTS, fid_outputs, load_fid_model
from .notes import noting
from .pipelines import MODES
from .stats import Statistics, frechet_distance

log = logging.getLogger("inceptionkit.metrics")

# whose published file each mode loads by default (clean-fid runs NVIDIA's torchscript copy of the
# same TensorFlow weights, which cannot be loaded without its code; pytorch-fid's file is the same graph)
DEFAULT_WEIGHTS = {mode: c.weights for mode, c in CONVENTIONS.items()}


@dataclass
class Network:
    """The FID network, loaded once, and where its weights came from."""

    model: InceptionNet
    file: str = ""
    sha256: str = ""

    @classmethod
    def load(cls, weights: str | os.PathLike | None, mode: str) -> Network:
        """The network of ``weights`` (a file or tag; None: the mode's published file). Loaded once per
        process while the file is unchanged (path, size, modification time) and the model's tensors
        are untouched: a second metric in the process reuses it, and the engines built for it."""
        path, _ = resolve("inception_v3", DEFAULT_WEIGHTS[mode] if weights is None else weights)
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        kept = _LOADED.get(key)
        if kept is not None and kept[1] == tensor_state(kept[0].model):
            return kept[0]
        network = cls(load_fid_model(path), str(path), file_sha256(path))
        _LOADED.clear()  # one network kept: the FID network is 95 MB
        _LOADED[key] = (network, tensor_state(network.model))
        return network


_LOADED: dict[tuple, tuple[Network, tuple]] = {}  # Network.load's: (file, size, mtime) -> network, state


@dataclass(frozen=True)
class Kept:
    """One input's feature vectors (N, dims), rows in input order without the unreadable images, and
    each row's image (:func:`~.inputs.image_sources`; empty for tensors and iterators)."""

    features: np.ndarray
    sources: list


@dataclass
class MetricResult:
    """The figures under torch-fidelity's names, and the settings that reproduce them."""

    metrics: dict[str, float]
    settings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # why a figure may mean little, as shown
    # ``report=True``: each input's kept features and images, for a report; not part of as_dict()
    kept: tuple[Kept | None, Kept | None] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {**self.metrics, "settings": self.settings, "warnings": self.warnings}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise MetricError(f"mode {mode}: use one of {', '.join(MODES)}", field="mode")


def _isc_splits(splits: int, n: int, label: str) -> None:
    if splits > n:  # a split without images has no score
        raise MetricError(
            f"the Inception Score in {splits} splits needs at least {splits} images; {label} has {n}: "
            f"use {n} splits or fewer"
        )


def _refuse_nan_settings(a: Input, kid_subset_size: int, isc_splits: int) -> None:
    if kid_subset_size and kid_subset_size < 2:  # the unbiased estimator divides by m (m - 1)
        raise MetricError(f"KID subset size {kid_subset_size}: KID needs subsets of at least 2 images")
    if isc_splits and a.count is not None:
        _isc_splits(isc_splits, a.count, a.label)


def _run(inp: Input, runner: Runner, skip_bad: bool) -> Features:
    out = extract(inp, runner)
    if out.bad:
        listed = "; ".join(f"{f} ({why})" for f, why in out.bad[:10])
        more = f"; and {len(out.bad) - 10} more" if len(out.bad) > 10 else ""
        if not skip_bad:
            raise UnreadableImages(
                f"{inp.label}: {len(out.bad)} of {inp.count} images cannot be read: {listed}{more}; "
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
        f"KID subset size reduced from {asked} to {smallest}, the smaller input's count", InceptionKitWarning, stacklevel=3
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
    prdc: bool = False,
    prdc_k: int | tuple[int, int] = (3, 5),
    fid_infinity: bool = False,
    fid_infinity_min_size: int = 5000,
    ci: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    weights: str | os.PathLike | None = None,
    network: Network | None = None,
    settings: RunSettings | None = None,
    report: bool = False,
    **overrides: object,
) -> MetricResult:
    """FID (and KID, IS) of ``input1`` against ``input2``, each a folder (searched recursively), a
    statistics ``.npz`` file, a tensor (N, 3, H, W) or an iterable of such batches (uint8 pixels or
    floats in [0, 1]). IS is ``input1``'s, as torch-fidelity computes it. ``weights``: a file or tag
    (default: the mode's published file); ``network`` (:meth:`Network.load`) skips loading it again.
    ``settings`` (or its fields as keywords, e.g. ``batch_size=50, workers=2, skip_bad=True``): how to
    run (:class:`~inceptionkit.settings.RunSettings`; the batch size is 50, as pytorch-fid's).

    Input 1 is the reference, input 2 the generated samples for the figures of :mod:`.extras`:
    ``prdc`` (precision, recall, density, coverage; ``prdc_k``: one k, or (3, 5): k for precision and
    recall, k for density and coverage), ``fid_infinity`` (FD∞ from ``fid_infinity_min_size`` samples
    up), ``ci`` (the confidence level of percentile bootstrap intervals for FID and KID, from
    ``bootstrap`` resamples drawn with ``seed``). Mode ``guided-diffusion`` gives guided-diffusion's
    evaluator's table (:mod:`.evaluation`): its IS of input 2, FID, sFID, precision and recall.
    ``report``: keep each input's features and images in the result (:attr:`MetricResult.kept`)."""
    _check_mode(mode)
    run, dev, world = _setup(settings, overrides)
    extras = Extras.of(prdc_k, prdc=prdc, fid_infinity=fid_infinity, fid_infinity_min_size=fid_infinity_min_size,
                       ci=ci, bootstrap=bootstrap, seed=seed)  # fmt: skip
    a, b = _inputs(input1, input2, mode, dims, fid or kid or extras.needs_features, kid, isc and mode != EVALUATOR)
    _refuse_nan_settings(a, kid and kid_subset_size, isc and isc_splits)  # before any image is read
    if kid and b is not None and a.count is not None and b.count is not None and CONVENTIONS[mode].strict_kid:
        _kid_size(kid_subset_size, a.count, b.count, mode, (a.label, b.label))  # a refusal: before the network
    if b is not None:
        extras.check_inputs(a.has_images, b.has_images, (a.label, b.label))
        extras.check_counts({x.label: x.count for x in (a, b) if x.count is not None} if b.count else {})
    if mode == EVALUATOR:
        result, features = _evaluator(a, b, weights, network, run, dev, world, extras, kid, dims)
        return _keep(result, (a, b), features, report)
    fa = fb = runner = None
    if a.stats is None or (b is not None and b.stats is None):  # statistics files need no network
        network = network or Network.load(weights, mode)
        names = fid_outputs(dims, logits=isc)
        ahead = [x for x in (a, b) if x is not None and x.stats is None]
        runner = _runner(network, names, mode, dev, world, run, ahead, keep_features=kid or extras.needs_features or report)
        fa = _run(a, replace(runner, keep_logits=isc), run.skip_bad) if a.stats is None else None
        fb = _run(b, runner, run.skip_bad) if b is not None and b.stats is None else None
    metrics: dict[str, float] = {}
    settings: dict = {"mode": mode, "dims": dims}
    if runner is not None:
        settings["engine"] = runner.net.describe()
    if isc:
        _isc_splits(isc_splits, len(fa.logits), a.label)
        isc_caution(len(fa.logits), isc_splits, a.label)
        metrics["inception_score_mean"], metrics["inception_score_std"] = CONVENTIONS[mode].isc(
            fa.logits, isc_splits
        )
        settings["isc_splits"] = isc_splits
    sa = a.stats or fa.moments.statistics(mode, a.label)
    sb = (b.stats or fb.moments.statistics(mode, b.label)) if b is not None else None
    if kid:
        size = _kid_size(kid_subset_size, len(fa.kept), len(fb.kept), mode, (a.label, b.label))
        kid_caution(size, len(fa.kept), len(fb.kept))
        mean, std = CONVENTIONS[mode].kid(fa.kept.numpy(), fb.kept.numpy(), kid_subsets, size)
        metrics["kernel_inception_distance_mean"], metrics["kernel_inception_distance_std"] = mean, std
        settings.update(kid_subsets=kid_subsets, kid_subset_size=size, kid_kernel="polynomial, degree 3")
    if fid:
        metrics["frechet_inception_distance"] = frechet_distance(sa, sb, CONVENTIONS[mode].fid)
        caution([sa, sb], dims)
    if extras.needs_features:
        extras.check_counts({x.label: len(f.kept) for x, f in ((a, fa), (b, fb)) if f is not None})
        kid_sizes = (kid_subsets, settings["kid_subset_size"]) if kid else None
        real = fa.kept.numpy() if fa is not None else None
        extra, extra_settings = extras.compute(real, fb.kept.numpy(), sa, method=CONVENTIONS[mode].fid, kid=kid_sizes)
        metrics.update(extra)
        settings.update(extra_settings)
        caveats(metrics, settings)
    _finite(metrics)
    settings.update(
        images={s.source: s.count for s in (sa, sb) if s is not None},
        skipped={x.source: len(f.bad) for x, f in ((sa, fa), (sb, fb)) if f is not None and f.bad},
        weights={"file": network.file, "sha256": network.sha256} if network else None,
        processes=world.size,
    )
    return _keep(MetricResult(metrics, settings), (a, b), (fa, fb), report)


def _keep(result: MetricResult, inputs: tuple, features: tuple, report: bool) -> MetricResult:
    """``report``: the result with each input's kept features and images; else without them."""
    if not report:
        return result
    kept = tuple(
        Kept(f.kept.numpy(), image_sources(x, f.bad)) if f is not None and f.kept is not None else None
        for x, f in zip(inputs, features, strict=True)
    )
    return replace(result, kept=kept)


def _finite(metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise MetricError(f"{name} came out {value}: the inputs give no number for it")
def _evaluator(
    a: Input, b: Input, weights, network: Network | None, run: RunSettings, dev: torch.device, world: World,
    extras: Extras, kid: bool, dims: int,
) -> tuple[MetricResult, tuple[Features | None, Features]]:
    """Mode guided-diffusion: the evaluator's table (:mod:`.evaluation`), input 1 the reference, and
    the two inputs' features."""
    if kid or dims != POOL_DIMS:
        what = "KID" if kid else f"--dims {dims}"
        raise MetricError(f"{EVALUATOR}: the evaluator computes no {what}; it reads pool_3 (2048 dims)")
    if not b.has_images:
        raise MetricError(f"{b.label}: the evaluator's samples must be images, not a statistics file")
    network = network or Network.load(weights, EVALUATOR)
    ahead = [a, b] if a.has_images else [b]
    runner = _runner(network, EVALUATOR_OUTPUTS, EVALUATOR, dev, world, run, ahead, keep_features=True)
    runner = replace(runner, keep_logits=True)  # the second output: the spatial features
    fa = _run(a, runner, run.skip_bad) if a.has_images else None
    fb = _run(b, runner, run.skip_bad)
    metrics, settings = evaluator_table(a, b, fa, fb, network.model, extras)
    _finite(metrics)
    settings = {"mode": EVALUATOR, **settings, "engine": runner.net.describe()}
    settings.update(
        images={x.label: (f.moments.count if f is not None else x.stats.count) for x, f in ((a, fa), (b, fb))},
        skipped={x.label: len(f.bad) for x, f in ((a, fa), (b, fb)) if f is not None and f.bad},
        weights={"file": network.file, "sha256": network.sha256}, processes=world.size,
    )  # fmt: skip
    return MetricResult(metrics, settings), (fa, fb)


def _inputs(
    input1, input2, mode: str, dims: int, pair: bool, kid: bool, isc: bool
) -> tuple[Input, Input | None]:
    a = open_input(input1, "input 1", mode, dims)
    b = open_input(input2, "input 2", mode, dims) if input2 is not None else None
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
    run, dev, world = _setup(settings, overrides)
    inp = open_input(source, "input", mode, dims)
    if inp.stats is not None:
        return inp.stats
    net = network or Network.load(weights, mode)
    runner = _runner(net, fid_outputs(dims), mode, dev, world, run, [inp])
    return _run(inp, runner, run.skip_bad).moments.statistics(mode, inp.label)


def compute_reference(
    source: Source,
    *,
    mode: str = EVALUATOR,
    dims: int = POOL_DIMS,
    weights: str | os.PathLike | None = None,
    network: Network | None = None,
    settings: RunSettings | None = None,
    **overrides: object,
) -> tuple[Statistics, Statistics]:
    """guided-diffusion's statistics of ``source`` (pool_3 and spatial: ``mu``, ``sigma``, ``mu_s``,
    ``sigma_s``), for :func:`~.evaluation.save_reference`; other arguments as for :func:`calculate_metrics`."""
    if mode != EVALUATOR or dims != POOL_DIMS:
        raise MetricError(f"reference batches are {EVALUATOR}'s (2048 dims); mode {mode}, {dims} dims asked")
    run, dev, world = _setup(settings, overrides)
    inp = open_input(source, "input", mode, dims)
    if not inp.has_images:
        raise MetricError(f"{inp.label}: a statistics file; a reference batch is computed from images")
    network = network or Network.load(weights, mode)
    runner = _runner(network, EVALUATOR_OUTPUTS, mode, dev, world, run, [inp], keep_features=True)
    return reference_from(_run(inp, replace(runner, keep_logits=True), run.skip_bad), inp.label)


def _setup(settings: RunSettings | None, overrides: dict) -> tuple[RunSettings, torch.device, World]:
    """The run settings, with the engine checked before anything is read (a named engine other than
    ``torch`` runs on the CPU, so its device defaults to the CPU), the device and the process group."""
    run = settings_from(settings, overrides)
    check_metric_engine(run.engine or "auto", run.device)
    if run.device is None and run.engine not in (None, "auto", "torch"):
        run = run.replace(device="cpu")
    dev = process_device(run.device)
    return run, dev, join(dev)


def _runner(
    network: Network, names: tuple[str, ...], mode: str, dev: torch.device, world: World, run: RunSettings,
    ahead: list[Input], **keep: bool,
) -> Runner:
    """The runner of outputs ``names`` on the run's exact engine (:class:`~.engine.ExactNetwork`), for
    the inputs ``ahead`` (how many images they hold decides whether ``auto`` measures the engines)."""
    net = ExactNetwork(network.model, names, run, dev)
    net.expect(images_to_run(ahead, world), world.size)
    progress = run.progress is not False  # None: a bar on a terminal
    return Runner(net, mode, dev, world, run.batch(BATCH_SIZE), run.worker_count(), progress, **keep)


__all__ = [
    "CLASSES", "MetricResult", "Network", "World", "calculate_metrics", "compute_reference", "compute_statistics",
]  # fmt: skip
