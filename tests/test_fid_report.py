"""Issue 18, 6: ``inceptionkit fid A B --report DIR`` writes the report of what it printed: opened in
headless Chromium (tests/test_report.py's helpers), every picture loads (both grids and the failures'
thumbnails) and the page holds the FID the command printed, with the precision it printed."""

from __future__ import annotations

import re

import pytest
from helpers import photo_folder
from test_report import _browse, needs_chromium

from inceptionkit.cli import main


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-report")
    return photo_folder(root / "a", 8, [(120, 90)], seed=3), photo_folder(root / "b", 8, [(90, 120)], seed=4)


@needs_chromium
@pytest.mark.subprocess
def test_the_report_shows_the_printed_fid_with_every_picture(folders, fid_weights, tmp_path, capsys):
    a, b = folders
    out_dir = tmp_path / "report"
    code = main(["fid", str(a), str(b), "--weights", str(fid_weights), "--dims", "64", "--workers", "0",
                 "--report", str(out_dir), "--prdc"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = re.search(r"^FID: (\S+)$", out, re.M).group(1)
    precision = re.search(r"precision (\d\.\d{4})", out).group(1)
    page = _browse(out_dir / "index.html", tmp_path)
    assert page["title"] == "FID report" and page["scripts"] == 0
    srcs = [src for src, _ in page["images"]]
    assert srcs[:2] == ["a_grid.png", "b_grid.png"], srcs  # no FD∞ asked: no curve
    assert all(re.fullmatch(r"(outside|uncovered)-\d\d\.png", s) for s in srcs[2:]), srcs
    assert [src for src, ok in page["images"] if not ok] == []
    text = page["text"]
    shown = re.search(r"^frechet_inception_distance\t(\S+)$", text, re.M).group(1)
    assert f"{float(shown):.7g}" == printed  # the page has the full value, the terminal 7 digits
    page_precision = float(re.search(r"^precision\t(\S+)$", text, re.M).group(1))
    assert f"{page_precision:.4f}" == precision
    assert "A (real): 8 of 8 images" in text and "B (generated): 8 of 8 images" in text
    assert re.search(r"^dims\t64$", text, re.M)


def test_a_file_in_the_report_s_place_is_refused_before_any_work(folders, tmp_path, capsys):
    a, b = folders
    (tmp_path / "taken").write_text("x")
    missing = tmp_path / "missing.pth"
    code = main(["fid", str(a), str(b), "--weights", str(missing), "--report", str(tmp_path / "taken")])
    _, err = capsys.readouterr()
    assert code == 2 and "taken" in err and err.count("\n") == 1, err  # before the weights are looked for
