"""``inceptionkit fid compare A B``: FID (and KID, sFID) under every mode side by side, one pass per
distinct network input, and one line per mode saying what it does differently from the default."""

from __future__ import annotations

import argparse
import json

from ..cli import run_settings
from ..devices import current_world
from ..errors import UsageError


def run_compare(args: argparse.Namespace, rest: list[str]) -> int:
    from ..metrics.compare import compare_modes

    if len(rest) != 2:
        raise UsageError("fid compare takes two inputs, A and B")
    modes = [m.strip() for m in args.modes.split(",")] if args.modes else None
    result = compare_modes(
        *rest, modes=modes, dims=args.dims, kid=args.kid, kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size, weights=args.weights, settings=run_settings(args),
    )  # fmt: skip
    if not current_world().is_main:
        return 0
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, allow_nan=False))
        return 0
    for line in comparison_lines(result):
        print(line)
    return 0


def comparison_lines(result) -> list[str]:
    """The table (mode, FID, KID, sFID, whose pass), then what each mode does differently."""
    s, rows = result.settings, result.rows
    kid, sfid = any(r.kid is not None for r in rows), any(r.sfid is not None for r in rows)
    width = max(len(r.mode) for r in rows)
    head = f"{'mode':<{width}}  {'FID':>12}" + (f"  {'KID':>12}" if kid else "") + (f"  {'sFID':>12}" if sfid else "")
    out = [f"{s['dims']} dims; {'; '.join(f'{k}: {v} images' for k, v in s['images'].items())}; "
           f"{s['passes']} network passes", head + "  pass"]  # fmt: skip
    for r in rows:
        line = f"{r.mode:<{width}}  {r.fid:>12.6g}"
        line += f"  {r.kid:>12.6g}" if kid else ""
        line += (f"  {r.sfid:>12.6g}" if r.sfid is not None else f"  {'':>12}") if sfid else ""
        out.append(line + ("  shared with " + r.pass_of if r.pass_of != r.mode else "  own"))
    out += [f"{m}: left out: {why}" for m, why in s["left_out"].items()]
    out += [f"{r.mode}: {r.differs}" for r in rows]
    return out
