"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras reads it once, at its first import
# Python's bytecode cache, whatever the environment says (PYTHONDONTWRITEBYTECODE=1 here, in the
# sandbox): set in the xdist controller, so its workers and every process a test starts compile
# inceptionkit's sources, and pytest rewrites the test modules, once per run instead of once per
# process (0.5 s of each of some 50 processes' start; the __pycache__ folders are ignored by git).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def pytest_configure(config: pytest.Config) -> None:
    """The torch thread count, set once for the session (not by each test module at import): the
    cores shared out among the xdist workers, one each on two cores. Two workers of two threads each
    on two cores spin against each other (OpenMP waits by spinning): the digits training took 590 s
    so, against 25 s alone.

    The processes tests start, and numpy's OpenBLAS in the workers, get the same share through
    OMP_NUM_THREADS and OPENBLAS_NUM_THREADS, set in the xdist controller before it starts its workers
    (they inherit its environment; OpenBLAS reads it once, when numpy is first imported). Without them
    each worker's OpenBLAS ran two threads, and the controller's own count (all the cores, when it
    counted itself as the only worker) reached every child process: 14 s of CPU for the twenty-round
    crash test against 10 s on one thread. Values the user gave are kept."""
    workers = int(
        os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", 0) or 1
    )
    threads = max(1, (os.cpu_count() or 1) // workers)
    torch.set_num_threads(threads)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    # No network at run time: importing OpenVINO sends a usage event to Google Analytics, from a
    # process forked for it, unless the user opted out or CI is set (openvino_telemetry 2025.2 reads
    # only those); a test session is a CI run. The user's opt-in file is never touched.
    os.environ.setdefault("CI", "true")
    # Nothing a test does lands in the user's cache (downloads, ONNX exports, engine choices): each
    # session (each xdist worker) gets an empty one, which child processes inherit.
    # Removed as the session ends: each run's ONNX exports took up to 290 MB of /tmp for good (388
    # runs had left 13 GB there).
    cache = tempfile.mkdtemp(prefix="inceptionkit-test-cache-")
    os.environ["INCEPTIONKIT_CACHE"] = cache
    config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the slow tests first (stable otherwise): each one is a unit of work handed to the
    next free worker in this order, so a minute-long test left to the end would run alone while the
    other worker idles. (xdist already hands out the groups, larger than one test, first.) Without
    xdist the order stays the files' own, so module fixtures are built once."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
    """The README's main job, ``inceptionkit train`` with no options, run once per test run (into a
    temporary run folder shared by the xdist workers: the first to need it trains, holding a lock, the
    others wait and read what it printed): (run folder, what it printed, exit code, seconds)."""
    import contextlib
    import fcntl
    import io
    import json
    import time

    from inceptionkit.cli import main

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # every worker's common folder
    folder, result = shared / "main-job", shared / "main-job" / "result.json"
    folder.mkdir(exist_ok=True)
    with open(shared / "main-job.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not result.exists():
            out = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(out):
                code = main(["train", "--run-dir", str(folder / "run")])
            done = {"out": out.getvalue(), "code": code, "seconds": time.perf_counter() - start}
            (folder / "result.tmp").write_text(json.dumps(done))
            (folder / "result.tmp").replace(result)
        done = json.loads(result.read_text())
    return folder / "run", done["out"], done["code"], done["seconds"]


@pytest.fixture(scope="session")
def train_zygote():
    """A zygote for ``inceptionkit train`` runs (tests/zygote.py): real processes that start at once."""
    from zygote import TRAIN_PRELOAD, Zygote, train_environment

    z = Zygote(TRAIN_PRELOAD, train_environment())
    yield z
    z.close()


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
