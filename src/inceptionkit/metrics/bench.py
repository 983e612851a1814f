"""``inceptionkit fid bench A B``: images per second of ``inceptionkit fid`` against pytorch-fid's own
code, on the same folders, in the same run, with the same weights file, and both FIDs.

Only the feature statistics are timed (pytorch-fid's ``compute_statistics_of_path``, our
``compute_statistics``); the Fréchet distance (a matrix square root, the same in both) is not.
pytorch-fid is given the weights file the way it finds its own: in torch.hub's cache, under a
temporary ``TORCH_HOME``.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import EngineError
from .api import Network, compute_statistics
from .stats import Statistics, frechet_distance


@dataclass
class BenchResult:
    images: int
    ours_s: float
    theirs_s: float
    fid_ours: float
    fid_theirs: float

    @property
    def speedup(self) -> float:
        return self.theirs_s / self.ours_s

    @property
    def relative_difference(self) -> float:
        return abs(self.fid_ours - self.fid_theirs) / max(abs(self.fid_theirs), 1e-12)

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "inceptionkit_images_per_s": self.images / self.ours_s,
            "pytorch_fid_images_per_s": self.images / self.theirs_s,
            "speedup": self.speedup,
            "fid_inceptionkit": self.fid_ours,
            "fid_pytorch_fid": self.fid_theirs,
            "fid_relative_difference": self.relative_difference,
        }


def _pytorch_fid(net: Network, folders: list[str], dims: int, batch_size: int, workers: int, device: str):
    try:
        from pytorch_fid import fid_score
        from pytorch_fid.inception import FID_WEIGHTS_URL, InceptionV3
    except ImportError:
        raise EngineError("fid bench compares with pytorch-fid: pip install pytorch-fid") from None
    with tempfile.TemporaryDirectory() as home:
        hub = Path(home, "hub", "checkpoints")
        hub.mkdir(parents=True)
        (hub / FID_WEIGHTS_URL.rsplit("/", 1)[1]).symlink_to(Path(net.file).resolve())
        old = os.environ.get("TORCH_HOME")
        os.environ["TORCH_HOME"] = home
        try:
            model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).to(device)
        finally:
            os.environ.pop("TORCH_HOME") if old is None else os.environ.__setitem__("TORCH_HOME", old)
    start = time.perf_counter()
    stats = [
        fid_score.compute_statistics_of_path(f, model, batch_size, dims, device, workers) for f in folders
    ]
    seconds = time.perf_counter() - start
    return [
        Statistics(mu, sigma, None, "pytorch-fid", f) for f, (mu, sigma) in zip(folders, stats, strict=True)
    ], seconds


def benchmark_fid(
    a: str,
    b: str,
    *,
    weights: str | None = None,
    dims: int = 2048,
    batch_size: int = 50,
    workers: int = 0,
    device: str = "cpu",
) -> BenchResult:
    """Both tools on folders ``a`` and ``b`` (pytorch-fid needs images of one size, not in sub-folders)."""
    net = Network.load(weights, "pytorch-fid")
    theirs, theirs_s = _pytorch_fid(net, [a, b], dims, batch_size, workers, device)
    start = time.perf_counter()
    ours = [
        compute_statistics(f, dims=dims, network=net, batch_size=batch_size, workers=workers, device=device)
        for f in (a, b)
    ]
    ours_s = time.perf_counter() - start
    n = sum(s.count for s in ours)
    with torch.no_grad():
        fid_ours, fid_theirs = frechet_distance(*ours), frechet_distance(*theirs)
    return BenchResult(n, ours_s, theirs_s, fid_ours, fid_theirs)
