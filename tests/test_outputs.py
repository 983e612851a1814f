"""Issue 19 ("Trust, second round"), items 5 and 12: every command that writes checks its output path
before any work (a folder, a read-only folder, one of its own inputs, a device, FIFO or socket) and
names it; a path that is not a regular file is never replaced, a symbolic link is written through;
settings that are not finite are refused before the run folder exists."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import auto_lines, cli, noise_pictures, save_small

from inceptionkit.errors import OutputError
from inceptionkit.fileio import atomic_write


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def pictures(tmp_path) -> list[Path]:
    return noise_pictures(tmp_path / "pictures", 2)


# -- item 5: outputs are checked before work starts --------------------------------------------------


def test_every_writing_command_refuses_a_folder_as_its_output_before_any_work(tmp_path, pictures, capsys):
    ckpt = save_small(tmp_path / "m.safetensors")
    folder = tmp_path / "out"
    folder.mkdir()
    missing = tmp_path / "no-such-weights.pth"  # were anything loaded first, this would be the error
    commands = {
        "fid": ["fid", "stats", pictures[0].parent, "-o", folder, "--weights", missing],
        "features": ["features", *pictures[:1], "--model", "inception_small", "--weights", missing, "-o", folder],
        "convert": ["convert", missing, "--model", "inception_small", "-o", folder],
        "export": ["export", "inception_small", "--weights", missing, "-o", folder],
        "draw": ["draw", "googlenet", "-o", folder.with_suffix(".svg")],
        "eval": ["eval", "--checkpoint", ckpt, "--confusion-png", folder],
    }  # fmt: skip
    folder.with_suffix(".svg").mkdir()
    for name, argv in commands.items():
        code, _, err = cli(capsys, *argv)
        shown = folder.with_suffix(".svg") if name == "draw" else folder
        assert (code, err) == (2, f"inceptionkit {name}: error: {shown} is a folder, not a file\n"), name


def test_an_output_that_is_the_commands_own_input_is_refused(tmp_path, pictures, capsys):
    ckpt = save_small(tmp_path / "m.safetensors")
    before = ckpt.read_bytes()
    code, _, err = cli(capsys, "convert", ckpt, "--model", "inception_small", "-o", ckpt)
    assert code == 2 and f"{ckpt} is an input of this command ({ckpt}): it would be overwritten" in err
    assert ckpt.read_bytes() == before
    image, folder = pictures[0], pictures[0].parent
    picture = image.read_bytes()
    code, _, err = cli(capsys, "features", folder, "--checkpoint", ckpt, "-o", image, "--engine", "torch")
    assert code == 2 and f"{image} is an input of this command ({folder})" in err
    assert image.read_bytes() == picture


def test_non_finite_training_settings_are_refused_before_the_run_folder_exists(tmp_path, capsys):
    run = tmp_path / "run"
    for flag in ("--lr", "--weight-decay", "--warmup-epochs"):
        code, _, err = cli(capsys, "train", flag, "inf", "--run-dir", run, "--epochs", "1")
        assert (code, err) == (2, f"inceptionkit train: error: {flag} must be a finite number; got inf\n")
        assert not run.exists()
    (tmp_path / "a-file").write_text("")
    code, _, err = cli(capsys, "train", "--run-dir", tmp_path / "a-file" / "run", "--epochs", "1")
    assert (code, err) == (2, f"inceptionkit train: error: {tmp_path / 'a-file' / 'run'}: "
                              f"{tmp_path / 'a-file'} is not a folder\n")  # fmt: skip


def without_write_permission_bypass() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere (CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: a read-only folder cannot be made read-only for root")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_read_only_folder_is_named_before_any_work_and_a_read_only_cache_is_no_failure(tmp_path, pictures):
    ckpt = save_small(tmp_path / "m.safetensors")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*argv: object, cache: Path) -> subprocess.CompletedProcess:
        cmd = [*without_write_permission_bypass(), sys.executable, "-m", "inceptionkit", *map(str, argv)]
        return subprocess.run(cmd, env={**env, "INCEPTIONKIT_CACHE": str(cache)}, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    r = run("features", *pictures[:2], "--checkpoint", ckpt, "-o", ro / "f.npz", cache=tmp_path / "c")
    assert (r.returncode, r.stderr) == (
        2,
        f"inceptionkit features: error: {ro / 'f.npz'}: cannot write in {ro} (a read-only folder, or no "
        "permission)\n",
    )
    r = run("predict", *pictures[:2], "--checkpoint", ckpt, "--format", "json", cache=ro)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 2
    assert auto_lines(r.stderr)[-1] == (
        f"inceptionkit predict: engine auto: the choice could not be remembered in {ro / 'onnx' / 'auto.json'}"
        " (Permission denied); it is measured again next time"
    )
    assert list(ro.iterdir()) == []


# -- item 12: -o never replaces what is not a regular file -------------------------------------------


def test_a_fifo_or_device_is_refused_and_a_link_is_written_through(tmp_path, capsys):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"fifo.npz is not a regular file \(a device, FIFO or socket\)"):
        atomic_write(fifo, lambda tmp: Path(tmp).write_text("x"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # before: replaced by a regular file
    code, _, err = cli(capsys, "fid", "stats", tmp_path, "-o", fifo, "--weights", tmp_path / "none.pth")
    assert (code, err) == (2, f"inceptionkit fid: error: {fifo} is not a regular file (a device, FIFO or "
                              "socket); refusing to replace it\n")  # fmt: skip
    if os.geteuid() == 0:  # a device node like /dev/full (only root can make one)
        device = tmp_path / "full"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        with pytest.raises(OutputError, match="not a regular file"):
            atomic_write(device, lambda tmp: Path(tmp).write_text("x"))
        assert stat.S_ISCHR(os.lstat(device).st_mode)
    target, link = tmp_path / "real.txt", tmp_path / "link.txt"
    link.symlink_to(target.name)  # dangling: written through, the target is created
    for text in ("one", "two"):
        atomic_write(link, lambda tmp, text=text: Path(tmp).write_text(text))
        assert link.is_symlink() and target.read_text() == text
    assert {p.name for p in tmp_path.iterdir()} - {"full"} == {"fifo.npz", "link.txt", "real.txt"}
