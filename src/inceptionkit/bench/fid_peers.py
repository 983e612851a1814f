"""``inceptionkit fid bench A B``: every FID tool on the same folders and weights file, in the same run,
each as a user runs it (its own process, its documented defaults), timed from start to exit.

- **inceptionkit** ``fid A B --mode M`` for each mode (default engine ``auto``: the fastest exact
  fp32 engine here), run once untimed first (``fid stats`` of the first four batches of ``A``) so
  that ``auto``'s measurement (made on a run of at least four batches, on its first batch, at its
  size) and the ONNX export are cached, as they are for a user after the first run;
- **pytorch-fid 0.3.0**: ``python -m pytorch_fid A B --device cpu`` (batch 50, ``min(8, cores)``
  workers: its defaults); the weights file found where it keeps its download (torch.hub's cache,
  under a temporary ``TORCH_HOME``);
- **torch-fidelity 0.4.0**: ``fidelity --input1 A --input2 B --fid --cpu`` with
  ``--feature-extractor-weights-path`` (batch 64, its default);
- **clean-fid 0.1.35**: ``fid.compute_fid(A, B, mode="legacy_pytorch", device=cpu)`` (12 workers,
  batch 32: its defaults). Its default mode ``clean`` runs NVIDIA's TorchScript copy of the network,
  which it downloads and which cannot be made from a weights file; ``legacy_pytorch`` is the same
  clean resize on pytorch-fid's network, our mode ``clean-legacy-pytorch``; 2048 dims only;
- **torchmetrics 1.9.0**: ``FrechetInceptionDistance(feature=dims, feature_extractor_weights_path=W)``
  fed by the loop its documentation shows (PIL decodes, uint8 batches of 50 to ``update``), as it
  has no folder reader; our mode ``torchmetrics``.

Each peer's FID is printed beside ours in the mode that computes the same number. Nothing here is
asserted: the figures are the machine's, printed with its CPU and load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..choices import FID_MODES

PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"  # the name pytorch-fid downloads to
PEERS = ("pytorch-fid", "torch-fidelity", "clean-fid", "torchmetrics")
SAME_AS = {"pytorch-fid": "pytorch-fid", "torch-fidelity": "torch-fidelity", "clean-fid": "clean-legacy-pytorch",
           "torchmetrics": "torchmetrics"}  # fmt: skip  # peer -> our mode computing its number
_NUMBER = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"

_TORCHMETRICS = """
import sys, numpy as np, torch
from pathlib import Path
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance
a, b, weights, dims = sys.argv[1:5]
fid = FrechetInceptionDistance(feature=int(dims), feature_extractor_weights_path=weights)
for folder, real in ((a, True), (b, False)):
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    for i in range(0, len(files), 50):
        pixels = [np.asarray(Image.open(f).convert("RGB")) for f in files[i : i + 50]]
        fid.update(torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2), real=real)
print("FID:", float(fid.compute()))
"""
_CLEAN_FID = """
import sys, torch
from cleanfid import fid
print("FID:", fid.compute_fid(sys.argv[1], sys.argv[2], mode="legacy_pytorch", device=torch.device("cpu")))
"""


@dataclass(frozen=True)
class ToolRun:
    """One tool's whole run: how long from start to exit and the FID it printed."""

    tool: str  # "inceptionkit" or the peer's name
    mode: str  # our mode: the one run, or the one computing the peer's number
    command: str
    seconds: float | None  # None: it failed (``note`` says why)
    fid: float | None
    note: str = ""

    @property
    def ours(self) -> bool:
        return self.tool == "inceptionkit"


def _run(tool: str, mode: str, argv: list[str], env: dict, parse: Callable[[str], float]) -> ToolRun:
    shown = " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv) if "\n" not in a)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return ToolRun(tool, mode, shown, None, None, f"exit {done.returncode}: {last[:200]}")
    try:
        return ToolRun(tool, mode, shown, seconds, parse(done.stdout))
    except (ValueError, KeyError, IndexError):
        return ToolRun(tool, mode, shown, None, None, f"printed no FID: {done.stdout.strip()[-200:]}")


def _printed_fid(text: str) -> float:
    found = re.findall(r"(?:FID|frechet_inception_distance)\W*" + _NUMBER, text)
    return float(found[-1])


def _our_fid(text: str) -> float:
    return float(json.loads(text)["frechet_inception_distance"])


