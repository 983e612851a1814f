"""Issue 19, item 8: long work shows progress on a terminal (``fid``, ``fid stats``, ``train --data``
within an epoch), rates keep their digits, and Ctrl-C (a real SIGINT to the command's process group,
as a terminal sends it) ends a command within 2 seconds, with the resume hint where there is one.

The terminal is a pseudo-terminal from Python's ``pty`` module, left at the size a fresh one has
(0 x 0: tqdm drew nothing on it before)."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import make_folder, photo_folder

from inceptionkit.train.report import epoch_line

pytestmark = pytest.mark.subprocess
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


class Command:
    """``python -m inceptionkit ARGS`` in its own session (a terminal's foreground process group),
    its stdout and stderr on a pseudo-terminal (``tty``) or pipes, read as they come."""

    def __init__(self, args: list[str], *, tty: bool, **env: str) -> None:
        self.text, self.start = "", time.monotonic()
        argv = [sys.executable, "-m", "inceptionkit", *map(str, args)]
        if tty:
            master, slave = pty.openpty()
            self.proc = subprocess.Popen(
                argv, stdout=slave, stderr=slave, env=_env(**env), start_new_session=True
            )
            os.close(slave)
            read = lambda: os.read(master, 65536)  # noqa: E731
        else:
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_env(**env),
                start_new_session=True,
            )
            read = lambda: os.read(self.proc.stdout.fileno(), 65536)  # noqa: E731
        self.reader = threading.Thread(target=self._read, args=(read,), daemon=True)
        self.reader.start()

    def _read(self, read) -> None:
        while True:
            try:
                chunk = read()
            except OSError:  # the pty's other end closed
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 240) -> None:
        while not re.search(pattern, self.text):
            assert self.proc.poll() is None, f"ended before {pattern!r}: {self.text[-2000:]}"
            assert time.monotonic() - self.start < timeout, (
                f"no {pattern!r} in {timeout} s: {self.text[-2000:]}"
            )
            time.sleep(0.05)

    def interrupt(self) -> float:
        """Ctrl-C: SIGINT to the whole process group; the seconds until the command ended."""
        sent = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        ended = time.monotonic() - sent
        self.reader.join(timeout=5)
        return ended

    def left_running(self, timeout: float) -> list[str]:
        """The processes of the command's group (its workers, their fork server) still there
        ``timeout`` seconds after the command ended, as "pid command line"."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return []
            time.sleep(0.05)
        return [f"{pid} {line}" for pid, line in _group(self.proc.pid)]

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return code


# ---------------------------------------------------------------------------------------------------
# progress on a terminal
def _group(pgid: int) -> list[tuple[int, str]]:
    """The processes of process group ``pgid``: pid and command line."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError, IndexError):
            continue
    return found


# ---------------------------------------------------------------------------------------------------

# a tqdm frame: images done of 8 and their rate (tqdm writes a rate below 1/s as seconds per image)
# tqdm draws at most every 0.1 s, and a bar is cleared when done: a fast enough run drew no frame with
# a rate. These tqdm settings (its environment variables) draw one at each update.
EVERY_UPDATE = {"TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1"}
RATE = r"\d+/8 \[[^\]]*?\d+(\.\d+)?(img/s|s/img)\]"


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    return photo_folder(root / "a", 8, [(60, 45)], seed=3), photo_folder(root / "b", 8, [(60, 45)], seed=4)


def shown(folder: Path) -> str:
    """How a bar names a folder: its last 31 characters after an ellipsis (the rate stays on the line)."""
    return re.escape("…" + str(folder)[-31:])


@pytest.mark.slow
def test_fid_and_fid_stats_show_images_done_and_images_per_second_on_a_terminal(eight, fid_weights, tmp_path):
    a, b = eight
    common = ["--weights", fid_weights, "--dims", "64", "--batch-size", "1", "--workers", "0", "--engine", "torch"]
    stats = Command(["fid", "stats", a, "-o", tmp_path / "a.npz", *common], tty=True, **EVERY_UPDATE)
    assert stats.finish() == 0, stats.text
    assert re.search(rf"{shown(a)}: +\d+%\|.*?{RATE}", stats.text), stats.text
    both = Command(["fid", a, b, *common], tty=True, **EVERY_UPDATE)
    assert both.finish() == 0, both.text
    for folder in (a, b):
        assert re.search(rf"{shown(folder)}: +\d+%\|.*?{RATE}", both.text), both.text
    assert both.text.rstrip().splitlines()[-1].startswith("FID: ")


@pytest.mark.slow
def test_train_on_a_folder_shows_progress_within_an_epoch(tmp_path):
    make_folder(tmp_path / "data" / "train", {"ant": 12, "bee": 12}, size=10)
    make_folder(tmp_path / "data" / "val", {"ant": 3, "bee": 3}, size=10, seed=1)
    args = ["train", "--data", tmp_path / "data", "--model", "inception_small", "--img-size", "8"]
    run = Command(
        [*args, "--epochs", "1", "--batch-size", "2", "--run-dir", tmp_path / "run"], tty=True, **EVERY_UPDATE
    )
    assert run.finish() == 0, run.text
    frame = r"epoch 1/1: +\d+%\|[^|]*\| +\d+/12 \[[^\]]*(step/s|s/step), acc=[\d.]+%, img_s=[\d.]+"
    assert re.search(frame, run.text), run.text


def test_images_per_second_keep_their_digits():
    """A short or slow run (a fine-tuned Inception-v3 on a CPU) printed "0 img/s"."""
    row = dict(
        epoch=1, train_loss=1, train_acc=0.5, val_loss=1, val_acc=0.5, val_top5=1, lr=1e-3, seconds=9.0
    )
    assert epoch_line({**row, "img_per_s": 0.384}, 1, 5, False).endswith("9.0 s  0.384 img/s")
    assert epoch_line({**row, "img_per_s": 41.47}, 1, 5, True).endswith("9.0 s  41.5 img/s  *")
    assert epoch_line({**row, "img_per_s": 312.6}, 1, 5, False).endswith("9.0 s  313 img/s")


# ---------------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_during_the_square_root_of_2048_dims_ends_fid_at_once(tmp_path):
    """scipy's sqrtm of a 2048 x 2048 product holds the interpreter for 20 s and more on two cores:
    KeyboardInterrupt came only after it."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        x = rng.normal(size=(2100, 2048))
        np.savez(
            tmp_path / f"{name}.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False)
        )  # pytorch-fid's layout
    fid = Command(["fid", tmp_path / "a.npz", tmp_path / "b.npz"], tty=False, OPENBLAS_NUM_THREADS="1")
    fid.wait_for(rf"{re.escape(str(tmp_path / 'b.npz'))}: records no mode")  # both files read and checked
    time.sleep(1.0)
    assert fid.interrupt() < 2.0, fid.text
    assert (
        fid.proc.returncode in (130, -signal.SIGINT) and "Traceback" not in fid.text and "FID" not in fid.text
    )


@pytest.mark.slow
def test_ctrl_c_ends_training_within_2_seconds_with_the_resume_hint(tmp_path):
    make_folder(tmp_path / "data", {"ant": 100, "bee": 100}, size=32)
    run = tmp_path / "run"
    args = ["train", "--data", tmp_path / "data", "--model", "inception_small", "--img-size", "32"]
    train = Command([*args, "--batch-size", "2", "--workers", "2", "--run-dir", run], tty=False)
    train.wait_for(r"; run folder ")
    time.sleep(1.5)  # into the first epoch, the workers decoding
    assert train.interrupt() < 2.0, train.text
    assert train.proc.returncode == 130 and "Traceback" not in train.text
    assert (
        train.text.rstrip().splitlines()[-1]
        == f"interrupted; continue with: inceptionkit train --resume {run}"
    )


@pytest.mark.slow
def test_ctrl_c_ends_fid_within_2_seconds_while_workers_decode(tmp_path, fid_weights):
    a = photo_folder(tmp_path / "a", 40, [(120, 90)], fmt="jpeg", seed=5)
    fid = Command(["fid", a, a, "--weights", fid_weights, "--batch-size", "4", "--workers", "2"], tty=True)
    fid.wait_for(r"0/40 \[")  # the network is loaded, the workers are decoding
    assert fid.interrupt() < 2.0, fid.text
    assert fid.proc.returncode == 130 and "Traceback" not in fid.text and "FID:" not in fid.text
    assert fid.left_running(5.0) == []  # the workers ignore SIGINT: the command ended them


# a SIGINT that reaches a worker of the loading loop while it is still starting up (before PyTorch's
# worker loop, which would swallow a KeyboardInterrupt, has begun): each worker sends itself one
STARTING_WORKER_SIGINT = """
import os, signal
from multiprocessing import process

_after_fork = process.BaseProcess._after_fork

def _interrupted_after_fork(*args):
    os.kill(os.getpid(), signal.SIGINT)
    _after_fork(*args)

process.BaseProcess._after_fork = staticmethod(_interrupted_after_fork)
"""

LOAD_TWELVE = """
import json, sys
import torch
if sys.argv[1] == "forkserver":
    import onnxruntime  # a native runtime: the workers start from the fork server
from inceptionkit.loader import load_batches, worker_context
got = [b.batch.tolist() for b in load_batches(list(range(12)), torch.as_tensor, batch_size=3, workers=2)]
print(json.dumps({"context": worker_context(), "got": got}))
"""


@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_a_ctrl_c_while_the_workers_start_prints_nothing_and_the_loop_goes_on(start, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(STARTING_WORKER_SIGINT)
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-c", LOAD_TWELVE, start], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    out = json.loads(done.stdout)
    assert out == {
        "context": None if start == "fork" else "forkserver",
        "got": [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]],
    }


ABANDON_WORKERS = """
import json, os, sys, time
import torch
from inceptionkit.loader import load_batches

def quick(i):
    return torch.as_tensor(i)

if __name__ == "__main__":
    # two batches, one per worker: both done when the first arrives, so the workers sit waiting for more
    # (a busy worker ends anyway, on the broken pipe of its next result; an idle one only when PyTorch's
    # watchdog next looks, 5 s on)
    batches = load_batches(list(range(4)), quick, batch_size=2, workers=2)
    next(batches)
    time.sleep(0.5)
    import multiprocessing
    print(json.dumps([p.pid for p in multiprocessing.active_children()]), flush=True)
    os._exit(0)  # no clean-up at all: the workers must not outlive this process
"""


def test_decoding_workers_end_with_the_process_that_started_them(tmp_path):
    """A process that ends without any clean-up (``os._exit``, as the command line does after a
    Ctrl-C) leaves no forked decoding worker behind: each is killed when its parent ends (Linux).
    (Fork-server workers are the fork server's children; it ends when this process does.)"""
    script = tmp_path / "abandon.py"  # a file: the fork server's workers import its transform from it
    script.write_text(ABANDON_WORKERS)
    out = tmp_path / "out.txt"  # a file, not a pipe: a pipe the workers inherit would keep run() waiting for them
    with open(out, "w") as f:
        code = subprocess.run([sys.executable, str(script)], stdout=f, stderr=f, env=_env(), timeout=240).returncode
    assert code == 0, out.read_text()
    pids = json.loads(out.read_text().strip().splitlines()[-1])
    assert len(pids) == 2
    end = time.monotonic() + 2.0  # PyTorch's watchdog would take 5 s
    alive = pids
    while alive and time.monotonic() < end:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
        time.sleep(0.05)
    assert alive == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
