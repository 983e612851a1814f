"""Input channels other than the file's: the first convolution adapted as timm's ``adapt_input_conv``.

One rule for every source (keras, torchvision, timm, inceptionkit files) and for fine-tuning:
I -> 1 channel sums the filters over the channels (a grey image is R = G = B, so the response is
unchanged); I -> N channels repeats the file's channels cyclically and scales by I / N (the response
to an input whose channels are equal is unchanged). For 3-channel files this is exactly timm's
``adapt_input_conv``; timm refuses other files, we apply the same rule to them (a 1-channel digits
model grows to colour: each colour gets a third of the grey filter).
"""

from __future__ import annotations

import math

import torch

from ..errors import UsageError
from ..spec import NetSpec
from .mapping import SourceLeaf, template


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """``weight`` (O, I, kh, kw) for ``in_chans`` inputs: timm's ``adapt_input_conv`` (for I = 3, the
    same numbers), generalised to any I as the module docstring says."""
    dtype, w = weight.dtype, weight.float()
    o, i, kh, kw = w.shape
    if in_chans == 1:
        w = w.reshape(o, i // 3, 3, kh, kw).sum(dim=2) if i > 3 and i % 3 == 0 else w.sum(dim=1, keepdim=True)
    elif in_chans != i:
        w = w.repeat(1, math.ceil(in_chans / i), 1, 1)[:, :in_chans] * (i / float(in_chans))
    return w.to(dtype)


def first_conv_key(spec: NetSpec) -> str:
    """Our state-dict key of the stem's first convolution weight."""
    return next(k for k, t in template(spec).state_dict().items() if t.dim() == 4)


def file_channels(leaves: list[SourceLeaf]) -> int:
    """The input channels of a state dict: those of its first convolution (3 if it has none)."""
    return next((int(t.shape[1]) for s in leaves for t in s.tensors.values() if t.dim() == 4), 3)


def adapt_channels(
    found: dict[str, torch.Tensor], spec: NetSpec, in_chans: int | None
) -> tuple[int, str]:
    """Adapt ``found`` (our names) in place to ``in_chans`` (None: the file's); the model's input
    channels, and a note on what was done ("" if nothing)."""
    if in_chans is not None and (not isinstance(in_chans, int) or in_chans < 1):
        raise UsageError(f"in_chans must be an integer of at least 1, got {in_chans!r}")
    key = first_conv_key(spec)
    have = int(found[key].shape[1])
    if in_chans is None or in_chans == have:
        return have, ""
    found[key] = adapt_input_conv(in_chans, found[key])
    return (
        in_chans,
        f"first convolution adapted from {have} to {in_chans} input channels (timm's adapt_input_conv)",
    )
