"""keras weight files: the legacy HDF5 layout keras.applications downloads, and keras 3 ``.weights.h5``.

Both hold one entry per keras layer, in the order of keras' ``model.layers``; neither holds names we
could use (keras 2 numbers ``conv2d_1``, ``conv2d_2``, ... by creation, keras 3 by class and position).
So the weights are mapped by layer ORDER and TYPE: we rebuild keras' layer graph from our spec (one
keras layer per conv, batch norm, activation, pooling, concatenation, addition) and sort it as keras
does (``keras/src/ops/function.py``, ``map_graph``): by decreasing depth (the longest path to the
output), ties broken by the order in which a depth-first walk from the output, visiting each layer's
inputs in order, first reaches each layer. keras 2 sorted its ``Network.layers`` the same way.

The layouts:

- legacy (keras 2; keras 3's ``legacy_h5_format``): the root (or ``model_weights``) has the attribute
  ``layer_names``, every layer a group whose attribute ``weight_names`` lists datasets such as
  ``conv2d_1/kernel:0``. Layers without weights have an empty list.
- keras 3 ``.weights.h5``: ``layers/<class>[_<k>]/vars/<i>``, where ``<class>`` is the layer class in
  snake case and ``k`` its rank among the layers of that class in ``model.layers`` order.

Tensor layouts: convolution kernels (kh, kw, in, out) become (out, in, kh, kw); depthwise kernels
(kh, kw, in, 1) become (in, 1, kh, kw); dense kernels (in, out) become (out, in); batch norm holds
gamma (absent with ``scale=False``), beta, moving mean, moving variance.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from functools import cache, singledispatch
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..layers import SeparableConv2d
from ..spec import LRN, Act, AdaptivePool, Cat, Conv, NetSpec, Op, Pool, Residual, SepConv, Style
from .formats import KERAS_ARCHIVE_WEIGHTS, WeightsError
from .mapping import SourceLeaf, describe_misfit, leaves_of, template

WEIGHT_KINDS = ("conv", "bn", "sepconv", "dense")
KERAS3_CLASSES = {
    "conv2d": "conv",
    "batch_normalization": "bn",
    "separable_conv2d": "sepconv",
    "dense": "dense",
}


# ---------------------------------------------------------------------------------------------
# keras' layer graph and order, from the spec
# ---------------------------------------------------------------------------------------------


@dataclass
class Graph:
    """keras layers in creation order: each one's kind and the layers whose outputs it takes."""

    kinds: list[str]
    inputs: list[tuple[int, ...]]

    def add(self, kind: str, *inputs: int) -> int:
        self.kinds.append(kind)
        self.inputs.append(inputs)
        return len(self.kinds) - 1


# Ops that keras.applications' Inception models never use, so no keras file can hold them: a spec
# with one has no keras graph (GoogLeNet's LRN, torchvision's adaptive pooling).
NO_KERAS_LAYER = (LRN, AdaptivePool)


@singledispatch
def _walk(op: Op, x: int, g: Graph, style: Style) -> int:
    raise ValueError(f"keras has no layer for {type(op).__name__}")


def _unit(g: Graph, x: int, kind: str, norm: bool, act: bool, style: Style) -> int:
    x = g.add(kind, x)
    if norm and style.norm is not None:
        x = g.add("bn", x)
    return g.add("act", x) if act else x


@_walk.register
def _(op: Conv, x: int, g: Graph, style: Style) -> int:
    return _unit(g, x, "conv", op.norm, op.act, style)


@_walk.register
def _(op: SepConv, x: int, g: Graph, style: Style) -> int:
    return _unit(g, x, "sepconv", op.norm, op.act, style)


@_walk.register
def _(op: Pool, x: int, g: Graph, style: Style) -> int:
    return g.add("pool", x)


@_walk.register
def _(op: Act, x: int, g: Graph, style: Style) -> int:
    return g.add("act", x)


