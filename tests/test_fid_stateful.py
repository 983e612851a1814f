"""Issue 18, item 8: a FID for training loops in torchmetrics' manner (``update``, ``compute``,
``reset``), equal to ``calculate_metrics`` on the same images, its sums added up across torchrun's
processes (two processes, gloo, give the FID of one)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
from helpers import blob_pictures

from inceptionkit.errors import InceptionKitWarning, InputError, MetricError
from inceptionkit.metrics import FrechetInceptionDistance, Network, calculate_metrics, compute_statistics

FID = "frechet_inception_distance"


def _images(seed: int) -> torch.Tensor:
    return torch.from_numpy(blob_pictures(8, seed)).permute(0, 3, 1, 2)


def test_update_compute_reset_equal_calculate_metrics(fid_network, tmp_path):
    real, fake = _images(30), _images(31)
    # one engine on both sides: auto may choose another exact engine per batch size (features within
    # 1e-5, so FIDs about 1e-6 apart), and this test is about the bookkeeping, not the engines
    want = calculate_metrics(real, fake, dims=64, network=fid_network, device="cpu", engine="torch").metrics[FID]
    metric = FrechetInceptionDistance(dims=64, network=fid_network, device="cpu", engine="torch")
    metric.update(real, real=True)
    for part in fake.float().div(255).split(3):  # floats in [0, 1], in batches of 3, 3 and 2
        metric.update(part)
    with pytest.warns(InceptionKitWarning) as caught:  # as calculate_metrics warns of the same sets
        assert metric.compute() == pytest.approx(want, rel=1e-6) and want > 0.01
    assert [str(w.message) for w in caught] == [
        "the FID is not reliable: the real set has 8 images for 64 dims (a singular covariance: use more "
        "images than dims); the generated set has 8 images for 64 dims (a singular covariance: use more "
        "images than dims)"
    ]
    metric.reset()
    with pytest.raises(MetricError, match="^0 generated image"):
        metric.compute()
    from inceptionkit.metrics import save_statistics

    save_statistics(tmp_path / "real.npz", compute_statistics(real, dims=64, network=fid_network, engine="torch"))
    with_reference = FrechetInceptionDistance(dims=64, network=fid_network, reference=tmp_path / "real.npz",
                                              engine="torch")  # fmt: skip
    with_reference.update(fake)
    assert with_reference.compute() == pytest.approx(want, rel=1e-6)
    with pytest.raises(MetricError, match="given reference statistics"):
        with_reference.update(real, real=True)


def _worker(rank: int, port: int, weights: str, queue) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    network = Network.load(weights, "pytorch-fid")
    metric = FrechetInceptionDistance(dims=64, network=network, device="cpu", engine="torch")
    metric.update(_images(30)[rank::2], real=True)  # each process its half
    metric.update(_images(31)[rank::2])
    queue.put((rank, metric.compute()))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_add_up_to_one(fid_weights, fid_network):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, port, str(fid_weights), queue)) for r in range(2)]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    # engine="torch" on every side: under auto each process measures its own engine at its own batch
    # size (CI once chose onnxruntime in the workers and torch-opt here: FIDs 1.1e-6 apart)
    want = calculate_metrics(_images(30), _images(31), dims=64, network=fid_network, engine="torch").metrics[FID]
    assert got[0] == got[1] and abs(got[0] - want) <= 1e-6 * want


def test_bad_images_are_refused_in_one_line(fid_network):
    metric = FrechetInceptionDistance(dims=64, network=fid_network)
    with pytest.raises(InputError, match=r"generated images: float images must be in \[0, 1\]"):
        metric.update(torch.full((2, 3, 8, 8), 2.0))
