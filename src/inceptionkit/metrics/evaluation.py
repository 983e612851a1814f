"""Mode ``guided-diffusion``: guided-diffusion's ``evaluations/evaluator.py`` end to end, on our network.

The network pass gives, per image, the evaluator's two tensors (the outputs ``pool_2048`` and
``spatial`` of :class:`~.network.FIDOutputs`, on an exact fp32 engine): ``pool_3`` (2048) and the
spatial features (2,023).
Its table (:func:`evaluator_table`): the Inception Score of the samples (splits of 5,000), FID from
pool_3, sFID from the spatial features, precision and recall with its manifold estimator (k = 3,
float16 distances), input 1 the reference batch and input 2 the samples, as ``evaluator.py ref
sample``. A batch whose ``.npz`` holds ``mu``/``sigma`` and ``mu_s``/``sigma_s`` has them used as they
are (as the evaluator does); its ``arr_0`` images still give the activations precision and recall need.

:func:`save_reference` writes a reference batch as the evaluator reads it: the four statistics, and
``arr_0`` copied (streamed) from an ``.npz`` source, so the file serves the evaluator itself too.
"""

from __future__ import annotations

import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InceptionKitWarning, MetricError
from ..fileio import atomic_write
from ..model import InceptionNet
from . import guided_diffusion as gd
from .archives import IMAGES, npz_kind
from .checks import caution
from .extract import Features
from .extras import Extras, caveats
from .inputs import EVALUATOR, Input
from .network import OUTPUTS
from .stats import Statistics

POOL_DIMS, SPATIAL_DIMS = OUTPUTS["pool_2048"], OUTPUTS["spatial"]


def _activations(inp: Input | None, features: Features | None) -> gd.Activations:
    pool = features.kept.numpy() if features is not None else None
    spatial = features.logits.numpy() if features is not None else None  # the runner's second output
    saved = (inp.stats, inp.spatial) if inp is not None and inp.stats is not None else None
    return gd.Activations(pool, spatial, saved, inp.label if inp is not None else "")


def evaluator_table(
    ref_input: Input,
    sample_input: Input,
    ref: Features | None,
    sample: Features,
    model: InceptionNet,
    extras: Extras,
) -> tuple[dict[str, float], dict]:
    """(metrics, settings) of the evaluator's table, and of the extras on pool_3."""
    labels = {
        ref_input.label: len(ref.kept) if ref is not None else None,
        sample_input.label: len(sample.kept),
    }
    for label, n in labels.items():
        if n is not None and n < gd.K + 1:
            raise MetricError(
                f"{label}: {n} images; the evaluator's precision and recall (k = 3) need at least 4"
            )
    extras.check_counts({k: v for k, v in labels.items() if v is not None})
    r, s = _activations(ref_input, ref), _activations(sample_input, sample)
    (ref_pool, ref_spatial), (pool, spatial) = r.statistics(), s.statistics()
    weight = model.fc.weight.detach().float().T.numpy()
    metrics = {
        "inception_score_mean": gd.inception_score(s.pool, weight),
        "frechet_inception_distance": gd.fid(pool, ref_pool),
        "spatial_frechet_inception_distance": gd.fid(spatial, ref_spatial),
    }
    caution([ref_pool, pool], POOL_DIMS, stacklevel=5)
    caution([ref_spatial, spatial], SPATIAL_DIMS, "the sFID is", stacklevel=5)
    if r.pool is not None:
        metrics["precision"], metrics["recall"] = gd.precision_recall(r.pool, s.pool)
    else:
        warnings.warn(f"{ref_input.label}: no '{IMAGES}' images: precision and recall left out",
                      InceptionKitWarning, stacklevel=3)  # fmt: skip
    settings = {
        "dims": POOL_DIMS, "spatial_dims": SPATIAL_DIMS, "isc_split_size": gd.SPLIT_SIZE,
        "precision_recall": {"k": gd.K, "distances": "float16 (float32 where not finite)", "balls": "closed (<=)"},
        "statistics": {x.label: "saved (mu, sigma, mu_s, sigma_s)" if x.stats is not None else "computed"
                       for x in (ref_input, sample_input)},
    }  # fmt: skip
    if extras.prdc and extras.prdc_k[0] != gd.K:
        raise MetricError(
            f"{EVALUATOR}: precision and recall are the evaluator's, k = {gd.K}; {extras.prdc_k[0]} asked"
        )
    extra, extra_settings = extras.compute(r.pool, s.pool, ref_pool, method="sqrtm")
    extra = {k: v for k, v in extra.items() if k not in ("precision", "recall")}  # the evaluator's stay
    metrics, settings = {**metrics, **extra}, {**settings, **extra_settings}
    caveats(metrics, settings)
    return metrics, settings


def reference_from(features: Features, source: str) -> tuple[Statistics, Statistics]:
    """The evaluator's statistics of one batch: ``np.mean`` and ``np.cov`` of pool_3 and spatial."""
    pool, spatial = (
        gd.statistics(features.kept.numpy(), source),
        gd.statistics(features.logits.numpy(), source),
    )
    for s in (pool, spatial):
        s.mode = EVALUATOR
    return pool, spatial


def save_reference(
    path: str | Path, pool: Statistics, spatial: Statistics, images: str | Path | None = None
) -> bool:
    """A reference batch: ``mu``, ``sigma``, ``mu_s``, ``sigma_s`` (and our mode, dims and count), and
    the ``arr_0`` of ``images`` copied as it is (streamed) when that is an ``.npz`` image batch; written
    atomically. Returns whether ``arr_0`` was written."""
    arrays = {
        "mu": pool.mu, "sigma": pool.sigma, "mu_s": spatial.mu, "sigma_s": spatial.sigma,
        "inceptionkit_mode": np.array(EVALUATOR), "inceptionkit_dims": np.array(pool.dims),
        "inceptionkit_count": np.array(pool.count or 0),
    }  # fmt: skip
    source = Path(images) if images is not None else None
    copy = source is not None and source.is_file() and zipfile.is_zipfile(source) and npz_kind(source) == "images"

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
            if copy:
                with zipfile.ZipFile(source) as src, src.open(f"{IMAGES}.npy") as f:
                    with out.open(f"{IMAGES}.npy", "w", force_zip64=True) as g:
                        shutil.copyfileobj(f, g, 1 << 20)
            for key, value in arrays.items():
                with out.open(f"{key}.npy", "w", force_zip64=True) as g:
                    np.lib.format.write_array(g, np.asarray(value), allow_pickle=False)

    atomic_write(Path(path), write)
    return copy
