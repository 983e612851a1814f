"""Issue 7, item 2: static int8 quantization, calibrated on real images, compared with fp32."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest
import torch

from inceptionkit.cli import main
from inceptionkit.data import load_digits
from inceptionkit.engines import (
    OnnxRunner,
    compare_int8,
    export_onnx,
    folder_samples,
    image_batches,
    quantization_data,
    quantize_int8,
)
from inceptionkit.weights import load_native

pytestmark = pytest.mark.xdist_group("digits_training")  # the main_job fixture: trained once per run

MAX_DROP = 0.5  # issue 7: "the int8 model's accuracy is within 0.5 points of fp32"


@pytest.fixture(scope="module")
def checkpoint(main_job) -> Path:
    """inception_small trained by the default ``inceptionkit train`` (the README's main job)."""
    return main_job[0] / "best.safetensors"


@pytest.fixture(scope="module")
def fp32(checkpoint, tmp_path_factory) -> Path:
    return export_onnx(
        load_native(checkpoint), tmp_path_factory.mktemp("onnx") / "digits.onnx", dynamic_batch=True
    ).path


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def torch_accuracy(checkpoint: Path) -> float:
    """The checkpoint's accuracy on the digits' test split, in PyTorch."""
    model = load_native(checkpoint).eval()
    test = load_digits().test
    batches = list(image_batches(test, model.weight_meta.preprocess, 128))
    with torch.no_grad():
        right = sum(int((model(b.x).argmax(1) == b.y).sum()) for b in batches)
    return right / len(test)


def test_int8_digits_within_half_a_point_of_fp32(checkpoint, tmp_path, capsys):
    out = tmp_path / "digits.onnx"
    code, stdout, err = cli(capsys, "--checkpoint", checkpoint, "-o", out, "--int8")
    assert code == 0, err
    int8 = tmp_path / "digits.int8.onnx"
    assert f"wrote {int8}: int8, minmax calibration" in stdout
    assert (
        "calibrated on 100 images of the built-in digits' training split; compared on 359 images of the "
        "built-in digits' held-out test split"
    ) in stdout
    m = re.search(
        r"top-1 agreement with fp32: ([\d.]+)% of 359 images; accuracy fp32 ([\d.]+)%, "
        r"int8 ([\d.]+)% \(drop (-?[\d.]+) points\)",
        stdout,
    )
    assert m, stdout
    agreement, acc32, acc8, drop = map(float, m.groups())
    assert acc32 == pytest.approx(100 * torch_accuracy(checkpoint), abs=0.01)  # what PyTorch gets
    assert acc32 >= 97  # the main job's model (issue 6: at least 97%)
    assert drop == pytest.approx(acc32 - acc8, abs=0.011)
    assert drop <= MAX_DROP
    assert agreement >= 98
    # really int8: quantize/dequantize pairs, weights quantized per output channel
    proto = onnx.load(str(int8))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    inits = {t.name: t for t in proto.graph.initializer}
    per_channel = [
        n
        for n in proto.graph.node
        if n.op_type == "DequantizeLinear"
        and inits.get(n.input[0]) is not None
        and inits[n.input[0]].data_type == onnx.TensorProto.INT8
        and len(inits[n.input[1]].dims) == 1
    ]
    assert per_channel
    md = {p.key: p.value for p in proto.metadata_props}
    assert md["quantization"] == (
        "int8 static QDQ, per-channel weights, minmax calibration on 100 images of "
        "the built-in digits' training split"
    )
    assert (
        md["arch"] == "inception_small"
        and md["classes"] == '["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'
    )


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods(checkpoint, fp32, tmp_path, method):
    model = load_native(checkpoint)
    data = quantization_data(model, None, samples=32)
    runner = OnnxRunner(fp32)
    int8 = quantize_int8(
        fp32,
        tmp_path / "q.onnx",
        (b.x for b in image_batches(data.calibration, runner.preprocess, 16)),
        method=method,
    )
    result = compare_int8(runner, OnnxRunner(int8), image_batches(data.evaluation, runner.preprocess, 128))
    assert result.images == 359
    assert result.top1_agreement >= 0.95
    assert OnnxRunner(int8).metadata["quantization"].endswith(f"{method} calibration on 32 images")


def write_digit_folder(folder: Path, n: int) -> None:
    """The first ``n`` test digits as PNGs in class sub-folders (ImageFolder layout)."""
    test = load_digits().test
    for i in range(n):
        (folder / str(test.targets[i])).mkdir(parents=True, exist_ok=True)
        test.load(i).save(folder / str(test.targets[i]) / f"{i}.png")


def test_calibration_folder_gives_labels(checkpoint, fp32, tmp_path, capsys):
    write_digit_folder(tmp_path / "digits", 60)
    out = tmp_path / "m.onnx"
    code, stdout, err = cli(
        capsys,
        "--checkpoint",
        checkpoint,
        "-o",
        out,
        "--int8",
        "--calibration",
        tmp_path / "digits",
        "--calibration-samples",
        "20",
    )
    assert code == 0, err
    assert f"calibrated on 20 images of {tmp_path / 'digits'}; compared on 60 images of " in stdout
    assert re.search(r"accuracy fp32 [\d.]+%, int8 [\d.]+% \(drop -?[\d.]+ points\)", stdout)
    # a flat folder has no labels: agreement only
    samples = folder_samples(tmp_path / "digits" / "3", ["0", "1", "2", "3"])
    assert set(samples.targets) == {-1}


def test_calibration_folder_without_images_is_refused(checkpoint, tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    out = tmp_path / "m.onnx"
    code, _, err = cli(
        capsys, "--checkpoint", checkpoint, "-o", out, "--int8", "--calibration", tmp_path / "empty"
    )
    assert code == 2
    assert err.strip() == (
        f"inceptionkit export: error: {tmp_path / 'empty'}: no images in this folder "
        f"(looked for .jpg, .png, ... in it and below)"
    )
    assert not out.exists() and not (tmp_path / "m.int8.onnx").exists()


def test_int8_of_a_model_without_built_in_data_needs_a_folder(tmp_path, capsys):
    code, _, err = cli(capsys, "googlenet", "-o", tmp_path / "g.onnx", "--int8")
    assert code == 2 and "int8 calibration needs a folder of images like those the model will see" in err
    assert list(tmp_path.iterdir()) == []
