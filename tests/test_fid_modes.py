"""Issue 18, E: the torchmetrics and clean-fid legacy modes compute what those libraries compute, on
real photographs of mixed sizes, with a random-weight FID network file that both sides load.

torchmetrics 1.9.0 loads the file through ``feature_extractor_weights_path`` (its FID) or a
``NoTrainInceptionV3`` given as ``feature=`` (its KID and IS, which take no weights path); images go in
one at a time (mixed sizes). Its KID and IS draw ``torch.randperm`` from torch's global generator:
seeded with 2020 before each ``compute``, as inceptionkit seeds its own generator. clean-fid 0.1.35's
``legacy_pytorch`` runs its own ``ResizeDataset`` and ``get_files_features``; its ``legacy_tensorflow``
network (NVIDIA's torchscript file) cannot be had offline, so its resize (that file's affine_grid +
grid_sample) is checked against torch-fidelity's TensorFlow 1.x resize, which it reproduces.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import fid_net, fid_weights_file, photo_folder
from PIL import Image

from inceptionkit.engines import relative_difference
from inceptionkit.metrics import Network, calculate_metrics
from inceptionkit.metrics.extract import Runner
from inceptionkit.metrics.pipelines import PIPELINES

pytestmark = pytest.mark.slow  # the FID network at 299 x 299 on photographs, references included
SIZES_A = [(320, 240), (200, 300), (299, 299)]
SIZES_B = [(256, 256), (410, 300), (150, 120)]
NAMES = ("frechet_inception_distance", "kernel_inception_distance_mean", "kernel_inception_distance_std",
         "inception_score_mean", "inception_score_std")  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-modes")
    a = photo_folder(root / "a", 6, SIZES_A, fmt="png", seed=11)
    b = photo_folder(root / "b", 6, SIZES_B, fmt="jpeg", seed=12)
    return a, b, fid_weights_file(root)


@pytest.fixture(scope="module")
def network(data):
    return Network.load(data[2], "torchmetrics")


def _pixels(folder):
    return [
        torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)[None]
        for p in sorted(folder.iterdir())
    ]


def _torchmetrics(a, b, weights, antialias: bool) -> dict[str, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    def net(feature):
        return NoTrainInceptionV3("inception-v3-compat", [feature], str(weights), antialias=antialias)

    fid = FrechetInceptionDistance(
        feature=192, feature_extractor_weights_path=str(weights), antialias=antialias
    )
    kid = KernelInceptionDistance(feature=net("192"), subsets=20, subset_size=4)
    isc = InceptionScore(feature=net("logits_unbiased"), splits=2)
    for x in _pixels(a):  # input 1: the generated images
        fid.update(x, real=False)
        kid.update(x, real=False)
        isc.update(x)
    for x in _pixels(b):
        fid.update(x, real=True)
        kid.update(x, real=True)
    torch.manual_seed(2020)
    kid_mean, kid_std = kid.compute()
    torch.manual_seed(2020)
    is_mean, is_std = isc.compute()
    return dict(zip(NAMES, map(float, (fid.compute(), kid_mean, kid_std, is_mean, is_std)), strict=True))


@pytest.mark.parametrize(("mode", "antialias"), [("torchmetrics", True), ("torchmetrics-legacy", False)])
def test_torchmetrics_modes_give_torchmetrics_fid_kid_and_is(data, network, mode, antialias):
    import warnings

    a, b, weights = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics: "will save all extracted features in buffer"
        theirs = _torchmetrics(a, b, weights, antialias)
    ours = calculate_metrics(
        a, b, mode=mode, dims=192, kid=True, isc=True, kid_subset_size=4, kid_subsets=20, isc_splits=2,
        network=network, device="cpu", batch_size=4,
    ).metrics  # fmt: skip
    for name in NAMES:
        assert abs(ours[name] - theirs[name]) <= 1e-4 * abs(theirs[name]), (name, ours[name], theirs[name])
    assert theirs["inception_score_mean"] > 1.05 and abs(theirs["kernel_inception_distance_mean"]) > 1e-3


def test_the_torchmetrics_resizes_differ_on_photos_larger_than_299(data):
    x = next(x for x in _pixels(data[1]) if x.shape[-1] == 410)  # antialiasing changes a downscale
    assert relative_difference(PIPELINES["torchmetrics"](x), PIPELINES["torchmetrics-legacy"](x)) > 1e-3


@pytest.fixture
def pytorch_fid_home(data, tmp_path, monkeypatch):
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / data[2].name).symlink_to(data[2])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def _clean_features(files, dims_block: int | None):
    from cleanfid.features import feature_extractor
    from cleanfid.fid import get_files_features

    if dims_block is None:  # clean-fid's own legacy_pytorch network: pytorch-fid's, 2048 dims
        model = feature_extractor(
            name="pytorch_inception", device=torch.device("cpu"), use_dataparallel=False
        )
    else:  # the same network tapped at another block, called as clean-fid calls it (x / 255) and
        # pooled as pytorch-fid's get_activations pools a block that is not 1 x 1
        from pytorch_fid.inception import InceptionV3

        net = InceptionV3([dims_block], resize_input=False).eval()

        def model(x):
            return torch.nn.functional.adaptive_avg_pool2d(net(x / 255)[0], 1).flatten(1)

    return get_files_features(files, model, num_workers=0, batch_size=2, device=torch.device("cpu"),
                              mode="legacy_pytorch", verbose=False)  # fmt: skip


def test_clean_legacy_pytorch_features_and_fid_are_clean_fids(data, network, pytorch_fid_home):
    from cleanfid.fid import frechet_distance

    a, b, _ = data
    files_a, files_b = (sorted(str(p) for p in f.iterdir()) for f in (a, b))
    theirs = _clean_features(files_b, None)
    runner = Runner(
        fid_net(network.model, 2048, engine="torch"), "clean-legacy-pytorch", torch.device("cpu"), keep_features=True
    )
    ours = runner.files(files_b).kept
    assert relative_difference(ours, torch.from_numpy(theirs)) <= 1e-4

    fa, fb = _clean_features(files_a, 1), _clean_features(files_b, 1)  # block 1: 192 dims
    want = frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    got = calculate_metrics(a, b, mode="clean-legacy-pytorch", dims=192, network=network, device="cpu")
    assert abs(got.metrics["frechet_inception_distance"] - want) <= 1e-4 * want and want > 1.0


def test_clean_legacy_tensorflow_resize_is_tensorflow_1s_bilinear(data):
    """clean-fid's legacy_tensorflow dataset hands the network the decoded pixels (no resize); the
    torchscript network resizes them; that resize equals torch-fidelity's TF 1.x bilinear."""
    from cleanfid.utils import ResizeDataset
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    files = sorted(str(p) for p in data[0].iterdir()) + sorted(str(p) for p in data[1].iterdir())
    for i, f in enumerate(files):
        pixels = ResizeDataset([f], mode="legacy_tensorflow")[0][None]  # float 0-255, original size
        ours = PIPELINES["clean-legacy-tensorflow"](pixels.round().to(torch.uint8))
        tf1 = interpolate_bilinear_2d_like_tensorflow1x(pixels, size=(299, 299), align_corners=False)
        assert relative_difference(ours, (tf1 - 128) / 128) <= 1e-4, f
        if i == 0:
            assert pixels.shape[-2:] != (299, 299)
