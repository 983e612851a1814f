"""Issue 5: ``inceptionkit predict`` and ``inceptionkit.predict`` on files, folders, PIL images, tensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CLASSES, RECIPE, noise, save_small, write_messy_folder
from PIL import Image

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.images import load_image
from inceptionkit.inference import published_tags
from inceptionkit.preprocess import Preprocess


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_small(tmp_path_factory.mktemp("run") / "best.safetensors")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = [folder / f"photo{i}.png" for i in range(3)]
    Image.new("RGB", (40, 36), (255, 0, 0)).save(paths[0])
    Image.new("RGB", (36, 48), (0, 0, 255)).save(paths[1])
    noise(40, 36).save(paths[2])
    return paths


def reference_top(
    model: ik.InceptionNet, images: list[Image.Image], recipe: Preprocess = RECIPE, k: int = 5
) -> list[tuple[list[int], list[float]]]:
    """The model run by hand on the recipe's tensors: (indices, probabilities) of each top k."""
    x = torch.stack([recipe.transform()(img) for img in images])
    with torch.no_grad():
        values, indices = torch.softmax(model.eval()(x), dim=1).topk(k, dim=1)
    return list(zip(indices.tolist(), values.tolist(), strict=True))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``inceptionkit predict`` on the exact fp32 engine unless the test names one."""
    engine = [] if "--engine" in argv else ["--engine", "torch"]
    code = main(["predict", *map(str, argv), *engine])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_gives_what_the_model_computes_on_the_recipe(checkpoint, photos):
    model = ik.weights.load_native(checkpoint)
    results = ik.predict(model, photos, top=5)
    assert [r.path for r in results] == [str(p) for p in photos]
    expected = reference_top(model, [Image.open(p).convert("RGB") for p in photos])
    for r, (indices, probs) in zip(results, expected, strict=True):
        assert [g.index for g in r.top] == indices
        np.testing.assert_allclose([g.probability for g in r.top], probs, rtol=1e-5, atol=1e-7)
        assert [g.label for g in r.top] == [CLASSES[i] for i in indices]
    assert len({tuple(g.index for g in r.top) for r in results}) > 1  # the images get different answers


def test_paths_pil_images_and_tensors_give_the_same_answer(checkpoint, photos):
    model = ik.weights.load_native(checkpoint)
    by_path = ik.predict(model, photos[0], top=3)
    by_name = ik.predict("inception_small", [photos[0]], weights=checkpoint, top=3)
    pil = Image.open(photos[0])
    by_pil = ik.predict(model, [pil], top=3, num_workers=0)
    tensor = RECIPE.transform()(pil.convert("RGB"))
    by_tensor = ik.predict(model, torch.stack([tensor, tensor]), top=3)
    assert [r.path for r in by_pil + by_tensor] == [None, None, None]
    for r in (by_name[0], by_pil[0], *by_tensor):
        assert [g.index for g in r.top] == [g.index for g in by_path[0].top]
        np.testing.assert_allclose(
            [g.probability for g in r.top], [g.probability for g in by_path[0].top], rtol=1e-5
        )
    with pytest.raises(ValueError, match=r"preprocessed to \(C, H, W\) = \(3, 28, 28\)"):
        ik.predict(model, torch.zeros(3, 30, 30))


def test_messy_folder_every_file_in_its_place(tmp_path, checkpoint, capsys):
    expected = write_messy_folder(tmp_path / "messy")
    (tmp_path / "nothing_here").mkdir()
    code, out, err = run_cli(
        capsys,
        tmp_path / "messy",
        tmp_path / "missing.jpg",
        tmp_path / "nothing_here",
        "--checkpoint",
        checkpoint,
        "--format",
        "json",
        "--batch-size",
        "3",
        "--num-workers",
        "2",
        "--max-pixels",
        "2000",
    )
    assert code == 1 and err == ""
    results = json.loads(out)
    names = sorted(expected) + ["missing.jpg", "nothing_here"]
    assert [Path(r["path"]).name for r in results] == names
    expected |= {"missing.jpg": "no such file or folder", "nothing_here": "folder contains no image files"}
    for r in results:
        name = Path(r["path"]).name
        if expected[name] is not None:
            assert set(r) == {"path", "error"} and r["error"].startswith(expected[name]), r
    # each readable file gets exactly what the model says on its upright RGB picture
    readable = [r for r in results if "top" in r]
    assert len(readable) == sum(e is None for e in expected.values())
    model = ik.weights.load_native(checkpoint)
    for r, (indices, probs) in zip(
        readable, reference_top(model, [load_image(r["path"]) for r in readable]), strict=True
    ):
        name = Path(r["path"]).name
        assert [g["index"] for g in r["top"]] == indices, name
        assert [g["label"] for g in r["top"]] == [CLASSES[i] for i in indices]
        np.testing.assert_allclose([g["probability"] for g in r["top"]], probs, rtol=1e-5, atol=1e-7)


def test_exif_rotated_photo_is_classified_upright(tmp_path, checkpoint):
    write_messy_folder(tmp_path)
    stored = Image.open(tmp_path / "rotated.jpg").convert("RGB")
    results = ik.predict(
        "inception_small",
        [tmp_path / "rotated.jpg", stored.transpose(Image.Transpose.ROTATE_270), stored],
        weights=checkpoint,
        top=10,
        num_workers=0,
    )
    upright, by_hand, sideways = ([(g.index, round(g.probability, 6)) for g in r.top] for r in results)
    assert upright == by_hand != sideways


@pytest.mark.subprocess
def test_command_line_prints_no_traceback(tmp_path, checkpoint):
    write_messy_folder(tmp_path / "messy")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "inceptionkit",
            "predict",
            str(tmp_path / "messy"),
            str(tmp_path / "nope"),
            "--checkpoint",
            str(checkpoint),
            "--max-pixels",
            "2000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert "error: not an image file" in run.stdout and "error: no such file or folder" in run.stdout
    assert "seven" in run.stdout or "three" in run.stdout or "five" in run.stdout


def test_all_classified_exit_0_and_a_table(checkpoint, photos, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # paths on one line
    code, out, err = run_cli(capsys, *photos, "--checkpoint", checkpoint, "--top", "2")
    assert code == 0 and err == ""
    model = ik.weights.load_native(checkpoint)
    for p, (indices, _) in zip(
        photos, reference_top(model, [Image.open(p).convert("RGB") for p in photos], k=2), strict=True
    ):
        row = next(line for line in out.splitlines() if p.name in line).split()
        assert row[1:4] == ["1", CLASSES[indices[0]], str(indices[0])]


def test_top_beyond_the_number_of_classes(checkpoint, photos, capsys):
    code, out, _ = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--top", "50", "--format", "json")
    assert code == 0
    top = json.loads(out)[0]["top"]
    assert sorted(g["index"] for g in top) == list(range(10))
    assert sum(g["probability"] for g in top) == pytest.approx(1.0, abs=1e-5)


def test_without_weights_it_says_how_to_get_them(photos, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "empty_cache"))
    code, out, err = run_cli(capsys, photos[0], "--model", "inception_v3")
    assert code == 2 and out == ""
    assert err.startswith(
        "inceptionkit predict: error: no weights for inception_v3, and none in the "
        "download cache: running it with random weights would be meaningless; pass "
        "--weights (Python: weights=) a published tag (inception_v3."
    )
    assert err.count("\n") == 1
    tags = published_tags("inception_v3")
    assert "inception_v3.keras_imagenet" in tags and all(t in err for t in tags)
    with pytest.raises(ValueError, match="no weights for inception_small"):
        ik.predict("inception_small", photos)


def test_without_weights_a_cached_published_set_is_used(photos, checkpoint, capsys, tmp_path, monkeypatch):
    from inceptionkit.weights import WeightSet, hub

    ws = WeightSet(
        tag="inception_small.test_digits",
        variant="paper",
        url="file:///nowhere/best.safetensors",
        source="timm",
        format="safetensors",
        preprocess=RECIPE,
        checksum=None,
        num_classes=10,
    )
    monkeypatch.setitem(hub.WEIGHT_SETS, ws.tag, ws)
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path))
    assert run_cli(capsys, photos[0], "--model", "inception_small")[0] == 2  # registered, not cached
    hub.cached_path(ws).parent.mkdir(parents=True)
    hub.cached_path(ws).write_bytes(checkpoint.read_bytes())
    code, out, err = run_cli(capsys, photos[0], "--model", "inception_small", "--format", "json")
    assert code == 0 and err == "inceptionkit predict: using the cached weights inception_small.test_digits\n"
    expected = ik.predict("inception_small", photos[0], weights=checkpoint)[0].as_dict()
    assert json.loads(out) == [expected]


def test_debug_shows_the_traceback(photos, capsys):
    with pytest.raises(ValueError, match="no weights"):
        main(["predict", str(photos[0]), "--model", "inception_small", "--debug"])


def test_usage_errors_exit_2(checkpoint, photos, capsys):
    assert run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--weights", checkpoint)[0] == 2
    code, _, err = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--model", "googlenet")
    assert code == 2 and "holds inception_small (paper) weights, not googlenet" in err
    code, _, err = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--onnx", "x.onnx")
    assert code == 2 and "--engine onnxruntime" in err
    code, _, err = run_cli(capsys, photos[0], "--model", "nosuch")
    assert code == 2 and "unknown model 'nosuch'" in err
    code, _, err = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--device", "gpu")
    assert code == 2 and "--device 'gpu' is unknown; use cpu, cuda or cuda:N" in err
    code, _, err = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--device", "meta")  # issue 10, 18
    assert code == 2 and "--device meta cannot run a model here" in err
    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, photos[0], "--checkpoint", checkpoint, "--device", "cuda")
        assert (code, err) == (
            2,
            "inceptionkit predict: error: --device cuda: no CUDA device is available on this machine; use cpu\n",
        )


def test_weights_without_labels_give_indices(tmp_path, photos, capsys):
    ckpt = save_small(tmp_path / "nolabels.safetensors", classes=None)
    code, out, err = run_cli(capsys, photos[0], "--checkpoint", ckpt, "--format", "json")
    assert code == 0
    assert "no class names come with these weights: showing class indices" in err
    top = json.loads(out)[0]["top"]
    assert [g["label"] for g in top] == [None] * 5
    [(indices, _)] = reference_top(ik.weights.load_native(ckpt), [Image.open(photos[0]).convert("RGB")])
    assert [g["index"] for g in top] == indices


def test_one_channel_checkpoint_reads_colour_files_as_gray(tmp_path, photos, capsys):
    """Like the training issue's digits model: 1 input channel, its recipe in the file."""
    ckpt = save_small(tmp_path / "digits.safetensors", channels=1)
    code, out, _ = run_cli(capsys, *photos, "--checkpoint", ckpt, "--format", "json")
    assert code == 0
    model = ik.weights.load_native(ckpt)
    expected = reference_top(
        model, [Image.open(p).convert("L") for p in photos], model.weight_meta.preprocess
    )
    for r, (indices, probs) in zip(json.loads(out), expected, strict=True):
        assert [g["index"] for g in r["top"]] == indices
        np.testing.assert_allclose([g["probability"] for g in r["top"]], probs, rtol=1e-5, atol=1e-7)


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, checkpoint, photos, capsys):
    many = [photos[0]] * 21  # more than a screenful
    results = ik.predict("inception_small", many, weights=checkpoint, batch_size=21)
    assert len(results) == 21 and capsys.readouterr().err == ""
