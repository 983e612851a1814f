"""Issue 5: with keras-source weights, ``predict`` answers what keras' own pipeline answers.

keras.applications' InceptionV3 (torch backend) gets random weights and batch-norm statistics, its
classifier scaled up so the top 5 is well separated, and is saved with ``save_weights``. Our predict
on that file must give, for a 299x299 photo saved as PNG and as JPEG, the top-5 indices and
probabilities (within 1e-4) of ``load_img`` + ``img_to_array`` + ``preprocess_input`` + ``model.predict``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from inceptionkit.cli import main

os.environ.setdefault("KERAS_BACKEND", "torch")
from helpers import lazy_module

keras = lazy_module("keras")  # imported by the first test that runs here, not by each worker's collection (2 s)
sklearn_datasets = lazy_module("sklearn.datasets")  # (0.8 s)

# keras' own save_weights with the torch backend and numpy 2 (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    assert keras.backend.backend() == "torch"
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(weights=None)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.uniform(-0.2, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.beta.assign(rng.uniform(-0.1, 0.1, n).astype("float32"))
    dense = model.get_layer("predictions")
    dense.kernel.assign(keras.ops.convert_to_numpy(dense.kernel) * 50)
    path = tmp_path_factory.mktemp("keras") / "inception_v3.weights.h5"
    model.save_weights(str(path))
    return model, path


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    crop = Image.fromarray(sklearn_datasets.load_sample_image("china.jpg")).crop((100, 60, 399, 359))
    assert crop.size == (299, 299)
    crop.save(folder / "china.png")
    crop.save(folder / "china.jpg", quality=90)
    return [folder / "china.png", folder / "china.jpg"]


def keras_top5(model, path) -> tuple[list[int], list[float]]:
    from keras.applications.inception_v3 import preprocess_input

    x = keras.utils.img_to_array(keras.utils.load_img(str(path)))[None]
    probs = np.asarray(model.predict(preprocess_input(x), verbose=0))[0]
    top = np.argsort(-probs)[:5]
    return top.tolist(), probs[top].tolist()


def test_keras_weights_give_keras_answers(keras_model, photos, capsys):
    model, weights = keras_model
    code = main(
        [
            "predict",
            *map(str, photos),
            "--model",
            "inception_v3",
            "--variant",
            "keras",
            "--weights",
            str(weights),
            "--format",
            "json",
            "--engine",
            "torch",  # an exactness check: the default, auto, may pick a faster engine of other precision
            "--workers",
            "0",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    for result, path in zip(json.loads(out), photos, strict=True):
        indices, probs = keras_top5(model, path)
        assert np.min(-np.diff(probs)) > 1e-3  # a top 5 whose order means something
        assert result["path"] == str(path)
        assert [g["index"] for g in result["top"]] == indices
        np.testing.assert_allclose([g["probability"] for g in result["top"]], probs, rtol=0, atol=1e-4)