def _ours(a: str, b: str, mode: str, weights: str, dims: int, flags: list[str], env: dict) -> ToolRun:
    argv = [sys.executable, "-m", "inceptionkit", "fid", a, b, "--mode", mode, "--dims", str(dims),
            "--weights", weights, "--format", "json", *flags]  # fmt: skip
    return _run("inceptionkit", mode, argv, env, _our_fid)


def _peer(name: str, a: str, b: str, weights: str, dims: int, env: dict) -> ToolRun:
    py = sys.executable
    argv = {
        "pytorch-fid": [py, "-m", "pytorch_fid", a, b, "--device", "cpu", "--dims", str(dims)],
        "torch-fidelity": [py, "-m", "torch_fidelity.fidelity", "--input1", a, "--input2", b, "--fid", "--cpu",
                           "--silent", "--feature-extractor-weights-path", weights, "--feature-layer-fid", str(dims)],
        "clean-fid": [py, "-c", _CLEAN_FID, a, b],
        "torchmetrics": [py, "-c", _TORCHMETRICS, a, b, weights, str(dims)],
    }[name]  # fmt: skip
    return _run(name, SAME_AS[name], argv, env, _printed_fid)


def _warm_up(a: str, mode: str, weights: str, dims: int, flags: list[str], env: dict, tmp: Path, batch: int) -> str:
    """A first, untimed ``fid stats`` run on the first ``MEASURE_BATCHES`` batches of ``a``'s images:
    caches the ONNX export and ``auto``'s choice, which is measured on a run of at least that many
    batches, on its first batch, and kept per batch size (a smaller warm-up would leave the timed run
    to measure). Returns "" or, where it failed, why (the timed run then pays for the export and the
    measurement)."""
    from ..images import find_images
    from ..metrics.engine import MEASURE_BATCHES

    few = tmp / f"warm-{mode}"
    few.mkdir()
    images = [Path(s.path) for s in find_images([a]) if s.error is None]  # as fid reads a folder
    for i, f in enumerate(images[: MEASURE_BATCHES * batch]):
        (few / f"{i:06d}{f.suffix}").symlink_to(f.resolve())
    argv = [sys.executable, "-m", "inceptionkit", "fid", "stats", str(few), "-o", str(tmp / f"warm-{mode}.npz"),
            "--mode", mode, "--dims", str(dims), "--weights", weights, *flags]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        return ""
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"warm-up failed (exit {done.returncode}: {last[:200]}), so the timed run set up what it would have cached"


def run_tools(
    a: str, b: str, weights: str, *, dims: int = 2048, modes: list[str] | None = None,
    peers: tuple[str, ...] = PEERS, batch_size: int = 50, flags: list[str] | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> list[ToolRun]:
    """inceptionkit in each of ``modes`` (default: every mode that has ``dims``) at ``batch_size``,
    then each peer, on folders ``a`` and ``b`` with the FID network's ``weights`` file; ``flags``:
    more of ours (e.g. ``--engine torch``)."""
    flags = ["--batch-size", str(batch_size), *(flags or [])]
    modes = modes or [m for m in FID_MODES if dims == 2048 or m != "guided-diffusion"]
    runs = []
    with tempfile.TemporaryDirectory(prefix="inceptionkit-fid-bench-") as tmp:
        hub = Path(tmp, "torch", "hub", "checkpoints")
        hub.mkdir(parents=True)
        (hub / PYTORCH_FID_FILE).symlink_to(Path(weights).resolve())
        env = {**os.environ, "TORCH_HOME": str(Path(tmp, "torch"))}
        for mode in modes:
            say(f"inceptionkit --mode {mode}")
            failed = _warm_up(a, mode, weights, dims, flags, env, Path(tmp), batch_size)
            ours = _ours(a, b, mode, weights, dims, flags, env)
            runs.append(replace(ours, note="; ".join(filter(None, (ours.note, failed)))))
        for name in peers:
            if name == "clean-fid" and dims != 2048:
                runs.append(ToolRun(name, SAME_AS[name], "", None, None, "computes 2048 dims only"))
                continue
            say(name)
            runs.append(_peer(name, a, b, weights, dims, env))
    return runs


def images_in(*folders: str) -> int:
    """The image files directly in ``folders`` (what every tool reads)."""
    from ..images import IMAGE_EXTENSIONS

    return sum(1 for f in folders for p in Path(f).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


__all__ = ["PEERS", "ToolRun", "images_in", "run_tools"]
