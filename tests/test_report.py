"""Issue 18, 6: ``--report DIR``'s page (inceptionkit.metrics.report). The failures it shows are found
in planted features; the page is opened in headless Chromium (Debian's ``chromium``), which must
render it with every picture loaded, the numbers and settings put in, and a hostile file name shown
as text; with one thumbnail deleted the same check names it.

How images are checked without a script in the page: a test-only wrapper page (outside the report)
loads ``index.html`` in an iframe and, once the iframe has loaded, writes what it finds (each
``<img>``'s src and whether it decoded, the number of scripts, the text) into its own DOM, which
``--dump-dom`` prints; ``--allow-file-access-from-files`` lets a file:// page read its file:// iframe.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inceptionkit.errors import CommandError, OutputError, UsageError
from inceptionkit.metrics import Statistics, fid_infinity, prdc
from inceptionkit.metrics.report import ReportData, extrapolation_fields, manifold_failures, write_report
from inceptionkit.metrics.report_page import number

CHROMIUM = shutil.which("chromium")
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)<script> & '  # no "/": it is a file name
METRICS = {"frechet_inception_distance": 12.345678901234, "precision": 0.8125, "recall": 0.5}
SETTINGS = {"mode": "pytorch-fid", "dims": 8, "weights_sha256": "6726825d" * 8, "a": "real/", "b": "gen/"}
N_REAL, N_FAKE, FAR_REAL, FAR_FAKE = 100, 80, 8, 3


def _features() -> tuple[np.ndarray, np.ndarray]:
    """100 + 8 real, 80 + 3 generated points in 8 dims: the last 8 real ones a tight cluster far from
    everything (their 5-neighbour balls tiny, holding no sample), the last 3 generated ones far out."""
    rng = np.random.default_rng(0)
    real = np.vstack([rng.normal(size=(N_REAL, 8)), 10 + 0.01 * rng.normal(size=(FAR_REAL, 8))])
    far = np.zeros((FAR_FAKE, 8))
    far[np.arange(FAR_FAKE), np.arange(FAR_FAKE)] = [30.0, -25.0, 20.0]
    return real, np.vstack([rng.normal(size=(N_FAKE, 8)), far])


def test_the_failures_are_the_planted_points():
    real, fake = _features()
    outside, uncovered = manifold_failures(real, fake, count=1000, rows=32, cols=40)
    assert [i for i, _ in outside[:FAR_FAKE]] == [N_FAKE, N_FAKE + 1, N_FAKE + 2]  # 30 > 25 > 20 away
    assert {i for i, _ in uncovered[:FAR_REAL]} == set(range(N_REAL, N_REAL + FAR_REAL))
    assert min(r for _, r in uncovered[:FAR_REAL]) > 100  # distance ~ 28 over a radius ~ 0.03
    # the complete lists are exactly the points precision and coverage count out
    scores = prdc(real, fake)
    assert len(outside) == round((1 - scores.precision) * len(fake))
    assert len(uncovered) == round((1 - scores.coverage) * len(real))
    for failures in outside, uncovered:
        ratios = [r for _, r in failures]
        assert ratios == sorted(ratios, reverse=True) and ratios[-1] >= 1
    short = manifold_failures(real, fake, count=2)
    assert short == (outside[:2], uncovered[:2])


def _photos(seed: int, count: int) -> list[np.ndarray]:
    """Crops (40 x 56) of scikit-image's sample photographs."""
    import skimage.data

    rng = np.random.default_rng(seed)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    out = []
    for n in range(count):
        p = photos[n % 3]
        y, x = rng.integers(0, p.shape[0] - 40), rng.integers(0, p.shape[1] - 56)
        out.append(np.ascontiguousarray(p[y : y + 40, x : x + 56]))
    return out


def _data(tmp: Path) -> ReportData:
    """A as files (one with a hostile name, among the uncovered), B as arrays and callables."""
    real, fake = _features()
    src = tmp / "images"
    src.mkdir()
    a = []
    for i, pixels in enumerate(_photos(1, N_REAL + FAR_REAL)):
        path = src / (f"{HOSTILE}{i}.png" if i == N_REAL + 1 else f"real{i:03d}.png")
        Image.fromarray(pixels).save(path)
        a.append(path)
    b_pixels = _photos(2, N_FAKE + FAR_FAKE)
    b = [p if i % 2 else (lambda p=p: Image.fromarray(p)) for i, p in enumerate(b_pixels)]
    outside, uncovered = manifold_failures(real, fake, count=16)
    reference = Statistics(real.mean(0), np.cov(real, rowvar=False), len(real), None)
    ext = fid_infinity(np.vstack([fake] * 3), reference, min_size=83, points=5)
    return ReportData(
        METRICS,
        SETTINGS,
        **extrapolation_fields(ext),
        intervals={"frechet_inception_distance": (12.345678901234, 11.5, 13.25)},
        a_images=a,
        b_images=b,
        outside_manifold=outside,
        uncovered=uncovered,
        warnings=["regularised <covariance>"],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, ReportData]:
    tmp = tmp_path_factory.mktemp("report")
    data = _data(tmp)
    index = write_report(tmp / "out" / "report", data, grid=64, worst=16)
    return index, data


