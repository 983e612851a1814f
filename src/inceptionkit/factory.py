"""``create_model``: the one model factory — a spec from the registry, plus weights if asked for.

Every other way to get a model is a thin named wrapper over it: :func:`inceptionkit.inference.load_model`
(refuses random weights, takes a published set from the download cache), ``train.setup.model_from_metadata``
(the model a checkpoint's metadata describes, to resume into), the command line's ``--model``/``--weights``
handling. :func:`~inceptionkit.weights.load_native` and :func:`~inceptionkit.weights.create_with_weights`
are the weights layer's loaders this factory calls.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .model import InceptionNet
from .registry import get_spec
from .weights.load import create_with_weights
from .weights.native import load_native, read_native_meta, read_native_metadata


def create_model(
    name: str | None = None,
    *,
    variant: str | None = None,
    num_classes: int | None = None,
    aux_logits: bool = False,
    in_chans: int | None = None,
    drop_rate: float | None = None,
    weights: str | Path | None = None,
) -> InceptionNet:
    """Build ``name`` (optionally a named ``variant``) and, if given, load ``weights``.

    ``weights`` is a file (keras .h5, torchvision/timm state dict, safetensors) or the tag of a
    published weight set (see :func:`inceptionkit.weights.list_weights`). ``name=None`` takes the
    model an inceptionkit file (a checkpoint, a converted file) names. ``num_classes=None`` means
    the classifier of the weights (without weights, the variant's: 1000 classes, 1008 for the FID network); another count keeps the loaded
    backbone and a fresh classifier. ``in_chans=None`` means 3, or what an inceptionkit weight file
    was trained with (another count adapts the first convolution, as timm's ``adapt_input_conv``).
    ``drop_rate=None`` keeps the variant's own dropout.
    """
    options = dict(num_classes=num_classes, aux_logits=aux_logits, in_chans=in_chans, drop_rate=drop_rate)
    if name is None:
        return _named_by_file(weights, variant, options)
    if weights is not None:
        return create_with_weights(name, weights, variant=variant, **options)
    spec = get_spec(name, variant)
    return InceptionNet(
        spec,
        num_classes=spec.default_classes if num_classes is None else num_classes,
        in_chans=3 if in_chans is None else in_chans,
        aux_logits=aux_logits,
        drop_rate=drop_rate,
    )


def _named_by_file(weights: str | Path | None, variant: str | None, options: dict) -> InceptionNet:
    """The model an inceptionkit file names, with its weights (as the file has it when no option
    asks otherwise)."""
    if weights is None:
        raise UsageError("give a model name, or weights in an inceptionkit file (which names its model)")
    if read_native_metadata(weights) is None:
        raise UsageError(f"{weights}: not an inceptionkit file, so the model name must be given")
    asked = {k: v for k, v in options.items() if v not in (None, False)}
    if asked:
        meta = read_native_meta(weights)  # (checked: its arch names a model)
        model = create_with_weights(meta.arch, weights, variant=variant or meta.variant, **options)
    else:
        model = load_native(weights)
    if variant is not None and model.spec.variant != variant:
        raise UsageError(f"{weights} holds variant {model.spec.variant!r}, not {variant!r}")
    return model
