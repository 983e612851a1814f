"""Folders of JPEG photographs for ``inceptionkit fid bench``: random crops of scikit-image's sample
photographs, resized to one size (pytorch-fid stacks a folder's images, so they must share a size).

    python benchmarks/fid_photos.py OUT_DIR [--count 500] [--size 256]

writes OUT_DIR/a and OUT_DIR/b with COUNT images each (different random crops).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def write(folder: Path, count: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in PHOTOS]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = photos[int(rng.integers(len(photos)))]
        w, h = img.size
        side = int(rng.integers(min(w, h) // 3, min(w, h) + 1))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.BICUBIC)
        crop.save(folder / f"{i:05d}.jpg", quality=90)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()
    write(Path(args.out) / "a", args.count, args.size, seed=1)
    write(Path(args.out) / "b", args.count, args.size, seed=2)


if __name__ == "__main__":
    main()
