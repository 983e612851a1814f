"""Issue 12, item 4: ``torchrun --nproc_per_node 2 -m inceptionkit fid A B`` splits the images across
two processes (gloo on the CPU) and gives the FID of one process (<= 1e-6 relative), each image counted
once; KID, which needs every feature in file order, comes out the same too."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import fid_weights_file, photo_folder


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_give_the_fid_of_one(tmp_path):
    a = photo_folder(tmp_path / "a", 5, [(96, 80), (70, 110)], fmt="png", seed=5)  # odd: uneven split
    b = photo_folder(tmp_path / "b", 4, [(90, 90)], fmt="jpeg", seed=6)
    w = fid_weights_file(tmp_path)
    args = [
        "-m", "inceptionkit", "fid", str(a), str(b), "--weights", str(w), "--dims", "64", "--kid",
        "--kid-subset-size", "3", "--kid-subsets", "10", "--format", "json", "--workers", "0", "--device", "cpu",
        "--engine", "torch",  # the same arithmetic in every process (under auto each measures its own)
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    double = subprocess.run([*torchrun, *args], capture_output=True, text=True, env=env, timeout=600)
    assert double.returncode == 0, double.stderr
    one, two = json.loads(single.stdout), json.loads(double.stdout)  # rank 0 alone prints
    assert two["settings"]["processes"] == 2 and one["settings"]["processes"] == 1
    assert two["settings"]["images"] == one["settings"]["images"] == {str(a): 5, str(b): 4}
    fid1, fid2 = one["frechet_inception_distance"], two["frechet_inception_distance"]
    assert abs(fid2 - fid1) <= 1e-6 * abs(fid1) and fid1 > 0.01
    kid1, kid2 = one["kernel_inception_distance_mean"], two["kernel_inception_distance_mean"]
    assert abs(kid2 - kid1) <= 1e-6 * abs(kid1)
