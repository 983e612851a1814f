"""Two processes under torchrun on the CPU (gloo): DistributedDataParallel keeps the ranks identical,
and the accuracy lands in the band of single-process runs of the same settings.

Two short epochs over the 1,295 training digits at 8x8 (80 steps of 32): after a single epoch
the held-out accuracy still swings from 81% to 92% with the seed, too wide to be a useful band.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

WORKER = """
import hashlib, json, os, sys
from inceptionkit.train import TrainConfig, train

result = train(TrainConfig(**json.loads(sys.argv[1])))
digest = hashlib.sha256()
for name, t in result.model.state_dict().items():  # weights and batch norm statistics
    digest.update(name.encode())
    digest.update(t.detach().cpu().contiguous().numpy().tobytes())
rank = os.environ.get("RANK", "0")
with open(os.path.join(sys.argv[2], f"rank{rank}.json"), "w") as f:
    json.dump({"sha256": digest.hexdigest(), "world": int(os.environ.get("WORLD_SIZE", "1")),
               "test_acc": result.final.top1 if result.final else None}, f)
"""

SETTINGS = dict(
    img_size=8,
    epochs=2,
    batch_size=32,
    optimizer="rmsprop",
    lr=0.045,
    warmup_epochs=0.2,
    device="cpu",
    progress=False,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_agree_and_match_one(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # the band of single-process runs, trained here (one thread under xdist on two cores, as each rank has; two alone:
    # the band moves by about 0.01, inside its 0.03 margin): two fewer processes to start
    from inceptionkit.train import TrainConfig, train

    band = [train(TrainConfig(**SETTINGS, seed=s, run_dir=str(tmp_path / f"single{s}")), verbose=False).final.top1
            for s in (0, 1)]  # fmt: skip
    assert all(0.5 < acc < 1 for acc in band), band

    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
    ]
    out = tmp_path / "ddp"
    out.mkdir()
    cfg = json.dumps({**SETTINGS, "seed": 0, "run_dir": str(out / "run")})
    proc = subprocess.Popen([*torchrun, str(script), cfg, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    ranks = [json.loads(open(os.path.join(out, f"rank{r}.json")).read()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["sha256"] == ranks[1]["sha256"]  # identical parameters and statistics
    assert "x 2 processes" in log
    assert log.count("held-out test accuracy") == 1 and log.count("epoch 2/2") == 1  # rank 0 alone prints
    assert ranks[1]["test_acc"] is None
    low, high = min(band) - 0.03, max(band) + 0.03
    assert low <= ranks[0]["test_acc"] <= high, (ranks[0]["test_acc"], band)
