"""Training throughput: inceptionkit's step next to a plain eager PyTorch loop, in the same process."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..factory import create_model
from .step import Stepper


def benchmark_training(
    name: str = "inception_v3",
    *,
    batch_size: int = 8,
    steps: int = 5,
    img_size: int | None = None,
    device: str = "cpu",
) -> dict:
    """Training images/s of inceptionkit's step next to a plain eager PyTorch loop (NCHW, float32,
    ``zero_grad / backward / step``) over copies of the same model, in the same process.

    "ours" is what ``train`` does by default: channels_last, and mixed precision on CUDA. On a CPU,
    "ours_amp" adds what ``--amp`` asks for there, bfloat16 autocast (fast where the CPU has
    bfloat16 instructions, slow where it has not). The variants take turns step by step, so all see
    the same machine load; each gets one warm-up step, then the medians of ``steps`` timed steps are
    compared (``speedup`` = ours / plain). ``losses`` holds each loop's loss at its last step: the
    loops see the same batch and the same dropout, so they train alike.
    """
    dev = torch.device(device)
    torch.manual_seed(0)
    base = create_model(name, num_classes=1000)
    size = img_size or base.spec.default_size
    x = torch.randn(batch_size, base.in_chans, size, size)
    y = torch.randint(0, 1000, (batch_size,))

    plain = copy.deepcopy(base).to(dev).train()
    plain_opt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)

    def plain_step() -> torch.Tensor:
        plain_opt.zero_grad()
        loss = F.cross_entropy(plain(x.to(dev)), y.to(dev))
        loss.backward()
        plain_opt.step()
        return loss.detach()

    def our_step(amp: bool) -> Callable[[], object]:
        net = copy.deepcopy(base).to(dev, memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        scaler = torch.amp.GradScaler(dev.type, enabled=amp and dev.type == "cuda")
        stepper = Stepper(
            net,
            opt,
            torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0),
            scaler,
            dev,
            amp,
            channels_last=True,
            label_smoothing=0.0,
            aux_weights=[],
        )
        return lambda: stepper(x, y)[0]

    variants = {"plain": plain_step, "ours": our_step(dev.type == "cuda")}
    if dev.type == "cpu":
        variants["ours_amp"] = our_step(True)

    def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        loss = fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t, loss

    times: dict[str, list[float]] = {k: [] for k in variants}
    losses: dict[str, float] = {}
    for i in range(steps + 1):
        for k, fn in variants.items():
            torch.manual_seed(i)  # the same dropout in every loop: the same training
            t, loss = timed(fn)
            losses[k] = float(loss)
            if i:  # the first step of each warms up kernels and caches
                times[k].append(t)
    ips = {k: batch_size / statistics.median(v) for k, v in times.items()}
    out = {"model": name, "batch_size": batch_size, "img_size": size, "device": str(dev), "steps": steps}
    out.update({f"{k}_img_s": v for k, v in ips.items()})
    out["speedup"] = ips["ours"] / ips["plain"]
    if "ours_amp" in ips:
        out["amp_speedup"] = ips["ours_amp"] / ips["plain"]
    out["losses"] = losses  # of the last step: the loops train alike (bfloat16 rounding aside)
    return out
