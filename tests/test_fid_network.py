"""Issue 12, item 1: the FID network is inception_v3's ``fid`` variant, and both published weight files
load into it by content, computing what pytorch-fid's and torch-fidelity's own models compute.

The references are built by pytorch-fid and torch-fidelity themselves with random weights and random
batch-norm statistics (tests/helpers.py), saved as their state dicts (the layout both publish), and
loaded through inceptionkit's loader. Tolerance: max |delta| / max |ref| <= 1e-5 on every tap.
"""

from __future__ import annotations

import re

import pytest
import torch
from helpers import PHOTOS, fid_weights_file, photo, randomize_fid_network

import inceptionkit as ik
from inceptionkit.engines import relative_difference
from inceptionkit.engines.build import runnable_engines
from inceptionkit.errors import WeightsError
from inceptionkit.metrics import DIMS, METRIC_ENGINES, OUTPUTS, load_fid_model
from inceptionkit.metrics.engine import build
from inceptionkit.settings import RunSettings
from inceptionkit.weights import get_weight_set

pytestmark = pytest.mark.slow  # the full FID network at 299 x 299, references included
TOL = 1e-5
ENGINES_HERE = [e for e in METRIC_ENGINES if e in runnable_engines()]  # OpenVINO is a test dependency


def engine_outputs(model, engine: str, cache, x) -> dict:
    """Every output of the FID network (:data:`OUTPUTS`) on ``engine``, by name."""
    net = build(engine, model, tuple(OUTPUTS), RunSettings(cache_dir=cache), torch.device("cpu"))
    return dict(zip(OUTPUTS, net(x).split(list(OUTPUTS.values()), 1), strict=True))


def test_every_metric_engine_runs_here():
    """The test dependencies include OpenVINO: the exactness tests below cover all four engines."""
    assert ENGINES_HERE == list(METRIC_ENGINES)


@pytest.fixture(scope="module")
def batch():
    """Four sample photographs at 299 x 299, scaled to [-1, 1]."""
    imgs = [torch.from_numpy(__import__("numpy").array(photo(n).resize((299, 299)))) for n in PHOTOS[2:6]]
    return torch.stack(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return fid_weights_file(tmp_path_factory.mktemp("fidw"))


def test_fid_variant_departs_where_its_notes_say():
    spec = ik.get_spec("inception_v3", "fid")
    tv = ik.get_spec("inception_v3", "torchvision")
    assert "Mixed_7c" in spec.notes and "1008" in spec.notes
    assert not spec.style.avg_include_pad and tv.style.avg_include_pad
    last_pool = spec.features[-1][1].branches[-1][0]
    assert (last_pool.kind, last_pool.k, last_pool.s) == ("max", 3, 1)
    assert spec.features[:-1] == tv.features[:-1]  # the same table up to Mixed_7c


def test_pytorch_fid_model_loads_and_computes_the_same(weights, batch, tmp_path, monkeypatch):
    """pytorch-fid's InceptionV3 (its own code path: the weights file found in torch.hub's cache)."""
    from pytorch_fid.inception import InceptionV3

    hub = tmp_path / "torch"
    (hub / "hub" / "checkpoints").mkdir(parents=True)
    (hub / "hub" / "checkpoints" / weights.name).symlink_to(weights)
    monkeypatch.setenv("TORCH_HOME", str(hub))
    theirs = InceptionV3([0, 1, 2, 3], resize_input=False, normalize_input=False).eval()
    model = load_fid_model(weights)
    with torch.no_grad():
        ref = [torch.flatten(torch.nn.functional.adaptive_avg_pool2d(t, 1), 1) for t in theirs(batch)]
    for engine in ENGINES_HERE:  # every exact engine, every tap
        ours = engine_outputs(model, engine, tmp_path, batch)
        for dims, r in zip(DIMS, ref, strict=True):
            assert relative_difference(ours[f"pool_{dims}"], r) <= TOL, (engine, dims)
    assert float(ref[3].std(0).mean()) > 0.1 * float(ref[3].mean())  # features vary from photo to photo


def test_torch_fidelity_model_loads_and_computes_the_same(weights, batch, tmp_path):
    """torch-fidelity's FeatureExtractorInceptionV3, its own tensors re-randomized, saved and loaded."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    names = ["64", "192", "768", "2048", "logits_unbiased"]
    theirs = FeatureExtractorInceptionV3(
        "inception-v3-compat", names, feature_extractor_weights_path=str(weights)
    )
    torch.manual_seed(1)
    randomize_fid_network(theirs, seed=1, uint8=True)
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(theirs.state_dict(), path)
    uint8 = ((batch + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # 299 x 299: no resize happens
    with torch.no_grad():
        ref = theirs(uint8)
    x = (uint8.float() - 128) / 128
    model = load_fid_model(path)
    for engine in ENGINES_HERE:
        ours = engine_outputs(model, engine, tmp_path, x)
        for dims, r in zip(DIMS, ref[:4], strict=True):
            assert relative_difference(ours[f"pool_{dims}"], r) <= TOL, (engine, dims)
        assert relative_difference(ours["logits_unbiased"], ref[4]) <= TOL, engine
    assert float(torch.softmax(ref[4], 1).max(1).values.min()) < 0.99  # the softmax is not one-hot


def test_file_is_recognised_by_content(weights):
    """No variant given: a 1008-class torchvision-named state dict is the FID network."""
    model = ik.create_model("inception_v3", weights=weights)
    assert (model.spec.variant, model.num_classes) == ("fid", 1008)


def test_registered_weight_sets_are_the_packages_own():
    import pytorch_fid.inception as pf
    import torch_fidelity.feature_extractor_inceptionv3 as tf

    for tag, url in (
        ("inception_v3.pytorch_fid", pf.FID_WEIGHTS_URL),
        ("inception_v3.torch_fidelity", tf.URL_INCEPTION_V3),
    ):
        ws = get_weight_set(tag)
        assert (ws.url, ws.variant, ws.num_classes) == (url, "fid", 1008)
        assert (
            ws.checksum == "sha256:" + re.search(r"-([0-9a-f]{8})\.pth$", url).group(1) == "sha256:6726825d"
        )


def test_weights_of_another_variant_are_refused(tmp_path):
    torch.save(torchvision_state(), tmp_path / "tv.pth")
    with pytest.raises(WeightsError, match=r"tv\.pth.*1000 classes.*not the FID network's 1008"):
        load_fid_model(tmp_path / "tv.pth")


def torchvision_state() -> dict:
    import torchvision

    return torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict()
