"""``compare_modes(a, b)``: FID (and KID, sFID) of one pair of inputs under every mode, side by side, so
that "why do my numbers differ" has a one-call answer.

Features are computed once per distinct network input: modes whose pipelines give the same resized
tensor to the same network arithmetic for 8-bit pixels (:attr:`~.conventions.Convention.input_as`:
torch-fidelity, torchmetrics-legacy and guided-diffusion) share one pass; each mode then applies its own
statistics and distance. Inputs are image folders, ``.npz`` batches, ``.zip`` archives or uint8 tensors
(read once per pass; statistics files belong to one mode and cannot be compared across modes). KID in a
shared pass uses that pass's image order (torch-fidelity's: sorted real paths).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace

import torch

from ..errors import InceptionKitWarning, MetricError
from ..settings import RunSettings
from . import guided_diffusion as gd
from .api import Network, _finite, _run, _runner, _setup
from .checks import caution
from .conventions import CONVENTIONS, DEFAULT_MODE, differences
from .evaluation import POOL_DIMS
from .extract import Features
from .inputs import EVALUATOR, Source, open_input
from .network import EVALUATOR_OUTPUTS, fid_outputs
from .notes import noting
from .pipelines import MODES
from .stats import frechet_distance


@dataclass
class ModeRow:
    mode: str
    fid: float
    differs: str  # from the default mode, in words
    pass_of: str  # the mode whose network pass it used
    kid: float | None = None
    sfid: float | None = None


@dataclass
class Comparison:
    rows: list[ModeRow]
    settings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # why the figures may mean little, as shown

    def as_dict(self) -> dict:
        return {"modes": [r.__dict__ for r in self.rows], "settings": self.settings, "warnings": self.warnings}


def passes(modes: list[str], pixels: bool) -> dict[str, list[str]]:
    """The network passes ``modes`` need: the mode that leads each, and the modes it serves."""
    out: dict[str, list[str]] = {}
    for m in modes:
        lead = CONVENTIONS[m].input_as if pixels and CONVENTIONS[m].input_as else m
        out.setdefault(lead, []).append(m)
    return out


def _pixels(source: Source) -> bool:
    if isinstance(source, torch.Tensor):
        return source.dtype == torch.uint8
    if isinstance(source, (str, os.PathLike)):
        return True
    raise MetricError("fid compare reads its inputs once per pass: give folders, files or tensors, not iterators")


@noting
def compare_modes(
    input1: Source,
    input2: Source,
    *,
    modes: list[str] | None = None,
    dims: int = 2048,
    kid: bool = False,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    weights: str | os.PathLike | None = None,
    network: Network | None = None,
    settings: RunSettings | None = None,
    **overrides: object,
) -> Comparison:
    """FID (KID with ``kid``; sFID for guided-diffusion, which reads 2048 dims and is left out at others)
    of ``input2`` against ``input1`` under each of ``modes`` (default: all)."""
    asked = list(modes or MODES)
    if unknown := [m for m in asked if m not in MODES]:
        raise MetricError(f"modes {', '.join(unknown)}: use some of {', '.join(MODES)}")
    left_out = [EVALUATOR] if dims != POOL_DIMS and EVALUATOR in asked else []
    asked = [m for m in asked if m not in left_out]
    for source, label in ((input1, "input 1"), (input2, "input 2")):  # refused before any work
        _images_only(open_input(source, label, asked[0], dims))
    if kid and kid_subset_size < 2:  # the unbiased estimator divides by m (m - 1), as fid refuses it
        raise MetricError(f"KID subset size {kid_subset_size}: KID needs subsets of at least 2 images")
    run, dev, world = _setup(settings, overrides)
    run = run.replace(log=_once(run.say))  # each pass's engine line ("measured before") said once
    network = network or Network.load(weights, asked[0])
    groups = passes(asked, _pixels(input1) and _pixels(input2))
    rows: dict[str, ModeRow] = {}
    for i, (lead, members) in enumerate(groups.items()):
        fa, fb, labels = _pass(input1, input2, lead, members, dims, network, run, dev, world, kid)
        if i == 0:  # the counts, and whether the features vary, are the same images' in every pass
            caution([f.moments.statistics(lead, label) for f, label in zip((fa, fb), labels, strict=True)], dims, "the FIDs are")
        for m in members:
            rows[m] = _row(m, lead, fa, fb, dims, kid, kid_subsets, kid_subset_size)
    info = {"dims": dims, "passes": len(groups), "shared": {k: v for k, v in groups.items() if len(v) > 1},
            "left_out": {m: "the evaluator reads pool_3 (2048 dims)" for m in left_out}, "images": labels,
            "weights": {"file": network.file, "sha256": network.sha256}, "default": DEFAULT_MODE}  # fmt: skip
    if kid:
        info.update(kid_subsets=kid_subsets, kid_subset_size=min(kid_subset_size, *labels.values()))
        if info["kid_subset_size"] < kid_subset_size:  # torch-fidelity itself would refuse: said, not silent
            warnings.warn(
                f"KID subset size reduced from {kid_subset_size} to {info['kid_subset_size']}, the smaller "
                "input's count, in every mode", InceptionKitWarning, stacklevel=3,
            )  # fmt: skip
    _finite({f"{r.mode}'s {name}": v for r in rows.values() for name, v in (("FID", r.fid), ("KID", r.kid), ("sFID", r.sfid)) if v is not None})
    return Comparison([rows[m] for m in asked], info)


def _once(say):
    said: set[str] = set()

    def once(line: str) -> None:
        if line not in said:
            said.add(line)
            say(line)

    return once


def _images_only(inp) -> None:
    if not inp.has_images:
        raise MetricError(f"{inp.label}: a statistics file belongs to one mode; comparing modes needs images")


def _pass(a, b, lead: str, members: list[str], dims: int, network: Network, run, dev, world, kid: bool):
    """One network pass over both inputs, in the lead mode's pipeline."""
    x, y = open_input(a, "input 1", lead, dims), open_input(b, "input 2", lead, dims)
    names = EVALUATOR_OUTPUTS if EVALUATOR in members else fid_outputs(dims)
    runner = _runner(network, names, lead, dev, world, run, [x, y], keep_features=kid or EVALUATOR in members)
    runner = replace(runner, keep_logits=EVALUATOR in members)  # the evaluator's spatial features
    fa, fb = _run(x, runner, run.skip_bad), _run(y, runner, run.skip_bad)
    return fa, fb, {x.label: fa.moments.count, y.label: fb.moments.count}


def _row(mode: str, lead: str, fa: Features, fb: Features, dims: int, kid: bool, subsets: int, size: int) -> ModeRow:
    c = CONVENTIONS[mode]
    row = ModeRow(mode, 0.0, differences(mode), lead)
    if mode == EVALUATOR:  # sample first, float32 activations' np.mean and np.cov
        row.fid = gd.fid(gd.statistics(fb.kept.numpy()), gd.statistics(fa.kept.numpy()))
        row.sfid = gd.fid(gd.statistics(fb.logits.numpy()), gd.statistics(fa.logits.numpy()))
    else:
        sa, sb = fa.moments.statistics(mode), fb.moments.statistics(mode)
        row.fid = frechet_distance(sa, sb, c.fid)
    if kid:
        n = min(size, len(fa.kept), len(fb.kept))
        row.kid = c.kid(fa.kept.numpy(), fb.kept.numpy(), subsets, n)[0]
    return row
