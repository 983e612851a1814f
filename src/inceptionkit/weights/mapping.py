"""Putting a source's tensors into an inceptionkit model: by order and shape, never by name.

Our model is seen as *units* (one per top-level stage, auxiliary head and the classifier), each a list
of *leaves* (the modules that own tensors: a convolution, a batch norm, a linear layer). A state dict
from torchvision or timm lists the same leaves in the same order (every variant's parameter order
equals its reference's); auxiliary heads may sit elsewhere in the file (torchvision's Inception-v3
registers ``AuxLogits`` between ``Mixed_6e`` and ``Mixed_7a``). So each of our leaves takes the first
unused source leaf of the same tensor shapes, and a unit is taken whole or not at all.

The result is checked completely (every backbone tensor found, no source tensor left over) and
assembled into a full new state dict before anything is copied into the model.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import torch

from ..model import InceptionNet
from ..spec import NetSpec
from .formats import WeightsError, check_finite

Shape = tuple[int, ...]
SKIP = "num_batches_tracked"


@dataclass(frozen=True)
class Leaf:
    """A module of ours that owns tensors: its path and (attribute, shape) pairs in state-dict order."""

    path: str
    shapes: tuple[tuple[str, Shape], ...]
    classifier: bool = False  # the class count (first dim) is free

    def key(self, attr: str) -> str:
        return f"{self.path}.{attr}" if self.path else attr

    def fits(self, tensors: Mapping[str, torch.Tensor]) -> bool:
        if set(tensors) != {a for a, _ in self.shapes}:
            return False
        got = {a: tuple(t.shape) for a, t in tensors.items()}
        if not self.classifier:
            return all(got[a] == s for a, s in self.shapes)
        outs = {got[a][0] if got[a] else None for a, _ in self.shapes}
        return len(outs) == 1 and all(got[a][1:] == s[1:] for a, s in self.shapes)


@dataclass(frozen=True)
class Unit:
    """A top-level part of the model: a feature stage, an auxiliary head or the classifier."""

    name: str
    role: Literal["features", "aux", "head"]
    leaves: tuple[Leaf, ...]


@cache
def template(spec: NetSpec, in_chans: int = 3) -> InceptionNet:
    """The shapes-only model of ``spec`` (meta device), with every auxiliary head and a classifier."""
    with torch.device("meta"):
        return InceptionNet(spec, num_classes=1, aux_logits=bool(spec.aux), in_chans=in_chans)


def _role(path: str) -> Literal["features", "aux", "head"]:
    top = path.split(".", 1)[0]
    return "features" if top == "features" else "aux" if top == "aux" else "head"


def _is_classifier(path: str) -> bool:
    """Whether the module at ``path`` is a classifier (ours: ``fc`` and each auxiliary head's ``fc``)."""
    return path == "fc" or (_role(path) == "aux" and path.endswith(".fc"))


def _unit_name(path: str) -> str:
    parts = path.split(".")
    return ".".join(parts[:2]) if parts[0] in ("features", "aux") else parts[0]


def leaves_of(model: torch.nn.Module) -> list[Leaf]:
    """Every module of ``model`` that owns tensors, in state-dict order."""
    out = []
    for path, m in model.named_modules():
        tensors = [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
        shapes = tuple((a, tuple(t.shape)) for a, t in tensors if a != SKIP and t is not None)
        if shapes:
            out.append(Leaf(path, shapes, _is_classifier(path)))
    return out


@cache
def units(spec: NetSpec, in_chans: int = 3) -> tuple[Unit, ...]:
    """The units of ``spec``'s template, in order."""
    grouped: OrderedDict[str, list[Leaf]] = OrderedDict()
    for leaf in leaves_of(template(spec, in_chans)):
        grouped.setdefault(_unit_name(leaf.path), []).append(leaf)
    return tuple(Unit(name, _role(name), tuple(ls)) for name, ls in grouped.items())


@dataclass
class SourceLeaf:
    path: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def source_leaves(state: Mapping[str, torch.Tensor]) -> list[SourceLeaf]:
    """The tensors of a state dict grouped by owning module, in the state dict's order."""
    grouped: OrderedDict[str, SourceLeaf] = OrderedDict()
    for key, t in state.items():
        path, _, attr = key.rpartition(".")
        if attr == SKIP:
            continue
        grouped.setdefault(path, SourceLeaf(path)).tensors[attr] = t
    return list(grouped.values())


def describe_misfit(leaf: Leaf, src: SourceLeaf | None) -> str:
    """``name: expected shape, found name shape`` for the first tensor of ``leaf`` that does not fit."""
    if src is None:
        a, s = leaf.shapes[0]
        return f"{leaf.key(a)}: expected {s}, found nothing (the file has no tensors left)"
    for a, s in leaf.shapes:
        t = src.tensors.get(a)
        found = f"{src.path}.{a}" if src.path else a
        if t is None:
            others = ", ".join(f"{src.path}.{k} {tuple(v.shape)}" for k, v in src.tensors.items())
            return f"{leaf.key(a)}: expected {s}, found {others}"
        if tuple(t.shape) != s and not (leaf.classifier and tuple(t.shape)[1:] == s[1:]):
            return f"{leaf.key(a)}: expected {s}, found {found} {tuple(t.shape)}"
    extra = next((k for k in src.tensors if k not in dict(leaf.shapes)), None)
    if extra is None:  # a classifier whose weight and bias disagree on the class count
        return f"{leaf.path}: found {src.path} with inconsistent shapes"
    return f"{leaf.key(extra)}: expected none, found {src.path}.{extra} {tuple(src.tensors[extra].shape)}"


@dataclass
class Match:
    """Which of our tensors a source provides."""

    found: dict[str, torch.Tensor]
    misfit: str | None  # the first tensor of a required unit that does not fit
    leftovers: list[str]  # source tensors with no place in the model

    @property
    def ok(self) -> bool:
        return self.misfit is None and not self.leftovers

    def problem(self) -> str:
        return self.misfit or f"{self.leftovers[0]} has no place in the model"


def _first_fit(
    leaf: Leaf, leaves: list[SourceLeaf], taken: set[int], start: int
) -> tuple[int | None, int | None]:
    """(the first free source leaf that fits ``leaf``, the first free one), as indices."""
    first = None
    for i in range(start, len(leaves)):
        if i in taken:
            continue
        first = i if first is None else first
        if leaf.fits(leaves[i].tensors):
            return i, first
    return None, first


def match(spec: NetSpec, leaves: list[SourceLeaf], in_chans: int = 3) -> Match:
    """Give each of ``spec``'s leaves the first unused source leaf of the same shapes."""
    used: set[int] = set()
    found: dict[str, torch.Tensor] = {}
    misfit = None
    start = 0  # every source leaf before this one is used
    for unit in units(spec, in_chans):
        picks: list[int] = []
        for leaf in unit.leaves:
            i, first_free = _first_fit(leaf, leaves, used.union(picks), start)
            if i is None:
                if unit.role == "features" and misfit is None:
                    misfit = describe_misfit(leaf, None if first_free is None else leaves[first_free])
                break
            picks.append(i)
        else:
            used.update(picks)
            while start in used:
                start += 1
            for leaf, i in zip(unit.leaves, picks, strict=True):
                found.update({leaf.key(a): t for a, t in leaves[i].tensors.items()})
    leftovers = [
        f"{s.path}.{a} {tuple(t.shape)}"
        for i, s in enumerate(leaves)
        if i not in used
        for a, t in s.tensors.items()
    ]
    return Match(found, misfit, leftovers)


def order_by_names(
    state: Mapping[str, torch.Tensor], references: Iterable[tuple[str, ...]]
) -> OrderedDict | None:
    """``state`` in the order of the first reference key list that names all its tensors.

    safetensors files keep no order (they sort tensors by name); the implementation that named the
    tensors knows it.
    """
    wanted = {k for k in state if not k.endswith(SKIP)}
    for keys in references:
        rank = {k: i for i, k in enumerate(keys)}
        if wanted <= rank.keys():
            return OrderedDict((k, state[k]) for k in sorted(wanted, key=rank.__getitem__))
    return None


# ---------------------------------------------------------------------------------------------
# Assembling the new state dict
# ---------------------------------------------------------------------------------------------


def source_classes(found: Mapping[str, torch.Tensor]) -> int | None:
    """The class count of the source's classifier, or None if it has none."""
    w = found.get("fc.weight")
    return None if w is None else int(w.shape[0])


def fresh_keys(
    current: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], classes: int
) -> list[str]:
    """The keys of ``current`` (a model's state dict, of ``classes`` classes) that :func:`load_found`
    keeps as they are: not in ``found``, or the classifier's when ``found`` has none of that count."""
    drop_head = classes == 0 or source_classes(found) != classes
    return [k for k in current if k not in found or (drop_head and _is_classifier(k.rpartition(".")[0]))]


def load_found(model: InceptionNet, found: Mapping[str, torch.Tensor], origin: str) -> list[tuple[int, str]]:
    """Copy ``found`` into ``model``, everything validated first; (logging level, note) on what stays
    fresh or unused.

    The classifier is kept fresh when the source has none or one for another class count; auxiliary
    heads likewise. Every backbone tensor must be found.
    """
    check_finite(found, origin)
    notes: list[tuple[int, str]] = []
    n = model.num_classes
    classes = source_classes(found)
    if n and classes is None:
        notes.append(
            (
                logging.WARNING,
                f"{origin} has no classifier: the backbone is loaded, the "
                f"{n}-class classifier is freshly initialised",
            )
        )
    elif n and classes != n:
        notes.append(
            (
                logging.WARNING,
                f"{origin} has a {classes}-class classifier, the model {n} "
                "classes: the backbone is loaded, the classifier is freshly initialised",
            )
        )
    current = model.state_dict()
    fresh = set(fresh_keys(current, found, n))
    aux_names = list(model.aux.keys()) if model.aux is not None else []
    for name in aux_names:
        if not any(k.startswith(f"aux.{name}.") for k in found):
            notes.append(
                (logging.WARNING, f"{origin} has no auxiliary head {name}: it is freshly initialised")
            )
    unused = sorted({k.split(".")[1] for k in found if k.startswith("aux.")} - set(aux_names))
    if unused:
        notes.append((logging.INFO, f"auxiliary heads {', '.join(unused)} not used (aux_logits=False)"))
    state = OrderedDict()
    for key, cur in current.items():
        if key in fresh:
            if _role(key) == "features" and not key.endswith(SKIP):
                raise WeightsError(f"{origin}: no tensor for {key} {tuple(cur.shape)}")
            state[key] = cur
            continue
        t = found[key]
        if tuple(t.shape) != tuple(cur.shape):
            raise WeightsError(f"{origin}: {key}: expected {tuple(cur.shape)}, found {tuple(t.shape)}")
        state[key] = t.to(dtype=cur.dtype)
    model.load_state_dict(state, strict=True)
    return notes