def _branch(ops: tuple[Op, ...], x: int, g: Graph, style: Style) -> int:
    for op in ops:
        x = _walk(op, x, g, style)
    return x


@_walk.register
def _(op: Cat, x: int, g: Graph, style: Style) -> int:
    outs = [_branch(b, x, g, style) for b in op.branches]
    return g.add("concat", *outs) if len(outs) > 1 else outs[0]


@_walk.register
def _(op: Residual, x: int, g: Graph, style: Style) -> int:
    skip = _branch(op.shortcut, x, g, style) if op.shortcut else x  # built first, as build.py does
    body = _branch(op.body, x, g, style)
    # keras.applications writes Xception's sum as add([x, residual]) and Inception-ResNet's scaled
    # sum as CustomScaleLayer(scale)([x, up]): the main path first in one, the block input in the other.
    y = g.add("add", body, skip) if op.scale is None else g.add("scale", skip, body)
    return g.add("act", y) if op.act else y


def keras_graph(spec: NetSpec) -> Graph:
    """The layers of the keras model of ``spec`` with its classifier (pooling and Dense)."""
    g = Graph([], [])
    x = g.add("input")
    for _, op in spec.features:
        x = _walk(op, x, g, spec.style)
    g.add("dense", g.add("gap", x))
    return g


def keras_order(g: Graph) -> list[int]:
    """The layers of ``g`` in keras' ``model.layers`` order (the output is the last layer)."""
    out = len(g.kinds) - 1
    depth = [0] * len(g.kinds)
    for n in reversed(range(len(g.kinds))):  # creation order is topological: inputs come first
        for i in g.inputs[n]:
            depth[i] = max(depth[i], depth[n] + 1)
    first_seen: dict[int, int] = {}
    stack = [out]
    while stack:  # depth-first from the output, each layer's inputs visited in order
        n = stack.pop()
        if n in first_seen:
            continue
        first_seen[n] = len(first_seen)
        stack.extend(reversed(g.inputs[n]))
    return sorted(first_seen, key=lambda n: (-depth[n], first_seen[n]))


def _weight_modules(model: nn.Module) -> list[tuple[str, str]]:
    """(kind, path) of the modules that hold keras layers' weights, in creation order (no aux)."""
    out: list[tuple[str, str]] = []
    inside = ()
    for path, m in model.named_modules():
        if path.startswith("aux.") or path == "aux" or (inside and path.startswith(inside)):
            continue
        if isinstance(m, SeparableConv2d):
            out.append(("sepconv", path))
            inside = (path + ".",)
        elif isinstance(m, nn.Conv2d):
            out.append(("conv", path))
        elif isinstance(m, nn.BatchNorm2d):
            out.append(("bn", path))
        elif isinstance(m, nn.Linear):
            out.append(("dense", path))
    return out


@cache
def keras_weight_layers(spec: NetSpec) -> tuple[tuple[str, str], ...]:
    """(kind, our module path) of every keras layer with weights, in keras' order."""
    g = keras_graph(spec)
    created = [i for i, k in enumerate(g.kinds) if k in WEIGHT_KINDS]
    modules = _weight_modules(template(spec))
    kinds = [g.kinds[i] for i in created]
    if kinds != [k for k, _ in modules]:
        raise AssertionError(f"{spec.arch} ({spec.variant}): keras graph and modules disagree")
    path_of = {i: p for i, (_, p) in zip(created, modules, strict=True)}
    return tuple((g.kinds[i], path_of[i]) for i in keras_order(g) if i in path_of)


# ---------------------------------------------------------------------------------------------
# Reading the two layouts
# ---------------------------------------------------------------------------------------------


@dataclass
class KerasLayer:
    """One layer's weights as stored: its name in the file, kind and arrays by role."""

    name: str
    kind: str
    arrays: dict[str, np.ndarray]


