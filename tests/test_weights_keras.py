"""Issue 4: keras weight files (legacy HDF5 as keras.applications downloads them, keras 3 .weights.h5)
load 1:1 and compute what keras computes.

Reference models are keras.applications' own (torch backend), with random weights and randomized
batch-norm statistics, saved with keras' own code. The tolerance is the issue's:
max |delta| / max |ref| <= 1e-4 in float32.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
import h5py
from helpers import lazy_module

from inceptionkit import create_model, get_spec  # noqa: E402
from inceptionkit.preprocess import KERAS  # noqa: E402
from inceptionkit.weights import WeightsError, get_weight_set  # noqa: E402
from inceptionkit.weights.keras import keras_weight_layers  # noqa: E402
from inceptionkit.weights.mapping import template  # noqa: E402

keras = lazy_module("keras")  # imported by the first test that runs here, not by each worker's collection (2 s)
legacy_h5_format = lazy_module("keras.src.legacy.saving.legacy_h5_format")
naming = lazy_module("keras.src.utils.naming")

# one worker builds the three keras models (a module fixture: built again on every worker that runs a test)
pytestmark = pytest.mark.xdist_group("keras_models")

TOL = 1e-4  # issue 4: max |delta| / max |ref| in float32

# keras.applications builder (its name), the layer whose output we compare (our stage name), batch size.
# Inception-ResNet-v2 is big: one image.
MODELS = {
    "inception_v3": ("InceptionV3", lambda m: m.get_layer("mixed5").output, "mixed5", 2),
    "inception_resnet_v2": (
        "InceptionResNetV2",
        lambda m: m.get_layer("mixed_6a").output,
        "mixed_6a",
        1,
    ),
    # Xception's sums are unnamed ``add`` layers: block 4's is the input of block 5's first ReLU
    "xception": (
        "Xception",
        lambda m: m.get_layer("block5_sepconv1_act").input,
        "block4",
        2,
    ),
}
KIND = {"Conv2D": "conv", "BatchNormalization": "bn", "SeparableConv2D": "sepconv", "Dense": "dense"}


def rel(a: torch.Tensor, ref: np.ndarray) -> float:
    ref_t = torch.from_numpy(np.asarray(ref))
    return float((a - ref_t).abs().max() / ref_t.abs().max())


def randomize(model, rng: np.random.Generator) -> None:
    """Random batch-norm statistics and affine parameters, and random biases (kernels are random)."""
    for layer in model.layers:
        for v in layer.weights:
            role = v.path.split("/")[-1]
            if role in ("moving_variance", "gamma"):
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
            elif role in ("moving_mean", "beta", "bias"):
                v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))


def save_legacy(model, path) -> None:
    """The layout keras 2 wrote (and keras.applications ships): keras' own legacy writer, with layer
    names numbered from 1 (``conv2d_1``) and weight names ending in ``:0``, as keras 2 named them."""
    counts: dict[str, int] = {}
    for layer in model.layers:
        base = naming.to_snake_case(type(layer).__name__)
        if re.fullmatch(rf"{base}(_\d+)?", layer.name):
            counts[base] = counts.get(base, 0) + 1
            layer.name = f"{base}_{counts[base]}"
        for v in layer.weights:
            v._path = f"{layer.name}/{v.name}:0"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


@pytest.fixture(scope="module", params=list(MODELS))
def keras_ref(request, tmp_path_factory):
    """A random keras.applications model saved in all layouts, and its outputs on random inputs."""
    arch = request.param
    name, mid, mid_name, batch = MODELS[arch]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None)
    randomize(model, np.random.default_rng(0))
    d = tmp_path_factory.mktemp(arch)
    files = {
        "keras3": d / "model.weights.h5",
        "legacy": d / "model_top.h5",
        "notop": d / "model_notop.h5",
        "archive": d / "model.keras",
    }
    model.save_weights(str(files["keras3"]))
    model.save(str(files["archive"]))  # keras 3's whole-model zip
    notop = keras.Model(model.inputs, model.get_layer("avg_pool").input)  # what include_top=False builds
    save_legacy(model, files["legacy"])
    with h5py.File(files["notop"], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, notop)
    model.load_weights(str(files["legacy"]))  # keras itself reads the legacy file back
    x = np.random.default_rng(1).uniform(-1, 1, (batch, 299, 299, 3)).astype("float32")
    outs = keras.Model(model.inputs, [model.output, notop.output, mid(model)])(x)
    logits, features, middle = (keras.ops.convert_to_numpy(o) for o in outs)
    return {
        "arch": arch,
        "model": model,
        "files": files,
        "mid": mid_name,
        "x": torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
        "logits": logits,
        "features": features.transpose(0, 3, 1, 2),
        "middle": middle.transpose(0, 3, 1, 2),
    }


def test_keras_layer_order_is_keras_model_layers(keras_ref):
    """Our keras order, derived from the spec, is keras' ``model.layers`` order (kind and shapes)."""
    spec = get_spec(keras_ref["arch"], "keras")
    ours = keras_weight_layers(spec)
    theirs = [layer for layer in keras_ref["model"].layers if layer.weights]
    assert len(ours) == len(theirs)
    state = template(spec).state_dict()
    for (kind, path), layer in zip(ours, theirs, strict=True):
        assert kind == KIND[type(layer).__name__], (path, layer.name)
        kernel = tuple(layer.weights[0].shape)
        if kind == "conv":
            assert tuple(state[f"{path}.weight"].shape) == (kernel[3], kernel[2], kernel[0], kernel[1])
        elif kind == "sepconv":
            assert tuple(state[f"{path}.conv1.weight"].shape) == (kernel[2], 1, kernel[0], kernel[1])
        elif kind == "bn":
            assert tuple(state[f"{path}.running_var"].shape) == kernel


