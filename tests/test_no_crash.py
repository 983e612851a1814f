"""Issue 17 item 4 and issue 19 item 10: a process that ran a native runtime (OpenVINO, ONNX Runtime)
in process and then starts decoding workers never crashes. The cause: forking a process whose runtime
thread pools are running (OpenVINO's TBB arena, ONNX Runtime's intra-op pool) gives a child with
their locks and none of their threads (undefined behaviour under POSIX); the loading loop now starts
its workers with forkserver once such a runtime is loaded (inceptionkit.loader.worker_context).

The loops run in a child process, so a segmentation fault shows as its exit status (-11), not as a
lost pytest worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import fid_weights_file, photo_folder, save_small

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
TESTS = Path(__file__).parent


def _loop(folder: str, work: str, rounds: str) -> dict:
    """``rounds`` times in this one process: predict on OpenVINO with two decoding workers, then
    features and fid (each starting workers again). Returns the exit codes and how workers started."""
    import contextlib
    import io

    from inceptionkit import loader
    from inceptionkit.cli import main

    ckpt, weights = Path(work) / "small.safetensors", Path(work) / "pt_inception-2015-12-05-6726825d.pth"
    codes, contexts = [], []
    for i in range(int(rounds)):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            engine = "openvino" if i % 2 == 0 else "onnxruntime"
            codes.append(
                [
                    main(["predict", folder, "--checkpoint", str(ckpt), "--engine", engine, "--workers", "2"]),
                    main(["features", folder, "--checkpoint", str(ckpt), "--engine", "torch", "--workers", "2",
                          "-o", str(Path(work) / f"f{i}.npz")]),  # fmt: skip
                    main(["fid", folder, folder, "--weights", str(weights), "--dims", "64", "--workers", "2",
                          "--device", "cpu"]),  # fmt: skip
                ]
            )
        contexts.append(loader.worker_context())
    return {"codes": codes, "contexts": contexts}


def test_predict_on_openvino_then_features_and_fid_twenty_times_in_one_process(tmp_path):
    folder = photo_folder(tmp_path / "photos", 4, [(40, 32), (48, 48)], fmt="jpeg")
    save_small(tmp_path / "small.safetensors")
    fid_weights_file(tmp_path)
    code = (
        f"import json, sys; sys.path.insert(0, {str(TESTS)!r}); import test_no_crash as t; "
        f"print(json.dumps(t._loop(*sys.argv[1:])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(tmp_path), "20"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["codes"] == [[0, 0, 0]] * 20
    # after the first predict on a native runtime, every later start of workers goes through forkserver
    assert out["contexts"] == ["forkserver"] * 20
