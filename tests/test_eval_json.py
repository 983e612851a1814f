"""Issue 19, item 6: ``eval --format json`` gives each image's answer (its path under predict's key,
true and predicted class, top-k with probabilities), and eval and predict agree file by file."""

from __future__ import annotations

import json

import pytest
from helpers import exif_rotated_jpeg, make_folder, save_small, sixteen_bit_png

from inceptionkit.cli import main


def run_json(capsys, *argv: str):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-json")
    make_folder(root / "data", {"zero": 3, "one": 3, "two": 2}, size=20)
    exif_rotated_jpeg(root / "data" / "one" / "rotated.jpg")
    sixteen_bit_png(root / "data" / "two" / "sixteen.png")
    return root / "data", save_small(root / "small.safetensors")


def test_eval_json_gives_each_images_answer_and_agrees_with_predict(labelled, capsys):
    data, checkpoint = labelled
    ev = run_json(capsys, "eval", "--checkpoint", str(checkpoint), "--data", str(data), "--format", "json")
    pr = run_json(
        capsys, "predict", str(data), "--checkpoint", str(checkpoint), "--engine", "torch", "--top", "5",
        "--workers", "0", "--format", "json",
    )  # fmt: skip
    predicted = {r["path"]: r["top"] for r in pr}
    images = ev["images"]
    assert sorted(i["path"] for i in images) == sorted(predicted) and len(images) == ev["n"] == 10
    assert {str(data / "one" / "rotated.jpg"), str(data / "two" / "sixteen.png")} <= set(predicted)
    for image in images:
        assert image["class"] == image["path"].split("/")[-2]
        top = image["top"]
        assert len(top) == 5 and image["predicted"] == top[0]["label"]
        assert image["correct"] == (top[0]["label"] == image["class"])
        theirs = predicted[image["path"]]
        assert [g["index"] for g in top] == [g["index"] for g in theirs], image["path"]
        assert [g["label"] for g in top] == [g["label"] for g in theirs]
        for mine, other in zip(top, theirs, strict=True):
            assert abs(mine["probability"] - other["probability"]) <= 1e-4, image["path"]
    # the misclassified images can be found, and they are what the confusion matrix counts
    wrong = [i for i in images if not i["correct"]]
    assert len(wrong) == ev["n"] - ev["correct"]
    classes = ev["classes"]
    for t, row in enumerate(ev["confusion"]):
        for p, count in enumerate(row):
            same = [i for i in images if i["class"] == classes[t] and i["predicted"] == classes[p]]
            assert len(same) == count
