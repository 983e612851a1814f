"""Issue 4: formats told by content, safe loading, clear errors, published weight sets, download and
cache, preprocessing of each source, and the ``convert`` / ``weights`` commands.

The equality of loaded models with keras, torchvision and timm is in test_weights_keras.py and
test_weights_torch.py.
"""

from __future__ import annotations

import builtins
import hashlib
import http.server
import importlib.util
import logging
import pickle
import re
import threading
from dataclasses import replace
from functools import partial
from pathlib import Path

import h5py
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from inceptionkit import create_model
from inceptionkit.cli import main
from inceptionkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, KERAS, Preprocess
from inceptionkit.weights import (
    WeightsError,
    cache_dir,
    detect_format,
    get_weight_set,
    list_weights,
    load_native,
    read_native_metadata,
    register_weight_set,
    save_native,
)
from inceptionkit.weights.mapping import load_found

torchvision = pytest.importorskip("torchvision")
torch.set_num_threads(2)
IMAGENET = Preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD)  # torchvision's normalisation


@pytest.fixture(scope="module")
def googlenet_ref():
    """torchvision's GoogLeNet with random weights and batch-norm statistics, with its aux heads and
    ``transform_input=True`` (as torchvision builds it for its published weights)."""
    torch.manual_seed(0)
    ref = torchvision.models.googlenet(weights=None, init_weights=True, aux_logits=True, transform_input=True)
    ref.eval()
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return ref


@pytest.fixture
def googlenet_pth(googlenet_ref, tmp_path) -> Path:
    path = tmp_path / "googlenet.pth"
    torch.save(googlenet_ref.state_dict(), path)
    return path


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ---------------------------------------------------------------------------------------------
# formats, from content
# ---------------------------------------------------------------------------------------------


