"""Issue 18, item 1: ``inceptionkit fid ref.npz samples.npz --mode guided-diffusion`` is guided-diffusion's
``evaluations/evaluator.py`` end to end, checked against an independent reproduction (TensorFlow is not
installed): pytorch-fid's port of the same 2015 graph loading the same random-weight file, fed as the
evaluator feeds its graph (torch-fidelity's TensorFlow 1.x bilinear resize, then (x - 128) / 128), its
pool_3 and Mixed_6d 1x1-branch activations (first 7 channels), and the evaluator's formulas restated in
numpy (tests/test_guided_diffusion.py). The trace of the square root of a product of rank-deficient
covariances is taken as the nuclear norm of the cross-product of the centred activations (exact
algebra, no matrix square root): an independent route to the same number.

Both tests are slow: the network at 299 x 299 and two 2,048-dimensional matrix square roots.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers import photo, pytorch_fid_network
from test_guided_diffusion import np_inception_score, np_precision_recall_default

from inceptionkit.cli import main

pytestmark = pytest.mark.slow


def _crops(names, seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        img = photo(name)
        w, h = img.size
        x, y = int(rng.integers(0, w - 160)), int(rng.integers(0, h - 160))
        out.append(np.array(img.crop((x, y, x + 160, y + 160)).resize((size, size))))
    return np.stack(out)


def _activations(pixels: np.ndarray, net) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pool_3, spatial, classifier weight (2048, 1008)) from pytorch-fid's network, as the evaluator feeds it."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    seen = {}
    hooks = [net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: seen.__setitem__("spatial", o)),
             net.avgpool.register_forward_hook(lambda m, i, o: seen.__setitem__("pool", o))]  # fmt: skip
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    x = (interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False) - 128) / 128
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    spatial = seen["spatial"][:, :7].permute(0, 2, 3, 1).reshape(len(x), -1).numpy()
    return seen["pool"].flatten(1).numpy(), spatial, net.fc.weight.detach().T.numpy()


def _fid(sample: np.ndarray, mu: np.ndarray, centred: np.ndarray) -> float:
    """The evaluator's FID of ``sample`` activations against saved (mu, sigma = centred^T centred / (n - 1))."""
    a = (sample - sample.mean(0)) / np.sqrt(len(sample) - 1)
    b = centred / np.sqrt(len(centred) - 1)
    trace_sqrt = np.linalg.svd(a.astype(np.float64) @ b.astype(np.float64).T, compute_uv=False).sum()
    diff = sample.mean(0).astype(np.float64) - mu
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * trace_sqrt)


@pytest.fixture(scope="module")
def batches(tmp_path_factory, fid_weights):
    root = tmp_path_factory.mktemp("evaluator")
    ref = _crops(["astronaut", "chelsea", "coffee", "rocket", "astronaut"], 1)
    samples = np.concatenate([_crops(["chelsea", "coffee"], 2), 255 - _crops(["rocket", "retina", "chelsea"], 4)])
    other = _crops(["hubble_deep_field", "immunohistochemistry", "retina", "coffee", "rocket"], 3)
    np.savez(root / "ref.npz", arr_0=ref)
    np.savez(root / "samples.npz", arr_0=samples)
    net = pytorch_fid_network()
    net.load_state_dict(torch.load(fid_weights, weights_only=True))
    net.eval()
    acts = {name: _activations(x, net) for name, x in (("ref", ref), ("samples", samples), ("other", other))}
    return root, acts


def test_fid_stats_writes_the_evaluators_reference_batch(batches, fid_weights, capsys):
    root, acts = batches
    out = root / "ref-stats.npz"
    code = main(["fid", "stats", str(root / "ref.npz"), "-o", str(out), "--mode", "guided-diffusion",
                 "--weights", str(fid_weights), "--workers", "0"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out.strip() == (
        f"{out}: arr_0 and its mu, sigma, mu_s, sigma_s of 5 images (guided-diffusion)"
    )
    pool, spatial, _ = acts["ref"]
    with np.load(out, allow_pickle=False) as f, np.load(root / "ref.npz") as src:
        assert np.array_equal(f["arr_0"], src["arr_0"])
        for key, want in (("mu", pool.mean(0)), ("sigma", np.cov(pool, rowvar=False)),
                          ("mu_s", spatial.mean(0)), ("sigma_s", np.cov(spatial, rowvar=False))):  # fmt: skip
            assert np.abs(f[key] - want).max() <= 1e-4 * np.abs(want).max(), key
        assert f["mu"].shape == (2048,) and f["sigma_s"].shape == (2023, 2023)
        assert str(f["inceptionkit_mode"]) == "guided-diffusion"


def test_the_evaluators_five_numbers_as_it_prints_them(batches, fid_weights, capsys):
    """The reference batch carries saved statistics (of other images): the evaluator uses them as they
    are for FID and sFID, and the batch's arr_0 for precision and recall."""
    root, acts = batches
    (ref_pool, _, w), (pool, spatial, _), (o_pool, o_spatial, _) = acts["ref"], acts["samples"], acts["other"]
    ref = root / "ref-saved.npz"
    with np.load(root / "ref.npz") as src:
        np.savez(ref, arr_0=src["arr_0"], mu=o_pool.mean(0), sigma=np.cov(o_pool, rowvar=False),
                 mu_s=o_spatial.mean(0), sigma_s=np.cov(o_spatial, rowvar=False))  # fmt: skip
    code = main(["fid", str(ref), str(root / "samples.npz"), "--mode", "guided-diffusion",
                 "--weights", str(fid_weights), "--workers", "0"])  # fmt: skip
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    samples = root / "samples.npz"  # 5 images: both distances are said to mean little (the saved reference records no count)
    for what, dims in (("FID is", 2048), ("sFID is", 2023)):
        said = f"the {what} not reliable: {samples} has 5 images for {dims} dims (a singular covariance: use more images than dims)"
        assert f"inceptionkit fid: warning: {said}\n" in err
    assert code == 0 and [line.split(": ")[0] for line in lines[-5:]] == [
        "Inception Score", "FID", "sFID", "Precision", "Recall"]  # fmt: skip
    got = [float(line.split(": ")[1]) for line in lines[-5:]]
    for line, value in zip(lines[-5:], got, strict=True):  # print("FID:", value): Python's float repr
        assert line.split(": ")[1] == str(value) and re.fullmatch(r"-?\d+\.\d+(e[-+]\d+)?", str(value))
    want_is = np_inception_score(pool, w)
    want_fid = _fid(pool, o_pool.mean(0), o_pool - o_pool.mean(0))
    want_sfid = _fid(spatial, o_spatial.mean(0), o_spatial - o_spatial.mean(0))
    want_pr = np_precision_recall_default(ref_pool, pool)
    assert got[0] == pytest.approx(want_is, rel=1e-4) and want_is > 1.01
    assert got[1] == pytest.approx(want_fid, rel=1e-4) and got[2] == pytest.approx(want_sfid, rel=1e-4)
    assert (got[3], got[4]) == pytest.approx(want_pr, abs=1e-9)
    assert 0 < want_pr[0] < 1  # the inverted samples are outside the reference's manifold