# Each kind's weights in keras' order: role -> (our attribute, axes of the PyTorch layout).
CONVERT: dict[str, dict[str, tuple[str, tuple[int, ...] | None]]] = {
    "conv": {"kernel": ("weight", (3, 2, 0, 1)), "bias": ("bias", None)},
    "sepconv": {
        "depthwise_kernel": ("conv1.weight", (2, 3, 0, 1)),
        "pointwise_kernel": ("pointwise.weight", (3, 2, 0, 1)),
        "bias": ("bias", None),
    },
    "dense": {"kernel": ("weight", (1, 0)), "bias": ("bias", None)},
    "bn": {
        "gamma": ("weight", None),  # absent with BatchNormalization(scale=False)
        "beta": ("bias", None),
        "moving_mean": ("running_mean", None),
        "moving_variance": ("running_var", None),
    },
}


def _attr_list(group, name: str) -> list[str]:
    """An attribute list keras may have split into ``name0``, ``name1``, ... chunks."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values += list(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _legacy_kind(roles: list[str], arrays: list[np.ndarray]) -> str:
    if "depthwise_kernel" in roles:
        return "sepconv"
    if "kernel" in roles:
        return "conv" if arrays[roles.index("kernel")].ndim == 4 else "dense"
    if set(roles) <= set(CONVERT["bn"]):
        return "bn"
    return "+".join(roles)


def _read_legacy(root) -> list[KerasLayer]:
    layers = []
    for name in _attr_list(root, "layer_names"):
        group = root[name]
        weight_names = _attr_list(group, "weight_names")
        if not weight_names:
            continue
        roles = [w.split("/")[-1].split(":")[0] for w in weight_names]
        arrays = [np.asarray(group[w]) for w in weight_names]
        layers.append(KerasLayer(name, _legacy_kind(roles, arrays), dict(zip(roles, arrays, strict=True))))
    return layers


def _read_keras3(root) -> dict[str, list[KerasLayer]]:
    by_kind: dict[str, list[tuple[int, KerasLayer]]] = {}
    for name, group in root["layers"].items():
        vars_ = group.get("vars")
        if vars_ is None or len(vars_) == 0:
            continue
        m = re.fullmatch(r"(.+?)(?:_(\d+))?", name)
        kind = KERAS3_CLASSES.get(m.group(1))
        if kind is None:
            raise WeightsError(f"keras layer {name} is of a kind no Inception model has")
        arrays = [np.asarray(vars_[str(i)]) for i in range(len(vars_))]
        roles = list(CONVERT[kind])
        if kind == "bn" and len(arrays) == 3:
            roles = roles[1:]  # BatchNormalization(scale=False)
        by_kind.setdefault(kind, []).append(
            (int(m.group(2) or 0), KerasLayer(name, kind, dict(zip(roles, arrays, strict=False))))
        )
    return {k: [layer for _, layer in sorted(v, key=lambda t: t[0])] for k, v in by_kind.items()}


# A .keras archive's weights are read into memory: its declared size is checked first, so that a small
# archive cannot ask for gigabytes (a zip bomb). Inception-ResNet-v2, the largest keras file, is 215 MB;
# float weights barely compress, so a ratio far above 1 means the content is not weights.
MAX_ARCHIVE_WEIGHTS = 1 << 30
MAX_COMPRESSION_RATIO = 100


def _hdf5_source(path: str | Path) -> str | Path | io.BytesIO:
    """The HDF5 file itself, or the weights inside a keras 3 ``.keras`` zip, in memory."""
    if not zipfile.is_zipfile(path):
        return path
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(KERAS_ARCHIVE_WEIGHTS)
        if info.file_size > MAX_ARCHIVE_WEIGHTS or info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise WeightsError(
                f"{KERAS_ARCHIVE_WEIGHTS} declares {info.file_size:,} bytes uncompressed from "
                f"{info.compress_size:,} (at most {MAX_ARCHIVE_WEIGHTS:,} bytes and {MAX_COMPRESSION_RATIO}x "
                "are read): refused"
            )
        return io.BytesIO(z.read(KERAS_ARCHIVE_WEIGHTS))


def read_keras(path: str | Path) -> tuple[str, list[KerasLayer] | dict[str, list[KerasLayer]]]:
    """("legacy", layers in file order) or ("keras3", layers of each kind in order)."""
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"{path}: a keras (HDF5) file; reading it needs h5py (pip install h5py)") from None

    try:
        with h5py.File(_hdf5_source(path), "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in root.attrs or "layer_names0" in root.attrs:
                return "legacy", _read_legacy(root)
            if isinstance(root.get("layers"), h5py.Group):
                return "keras3", _read_keras3(root)
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from None
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        raise WeightsError(f"{path}: cannot read the HDF5 file (truncated or corrupt)") from None
    raise WeightsError(
        f"{path}: an HDF5 file, but not a keras weight file (no layer_names attribute, no layers group)"
    )


# ---------------------------------------------------------------------------------------------
# keras layers -> our tensors
# ---------------------------------------------------------------------------------------------


def _to_torch(layer: KerasLayer) -> dict[str, np.ndarray]:
    """The layer's arrays under our attribute names, in PyTorch layouts (paths relative to the module)."""
    out = {}
    for role, array in layer.arrays.items():
        attr, axes = CONVERT[layer.kind][role]
        out[attr] = array if axes is None else array.transpose(axes)
    return out


