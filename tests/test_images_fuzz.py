"""Issue 10, "done means": a fuzz test of the one image pipeline.

Valid PNG, JPEG, GIF, WebP, BMP, TIFF and PPM files (made with PIL here), then random bytes behind
their signatures, truncations, bit flips, overwritten runs and forged PNG sizes, a few hundred cases
from a seeded generator, each through everything a command does with a file: ``verify_image`` (the
training scan), ``load_image`` in RGB and grey, and a preprocessing recipe; then all of them at once
as a class folder of a training set. Each case must give an
image or an :class:`ImageError`, never another exception, within a few seconds, in a process whose
address space may grow by at most 2 GiB.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TESTS = Path(__file__).parent
CASES_PER_FORMAT = 48
SEED = 20261129
MEMORY = 2 << 30  # bytes the child's address space may grow by
CASE_SECONDS = 5


def valid_files() -> dict[str, bytes]:
    """One small, valid file of each format (and of the tricky PNG modes), by name."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))

    def encode(img: Image.Image, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the EXIF path is fuzzed too
    frames = [rgb.convert("P"), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P")]
    return {
        "png": encode(rgb, "PNG"),
        "png16": encode(Image.fromarray((np.arange(560, dtype=np.uint16) * 117).reshape(20, 28)), "PNG"),
        "png-palette": encode(rgb.convert("P"), "PNG", transparency=3),
        "jpeg": encode(rgb, "JPEG", exif=exif),
        "jpeg-cmyk": encode(rgb.convert("CMYK"), "JPEG"),
        "gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "webp": encode(rgb, "WEBP", quality=80),
        "webp-lossless": encode(rgb.convert("RGBA"), "WEBP", lossless=True),
        "bmp": encode(rgb, "BMP"),
        "tiff": encode(rgb, "TIFF", compression="tiff_lzw"),
        "ppm": encode(rgb, "PPM"),
    }


def forged_png(width: int, height: int, rng: np.random.Generator) -> bytes:
    """A PNG whose header (with a correct checksum) claims ``width`` x ``height``, and a short
    stream of compressed zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    mode = int(rng.choice([0, 2, 6]))  # grey, RGB, RGBA
    header = struct.pack(">IIBBBBB", width, height, int(rng.choice([8, 16])), mode, 0, 0, 0)
    data = zlib.compress(bytes(int(rng.integers(0, 4096))))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def mutations(seed: int = SEED) -> list[tuple[str, bytes]]:
    """(name, content) of every case, the same on every run."""
    rng = np.random.default_rng(seed)
    cases = []
    for fmt, good in valid_files().items():
        for k in range(CASES_PER_FORMAT):
            kind = ("random", "truncated", "flipped", "overwritten")[k % 4]
            data = bytearray(good)
            if kind == "random":  # the signature, so that the decoder is tried, then noise
                data = data[:12] + rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
            elif kind == "truncated":
                data = data[: int(rng.integers(1, len(data)))]
            elif kind == "flipped":
                for pos in rng.integers(0, len(data), int(rng.integers(1, 17))):
                    data[pos] ^= 1 << int(rng.integers(0, 8))
            else:
                start = int(rng.integers(0, len(data)))
                run = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
                data[start : start + len(run)] = run
            cases.append((f"{fmt}-{kind}-{k}.{fmt.split('-')[0].replace('png16', 'png')}", bytes(data)))
    sides = [0, 1, 2, 101, 65_535, 65_536, 1 << 20, (1 << 31) - 1]
    for k in range(40):
        w, h = (int(rng.choice(sides)) if rng.random() < 0.5 else int(rng.integers(1, 70_000)) for _ in "wh")
        cases.append((f"png-forged-{w}x{h}-{k}.png", forged_png(w, h, rng)))
    return cases


def _fuzz(folder: str) -> dict:
    """In a child process: run every case under a per-case alarm and an address-space limit."""
    import resource
    import signal
    import traceback

    import torch

    from inceptionkit.data import load_folder
    from inceptionkit.images import ImageError, load_image, verify_image
    from inceptionkit.preprocess import Preprocess

    torch.set_num_threads(1)
    recipe = Preprocess(size=32, crop_pct=0.875).transform()
    grey = Preprocess(size=32, crop_pct=None, channels=1, mean=(0.5,), std=(0.5,)).transform()
    recipe(Image.new("RGB", (40, 30)))  # warm up torch before the memory limit is set
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY, resource.RLIM_INFINITY))

    class Hang(Exception):
        pass

    def alarm(*_):
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    counts = {"image": 0, "ImageError": 0, "refused by the scan": 0}
    bad = []
    for path in sorted(Path(folder, "cases").iterdir()):
        print(path.name, file=sys.stderr, flush=True)  # the last name shows which case a kill stopped
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
        try:
            try:
                verify_image(path)
            except ImageError:
                counts["refused by the scan"] += 1
                raise
            x = recipe(load_image(path))
            y = grey(load_image(path, "L"))
            assert x.shape == (3, 32, 32) and y.shape == (1, 32, 32), (x.shape, y.shape)
            counts["image"] += 1
        except ImageError:
            counts["ImageError"] += 1
        except Hang:
            bad.append((path.name, f"no answer within {CASE_SECONDS} s"))
        except BaseException:
            bad.append((path.name, traceback.format_exc(limit=-3)))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    # the same files as a class folder for training: the scan keeps exactly those it verified
    signal.setitimer(signal.ITIMER_REAL, 60)
    data = load_folder(folder, val_split=0.5)
    signal.setitimer(signal.ITIMER_REAL, 0)
    kept = [part.load(i).size for part in (data.train, data.val) for i in range(len(part))]
    return {"counts": counts, "bad": bad, "skipped": data.skipped, "kept": len(kept)}


@pytest.mark.subprocess
def test_decoders_give_an_image_or_an_image_error(tmp_path):
    cases = mutations()
    assert len(cases) == 11 * CASES_PER_FORMAT + 40
    (tmp_path / "cases").mkdir()
    for name, data in cases:
        (tmp_path / "cases" / name).write_bytes(data)
    (tmp_path / "good").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "good" / "plain.png")
    code = f"import json, sys; sys.path.insert(0, {str(TESTS)!r}); import test_images_fuzz as t; print(json.dumps(t._fuzz(sys.argv[1])))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as e:
        last = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        pytest.fail(f"the fuzz run did not finish in 300 s; last case started: {last}")
    assert done.returncode == 0, f"the fuzz run died (killed for memory?): {done.stderr[-2000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    counts = result["counts"]
    assert counts["image"] + counts["ImageError"] == len(cases)
    assert result["skipped"] == counts["refused by the scan"]
    assert result["kept"] == len(cases) + 1 - counts["refused by the scan"]
    # both outcomes occur: a flipped bit in pixel data still decodes, most damage does not
    assert counts["image"] >= 20 and counts["ImageError"] >= 300, counts
