"""Issue 12, items 2 and 4 and "Bad input": the ``fid`` command, statistics files, the library API on
tensors and batches, and one test per kind of bad input. Dims 64 (the stem only) keep these fast."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from helpers import fid_weights_file, noise, photo_folder, truncated_jpeg

from inceptionkit.cli import main
from inceptionkit.images import load_image
from inceptionkit.metrics import Moments, Network, Statistics, calculate_metrics, frechet_distance
from inceptionkit.metrics.pipelines import image_to_tensor
from inceptionkit.weights.hub import get_weight_set, register_weight_set


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-cli")
    a = photo_folder(root / "a", 6, [(120, 90)], fmt="png", seed=3)
    b = photo_folder(root / "b", 6, [(120, 90)], fmt="jpeg", seed=4)
    return a, b, fid_weights_file(root)


def fid(capsys, *argv) -> tuple[int, str, str]:
    code = main(["fid", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def fid_json(capsys, *argv) -> dict:
    code, out, err = fid(capsys, *argv, "--format", "json", "--workers", "0")
    assert code == 0, err
    assert out.lstrip().startswith("{"), out
    return json.loads(out)


def test_prints_the_fid_last_and_json_has_the_settings(data, capsys):
    a, b, w = data
    code, out, _ = fid(capsys, a, b, "--weights", w, "--dims", "64", "--workers", "1")
    assert code == 0 and out.strip().splitlines()[-1].startswith("FID: ")
    r = fid_json(capsys, a, b, "--weights", w, "--dims", "64")
    assert float(out.split("FID: ")[1]) == pytest.approx(r["frechet_inception_distance"], rel=1e-6)
    s = r["settings"]
    assert (s["mode"], s["dims"], s["images"]) == ("pytorch-fid", 64, {str(a): 6, str(b): 6})
    assert s["weights"]["sha256"] == hashlib.sha256(w.read_bytes()).hexdigest()


def test_folders_are_searched_recursively_in_every_format(data, tmp_path, capsys):
    a, b, w = data
    nested = tmp_path / "nested"
    for i, path in enumerate(sorted(a.iterdir())):
        fmt = ("webp", "bmp", "gif", "tiff", "png", "jpg")[i]
        (nested / f"d{i % 2}").mkdir(parents=True, exist_ok=True)
        load_image(path).save(nested / f"d{i % 2}" / f"{i}.{fmt}")
    r = fid_json(capsys, nested, b, "--weights", w, "--dims", "64")
    assert r["settings"]["images"][str(nested)] == 6


@pytest.mark.slow
def test_stats_file_round_trip(data, tmp_path, capsys):
    a, b, w = data
    out = tmp_path / "a.npz"
    code, text, _ = fid(capsys, "stats", a, "-o", out, "--weights", w, "--dims", "64", "--workers", "0")
    assert code == 0 and str(out) in text
    with np.load(out, allow_pickle=False) as f:
        assert {"mu", "sigma"} <= set(f.files) and f["mu"].shape == (64,) and f["sigma"].shape == (64, 64)
        assert str(f["inceptionkit_mode"]) == "pytorch-fid" and int(f["inceptionkit_count"]) == 6
    direct = fid_json(capsys, a, b, "--weights", w, "--dims", "64")["frechet_inception_distance"]
    via_file = fid_json(capsys, out, b, "--weights", w, "--dims", "64")["frechet_inception_distance"]
    assert via_file == pytest.approx(direct, rel=1e-9)


@pytest.mark.slow
def test_reads_pytorch_fids_statistics_file(data, tmp_path, capsys, monkeypatch):
    from pytorch_fid.fid_score import calculate_fid_given_paths, save_fid_stats

    a, b, w = data
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / w.name).symlink_to(w)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    theirs = tmp_path / "theirs.npz"
    save_fid_stats([str(a), str(theirs)], batch_size=2, device="cpu", dims=64, num_workers=0)
    expected = calculate_fid_given_paths(
        [str(theirs), str(b)], batch_size=2, device="cpu", dims=64, num_workers=0
    )
    capsys.readouterr()  # what pytorch-fid printed
    r = fid_json(capsys, theirs, b, "--weights", w, "--dims", "64")
    assert r["frechet_inception_distance"] == pytest.approx(expected, rel=1e-4)


def test_reads_clean_fids_statistics_file(tmp_path):
    """clean-fid's make_custom_stats layout: np.savez_compressed(mu=float32 mean, sigma=np.cov)."""
    from cleanfid.fid import frechet_distance as clean_frechet

    from inceptionkit.metrics import load_statistics

    rng = np.random.default_rng(0)
    f1, f2 = rng.random((40, 8), dtype=np.float32), rng.random((40, 8), dtype=np.float32) + 0.1
    np.savez_compressed(tmp_path / "c.npz", mu=np.mean(f1, axis=0), sigma=np.cov(f1, rowvar=False))
    mine = load_statistics(tmp_path / "c.npz", dims=8, mode="clean")
    other = Statistics(np.mean(f2, axis=0).astype(np.float64), np.cov(f2, rowvar=False), 40, "clean")
    expected = clean_frechet(np.mean(f1, axis=0), np.cov(f1, rowvar=False), other.mu, other.sigma)
    assert frechet_distance(mine, other) == pytest.approx(expected, rel=1e-6)


