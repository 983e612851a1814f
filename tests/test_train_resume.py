"""A run folder survives ``kill -9`` at any instant, any number of times (issue 10, item 9): runs are
killed inside and between the writes of a checkpoint set (``INCEPTIONKIT_TEST_KILL_AT`` ends the
process with ``os._exit`` at a named point, as abruptly as SIGKILL) and by SIGKILL at arbitrary
moments, resumed each time, and end bit-identical to an uninterrupted run. A full disk while
checkpointing (item 16: ``RLIMIT_FSIZE``, a real write refused by the OS) and a damaged train state
(item 17) give one line and keep the last good checkpoint."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from zygote import Child, Zygote, train_environment

from inceptionkit.cli import main
from inceptionkit.train import TrainConfig, train
from inceptionkit.train.checkpoint import read_latest

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


# The runs are children of one zygote (tests/zygote.py, the `train_zygote` fixture) that has imported
# torch, torch._dynamo and matplotlib: each real process then starts in milliseconds, not the 6 s of
# `python -m inceptionkit`.
def start(zygote: Zygote, args: list[str], kill_at: str | None = None, fsize: int | None = None) -> Child:
    """``inceptionkit train ARGS`` as its own process (killed at the point ``kill_at``; its files
    capped at ``fsize`` bytes, as on a full disk)."""
    return zygote.start(["train", *args], train_environment(kill_at), fsize)


def finish(proc: Child) -> tuple[int, str]:
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
    ("old-sets-removed:1", 12),  # the last set complete; metrics.csv and the final evaluation not done
]


def kill_inside_the_next_set(proc: Child, run: Path, after: float) -> int:
    """SIGKILL ``after`` seconds once a new checkpoint set begins to be written (or when it ends)."""
    sets = run / "checkpoints"

    def now() -> set[Path]:
        try:
            return set(sets.iterdir())
        except FileNotFoundError:  # before the first checkpoint
            return set()

    before = now()
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if now() - before:
            time.sleep(after)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait()


class Reference:
    """The uninterrupted run, started once for the module (in the background) and awaited by each test
    that needs it: a fresh ``python -m inceptionkit train``, not a child of the zygote, so a result
    that depended on the process (hash seeds, import-time state) would differ from the killed runs'."""

    def __init__(self, folder: Path) -> None:
        self.run = folder / "ref"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inceptionkit", "train", *RESUMABLE, "--run-dir", str(self.run)],
            env=train_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.out: str | None = None

    def result(self) -> tuple[Path, str]:
        if self.out is None:
            self.out, _ = self.proc.communicate(timeout=300)
            assert self.proc.returncode == 0, self.out
        return self.run, self.out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    return Reference(tmp_path_factory.mktemp("reference"))


def assert_same_run(run: Path, out: str, reference: Reference) -> None:
    """Bit for bit the weights, epoch for epoch the metrics, and the same final accuracy."""
    ref, ref_out = reference.result()
    for name in ("last.safetensors", "best.safetensors"):
        (a, a_md), (b, b_md) = tensors_and_metadata(ref / name), tensors_and_metadata(run / name)
        assert a.keys() == b.keys() and a_md == b_md, name
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert metrics(run) == metrics(ref)
    assert out.strip().splitlines()[-1] == ref_out.strip().splitlines()[-1]  # held-out accuracy
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000000012"]
    assert not list(run.rglob("*.tmp"))


