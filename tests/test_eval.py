"""``inceptionkit eval`` scores a run's checkpoint on the images its run held out, reproducibly, and
says which ones (issue 10, item 3); ``--format json`` lists them (issue 11, item 6)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import make_folder, save_small

from inceptionkit.cli import main
from inceptionkit.train import RunDataSource, run_data_source

pytestmark = pytest.mark.xdist_group("eval_folder_run")  # one worker trains the module's run


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A run on a plain class folder of 20 images (no val/): --val-split 0.2 holds out 4."""
    root = tmp_path_factory.mktemp("eval")
    make_folder(root / "data", {"ant": 10, "bee": 10}, size=10)
    args = ["--img-size", "8", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--val-split", "0.2"]
    assert main(["train", "--data", str(root / "data"), *args, "--run-dir", str(root / "run")]) == 0
    return root / "data", root / "run"


def eval_json(capsys, *args: str) -> dict:
    assert main(["eval", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_of_a_folder_run_scores_its_held_out_split_only(capsys, folder_run):
    data, run = folder_run
    capsys.readouterr()
    split = json.loads((run / "split.json").read_text())
    assert split["val_split"] == 0.2 and len(split["val"]) == 4  # 20% of each class of 10
    config = json.loads((run / "config.json").read_text())["data"]
    assert config["source"] == str(data.resolve()) and config["val_files_sha256"] == split["sha256"]

    for given in ([], ["--data", str(data)]):  # the run's own folder, named or not
        doc = eval_json(capsys, "--checkpoint", str(run / "best.safetensors"), *given)
        files = sorted(Path(i["path"]).relative_to(data).as_posix() for i in doc["images"])
        assert doc["n"] == 4 and files == sorted(split["val"])  # the training images are not scored
        assert all(Path(i["path"]).parent.name == i["class"] for i in doc["images"])
        assert "the run's validation split: 4 of 20 images, --val-split 0.2" in doc["images_from"]
        assert sum(map(sum, doc["confusion"])) == 4

    assert main(["eval", "--checkpoint", str(run / "best.safetensors")]) == 0
    out = capsys.readouterr().out
    assert f"on {data.resolve()} (the run's validation split: 4 of 20 images" in out
    assert out.strip().splitlines()[-1].endswith(")   top-2 100.00%") and "/4)" in out


def test_eval_of_other_data_scores_all_of_it(tmp_path, capsys, folder_run):
    _, run = folder_run
    make_folder(tmp_path / "new", {"ant": 3, "bee": 2}, size=10, seed=5)
    capsys.readouterr()
    doc = eval_json(capsys, "--checkpoint", str(run / "best.safetensors"), "--data", str(tmp_path / "new"))
    assert doc["n"] == 5 and len(doc["images"]) == 5 and doc["images_from"] == str(tmp_path / "new")


def test_eval_json_of_the_digits(capsys, tmp_path):
    run = tmp_path / "run"
    tiny = ["--img-size", "8", "--epochs", "1", "--max-train-images", "64", "--batch-size", "32"]
    assert main(["train", *tiny, "--device", "cpu", "--run-dir", str(run)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]  # "held-out test accuracy: x% (c/359, ..."
    doc = eval_json(capsys, "--checkpoint", str(run / "best.safetensors"))
    assert doc["images_from"] == "the test digits" and doc["n"] == 359 and len(doc["images"]) == 359
    first = doc["images"][0]  # the first test digit is a 3
    assert (first["path"], first["class"]) == ("digits/test/0", "3")
    assert f"({doc['correct']}/359," in last  # the same images as training's final evaluation
    source = run_data_source(run / "best.safetensors")
    assert (source.data, source.digits, source.img_size, source.in_chans) == ("digits", True, 8, 1)
    assert len(source.samples("train")) == 1295 and len(source.samples("test")) == 359


def test_run_data_source_says_what_a_checkpoint_was_trained_on(tmp_path, folder_run):
    data, run = folder_run
    split = json.loads((run / "split.json").read_text())
    want = RunDataSource(str(data.resolve()), 8, 3, 0.2, ["ant", "bee"], run, split["sha256"])
    assert run_data_source(run / "best.safetensors") == want
    assert run_data_source(run / "last.safetensors") == want
    shutil.copy(run / "best.safetensors", tmp_path / "copy.safetensors")  # away from its run folder
    assert run_data_source(tmp_path / "copy.safetensors") == replace(want, run_dir=None)
    assert not want.digits
    train_files = sorted(Path(f).relative_to(data).as_posix() for f in want.samples("train").items)
    assert len(train_files) == 16 and not set(train_files) & set(split["val"])  # what calibration sees
    assert len(want.samples("val")) == 4
    assert run_data_source(save_small(tmp_path / "other.safetensors")) is None  # not written by train
