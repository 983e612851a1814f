"""Issue 18, item 5: ``inceptionkit fid compare A B``: FID (and KID) under every mode side by side, the
features computed once per distinct network input (torch-fidelity, torchmetrics-legacy and
guided-diffusion share theirs for 8-bit pixels), each mode's number equal to ``fid --mode`` alone, and
one line per mode saying what differs from the default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import blob_pictures

from inceptionkit.cli import main
from inceptionkit.metrics import MODES, calculate_metrics
from inceptionkit.metrics.compare import passes
from inceptionkit.metrics.conventions import differences
from inceptionkit.metrics.pipelines import PIPELINES


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-compare")
    np.savez(root / "a.npz", arr_0=blob_pictures(6, 20, (300, 320)))  # larger than 299: the resizes differ
    np.savez(root / "b.npz", arr_0=blob_pictures(6, 21, (300, 320)))
    return root / "a.npz", root / "b.npz"


def test_modes_sharing_a_network_input_share_the_pass():
    assert passes(list(MODES), pixels=True) == {
        "pytorch-fid": ["pytorch-fid"],
        "torch-fidelity": ["torch-fidelity", "torchmetrics-legacy", "guided-diffusion"],
        "clean": ["clean"], "torchmetrics": ["torchmetrics"],
        "clean-legacy-tensorflow": ["clean-legacy-tensorflow"], "clean-legacy-pytorch": ["clean-legacy-pytorch"],
    }  # fmt: skip
    assert len(passes(list(MODES), pixels=False)) == len(MODES)  # floats: their quantizations differ
    x = torch.from_numpy(blob_pictures(2, 3, (200, 330))).permute(0, 3, 1, 2)
    shared = PIPELINES["torch-fidelity"](x)
    for mode in ("torchmetrics-legacy", "guided-diffusion"):  # why sharing is exact for 8-bit pixels
        assert torch.equal(PIPELINES[mode](x), shared)


def test_each_mode_says_what_differs_from_the_default():
    assert differences("torch-fidelity") == (
        "resize TensorFlow 1.x bilinear on 0-255 pixels, then (x - 128) / 128; quantization: floats rounded "
        "to 8 bits; square root by eigvals (not sqrtm)"
    )
    assert differences("clean") == "resize PIL bicubic per channel on floats (antialiased), then (x - 128) / 128"
    assert differences("pytorch-fid").startswith("the default: ")


@pytest.mark.slow
def test_compare_gives_each_modes_own_fid_and_kid(pair, fid_weights, fid_network, capsys):
    code = main(["fid", "compare", *map(str, pair), "--weights", str(fid_weights), "--dims", "64", "--kid",
                 "--kid-subsets", "5", "--workers", "0", "--format", "json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    singular = "6 images for 64 dims (a singular covariance: use more images than dims)"
    said = f"the FIDs are not reliable: {pair[0]} has {singular}; {pair[1]} has {singular}"
    reduced = "KID subset size reduced from 1000 to 6, the smaller input's count, in every mode"
    assert r["warnings"] == [said, reduced] and err.count(said) == 1  # once, not once per mode or pass
    s = r["settings"]
    assert s["passes"] == 6 and s["shared"] == {"torch-fidelity": ["torch-fidelity", "torchmetrics-legacy"]}
    assert s["left_out"] == {"guided-diffusion": "the evaluator reads pool_3 (2048 dims)"}
    rows = {row["mode"]: row for row in r["modes"]}
    assert list(rows) == [m for m in MODES if m != "guided-diffusion"]
    for mode, row in rows.items():
        alone = calculate_metrics(*pair, mode=mode, dims=64, kid=True, kid_subsets=5, kid_subset_size=6,
                                  network=fid_network, workers=0).metrics  # fmt: skip
        assert row["fid"] == pytest.approx(alone["frechet_inception_distance"], rel=1e-6), mode
        assert row["kid"] == pytest.approx(alone["kernel_inception_distance_mean"], rel=1e-6, abs=1e-9), mode
        assert row["differs"] == differences(mode) and row["pass_of"] == (
            "torch-fidelity" if mode == "torchmetrics-legacy" else mode
        )
    assert len({round(row["fid"], 6) for row in rows.values()}) >= 4  # the pipelines give different numbers


def test_compare_table(pair, fid_weights, capsys):
    code = main(["fid", "compare", *map(str, pair), "--weights", str(fid_weights), "--dims", "64",
                 "--modes", "pytorch-fid,torch-fidelity,torchmetrics-legacy", "--workers", "0"])  # fmt: skip
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].endswith("; 2 network passes")
    said = [line for line in err.splitlines() if "engine auto" in line]
    assert len(said) == 1, said  # the same choice in both passes: said once, not once per pass
    assert lines[1].split() == ["mode", "FID", "pass"]
    assert lines[4].startswith("torchmetrics-legacy") and lines[4].endswith("shared with torch-fidelity")
    assert lines[-3:] == [f"{m}: {differences(m)}" for m in ("pytorch-fid", "torch-fidelity", "torchmetrics-legacy")]


def test_compare_refuses_a_kid_subset_of_one_as_fid_does(pair, capsys):
    code = main(["fid", "compare", *map(str, pair), "--dims", "64", "--kid", "--kid-subset-size", "1"])
    out, err = capsys.readouterr()  # it printed "nan" (and NaN in its JSON), exit 0
    assert (code, out, err) == (2, "", "inceptionkit fid: error: KID subset size 1: KID needs subsets of at least 2 images\n")


def test_compare_refuses_statistics_files(pair, tmp_path, capsys):
    np.savez(tmp_path / "s.npz", mu=np.zeros(64), sigma=np.eye(64))
    code = main(["fid", "compare", str(tmp_path / "s.npz"), str(pair[1]), "--dims", "64",
                 "--modes", "pytorch-fid", "--weights", "nonexistent-tag"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == (
        f"inceptionkit fid: error: {tmp_path / 's.npz'}: a statistics file belongs to one mode; "
        "comparing modes needs images"
    )
    # before it, at most the one-line warning that the file records no mode
    assert all(line.startswith("inceptionkit fid: warning: ") for line in err[:-1]) and len(err) <= 2
