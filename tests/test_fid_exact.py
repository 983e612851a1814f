"""Issue 12, item 3: each mode computes what its library computes, asserted with the library itself.

Real photographs (scikit-image's samples, randomly cropped and resized, as PNG and JPEG files at
several sizes) and a random-weight FID network saved to a file that both sides load. The references
run with batch size 1 where a folder mixes sizes (with larger batches pytorch-fid and torch-fidelity
cannot stack images of different sizes; inceptionkit resizes each image on its own). Dims 192 keep the
matrix square roots fast; the activations are compared at 2048 too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import fid_net, fid_weights_file, photo_folder

from inceptionkit.engines import relative_difference
from inceptionkit.metrics import Network, calculate_metrics
from inceptionkit.metrics.extract import Runner

pytestmark = pytest.mark.slow  # the FID network at 299 x 299 on photographs, references included
SIZES_A = [(320, 240), (200, 300), (299, 299)]
SIZES_B = [(256, 256), (410, 300)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-exact")
    a = photo_folder(root / "a", 6, SIZES_A, fmt="png", seed=1)
    b = photo_folder(root / "b", 6, SIZES_B, fmt="jpeg", seed=2)
    return a, b, fid_weights_file(root)


@pytest.fixture(scope="module")
def network(data):
    return Network.load(data[2], "pytorch-fid")


def _features(network, folder, mode, dims=2048):
    """The mode's features on eager fp32, the reference each engine is held to within 1e-5
    (tests/test_fid_engine.py): the mode's resize and network against the tool's, apart from the engine."""
    runner = Runner(fid_net(network.model, dims, engine="torch"), mode, torch.device("cpu"), keep_features=True)
    files = sorted(str(p) for p in folder.iterdir())
    return runner.files(files).kept


@pytest.fixture
def pytorch_fid_home(data, tmp_path, monkeypatch):
    """pytorch-fid finds the weights file where it keeps its own download (torch.hub's cache)."""
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / data[2].name).symlink_to(data[2])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_pytorch_fid_mode_gives_pytorch_fids_fid(data, network, pytorch_fid_home):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    a, b, _ = data
    theirs = calculate_fid_given_paths([str(a), str(b)], batch_size=1, device="cpu", dims=192, num_workers=0)
    ours = calculate_metrics(a, b, dims=192, network=network, device="cpu", batch_size=3)
    fid = ours.metrics["frechet_inception_distance"]
    assert abs(fid - theirs) / theirs <= 1e-4
    assert theirs > 1.0  # far from zero: the photos' features differ


def test_pytorch_fid_mode_gives_pytorch_fids_activations(data, network, pytorch_fid_home):
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    a = data[0]
    files = sorted(a.iterdir())
    theirs = get_activations(files, InceptionV3([3]), batch_size=1, dims=2048, device="cpu", num_workers=0)
    ours = _features(network, a, "pytorch-fid")
    assert relative_difference(ours, torch.from_numpy(theirs).float()) <= 1e-5
    assert float(theirs.std(0).mean()) > 0.1 * float(np.abs(theirs).mean())


def test_torch_fidelity_mode_gives_torch_fidelitys_fid_kid_and_is(data, network):
    import torch_fidelity

    a, b, weights = data
    theirs = torch_fidelity.calculate_metrics(
        input1=str(a),
        input2=str(b),
        cuda=False,
        fid=True,
        kid=True,
        isc=True,
        feature_extractor_weights_path=str(weights),
        feature_layer_fid="192",
        feature_layer_kid="192",
        kid_subset_size=4,
        kid_subsets=20,
        isc_splits=2,
        batch_size=1,
        cache=False,
        verbose=False,
        save_cpu_ram=True,
    )
    ours = calculate_metrics(
        a, b, mode="torch-fidelity", dims=192, kid=True, isc=True, kid_subset_size=4, kid_subsets=20,
        isc_splits=2, network=network, device="cpu", batch_size=4,
    ).metrics  # fmt: skip
    for name in (
        "frechet_inception_distance",
        "kernel_inception_distance_mean",
        "kernel_inception_distance_std",
        "inception_score_mean",
        "inception_score_std",
    ):
        assert abs(ours[name] - theirs[name]) <= 1e-4 * abs(theirs[name]), name
    assert theirs["inception_score_mean"] > 1.05 and abs(theirs["kernel_inception_distance_mean"]) > 1e-3


def test_clean_mode_gives_clean_fids_resize_then_the_network(data, network, pytorch_fid_home):
    """clean-fid's own "clean" resizing (ResizeDataset, build_resizer), then the FID network with
    the (x - 128) / 128 scaling of the network clean-fid runs."""
    from cleanfid.utils import ResizeDataset
    from pytorch_fid.inception import InceptionV3

    b = data[1]
    files = sorted(str(p) for p in b.iterdir())
    resized = torch.stack([ResizeDataset(files, mode="clean")[i] for i in range(len(files))])
    net = InceptionV3([3], resize_input=False, normalize_input=False).eval()
    with torch.no_grad():
        theirs = net((resized - 128) / 128)[0].flatten(1)
    ours = _features(network, b, "clean")
    assert float(ours.std(0).mean()) > 0.1 * float(ours.mean())
    assert relative_difference(ours, theirs) <= 1e-4


def test_the_three_modes_differ(data, network):
    """Why the libraries' numbers differ: the same photos, three pipelines, three feature sets."""
    b = data[1]
    feats = {m: _features(network, b, m, dims=192) for m in ("pytorch-fid", "torch-fidelity", "clean")}
    assert relative_difference(feats["pytorch-fid"], feats["torch-fidelity"]) > 1e-3
    assert relative_difference(feats["pytorch-fid"], feats["clean"]) > 1e-3
