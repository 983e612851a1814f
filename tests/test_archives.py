"""Issue 18, D: images stored in one file. guided-diffusion ``.npz`` batches are streamed (the header
read, rows read batch by batch); ``.zip`` archives in dataset_tool's layout are read in memory. Each bad
input: one line naming the file and what was found."""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from inceptionkit.errors import ImageError, MetricError
from inceptionkit.metrics.archives import NpzImages, ZipImages, npz_kind, npz_statistics


def _pixels(n=7, h=5, w=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_npz_batches_stream_in_order(tmp_path):
    x = _pixels()
    np.savez_compressed(tmp_path / "samples.npz", arr_0=x, arr_1=np.arange(7))  # sample.py's layout
    r = NpzImages(tmp_path / "samples.npz")
    assert (r.count, r.height, r.width) == (7, 5, 6) and npz_kind(tmp_path / "samples.npz") == "images"
    batches = list(r.batches(3))
    assert [len(b) for b in batches] == [3, 3, 1] and batches[0].dtype == torch.uint8
    assert torch.equal(torch.cat(batches), torch.from_numpy(x).permute(0, 3, 1, 2))


def test_npz_is_never_read_whole(tmp_path, monkeypatch):
    """Every read asks for at most one batch of rows (plus the header)."""
    np.savez(tmp_path / "s.npz", arr_0=_pixels(40, 8, 8))
    sizes = []
    real_read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: sizes.append(n) or real_read(self, n))
    assert sum(len(b) for b in NpzImages(tmp_path / "s.npz").batches(4)) == 40
    assert -1 not in sizes and max(sizes) == 4 * 8 * 8 * 3


def test_reference_statistics_are_read(tmp_path):
    mu, sigma = np.arange(3.0), np.eye(3)
    np.savez(tmp_path / "ref.npz", arr_0=_pixels(), mu=mu, sigma=sigma, mu_s=mu[:2], sigma_s=np.eye(2))
    got, got_s = (
        npz_statistics(tmp_path / "ref.npz"),
        npz_statistics(tmp_path / "ref.npz", ("mu_s", "sigma_s")),
    )
    assert np.array_equal(got[0], mu) and np.array_equal(got_s[1], np.eye(2))
    np.savez(tmp_path / "plain.npz", arr_0=_pixels())
    assert npz_statistics(tmp_path / "plain.npz") is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"arr_0": _pixels().astype(np.float32)},
            "'arr_0' is float32; images must be uint8 pixels (N x H x W x 3)",
        ),
        ({"arr_0": _pixels()[..., :1]}, r"'arr_0' has shape (7, 5, 6, 1); images must be N x H x W x 3"),
        ({"arr_0": _pixels()[0]}, r"'arr_0' has shape (5, 6, 3); images must be N x H x W x 3"),
        (
            {"arr_0": np.array([{"a": 1}], dtype=object)},
            "'arr_0' holds Python objects (object); refused, never unpickled",
        ),
        ({"images": _pixels()}, "no 'arr_0' images (it holds: images)"),
    ],
)
def test_bad_npz_batches(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays, allow_pickle=True) if "arr_0" in arrays and arrays[
        "arr_0"
    ].dtype == object else np.savez(path, **arrays)
    with pytest.raises(MetricError) as e:
        NpzImages(path)
    assert str(e.value) == f"{path}: {message}"


def test_truncated_npz_names_the_count(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, _pixels(10))
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as zf:
        zf.writestr("arr_0.npy", buf.getvalue()[: -5 * 6 * 3 * 4])  # the last 4 images missing
    with pytest.raises(MetricError, match=r"cut.npz: 'arr_0' ends after 6 of its 10 images$"):
        list(NpzImages(tmp_path / "cut.npz").batches(4))


def test_npz_without_images_or_statistics(tmp_path):
    np.savez(tmp_path / "x.npz", weights=np.ones(3))
    with pytest.raises(
        MetricError, match=r"x.npz: neither 'arr_0' images nor 'mu'/'sigma' statistics \(it holds: weights\)$"
    ):
        npz_kind(tmp_path / "x.npz")
    np.savez(tmp_path / "s.npz", mu=np.zeros(2), sigma=np.eye(2))
    assert npz_kind(tmp_path / "s.npz") == "statistics"


