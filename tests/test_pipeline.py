"""Issue 10, items 1, 12, 13 and 18: one image pipeline for every command.

The same file is the same tensor whether training, evaluation, prediction, features or int8
calibration reads it; FIFOs, symbolic-link loops, extreme shapes and hostile file names are bad files
like any other, in every command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import (
    CLASSES,
    RECIPE,
    exif_rotated_jpeg,
    make_folder,
    noise,
    palette_with_transparency,
    save_small,
    sixteen_bit_png,
    small_model,
)
from PIL import Image

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.data import DataError, ImageDataset, load_eval_folder, load_folder
from inceptionkit.engines import folder_samples, image_batches
from inceptionkit.images import MAX_ASPECT, MAX_SIDE, display_path, find_images, load_image
from inceptionkit.preprocess import Preprocess
from inceptionkit.weights import WeightMeta, save_native

TESTS = Path(__file__).parent
GREY = Preprocess(size=28, crop_pct=None, channels=1, mean=(0.5,), std=(0.5,))
CROPPED = Preprocess(size=24, crop_pct=0.875, interpolation="bicubic")


def write_kinds(folder: Path) -> list[str]:
    """One file of each kind the issue names, all different pictures; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    exif_rotated_jpeg(folder / "rotated.jpg")  # 48x32 stored, 32x48 upright
    sixteen_bit_png(folder / "sixteen.png")  # mean 127.4 scaled, 254.4 clipped
    palette_with_transparency(folder / "palette.png")
    Image.new("CMYK", (20, 16), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    noise(18, 30, seed=3).save(folder / "noise.ppm")  # read by training only, before
    frames = [noise(16, 16, seed=4).convert("P"), Image.new("P", (16, 16), 1)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])  # predict only
    noise(26, 22, seed=5).convert("L").save(folder / "grey.png")
    Image.new("LA", (12, 12), (77, 0)).save(folder / "grey_alpha.png")
    return sorted(p.name for p in folder.iterdir())


