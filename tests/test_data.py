"""Datasets: the shipped digits, folder layouts, unreadable files, sampling and seeded augmentation."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch
from helpers import make_folder

from inceptionkit.data import (
    DataError,
    EpochSampler,
    ImageDataset,
    digits_arrays,
    limit,
    load_digits,
    load_eval_folder,
    load_folder,
    train_transform,
)
from inceptionkit.preprocess import Preprocess

# --- the shipped digits ---------------------------------------------------------------------


def test_shipped_digits_are_scikit_learns():
    import sklearn.datasets as sklearn

    ref = sklearn.load_digits()
    a = digits_arrays()
    assert a["images"].shape == (1797, 8, 8)  # scikit-learn's 1,797 8x8 digits
    np.testing.assert_array_equal(a["images"], ref.images)
    np.testing.assert_array_equal(a["targets"], ref.target)


def test_shipped_digits_size_and_attribution():
    files = resources.files("inceptionkit.data_files")
    assert len(files.joinpath("digits.npz").read_bytes()) <= 2 * 1024 * 1024  # the 2 MB
    text = files.joinpath("DIGITS.txt").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text and "UCI" in text


def test_digits_split_is_fixed_stratified_and_disjoint():
    data = load_digits()
    assert (len(data.train), len(data.val), len(data.test)) == (1295, 143, 359)
    a = digits_arrays()
    for digit in range(10):
        n = int((a["targets"] == digit).sum())
        n_test = int(((a["targets"] == digit) & (a["split"] == 2)).sum())
        assert n_test == round(0.2 * n)  # DIGITS.txt: round(0.2 n) of each digit to test
    assert data.classes == [str(d) for d in range(10)]
    img = data.test.load(0)
    assert img.size == (8, 8) and img.mode == "L"
    # 0..16 counts become 0..255 grey levels
    assert np.asarray(img).max() <= 255 and np.asarray(data.train.load(0)).max() > 200


# --- folders --------------------------------------------------------------------------------


def test_folder_with_train_val_test(tmp_path):
    make_folder(tmp_path / "train", {"cat": 3, "dog": 4})
    make_folder(tmp_path / "val", {"cat": 1, "dog": 2})
    make_folder(tmp_path / "test", {"dog": 2})
    data = load_folder(tmp_path)
    assert data.classes == ["cat", "dog"]
    assert (len(data.train), len(data.val), len(data.test)) == (7, 3, 2)
    assert data.test.targets == [1, 1]


def test_folder_val_split_is_stratified_and_fixed(tmp_path):
    make_folder(tmp_path, {"a": 20, "b": 10})
    data = load_folder(tmp_path, val_split=0.2)
    assert len(data.val) == 6 and sorted(data.val.targets) == [0, 0, 0, 0, 1, 1]  # 20% of 20 and of 10
    assert len(data.train) == 24 and data.test is None
    again = load_folder(tmp_path, val_split=0.2)
    assert again.val.items == data.val.items
    assert not set(data.val.items) & set(data.train.items)
    assert len(load_folder(tmp_path).val) == 3  # default 0.1


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    make_folder(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "garbage.jpg").write_bytes(b"not an image at all")
    good = (tmp_path / "b" / "0.png").read_bytes()
    (tmp_path / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "b" / "notes.txt").write_text("not an image file, not counted")
    data = load_folder(tmp_path, val_split=0.25)
    assert data.skipped == 2
    assert len(data.train) + len(data.val) == 8
    assert {p.rsplit("/", 1)[-1] for p in data.skipped_examples} == {"garbage.jpg", "truncated.png"}


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no images found"),
        ({"only": 3}, "only one class ('only')"),
    ],
)
def test_bad_folders(tmp_path, layout, message):
    make_folder(tmp_path, layout)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_folder(tmp_path)


def test_missing_folder_and_bad_split(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_folder(tmp_path / "nope")
    make_folder(tmp_path, {"a": 2, "b": 2})
    with pytest.raises(DataError, match="between 0 and 1"):
        load_folder(tmp_path, val_split=1.5)


def test_val_classes_must_be_known(tmp_path):
    make_folder(tmp_path / "train", {"a": 2, "b": 2})
    make_folder(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(DataError, match="zebra"):
        load_folder(tmp_path)


def test_eval_folder_follows_the_models_classes(tmp_path):
    make_folder(tmp_path / "train", {"a": 1, "b": 1})
    make_folder(tmp_path / "val", {"b": 2})
    samples, folder, skipped = load_eval_folder(tmp_path, ["x", "a", "b"])
    assert folder == tmp_path / "val" and samples.targets == [2, 2] and skipped == 0
    with pytest.raises(DataError, match="no class 'b'"):
        load_eval_folder(tmp_path / "val", ["a"])


def test_limit_is_a_fixed_subset():
    train = load_digits().train
    a, b = limit(train, 100), limit(train, 100)
    assert len(a) == 100 and a.targets == b.targets
    assert limit(train, None) is train


# --- sampling and augmentation --------------------------------------------------------------


def test_epoch_sampler_shards_without_overlap():
    n, world = 103, 4
    shards = [[i for i, _ in EpochSampler(n, seed=5, epoch=2, rank=r, world=world)] for r in range(world)]
    flat = [i for s in shards for i in s]
    assert all(len(s) == n // world for s in shards)  # 25 each: the ragged tail of 3 is dropped
    assert len(set(flat)) == len(flat) == 100
    # the epoch's permutation, dealt out round robin (torch's DistributedSampler)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(5 + 2)).tolist()
    assert [shards[r][k] for k in range(25) for r in range(world)] == perm[:100]


def test_epoch_sampler_order_and_resume():
    full = list(EpochSampler(50, seed=1, epoch=0))
    assert list(EpochSampler(50, seed=1, epoch=0)) == full
    assert [i for i, _ in EpochSampler(50, seed=1, epoch=1)] != [i for i, _ in full]
    rest = EpochSampler(50, seed=1, epoch=0, skip=16)
    assert len(rest) == 34 and list(rest) == full[16:]


def test_augmentation_depends_on_the_seed_only():
    data = load_digits()
    pre = Preprocess(size=12, crop_pct=None, mean=(0.5,), std=(0.5,), channels=1)
    ds = ImageDataset(data.train, train_transform(pre, crop_scale=(0.3, 1.0), hflip=True))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    x1, y1 = ds[(7, 42)]
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is left alone
    torch.rand(10)
    x2, _ = ds[(7, 42)]
    x3, _ = ds[(7, 43)]
    assert x1.shape == (1, 12, 12) and y1 == data.train.targets[7]
    assert torch.equal(x1, x2) and not torch.equal(x1, x3)
    x_eval, _ = ImageDataset(data.train, pre.transform())[7]
    assert x_eval.shape == (1, 12, 12) and -1 <= x_eval.min() and x_eval.max() <= 1
