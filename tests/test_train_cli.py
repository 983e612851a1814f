"""``inceptionkit train`` and ``inceptionkit eval`` on the command line: bad input (exit 2, nothing
overwritten), a run killed with SIGKILL and resumed (bit-identical to an uninterrupted run), a
diverging run (exit 1), evaluation of a finished run."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import make_folder

from inceptionkit import create_model
from inceptionkit.cli import main
from inceptionkit.preprocess import Preprocess
from inceptionkit.weights.native import WeightMeta, read_native_metadata, save_native

TINY = [
    "--img-size",
    "8",
    "--epochs",
    "1",
    "--max-train-images",
    "128",
    "--batch-size",
    "32",
    "--device",
    "cpu",
]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", *TINY, "--epochs", "2", "--run-dir", str(run)]) == 0
    return run


def save_small(path: Path, in_chans: int = 3) -> None:
    save_native(
        path,
        create_model("inception_small", num_classes=10, in_chans=in_chans),
        WeightMeta(Preprocess(size=28), [str(i) for i in range(10)]),
    )


# --- bad input: exit 2, one line, nothing written ---------------------------------------------


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    rc, _, err = cli(["train", "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")], capsys)
    assert rc == 2 and "no images found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_one_class(tmp_path, capsys):
    make_folder(tmp_path / "data", {"cat": 3})
    rc, _, err = cli(["train", "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")], capsys)
    assert rc == 2 and "only one class ('cat')" in err
    assert not (tmp_path / "run").exists()


def test_image_size_below_the_models_minimum(tmp_path, capsys):
    rc, _, err = cli(["train", "--img-size", "6", "--run-dir", str(tmp_path / "run")], capsys)
    assert rc == 2 and "--img-size 6 is below the minimum input of inception_small (7x7)" in err
    assert not (tmp_path / "run").exists()


def test_resume_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    rc, _, err = cli(["train", "--resume", str(tmp_path)], capsys)
    assert rc == 2 and "is not a training run folder" in err
    assert snapshot(tmp_path) == before


def test_weights_of_another_model(tmp_path, capsys):
    save_small(tmp_path / "small.safetensors")
    make_folder(tmp_path / "data", {"a": 2, "b": 2})
    rc, _, err = cli(
        [
            "train",
            "--data",
            str(tmp_path / "data"),
            "--model",
            "inception_v3",
            "--weights",
            str(tmp_path / "small.safetensors"),
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert rc == 2 and "inception_small" in err and "inception_v3" in err
    assert not (tmp_path / "run").exists()


def test_resume_with_a_checkpoint_of_another_model(tmp_path, capsys, digits_run):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (checkpoint,) = (run / "checkpoints").iterdir()
    save_native(
        checkpoint / "last.safetensors",
        create_model("googlenet", num_classes=10),
        WeightMeta(Preprocess(size=224), None),
        extra={"train_step": "4"},
    )
    manifest = json.loads((checkpoint / "manifest.json").read_text())  # a consistent set, of googlenet
    data = (checkpoint / "last.safetensors").read_bytes()
    manifest["files"]["last.safetensors"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(run)
    rc, _, err = cli(["train", "--resume", str(run)], capsys)
    assert rc == 2 and "holds googlenet weights, but the run trains inception_small" in err
    assert snapshot(run) == before


def test_existing_run_dir_and_finished_run_are_not_touched(capsys, digits_run):
    before = snapshot(digits_run)
    rc, _, err = cli(["train", *TINY, "--run-dir", str(digits_run)], capsys)
    assert rc == 2 and "already exists and is not empty; continue it with --resume" in err
    rc, _, err = cli(["train", "--resume", str(digits_run)], capsys)
    assert rc == 2 and "has finished its 2 epochs" in err
    rc, _, err = cli(["train", "--resume", str(digits_run), "--lr", "0.1"], capsys)
    assert rc == 2 and "drop --lr" in err
    assert snapshot(digits_run) == before


# --- evaluation -----------------------------------------------------------------------------


def test_eval_defaults_to_the_held_out_digits(tmp_path, capsys, digits_run):
    rc, out, _ = cli(
        [
            "eval",
            "--checkpoint",
            str(digits_run / "best.safetensors"),
            "--confusion-png",
            str(tmp_path / "cm.png"),
        ],
        capsys,
    )
    assert rc == 0
    lines = out.strip().splitlines()
    assert "on the test digits: 359 images" in lines[0]
    matrix = lines[lines.index("confusion matrix (rows: true class, columns: predicted):") + 2 :][:10]
    counts = [[int(v) for v in row.split()[1:]] for row in matrix]
    assert sum(map(sum, counts)) == 359
    correct = sum(counts[i][i] for i in range(10))
    assert lines[-1].startswith(f"top-1 {correct / 359:.2%} ({correct}/359)   top-5 ")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_folder_with_unreadable_images_trains_and_evaluates(tmp_path, capsys):
    data = tmp_path / "data"
    make_folder(data / "train", {"ant": 10, "bee": 10}, size=10)
    make_folder(data / "val", {"ant": 3, "bee": 3}, size=10, seed=1)
    (data / "train" / "ant" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (data / "val" / "bee" / "empty.png").write_bytes(b"")
    rc, out, _ = cli(
        [
            "train",
            "--data",
            str(data),
            "--model",
            "inception_small",
            "--img-size",
            "8",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert rc == 0
    assert "skipped 2 unreadable image file(s)" in out
    assert "20 train / 6 val images" in out and out.strip().splitlines()[-1].startswith(
        "validation accuracy: "
    )
    rc, out, _ = cli(
        ["eval", "--checkpoint", str(tmp_path / "run" / "best.safetensors"), "--data", str(data)], capsys
    )
    assert rc == 0 and "skipped 1 unreadable" in out and "data/val: 6 images" in out and "top-2" in out


def test_eval_bad_input(tmp_path, capsys, digits_run):
    rc, _, err = cli(["eval", "--checkpoint", str(tmp_path / "missing.safetensors")], capsys)
    assert rc == 2 and "no such file" in err
    save_small(tmp_path / "small.safetensors")
    rc, _, err = cli(["eval", "--checkpoint", str(tmp_path / "small.safetensors")], capsys)
    assert rc == 2 and "give --data DIR" in err
    make_folder(tmp_path / "data", {"zebra": 1})
    rc, _, err = cli(
        ["eval", "--checkpoint", str(digits_run / "best.safetensors"), "--data", str(tmp_path / "data")],
        capsys,
    )
    assert rc == 2 and "no class 'zebra'" in err


# --- divergence -----------------------------------------------------------------------------


def test_nan_loss_exits_1(tmp_path, capsys):
    rc, _, err = cli(
        [
            "train",
            *TINY,
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--warmup-epochs",
            "0",
            "--checkpoint-every",
            "1",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        capsys,
    )
    assert rc == 1 and "the loss became nan at step 2" in err and "is intact" in err
    assert read_native_metadata(tmp_path / "run" / "last.safetensors")["train_step"] == "1"


# --- every setting checked before anything is created (issue 10, items 10 and 18) --------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--workers", "-1"], "--workers: must be at least 0, got -1"),
        (["--num-workers", "-1"], "--num-workers: must be at least 0, got -1"),  # the old spelling
        (["--label-smoothing", "2"], "--label-smoothing must be in [0, 1); got 2.0"),
        (["--label-smoothing", "-0.1"], "--label-smoothing must be in [0, 1); got -0.1"),
        (["--epochs", "0"], "--epochs must be at least 1; got 0"),
        (["--batch-size", "-4"], "--batch-size: must be at least 1, got -4"),
        (["--img-size", "0"], "--img-size: must be at least 1, got 0"),
        (["--img-size", "100000"], "--img-size: must be at most 4096 pixels, got 100000"),
        (["--in-chans", "0"], "--in-chans must be in [1, 64]; got 0"),
        (["--lr", "0"], "--lr must be above 0; got 0.0"),
        (["--lr", "nan"], "--lr must be a finite number; got nan"),
        (["--lr", "inf"], "--lr must be a finite number; got inf"),  # issue 19: inf passed, then diverged
        (["--weight-decay", "-1"], "--weight-decay must be at least 0; got -1.0"),
        (["--warmup-epochs", "-1"], "--warmup-epochs must be at least 0; got -1.0"),
        (["--drop-rate", "1"], "--drop-rate must be in [0, 1); got 1.0"),
        (["--crop-scale", "0"], "--crop-scale must be in (0, 1]; got 0.0"),
        (["--max-train-images", "0"], "--max-train-images must be at least 1; got 0"),
        (["--checkpoint-every", "-2"], "--checkpoint-every must be at least 0; got -2"),
        (["--seed", "-1"], "--seed must be in [0, 9223372036854775807]; got -1"),
        (["--val-split", "0.5"], "--val-split applies to data folders; the digits have a fixed split"),
        (["--device", "meta"], "--device meta cannot run a model here; use cpu, cuda or cuda:N"),
        (["--device", "tpu"], "--device 'tpu' is unknown; use cpu, cuda or cuda:N"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_created(tmp_path, capsys, flags, message):
    rc, _, err = cli(["train", *flags, "--run-dir", str(tmp_path / "run")], capsys)
    assert rc == 2 and err.strip().splitlines() == [f"inceptionkit train: error: {message}"]
    assert not (tmp_path / "run").exists()


def test_a_run_without_checkpoint_can_be_reused_or_resumed(tmp_path, capsys):
    # diverges at step 2, before its first checkpoint: config.json written, no weights
    run = tmp_path / "run"
    diverging = ["--optimizer", "sgd", "--lr", "1e30", "--warmup-epochs", "0"]
    rc, _, err = cli(["train", *TINY, *diverging, "--run-dir", str(run)], capsys)
    assert rc == 1 and "no checkpoint had been written yet" in err
    assert (run / "config.json").exists() and not (run / "last.safetensors").exists()
    (run / ".config.json.x1y2.tmp").write_text("{")  # what a config.json write killed midway leaves
    (run / "config.json").unlink()
    rc, out, _ = cli(["train", *TINY, "--run-dir", str(run)], capsys)  # reused for a new run
    assert rc == 0 and "held-out test accuracy" in out
    assert json.loads((run / "config.json").read_text())["config"]["optimizer"] == "rmsprop"

    # a run folder whose first checkpoint never came: --resume starts it from the beginning
    fresh = tmp_path / "fresh"
    rc, ref_out, _ = cli(["train", *TINY, "--run-dir", str(fresh)], capsys)
    shutil.rmtree(fresh / "checkpoints")
    for name in ("last.safetensors", "best.safetensors", "metrics.csv", "curves.png"):
        (fresh / name).unlink()
    rc, out, _ = cli(["train", "--resume", str(fresh)], capsys)
    assert rc == 0 and "holds no checkpoint yet: starting it from the beginning" in out
    assert out.strip().splitlines()[-1] == ref_out.strip().splitlines()[-1]


def test_a_class_folder_without_images(tmp_path, capsys, digits_run):
    make_folder(tmp_path / "data", {"ant": 4, "bee": 4}, size=10)
    (tmp_path / "data" / "notes").mkdir()
    (tmp_path / "data" / "notes" / "readme.txt").write_text("not an image")
    rc, _, err = cli(["train", "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")], capsys)
    assert err.strip().splitlines() == [
        f"inceptionkit train: error: {tmp_path / 'data' / 'notes'}: no images in this class folder; "
        f"add images or move it out of {tmp_path / 'data'}"
    ]
    assert rc == 2 and not (tmp_path / "run").exists()
    # eval has nothing to score there, and scores the rest
    make_folder(tmp_path / "digits", {"3": 2}, size=8)
    (tmp_path / "digits" / "notes").mkdir()
    rc, out, _ = cli(
        ["eval", "--checkpoint", str(digits_run / "best.safetensors"), "--data", str(tmp_path / "digits")],
        capsys,
    )
    assert rc == 0 and f"on {tmp_path / 'digits'}: 2 images" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["--workers", "-1"], "--workers: must be at least 0, got -1"),
        (["--device", "meta"], "--device meta cannot run a model here; use cpu, cuda or cuda:N"),
        (["--device", "nonsense"], "--device 'nonsense' is unknown; use cpu, cuda or cuda:N"),
    ],
)
def test_eval_bad_settings(capsys, digits_run, flags, message):
    rc, _, err = cli(["eval", "--checkpoint", str(digits_run / "best.safetensors"), *flags], capsys)
    assert rc == 2 and err.strip().splitlines() == [f"inceptionkit eval: error: {message}"]
