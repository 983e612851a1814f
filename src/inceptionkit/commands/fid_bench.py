"""``inceptionkit fid bench A B``: every FID tool timed side by side (:mod:`inceptionkit.bench.fid_peers`);
``--stages``: where inceptionkit's time goes (:mod:`inceptionkit.metrics.stages`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..cli import run_settings
from ..errors import UsageError


def machine_line() -> str:
    from ..engines.hardware import cpu_model, matrix_flags

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu_model()} ({' '.join(matrix_flags()) or 'no matrix flags'}), {os.cpu_count()} cores, load {load}"


def run_bench(args: argparse.Namespace, rest: list[str]) -> int:
    from ..metrics import Network

    if len(rest) != 2:
        raise UsageError("fid bench takes two folders of images, A and B")
    for folder in rest:
        if not os.path.isdir(folder):
            raise UsageError(f"{folder}: not a folder (fid bench times the tools on two folders of images)")
    network = Network.load(args.weights, args.mode)
    if args.stages:
        return _stages(args, rest, network)
    return _tools(args, rest, network)


def _stages(args: argparse.Namespace, rest: list[str], network) -> int:
    from ..metrics.stages import measure_stages

    r = measure_stages(*rest, mode=args.mode, dims=args.dims, network=network, settings=run_settings(args))
    if args.format == "json":
        print(json.dumps({"machine": machine_line(), **r.as_dict()}, indent=2))
        return 0
    n = r.end_to_end.images
    print(f"{machine_line()}")
    print(f"{n} images, mode {args.mode}, {args.dims} dims, batch {r.batch_size}, {r.workers} workers, engine {r.engine}")
    print(f"{'stage':<12} {'seconds':>8} {'images/s':>9} {'share':>6}")
    for s in r.stages:
        print(f"{s.name:<12} {s.seconds:>8.2f} {s.images_per_s:>9.1f} {r.share(s):>6.1%}")
    e = r.end_to_end
    print(f"{'end to end':<12} {e.seconds:>8.2f} {e.images_per_s:>9.1f}  ({r.efficiency:.0%} of the network's rate)")
    print(f"{'setup':<12} {r.setup_s:>8.2f}  (the engine chosen, built, checked against fp32: once per run)")
    print(f"{'distance':<12} {r.distance_s:>8.2f}  (the Fréchet distance: once per FID)")
    print(f"FID {r.fid:.7g}")
    return 0


def _tools(args: argparse.Namespace, rest: list[str], network) -> int:
    from ..bench.fid_peers import images_in, run_tools

    modes = args.modes.split(",") if args.modes else None
    flags = ["--engine", args.engine]
    if args.workers is not None:
        flags += ["--workers", str(args.workers)]
    machine = machine_line()
    runs = run_tools(*rest, network.file, dims=args.dims, modes=modes, batch_size=args.batch_size, flags=flags,
                     say=lambda s: print(f"inceptionkit fid bench: {s}", file=sys.stderr))  # fmt: skip
    n = images_in(*rest)
    ours = {r.mode: r for r in runs if r.ours}
    if args.format == "json":
        rows = [{**r.__dict__, "images_per_s": n / r.seconds if r.seconds else None} for r in runs]
        print(json.dumps({"machine": machine, "images": n, "dims": args.dims, "runs": rows}, indent=2))
        return 0
    print(machine)
    print(f"{n} images, {args.dims} dims, weights {network.file}; each tool a whole process, start to exit")
    print(f"{'tool':<15} {'mode':<24} {'images/s':>9} {'FID':>12} {'ours, same mode':>16} {'rel. diff':>9} {'ours faster':>11}")
    for r in runs:
        if r.seconds is None:
            print(f"{r.tool:<15} {r.mode:<24} {'failed':>9}  {r.note}")
            continue
        line = f"{r.tool:<15} {r.mode:<24} {n / r.seconds:>9.1f} {r.fid:>12.7g}"
        mine = ours.get(r.mode)
        if not r.ours and mine is not None and mine.seconds:
            diff = abs(mine.fid - r.fid) / max(abs(r.fid), 1e-12)
            line += f" {mine.fid:>16.7g} {diff:>9.1e} {r.seconds / mine.seconds:>10.2f}x"
        print(f"{line}  ({r.note})" if r.note else line)
    return 0
