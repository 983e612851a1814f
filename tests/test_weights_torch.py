"""Issue 4: torchvision and timm state dicts (.pth/.pt/.bin and .safetensors) load 1:1 and compute
what the reference computes.

References are built by torchvision and timm with random weights and randomized batch-norm
statistics, saved with ``torch.save`` (what torchvision and timm publish) and with
``safetensors.torch.save_file`` (what timm pushes to the Hugging Face hub). Tolerance as the issue
says: max |delta| / max |ref| <= 1e-4 in float32.
"""

from __future__ import annotations

import logging

import pytest
import timm
import torch
import torchvision
from helpers import randomize_batchnorm
from safetensors.torch import save_file

from inceptionkit import create_model
from inceptionkit.engines import relative_difference
from inceptionkit.preprocess import IMAGENET_MEAN, IMAGENET_STD
from inceptionkit.weights import get_weight_set

TOL = 1e-4  # issue 4: max |delta| / max |ref| in float32


def save(state: dict, path) -> None:
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)


def imagenet_normalize(u: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (u - mean) / std


# (reference builder, our arch, file suffixes, batch). Inception-ResNet-v2 is big: one image.
TIMM = {
    "inception_v3": ("inception_v3", (".pth", ".safetensors"), 2),
    "inception_v4": ("inception_v4", (".pt",), 1),
    "inception_resnet_v2": ("inception_resnet_v2", (".safetensors",), 1),
    "legacy_xception": ("xception", (".bin", ".safetensors"), 2),
}


@pytest.mark.parametrize("timm_name", list(TIMM))
def test_timm_state_dict_computes_what_timm_computes(timm_name, tmp_path, caplog):
    arch, suffixes, batch = TIMM[timm_name]
    torch.manual_seed(0)
    ref = randomize_batchnorm(timm.create_model(timm_name, pretrained=False)).eval()
    x = torch.randn(batch, 3, 299, 299)
    with torch.no_grad():
        expected = ref(x)
    for suffix in suffixes:
        path = tmp_path / f"{timm_name}{suffix}"
        save(ref.state_dict(), path)
        with caplog.at_level(logging.INFO, logger="inceptionkit.weights"):
            model = create_model(arch, weights=path).eval()
        with torch.no_grad():
            err = relative_difference(model(x), expected)
        print(f"timm {timm_name} {suffix} -> {arch} ({model.spec.variant}): {err:.2e}")
        assert err <= TOL
        assert f"variant {model.spec.variant} (chosen" in caplog.text


# torchvision module -> our auxiliary head, for the feature map each head taps
TV_AUX = {
    "googlenet": {"inception4a": "aux1", "inception4d": "aux2"},
    "inception_v3": {"Mixed_6e": "aux"},
}


@pytest.mark.parametrize("name", list(TV_AUX))
def test_torchvision_state_dict_with_aux_and_transform_input(name, tmp_path):
    """torchvision's model with ``transform_input=True`` (how torchvision builds it for its published
    weights) fed ImageNet-normalised images equals ours fed the tag's recipe: logits, and with
    ``aux_logits=True`` the auxiliary heads too (eval mode, on the feature map each one taps)."""
    torch.manual_seed(0)
    build = getattr(torchvision.models, name)
    ref = randomize_batchnorm(
        build(weights=None, init_weights=True, aux_logits=True, transform_input=True)
    ).eval()
    taps = {}
    for module, head in TV_AUX[name].items():
        getattr(ref, module).register_forward_hook(lambda m, i, o, head=head: taps.__setitem__(head, o))
    size = 224 if name == "googlenet" else 299
    u = torch.rand(2, 3, size, size)  # images in [0, 1]
    recipe = get_weight_set(f"{name}.tv_imagenet").preprocess
    torch.save(ref.state_dict(), tmp_path / "aux.pth")
    torch.save(_without_aux(ref.state_dict()), tmp_path / "noaux.pth")
    model = create_model(name, weights=tmp_path / "aux.pth", aux_logits=True).eval()
    with torch.no_grad():
        expected = ref(imagenet_normalize(u))
        x = recipe.normalize(u)
        inner = model.forward_intermediates(x, [a.after for a in model.spec.aux])
        errors = {"logits": relative_difference(model(x), expected)}
        for a in model.spec.aux:
            errors[a.name] = relative_difference(
                model.aux[a.name](inner[a.after]), getattr(ref, _tv_name(a.name))(taps[a.name])
            )
    print(
        f"torchvision {name} -> {model.spec.variant}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
    )
    assert max(errors.values()) <= TOL and model.spec.variant == "torchvision"
    plain = create_model(name, weights=tmp_path / "noaux.pth")  # a file without the heads: same backbone
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in plain.state_dict().items())


def _tv_name(aux: str) -> str:
    return "AuxLogits" if aux == "aux" else aux


def _without_aux(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "aux1.", "aux2."))}
