"""Issue 18, item 3: ``--prdc``, ``--fid-infinity`` and ``--ci`` with ``--bootstrap`` (seeded) in every
mode, through the command line; each figure under its JSON name with the settings that reproduce it,
equal to the reference libraries (prdc 0.2, torch-fidelity 0.4.0's precision/recall) and to the
library functions on the same features. A is the reference (real), B the samples."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch
from helpers import blob_pictures, fid_net

from inceptionkit.cli import main
from inceptionkit.metrics import MODES, Statistics
from inceptionkit.metrics.extract import Runner
from inceptionkit.metrics.extras import caveats
from inceptionkit.metrics.inputs import extract, open_input
from inceptionkit.metrics.uncertainty import bootstrap_fid, bootstrap_kid, fid_infinity


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-extras")
    np.savez(root / "real.npz", arr_0=blob_pictures(9, 10))
    np.savez(root / "fake.npz", arr_0=np.concatenate([blob_pictures(5, 11), blob_pictures(4, 12) // 4 + 150]))
    return root / "real.npz", root / "fake.npz"


def features(path, network, mode="pytorch-fid"):
    """The features the command computes, on the same engine (torch: ``fid_json`` names it too; auto
    could take another here, where it does not know the run's length, than for the command's short run)."""
    runner = Runner(fid_net(network.model, 64, engine="torch"), mode, torch.device("cpu"), keep_features=True)
    return extract(open_input(path, "x", mode, 64), runner).kept.numpy()


def fid_json(capsys, *argv) -> dict:
    code = main(["fid", *map(str, argv), "--format", "json", "--workers", "0", "--dims", "64", "--engine", "torch"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_prdc_equals_prdc_and_torch_fidelity_on_the_modes_features(batches, fid_weights, fid_network, capsys):
    from prdc import compute_prdc
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    r = fid_json(capsys, *batches, "--weights", fid_weights, "--prdc")
    real, fake = (features(p, fid_network) for p in batches)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = compute_prdc(real, fake, nearest_k=5)
    assert r["density"] == pytest.approx(theirs["density"], abs=1e-6)
    assert r["coverage"] == pytest.approx(theirs["coverage"], abs=1e-6)
    precision, recall = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3)
    assert (r["precision"], r["recall"]) == pytest.approx((float(precision), float(recall)), abs=1e-6)
    assert 0 < r["precision"] < 1 or 0 < r["recall"] < 1  # not a trivial pair
    assert r["settings"]["prdc"]["k_pr"] == 3 and r["settings"]["prdc"]["k_dc"] == 5


def test_prdc_k_is_one_k_or_two():
    from inceptionkit.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["fid", "a", "b"]).prdc_k == (3, 5)
    assert parse(["fid", "a", "b", "--prdc-k", "2"]).prdc_k == (2, 2)
    assert parse(["fid", "a", "b", "--prdc-k", "3,4"]).prdc_k == (3, 4)


def test_fid_infinity_and_bootstrap_intervals_are_the_library_functions(batches, fid_weights, fid_network, capsys):
    argv = ["--weights", fid_weights, "--fid-infinity", "--fid-infinity-min-size", "5", "--ci", "0.9",
            "--bootstrap", "12", "--seed", "3", "--kid", "--kid-subsets", "4", "--kid-subset-size", "5"]  # fmt: skip
    r = fid_json(capsys, *batches, *argv)
    real, fake = (features(p, fid_network) for p in batches)
    ref = Statistics(real.astype(np.float64).mean(0), np.cov(real.astype(np.float64), rowvar=False), 9, None)
    fd = fid_infinity(fake, ref, min_size=5, seed=3, ci=0.9)
    assert r["frechet_inception_distance_infinity"] == pytest.approx(fd.value, rel=1e-6)
    assert r["settings"]["fid_infinity"]["sizes"] == list(fd.sizes) and fd.sizes[0] == 5
    iv = bootstrap_fid(fake, real, bootstrap=12, ci=0.9, seed=3)
    assert (r["frechet_inception_distance_ci_low"], r["frechet_inception_distance_ci_high"]) == pytest.approx(
        (iv.low, iv.high), rel=1e-6
    )
    kv = bootstrap_kid(real, fake, subsets=4, subset_size=5, bootstrap=12, ci=0.9, seed=3)
    assert r["kernel_inception_distance_mean_ci_low"] == pytest.approx(kv.low, rel=1e-6, abs=1e-9)
    assert r["kernel_inception_distance_mean_ci_high"] == pytest.approx(kv.high, rel=1e-6, abs=1e-9)
    assert iv.low < r["frechet_inception_distance"] < iv.high or iv.low > 0  # FID's bias lifts resamples
    assert r["settings"]["interval"] == {"ci": 0.9, "bootstrap": 12, "seed": 3,
                                         "method": "percentile bootstrap, every input resampled"}  # fmt: skip
    assert bootstrap_fid(fake, real, bootstrap=12, ci=0.9, seed=4) != iv  # the seed matters


def test_fid_infinity_needs_its_minimum_size(batches, fid_weights, capsys):
    code = main(["fid", *map(str, batches), "--weights", str(fid_weights), "--dims", "64", "--fid-infinity"])
    _, err = capsys.readouterr()
    assert code == 2 and err.strip() == (
        f"inceptionkit fid: error: {batches[1]}: 9 images; FD∞ fits a line to the FIDs of 15 subsets from "
        "5000 samples up, of 3 sizes at least (5002 images); set a smaller smallest subset (--fid-infinity-min-size)"
    )
    code = main(["fid", *map(str, batches), "--weights", str(fid_weights), "--dims", "64", "--fid-infinity",
                 "--fid-infinity-min-size", "8"])  # fmt: skip
    _, err = capsys.readouterr()  # subsets of 8 and 9 only: a line fitted to two sizes (FD∞ was half the FID)
    assert code == 2 and "of 3 sizes at least (10 images)" in err


def test_a_negative_fd_infinity_or_an_interval_without_its_figure_is_said(recwarn):
    """Both come out of tiny sets (20 images: FD∞ -0.02, or an FID of 0.40 with its interval 0.61 to
    6.7, measured): printed as computed, as score_infinity.py and a percentile bootstrap give them,
    each with one warning line."""
    metrics = {"frechet_inception_distance": 0.4049475, "frechet_inception_distance_infinity": -0.02008039,
               "frechet_inception_distance_ci_low": 0.6066884, "frechet_inception_distance_ci_high": 6.653793,
               "kernel_inception_distance_mean": 0.01, "kernel_inception_distance_mean_ci_low": -0.2,
               "kernel_inception_distance_mean_ci_high": 0.15}  # fmt: skip
    caveats(metrics, {"fid_infinity": {"sizes": [5, 6, 20]}, "interval": {"ci": 0.95}})
    assert [str(w.message) for w in recwarn] == [
        "FD∞ is -0.02008, below zero: FID is not linear in 1 / N over subsets of 5 to 20 images "
        "(score_infinity.py starts at 5000); the extrapolation means nothing here",
        "the FID (0.4049475) lies outside its 95% bootstrap interval (0.6066884 to 6.653793): resampling "
        "repeats images, which moves the FID by more than its spread at this size; the interval is not an "
        "error bar on it",
    ]  # the KID inside its interval: nothing said
    recwarn.clear()
    caveats({**metrics, "frechet_inception_distance_infinity": 0.0, "frechet_inception_distance": 0.6066884},
            {"fid_infinity": {"sizes": [5, 20]}, "interval": {"ci": 0.95}})  # fmt: skip
    assert list(recwarn) == []  # zero, and a figure on its interval's end, are fine


@pytest.mark.slow
@pytest.mark.parametrize("mode", [m for m in MODES if m != "guided-diffusion"])
def test_every_figure_in_every_mode(batches, fid_weights, capsys, mode):
    r = fid_json(capsys, *batches, "--weights", fid_weights, "--mode", mode, "--prdc", "--fid-infinity",
                 "--fid-infinity-min-size", "5", "--ci", "0.95", "--bootstrap", "3")  # fmt: skip
    names = ("precision", "recall", "density", "coverage", "frechet_inception_distance_infinity",
             "frechet_inception_distance_ci_low", "frechet_inception_distance_ci_high")  # fmt: skip
    assert all(np.isfinite(r[n]) for n in names) and r["settings"]["mode"] == mode
    assert r["frechet_inception_distance_ci_low"] <= r["frechet_inception_distance_ci_high"]


def test_table_lines(batches, fid_weights, capsys):
    code = main(["fid", *map(str, batches), "--weights", str(fid_weights), "--dims", "64", "--workers", "0",
                 "--prdc", "--ci", "0.9", "--bootstrap", "4"])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and lines[-1].startswith("FID: ")
    assert lines[-3].startswith("precision ") and "(k = 3); density " in lines[-3] and lines[-3].endswith("(k = 5)")
    assert lines[-2].startswith("FID 90% interval: ") and lines[-2].endswith("(4 bootstrap resamples, seed 0)")
