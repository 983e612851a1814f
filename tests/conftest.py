"""Shared fixtures."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras reads it once, at its first import


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process, set once for the session. The tests' models are tiny or run
    one image: they gain little from threads, and with pytest-xdist running a process per core (or
    on a shared CPU) spinning OpenMP threads slow them down many times over (6.5 s instead of 1.2 s
    for tests/helpers.small_model under load)."""
    torch.set_num_threads(1)


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