def by_name(paths: list[str], tensors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    return {Path(p).name: t for p, t in zip(paths, tensors, strict=True)}


class Capture:
    """A classifier that records what it is fed: predict's loader, seen from outside."""

    classes = None

    def __init__(self, recipe: Preprocess) -> None:
        self.preprocess, self.seen = recipe, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += list(x)
        return torch.zeros(len(x), 2)


@pytest.mark.parametrize("recipe", [RECIPE, GREY, CROPPED], ids=["rgb", "grey", "cropped"])
def test_every_command_sees_the_same_tensor(tmp_path, recipe):
    names = write_kinds(tmp_path / "data" / "zero")
    write_kinds(tmp_path / "data" / "one")
    cls = tmp_path / "data" / "zero"
    files = [str(cls / n) for n in names]
    # the reference: the one decoder, then the recipe
    want = {
        n: recipe.transform()(load_image(f, "L" if recipe.channels == 1 else "RGB"))
        for n, f in zip(names, files, strict=True)
    }
    assert want["rotated.jpg"].shape[-2:] == (recipe.size, recipe.size)

    # training: the folder dataset (train and validation parts), as the trainer evaluates it
    data = load_folder(tmp_path / "data", val_split=0.5)
    seen = {}
    for part in (data.train, data.val):
        ds = ImageDataset(part, recipe.transform())
        seen.update({p: ds[i][0] for i, p in enumerate(part.items)})
    assert data.skipped == 0 and {Path(p).name for p in seen} == set(names)
    training = {Path(p).name: t for p, t in seen.items() if Path(p).parent == cls}

    # eval of a checkpoint on the folder
    samples, _, skipped = load_eval_folder(tmp_path / "data", ["zero", "one"])
    ds = ImageDataset(samples, recipe.transform())
    evaluation = {Path(p).name: ds[i][0] for i, p in enumerate(samples.items) if Path(p).parent == cls}

    # predict, with and without background workers
    capture = Capture(recipe)
    results = ik.predict(capture, [cls], batch_size=3, num_workers=0)
    assert [r.error for r in results] == [None] * len(names)
    predicted = by_name([r.path for r in results], capture.seen)
    capture = Capture(recipe)
    ik.predict(capture, files, batch_size=3, num_workers=2)
    predicted_in_workers = by_name(files, capture.seen)

    # int8 calibration's loader (export --int8 --calibration DIR)
    calib = folder_samples(cls, None)
    calibrated = by_name(calib.items, [x for b in image_batches(calib, recipe, 3) for x in b.x])

    for name in names:
        for path_name, got in (
            ("train", training),
            ("eval", evaluation),
            ("predict", predicted),
            ("predict in workers", predicted_in_workers),
            ("export calibration", calibrated),
        ):
            assert torch.equal(got[name], want[name]), f"{name} through {path_name}"


def test_features_see_the_same_tensor(tmp_path):
    names = write_kinds(tmp_path)
    model = small_model()
    got = ik.extract_features(model, [tmp_path], preprocess=RECIPE, pool="none", batch_size=1, num_workers=0)
    assert [Path(p).name for p in got.paths] == names and not got.failed
    x = torch.stack([RECIPE.transform()(load_image(tmp_path / n)) for n in names])
    with torch.no_grad():
        torch.testing.assert_close(got.features, torch.cat([model.forward_features(xi[None]) for xi in x]))


def test_the_pictures_the_issue_measured(tmp_path):
    write_kinds(tmp_path / "data" / "zero")
    write_kinds(tmp_path / "data" / "one")
    data = load_folder(tmp_path / "data", val_split=0.5)
    decoded = {
        Path(p).name: np.asarray(part.load(i))
        for part in (data.train, data.val)
        for i, p in enumerate(part.items)
    }
    assert decoded["rotated.jpg"].shape == (48, 32, 3)  # upright: 32 wide, 48 high (was 48x32)
    assert decoded["sixteen.png"].mean() == pytest.approx(127.377, abs=1e-3)  # scaled (clipped: 254.4)
    assert {"noise.ppm", "animated.gif"} <= decoded.keys()


# -- FIFOs and symbolic links to parent folders, in every command (item 12) ----------------------------


def hostile_folder(root: Path) -> dict[str, list[str]]:
    """Two classes of 4 images each, a FIFO named like an image in each, and in each class a
    symbolic link to the parent folder (walked naively: an endless, exponential tree). The real
    image files of each class."""
    make_folder(root, {"zero": 4, "one": 4}, size=10)
    for cls, link in (("zero", "up"), ("one", "parent")):
        os.mkfifo(root / cls / "pipe.png")
        (root / cls / link).symlink_to("..", target_is_directory=True)
    return {c: sorted(str(p) for p in (root / c).glob("[0-9].png")) for c in ("zero", "one")}


def _run_every_command(root: str, work: str) -> dict:
    """In a child process (the parent kills it if anything hangs): what each command made of the
    hostile folder."""
    import contextlib
    import io

    torch.set_num_threads(1)
    out: dict = {}
    root_path, work_path = Path(root), Path(work)
    data = load_folder(root_path, val_split=0.5)
    out["train_items"] = [data.train.items, data.val.items]
    out["train_targets"] = [data.train.targets, data.val.targets]
    out["train_skipped"] = [p for p, _ in data.unreadable]
    samples, _, skipped = load_eval_folder(root_path, CLASSES)
    out["eval_folder"] = [samples.items, samples.targets, skipped]
    out["calibration"] = folder_samples(root_path, CLASSES).items
    ckpt = save_small(work_path / "small.safetensors")
    for name, argv in {  # --engine torch: the FIFOs never reach an engine (auto would measure them all)
        "predict": ["predict", root, "--checkpoint", str(ckpt), "--format", "json", "--num-workers", "0",
                    "--engine", "torch"],
        "features": [
            "features", root, "--checkpoint", str(ckpt), "-o", str(work_path / "f.npz"), "--num-workers", "0",
            "--engine", "torch",
        ],
        "eval": ["eval", "--checkpoint", str(ckpt), "--data", root],
        "train": [
            "train", "--data", root, "--model", "inception_small", "--img-size", "8", "--epochs", "1",
            "--batch-size", "4", "--device", "cpu", "--run-dir", str(work_path / "run"),
        ],
    }.items():  # fmt: skip
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(argv)
        out[name] = [code, stdout.getvalue(), stderr.getvalue()]
    return out


def run_in_child(function: str, *args: str, timeout: float = 180) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(TESTS)!r}); import test_pipeline as t; "
        f"print(json.dumps(t.{function}(*sys.argv[1:])))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{function} did not finish in {timeout} s: something blocked or looped")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.subprocess
