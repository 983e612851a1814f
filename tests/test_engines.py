"""Issue 13 (engines, auto) and issue 10 (trust) for export, predict and features: each test goes
through the command line or the public API as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from helpers import CLASSES, RECIPE, cli, make_folder, noise_pictures, save_small, small_model

import inceptionkit as ik
from inceptionkit.engines import runnable_engines
from inceptionkit.engines.auto import FEATURE_TOLERANCE
from inceptionkit.weights import WeightMeta, save_native


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def pictures(tmp_path) -> list[Path]:
    return noise_pictures(tmp_path / "pictures", 18)


def save_run_checkpoint(path: Path, dataset: str | None) -> Path:
    """Weights as a training run writes them: their source and, in newer runs, the data trained on."""
    extra = {"dataset": dataset} if dataset is not None else {}
    meta = WeightMeta(RECIPE, CLASSES, f"trained by inceptionkit on {dataset}", extra=extra)
    save_native(path, small_model(), meta)
    return path


# -- issue 10 ----------------------------------------------------------------------------------------


def test_export_refuses_to_overwrite_its_checkpoint(tmp_path, capsys):
    ckpt = save_small(tmp_path / "m.safetensors")
    before = ckpt.read_bytes()
    code, _, err = cli(capsys, "export", "--checkpoint", ckpt, "-o", ckpt)
    assert code == 2 and f"-o {ckpt} is the input --checkpoint {ckpt}: it would be overwritten" in err
    assert ckpt.read_bytes() == before


@pytest.mark.slow
def test_int8_of_a_run_calibrates_on_the_runs_own_data(tmp_path, capsys):
    make_folder(tmp_path / "data", {c: 2 for c in CLASSES[:4]}, size=30)
    ckpt = save_run_checkpoint(tmp_path / "run" / "best.safetensors", str(tmp_path / "data"))
    code, out, err = cli(capsys, "export", "--checkpoint", ckpt, "-o", tmp_path / "m.onnx", "--int8")
    assert code == 0, err
    assert f"calibrated on 8 images of {tmp_path / 'data'} (the run's training data)" in out
    assert "digits" not in out


def test_int8_of_a_run_whose_data_is_gone_is_refused(tmp_path, capsys):
    ckpt = save_run_checkpoint(tmp_path / "run" / "best.safetensors", str(tmp_path / "gone"))
    code, _, err = cli(capsys, "export", "--checkpoint", ckpt, "-o", tmp_path / "m.onnx", "--int8")
    assert code == 2 and "which is not there any more; pass --calibration DIR" in err
    unknown = save_run_checkpoint(tmp_path / "old" / "best.safetensors", None)
    code, _, err = cli(capsys, "export", "--checkpoint", unknown, "-o", tmp_path / "m.onnx", "--int8")
    assert code == 2 and "does not say what it trained on" in err and "--calibration DIR" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_int8_says_how_many_images_it_really_calibrated_on(tmp_path, capsys):
    make_folder(tmp_path / "cal", {"a": 6}, size=30)
    for name in ("broken1.png", "broken2.png"):
        (tmp_path / "cal" / "a" / name).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ckpt = save_small(tmp_path / "m.safetensors")
    code, out, err = cli(
        capsys,
        "export",
        "--checkpoint",
        ckpt,
        "-o",
        tmp_path / "m.onnx",
        "--int8",
        "--calibration",
        tmp_path / "cal",
    )
    assert code == 0, err
    assert f"calibrated on 6 images of {tmp_path / 'cal'}" in out
    assert (
        "2 file(s) did not decode and were left out" in err and "broken1.png" in err and "broken2.png" in err
    )


def test_headless_model_is_refused_by_predict(tmp_path, pictures, capsys):
    model = ik.create_model("inception_small", num_classes=0)
    save_native(tmp_path / "h.safetensors", model, WeightMeta(RECIPE, None, "test"))
    code, _, err = cli(capsys, "predict", pictures[0], "--checkpoint", tmp_path / "h.safetensors")
    assert code == 2 and "no classifier (num_classes 0)" in err and "inceptionkit features" in err


def test_onnx_file_that_is_not_a_classifier_is_a_clear_error(tmp_path, pictures, capsys):
    class Maps(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 2)  # (N, C, H/2, W/2): not (N, classes)

    torch.onnx.export(Maps(), (torch.randn(1, 3, 32, 32),), str(tmp_path / "maps.onnx"), dynamo=False)
    assert onnx.load(str(tmp_path / "maps.onnx")).graph.output
    code, out, err = cli(capsys, "predict", pictures[0], "--onnx", tmp_path / "maps.onnx", "--format", "json")
    assert code == 2 and out == ""
    assert "not an image classifier" in err and "(N, classes)" in err


def test_non_finite_logits_are_an_error_not_nan(pictures):
    model = small_model()
    with torch.no_grad():
        model.fc.bias[3] = float("nan")
    results = ik.predict(model, pictures[:2], preprocess=RECIPE, workers=0)
    assert [r.error for r in results] == [
        "the model's outputs for this image are not finite (NaN or Inf): its weights are broken"
    ] * 2
    json.dumps([r.as_dict() for r in results], allow_nan=False)  # strict JSON


def test_old_keyword_arguments_still_work(pictures):
    model = small_model()
    a = ik.predict(model, pictures[:3], preprocess=RECIPE, num_workers=0, batch_size=2, top=2)
    b = ik.predict(model, pictures[:3], ik.RunSettings(workers=0, batch_size=2), preprocess=RECIPE, top=2)
    assert [r.as_dict() for r in a] == [r.as_dict() for r in b]
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ik.predict(model, pictures[:1], batchsize=2)


# -- issue 13: auto ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_predict_auto_says_what_it_chose_agrees_with_fp32_and_remembers(tmp_path, pictures, capsys, cache):
    ckpt = save_small(tmp_path / "m.safetensors")
    args = ("predict", *pictures, "--checkpoint", ckpt, "--format", "json", "--workers", "0")
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    (line,) = err.splitlines()
    assert (
        line.startswith("inceptionkit predict: engine auto: ") and "fastest within tolerance of fp32" in line
    )
    chosen = line.removeprefix("inceptionkit predict: engine auto: ").split(" ")[0]
    assert chosen in runnable_engines()
    auto = [r["top"][0]["index"] for r in json.loads(out)]
    code, out, _ = cli(capsys, *args, "--engine", "torch")
    assert auto == [r["top"][0]["index"] for r in json.loads(out)]  # top-1 as fp32 on every image
    entry = next(iter(json.loads((cache / "onnx" / "auto.json").read_text()).values()))
    assert entry["engine"] == chosen and {t["engine"] for t in entry["trials"]} >= {"torch", "torch-opt"}
    code, _, err = cli(capsys, *args)
    assert (
        err.strip()
        == f"inceptionkit predict: engine auto: {err.split('engine auto: ')[1].split(' (measured')[0]} (measured before on this machine)"
    )


@pytest.mark.slow
def test_a_cache_from_another_cpu_is_measured_again(tmp_path, pictures, capsys, monkeypatch):
    from inceptionkit.engines import auto

    ckpt = save_small(tmp_path / "m.safetensors")
    args = ("predict", *pictures[:4], "--checkpoint", ckpt, "--workers", "0", "--engine", "auto")
    assert cli(capsys, *args)[0] == 0
    monkeypatch.setattr(auto, "cpu_model", lambda: "Another CPU")
    code, _, err = cli(capsys, *args)
    assert code == 0 and "measured before" not in err and "fastest within tolerance" in err


@pytest.mark.slow
def test_features_auto_stays_within_its_tolerance(tmp_path, pictures):
    model = small_model()
    want = ik.extract_features(model, pictures, preprocess=RECIPE, workers=0).features
    got = ik.extract_features(
        model, pictures, preprocess=RECIPE, workers=0, engine="auto", log=lambda s: None
    ).features
    err = float((got - want).abs().max() / want.abs().max())
    assert err <= FEATURE_TOLERANCE


def test_the_weights_digest_follows_every_change_of_the_tensors():
    """Computed once per model and state of its tensors (each ``fid --engine auto`` looks its engine up
    by it): an in-place change, a load and a replaced tensor each give another digest; the same
    weights in another model object give the same one."""
    from inceptionkit.engines import weights_digest

    torch.manual_seed(0)
    model = ik.create_model("inception_small", num_classes=10)
    first = weights_digest(model, "fid")
    assert weights_digest(model, "fid") == first and weights_digest(model, "other") != first
    twin = ik.create_model("inception_small", num_classes=10)
    twin.load_state_dict(model.state_dict())
    assert weights_digest(twin, "fid") == first
    with torch.no_grad():
        next(model.parameters())[0, 0, 0, 0] += 1  # in place
    changed = weights_digest(model, "fid")
    assert changed != first
    model.load_state_dict(twin.state_dict())  # loaded back: the first weights again
    assert weights_digest(model, "fid") == first
    model.fc.bias = torch.nn.Parameter(model.fc.bias + 0)  # the same values, a new tensor
    assert weights_digest(model, "fid") == first
    model.fc.bias = torch.nn.Parameter(model.fc.bias + 1)
    assert weights_digest(model, "fid") not in (first, changed)
