"""End to end: ``predict`` over a folder of images against its engine on ready tensors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import DataError
from ..model import InceptionNet
from .timing import Spread, time_in_turns


@dataclass(frozen=True)
class PredictBench:
    """``predict`` over a folder with an engine, against that engine on bare tensors."""

    images: int
    batch_size: int
    threads: int
    workers: int
    passes: int
    engine_name: str  # the engine timed (auto's choice, with auto)
    end_to_end: Spread  # seconds per pass over the folder
    engine: Spread  # seconds per batch of random tensors

    @property
    def end_to_end_images_per_s(self) -> float:
        return self.images / self.end_to_end.median

    @property
    def engine_images_per_s(self) -> float:
        return self.batch_size / self.engine.median

    @property
    def ratio(self) -> float:
        return self.end_to_end_images_per_s / self.engine_images_per_s

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "workers": self.workers,
            "passes": self.passes,
            "engine": self.engine_name,
            "end_to_end_images_per_s": self.end_to_end_images_per_s,
            "engine_images_per_s": self.engine_images_per_s,
            "ratio": self.ratio,
            "end_to_end_s": asdict(self.end_to_end),
            "engine_batch_s": asdict(self.engine),
        }


def benchmark_predict(
    model: InceptionNet,
    folder: str | Path,
    *,
    engine: str = "auto",
    batch_size: int = 8,
    threads: int | None = None,
    workers: int | None = None,
    passes: int = 3,
    cache_dir: str | Path | None = None,
) -> PredictBench:
    """Images/s of :func:`inceptionkit.predict` over ``folder`` (decoding, preprocessing, the engine,
    top-5) next to the same engine on ready tensors of the same batch size. With ``auto``, the first
    (untimed) pass makes the choice and the engine it chose is the one timed on tensors. Each round
    is one pass over the folder and as many engine calls as the pass has batches."""
    from ..engines import build_engine, export_size
    from ..images import find_images
    from ..inference import predict
    from ..settings import RunSettings, default_workers

    threads = threads or torch.get_num_threads()
    workers = default_workers() if workers is None else workers
    n = sum(1 for s in find_images([folder]) if not s.error)
    if n == 0:
        raise DataError(f"{folder}: no images in this folder")
    opts = RunSettings(batch_size, workers, engine=engine, threads=threads, cache_dir=cache_dir, progress=False)
    chosen = predict(model, folder, opts, log=lambda line: None).engine or "torch"  # measures: untimed
    size = export_size(model)
    runner = build_engine(chosen, model, size=size, threads=threads, cache_dir=cache_dir)
    x = torch.randn(batch_size, model.in_chans, size, size)
    batches = -(-n // batch_size)

    def one_pass() -> None:
        predict(model, folder, opts.replace(engine=chosen))

    def bare() -> None:
        for _ in range(batches):
            runner(x)

    times = time_in_turns({"predict": one_pass, "engine": bare}, warmup=1, runs=passes)
    per_batch = [t / batches for t in times["engine"]]
    return PredictBench(
        n, batch_size, threads, workers, passes, chosen, Spread.of(times["predict"]), Spread.of(per_batch)
    )


def write_sample_photos(folder: str | Path, n: int = 64, size: int = 400) -> list[Path]:
    """``n`` JPEG photos (``size`` px on the longer side) cut from scikit-learn's two sample photos
    (``china.jpg``, ``flower.jpg``): varied crops and scales, for end-to-end benchmarks."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(load_sample_image(f)) for f in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = photos[i % 2]
        w, h = img.size
        cw, ch = (int(d * rng.uniform(0.4, 1.0)) for d in (w, h))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((left, top, left + cw, top + ch))
        crop.thumbnail((size, size))
        paths.append(folder / f"photo_{i:03d}.jpg")
        crop.save(paths[-1], quality=90)
    return paths