def test_library_takes_tensors_and_iterators_of_batches(data):
    a, b, w = data
    net = Network.load(w, "pytorch-fid")
    kw = dict(dims=64, network=net, device="cpu", engine="torch")  # (auto may measure for an iterator)
    folders = calculate_metrics(a, b, **kw).metrics
    pixels_a = torch.stack([image_to_tensor(load_image(p)) for p in sorted(a.iterdir())])
    floats_b = [image_to_tensor(load_image(p))[None].float() / 255 for p in sorted(b.iterdir())]
    tensors = calculate_metrics(pixels_a, iter(floats_b), **kw).metrics
    key = "frechet_inception_distance"
    assert tensors[key] == pytest.approx(folders[key], rel=1e-6) and folders[key] > 0.01


def test_streaming_moments_are_numpys_mean_and_covariance():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 0.5, (300, 16)).astype(np.float32)
    m = Moments(16)
    for part in np.split(x, [7, 100, 101, 250]):
        m.add(torch.from_numpy(part))
    s = m.statistics("pytorch-fid")
    assert s.count == 300
    assert np.abs(s.mu - x.astype(np.float64).mean(0)).max() <= 1e-12
    assert np.abs(s.sigma - np.cov(x.astype(np.float64), rowvar=False)).max() <= 1e-12


# ---------------------------------------------------------------------------------------------------
# bad input: one test each
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, line",
    [
        (["a", "b", "-o", "s.npz"], "-o is read by fid stats, not by fid A B: save statistics with fid stats SRC -o FILE.npz"),
        (["a", "b", "--modes", "clean"], "--modes is read by fid compare and fid bench, not by fid A B: fid A B computes one --mode"),
        (["compare", "a", "b", "--mode", "clean"],
         "--mode is read by fid A B, fid stats and fid bench --stages, not by fid compare: fid compare and fid bench take --modes M1,M2"),
        (["stats", "a", "-o", "s.npz", "--kid"], "--kid is read by fid A B and fid compare, not by fid stats: drop it"),
        (["stats", "a", "-o", "s.npz", "--report", "r"], "--report is read by fid A B, not by fid stats: drop it"),
        (["compare", "a", "b", "--isc"], "--isc is read by fid A B, not by fid compare: drop it"),
        (["bench", "a", "b", "--device", "cpu"],
         "--device is read by fid A B, fid stats, fid compare and fid bench --stages, not by fid bench: drop it"),
        (["a", "b", "--stages"], "--stages is read by fid bench, not by fid A B: drop it"),
        (["a", "b", "--bootstrap", "50"], "--bootstrap goes with --ci, which was not given"),
        (["a", "b", "--seed", "3"], "--seed goes with --ci or --fid-infinity, which was not given"),
        (["a", "b", "--kid-subset-size", "10"], "--kid-subset-size goes with --kid, which was not given"),
        (["a", "b", "--prdc-k", "4"], "--prdc-k goes with --prdc, which was not given"),
    ],
)
def test_a_flag_the_action_would_not_read_is_refused(argv, line, capsys):
    """Before anything is read: ``fid A B -o s.npz`` printed the FID and wrote nothing (exit 0)."""
    code, out, err = fid(capsys, *argv)
    assert (code, out, err) == (2, "", f"inceptionkit fid: error: {line}\n")


def test_weights_that_are_no_file_and_no_tag_say_both(data, tmp_path, capsys):
    """As every command says it (``predict``, ``create_model``): ``fid`` said only "no published
    weights of that name" of a file path that did not exist."""
    missing = tmp_path / "nosuch.pth"
    code, out, err = fid(capsys, data[0], data[1], "--weights", missing)
    line = f"{missing}: no such file, and no published weights of that name (`inceptionkit weights list` shows them)"
    assert (code, out, err) == (2, "", f"inceptionkit fid: error: {line}\n")