def test_fifos_and_parent_links_never_hang_or_duplicate(tmp_path):
    real = hostile_folder(tmp_path / "data")
    every = real["zero"] + real["one"]
    found = [s.path for s in find_images([tmp_path / "data"]) if s.error is None]
    # each real image once, under its own path; each FIFO once (it fails when read, unopened)
    assert sorted(p for p in found if not p.endswith("pipe.png")) == sorted(every)
    assert sorted(p for p in found if p.endswith("pipe.png")) == [
        str(tmp_path / "data" / c / "pipe.png") for c in ("one", "zero")
    ]

    out = run_in_child("_run_every_command", str(tmp_path / "data"), str(tmp_path))
    train, val = out["train_items"]
    assert sorted(train + val) == sorted(every) and not set(train) & set(val)
    for items, targets in zip(out["train_items"], out["train_targets"], strict=True):
        assert targets == [0 if "/one/" in p else 1 for p in items]  # its own class ("one" < "zero")
    assert sorted(out["train_skipped"]) == sorted(
        str(tmp_path / "data" / c / "pipe.png") for c in ("one", "zero")
    )
    items, targets, skipped = out["eval_folder"]
    assert sorted(items) == sorted(every) and skipped == 2
    assert targets == [CLASSES.index("one" if "/one/" in p else "zero") for p in items]
    assert sorted(out["calibration"]) == sorted(
        every + [str(tmp_path / "data" / c / "pipe.png") for c in ("one", "zero")]
    )

    code, stdout, _ = out["predict"]
    results = json.loads(stdout)
    assert code == 1  # the FIFOs are reported in their place, the 8 images classified
    assert sorted(r["path"] for r in results if "top" in r) == sorted(every)
    assert {r["path"]: r["error"] for r in results if "error" in r} == {
        str(tmp_path / "data" / c / "pipe.png"): "not a regular file" for c in ("one", "zero")
    }
    code, stdout, stderr = out["features"]
    assert code == 1 and "8 feature vectors" in stdout and stderr.count("not a regular file") == 2
    code, stdout, _ = out["eval"]
    assert code == 0 and "skipped 2 unreadable" in stdout and ": 8 images" in stdout
    code, stdout, _ = out["train"]
    assert code == 0 and "skipped 2 unreadable image file(s)" in stdout and "6 train / 2 val images" in stdout


def test_links_between_splits_keep_each_image_in_one_split(tmp_path):
    make_folder(tmp_path / "train", {"a": 3, "b": 3})
    make_folder(tmp_path / "val", {"a": 1, "b": 1}, seed=1)
    (tmp_path / "val" / "a" / "borrowed.png").symlink_to(tmp_path / "train" / "a" / "0.png")
    (tmp_path / "val" / "b" / "more").symlink_to(tmp_path / "train" / "b", target_is_directory=True)
    data = load_folder(tmp_path)
    assert (len(data.train), len(data.val)) == (6, 2)  # the linked copies stay in train only
    real = [os.path.realpath(p) for p in data.train.items + data.val.items]
    assert len(set(real)) == 8


# -- extreme shapes (item 13) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strips(tmp_path_factory) -> Path:
    """A folder of two classes with 3 good images each and 3 strips: 40,000,000x1 (116 KB, under
    PIL's pixel limit: an OverflowError when resized), 100,000x1 (a MemoryError) and 2x1000."""
    root = tmp_path_factory.mktemp("strips")
    make_folder(root, {"zero": 3, "one": 3}, size=10)
    Image.new("L", (40_000_000, 1), 200).save(root / "zero" / "strip40M.png")
    Image.new("RGB", (100_000, 1), (9, 9, 9)).save(root / "one" / "strip100k.png")
    Image.new("RGB", (2, 1000)).save(root / "one" / "tall.png")
    assert (root / "zero" / "strip40M.png").stat().st_size < 200_000
    return root


STRIP_ERRORS = {
    "strip40M.png": f"40000000x1: a side over {MAX_SIDE:,} pixels",
    "strip100k.png": f"100000x1: a side over {MAX_SIDE:,} pixels",
    "tall.png": f"2x1000: one side over {MAX_ASPECT} times the other",
}


