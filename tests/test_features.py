"""Issue 5: ``inceptionkit features`` and ``inceptionkit.extract_features``: one vector (or map) per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import RECIPE, noise, save_small, write_messy_folder
from PIL import Image

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.images import load_image
from inceptionkit.preprocess import Preprocess


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_small(tmp_path_factory.mktemp("run") / "best.safetensors")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pictures")
    paths = [folder / "red.png", folder / "noise.jpg"]
    Image.new("RGB", (40, 30), (255, 0, 0)).save(paths[0])
    noise(36, 44).save(paths[1])
    return paths


def by_hand(model: ik.InceptionNet, paths: list[Path], recipe: Preprocess = RECIPE) -> torch.Tensor:
    x = torch.stack([recipe.transform()(load_image(p)) for p in paths])
    with torch.no_grad():
        return model.eval().forward_head(model.forward_features(x), pre_logits=True)


def test_features_are_the_models_pre_logits(tmp_path, checkpoint, pictures, capsys):
    out = tmp_path / "f.npz"
    assert (
        main(
            [
                "features",
                *map(str, pictures),
                "--checkpoint",
                str(checkpoint),
                "-o",
                str(out),
                "--engine",
                "torch",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out == f"{out}: 2 feature vectors of shape (336,)\n"
    saved = np.load(out)
    assert saved["paths"].tolist() == [str(p) for p in pictures]
    assert saved["failed_paths"].tolist() == [] and saved["failed_errors"].tolist() == []
    expected = by_hand(ik.weights.load_native(checkpoint), pictures)
    assert saved["features"].shape == (2, 336)  # inception_3b's 176 + 160 channels
    np.testing.assert_allclose(saved["features"], expected.numpy(), rtol=1e-5, atol=1e-6)
    api = ik.extract_features("inception_small", pictures, weights=checkpoint, num_workers=0)
    assert api.paths == [str(p) for p in pictures]
    np.testing.assert_allclose(api.features.numpy(), saved["features"], rtol=1e-5, atol=1e-6)


def test_named_stages_keras_aliases_and_pooling():
    """keras' ``mixed5`` is inception_v3's mixed_6c; at its 75 px minimum it is a 3x3 map."""
    torch.manual_seed(0)
    model = ik.create_model("inception_v3", variant="keras").eval()
    recipe = Preprocess(size=75, crop_pct=None)
    images = [Image.new("RGB", (80, 90), (20, 200, 90)), noise(75, 75)]
    x = torch.stack([recipe.transform()(im) for im in images])
    with torch.no_grad():
        fmap = model.forward_intermediates(x, ["mixed_6c"])["mixed_6c"]
    assert fmap.shape == (2, 768, 3, 3)
    for pool, expected in (("max", fmap.amax(dim=(2, 3))), ("avg", fmap.mean(dim=(2, 3))), ("none", fmap)):
        got = ik.extract_features(model, images, layer="mixed5", pool=pool, preprocess=recipe, num_workers=0)
        assert got.paths == [None, None] and got.failed == []
        torch.testing.assert_close(got.features, expected, rtol=1e-5, atol=1e-5)


def test_failed_files_are_listed_and_the_rest_kept_in_order(tmp_path, checkpoint, capsys):
    expected = write_messy_folder(tmp_path / "messy")
    out = tmp_path / "maps.npz"
    code = main(
        [
            "features",
            str(tmp_path / "messy"),
            str(tmp_path / "nope.png"),
            "--checkpoint",
            str(checkpoint),
            "--pool",
            "none",
            "--layer",
            "downsample_2",
            "--max-pixels",
            "2000",
            "--batch-size",
            "4",
            "--engine",
            "torch",
            "-o",
            str(out),
        ]
    )
    assert code == 1
    stdout, stderr = capsys.readouterr()
    readable = sorted(n for n, e in expected.items() if e is None)
    failed = sorted(n for n, e in expected.items() if e is not None) + ["nope.png"]
    assert stdout == f"{out}: {len(readable)} feature maps of shape (240, 6, 6); {len(failed)} failed\n"
    assert stderr.count("\n") == len(failed) and "nope.png: error: no such file or folder" in stderr
    saved = np.load(out)
    assert [Path(p).name for p in saved["paths"]] == readable
    assert [Path(p).name for p in saved["failed_paths"]] == failed
    assert saved["failed_errors"][-1] == "no such file or folder"
    model = ik.weights.load_native(checkpoint).eval()
    x = torch.stack([RECIPE.transform()(load_image(p)) for p in saved["paths"]])
    with torch.no_grad():
        maps = model.forward_intermediates(x, ["downsample_2"])["downsample_2"]
    np.testing.assert_allclose(saved["features"], maps.numpy(), rtol=1e-5, atol=1e-5)


def test_nothing_readable_writes_nothing(tmp_path, checkpoint, capsys):
    (tmp_path / "bad.jpg").write_text("not a picture")
    out = tmp_path / "f.npz"
    assert main(["features", str(tmp_path / "bad.jpg"), "--checkpoint", str(checkpoint), "-o", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'bad.jpg'}: error: not an image file (no decoder recognises its content)",
        "inceptionkit features: error: no image could be read; nothing written",
    ]
    assert not out.exists()


def test_unknown_stage_is_a_usage_error(tmp_path, checkpoint, pictures, capsys):
    code = main(
        [
            "features",
            str(pictures[0]),
            "--checkpoint",
            str(checkpoint),
            "--layer",
            "mixed5",
            "-o",
            str(tmp_path / "f.npz"),
        ]
    )
    assert code == 2
    assert "inception_small (paper) has no stage 'mixed5'" in capsys.readouterr().err
