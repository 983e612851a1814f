"""Which ``fid`` action reads each of its flags. A flag given to an action that would not read it is
refused in one line (exit 2), never dropped: ``fid A B -o s.npz`` printed the FID and wrote nothing,
``fid stats SRC --kid`` computed no KID, and ``fid A B --modes clean`` computed the default mode."""

from __future__ import annotations

import argparse

from ..errors import UsageError

ACTIONS = {"fid": "fid A B", "stats": "fid stats", "compare": "fid compare", "bench": "fid bench", "stages": "fid bench --stages"}  # fmt: skip
_ALL = frozenset(ACTIONS)
_FID = frozenset({"fid"})

# dest -> (the flag as written, the actions that read it); flags absent here are read by every action
READ_BY: dict[str, tuple[str, frozenset[str]]] = {
    "output": ("-o", frozenset({"stats"})),
    "modes": ("--modes", frozenset({"compare", "bench"})),
    "stages": ("--stages", frozenset({"stages"})),
    "mode": ("--mode", frozenset({"fid", "stats", "stages"})),
    "report": ("--report", _FID),
    "kid": ("--kid", frozenset({"fid", "compare"})),
    "kid_subsets": ("--kid-subsets", frozenset({"fid", "compare"})),
    "kid_subset_size": ("--kid-subset-size", frozenset({"fid", "compare"})),
    "isc": ("--isc", _FID),
    "isc_splits": ("--isc-splits", _FID),
    "prdc": ("--prdc", _FID),
    "prdc_k": ("--prdc-k", _FID),
    "fid_infinity": ("--fid-infinity", _FID),
    "fid_infinity_min_size": ("--fid-infinity-min-size", _FID),
    "ci": ("--ci", _FID),
    "bootstrap": ("--bootstrap", _FID),
    "seed": ("--seed", _FID),
    "format": ("--format", _ALL - {"stats"}),
    "device": ("--device", _ALL - {"bench"}),  # the peers are timed on the CPU, each at its defaults
    "skip_bad": ("--skip-bad", _ALL - {"bench"}),
}
# where a refused flag has a counterpart that does what was meant
INSTEAD = {
    "output": "save statistics with fid stats SRC -o FILE.npz",
    "modes": "fid A B computes one --mode",
    "mode": "fid compare and fid bench take --modes M1,M2",
}
# dest -> the flags (dests) one of which it works with
NEEDS: dict[str, tuple[str, ...]] = {
    "kid_subsets": ("kid",), "kid_subset_size": ("kid",), "isc_splits": ("isc",), "prdc_k": ("prdc",),
    "fid_infinity_min_size": ("fid_infinity",), "bootstrap": ("ci",), "seed": ("ci", "fid_infinity"),
}  # fmt: skip


def defaults(p: argparse.ArgumentParser) -> dict[str, object]:
    """The parser's defaults of the flags above: a flag is given where its value differs."""
    return {dest: p.get_default(dest) for dest in READ_BY}


def action_of(args: argparse.Namespace) -> str:
    first = args.inputs[0]
    if first == "bench":
        return "stages" if args.stages else "bench"
    return first if first in ("stats", "compare") else "fid"


def check_flags(args: argparse.Namespace, given_defaults: dict[str, object]) -> None:
    """Refuse a flag the action would not read, or one given without the flag it works with."""
    action = action_of(args)
    given = {dest for dest, default in given_defaults.items() if getattr(args, dest) != default}
    for dest in sorted(given, key=list(READ_BY).index):
        flag, readers = READ_BY[dest]
        if action not in readers:
            if dest == "stages":
                continue  # --stages makes the action; it is refused below where the inputs are not bench
            names = [ACTIONS[a] for a in ACTIONS if a in readers]
            where = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            raise UsageError(f"{flag} is read by {where}, not by {ACTIONS[action]}: {INSTEAD.get(dest, 'drop it')}")
        needs = NEEDS.get(dest, ())
        if needs and not given & set(needs):
            raise UsageError(f"{flag} goes with {' or '.join(READ_BY[n][0] for n in needs)}, which was not given")
    if args.stages and args.inputs[0] != "bench":
        raise UsageError(f"--stages is read by fid bench, not by {ACTIONS[action]}: drop it")