def _png(color, size=(6, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_zip_in_dataset_tools_layout(tmp_path):
    with zipfile.ZipFile(tmp_path / "ds.zip", "w") as zf:
        zf.writestr("00001/img00001000.png", _png((0, 0, 255)))
        zf.writestr("00000/img00000000.png", _png((255, 0, 0)))
        zf.writestr("00000/img00000001.png", b"not a picture")
        zf.writestr("dataset.json", '{"labels": null}')
    z = ZipImages(tmp_path / "ds.zip")
    assert z.names == ["00000/img00000000.png", "00000/img00000001.png", "00001/img00001000.png"]
    got = list(z.images())
    assert got[0][1].shape == (3, 4, 6) and got[0][1][:, 0, 0].tolist() == [255, 0, 0]
    assert got[1][1] is None and got[1][2] == "not an image file (no decoder recognises its content)"
    assert got[2][1][:, 0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("name", ["../evil.png", "/abs/evil.png", "a/../../evil.png"])
def test_zip_member_escaping_the_archive_is_refused(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("ok.png", _png((1, 2, 3)))
        zf.writestr(zipfile.ZipInfo(name), _png((1, 2, 3)))
    with pytest.raises(MetricError, match=f"z.zip: member '{name}' escapes the archive; refused"):
        ZipImages(tmp_path / "z.zip")


def test_zip_member_named_twice_is_refused(tmp_path):
    """A reader by name gets the last of the two, twice: 7 images counted, 6 read, one never."""
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        zf.writestr("a.png", _png((1, 2, 3)))
        zf.writestr("b.png", _png((1, 2, 3)))
        zf.writestr("a.png", _png((9, 9, 9)))
    with pytest.raises(MetricError, match=r"z.zip: member 'a.png' stands twice in the archive; refused"):
        ZipImages(tmp_path / "z.zip")


def _flipped(path, data: bytes) -> None:
    """``data``, stored in the archive at ``path`` as it is, with one byte changed: its CRC fails."""
    raw = bytearray(path.read_bytes())
    at = raw.find(data) + len(data) // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def _encrypted(path, name: bytes) -> None:
    """The "encrypted" flag set on member ``name`` (its local header and its central directory entry)."""
    raw = bytearray(path.read_bytes())
    for signature, flags, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = raw.find(signature)
        while raw[at + name_at : at + name_at + len(name)] != name:
            at = raw.find(signature, at + 1)
        raw[at + flags] |= 0x1
    path.write_bytes(bytes(raw))


def test_a_member_that_cannot_be_read_is_listed_as_unreadable(tmp_path):
    """A bad CRC or an encrypted member was an internal error ("BadZipFile: Bad CRC-32"), past
    --skip-bad: each is now its member's error, as an image that cannot be decoded is."""
    from inceptionkit.metrics.inputs import ZipDecode

    bad = _png((5, 6, 7), (8, 8))
    with zipfile.ZipFile(tmp_path / "z.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("good.png", _png((1, 2, 3)))
        zf.writestr("crc.png", bad)
        zf.writestr("locked.png", _png((1, 2, 3)))
    _flipped(tmp_path / "z.zip", bad)
    _encrypted(tmp_path / "z.zip", b"locked.png")  # Python reads no encrypted member without a password
    got = {name: (image is not None, why) for name, image, why in ZipImages(tmp_path / "z.zip").images()}
    assert got == {
        "crc.png": (False, "cannot be read from the archive: Bad CRC-32 for file 'crc.png'"),
        "good.png": (True, ""),
        "locked.png": (False, "cannot be read from the archive: File 'locked.png' is encrypted, password required for extraction"),
    }
    decode = ZipDecode(str(tmp_path / "z.zip"), "pytorch-fid")  # the loading loop's transform
    assert decode("good.png").shape == (3, 299, 299)
    with pytest.raises(ImageError, match="^cannot be read from the archive: Bad CRC-32 for file 'crc.png'$"):
        decode("crc.png")


def test_a_npz_batch_whose_crc_fails_is_one_line(tmp_path):
    np.savez(tmp_path / "s.npz", arr_0=_pixels(4, 8, 8))
    _flipped(tmp_path / "s.npz", _pixels(4, 8, 8).tobytes())
    with pytest.raises(MetricError, match=r"s.npz: 'arr_0' cannot be read: Bad CRC-32 for file 'arr_0.npy'$"):
        list(NpzImages(tmp_path / "s.npz").batches(2))


def test_zip_without_images(tmp_path):
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("dataset.json", "{}")
        zf.writestr("notes.txt", "hi")
    with pytest.raises(MetricError, match=r"z.zip: no images in this archive \(2 other files\)$"):
        ZipImages(tmp_path / "z.zip")
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(MetricError, match="junk.zip: not a readable .npz or .zip file"):
        ZipImages(tmp_path / "junk.zip")
