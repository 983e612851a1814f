"""Shared fixtures."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras reads it once, at its first import


def pytest_configure(config: pytest.Config) -> None:
    """The torch thread count, set once for the session (not by each test module at import). Two:
    the tests' models are tiny or run one image and gain little from more, and on a shared CPU or
    with pytest-xdist's process per core more threads only spin. (One would be faster still under
    load, but tests/test_fid_exact.py's Inception-Score comparison with torch-fidelity is then
    1.3e-4 apart, above its 1e-4 tolerance.)"""
    torch.set_num_threads(2)
    # Nothing a test does lands in the user's cache (downloads, ONNX exports, engine choices): each
    # session (each xdist worker) gets an empty one, which child processes inherit.
    os.environ["INCEPTIONKIT_CACHE"] = tempfile.mkdtemp(prefix="inceptionkit-test-cache-")


@pytest.fixture
def weights_cache(tmp_path, monkeypatch):
    """An empty download cache ($INCEPTIONKIT_CACHE) and a registry of published weight sets that is
    restored afterwards, so a test may point tags at local files (file:// or http://127.0.0.1)."""
    from inceptionkit.weights.hub import WEIGHT_SETS

    cache = tmp_path / "cache"
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(cache))
    saved = dict(WEIGHT_SETS)
    yield cache
    WEIGHT_SETS.clear()
    WEIGHT_SETS.update(saved)


@pytest.fixture(scope="session")
def main_job(tmp_path_factory):
    """The README's main job, ``inceptionkit train`` with no options, run once per session (into a
    temporary run folder): (run folder, what it printed, exit code, seconds)."""
    import contextlib
    import io
    import time

    from inceptionkit.cli import main

    run = tmp_path_factory.mktemp("main-job") / "run"
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["train", "--run-dir", str(run)])
    return run, out.getvalue(), code, time.perf_counter() - start


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory):
    """A random-weight FID network file (pytorch-fid's layout), built once per session."""
    from helpers import fid_weights_file

    return fid_weights_file(tmp_path_factory.mktemp("fid-weights"))


@pytest.fixture(scope="session")
def fid_network(fid_weights):
    """That file loaded once: pass it as ``network=`` to skip loading it again."""
    from inceptionkit.metrics import Network

    return Network.load(fid_weights, "pytorch-fid")
