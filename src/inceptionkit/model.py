"""The one network class: a spec's nodes in order, auxiliary heads, a pooled classifier."""

from __future__ import annotations

import math
from functools import cache, lru_cache

import torch
from torch import nn

from .build import AuxHead, build_features
from .errors import InputError, UsageError
from .meta import WeightMeta
from .spec import NetSpec
from .trace import InputTooSmall, min_input_size, output_shapes, trace


@cache
def _min_size(spec: NetSpec, aux_logits: bool) -> int:
    return min_input_size(spec, aux_logits)


@lru_cache(maxsize=1024)
def _size_error(spec: NetSpec, aux_logits: bool, h: int, w: int) -> str | None:
    """Why an (h, w) input does not fit, or None: the analytic trace decides, before any compute."""
    need = _min_size(spec, aux_logits)
    if min(h, w) < need:
        return f"needs inputs of at least {need}x{need}; got {h}x{w}"
    try:
        trace(spec, (h, w), num_classes=1, aux_logits=aux_logits)
    except InputTooSmall as e:
        return f"cannot take a {h}x{w} input: {e}"
    return None


def _check_arguments(
    spec: NetSpec, num_classes: int, in_chans: int, aux_logits: bool, drop_rate: float | None
) -> None:
    name = f"{spec.arch} ({spec.variant})"
    if aux_logits and not spec.aux:
        raise UsageError(f"{name} has no auxiliary classifiers (aux_logits)")
    if not isinstance(num_classes, int) or num_classes < 0:
        raise UsageError(
            f"num_classes must be an integer of at least 0 (0: no classifier), got {num_classes!r}"
        )
    if not isinstance(in_chans, int) or in_chans < 1:
        raise UsageError(f"in_chans must be an integer of at least 1, got {in_chans!r}")
    if drop_rate is not None and not 0 <= drop_rate < 1:
        raise UsageError(f"drop_rate must be in [0, 1), got {drop_rate!r}")


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"shape {tuple(x.shape)}"
    return f"a {type(x).__name__}, not a tensor"


