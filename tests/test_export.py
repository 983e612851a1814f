"""Issue 7, items 1 and 3: ONNX export of every model, checked in ONNX Runtime; metadata; OnnxRunner."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from helpers import randomize_batchnorm

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.engines import (
    OnnxRunner,
    ensure_onnx,
    export_onnx,
    relative_difference,
)
from inceptionkit.errors import ExportError
from inceptionkit.preprocess import Preprocess
from inceptionkit.weights import WeightMeta, save_native

TOLERANCE = 1e-4  # issue 7: "max relative difference to PyTorch ... must be ≤ 1e-4"
CLASSES = [f"class {i}" for i in range(10)]


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def check_runner(runner: OnnxRunner, model: ik.InceptionNet, batch: int) -> None:
    """The file computes the model: logits within the tolerance, the same top-5 classes."""
    size = runner.input_shape[2]
    x = torch.randn(batch, model.in_chans, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model.eval()(x)
    got = runner(x)
    assert got.shape == want.shape
    assert relative_difference(got, want) <= TOLERANCE
    assert torch.equal(got.topk(5).indices, want.topk(5).indices)


# Every architecture at a small input (its minimum plus a margin, so that no stage is degenerate),
# and keras' Inception-v3 for TensorFlow's "same" padding of its stride-2 convolutions and poolings
# (xception's default variant is keras too).
SMALL = [(n, ik.default_variant(n)) for n in ik.list_models()] + [("inception_v3", "keras")]


@pytest.mark.parametrize(("name", "variant"), SMALL)
def test_every_model_exports_and_matches_pytorch(tmp_path, name, variant):
    torch.manual_seed(0)
    model = randomize_batchnorm(ik.create_model(name, variant=variant, num_classes=10)).eval()
    size = max(model.min_size, 16) + 3  # odd sizes exercise the "same" padding's extra pixel
    report = export_onnx(model, tmp_path / "m.onnx", input_size=size, dynamic_batch=True)
    assert report.max_rel_diff <= TOLERANCE
    assert report.input_shape == ("batch", 3, size, size)
    runner = OnnxRunner(report.path)
    assert runner.input_shape == (None, 3, size, size)
    assert (runner.arch, runner.variant) == (name, variant)
    check_runner(runner, model, batch=3)


def test_inception_v3_at_299_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "v3.onnx"
    code, stdout, err = cli(capsys, "inception_v3", "-o", out)
    assert code == 0, err
    assert "random weights" in err
    assert f"wrote {out}: inception_v3 (torchvision), input (1, 3, 299, 299), opset 17" in stdout
    diff = float(stdout.split("max relative difference to PyTorch on random inputs: ")[1].split()[0])
    assert diff <= TOLERANCE
    md = metadata(out)
    assert {
        k: md[k] for k in ("format", "arch", "variant", "input_size", "in_chans", "num_classes", "classes")
    } == {
        "format": "inceptionkit",
        "arch": "inception_v3",
        "variant": "torchvision",
        "input_size": "299",
        "in_chans": "3",
        "num_classes": "1000",
        "classes": "null",
    }
    assert Preprocess.from_json(md["preprocess"]).size == 299
    runner = OnnxRunner(out)
    assert runner.input_shape == (1, 3, 299, 299)
    # the wrong size or channel count: a clear error naming the expected shape, before ONNX Runtime
    for bad in (torch.zeros(1, 3, 224, 224), torch.zeros(1, 1, 299, 299), torch.zeros(3, 299, 299)):
        with pytest.raises(ValueError, match=r"v3\.onnx takes input of shape \(1, 3, 299, 299\); got"):
            runner(bad)
    # a fixed batch of 1 runs a larger batch image by image
    x = torch.randn(2, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    both = runner(x)
    assert torch.equal(both, torch.cat([runner(x[:1]), runner(x[1:])]))


def test_metadata_carries_the_weights_preprocessing_and_labels(tmp_path, capsys):
    torch.manual_seed(0)
    model = randomize_batchnorm(ik.create_model("inception_small", num_classes=10, in_chans=1)).eval()
    recipe = Preprocess(size=16, crop_pct=None, channels=1, mean=(0.5,), std=(0.5,))
    save_native(tmp_path / "best.safetensors", model, WeightMeta(recipe, CLASSES, source="a test run"))
    out = tmp_path / "small.onnx"
    code, stdout, err = cli(
        capsys, "--checkpoint", tmp_path / "best.safetensors", "-o", out, "--dynamic-batch"
    )
    assert code == 0, err
    assert "input (batch, 1, 16, 16)" in stdout
    runner = OnnxRunner(out)
    assert runner.preprocess == recipe
    assert runner.classes == CLASSES
    assert runner.metadata["source"] == "a test run"
    assert json.loads(runner.metadata["classes"]) == CLASSES
    check_runner(runner, model, batch=5)


def test_imagenet_labels_are_stored_by_name(tmp_path):
    model = ik.create_model("inception_small")
    model.weight_meta = WeightMeta(Preprocess(size=32), ik.preprocess.imagenet_categories(), "test", "a.tag")
    runner = OnnxRunner(export_onnx(model, tmp_path / "m.onnx").path)
    assert runner.metadata["classes"] == "imagenet1k"
    assert runner.metadata["source"] == "test (a.tag)"
    assert runner.classes == ik.preprocess.imagenet_categories()
    assert runner.input_shape == (1, 3, 32, 32)


def test_a_failed_check_writes_nothing(tmp_path):
    # A real disagreement, made on purpose: while the exporter traces, a hook shifts the logits by 1 %
    # of their scale, so the file computes something PyTorch's eager model does not. (A test that
    # asked for tolerance 0 instead failed in CI: on some CPUs ONNX Runtime and PyTorch round alike.)
    model = ik.create_model("inception_small", num_classes=10)

    def skew_while_exporting(module, inputs, output):
        return output + 0.01 * output.abs().max() if torch.onnx.is_in_onnx_export() else output

    model.register_forward_hook(skew_while_exporting)
    path = tmp_path / "m.onnx"
    with pytest.raises(
        ExportError, match=r"differs from PyTorch by 1\.00e-02 \(relative\), over the tolerance of 1e-04; nothing"
    ):
        export_onnx(model, path, input_size=32, tolerance=1e-4)
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"an older export")
    with pytest.raises(ExportError):
        export_onnx(model, path, input_size=32, tolerance=1e-4)
    assert path.read_bytes() == b"an older export"
    # Without the skew the same export passes the same check: the failure above was the skew's.
    model._forward_hooks.clear()
    assert export_onnx(model, path, input_size=32, tolerance=1e-4).max_rel_diff <= 1e-4


def test_export_usage_errors(tmp_path, capsys):
    code, _, err = cli(capsys, "inception_v3", "-o", tmp_path / "m.onnx", "--input-size", "40")
    assert code == 2 and "needs inputs of at least 75x75; got 40x40" in err
    code, _, err = cli(capsys, "-o", tmp_path / "m.onnx")
    assert code == 2 and "give a model NAME, or --checkpoint FILE" in err
    code, _, err = cli(capsys, "inception_small", "-o", tmp_path / "m.onnx", "--calibration", tmp_path)
    assert code == 2 and "--calibration, --eval-data and --int8-output go with --int8" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, as our own export uses
def test_a_foreign_onnx_file_runs_without_labels(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    torch.onnx.export(
        net,
        (torch.randn(1, 3, 20, 20),),
        tmp_path / "foreign.onnx",
        dynamo=False,
        input_names=["pixels"],
        dynamic_axes={"pixels": {0: "n"}},
    )
    runner = OnnxRunner(tmp_path / "foreign.onnx")
    assert (runner.preprocess, runner.classes, runner.weight_meta, runner.arch) == (None, None, None, None)
    assert runner.input_shape == (None, 3, 20, 20)
    x = torch.randn(2, 3, 20, 20)
    assert relative_difference(runner(x), net(x).detach()) <= TOLERANCE

    flat = torch.nn.Linear(6, 2)
    torch.onnx.export(flat, (torch.randn(1, 6),), tmp_path / "flat.onnx", dynamo=False)
    with pytest.raises(
        ValueError, match=r"flat\.onnx: not an image model \(it takes .*tensor\(float\) \[1, 6\]"
    ):
        OnnxRunner(tmp_path / "flat.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"junk\.onnx: not a usable ONNX model"):
        OnnxRunner(tmp_path / "junk.onnx")


def test_ensure_onnx_exports_once_per_weights(tmp_path):
    torch.manual_seed(0)
    model = ik.create_model("inception_small", num_classes=10)
    model.weight_meta = WeightMeta(Preprocess(size=32), None, "test")
    first = ensure_onnx(model, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert ensure_onnx(model, tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert first.name.startswith("inception_small-paper-32-")
    runner = OnnxRunner(first)
    assert runner.input_shape == (None, 3, 32, 32)
    check_runner(runner, model, batch=4)
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    second = ensure_onnx(model, tmp_path)
    sums = [p.with_name(p.name + ".sha256") for p in (first, second)]
    assert second != first and sorted(tmp_path.iterdir()) == sorted([first, second, *sums])


def test_a_truncated_cached_export_is_rebuilt(tmp_path):
    """Issue 10, item 18: a cached ONNX file is re-checked before it is reused."""
    torch.manual_seed(0)
    model = ik.create_model("inception_small", num_classes=10)
    model.weight_meta = WeightMeta(Preprocess(size=32), None, "test")
    path = ensure_onnx(model, tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # a write cut short (disk full, a kill)
    assert ensure_onnx(model, tmp_path) == path and path.stat().st_size > len(whole) // 2
    check_runner(OnnxRunner(path), model, batch=2)