def test_extreme_shapes_are_bad_files_in_predict_and_features(strips, tmp_path, capsys):
    # Inception-v3's recipe (short side to 342, centre 299) is where the strips used to kill the run
    results = ik.predict(Capture(Preprocess(size=299, crop_pct=0.875)), [strips], num_workers=0)
    assert {Path(r.path).name: r.error for r in results if r.error} == STRIP_ERRORS
    assert sum(r.error is None for r in results) == 6
    ckpt = tmp_path / "small.safetensors"  # short side to 85 (the 40,000,000x1 strip: an OverflowError)
    save_native(ckpt, small_model(), WeightMeta(Preprocess(size=75, crop_pct=0.875), CLASSES, "test"))
    # --engine torch: the strips never reach an engine (auto would measure every engine on the six good ones)
    code = main(["predict", str(strips), "--checkpoint", str(ckpt), "--format", "json", "--num-workers", "0",
                 "--engine", "torch"])  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert code == 1 and sum("top" in r for r in results) == 6
    assert {Path(r["path"]).name: r["error"] for r in results if "error" in r} == STRIP_ERRORS
    code = main(
        [
            "features",
            str(strips),
            "--checkpoint",
            str(ckpt),
            "-o",
            str(tmp_path / "f.npz"),
            "--num-workers",
            "0",
            "--engine",
            "torch",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and "6 feature vectors" in out and "3 failed" in out
    for name, error in STRIP_ERRORS.items():
        assert f"{strips / ('zero' if name == 'strip40M.png' else 'one') / name}: error: {error}" in err


def test_extreme_shapes_are_skipped_and_reported_in_training(strips, tmp_path, capsys):
    data = load_folder(strips, val_split=0.4)
    assert {Path(p).name: why for p, why in data.unreadable} == STRIP_ERRORS
    assert len(data.train) + len(data.val) == 6
    code = main(
        ["train", "--data", str(strips), "--model", "inception_small", "--img-size", "8", "--epochs", "1",
         "--batch-size", "2", "--val-split", "0.4", "--device", "cpu", "--run-dir", str(tmp_path / "run")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "skipped 3 unreadable image file(s)" in out


def test_in_memory_strips_are_refused_too(tmp_path):
    results = ik.predict(Capture(RECIPE), [Image.new("RGB", (5000, 2)), Image.new("RGB", (8, 8))])
    assert [r.error for r in results] == ["5000x2: one side over 100 times the other", None]


# -- class folders and file names (item 18) --------------------------------------------------------------


@pytest.mark.parametrize("content", [{}, {"notes.txt": b"no pictures"}, {"bad.png": b"not a png"}])
def test_a_class_folder_without_images_is_named(tmp_path, capsys, content):
    make_folder(tmp_path / "data", {"zero": 3, "one": 3})
    notes = tmp_path / "data" / "notes"
    notes.mkdir()
    for name, data in content.items():
        (notes / name).write_bytes(data)
    what = "no images"
    if content.get("bad.png"):
        what = "no readable images (1 unreadable, e.g. "
        what += f"{notes / 'bad.png'}: not an image file (no decoder recognises its content))"
    message = f"{notes}: {what} in this class folder; add images or move it out of {tmp_path / 'data'}"
    with pytest.raises(DataError) as e:
        load_folder(tmp_path / "data")
    assert str(e.value) == message
    code = main(["train", "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")])
    assert code == 2 and capsys.readouterr().err == f"inceptionkit train: error: {message}\n"
    assert not (tmp_path / "run").exists()
    samples, _, skipped = load_eval_folder(tmp_path / "data", CLASSES)  # evaluation scores the rest
    assert len(samples) == 6 and skipped == len(content) - ("notes.txt" in content)


def test_display_path_escapes_what_a_terminal_would_run():
    assert display_path("photos/cat 1.jpg") == "photos/cat 1.jpg"
    assert display_path("photos/été.jpg") == "photos/été.jpg"
    assert display_path("a\x1b[31mred\n.png") == "'a\\x1b[31mred\\n.png'"
    assert display_path(os.fsdecode(b"bad\xff.png")) == "'bad\\udcff.png'"


def test_file_names_with_control_characters_never_reach_the_terminal(tmp_path, capsys):
    evil = "evil\x1b]0;pwned\x07\x1b[31m.png"
    make_folder(tmp_path / "data", {"zero": 3, "one": 3})
    (tmp_path / "data" / "zero" / evil).write_bytes(b"garbage")
    (tmp_path / "data" / "cls\x1b[2J").mkdir()
    ckpt = save_small(tmp_path / "small.safetensors")
    for argv in (
        ["predict", str(tmp_path / "data"), "--checkpoint", str(ckpt), "--num-workers", "0"],
        [
            "features",
            str(tmp_path / "data"),
            "--checkpoint",
            str(ckpt),
            "-o",
            str(tmp_path / "f.npz"),
            "--num-workers",
            "0",
        ],
        ["train", "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")],
    ):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code in (1, 2) and "\x1b" not in out + err and "\x07" not in out + err, argv[0]
        assert "\\x1b" in out + err, argv[0]
    (tmp_path / "data" / "cls\x1b[2J").rmdir()
    data = load_folder(tmp_path / "data")
    assert data.skipped_examples == (display_path(tmp_path / "data" / "zero" / evil),)
    assert "\x1b" not in data.skipped_examples[0]


def test_the_threaded_scan_leaves_the_warning_filters_alone(tmp_path):
    # warnings.catch_warnings() inside decoding threads would restore the process-wide filters in a
    # racy order, leaving "ignore everything" behind for the rest of the run
    make_folder(tmp_path, {"zero": 60, "one": 60}, size=8)
    before = list(warnings.filters)
    for _ in range(3):
        load_folder(tmp_path, workers=8)
        assert list(warnings.filters) == before
