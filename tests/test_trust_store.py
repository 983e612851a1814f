"""Issue 19 ("Trust, second round"), items 3, 4, 9 and 13: the engine cache is an optimisation, never a
failure; a damaged weight file is never used; auto's low-precision rule, the FID variant's classes, a
failed download's exit code, bench's unreliable figures; the partial last training batch. (Items 5 and
12, outputs: tests/test_outputs.py.) Each test goes through the command line or the public API."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import cli, noise_pictures, save_small
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import inceptionkit as ik
from inceptionkit.engines import LOGITS, Engine, build_engine, runnable_engines
from inceptionkit.engines.auto import cache_key, choose
from inceptionkit.errors import WeightsError
from inceptionkit.weights import load_native
from inceptionkit.weights.native import tensors_sha256


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def pictures(tmp_path) -> list[Path]:
    return noise_pictures(tmp_path / "pictures", 16)


# -- item 3: the auto cache ----------------------------------------------------------------------


class Auto:
    """``--engine auto``'s choice through the library (:func:`choose`), among the PyTorch engines only
    (measuring every engine, ONNX exports and int8 calibration included, takes half a minute here)."""

    def __init__(self, cache: Path, *, bf16: bool = True) -> None:
        torch.manual_seed(0)
        self.model = ik.create_model("inception_small", num_classes=10).eval()
        self.cache, self.lines = cache, []
        self.candidates = ["torch", "torch-opt"]
        self.candidates += ["torch-bf16"] if bf16 and "torch-bf16" in runnable_engines() else []

    def choose(self, images: int, batch_size: int = 32) -> Engine:
        """The choice on the first ``images`` images of a run at ``batch_size`` (part of the key)."""
        batches = [torch.randn(images, 3, 28, 28, generator=torch.Generator().manual_seed(1))]
        key = self.key = cache_key(self.model, LOGITS, 28, batch_size, 1)
        build = lambda name: build_engine(name, self.model, size=28, threads=1)  # noqa: E731
        return choose(
            self.candidates, build, batches, LOGITS, key, cache_dir=self.cache, say=self.lines.append
        )


def test_an_auto_cache_that_cannot_be_written_is_no_failure_and_names_the_file(tmp_path):
    auto = Auto(tmp_path)
    (tmp_path / "auto.json").mkdir()  # auto.json a folder: before, an error naming a temporary file
    assert auto.choose(16).name in auto.candidates
    chose, remember = auto.lines
    assert "fastest within tolerance of fp32" in chose
    assert remember == (
        f"engine auto: the choice could not be remembered ({tmp_path / 'auto.json'} is a folder, not a "
        "file); it is measured again next time"
    )  # (a read-only cache folder, through the command line: see the read-only test below)


@pytest.mark.slow
def test_a_damaged_or_incomplete_auto_cache_is_ignored_and_measured_again(tmp_path):
    auto = Auto(tmp_path, bf16=False)
    auto.choose(16)
    path = tmp_path / "auto.json"
    ((name, entry),) = json.loads(path.read_text()).items()
    broken = [
        {k: v for k, v in entry.items() if k != "engine"},  # no engine field: a KeyError before
        {**entry, "images": "16"},  # a field of the wrong type
    ]
    for bad in [json.dumps({name: b}) for b in broken] + ["[" * 200_000, "\x00garbage"]:
        path.write_text(bad)  # "[" x 200,000: a RecursionError on every later run before
        auto.lines.clear()
        auto.choose(16)
        assert len(auto.lines) == 1 and "fastest within tolerance of fp32" in auto.lines[0], bad[:40]
        assert json.loads(path.read_text())[name]["engine"] in auto.candidates  # remembered anew
    auto.lines.clear()
    auto.choose(16)
    assert auto.lines[0].endswith("(measured before on this machine)")
    assert json.loads(path.read_text())[name]["images"] == 16


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_commands_measuring_at_once_both_finish_and_leave_one_valid_cache(tmp_path):
    script = (
        "import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
        "from test_trust_store import Auto; Auto(Path(sys.argv[1])).choose(16, int(sys.argv[3]))"
    )
    here = Path(__file__).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(here), str(n)], env=env,
                         stderr=subprocess.PIPE, text=True)
        for n in (16, 17)
    ]  # fmt: skip
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    doc = json.loads((tmp_path / "auto.json").read_text())
    assert sorted(e["key"]["batch_size"] for e in doc.values()) == [16, 17]  # neither entry lost
    assert [p.name for p in tmp_path.iterdir()] == ["auto.json"]  # no temporary left


# -- item 9: auto trusts a low precision only on 16 images -----------------------------------------


def test_auto_keeps_fp32_on_fewer_than_16_images_and_says_why(tmp_path):
    auto = Auto(tmp_path)
    assert auto.choose(1).precision == "fp32"  # before: any precision, after "top-1 agrees on 1/1"
    (line,) = auto.lines
    assert "on the first 1 image (" in line and "top-1 agrees on 1/1 images" in line
    assert line.endswith(
        "; fp32 kept: a lower precision is trusted only after agreeing with fp32 on at least 16 images"
    )
    auto.lines.clear()
    auto.choose(16)  # the same key: a choice made on 1 image is not reused for 16, they are measured
    (line,) = auto.lines
    assert "on the first 16 images" in line and "fp32 kept" not in line
    auto.lines.clear()
    auto.choose(1)  # and a choice made on 16 serves a run of 1
    assert auto.lines == [line.split(", the fastest")[0] + " (measured before on this machine)"]


# -- item 4: a damaged weight file is never used -----------------------------------------------------


def flip_tensor_bytes(path: Path, count: int = 8) -> Path:
    """``count`` bytes in the middle of the tensor data, their lowest bit flipped (values stay finite)."""
    data = bytearray(path.read_bytes())
    (header,) = struct.unpack("<Q", data[:8])
    middle = 8 + header + (len(data) - 8 - header) // 2
    data[middle : middle + count] = bytes(b ^ 1 for b in data[middle : middle + count])
    damaged = path.with_name("damaged.safetensors")
    damaged.write_bytes(bytes(data))
    return damaged


def metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def test_a_checkpoint_with_flipped_bytes_is_named_and_never_used(tmp_path, pictures, capsys):
    good = save_small(tmp_path / "m.safetensors")
    bad = flip_tensor_bytes(good)
    message = (
        f"{bad}: damaged: its tensor data does not match the checksum it was written with "
        "(metadata field 'tensors_sha256'); it is not used"
    )
    code, out, err = cli(capsys, "predict", pictures[0], "--checkpoint", bad, "--engine", "torch")
    assert (code, out, err) == (2, "", f"inceptionkit predict: error: {message}\n")
    code, _, err = cli(capsys, "export", "--checkpoint", bad, "-o", tmp_path / "bad.onnx")
    assert code == 2 and err == f"inceptionkit export: error: {message}\n"
    assert not (tmp_path / "bad.onnx").exists()
    code, _, err = cli(capsys, "convert", bad, "--model", "inception_small", "-o", tmp_path / "c.safetensors")
    assert code == 2 and message in err and not (tmp_path / "c.safetensors").exists()
    for load in (lambda: load_native(bad), lambda: ik.create_model("inception_small", weights=bad)):
        with pytest.raises(WeightsError) as e:
            load()
        assert str(e.value) == message
    assert load_native(good).num_classes == 10
    assert metadata(good)["tensors_sha256"] == tensors_sha256(load_file(good))


def test_convert_output_carries_the_checksum_and_files_without_one_load_as_before(tmp_path, capsys):
    model = load_native(save_small(tmp_path / "m.safetensors"))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    old = {k: v for k, v in metadata(tmp_path / "m.safetensors").items() if k != "tensors_sha256"}
    save_file(state, tmp_path / "old.safetensors", metadata=old)  # as inceptionkit wrote files before
    assert load_native(tmp_path / "old.safetensors").num_classes == 10
    out = tmp_path / "converted.safetensors"
    code, _, err = cli(
        capsys, "convert", tmp_path / "old.safetensors", "--model", "inception_small", "-o", out
    )
    assert code == 0, err
    assert metadata(out)["tensors_sha256"] == tensors_sha256(load_file(out))
    (tmp_path / "forged.safetensors").write_bytes(b"")
    save_file(state, tmp_path / "forged.safetensors", metadata={**old, "tensors_sha256": "xyz"})
    with pytest.raises(WeightsError, match="metadata field 'tensors_sha256': expected 64 lowercase hex"):
        load_native(tmp_path / "forged.safetensors")


# -- item 9: the FID variant's classes, a failed download, bench's unreliable figures -----------------


def test_the_fid_variant_has_1008_classes_and_a_file_saved_from_it_is_the_fid_network(tmp_path):
    from inceptionkit.metrics.network import load_fid_model
    from inceptionkit.preprocess import Preprocess
    from inceptionkit.weights import WeightMeta, save_native

    model = ik.create_model("inception_v3", variant="fid")
    assert model.num_classes == 1008  # before: 1000, and fid refused the file saved from it
    save_native(tmp_path / "fid.safetensors", model, WeightMeta(Preprocess(size=299), None, "test"))
    assert load_fid_model(tmp_path / "fid.safetensors").num_classes == 1008


def test_a_failed_download_exits_1(weights_cache, capsys):
    from dataclasses import replace

    from inceptionkit.weights.hub import get_weight_set, register_weight_set

    ws = get_weight_set("googlenet.tv_imagenet")
    register_weight_set(replace(ws, url="http://127.0.0.1:9/googlenet.pth"))
    code, _, err = cli(capsys, "weights", "download", "googlenet.tv_imagenet")
    assert code == 1 and "googlenet.tv_imagenet: cannot download http://127.0.0.1:9/googlenet.pth" in err


def test_bench_says_when_its_figures_are_unreliable(capsys):
    args = ("bench", "inception_small", "--img-size", "32", "--batch-size", "1", "--engine", "torch")
    code, out, err = cli(capsys, *args, "--runs", "1", "--warmup", "0")
    assert code == 0 and "torch" in out
    assert err == (
        "inceptionkit bench: these figures are unreliable: 1 timed round (a median needs at least 3); "
        "no warm-up round (the first calls pay one-time setup)\n"
    )
    code, _, err = cli(capsys, *args, "--runs", "3", "--warmup", "1")
    assert code == 0 and "unreliable" not in err


# -- item 13: the partial last batch -----------------------------------------------------------------


def test_22_images_at_batch_8_train_in_3_steps_the_last_of_6(tmp_path, capsys, pictures):
    run = tmp_path / "run"
    argv = ("train", "--max-train-images", "22", "--batch-size", "8", "--epochs", "1", "--img-size", "8")
    code, out, err = cli(capsys, *argv, "--run-dir", run, "--device", "cpu")
    assert code == 0, err
    assert "1 epochs of 3 steps, batch 8 (the last of 6), " in out  # before: 2 steps, 6 images dropped
    (row,) = csv.DictReader((run / "metrics.csv").open())
    assert row["step"] == "3"
    best = run / "best.safetensors"  # a training checkpoint carries its checksum too
    assert metadata(best)["tensors_sha256"] == tensors_sha256(load_file(best))
    code, _, err = cli(capsys, "predict", pictures[0], "--checkpoint", flip_tensor_bytes(best))
    assert code == 2 and "damaged: its tensor data does not match" in err


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_with_a_partial_last_batch_killed_and_resumed_is_bit_identical(tmp_path, train_zygote):
    from test_train_resume import RESUMABLE, finish, metrics, start, tensors_and_metadata

    # 200 images at batch 32: 7 steps an epoch, the last of 8; checkpoints at 2, 4, 6, 7 (epoch end), 8 ...
    args = [*RESUMABLE[:5], "200", *RESUMABLE[6:]]
    ref, run = tmp_path / "ref", tmp_path / "killed"
    reference = start(train_zygote, [*args, "--run-dir", str(ref)])
    rc, out = finish(start(train_zygote, [*args, "--run-dir", str(run)], kill_at="manifest-written:5"))  # at step 8
    assert rc == 137 and "2 epochs of 7 steps, batch 32 (the last of 8)" in out, out
    rc, out = finish(start(train_zygote, ["--resume", str(run)]))
    assert rc == 0 and "resuming at epoch 2, step 1 of 7" in out, out
    rc, ref_out = finish(reference)
    assert rc == 0, ref_out
    for name in ("last.safetensors", "best.safetensors"):
        (a, a_md), (b, b_md) = tensors_and_metadata(ref / name), tensors_and_metadata(run / name)
        assert a_md == b_md and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert metrics(run) == metrics(ref) and [r["step"] for r in metrics(ref)] == ["7", "14"]
    assert out.strip().splitlines()[-1] == ref_out.strip().splitlines()[-1]
