"""Issue 5, bad input: every kind of messy file decodes to the right picture or to a clear error."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    BLUE,
    RED,
    exif_rotated_jpeg,
    noise,
    palette_with_transparency,
    sixteen_bit_png,
    truncated_jpeg,
    write_messy_folder,
)
from PIL import Image

from inceptionkit.images import ImageError, Source, find_images, load_image


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(ImageError) as e:
        load_image(path, **kwargs)
    return str(e.value)


# -- the bad inputs the issue lists, one test each ---------------------------------------------------


def test_truncated_jpeg(tmp_path):
    truncated_jpeg(tmp_path / "t.jpg")
    assert error_of(tmp_path / "t.jpg").startswith("cannot decode: image file is truncated")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "t.jpg").write_text("hello")
    assert error_of(tmp_path / "t.jpg") == "not an image file (no decoder recognises its content)"


def test_zero_byte_file(tmp_path):
    (tmp_path / "z.png").write_bytes(b"")
    assert error_of(tmp_path / "z.png") == "empty file (0 bytes)"


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    noise(8, 8).save(path)
    path.chmod(0)
    if os.geteuid() == 0:
        # root reads files whatever their permissions: have the OS call refuse as it would anyone else
        real_open = os.open

        def refusing_open(file, *args, **kwargs):
            if os.fspath(file) == os.fspath(path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    try:
        assert error_of(path) == "permission denied"
    finally:
        path.chmod(0o644)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it for reading would wait for a writer forever
    assert error_of(tmp_path / "pipe.jpg") == "not a regular file"


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    img = load_image(tmp_path / "c.jpg")
    assert img.mode == "RGB"
    assert np.abs(np.asarray(img).astype(int) - RED).max() <= 2  # cyan 0, magenta+yellow 100%: red


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = sixteen_bit_png(tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").mode == "I;16"
    img = load_image(tmp_path / "s.png", "L")
    expected = np.rint(values / 257.0).astype(np.uint8)  # 65535 -> 255; PIL's convert would clip at 255
    np.testing.assert_array_equal(np.asarray(img), expected)
    rgb = np.asarray(load_image(tmp_path / "s.png"))
    np.testing.assert_array_equal(rgb, np.repeat(expected[..., None], 3, axis=2))


def test_float_and_32_bit_images_are_refused_not_guessed(tmp_path):
    """A float TIFF of values in [0, 1] decoded almost black (PIL clips at 1 of 255); a 32-bit one was
    divided by 257 and clipped as if it were 16-bit. Neither scale is known: each is its file's error."""
    Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)).save(tmp_path / "f.tif")
    Image.fromarray(np.full((4, 4), 1 << 20, dtype=np.int32)).save(tmp_path / "i.tif")
    assert (Image.open(tmp_path / "f.tif").mode, Image.open(tmp_path / "i.tif").mode) == ("F", "I")
    with pytest.raises(ImageError, match=r"^a floating-point image \(mode F\): its scale is unknown"):
        load_image(tmp_path / "f.tif")
    with pytest.raises(ImageError, match="^a 32-bit integer image with values from 1048576 to 1048576"):
        load_image(tmp_path / "i.tif")
    Image.fromarray(np.full((4, 4), 65535, dtype=np.int32)).save(tmp_path / "i16.tif")  # 16-bit values in mode I
    assert np.asarray(load_image(tmp_path / "i16.tif", "L")).tolist() == [[255] * 4] * 4


def test_grayscale_with_transparency(tmp_path):
    Image.new("LA", (8, 8), (77, 0)).save(tmp_path / "g.png")
    assert np.asarray(load_image(tmp_path / "g.png")).tolist() == [[[77, 77, 77]] * 8] * 8
    assert np.asarray(load_image(tmp_path / "g.png", "L")).tolist() == [[77] * 8] * 8


