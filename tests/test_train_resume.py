"""A run folder survives ``kill -9`` at any instant, any number of times (issue 10, item 9): runs are
killed inside and between the writes of a checkpoint set (``INCEPTIONKIT_TEST_KILL_AT`` ends the
process with ``os._exit`` at a named point, as abruptly as SIGKILL) and by SIGKILL at arbitrary
moments, resumed each time, and end bit-identical to an uninterrupted run. A full disk while
checkpointing (item 16: ``RLIMIT_FSIZE``, a real write refused by the OS) and a damaged train state
(item 17) give one line and keep the last good checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from inceptionkit.train.checkpoint import read_latest

pytestmark = pytest.mark.usefixtures("one_thread")

# 6 steps an epoch, checkpoints at steps 2, 4, 6 (epoch end), 8, 10, 12 (end)
RESUMABLE = [
    "--img-size",
    "8",
    "--epochs",
    "2",
    "--max-train-images",
    "192",
    "--batch-size",
    "32",
    "--checkpoint-every",
    "2",
    "--device",
    "cpu",
    "--seed",
    "3",
    "--drop-rate",
    "0.2",
]


def start(args: list[str], kill_at: str | None = None, **kw) -> subprocess.Popen:
    # one thread: every run must use the same thread count (CPU reductions split by thread)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("INCEPTIONKIT_TEST_KILL_AT", None)
    if kill_at:
        env["INCEPTIONKIT_TEST_KILL_AT"] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "inceptionkit", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def tensors_and_metadata(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()  # noqa: SIM118


def metrics(run: Path) -> list[dict]:  # times aside
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    return [{k: v for k, v in r.items() if k not in ("seconds", "img_per_s")} for r in rows]


# (kill point, its n-th pass) and the step the next --resume continues from
KILLS = [
    ("set-created:1", 0),  # the first set just begun: nothing to resume, the run starts over
    ("inside-train_state.pt:2", 2),  # step 2 complete, step 4's state half written
    ("inside-last.safetensors:1", 2),  # step 4's weights half written
    ("best-written:2", 4),  # step 6 (epoch end, new best) written but for its manifest
    ("manifest-written:1", 6),  # step 6 complete, RUN/last.safetensors not yet replaced
    ("published-last.safetensors:1", 8),  # step 8: last replaced, best not yet, old set still there
    ("old-sets-removed:1", 10),  # step 10 complete and tidied
]


def kill_inside_the_next_set(proc: subprocess.Popen, run: Path, after: float) -> int:
    """SIGKILL ``after`` seconds once a new checkpoint set begins to be written (or when it ends)."""
    sets = run / "checkpoints"
    before = set(sets.iterdir())
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if set(sets.iterdir()) - before:
            time.sleep(after)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait()


def test_killed_at_every_point_of_the_checkpoint_writes_then_resumed_matches_an_uninterrupted_run(tmp_path):
    ref = start([*RESUMABLE, "--run-dir", str(tmp_path / "ref")])
    run = tmp_path / "killed"
    proc = start([*RESUMABLE, "--run-dir", str(run)], kill_at=KILLS[0][0])
    resumed_from = None
    for i, (point, resume_step) in enumerate(KILLS):
        rc, out = finish(proc)
        assert rc == 137, out
        if resumed_from == 0:
            assert "holds no checkpoint yet: starting it from the beginning" in out
        elif resumed_from is not None:
            e, b = divmod(resumed_from, 6)
            assert f"resuming at epoch {e + 1}, step {b} of 6" in out, out
        checkpoint = read_latest(run)
        assert (checkpoint.step if checkpoint else 0) == resume_step, point
        resumed_from = resume_step
        proc = start(["--resume", str(run)], kill_at=KILLS[i + 1][0] if i + 1 < len(KILLS) else None)
    # from step 10: SIGKILL while the set of step 12 is being written, wherever that lands
    if kill_inside_the_next_set(proc, run, after=0.01) != 0:
        proc = start(["--resume", str(run)])
    rc, out = finish(proc)
    assert rc == 0, out
    rc, ref_out = finish(ref)
    assert rc == 0, ref_out

    for name in ("last.safetensors", "best.safetensors"):
        (a, a_md), (b, b_md) = tensors_and_metadata(tmp_path / "ref" / name), tensors_and_metadata(run / name)
        assert a.keys() == b.keys() and a_md == b_md, name
        assert all(torch.equal(a[k], b[k]) for k in a), name  # bit for bit
    assert metrics(run) == metrics(tmp_path / "ref")
    assert out.strip().splitlines()[-1] == ref_out.strip().splitlines()[-1]  # held-out accuracy
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000000012"]
    assert not list(run.rglob("*.tmp"))
