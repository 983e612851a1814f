"""Issue 13, item 3: what low precision costs on the trained default model (the README's main job:
inception_small on the digits), per engine against fp32 on the held-out test split."""

from __future__ import annotations

import pytest
import torch

from inceptionkit.data import load_digits
from inceptionkit.engines import Calibration, build_engine, image_batches, quantization_data, runnable_engines
from inceptionkit.weights import load_native

pytestmark = pytest.mark.xdist_group("digits_training")  # the main_job fixture: trained once per run

MAX_CHANGED = 0.01  # issue 13: low precision must not change the top-1 answer on more than 1% of images
LOW_PRECISION = ("torch-bf16", "onnxruntime-int8", "openvino", "openvino-int8")


@pytest.fixture(scope="module")
def digits_model(main_job):
    return load_native(main_job[0] / "best.safetensors").eval()


@pytest.mark.slow
@pytest.mark.parametrize("engine", LOW_PRECISION)
def test_low_precision_keeps_the_digits_answers(engine, digits_model, tmp_path):
    if engine not in runnable_engines():
        pytest.skip(f"this machine cannot run {engine}")
    recipe = digits_model.weight_meta.preprocess
    test = load_digits().test
    batches = list(image_batches(test, recipe, 128))
    x, y = torch.cat([b.x for b in batches]), torch.cat([b.y for b in batches])
    assert len(x) == 359  # the digits' held-out split
    with torch.no_grad():
        want = digits_model(x).argmax(1)
    data = quantization_data(digits_model, None)  # the run's own data: the digits' training split
    calibration = Calibration(
        lambda: (b.x for b in image_batches(data.calibration, recipe, 32)), "digits", " of the digits"
    )
    run = build_engine(engine, digits_model, size=recipe.size, cache_dir=tmp_path, calibration=calibration)
    got = run(x).argmax(1)
    changed = float((got != want).float().mean())
    assert changed <= MAX_CHANGED, f"{engine} changes the top-1 answer on {100 * changed:.2f}% of the digits"
    accuracy_fp32, accuracy = float((want == y).float().mean()), float((got == y).float().mean())
    assert accuracy >= accuracy_fp32 - MAX_CHANGED
