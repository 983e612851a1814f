"""Issue 5 with issue 7: ``predict --engine onnxruntime`` gives the torch engine's answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import noise, save_small
from PIL import Image

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.engines import default_preprocess


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_small(tmp_path_factory.mktemp("run") / "best.safetensors")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pictures")
    paths = [folder / "red.png", folder / "blue.png", folder / "noise.jpg"]
    Image.new("RGB", (40, 30), (255, 0, 0)).save(paths[0])
    Image.new("RGB", (30, 40), (0, 0, 255)).save(paths[1])
    noise(36, 44).save(paths[2])
    return paths


def cli_json(capsys, *argv) -> tuple[int, list[dict], str]:
    engine = [] if "--engine" in argv else ["--engine", "torch"]
    code = main(["predict", *map(str, argv), *engine, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else [], err


def assert_same_answers(got: list[dict], want: list[dict]) -> None:
    assert [r["path"] for r in got] == [r["path"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert [t["index"] for t in g["top"]] == [t["index"] for t in w["top"]]
        np.testing.assert_allclose(
            [t["probability"] for t in g["top"]], [t["probability"] for t in w["top"]], atol=1e-4
        )


def test_onnxruntime_engine_exports_once_and_agrees(tmp_path, checkpoint, pictures, capsys, monkeypatch):
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "cache"))
    code, torch_answers, _ = cli_json(capsys, *pictures, "--checkpoint", checkpoint)
    assert code == 0
    code, onnx_answers, err = cli_json(
        capsys, *pictures, "--checkpoint", checkpoint, "--engine", "onnxruntime"
    )
    assert code == 0, err
    assert_same_answers(onnx_answers, torch_answers)
    assert [t["label"] for t in onnx_answers[0]["top"]] == [t["label"] for t in torch_answers[0]["top"]]
    exported = list((tmp_path / "cache").rglob("*.onnx"))
    assert len(exported) == 1
    mtime = exported[0].stat().st_mtime_ns
    assert cli_json(capsys, pictures[0], "--checkpoint", checkpoint, "--engine", "onnxruntime")[0] == 0
    assert exported[0].stat().st_mtime_ns == mtime  # reused from the cache, not exported again


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_foreign_onnx_file_runs_without_labels(tmp_path, checkpoint, pictures, capsys):
    """A file exported by plain torch.onnx has no inceptionkit metadata: predict runs it with the
    preprocessing of --model's default and says it has no class names."""
    model = ik.weights.load_native(checkpoint).eval()
    onnx_file = tmp_path / "plain.onnx"
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 28, 28),),
        str(onnx_file),
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
        dynamo=False,
    )
    code, answers, err = cli_json(
        capsys, *pictures, "--engine", "onnxruntime", "--onnx", onnx_file, "--model", "inception_small"
    )
    assert code == 0
    assert "no class names come with these weights: showing class indices" in err
    assert all(t["label"] is None for r in answers for t in r["top"])
    recipe = default_preprocess(ik.get_spec("inception_small"))
    assert (recipe.size, recipe.crop_pct) == (28, 0.875)
    want = [r.as_dict() for r in ik.predict(model, pictures, preprocess=recipe, num_workers=0)]
    assert_same_answers(answers, want)


def test_onnx_engine_usage_errors(tmp_path, checkpoint, pictures, capsys):
    code, _, err = cli_json(
        capsys, pictures[0], "--checkpoint", checkpoint, "--engine", "onnxruntime", "--device", "cuda"
    )
    assert code == 2 and "runs on the CPU" in err
    code, _, err = cli_json(capsys, pictures[0], "--engine", "onnxruntime", "--onnx", tmp_path / "none.onnx")
    assert code == 2 and "none.onnx" in err