class InceptionNet(nn.Module):
    """Any member of the Inception family, built from its :class:`~inceptionkit.spec.NetSpec`.

    The surface follows timm: ``forward_features``, ``forward_head(x, pre_logits)``,
    ``reset_classifier``, ``num_features``, ``feature_info``; plus ``forward_intermediates`` for
    the paper's named stages. In training mode with ``aux_logits=True``, ``forward`` returns
    ``(logits, aux_1, ...)`` with the auxiliary heads in network order.

    ``weight_meta``: what the loaded weights say about the model (their preprocessing, class names
    and source); None for a model with random weights.
    """

    weight_meta: WeightMeta | None

    def __init__(
        self,
        spec: NetSpec,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        drop_rate: float | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(spec, num_classes, in_chans, aux_logits, drop_rate)
        self.spec = spec
        self.weight_meta = None
        self.in_chans = in_chans
        self.aux_logits = aux_logits
        self.drop_rate = spec.drop_rate if drop_rate is None else drop_rate
        nodes, channels = build_features(spec, in_chans)
        self.features = nn.ModuleDict(nodes)
        self.num_features = channels[spec.features[-1][0]]
        shapes = output_shapes(spec, spec.default_size, in_chans)
        self.feature_info = [
            # the nominal stride (a power of two, as timm reports it: 32 for 299 -> 8x8)
            {
                "module": n,
                "num_chs": shapes[n][0],
                "reduction": 2 ** round(math.log2(spec.default_size / shapes[n][1])),
            }
            for n in spec.node_names
        ]
        self._aux_flat: dict[str, int] = {}
        self.aux = None
        if aux_logits:
            self.aux = nn.ModuleDict()
            for a in spec.aux:
                flat = self._aux_input_size(a, shapes[a.after], channels[a.after])
                self._aux_flat[a.name] = flat
                self.aux[a.name] = AuxHead(a, channels[a.after], spec.style, num_classes, flat)
        self._taps = {a.after: a.name for a in spec.aux} if aux_logits else {}
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(self.drop_rate)
        self.num_classes = num_classes
        self.fc: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        self.min_size = _min_size(spec, aux_logits)

    @classmethod
    def on_meta(cls, spec: NetSpec, **options) -> InceptionNet:
        """The network on PyTorch's ``meta`` device: shapes only, nothing allocated or drawn."""
        with torch.device("meta"):
            return cls(spec, **options)

    @classmethod
    def uninitialised(cls, spec: NetSpec, skeleton: InceptionNet | None = None, **options) -> InceptionNet:
        """The network with its tensors allocated but not initialised, for a load that then sets every
        one of them (PyTorch's random initialisation is most of building a network: 0.1 s of the FID
        network's 0.3 s load; and it leaves the global random generator as it was). Batch norm's step
        counters start at zero, as ever. Initialised as ever if a buffer is one a state dict leaves out.
        ``skeleton``: the same network already built :meth:`on_meta`, used instead of a second one."""
        model = skeleton if skeleton is not None else cls.on_meta(spec, **options)
        tensors = {id(t) for t in (*model.parameters(), *model.buffers())}
        if len(tensors) != len(model.state_dict()):  # a buffer no load would set
            return cls(spec, **options)
        # torch.empty, not Module.to_empty: its empty_like of a meta tensor runs PyTorch's Python
        # reference implementation, whose first use imports sympy (0.3 s of every process's start)
        model = model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))
        with torch.no_grad():
            for name, t in model.state_dict().items():
                if name.endswith("num_batches_tracked"):
                    t.zero_()
        return model

    def _aux_input_size(self, aux, shape, c_in: int) -> int:
        from .trace import Trace, trace_branch

        t = Trace()
        c, h, w = trace_branch(aux.ops, shape, self.spec.style, aux.name, t)
        return c * h * w

    # -- input checks ---------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        name = f"{self.spec.arch} ({self.spec.variant})"
        if torch.compiler.is_compiling():  # checked once, eagerly, before compiling
            return
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise InputError(f"{name} takes a 4-D batch (N, C, H, W); got {_describe(x)}")
        want = next(self.parameters()).dtype
        if x.dtype != want:
            raise InputError(
                f"{name} takes {_dtype(want)} input (its weights' type); got {_dtype(x.dtype)}: convert it "
                "(images: scale 0-255 pixels to [0, 1] and normalise, as the weights' Preprocess does)"
            )
        if x.shape[1] != self.in_chans:
            raise InputError(
                f"{name} takes {self.in_chans} input channels; got {x.shape[1]} (shape {tuple(x.shape)})"
            )
        aux = self.aux_logits and self.training  # the auxiliary heads run in training only
        error = _size_error(self.spec, aux, int(x.shape[2]), int(x.shape[3]))
        if error:
            raise InputError(f"{name} {error}")

    # -- forward --------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        for m in self.features.values():
            x = m(x)
        return x

    def forward_intermediates(
        self, x: torch.Tensor, names: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """The outputs of the named stages (aliases such as keras' ``mixed5`` work too)."""
        self.check_input(x)
        wanted = [self.spec.resolve(n) for n in (names or self.spec.node_names)]
        last = max(self.spec.node_names.index(n) for n in wanted)
        out: dict[str, torch.Tensor] = {}
        for i, (name, m) in enumerate(self.features.items()):
            x = m(x)
            if name in wanted:
                out[name] = x
            if i == last:
                break
        return {n: out[self.spec.resolve(n)] for n in (names or self.spec.node_names)}

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)
        if pre_logits:
            return x
        return self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        self.check_input(x)
        aux_out = []
        for name, m in self.features.items():
            x = m(x)
            if self.aux is not None and self.training and name in self._taps:
                aux_out.append(self.aux[self._taps[name]](x))
        logits = self.forward_head(x)
        return (logits, *aux_out) if aux_out else logits

    # -- classifier surgery ---------------------------------------------------------------------
    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier (and fresh auxiliary classifiers) for ``num_classes`` classes."""
        self.num_classes = num_classes
        device = next(self.parameters()).device
        self.fc = nn.Linear(self.num_features, num_classes).to(device) if num_classes else nn.Identity()
        if self.aux is not None:
            for head in self.aux.values():
                head.fc = nn.Linear(head.fc.in_features, max(num_classes, 1)).to(device)

    def get_classifier(self) -> nn.Module:
        return self.fc
