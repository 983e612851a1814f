"""Issue 18, item 4: the metrics take folders, ``.npz`` image batches (``arr_0``), ``.zip`` archives,
statistics files, tensors and iterators, in every mode, and give the same numbers for the same pixels;
each bad input is refused in one line naming the file, field or count (exit 2), nothing written."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from helpers import blob_pictures as _pixels
from PIL import Image

from inceptionkit.cli import main
from inceptionkit.errors import InputError
from inceptionkit.metrics import MODES, calculate_metrics
from inceptionkit.metrics.inputs import check_images

FID = "frechet_inception_distance"


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """The same 6 + 6 pictures as folders of PNG files, .npz batches and .zip archives."""
    root = tmp_path_factory.mktemp("fid-inputs")
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        x = _pixels(6, seed)
        (root / name).mkdir()
        with zipfile.ZipFile(root / f"{name}.zip", "w") as zf:
            for i, img in enumerate(x):
                Image.fromarray(img).save(root / name / f"{i}.png")
                zf.write(root / name / f"{i}.png", f"00000/img{i:08d}.png")
        np.savez(root / f"{name}.npz", arr_0=x)
        out[name] = {"folder": root / name, "npz": root / f"{name}.npz", "zip": root / f"{name}.zip", "pixels": x}
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["fid", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def fid_json(capsys, *argv) -> dict:
    code, out, err = run(capsys, *argv, "--format", "json", "--workers", "0", "--dims", "64")
    assert code == 0, err
    return json.loads(out)


def test_every_kind_of_input_gives_the_folders_fid(kinds, fid_weights, fid_network, capsys):
    """On one engine (torch) throughout: auto may take another for an iterator, whose length it cannot
    know ahead (features within 1e-5 of eager fp32, FIDs ~1e-6 apart), than for a short folder."""
    a, b = kinds["a"], kinds["b"]
    kw = dict(dims=64, network=fid_network, engine="torch")
    want = calculate_metrics(a["folder"], b["folder"], workers=0, **kw).metrics[FID]
    got = fid_json(capsys, a["npz"], b["zip"], "--weights", fid_weights, "--engine", "torch")  # the command line
    assert got[FID] == pytest.approx(want, rel=1e-6) and want > 0.01
    assert got["settings"]["images"] == {str(a["npz"]): 6, str(b["zip"]): 6}
    tensor = torch.from_numpy(a["pixels"]).permute(0, 3, 1, 2)
    batches = iter(torch.from_numpy(b["pixels"]).permute(0, 3, 1, 2).split(4))
    lib = calculate_metrics(tensor, batches, device="cpu", **kw).metrics[FID]
    assert lib == pytest.approx(want, rel=1e-6)
    floats = iter([torch.from_numpy(b["pixels"]).permute(0, 3, 1, 2).float() / 255])
    assert calculate_metrics(tensor, floats, **kw).metrics[FID] == pytest.approx(want, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [m for m in MODES if m != "guided-diffusion"])
def test_npz_and_zip_equal_the_folder_in_every_mode(kinds, fid_network, mode):
    a, b = kinds["a"], kinds["b"]
    want = calculate_metrics(a["folder"], b["folder"], mode=mode, dims=64, network=fid_network, workers=0)
    for kind in ("npz", "zip"):
        got = calculate_metrics(a[kind], b[kind], mode=mode, dims=64, network=fid_network, workers=0)
        assert got.metrics[FID] == pytest.approx(want.metrics[FID], rel=1e-6), (mode, kind)


@pytest.mark.slow
def test_statistics_file_of_an_npz_batch(kinds, fid_weights, fid_network, tmp_path, capsys):
    a, b = kinds["a"], kinds["b"]
    code, out, err = run(capsys, "stats", a["npz"], "-o", tmp_path / "a.npz", "--weights", fid_weights,
                         "--dims", "64", "--workers", "0")  # fmt: skip
    assert code == 0 and out.strip() == f"{tmp_path / 'a.npz'}: statistics of 6 images (pytorch-fid, 64 dims)"
    via_file = calculate_metrics(tmp_path / "a.npz", b["zip"], dims=64, network=fid_network).metrics[FID]
    direct = calculate_metrics(a["folder"], b["folder"], dims=64, network=fid_network).metrics[FID]
    assert via_file == pytest.approx(direct, rel=1e-6)


# -- bad input: one line, exit 2, nothing written --------------------------------------------------------


def _bad_npz(path, **arrays):
    np.savez(path, **arrays, allow_pickle=True)
    return path


BAD_NPZ = [
    ({"arr_0": _pixels(5, 0).astype(np.float32)}, "'arr_0' is float32; images must be uint8 pixels (N x H x W x 3)"),
    ({"arr_0": _pixels(5, 0)[..., :1]}, "'arr_0' has shape (5, 40, 48, 1); images must be N x H x W x 3"),
    ({"arr_0": np.array([{"a": 1}], dtype=object)}, "'arr_0' holds Python objects (object); refused, never unpickled"),
    ({"weights": np.ones(3)}, "neither 'arr_0' images nor 'mu'/'sigma' statistics (it holds: weights)"),
]


@pytest.mark.parametrize(("arrays", "message"), BAD_NPZ, ids=["dtype", "shape", "objects", "nothing"])
@pytest.mark.parametrize("mode", ["pytorch-fid", "guided-diffusion"])
def test_bad_npz_is_one_line_and_nothing_is_written(kinds, fid_weights, tmp_path, capsys, arrays, message, mode):
    bad = _bad_npz(tmp_path / "bad.npz", **arrays)
    code, out, err = run(capsys, bad, kinds["b"]["npz"], "--mode", mode, "--weights", fid_weights,
                         "--report", tmp_path / "report")  # fmt: skip
    assert (code, out) == (2, "") and err.strip() == f"inceptionkit fid: error: {bad}: {message}"
    code, _, err = run(capsys, "stats", bad, "-o", tmp_path / "out.npz", "--mode", mode, "--weights", fid_weights)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "report").exists()


def test_object_arrays_in_statistics_are_never_unpickled(kinds, tmp_path, capsys):
    bad = _bad_npz(tmp_path / "stats.npz", mu=np.array([object()]), sigma=np.eye(1))
    code, _, err = run(capsys, bad, kinds["b"]["npz"], "--dims", "64")
    assert code == 2 and err == f"inceptionkit fid: error: {bad}: mu holds Python objects (a pickle), which are never loaded\n"


def _zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def test_bad_zip_archives(kinds, tmp_path, capsys):
    png = kinds["a"]["folder"].joinpath("0.png").read_bytes()
    empty = _zip(tmp_path / "empty.zip", {"dataset.json": "{}"})
    code, _, err = run(capsys, empty, kinds["b"]["zip"], "--dims", "64")
    assert code == 2 and err.strip() == f"inceptionkit fid: error: {empty}: no images in this archive (1 other files)"
    evil = _zip(tmp_path / "evil.zip", {"ok.png": png, "../evil.png": png})
    code, _, err = run(capsys, evil, kinds["b"]["zip"], "--dims", "64")
    assert code == 2 and err.strip().endswith(f"{evil}: member '../evil.png' escapes the archive; refused")


def test_too_few_images_for_the_knn_metrics(kinds, fid_weights, tmp_path, capsys):
    few = tmp_path / "few.npz"
    np.savez(few, arr_0=kinds["b"]["pixels"][:5])
    code, out, err = run(capsys, kinds["a"]["npz"], few, "--prdc", "--weights", fid_weights, "--dims", "64",
                         "--workers", "0", "--report", tmp_path / "report")  # fmt: skip
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1
    assert f"{few}: 5 images; precision/recall (k = 3) and density/coverage (k = 5) need at least 6" in err
    assert not (tmp_path / "report").exists()


def test_a_statistics_file_cannot_give_the_knn_metrics(kinds, tmp_path, capsys):
    stats = tmp_path / "a.npz"
    np.savez(stats, mu=np.zeros(64), sigma=np.eye(64))
    code, _, err = run(capsys, stats, kinds["b"]["npz"], "--prdc", "--dims", "64")
    assert code == 2 and f"{stats}: precision, recall, density and coverage needs images (their features)" in err


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(2, 4, 8, 8), "images must be (N, 3, H, W); got shape (2, 4, 8, 8)"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "images must be uint8 pixels or floats in [0, 1]; got torch.int32"),
        (torch.full((2, 3, 8, 8), 255.0), "float images must be in [0, 1]; found values from 255 to 255"),
        (torch.full((2, 3, 8, 8), float("nan")), "float images must be in [0, 1]; found values from nan to nan"),
    ],
)
def test_tensors_of_the_wrong_shape_dtype_or_range(x, message):
    with pytest.raises(InputError) as e:
        check_images(x, "input 2")
    assert str(e.value) == f"input 2: {message}"