def test_empty_folder(data, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = fid(capsys, tmp_path / "empty", data[1], "--weights", data[2])
    assert code == 2 and f"{tmp_path / 'empty'}: no images" in err and "0 found" in err


def test_folder_with_one_image(data, tmp_path, capsys):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(next(data[0].iterdir()), one)
    code, _, err = fid(capsys, one, data[1], "--weights", data[2], "--dims", "64", "--workers", "0")
    assert code == 2 and f"{one}: 1 usable image(s)" in err and "at least 2" in err


def test_statistics_of_other_dims(data, tmp_path, capsys):
    a, b, w = data
    fid(capsys, "stats", a, "-o", tmp_path / "s.npz", "--weights", w, "--dims", "64", "--workers", "0")
    code, _, err = fid(capsys, tmp_path / "s.npz", b, "--weights", w, "--dims", "192")
    s = tmp_path / "s.npz"
    assert code == 2 and err == f"inceptionkit fid: error: {s}: statistics of 64 dims; this run computes 192 (--dims 192): pass --dims 64 to compare with them\n"


def test_statistics_of_another_mode(data, tmp_path, capsys):
    a, b, w = data
    fid(capsys, "stats", a, "-o", tmp_path / "s.npz", "--weights", w, "--dims", "64", "--workers", "0")
    code, _, err = fid(capsys, tmp_path / "s.npz", b, "--weights", w, "--dims", "64", "--mode", "clean")
    s = tmp_path / "s.npz"
    assert code == 2 and err == (
        f"inceptionkit fid: error: {s}: statistics computed in mode pytorch-fid; this run computes mode clean "
        "(--mode clean): pass --mode pytorch-fid to compare with them\n"
    )


@pytest.mark.slow
def test_unreadable_images_are_listed_and_skipped_only_when_asked(data, tmp_path, capsys):
    a, b, w = data
    messy = tmp_path / "messy"
    shutil.copytree(a, messy)
    truncated_jpeg(messy / "cut.jpg")
    (messy / "notes.png").write_text("not a picture")
    code, out, err = fid(capsys, messy, b, "--weights", w, "--dims", "64", "--workers", "0")
    assert code == 1 and out == "" and "2 of 8 images cannot be read" in err
    assert "cut.jpg (cannot decode" in err and "notes.png (not an image file" in err and "--skip-bad" in err
    r = fid_json(capsys, messy, b, "--weights", w, "--dims", "64", "--skip-bad")
    assert r["settings"]["images"][str(messy)] == 6 and r["settings"]["skipped"] == {str(messy): 2}
    clean = fid_json(capsys, a, b, "--weights", w, "--dims", "64")
    assert r["frechet_inception_distance"] == pytest.approx(clean["frechet_inception_distance"], rel=1e-9)


def test_covariances_without_a_finite_square_root_are_regularised_as_pytorch_fid_does():
    from pytorch_fid.fid_score import calculate_frechet_distance

    s1, s2 = np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2)  # s1 s2 has no square root
    mu1, mu2 = np.zeros(2), np.ones(2)
    with pytest.warns(UserWarning, match="no finite square root; 1e-06 added to their diagonals"):
        ours = frechet_distance(Statistics(mu1, s1, 2, None), Statistics(mu2, s2, 2, None))
    assert ours == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), rel=1e-9)


def test_weights_of_another_variant(data, tmp_path, capsys):
    import torchvision

    model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    torch.save(model.state_dict(), tmp_path / "tv.pth")
    code, _, err = fid(capsys, data[0], data[1], "--weights", tmp_path / "tv.pth")
    assert code == 2 and "tv.pth" in err and "1000 classes" in err and "not the FID network's 1008" in err


