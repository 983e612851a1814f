"""Issue 18, C: guided-diffusion's evaluator.py arithmetic on activations, against its formulas restated
here in numpy from the file (TensorFlow is not installed; each TF op is one numpy op in its dtype,
exact products rounded once), equal to <= 1e-5; and its spatial tensor located in our network.

What the file says (evaluations/evaluator.py): IS ``np.exp(np.mean(np.sum(p * (log p - log mean p),
1)))`` over consecutive splits of 5,000, mean of the splits; FID/sFID ``np.mean``, ``np.cov``, TTUR's
Fréchet distance; precision/recall: ``_batch_pairwise_distances`` = ``max(|u|^2 - 2 u v^T + |v|^2, 0)``
on float16 casts (float32 where not finite), radii ``np.partition`` index k = 3, ``<=``, blocks of
rows and columns.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import fid_weights_file, photo

from inceptionkit.errors import MetricError
from inceptionkit.metrics import guided_diffusion as gd

ROWS, COLS = 70, 90  # small blocks: rows and columns both stream, the last ones partial


def _pool_like(n: int, d: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.abs(rng.normal(size=(n, d))) * rng.uniform(0.2, 1.0, d) * scale).astype(np.float32)


# -- the file's formulas, restated ------------------------------------------------------------------


def np_distances(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    def block(u, v, dt):
        u, v = u.astype(dt), v.astype(dt)
        norm_u = (u * u).astype(np.float64).sum(1).astype(dt)  # tf.reduce_sum(tf.square(U), 1)
        norm_v = (v * v).astype(np.float64).sum(1).astype(dt)
        uv = (u.astype(np.float64) @ v.astype(np.float64).T).astype(dt)  # tf.matmul(U, V, False, True)
        return np.maximum(norm_u[:, None] - 2 * uv + norm_v[None, :], dt(0))

    d16 = block(u, v, np.float16)
    return d16.astype(np.float32) if np.isfinite(d16).all() else block(u, v, np.float32)


def np_radii(x: np.ndarray, k: int = 3, clamp=None) -> np.ndarray:
    radii = np.zeros(len(x), dtype=np.float32)
    for b1 in range(0, len(x), ROWS):
        row = np.concatenate(
            [np_distances(x[b1 : b1 + ROWS], x[b2 : b2 + COLS]) for b2 in range(0, len(x), COLS)], 1
        )
        radii[b1 : b1 + ROWS] = np.partition(row, np.arange(k + 1), axis=1)[:, k]
    if clamp is not None:
        radii[radii > np.percentile(radii, clamp, axis=0)] = 0
    return radii


def np_precision_recall(ref, sample, clamp=None):
    r1, r2 = np_radii(ref, clamp=clamp), np_radii(sample, clamp=clamp)
    s1, s2 = np.zeros(len(ref), bool), np.zeros(len(sample), bool)
    for b1 in range(0, len(ref), ROWS):
        for b2 in range(0, len(sample), COLS):
            d = np_distances(ref[b1 : b1 + ROWS], sample[b2 : b2 + COLS])
            s1[b1 : b1 + ROWS] |= (d <= r2[None, b2 : b2 + COLS]).any(1)
            s2[b2 : b2 + COLS] |= (d <= r1[b1 : b1 + ROWS, None]).any(0)
    return s2.mean(), s1.mean()


def np_inception_score(pool, w, split=5000):
    logits = pool @ w
    e = np.exp(logits - logits.max(1, keepdims=True))
    preds = e / e.sum(1, keepdims=True)
    scores = []
    for i in range(0, len(preds), split):
        part = preds[i : i + split]
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(np.mean(part, 0)[None])), 1))))
    return float(np.mean(scores))


# -- the tests ---------------------------------------------------------------------------------------


def test_precision_and_recall_are_the_evaluators():
    ref, sample = _pool_like(400, 16, 0), _pool_like(330, 16, 1, scale=1.1)
    theirs = np_precision_recall(ref, sample)
    ours = gd.precision_recall(ref, sample, row_batch=ROWS, col_batch=COLS)
    assert ours == pytest.approx(theirs, abs=1e-5)
    assert 0.05 < theirs[0] < 0.95 and 0.05 < theirs[1] < 0.95


def test_float16_overflow_falls_back_to_float32_block_by_block():
    """Rows 0-69 (the first row block) scaled past float16's 65,504: those blocks use float32, the
    others float16; the restatement decides per block likewise."""
    ref, sample = _pool_like(300, 64, 2), _pool_like(300, 64, 3)
    ref[:ROWS] *= 60
    assert not np.isfinite(np_distances(ref[:ROWS], sample[:COLS]).astype(np.float16)).all()
    theirs = np_precision_recall(ref, sample)
    assert gd.precision_recall(ref, sample, row_batch=ROWS, col_batch=COLS) == pytest.approx(theirs, abs=1e-5)
    assert np.array_equal(gd.manifold_radii(ref, row_batch=ROWS, col_batch=COLS), np_radii(ref))


def test_clamp_to_percentile_zeroes_the_largest_radii():
    ref, sample = _pool_like(300, 32, 4), _pool_like(300, 32, 5)
    theirs = np_precision_recall(ref, sample, clamp=50)
    ours = gd.precision_recall(ref, sample, row_batch=ROWS, col_batch=COLS, clamp_to_percentile=50)
    assert ours == pytest.approx(theirs, abs=1e-5)
    assert ours != gd.precision_recall(ref, sample, row_batch=ROWS, col_batch=COLS)
    assert (gd.manifold_radii(ref, clamp_to_percentile=50) == 0).mean() == pytest.approx(0.5, abs=0.01)


def test_inception_score_splits_of_5000():
    rng = np.random.default_rng(6)
    pool, w = _pool_like(12000, 48, 7), (rng.normal(size=(48, 30)) * 0.5).astype(np.float32)
    pool[:5000] *= 2  # the first split unlike the others
    theirs = np_inception_score(pool, w)  # splits of 5000, 5000 and 2000
    assert abs(gd.inception_score(pool, w) - theirs) <= 1e-5 * theirs
    assert abs(gd.inception_score(pool, w, split_size=12000) - theirs) > 0.01  # the split size matters


def test_fid_and_sfid_from_activations_and_from_saved_statistics():
    from pytorch_fid.fid_score import calculate_frechet_distance

    ref, sample = _pool_like(500, 40, 8), _pool_like(400, 40, 9, scale=1.2)
    ref_s, sample_s = _pool_like(500, 28, 10), _pool_like(400, 28, 11)
    want = calculate_frechet_distance(
        np.mean(sample, 0), np.cov(sample, rowvar=False), np.mean(ref, 0), np.cov(ref, rowvar=False)
    )
    assert abs(gd.fid(gd.statistics(sample), gd.statistics(ref)) - want) <= 1e-5 * want
    assert gd.statistics(sample).mu.dtype == np.float32  # np.mean of float32 activations, as the evaluator
    saved = (gd.statistics(ref), gd.statistics(ref_s))
    w = np.random.default_rng(12).normal(size=(40, 10)).astype(np.float32)
    table = gd.evaluate(gd.Activations(ref, stats=saved), gd.Activations(sample, sample_s), w)
    want_s = calculate_frechet_distance(
        np.mean(sample_s, 0), np.cov(sample_s, rowvar=False), np.mean(ref_s, 0), np.cov(ref_s, rowvar=False)
    )
    assert table["fid"] == pytest.approx(want, rel=1e-5) and table["sfid"] == pytest.approx(want_s, rel=1e-5)
    assert (table["precision"], table["recall"]) == pytest.approx(
        np_precision_recall_default(ref, sample), abs=1e-5
    )


def np_precision_recall_default(ref, sample):
    global ROWS, COLS
    saved, (ROWS, COLS) = (ROWS, COLS), (10000, 10000)
    try:
        return np_precision_recall(ref, sample)
    finally:
        ROWS, COLS = saved


def test_too_few_features_are_refused():
    with pytest.raises(
        MetricError, match=r"^3 feature vectors; the evaluator's k-th neighbour \(k = 3\) needs at least 4$"
    ):
        gd.manifold_radii(_pool_like(3, 8, 0))
    with pytest.raises(MetricError, match="need pool and spatial activations, or saved statistics"):
        gd.Activations(_pool_like(10, 8, 0)).statistics()


@pytest.mark.slow
def test_spatial_tap_is_mixed_6d_branch1x1_first_7_channels(tmp_path):
    """The tensor the evaluator calls mixed_6/conv:0 is Mixed_6d's 1x1 branch (after its ReLU): our
    ``spatial`` output, on every exact engine, equals a hook on pytorch-fid's port of the same graph
    (Mixed_6d.branch1x1), first 7 channels, flattened height, width, channel: 2,023 numbers per image
    (within 1e-5 of its largest value)."""
    from helpers import pytorch_fid_network

    from inceptionkit.metrics import METRIC_ENGINES, load_fid_model
    from inceptionkit.metrics.engine import build
    from inceptionkit.settings import RunSettings

    weights = fid_weights_file(tmp_path)
    model = load_fid_model(weights)
    x = (
        torch.from_numpy(np.array(photo("astronaut").resize((299, 299)))).permute(2, 0, 1)[None].float()
        / 127.5
        - 1
    )
    spatial = {
        e: build(e, model, ("spatial",), RunSettings(cache_dir=tmp_path), torch.device("cpu"))(x)
        for e in METRIC_ENGINES
    }  # every exact engine
    ref = pytorch_fid_network()
    ref.load_state_dict(torch.load(weights, weights_only=True))
    seen = []
    handle = ref.eval().Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        ref(x)
    handle.remove()
    want = seen[0][:, :7].permute(0, 2, 3, 1).reshape(1, -1)
    assert want.shape == (1, 17 * 17 * 7) and want.abs().max() > 0.1
    for engine, got in spatial.items():
        assert got.shape == want.shape, engine
        assert (got - want).abs().max() <= 1e-5 * want.abs().max(), engine
