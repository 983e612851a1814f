"""Time and peak memory of inceptionkit.metrics.prdc on N real vs N generated features of 2048 dims.

    PYTHONPATH=src python benchmarks/prdc_memory.py [N] [device]

Prints the seconds, the peak resident memory of the process (CPU) or of the allocator (CUDA), and
what the features alone take (float64 copies of both sets)."""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import torch

from inceptionkit.metrics.prdc import prdc


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
    rng = np.random.default_rng(0)
    real = np.abs(rng.normal(size=(n, 2048))).astype(np.float32)
    fake = np.abs(rng.normal(size=(n, 2048)) * 1.05).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    scores = prdc(real, fake, device=device)
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    print(f"{n} vs {n} x 2048 on {device} ({torch.get_num_threads()} threads): {seconds:.1f} s")
    print(
        f"peak memory {peak:.2f} GiB (before: {before:.2f} GiB; features as float64: {2 * n * 2048 * 8 / 2**30:.2f} GiB)"
    )
    print(scores)


if __name__ == "__main__":
    main()