def test_palette_with_transparency(tmp_path):
    palette_with_transparency(tmp_path / "p.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL warns on some palette conversions; not on ours
        img = np.asarray(load_image(tmp_path / "p.png"))
    # alpha is dropped, as keras' load_img and torchvision's loaders do: the palette colours remain
    assert img[:, :4].reshape(-1, 3).tolist() == [[10, 20, 30]] * 32
    assert img[:, 4:].reshape(-1, 3).tolist() == [[200, 100, 50]] * 32


def test_exif_rotated_photo_is_upright(tmp_path):
    exif_rotated_jpeg(tmp_path / "r.jpg")
    assert Image.open(tmp_path / "r.jpg").size == (48, 32)
    img = load_image(tmp_path / "r.jpg")
    assert img.size == (32, 48)
    a = np.asarray(img).astype(int)
    assert np.abs(a[:20] - RED).max() <= 8 and np.abs(a[28:] - BLUE).max() <= 8  # JPEG: near, not equal


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (9, 99, 199)).save(tmp_path / "one.bmp")
    assert np.asarray(load_image(tmp_path / "one.bmp")).tolist() == [[[9, 99, 199]]]


def test_decompression_bomb_limit(tmp_path, monkeypatch):
    noise(64, 64).save(tmp_path / "big.png")
    assert error_of(tmp_path / "big.png", max_pixels=4095) == (
        "64x64 = 4,096 pixels is over the limit of 4,095 (refused as a possible decompression bomb)"
    )
    assert load_image(tmp_path / "big.png", max_pixels=4096).size == (64, 64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # the default limit is PIL's
    assert "4,096 pixels is over the limit of 3,000" in error_of(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice its limit, PIL refuses to open
    assert error_of(tmp_path / "big.png").startswith(
        "refused as a possible decompression bomb: Image size (4096 pixels) exceeds limit of 2000 pixels"
    )


def test_nonexistent_path(tmp_path):
    assert find_images([tmp_path / "nope.jpg"]) == [Source(str(tmp_path / "nope.jpg"))]
    assert error_of(tmp_path / "nope.jpg") == "no such file or folder"


def test_folder_with_no_images(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    assert find_images([tmp_path / "empty"]) == [
        Source(str(tmp_path / "empty"), "folder contains no image files")
    ]
    assert error_of(tmp_path / "empty") == "is a folder, not an image file"


# -- formats and folders ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".tiff", ".gif"])
def test_lossless_formats_decode_exactly(tmp_path, suffix):
    img = Image.new("RGB", (6, 4), (12, 34, 56))
    img.paste((250, 128, 0), (3, 0, 6, 4))
    img.save(tmp_path / f"x{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / f"x{suffix}")), np.asarray(img))


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, BLUE)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "a.gif").n_frames == 2
    assert np.asarray(load_image(tmp_path / "a.gif")).reshape(-1, 3).tolist() == [list(RED)] * 64


def test_folders_are_searched_recursively_in_a_stable_order(tmp_path):
    for rel in (
        "b.png",
        "a.JPG",
        "sub/c.tif",
        "sub/deeper/d.webp",
        ".hidden/e.png",
        "._f.jpg",
        "notes.txt",
        "z/g.gif",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [Path(s.path).relative_to(tmp_path).as_posix() for s in find_images([tmp_path])]
    assert found == ["a.JPG", "b.png", "sub/c.tif", "sub/deeper/d.webp", "z/g.gif"]
    # named files are kept whatever their suffix, in the order given, between folders' contents
    names = find_images([tmp_path / "notes.txt", tmp_path / "sub", tmp_path / "b.png"])
    assert [Path(s.path).name for s in names] == ["notes.txt", "c.tif", "d.webp", "b.png"]


def test_messy_folder_files_match_their_expectations(tmp_path):
    expected = write_messy_folder(tmp_path)
    for name, error in expected.items():
        if error is None:
            assert load_image(tmp_path / name, max_pixels=2000).mode == "RGB"
        else:
            assert error_of(tmp_path / name, max_pixels=2000).startswith(error), name