@pytest.mark.slow
def test_kid_subset_larger_than_the_images(data, capsys, monkeypatch):
    a, b, w = data
    from inceptionkit.metrics import api

    def no_network(*args, **kwargs):
        raise AssertionError("the network ran before the refusal")

    with monkeypatch.context() as m:  # refused before any image is read: the counts are known
        m.setattr(api, "extract", no_network)
        code, _, err = fid(capsys, a, b, "--weights", w, "--dims", "64", "--kid", "--mode", "torch-fidelity")
    assert code == 2 and "KID subset size 1000" in err and "--kid-subset-size 6 or less" in err
    code, out, err = fid(
        capsys, a, b, "--weights", w, "--dims", "64", "--kid", "--kid-subsets", "5", "--format", "json"
    )
    r = json.loads(out)
    assert code == 0 and r["settings"]["kid_subset_size"] == 6 and "kernel_inception_distance_mean" in r
    reduced = "KID subset size reduced from 1000 to 6, the smaller input's count"
    assert f"inceptionkit fid: warning: {reduced}\n" in err and reduced in r["warnings"]  # one line each
    whole = ("KID's ± is 0 by construction: each of its subsets of 6 is the whole of both inputs; use a "
             "smaller --kid-subset-size for a spread")  # fmt: skip
    assert f"inceptionkit fid: warning: {whole}\n" in err and whole in r["warnings"]
    assert r["kernel_inception_distance_std"] < 1e-6 * abs(r["kernel_inception_distance_mean"])
    code, out, err = fid(capsys, a, b, "--weights", w, "--dims", "64", "--kid", "--kid-subsets", "5",
                         "--kid-subset-size", "3", "--format", "json")  # fmt: skip
    assert code == 0 and "by construction" not in err and json.loads(out)["kernel_inception_distance_std"] > 0


def test_default_weights_cannot_be_downloaded_offline(data, weights_cache, capsys):
    ws = get_weight_set("inception_v3.pytorch_fid")
    from dataclasses import replace

    register_weight_set(replace(ws, url="http://127.0.0.1:9/pt_inception-2015-12-05-6726825d.pth"))
    code, _, err = fid(capsys, data[0], data[1], "--dims", "64")
    assert code == 1 and len(err.strip().splitlines()) == 1  # the command ran and failed (issue 19)
    assert "inception_v3.pytorch_fid: cannot download http://127.0.0.1:9/" in err


@pytest.mark.slow
def test_noise_images_of_many_sizes_work_in_every_mode(data, tmp_path, capsys, monkeypatch):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, (h, w) in enumerate([(17, 40), (300, 20), (64, 64)]):
        noise(h, w, seed=i).save(mixed / f"{i}.png")
    for mode in ("pytorch-fid", "torch-fidelity", "clean"):
        r = fid_json(capsys, mixed, data[1], "--weights", data[2], "--dims", "64", "--mode", mode)
        assert r["settings"]["images"][str(mixed)] == 3
        # the same number through each folder's saved statistics
        for folder, name in ((mixed, "m.npz"), (data[1], "b.npz")):
            assert fid(capsys, "stats", folder, "-o", tmp_path / name, "--weights", data[2], "--dims", "64",
                       "--mode", mode, "--workers", "0")[0] == 0  # fmt: skip
        via_stats = fid_json(capsys, tmp_path / "m.npz", tmp_path / "b.npz", "--dims", "64", "--mode", mode)
        assert via_stats["frechet_inception_distance"] == pytest.approx(r["frechet_inception_distance"], rel=1e-6)
        if mode == "pytorch-fid":  # pytorch-fid itself, one image per batch (it cannot stack mixed sizes)
            hub = tmp_path / "torch" / "hub" / "checkpoints"
            hub.mkdir(parents=True)
            (hub / data[2].name).symlink_to(data[2])
            monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
            theirs = calculate_fid_given_paths(
                [str(mixed), str(data[1])], batch_size=1, device="cpu", dims=64, num_workers=0
            )
            capsys.readouterr()
            assert r["frechet_inception_distance"] == pytest.approx(theirs, rel=1e-4)


@pytest.mark.slow
def test_two_statistics_files_need_no_network(data, tmp_path, weights_cache, capsys):
    """Nothing to compute from images: no weights are loaded (nor downloaded: here they cannot be)."""
    from dataclasses import replace

    a, b, w = data
    for name, folder in (("a.npz", a), ("b.npz", b)):
        fid(capsys, "stats", folder, "-o", tmp_path / name, "--weights", w, "--dims", "64", "--workers", "0")
    ws = get_weight_set("inception_v3.pytorch_fid")
    register_weight_set(replace(ws, url="http://127.0.0.1:9/pt_inception-2015-12-05-6726825d.pth"))
    r = fid_json(capsys, tmp_path / "a.npz", tmp_path / "b.npz", "--dims", "64")
    direct = fid_json(capsys, a, b, "--weights", w, "--dims", "64")
    assert r["frechet_inception_distance"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-9)
    assert r["settings"]["weights"] is None and r["settings"]["images"] == {
        str(tmp_path / "a.npz"): 6,
        str(tmp_path / "b.npz"): 6,
    }