@pytest.mark.parametrize("layout", ["legacy", "keras3", "archive"])
def test_keras_file_computes_what_keras_computes(keras_ref, layout, caplog):
    with caplog.at_level(logging.INFO, logger="inceptionkit.weights"):
        model = create_model(keras_ref["arch"], weights=keras_ref["files"][layout]).eval()
    assert model.spec.variant == "keras"
    assert "variant keras" in caplog.text  # chosen from the file and said so
    last, mid = model.spec.node_names[-1], keras_ref["mid"]
    with torch.no_grad():
        out = model.forward_intermediates(keras_ref["x"], [mid, last])
        logits = model.forward_head(out[last])
    errors = {"logits": rel(logits, keras_ref["logits"]), mid: rel(out[mid], keras_ref["middle"])}
    print(f"{keras_ref['arch']} {layout}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert max(errors.values()) <= TOL
    assert model.weight_meta.preprocess == KERAS
    assert len(model.weight_meta.classes) == 1000


def test_keras_notop_file(keras_ref, caplog):
    """A file without the classifier: the backbone is keras', the classifier fresh, and we say so."""
    path = keras_ref["files"]["notop"]
    with h5py.File(path) as f:  # the layout keras 2 wrote: layers numbered from 1, weights ending :0
        names = [str(n, "utf8") if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        assert "conv2d_1" in names and "conv2d" not in names
        assert "conv2d_1/kernel:0" in f["conv2d_1"]
    with caplog.at_level(logging.WARNING, logger="inceptionkit.weights"):
        model = create_model(keras_ref["arch"], weights=path).eval()
    assert "has no classifier" in caplog.text
    assert model.num_classes == 1000 and model.weight_meta.classes is None
    with torch.no_grad():
        features = model.forward_features(keras_ref["x"])
    print(f"{keras_ref['arch']} notop: features {rel(features, keras_ref['features']):.2e}")
    assert rel(features, keras_ref["features"]) <= TOL


def test_keras_file_of_another_architecture(keras_ref):
    """The error names the first tensor that does not fit and the model it does fit."""
    other = "xception" if keras_ref["arch"] != "xception" else "inception_v3"
    with pytest.raises(WeightsError) as e:
        create_model(other, variant="keras", weights=keras_ref["files"]["legacy"])
    msg = str(e.value)
    assert "\n" not in msg and "expected" in msg and "found" in msg
    assert f"it fits {keras_ref['arch']} (keras)" in msg
    with pytest.raises(WeightsError, match=f"googlenet has no keras variant; it fits {keras_ref['arch']}"):
        create_model("googlenet", weights=keras_ref["files"]["keras3"])


def test_keras_preprocessing_is_keras(tmp_path):
    """The keras recipe equals keras' own load_img(target_size) (nearest, its default) + preprocess_input."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    path = tmp_path / "china.jpg"
    Image.fromarray(load_sample_image("china.jpg")).save(path)
    recipe = get_weight_set("inception_v3.keras_imagenet").preprocess
    img = keras.utils.load_img(path, target_size=(299, 299))
    theirs = keras.applications.inception_v3.preprocess_input(keras.utils.img_to_array(img))
    ours = recipe.transform()(Image.open(path))
    assert float((ours.permute(1, 2, 0) - torch.from_numpy(np.asarray(theirs))).abs().max()) <= 1e-5


def test_keras_file_adapts_to_other_input_channels_as_timm(keras_ref):
    """Issue 10 item 7: in_chans other than 3 adapts keras' first convolution by timm's rule, as for
    every other source (it used to be ignored for keras files)."""
    from timm.models._manipulate import adapt_input_conv

    first = next(layer for layer in keras_ref["model"].layers if layer.weights)
    kernel = torch.from_numpy(keras.ops.convert_to_numpy(first.weights[0])).permute(3, 2, 0, 1)
    for chans in (1, 4):
        model = create_model(keras_ref["arch"], weights=keras_ref["files"]["legacy"], in_chans=chans)
        key = next(k for k, t in model.state_dict().items() if t.dim() == 4)
        assert model.in_chans == chans
        assert torch.equal(model.state_dict()[key], adapt_input_conv(chans, kernel))
