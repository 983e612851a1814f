"""Issue 19, items 1, 2, 7, 11 and 13: statistics files are checked field by field before use; no
metric is printed as NaN, Inf or a negative distance; a figure that means little carries a warning
(printed and in the JSON); settings that give NaN are refused; warnings are one line each.

Statistics files are made here from random features (no network needed to compare two files); the
cases that need images use the session's random-weight FID network at 64 dims (the stem only)."""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import photo_folder
from PIL import Image

from inceptionkit.cli import main
from inceptionkit.errors import InceptionKitWarning, MetricError
from inceptionkit.metrics import Statistics, frechet_distance, load_statistics
from inceptionkit.metrics.checks import isc_caution
from inceptionkit.weights.hub import get_weight_set, register_weight_set

DIMS = 64


def features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.5, 0.2, (n, DIMS))


def write_stats(path, x: np.ndarray | None = None, *, layout: str = "ours", **fields):
    """A statistics file of the features ``x`` (200 x 64 by default), with ``fields`` replaced."""
    x = features(200, 0) if x is None else x
    arrays = {"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)}
    if layout == "ours":
        arrays.update(
            inceptionkit_mode=np.array("pytorch-fid"),
            inceptionkit_dims=np.array(DIMS),
            inceptionkit_count=np.array(len(x)),
        )
    arrays.update(fields)
    np.savez(path, **arrays)
    return path


def fid(capsys, *argv) -> tuple[int, str, str]:
    """``inceptionkit fid ...`` on eager fp32 (``--engine torch``: no line saying which engine auto chose)."""
    code = main(["fid", *map(str, argv), "--engine", "torch"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write_stats(tmp_path_factory.mktemp("stats") / "good.npz", features(200, 1))


# ---------------------------------------------------------------------------------------------------
# item 1: every field of a statistics file is checked before use
# ---------------------------------------------------------------------------------------------------


def _mu(x):
    return x.mean(0)


def _sigma(x):
    return np.cov(x, rowvar=False)


def _with(a: np.ndarray, index, value) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


X = features(200, 0)
NOT_PSD = np.diag(np.arange(1.0, DIMS + 1))
NOT_PSD[0, 0] = -1.0
ASYMMETRIC = _sigma(X).copy()
ASYMMETRIC[0, 1] += 50

BAD_FILES = {
    "mu NaN": (
        {"mu": _with(_mu(X), 0, np.nan)},
        "mu has 1 value(s) that are NaN or infinite (the first, mu[0], is nan)",
    ),
    "mu Inf": (
        {"mu": _with(_mu(X), 3, np.inf)},
        "mu has 1 value(s) that are NaN or infinite (the first, mu[3], is inf)",
    ),
    "sigma NaN": (
        {"sigma": _with(_with(_sigma(X), (2, 5), np.nan), (5, 2), np.nan)},
        "sigma has 2 value(s) that are NaN or infinite (the first, sigma[2, 5], is nan)",
    ),
    "sigma not symmetric": (
        {"sigma": ASYMMETRIC},
        f"sigma is not symmetric: sigma[0, 1] is {ASYMMETRIC[0, 1]:.6g}, sigma[1, 0] {ASYMMETRIC[1, 0]:.6g} "
        "(a covariance is symmetric)",
    ),
    "sigma not positive semi-definite": (
        {"sigma": NOT_PSD},
        "sigma is not positive semi-definite: its smallest eigenvalue is -1, its largest 64 "
        "(a covariance has none below 0)",
    ),
    "sigma of other dims": ({"sigma": np.eye(3)}, "sigma has shape (3, 3); the mean's 64 dims need (64, 64)"),
    "mu complex": ({"mu": _mu(X) + 1j}, "mu is complex (complex128); statistics are real numbers"),
    "mu integers": ({"mu": np.zeros(DIMS, dtype=np.int64)}, "mu is int64, not floating point"),
    "mu of Python objects": (
        {"mu": np.array([None] * DIMS, dtype=object)},
        "mu holds Python objects (a pickle), which are never loaded",
    ),
    "count of 2 elements": (
        {"inceptionkit_count": np.array([3, 3])},
        "inceptionkit_count has shape (2,); a count of images is one integer",
    ),
    "count negative": (
        {"inceptionkit_count": np.array(-5)},
        "inceptionkit_count is -5; a count of images is 0 or more",
    ),
    "count not an integer": (
        {"inceptionkit_count": np.array(6.0)},
        "inceptionkit_count is float64; a count of images is an integer",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_statistics_file_is_refused_in_one_line_naming_the_field(case, good, tmp_path, capsys):
    fields, message = BAD_FILES[case]
    bad = write_stats(tmp_path / "bad.npz", X, **fields)
    for order, fmt in (((bad, good), "table"), ((good, bad), "json")):
        code, out, err = fid(capsys, *order, "--dims", DIMS, "--format", fmt)
        assert (code, out) == (2, "") and err == f"inceptionkit fid: error: {bad}: {message}\n"
    with pytest.raises(MetricError) as e:  # the library refuses it the same way
        load_statistics(bad, dims=DIMS, mode="pytorch-fid")
    assert str(e.value) == f"{bad}: {message}"


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_guided_diffusion_reference_is_checked_as_every_statistics_file_is(case, tmp_path, capsys):
    """Both of its pairs (mu, sigma; mu_s, sigma_s) and its count, as :func:`load_statistics` checks a
    file: before, a reference with an asymmetric or indefinite sigma, an integer mean or a negative
    count gave a number, with exit 0 (the checks come before its 2048 dims are asked for)."""
    fields, message = BAD_FILES[case]
    good = {"mu": _mu(X), "sigma": _sigma(X), "inceptionkit_count": np.array(200)}
    for pair in (("mu", "sigma"), ("mu_s", "sigma_s")):
        renamed = {k.replace("mu", pair[0]).replace("sigma", pair[1]) if "count" not in k else k: v
                   for k, v in fields.items()}  # fmt: skip
        arrays = {"mu": _mu(X), "sigma": _sigma(X), "mu_s": _mu(X), "sigma_s": _sigma(X), **good}
        ref = tmp_path / "ref.npz"
        np.savez(ref, **{**arrays, **renamed})
        code, out, err = fid(capsys, ref, tmp_path, "--mode", "guided-diffusion")
        said = message.replace("mu", pair[0]).replace("sigma", pair[1]) if "count" not in case else message
        assert (code, out, err) == (2, "", f"inceptionkit fid: error: {ref}: {said}\n"), pair
        if "count" in case:
            break


def test_recorded_dims_must_be_the_means_and_a_mode_saved_as_bytes_is_read(good, tmp_path, capsys):
    wrong = write_stats(tmp_path / "wrong.npz", X, inceptionkit_dims=np.array(2048))
    code, out, err = fid(capsys, wrong, good, "--dims", DIMS)
    assert (code, out, err) == (2, "", f"inceptionkit fid: error: {wrong}: inceptionkit_dims is 2048, but mu has 64 values\n")
    as_bytes = write_stats(tmp_path / "bytes.npz", X, inceptionkit_mode=np.array(b"clean"))
    code, out, err = fid(capsys, as_bytes, good, "--dims", DIMS)  # named as text, not np.bytes_(b'clean')
    assert code == 2 and "statistics computed in mode clean; this run computes mode pytorch-fid" in err


@pytest.mark.parametrize("smallest, accepted", [(0.0, True), (-1e-9, True), (-1e-7, True), (-1e-5, False), (-0.5, False)])
def test_positive_semi_definite_within_rounding_whichever_way_it_is_decided(smallest, accepted):
    """A covariance whose smallest eigenvalue is ``smallest`` times its largest: accepted down to
    PSD_TOLERANCE (1e-6) below zero, whether the quick Cholesky test or the eigenvalues decide."""
    from inceptionkit.metrics.checks import checked_covariance

    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(DIMS, DIMS)))
    values = np.linspace(1.0, 0.01, DIMS)
    values[-1] = smallest
    s = (q * values) @ q.T
    s = (s + s.T) / 2
    if accepted:
        assert np.array_equal(checked_covariance("x", "sigma", s, DIMS), s)
    else:
        with pytest.raises(MetricError, match="sigma is not positive semi-definite"):
            checked_covariance("x", "sigma", s, DIMS)


def test_a_npy_file_named_npz_is_not_a_statistics_file(good, tmp_path, capsys):
    bad = tmp_path / "x.npz"
    with open(bad, "wb") as f:
        np.save(f, _mu(X))
    code, out, err = fid(capsys, bad, good, "--dims", DIMS)
    assert (code, out) == (2, "")
    assert (
        err
        == f"inceptionkit fid: error: {bad}: not a statistics file (one .npy array, not an .npz archive of 'mu' and 'sigma')\n"
    )


def test_a_file_that_is_no_archive_or_an_image_is_named_for_what_it_is(good, tmp_path, capsys):
    """numpy's own message for a file that is neither (it tries it as a pickle) advised
    ``allow_pickle=``; an image given as an input got the same."""
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    picture = tmp_path / "one.jpg"
    Image.new("RGB", (8, 8)).save(picture)
    for bad, message in ((text, "not a statistics file (not an .npz archive of 'mu' and 'sigma')"),
                         (picture, "one image; the inputs are folders of images, .zip archives and .npz files")):  # fmt: skip
        code, out, err = fid(capsys, good, bad, "--dims", DIMS)
        assert (code, out, err) == (2, "", f"inceptionkit fid: error: {bad}: {message}\n")


def test_float32_statistics_as_clean_fid_saves_them_are_accepted(good, tmp_path, capsys):
    x = features(200, 0).astype(np.float32)
    f32 = write_stats(
        tmp_path / "f32.npz",
        layout="clean-fid",
        mu=x.mean(0),
        sigma=np.cov(x, rowvar=False).astype(np.float32),
    )
    code, out, err = fid(capsys, f32, good, "--dims", DIMS)
    assert code == 0 and out.splitlines()[-1].startswith("FID: ")
    assert (
        err
        == f"inceptionkit fid: warning: {f32}: records no mode (a pytorch-fid or clean-fid file); taken to be pytorch-fid\n"
    )


# ---------------------------------------------------------------------------------------------------
# item 2: never NaN, Inf or a negative distance
# ---------------------------------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero_not_a_rounding_error_below_it(tmp_path, capsys):
    """10 images in 64 dims: pytorch-fid's arithmetic (sqrtm) gives a few 1e-6 below zero."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    x = np.random.default_rng(0).random((10, DIMS)) ** 4
    theirs = calculate_frechet_distance(_mu(x), _sigma(x), _mu(x), _sigma(x))
    assert -1e-3 < theirs < 0  # the case is real: the library itself prints a negative "distance"
    s = write_stats(tmp_path / "ten.npz", x)
    code, out, err = fid(capsys, s, s, "--dims", DIMS)
    assert code == 0 and out.splitlines()[-1] == "FID: 0"
    code, out, _ = fid(capsys, s, s, "--dims", DIMS, "--format", "json")
    assert json.loads(out)["frechet_inception_distance"] == 0.0


def test_a_negative_distance_beyond_rounding_is_an_error_naming_both_inputs():
    """Statistics made in memory are not checked as files are; the distance still never goes negative:
    S = diag(-1, 1, ..., 1) with itself gives 2 Tr S - 2 Tr sqrt(S S) = 124 - 128 = -4."""
    s = np.eye(DIMS)
    s[0, 0] = -1
    a, b = Statistics(np.zeros(DIMS), s, 100, None, "A"), Statistics(np.zeros(DIMS), s, 100, None, "B")
    with pytest.raises(MetricError) as e:
        frechet_distance(a, b)
    assert str(e.value) == (
        "the Fréchet distance of A and B came out negative (-4), which no two covariances give: the square "
        "root of their product is inaccurate (too few images for these dims?)"
    )
    with pytest.raises(MetricError, match=r"the Fréchet distance of A and B is not finite \(inf\)"):
        frechet_distance(replace(a, mu=np.full(DIMS, np.inf)), b)


def test_json_is_strict_and_a_nan_mean_never_reaches_it(good, tmp_path, capsys):
    """Before: ``"frechet_inception_distance": NaN`` (not JSON) with exit 0."""
    bad = write_stats(tmp_path / "nan.npz", X, mu=_with(_mu(X), 0, np.nan))
    code, out, err = fid(capsys, bad, good, "--dims", DIMS, "--format", "json")
    assert (code, out) == (2, "") and "mu[0], is nan" in err


# ---------------------------------------------------------------------------------------------------
# item 7: a number that means little is printed with one warning line, and the JSON carries it
# ---------------------------------------------------------------------------------------------------


def test_fewer_images_than_dims_prints_the_fid_and_one_warning(tmp_path, capsys):
    a = write_stats(tmp_path / "a.npz", features(10, 2))
    b = write_stats(tmp_path / "b.npz", features(10, 3))
    warning = (
        f"the FID is not reliable: {a} has 10 images for 64 dims (a singular covariance: use more images "
        f"than dims); {b} has 10 images for 64 dims (a singular covariance: use more images than dims)"
    )
    code, out, err = fid(capsys, a, b, "--dims", DIMS)
    assert code == 0 and err == f"inceptionkit fid: warning: {warning}\n"
    code, js, err = fid(capsys, a, b, "--dims", DIMS, "--format", "json")
    doc = json.loads(js)
    assert doc["warnings"] == [warning] and err == f"inceptionkit fid: warning: {warning}\n"
    assert out.splitlines()[-1] == f"FID: {doc['frechet_inception_distance']:.7g}"


def test_the_warning_shows_whatever_the_process_filters_and_on_every_command(tmp_path, capsys):
    """A caller that ignores warnings, and a second identical command in the same process (whose
    warning Python's registry has already seen): the command still prints its warning each time."""
    a = write_stats(tmp_path / "a.npz", features(10, 2))
    b = write_stats(tmp_path / "b.npz", features(10, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errs = [fid(capsys, a, b, "--dims", DIMS)[2] for _ in range(2)]
    assert [e.startswith("inceptionkit fid: warning: the FID is not reliable: ") for e in errs] == [True, True]
    assert errs[0] == errs[1] and errs[0].count("\n") == 1


def test_other_libraries_warnings_follow_the_process_filters_and_their_own_filters_stay(capsys):
    """Only the library's own caveats are forced to show: another library's deprecation note, which
    Python hides by default, stays hidden under the caller's filters (before, every command printed
    each as a warning line), and the filters that modules imported during the command add (their own
    "ignore"s, appended or not, inside the metrics' own warning collector too) are still there after
    it, where they put them (before, leaving the command took them away). A caveat given three times
    from one line inside a metric is one line, as Python's default filter shows it."""
    import argparse

    from inceptionkit import cli
    from inceptionkit.metrics.notes import noting

    @noting
    def metric():  # as calculate_metrics, which keeps its warnings with its result
        warnings.filterwarnings("ignore", message="an engine's own ignore")  # as a module does on import
        for _ in range(3):  # one caveat given again and again (per batch): one line
            warnings.warn("a caveat", InceptionKitWarning, stacklevel=1)
        return argparse.Namespace(warnings=[])

    def command(args):
        warnings.filterwarnings("ignore", message="a module's own ignore")
        warnings.filterwarnings("ignore", message="a module's appended ignore", append=True)
        warnings.warn("a library's deprecation note", DeprecationWarning, stacklevel=1)
        assert metric().warnings == ["a caveat"]  # (the wrapper keeps each message once)
        return 0

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the caller's own, kept above an appended ignore
        warnings.simplefilter("ignore", DeprecationWarning)  # Python's default for libraries' notes
        warnings.simplefilter("ignore", InceptionKitWarning)  # a caller that ignores everything
        before = list(warnings.filters)
        assert cli._run(argparse.Namespace(command="fid", func=command, debug=False)) == 0
        after = list(warnings.filters)
    assert capsys.readouterr().err == "inceptionkit fid: warning: a caveat\n"
    assert [f[1].pattern for f in after[:2]] == ["an engine's own ignore", "a module's own ignore"]
    assert after[2:-1] == before and after[-1][1].pattern == "a module's appended ignore"


def test_a_callers_filter_equal_to_the_commands_goes_back_among_its_neighbours():
    """The caller already had the command's own filter: it comes back in its place among the caller's
    filters (after the one that came before it, before the one that came after), whatever was put
    in front meanwhile; a resetwarnings() inside leaves nothing to restore."""
    from inceptionkit.errors import warnings_inside

    def patterns(filters):
        return [(f[0], f[1].pattern if f[1] else f[2].__name__) for f in filters]

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("error")
        warnings.simplefilter("default", InceptionKitWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        with warnings_inside("default", InceptionKitWarning, print):
            assert patterns(warnings.filters)[:1] == [("default", "InceptionKitWarning")]
            warnings.filterwarnings("ignore", message="put in front meanwhile")
        assert patterns(warnings.filters) == [("ignore", "put in front meanwhile"), ("ignore", "DeprecationWarning"),
                                              ("default", "InceptionKitWarning"), ("error", "Warning")]  # fmt: skip
        with warnings_inside("always", UserWarning, print):
            warnings.resetwarnings()
        assert warnings.filters == []


@pytest.mark.slow
def test_features_that_do_not_vary_get_a_warning(fid_weights, tmp_path, capsys):
    """An uninitialised network (every convolution zero): every image has the same features, and the
    FID of any two folders is 0, which says nothing about them."""
    zero = {
        k: torch.zeros_like(v) if k.endswith("conv.weight") or k.startswith("fc.") else v
        for k, v in torch.load(fid_weights, weights_only=True).items()
    }
    torch.save(zero, tmp_path / "zero.pth")
    a = photo_folder(tmp_path / "a", 3, [(60, 45)], seed=3)
    b = photo_folder(tmp_path / "b", 3, [(60, 45)], seed=4)
    code, out, err = fid(capsys, a, b, "--weights", tmp_path / "zero.pth", "--dims", DIMS, "--workers", "0")
    assert code == 0 and out.splitlines()[-1] == "FID: 0" and len(err.splitlines()) == 1
    assert err.startswith("inceptionkit fid: warning: the FID is not reliable: ")
    flat = "features that do not vary (the trace of the covariance is 0)"
    assert (
        f"{a} has 3 images for 64 dims (a singular covariance: use more images than dims) and {flat}" in err
    )
    assert (
        f"{b} has 3 images for 64 dims (a singular covariance: use more images than dims) and {flat}" in err
    )


@pytest.mark.slow
def test_statistics_of_broken_features_are_not_written(fid_weights, tmp_path, capsys):
    """Weights whose activations overflow float32 give NaN features: ``fid stats`` wrote them (exit 0)."""
    huge = {
        k: v * 1e20
        if k.endswith("conv.weight") and k.startswith(("Conv2d_1a", "Conv2d_2a", "Conv2d_2b"))
        else v
        for k, v in torch.load(fid_weights, weights_only=True).items()
    }
    torch.save(huge, tmp_path / "huge.pth")
    a = photo_folder(tmp_path / "a", 3, [(60, 45)], seed=3)
    out_file = tmp_path / "a.npz"
    code, out, err = fid(
        capsys,
        "stats",
        a,
        "-o",
        out_file,
        "--weights",
        tmp_path / "huge.pth",
        "--dims",
        DIMS,
        "--workers",
        "0",
    )
    assert (code, out) == (2, "") and not out_file.exists()
    assert err == (
        f"inceptionkit fid: error: {a}: the network's features of these images are not finite (NaN or Inf): "
        "are its weights broken?\n"
    )


def test_offline_without_weights_the_error_says_how_to_pass_a_local_file(tmp_path, weights_cache, capsys):
    ws = get_weight_set("inception_v3.pytorch_fid")
    register_weight_set(replace(ws, url="http://127.0.0.1:9/pt_inception-2015-12-05-6726825d.pth"))
    a = photo_folder(tmp_path / "a", 2, [(30, 20)], seed=3)
    code, _, err = fid(capsys, a, a, "--dims", DIMS)
    assert code == 1 and len(err.splitlines()) == 1  # a failed download ran and failed (item 9)
    assert err.startswith(
        "inceptionkit fid: error: inception_v3.pytorch_fid: cannot download http://127.0.0.1:9/"
    )
    assert err.endswith(
        "; without a network, download pt_inception-2015-12-05-6726825d.pth elsewhere and pass --weights FILE\n"
    )


# ---------------------------------------------------------------------------------------------------
# item 11: settings that would print "nan ± nan" are refused naming the count that works; no "None"
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust-folders")
    six = photo_folder(root / "six", 6, [(60, 45)], seed=3)
    two = root / "two"
    two.mkdir()
    for p in sorted(six.iterdir())[:2]:
        shutil.copy(p, two)
    return six, two


@pytest.mark.parametrize(
    "which, flags, message",
    [
        ("two", ["--isc"], "the Inception Score in 10 splits needs at least 10 images; {two} has 2: use 2 splits or fewer"),
        ("six", ["--isc", "--isc-splits", "100"], "the Inception Score in 100 splits needs at least 100 images; {six} has 6: use 6 splits or fewer"),
        ("six", ["--kid", "--kid-subset-size", "1"], "KID subset size 1: KID needs subsets of at least 2 images"),
    ],
)  # fmt: skip
def test_settings_that_give_nan_are_refused(which, flags, message, folders, fid_weights, capsys):
    six, two = folders
    a = six if which == "six" else two
    code, out, err = fid(capsys, a, six, "--weights", fid_weights, "--dims", DIMS, "--workers", "0", *flags)
    assert (code, out) == (2, "")
    assert err == f"inceptionkit fid: error: {message.format(six=six, two=two)}\n"


def test_splits_of_one_image_score_1_and_are_said_to(folders, fid_weights, capsys):
    six, _ = folders
    common = [six, six, "--weights", fid_weights, "--dims", DIMS, "--workers", "0", "--isc", "--format", "json"]
    code, out, err = fid(capsys, *common, "--isc-splits", "6")
    r = json.loads(out)
    said = (f"the Inception Score is not reliable: {six}'s 6 images in 6 splits leave splits of one image, "
            "which score 1 by construction; use fewer --isc-splits")  # fmt: skip
    assert code == 0 and r["inception_score_mean"] == pytest.approx(1.0, abs=1e-12) and r["inception_score_std"] < 1e-12
    assert said in r["warnings"] and f"inceptionkit fid: warning: {said}\n" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        isc_caution(6, 3, "six")  # two images a split: a score, said nothing of


def test_a_file_without_a_count_says_so(good, tmp_path, capsys):
    theirs = write_stats(tmp_path / "pytorch_fid.npz", features(200, 5), layout="pytorch-fid")
    code, out, _ = fid(capsys, theirs, good, "--dims", DIMS)
    assert code == 0 and f"{theirs}: count not recorded; {good}: 200 images" in out and "None" not in out


def test_a_file_without_a_count_is_judged_by_its_covariances_rank(good, tmp_path, capsys):
    """pytorch-fid's layout records no count: a FID against statistics of 10 images printed with no
    warning. The rank of a float64 sigma tells (10 images give 9); a full-rank one says nothing."""
    few = write_stats(tmp_path / "few.npz", features(10, 5), layout="pytorch-fid")
    code, out, err = fid(capsys, few, good, "--dims", DIMS, "--format", "json")
    said = (f"the FID is not reliable: {few} has a covariance of rank 9 for 64 dims (the statistics of 10 "
            "images or fewer: a singular covariance)")  # fmt: skip
    assert code == 0 and json.loads(out)["warnings"][-1] == said and f"warning: {said}\n" in err
    full = write_stats(tmp_path / "full.npz", features(200, 5), layout="pytorch-fid")
    code, out, err = fid(capsys, full, good, "--dims", DIMS)
    assert code == 0 and "not reliable" not in err


# ---------------------------------------------------------------------------------------------------
# item 13: every warning is one line, through the errors' channel
# ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.subprocess
def test_warnings_are_one_line_each_in_a_real_process(folders, fid_weights):
    """Before: ``.../metrics/api.py:136: UserWarning: KID subset size reduced ...`` and the source line."""
    import subprocess
    import sys

    six, _ = folders
    argv = ["fid", str(six), str(six), "--weights", str(fid_weights), "--dims", "64", "--workers", "0", "--engine", "torch"]
    run = subprocess.run(
        [sys.executable, "-m", "inceptionkit", *argv, "--kid", "--kid-subsets", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines == [
        "inceptionkit fid: warning: KID subset size reduced from 1000 to 6, the smaller input's count",
        "inceptionkit fid: warning: KID's ± is 0 by construction: each of its subsets of 6 is the whole of "
        "both inputs; use a smaller --kid-subset-size for a spread",
        f"inceptionkit fid: warning: the FID is not reliable: {six} has 6 images for 64 dims (a singular "
        f"covariance: use more images than dims); {six} has 6 images for 64 dims (a singular covariance: "
        "use more images than dims)",
    ]