def _sequence(stored, ours: tuple[tuple[str, str], ...]) -> list[KerasLayer]:
    """The stored layers in keras order (keras 3 files give the order within each kind only)."""
    if isinstance(stored, list):
        return stored
    queues = {k: list(v) for k, v in stored.items()}
    seq = [queues[k].pop(0) for k, _ in ours if queues.get(k)]
    seq += [layer for q in queues.values() for layer in q]  # layers of kinds we have none of
    return seq


def keras_found(spec: NetSpec, stored) -> tuple[dict[str, torch.Tensor] | None, str | None]:
    """Our tensors from keras layers, or (None, the first thing that does not fit)."""
    ours = keras_weight_layers(spec)
    seq = _sequence(stored, ours)
    leaves = leaves_of(template(spec))
    found: dict[str, torch.Tensor] = {}
    for k, (layer, (kind, path)) in enumerate(zip(seq, ours, strict=False)):
        where = f"keras layer #{k} ({layer.name})"
        if layer.kind != kind:
            return None, f"{where} is a {layer.kind} layer, {path} wants {kind}"
        unknown = set(layer.arrays) - set(CONVERT[kind])
        if unknown:
            return None, f"{where} holds {', '.join(sorted(unknown))}, which no {kind} layer of ours has"
        converted = {
            f"{path}.{a}": torch.from_numpy(np.ascontiguousarray(v)) for a, v in _to_torch(layer).items()
        }
        for leaf in (leaf for leaf in leaves if leaf.path == path or leaf.path.startswith(path + ".")):
            src = SourceLeaf(
                layer.name,
                {
                    key.rpartition(".")[2]: converted.pop(key)
                    for key in list(converted)
                    if key.rpartition(".")[0] == leaf.path
                },
            )
            if not leaf.fits(src.tensors):
                return None, f"{where}: {describe_misfit(leaf, src)}"
            found.update({leaf.key(a): t for a, t in src.tensors.items()})
        if converted:
            key, t = next(iter(converted.items()))
            return None, f"{where} holds {key.removeprefix(path + '.')} {tuple(t.shape)}, {path} has none"
    if len(seq) not in (len(ours), len(ours) - 1):
        return None, (
            f"the file has {len(seq)} keras layers with weights; {spec.arch} ({spec.variant}) "
            f"has {len(ours)} ({len(ours) - 1} without the classifier)"
        )
    return found, None
