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
import json
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
import torchvision
from PIL import Image
from safetensors.torch import save_file

from inceptionkit import create_model
from inceptionkit.cli import main
from inceptionkit.preprocess import IMAGENET_MEAN, IMAGENET_STD, KERAS, Preprocess
from inceptionkit.weights import (
    WeightMeta,
    WeightsError,
    cache_dir,
    detect_format,
    get_weight_set,
    list_weights,
    load_native,
    load_pretrained,
    read_native_metadata,
    register_weight_set,
    save_native,
)
from inceptionkit.weights.mapping import load_found

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
    assert (
        "features.conv_1a.conv.weight: expected (32, 3, 3, 3), found conv1.conv.weight (64, 3, 7, 7)" in msg
    )
    assert msg.endswith("it fits googlenet (torchvision)")


def test_file_of_another_variant_suggests_the_variant(tmp_path):
    ref = torchvision.models.inception_v3(weights=None, init_weights=False, aux_logits=False)
    torch.save(ref.state_dict(), tmp_path / "tv.pth")
    with pytest.raises(WeightsError) as e:
        create_model("inception_v3", variant="keras", weights=tmp_path / "tv.pth")
    msg = one_line(e)
    assert "features.conv_1a.bn.weight: expected none, found Conv2d_1a_3x3.bn.weight (32,)" in msg
    assert msg.endswith("it fits inception_v3 (torchvision), inception_v3 (timm), inception_v3 (fid)")


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


def test_native_file_keeps_its_classes_and_recipe(tmp_path):
    model = create_model("inception_small", num_classes=3)
    recipe = Preprocess(size=64, crop_pct=None, channels=3)
    save_native(
        tmp_path / "run.safetensors", model, WeightMeta(recipe, ["cat", "dog", "owl"], source="a run")
    )
    loaded, notes = load_pretrained("inception_small", tmp_path / "run.safetensors")
    assert notes == [] and loaded.num_classes == 3
    assert (loaded.weight_meta.classes, loaded.weight_meta.preprocess) == (["cat", "dog", "owl"], recipe)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )


def test_convert_errors_exit_2_with_one_line(tmp_path, googlenet_pth, capsys):
    cases = [
        [str(tmp_path / "missing.pth"), "--model", "googlenet"],
        [str(googlenet_pth), "--model", "inception_v3"],
        ["no_such.tag", "--model", "googlenet"],
        ["googlenet.tv_imagenet", "--model", "inception_v3"],  # refused before any download
    ]
    for args in cases:
        assert main(["convert", *args, "-o", str(tmp_path / "out.safetensors")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("inceptionkit convert: error: ") and "\n" not in err, err
    assert not (tmp_path / "out.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# published weight sets: download, checksum, cache
# ---------------------------------------------------------------------------------------------


def _local_set(tag: str, path: Path, url: str, algo: str = "md5") -> None:
    """Point ``tag`` at a local file, with that file's checksum."""
    digest = hashlib.new(algo, path.read_bytes()).hexdigest()
    register_weight_set(replace(get_weight_set(tag), url=url, checksum=f"{algo}:{digest}"))


def test_download_from_file_url_verifies_and_reuses_the_cache(weights_cache, googlenet_pth, tmp_path):
    served = tmp_path / "served" / "googlenet-1378be20.pth"
    served.parent.mkdir()
    served.write_bytes(googlenet_pth.read_bytes())
    _local_set("googlenet.tv_imagenet", served, served.as_uri(), "sha256")
    model = create_model("googlenet", weights="googlenet.tv_imagenet")
    cached = weights_cache / "googlenet.tv_imagenet" / "googlenet-1378be20.pth"
    assert cached.read_bytes() == googlenet_pth.read_bytes()
    assert sorted(p.name for p in weights_cache.rglob("*") if p.is_file()) == [cached.name]
    assert model.weight_meta.tag == "googlenet.tv_imagenet"
    assert model.weight_meta.preprocess == get_weight_set("googlenet.tv_imagenet").preprocess
    served.unlink()  # offline from now on: the cached file is used
    again = create_model("googlenet", weights="googlenet.tv_imagenet")
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )
    assert main(["weights", "download", "googlenet.tv_imagenet"]) == 0
    out = tmp_path / "converted.safetensors"
    assert main(["convert", "googlenet.tv_imagenet", "--model", "googlenet", "-o", str(out)]) == 0
    assert load_native(out).weight_meta.tag == "googlenet.tv_imagenet"


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_over_http_and_checksum_mismatch(weights_cache, http_server, googlenet_pth, capsys):
    root, base = http_server
    (root / "g.pth").write_bytes(googlenet_pth.read_bytes())
    _local_set("googlenet.tv_imagenet", root / "g.pth", f"{base}/g.pth")
    assert main(["weights", "download", "googlenet.tv_imagenet"]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"googlenet.tv_imagenet: {weights_cache}/googlenet.tv_imagenet/g.pth"
    )

    ws = replace(
        get_weight_set("googlenet.tv_imagenet"), tag="googlenet.bad_mirror", checksum="md5:" + "0" * 32
    )
    register_weight_set(ws)
    with pytest.raises(WeightsError) as e:
        create_model("googlenet", weights="googlenet.bad_mirror")
    assert "checksum mismatch" in one_line(e) and "nothing was cached" in str(e.value)
    assert not any(p.is_file() for p in (weights_cache / "googlenet.bad_mirror").glob("*"))
    register_weight_set(replace(ws, tag="googlenet.gone", url=f"{base}/missing.pth", checksum=None))
    with pytest.raises(WeightsError, match="cannot download"):
        create_model("googlenet", weights="googlenet.gone")
    assert [p.name for p in weights_cache.rglob("*") if p.is_file()] == ["g.pth"]


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("INCEPTIONKIT_CACHE")
    assert cache_dir() == tmp_path / "b" / "inceptionkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "inceptionkit"


def test_weights_list_command(capsys):
    assert main(["weights", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["tag"] for r in rows] == [ws.tag for ws in list_weights()]
    assert main(["weights", "list", "--model", "xception"]) == 0
    out = capsys.readouterr().out
    assert "xception.keras_imagenet_notop" in out and "md5:b0042744bf5b25fce3cb969f33bebb97" in out


# ---------------------------------------------------------------------------------------------
# the registry says what the sources say
# ---------------------------------------------------------------------------------------------


def test_keras_entries_match_keras_applications_source():
    """URLs and MD5s as keras.applications has them (read from keras' source, not imported)."""
    folder = Path(importlib.util.find_spec("keras").submodule_search_locations[0]) / "src" / "applications"
    keras_sets = [ws for ws in list_weights() if ws.source == "keras"]
    assert len(keras_sets) == 6
    for ws in keras_sets:
        text = re.sub(r'"\s+"', "", (folder / f"{ws.arch}.py").read_text())  # join split literals
        base, name = ws.url.rsplit("/", 1)
        assert ws.checksum.removeprefix("md5:") in text and base in text and name in text, ws.tag
        assert ws.preprocess == KERAS and ws.variant == "keras"


def _torchvision_weights(ws):
    enum, member = ws.source_name.removeprefix("torchvision.models.").split(".")
    return getattr(getattr(torchvision.models, enum), member)


def test_torchvision_entries_match_torchvision_weights():
    for ws in (get_weight_set("googlenet.tv_imagenet"), get_weight_set("inception_v3.tv_imagenet")):
        weights = _torchvision_weights(ws)
        assert ws.url == weights.url
        assert ws.checksum == "sha256:" + re.search(r"-([0-9a-f]+)\.pth$", weights.url).group(1)
        t = weights.transforms()
        assert (ws.preprocess.size, ws.preprocess.resize_size) == (t.crop_size[0], t.resize_size[0])
        assert ws.preprocess.interpolation == t.interpolation.value
        assert len(weights.meta["categories"]) == ws.num_classes


def test_timm_entries_match_timm_pretrained_cfgs():
    import timm

    timm_sets = [ws for ws in list_weights() if ws.source == "timm"]
    assert len(timm_sets) == 8
    for ws in timm_sets:
        cfg = timm.models.get_pretrained_cfg(ws.source_name)
        assert ws.reference == f"timm:{cfg.architecture}", ws.tag
        assert ws.url in (cfg.url, f"https://huggingface.co/{cfg.hf_hub_id}/resolve/main/model.safetensors")
        p = ws.preprocess
        assert (p.size, p.crop_pct, p.interpolation) == (cfg.input_size[1], cfg.crop_pct, cfg.interpolation)
        assert (p.mean, p.std) == (tuple(cfg.mean), tuple(cfg.std)) and cfg.num_classes == ws.num_classes


# ---------------------------------------------------------------------------------------------
# each recipe is its source's own preprocessing (on a real photo)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo():
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image("china.jpg"))


@pytest.mark.parametrize("tag", ["googlenet.tv_imagenet", "inception_v3.tv_imagenet"])
def test_torchvision_recipe_is_transforms_plus_transform_input(photo, tag):
    ws = get_weight_set(tag)
    model = torchvision.models.get_model(ws.arch, weights=None, init_weights=False, transform_input=True)
    theirs = model._transform_input(_torchvision_weights(ws).transforms()(photo)[None])  # torchvision's code
    ours = ws.preprocess.transform()(photo)[None]
    assert float((ours - theirs).abs().max()) <= 1e-5


def test_timm_recipes_are_timm_transforms(photo):
    import timm
    from timm.data import create_transform, resolve_data_config

    for ws in (ws for ws in list_weights() if ws.source == "timm"):
        cfg = timm.models.get_pretrained_cfg(ws.source_name).to_dict()
        theirs = create_transform(**resolve_data_config(pretrained_cfg=cfg))
        assert float((ws.preprocess.transform()(photo) - theirs(photo)).abs().max()) <= 1e-5, ws.tag


def test_weights_list_never_cuts_a_tag_or_checksum(capsys, monkeypatch):
    """Issue 11 item 6: on a 40-column terminal every tag and checksum is printed whole."""
    monkeypatch.setenv("COLUMNS", "40")
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for ws in list_weights():
        assert ws.tag in out and (ws.checksum or "none published") in out


def test_the_one_factory_reads_the_model_from_an_inceptionkit_file(tmp_path):
    """Issue 17: create_model without a name builds the model an inceptionkit file names, with the
    file's exact tensors (as load_native); a file that names no model needs the name, said naming it."""
    from inceptionkit.engines.export import export_meta
    from inceptionkit.errors import UsageError
    from inceptionkit.weights import load_native, save_native

    torch.manual_seed(0)
    made = create_model("inception_small", num_classes=10)
    save_native(tmp_path / "m.safetensors", made, export_meta(made))
    got, want = create_model(weights=tmp_path / "m.safetensors"), load_native(tmp_path / "m.safetensors")
    assert (got.spec.arch, got.spec.variant, got.num_classes) == ("inception_small", "paper", 10)
    assert got.state_dict().keys() == want.state_dict().keys()
    assert all(torch.equal(got.state_dict()[k], made.state_dict()[k]) for k in want.state_dict())
    assert got.weight_meta == want.weight_meta
    assert create_model(weights=tmp_path / "m.safetensors", num_classes=5).num_classes == 5
    torch.save(made.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(UsageError, match=r"sd\.pt: not an inceptionkit file, so the model name must be given"):
        create_model(weights=tmp_path / "sd.pt")
    with pytest.raises(UsageError, match="holds variant 'paper', not 'keras'"):
        create_model(weights=tmp_path / "m.safetensors", variant="keras")


def _initialised_then_loaded(monkeypatch, load):
    """What ``load()`` gives when every network is built with PyTorch's random initialisation first."""
    from inceptionkit.model import InceptionNet
    from inceptionkit.weights import load as loading

    with monkeypatch.context() as m:
        m.setattr(loading, "built_for", lambda spec, found, **options: InceptionNet(spec, **options))
        return load()


def test_a_load_that_fills_every_tensor_skips_the_random_initialisation(fid_weights, monkeypatch):
    """The FID network's file gives every tensor: the network is not initialised first (0.1 s of its
    0.3 s load), its tensors are the same bit for bit, and the global random generator is untouched."""
    from inceptionkit.metrics import load_fid_model

    torch.manual_seed(0)
    model = load_fid_model(fid_weights)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))  # no random number was drawn
    torch.manual_seed(0)
    old = _initialised_then_loaded(monkeypatch, lambda: load_fid_model(fid_weights))
    assert not torch.equal(torch.rand(3), after)  # PyTorch's initialisation draws them
    new, want = model.state_dict(), old.state_dict()
    assert list(new) == list(want) and all(torch.equal(new[k], want[k]) for k in new)
    assert int(new["features.conv_1a.bn.num_batches_tracked"]) == 0  # absent from the file: zero, as ever


def test_a_load_that_keeps_a_fresh_classifier_initialises_as_ever(fid_weights, monkeypatch):
    """A new 10-class head is PyTorch's initialisation, drawn in the same order as before."""
    torch.manual_seed(3)
    model = create_model("inception_v3", variant="fid", weights=fid_weights, num_classes=10)
    torch.manual_seed(3)
    old = _initialised_then_loaded(
        monkeypatch, lambda: create_model("inception_v3", variant="fid", weights=fid_weights, num_classes=10)
    )
    assert torch.equal(model.fc.weight, old.fc.weight)
    # nn.Linear's uniform initialisation on (-1/sqrt(2048), 1/sqrt(2048)): its standard deviation
    assert float(model.fc.weight.detach().std()) == pytest.approx((3 * 2048) ** -0.5, rel=0.03)
    assert torch.equal(model.features.conv_1a.conv.weight, old.features.conv_1a.conv.weight)


@pytest.mark.subprocess
def test_a_complete_load_imports_no_symbolic_maths(fid_weights):
    """Allocating the uninitialised network must not go through PyTorch's Python reference kernels
    (``Module.to_empty`` did: ``empty_like`` of a ``meta`` tensor), whose first use imports sympy and
    PyTorch's symbolic shapes: 0.3 s of every ``fid`` process's start, for nothing."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from inceptionkit.metrics import load_fid_model\n"
        f"load_fid_model({str(fid_weights)!r})\n"
        "print(json.dumps(sorted(m for m in ('sympy', 'torch.fx.experimental.symbolic_shapes') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
