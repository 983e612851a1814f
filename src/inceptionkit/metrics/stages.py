"""``inceptionkit fid bench A B --stages``: where the time of an FID goes, stage by stage.

Each stage is timed on its own over every image of both folders, in this process, one after the
other: **decode** (the one image pipeline: file to RGB pixels), **resize** (the mode's pipeline, to
the network's 299 x 299 input), **network** (the run's exact engine on the resized tensors, ready in
memory: the engine's own rate; before the clock starts the engine is chosen, built, checked against
fp32 and run once, a cost each run pays once, timed apart as ``setup``), **statistics** (the
float64 running moments of the features). Then both folders' statistics are computed end to end as
``inceptionkit fid`` computes them (the loading loop's workers decoding and resizing while the
network runs), on the same engine,
and the Fréchet distance of the two is timed apart: it is one matrix square root per FID, the same in
every tool, whatever the number of images. ``efficiency`` is the end-to-end rate over the network's:
1.0 means decoding, resizing and statistics cost the network nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from ..images import load_image
from ..settings import RunSettings
from .api import BATCH_SIZE, Network, _run, _runner, _setup
from .conventions import CONVENTIONS
from .inputs import open_input
from .network import fid_outputs
from .pipelines import PIPELINES, image_to_tensor
from .stats import Moments, frechet_distance


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    images: int

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class StageReport:
    stages: list[Stage]
    end_to_end: Stage
    setup_s: float  # the engine's choice, build, check against fp32 and first batch: once per run
    distance_s: float  # the Fréchet distance of the two statistics: once per FID, whatever the count
    engine: str  # the engine the network ran on, described
    workers: int
    batch_size: int
    fid: float
    load: tuple[float, float, float]  # os.getloadavg() before the run

    @property
    def efficiency(self) -> float:
        """End to end images/s over the network's own images/s on ready tensors."""
        network = next(s for s in self.stages if s.name == "network")
        return self.end_to_end.images_per_s / network.images_per_s

    def share(self, stage: Stage) -> float:
        """The stage's part of the stages' summed time (what a pass without overlap would take)."""
        return stage.seconds / sum(s.seconds for s in self.stages)

    def as_dict(self) -> dict:
        return {
            "stages": {s.name: {"seconds": s.seconds, "images_per_s": s.images_per_s, "share": self.share(s)}
                       for s in self.stages},  # fmt: skip
            "end_to_end": {"seconds": self.end_to_end.seconds, "images_per_s": self.end_to_end.images_per_s},
            "setup_seconds": self.setup_s, "distance_seconds": self.distance_s,
            "efficiency": self.efficiency,
            "engine": self.engine, "workers": self.workers, "batch_size": self.batch_size,
            "fid": self.fid, "load_average": list(self.load),
        }  # fmt: skip


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def measure_stages(
    a: str, b: str, *, mode: str = "pytorch-fid", dims: int = 2048, network: Network, settings: RunSettings
) -> StageReport:
    """Each stage of the FID of folders ``a`` and ``b`` timed alone, then the whole FID end to end."""
    load = os.getloadavg()
    run, dev, world = _setup(settings, {})
    inputs = [open_input(x, label, mode, dims) for x, label in ((a, "input 1"), (b, "input 2"))]
    files = [x.files for x in inputs]
    everything = [f for part in files for f in part]
    pixels, decode_s = _timed(lambda: [image_to_tensor(load_image(f, "RGB")) for f in everything])
    resized, resize_s = _timed(lambda: [PIPELINES[mode](p[None])[0] for p in pixels])
    pixels.clear()  # (the decoded images are no longer needed)
    batch = run.batch(BATCH_SIZE)
    runner = _runner(network, fid_outputs(dims), mode, dev, world, run, inputs)  # one network, as fid A B has
    net = runner.net
    batches = [torch.stack(resized[i : i + batch]) for i in range(0, len(resized), batch)]
    _, setup_s = _timed(net, batches[0])  # the engine chosen (auto measures), checked and warmed up
    features, network_s = _timed(lambda: [net(x)[0] for x in batches])
    cut = len(files[0])
    rows = torch.cat(features)

    def moments() -> list[Moments]:
        both = [Moments(rows.shape[1]), Moments(rows.shape[1])]
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            both[0].add(part[: max(0, cut - i)])
            both[1].add(part[max(0, cut - i) :])
        return both

    _, stats_s = _timed(moments)
    (sa, sb), end_s = _timed(lambda: [_run(x, runner, run.skip_bad).moments.statistics(mode, x.label) for x in inputs])
    fid, distance_s = _timed(frechet_distance, sa, sb, CONVENTIONS[mode].fid)
    n = len(everything)
    stages = [Stage("decode", decode_s, n), Stage("resize", resize_s, n), Stage("network", network_s, n),
              Stage("statistics", stats_s, n)]  # fmt: skip
    return StageReport(
        stages, Stage("end to end", end_s, n), setup_s, distance_s, net.describe(), run.worker_count(), batch,
        fid, load,
    )  # fmt: skip