def test_format_is_read_from_content_not_name(tmp_path):
    state = {"w": torch.zeros(2)}
    torch.save(state, tmp_path / "zip.h5")  # names that lie
    torch.save(state, tmp_path / "legacy.safetensors", _use_new_zipfile_serialization=False)
    save_file(state, str(tmp_path / "st.pth"))
    with h5py.File(tmp_path / "keras.bin", "w") as f:
        f.attrs["layer_names"] = []
    assert detect_format(tmp_path / "zip.h5") == "torch"
    assert detect_format(tmp_path / "legacy.safetensors") == "torch"
    assert detect_format(tmp_path / "st.pth") == "safetensors"
    assert detect_format(tmp_path / "keras.bin") == "hdf5"


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _bad_files(tmp_path: Path, googlenet_pth: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the one-line error must say)."""
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "folder.pth").mkdir()
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 8)
    st = tmp_path / "whole.safetensors"
    save_file({"w": torch.zeros(1000)}, str(st))
    with h5py.File(tmp_path / "plain.h5", "w") as f:  # HDF5, but not keras'
        f["data"] = [1.0, 2.0]
    with h5py.File(tmp_path / "whole.h5", "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").attrs["weight_names"] = [b"dense/kernel:0"]
        f["dense/dense/kernel:0"] = torch.zeros(300, 300).numpy()
    torch.save([1, 2, 3], tmp_path / "list.pth")
    return {
        "empty": (tmp_path / "empty.pth", "empty file"),
        "directory": (tmp_path / "folder.pth", "is a directory"),
        "missing": (tmp_path / "nothing.pth", "no such file"),
        "noise": (tmp_path / "noise.bin", "unrecognised weight file"),
        "truncated zip": (_truncated(googlenet_pth, tmp_path / "cut.pth"), "truncated or corrupt"),
        "truncated safetensors": (_truncated(st, tmp_path / "cut.safetensors"), "truncated or corrupt"),
        "truncated hdf5": (_truncated(tmp_path / "whole.h5", tmp_path / "cut.h5"), "truncated or corrupt"),
        "hdf5 not keras": (tmp_path / "plain.h5", "not a keras weight file"),
        "pickle not a state dict": (tmp_path / "list.pth", "not a state dict"),
    }


def test_bad_files_give_one_clear_line(tmp_path, googlenet_pth):
    for name, (path, expected) in _bad_files(tmp_path, googlenet_pth).items():
        with pytest.raises(WeightsError) as e:
            create_model("googlenet", weights=path)
        msg = one_line(e)
        assert msg.startswith(str(path)) and expected in msg, (name, msg)
        assert not re.search(r"h5py|SafetensorError|HeaderTooLarge|PytorchStreamReader|Errno", msg), msg


# ---------------------------------------------------------------------------------------------
# safety: pickles that run code are refused
# ---------------------------------------------------------------------------------------------


class _Evil:
    """Unpickling this opens (creates) a file: what any code-running pickle could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_pickle_is_refused(tmp_path, zipped):
    proof, marker = tmp_path / "proof", tmp_path / "pwned"
    pickle.loads(pickle.dumps({"w": _Evil(proof)}))["w"].close()  # an unsafe load runs it ...
    assert proof.exists()
    path = tmp_path / "evil.pth"
    torch.save({"w": _Evil(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(WeightsError) as e:
        create_model("googlenet", weights=path)
    assert "refused" in one_line(e)
    assert not marker.exists()  # ... ours does not
    assert main(["convert", str(path), "--model", "googlenet", "-o", str(tmp_path / "o.safetensors")]) == 2
    assert not marker.exists() and not (tmp_path / "o.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# files that do not fit
# ---------------------------------------------------------------------------------------------


def test_file_of_another_architecture_names_the_tensor_and_the_fit(googlenet_pth):
    with pytest.raises(WeightsError) as e:
        create_model("inception_v3", weights=googlenet_pth)
    msg = one_line(e)
    assert ("features.conv_1a.conv.weight: expected (32, 3, 3, 3), found conv1.conv.weight (64, 3, 7, 7)"
            in msg)
    assert msg.endswith("it fits googlenet (torchvision)")


def test_file_of_another_variant_suggests_the_variant(tmp_path):
    ref = torchvision.models.inception_v3(weights=None, init_weights=False, aux_logits=False)
    torch.save(ref.state_dict(), tmp_path / "tv.pth")
    with pytest.raises(WeightsError) as e:
        create_model("inception_v3", variant="keras", weights=tmp_path / "tv.pth")
    msg = one_line(e)
    assert "features.conv_1a.bn.weight: expected none, found Conv2d_1a_3x3.bn.weight (32,)" in msg
    assert msg.endswith("it fits inception_v3 (torchvision), inception_v3 (timm)")


def test_other_class_count_keeps_the_backbone_and_says_so(googlenet_ref, googlenet_pth, caplog):
    x = torch.randn(1, 3, 224, 224)
    with caplog.at_level(logging.WARNING, logger="inceptionkit.weights"):
        model = create_model("googlenet", weights=googlenet_pth, num_classes=10).eval()
    assert "1000-class classifier, the model 10 classes" in caplog.text
    assert model.fc.out_features == 10 and model.weight_meta.classes is None
    full = create_model("googlenet", weights=googlenet_pth).eval()
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), full.forward_features(x))
    assert full.num_classes == 1000 and len(full.weight_meta.classes) == 1000


def test_nothing_is_copied_before_everything_is_checked():
    model = create_model("googlenet")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    found = {k: torch.ones_like(v) for k, v in before.items()}
    last = "features.inception_5b.branches.3.1.bn.running_var"  # the last backbone tensor is wrong
    found[last] = torch.ones(7)
    with pytest.raises(WeightsError, match=rf"test: {re.escape(last)}: expected \(128,\), found \(7,\)"):
        load_found(model, found, "test")
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


# ---------------------------------------------------------------------------------------------
# inceptionkit's own format, and convert
# ---------------------------------------------------------------------------------------------


def test_convert_then_load_native(googlenet_ref, googlenet_pth, tmp_path, capsys):
    out = tmp_path / "googlenet.safetensors"
    assert main(["convert", str(googlenet_pth), "--model", "googlenet", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: googlenet (torchvision), 1000 classes, 6,624,904 parameters" in printed
    md = read_native_metadata(out)
    assert (md["arch"], md["variant"], md["num_classes"]) == ("googlenet", "torchvision", "1000")
    recipe = get_weight_set("googlenet.tv_imagenet").preprocess
    u = torch.rand(2, 3, 224, 224)  # images in [0, 1]
    with torch.no_grad():
        expected = googlenet_ref(IMAGENET.normalize(u))  # the reference folds transform_input in
        for model in (load_native(out).eval(), create_model("googlenet", weights=out).eval()):
            assert model.weight_meta.preprocess == recipe and len(model.weight_meta.classes) == 1000
            err = float((model(recipe.normalize(u)) - expected).abs().max() / expected.abs().max())
            assert err <= 1e-4
    with pytest.raises(WeightsError, match="holds googlenet \\(torchvision\\) weights, not inception_v3"):
        create_model("inception_v3", weights=out)


def test_convert_errors_exit_2_with_one_line(tmp_path, googlenet_pth, capsys):
    cases = [
        [str(tmp_path / "missing.pth"), "--model", "googlenet"],
        [str(googlenet_pth), "--model", "inception_v3"],
        ["no_such.tag", "--model", "googlenet"],
    ]
    for args in cases:
        assert main(["convert", *args, "-o", str(tmp_path / "out.safetensors")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("inceptionkit convert: error: ") and "\n" not in err, err
    assert not (tmp_path / "out.safetensors").exists()