@pytest.mark.slow
@pytest.mark.subprocess
def test_killed_at_every_point_of_the_checkpoint_writes_then_resumed_matches_an_uninterrupted_run(
    tmp_path, reference, train_zygote
):
    run = tmp_path / "killed"
    proc = start(train_zygote, [*RESUMABLE, "--run-dir", str(run)], kill_at=KILLS[0][0])
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
        next_point = KILLS[i + 1][0] if i + 1 < len(KILLS) else None
        proc = start(train_zygote, ["--resume", str(run)], kill_at=next_point)
    rc, out = finish(proc)
    assert rc == 0, out
    assert "resuming after the last epoch (2): the final evaluation" in out
    assert_same_run(run, out, reference)


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigkill_at_arbitrary_moments_of_the_writes_then_resumed_matches_an_uninterrupted_run(
    tmp_path, reference, train_zygote
):
    run = tmp_path / "killed"
    proc = start(train_zygote, [*RESUMABLE, "--run-dir", str(run)])
    # SIGKILL a little after each new checkpoint set appears: inside its writes, between them, or
    # after them (the last one: before or during the final evaluation), and resume each time
    for after in (0.0, 0.005, 0.03, 0.2, 0.01):
        if kill_inside_the_next_set(proc, run, after) == 0:
            break
        proc = start(train_zygote, ["--resume", str(run)])
    rc, out = finish(proc)
    assert rc == 0, out
    assert_same_run(run, out, reference)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_full_disk_while_checkpointing_says_so_and_keeps_the_last_good_checkpoint(tmp_path, train_zygote):
    run = tmp_path / "run"
    rc, out = finish(start(train_zygote, [*RESUMABLE, "--run-dir", str(run)], kill_at="old-sets-removed:1"))
    assert rc == 137, out  # stopped once the checkpoint of step 2 was complete
    # a weight file is 6.6 MB: the OS refuses the next checkpoint's write (the state of a full disk)
    rc, out = finish(start(train_zygote, ["--resume", str(run)], fsize=2_000_000))
    assert rc == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith(
        "inceptionkit train: error: the disk is full (File too large) writing the "
        f"checkpoint at step 4 in {run}; the last good checkpoint "
        f"({run / 'checkpoints' / 'step-000000002'}) is kept"
    ), out
    assert "Traceback" not in out
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000000002"]
    assert read_latest(run).step == 2  # intact: its files match its manifest


def test_a_damaged_train_state_is_named_in_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = TrainConfig(img_size=8, epochs=1, max_train_images=64, batch_size=32, device="cpu", progress=False)
    train(replace(cfg, run_dir=str(run)), verbose=False)
    (checkpoint,) = (run / "checkpoints").iterdir()
    state = checkpoint / "train_state.pt"
    data = state.read_bytes()

    def resume() -> str:
        assert main(["train", "--resume", str(run)]) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return err

    state.write_bytes(data[: len(data) // 2])  # truncated
    assert f"{state} is damaged (it is not the file its manifest.json names)" in resume()
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for garbage in (data[: len(data) // 2], b"not a pickle at all" * 100):
        state.write_bytes(garbage)  # with a manifest that agrees: the file itself is unreadable
        digest = hashlib.sha256(garbage).hexdigest()
        manifest["files"]["train_state.pt"] = {"bytes": len(garbage), "sha256": digest}
        (checkpoint / "manifest.json").write_text(json.dumps(manifest))
        assert f"{state} is not a readable train state (" in resume()


def test_a_run_folder_from_before_checkpoint_sets_still_resumes(tmp_path, capsys):
    # the old layout: last.safetensors and train_state.pt (+ train_state.prev.pt, the one before)
    # beside each other; a kill between their two writes left a newer state beside older weights
    run = tmp_path / "run"
    cfg = TrainConfig(img_size=8, epochs=1, max_train_images=64, batch_size=32, device="cpu", progress=False)
    train(replace(cfg, run_dir=str(run)), verbose=False)
    (checkpoint,) = (run / "checkpoints").iterdir()
    shutil.move(checkpoint / "train_state.pt", run / "train_state.prev.pt")
    state = torch.load(run / "train_state.prev.pt", weights_only=True)
    torch.save({**state, "global_step": state["global_step"] + 2}, run / "train_state.pt")
    shutil.rmtree(run / "checkpoints")
    doc = json.loads((run / "config.json").read_text())
    doc["config"]["epochs"] = 2  # one more epoch to resume into
    (run / "config.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    assert "resuming at epoch 2, step 0 of 2" in capsys.readouterr().out
    assert read_latest(run).step == 4 and (run / "checkpoints" / "step-000000004").is_dir()
