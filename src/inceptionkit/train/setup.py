"""The model a run trains and how it wants its images: fresh, from pretrained weights (a new head for
the classes found, the first convolution adapted to other input channels as timm does), or frozen."""

from __future__ import annotations

import statistics
from dataclasses import replace

import numpy as np
from torch import nn

from ..data import Data
from ..errors import ConfigError, DownloadError, WeightsError
from ..factory import create_model
from ..model import InceptionNet
from ..preprocess import INCEPTION_MEAN, INCEPTION_STD, Preprocess
from ..weights.channels import adapt_input_conv
from .config import TrainConfig

GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _channels(values: tuple[float, ...], n: int) -> tuple[float, ...]:
    if len(values) == n:
        return values
    if n == 1:
        return (sum(values) / len(values),)
    return tuple(values[i % len(values)] for i in range(n))


def adapt_in_chans(net: InceptionNet, in_chans: int, drop_rate: float | None) -> InceptionNet:
    """``net`` (with its ``weight_meta``) taking ``in_chans`` input channels."""
    first = next(name for name, m in net.named_modules() if isinstance(m, nn.Conv2d))
    state = net.state_dict()
    state[f"{first}.weight"] = adapt_input_conv(in_chans, state[f"{first}.weight"])
    out = create_model(
        net.spec.arch,
        variant=net.spec.variant,
        num_classes=net.num_classes,
        in_chans=in_chans,
        aux_logits=net.aux_logits,
        drop_rate=drop_rate,
    )
    out.load_state_dict(state, strict=True)
    meta = net.weight_meta
    pre = meta.preprocess
    pre = replace(
        pre, channels=in_chans, mean=_channels(pre.mean, in_chans), std=_channels(pre.std, in_chans)
    )
    out.weight_meta = replace(meta, preprocess=pre)
    return out


def build_model(cfg: TrainConfig, num_classes: int) -> InceptionNet:
    """The model to train: fresh, or from ``cfg.weights`` with a classifier for ``num_classes``."""
    kwargs = dict(variant=cfg.variant, num_classes=num_classes, aux_logits=cfg.aux, drop_rate=cfg.drop_rate)
    if cfg.weights is None:
        chans = cfg.in_chans or (1 if cfg.data is None else 3)
        return create_model(cfg.model, in_chans=chans, **kwargs)
    try:
        # the loader keeps the backbone and gives a fresh classifier when the class count differs
        net = create_model(cfg.model, weights=cfg.weights, **kwargs)
    except DownloadError:
        raise  # the network failed, not the settings (exit 1)
    except WeightsError as e:
        raise ConfigError(str(e), field=e.field) from None
    if cfg.in_chans is not None and cfg.in_chans != net.in_chans:
        net = adapt_in_chans(net, cfg.in_chans, cfg.drop_rate)
    return net


def _has_colour(im) -> bool:
    """Whether an image has colour: not a grey mode, and its channels differ somewhere (a grey file
    decoded as RGB has three equal channels)."""
    if im.mode in GREY_MODES:
        return False
    a = np.asarray(im.convert("RGB"))
    return bool((a[..., 0] != a[..., 1]).any() or (a[..., 1] != a[..., 2]).any())


def _looks(data: Data, n: int = 8) -> tuple[bool, int, str]:
    """(any colour image, median shorter side, an example) over a fixed few training images."""
    picks = sorted({round(i * (len(data.train) - 1) / max(n - 1, 1)) for i in range(n)})
    colour, sides, example = False, [], ""
    for i in picks:
        im = data.train.load(i)
        sides.append(min(im.size))
        if _has_colour(im):
            colour, example = True, f"{im.size[0]}x{im.size[1]} {im.mode}"
        example = example or f"{im.size[0]}x{im.size[1]} {im.mode}"
    return colour, int(statistics.median(sides)), example


def check_input_fits(cfg: TrainConfig, net: InceptionNet, data: Data) -> str | None:
    """Fine-tuning on a folder: ConfigError when weights made for grey images meet colour images and
    ``--in-chans`` was not chosen; a note (returned) when the images are much larger than the input
    size inherited from the weights."""
    if cfg.weights is None or cfg.data is None or len(data.train) == 0:
        return None
    colour, side, example = _looks(data)
    size = net.weight_meta.preprocess.size
    if colour and net.in_chans == 1 and cfg.in_chans is None:
        raise ConfigError(
            f"{cfg.weights} was trained on {size}x{size} grey images (1 channel), but {cfg.data} holds "
            f"colour images (e.g. {example}): pass --in-chans 3 to adapt its first convolution to colour "
            f"(as timm does) or --in-chans 1 to train on grey, and --img-size N to choose the input size "
            f"(default {size}, the weights')"
        )
    if cfg.img_size is None and side >= 4 * size:
        return (
            f"note: training at {size}x{size}, the input size of {cfg.weights}; the images of {cfg.data} "
            f"are larger (shorter side about {side} px): pass --img-size N to choose"
        )
    return None


def preprocess_for(cfg: TrainConfig, model: InceptionNet) -> Preprocess:
    """How the trained model wants its images (evaluation and prediction): the weights' own recipe
    at ``cfg.img_size`` when fine-tuning, otherwise Inception scaling to [-1, 1]."""
    meta = model.weight_meta
    if meta is not None:
        return replace(meta.preprocess, size=cfg.img_size, channels=model.in_chans)
    c = model.in_chans
    crop = None if cfg.data is None else 0.875  # the digits are whole 8x8 images, not photographs
    return Preprocess(cfg.img_size, crop, "bilinear", INCEPTION_MEAN[:1] * c, INCEPTION_STD[:1] * c, c)


def freeze_backbone(net: InceptionNet) -> None:
    for name, p in net.named_parameters():
        p.requires_grad = name.startswith("fc.")


def train_mode(net: InceptionNet, frozen: bool) -> None:
    net.train()
    if frozen:
        net.features.eval()  # batch norm statistics stay those of the pretrained backbone


def model_from_metadata(md: dict[str, str], drop_rate: float | None) -> InceptionNet:
    """The model a checkpoint's weights fit (resuming), its weights left random: a thin wrapper over
    :func:`~inceptionkit.factory.create_model` (the weights are loaded with the optimiser's state)."""
    return create_model(
        md["arch"],
        variant=md["variant"],
        num_classes=int(md["num_classes"]),
        in_chans=int(md["in_chans"]),
        aux_logits=md["aux_logits"] == "true",
        drop_rate=drop_rate,
    )