def _srcs(index: Path) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<img src="([^"]*)"', index.read_text(encoding="utf-8"))]


def test_the_report_folder_holds_the_page_and_every_picture_it_names(report):
    index, data = report
    assert index.name == "index.html" and index.parent.name == "report"
    srcs = _srcs(index)
    outside = [f"outside-{n:02d}.png" for n in range(1, len(data.outside_manifold) + 1)]
    uncovered = [f"uncovered-{n:02d}.png" for n in range(1, len(data.uncovered) + 1)]
    assert srcs == ["fid_curve.png", "a_grid.png", "b_grid.png", *outside, *uncovered]
    assert sorted(p.name for p in index.parent.iterdir()) == sorted([*srcs, "index.html"])
    assert not [p for p in index.parent.parent.iterdir() if p.name != "report"]  # no temporary left
    for name in "a_grid.png", "b_grid.png":  # 64 of 108 and of 83 images: 8 x 8 cells of 96 + 2 pixels
        with Image.open(index.parent / name) as grid:
            assert grid.size == (8 * 98, 8 * 98)
    with Image.open(index.parent / "uncovered-01.png") as thumb:  # 40 x 56 within 160 x 160
        assert thumb.size == (160, 114)


def _chromium(tmp: Path, *args: str) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'profile'}"]
    try:
        run = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:  # e.g. an alert() from a script that got into the page
        pytest.fail("Chromium did not finish within 60 s: is a script in the page waiting on a dialog?")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


WRAPPER = """<!DOCTYPE html><html><head><meta charset="utf-8"><script>
function check(frame) {
  const d = frame.contentDocument;
  const r = {images: [...d.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]),
             scripts: d.scripts.length, title: d.title, text: d.body.innerText};
  const out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify(r);
  document.body.append(out);
}
</script></head><body><iframe src="SRC" onload="check(this)" width="1200" height="800"></iframe></body></html>
"""


def _browse(index: Path, tmp: Path) -> dict:
    """What Chromium finds in the page: each image and whether it decoded, scripts, the text."""
    wrapper = tmp / "check.html"
    wrapper.write_text(WRAPPER.replace("SRC", index.relative_to(tmp).as_posix()), encoding="utf-8")
    dom = _chromium(
        tmp, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", wrapper.as_uri()
    )
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, f"the wrapper's check did not run: {dom[-500:]}"
    return json.loads(html.unescape(found.group(1)))


def _copy(index: Path, tmp: Path) -> Path:
    shutil.copytree(index.parent, tmp / "report")
    return tmp / "report" / "index.html"


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)"
)


@needs_chromium
@pytest.mark.subprocess
def test_chromium_renders_the_page_with_every_image_and_value(report, tmp_path):
    index, data = report
    page = _browse(_copy(index, tmp_path), tmp_path)
    assert page["title"] == "FID report" and page["scripts"] == 0
    assert [src for src, _ in page["images"]] == _srcs(index)  # no <img> injected by a file name
    assert [src for src, ok in page["images"] if not ok] == []
    text = page["text"]
    for name, value in METRICS.items():
        assert f"{name}\t{number(value)}" in text
    for name, value in SETTINGS.items():
        assert f"{name}\t{value}" in text
    assert f"frechet_inception_distance\t{number(12.345678901234)}\t11.5\t13.25" in text
    assert f"FD∞ = {number(data.fid_infinity)}" in text
    assert "regularised <covariance>" in text
    assert f"{HOSTILE}{N_REAL + 1}.png" in text  # the hostile name, as text, under its thumbnail
    assert re.search(r"B #80\s+index 80, ratio \d+\.\d{3}", text)  # the farthest generated image


@needs_chromium
@pytest.mark.subprocess
def test_chromium_reports_a_deleted_thumbnail_as_broken(report, tmp_path):
    index = _copy(report[0], tmp_path)
    (index.parent / "outside-02.png").unlink()
    page = _browse(index, tmp_path)
    assert [src for src, ok in page["images"] if not ok] == ["outside-02.png"]


@needs_chromium
@pytest.mark.subprocess
def test_chromium_screenshot_of_the_page(report, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", report[0].as_uri())
    with Image.open(shot) as img:
        assert img.size == (1280, 2400)
        pixels = np.asarray(img.convert("RGB"), dtype=np.float64)
    top, grids = pixels[:200], pixels[1000:1800]  # the title and tables; the photographs
    assert (top < 128).mean() > 0.005  # dark text on white
    assert grids.std() > 40  # pictures, not an empty page


def test_a_file_in_the_way_is_refused_before_any_work(tmp_path):
    path = tmp_path / "report"
    path.write_text("mine")
    with pytest.raises(OutputError, match=rf"^{re.escape(str(path))} exists and is not a folder$"):
        write_report(path, ReportData(METRICS, SETTINGS))
    assert path.read_text() == "mine" and sorted(tmp_path.iterdir()) == [path]


def test_an_unwritable_place_is_refused_naming_it(tmp_path):
    path = Path("/sys/inceptionkit-report")  # sysfs: no one, root included, creates a folder there
    with pytest.raises(OutputError, match=r"^cannot write the report to /sys/inceptionkit-report: .+$"):
        write_report(path, ReportData(METRICS, SETTINGS))
    assert not path.exists()


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into read-only folders (the /sys case covers root)"
)
def test_a_read_only_folder_is_refused_naming_it(tmp_path):
    tmp_path.chmod(0o555)
    try:
        message = (
            rf"^{re.escape(str(tmp_path))}/r: cannot write in {re.escape(str(tmp_path))} \(a read-only folder"
        )
        with pytest.raises(OutputError, match=message):
            write_report(tmp_path / "r", ReportData(METRICS, SETTINGS))
    finally:
        tmp_path.chmod(0o755)
    assert not list(tmp_path.iterdir())


def test_an_index_beyond_the_images_is_refused(tmp_path):
    data = ReportData(
        METRICS, SETTINGS, b_images=[np.zeros((4, 4, 3), np.uint8)], outside_manifold=[(1, 2.0)]
    )
    with pytest.raises(UsageError, match=r"^outside_manifold: index 1, but B has 1 image source\(s\)$"):
        write_report(tmp_path / "r", data)
    assert not list(tmp_path.iterdir())


def test_writing_again_replaces_the_report_and_keeps_other_files(tmp_path):
    """An existing folder: its earlier report's pictures that the new one does not use are removed,
    other files stay; an image that cannot be read becomes a grey square and a warning."""
    arrays = [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(5)]
    out = tmp_path / "r"
    write_report(
        out, ReportData(METRICS, SETTINGS, b_images=arrays, outside_manifold=[(i, 2.0) for i in range(5)])
    )
    (out / "notes.txt").write_text("mine")
    missing = tmp_path / "gone.png"
    again = ReportData(
        {"fid": 1.5}, {}, a_images=[missing], b_images=arrays, outside_manifold=[(4, 3.0)], uncovered=[]
    )
    index = write_report(out, again)
    assert sorted(p.name for p in out.iterdir()) == [
        "a_grid.png",
        "b_grid.png",
        "index.html",
        "notes.txt",
        "outside-01.png",
    ]
    page = index.read_text(encoding="utf-8")
    assert 'fid</td><td class="n">1.5</td>' in page and "frechet" not in page
    assert f"A image 0 ({missing}) could not be shown: " in html.unescape(page)
    assert "Every real image&#x27;s neighbourhood holds a generated image (coverage 1)." in page
    assert "Not computed" in page  # FD∞ and the intervals
    with Image.open(out / "a_grid.png") as grid:  # one cell, grey
        assert grid.size == (98, 98) and grid.getpixel((50, 50)) == (200, 200, 200)
    with Image.open(out / "b_grid.png") as grid:  # five cells: 3 columns, 2 rows
        assert grid.size == (3 * 98, 2 * 98) and grid.getpixel((2 * 98 + 50, 50)) == (80, 80, 80)
    with Image.open(out / "outside-01.png") as thumb:  # B #4: grey 160, enlarged to 160 x 160
        assert thumb.size == (160, 160) and thumb.getpixel((80, 80)) == (160, 160, 160)


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A real ENOSPC: the staging folder's index.html is made a link to /dev/full before the page is
    written into it (the one hook: where the staging folder is made)."""
    import inceptionkit.metrics.report as report

    made, real_staging = [], report._staging

    def staging(out_dir):
        made.append(real_staging(out_dir))
        (made[-1] / "index.html").symlink_to("/dev/full")
        return made[-1]

    monkeypatch.setattr(report, "_staging", staging)
    with pytest.raises(CommandError, match=r"^cannot write the report to .*/r: No space left on device$"):
        write_report(tmp_path / "r", ReportData(METRICS, SETTINGS))
    assert made and sorted(tmp_path.iterdir()) == []  # the staging folder removed, no report
