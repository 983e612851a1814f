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
import torch
from safetensors.torch import save_file

from inceptionkit import create_model
from inceptionkit.preprocess import IMAGENET_MEAN, IMAGENET_STD
from inceptionkit.weights import get_weight_set

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

torch.set_num_threads(2)
TOL = 1e-4  # issue 4: max |delta| / max |ref| in float32


def rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).abs().max() / ref.abs().max())


def randomize_bn(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


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
    ref = randomize_bn(timm.create_model(timm_name, pretrained=False))
    x = torch.randn(batch, 3, 299, 299)
    with torch.no_grad():
        expected = ref(x)
    for suffix in suffixes:
        path = tmp_path / f"{timm_name}{suffix}"
        save(ref.state_dict(), path)
        with caplog.at_level(logging.INFO, logger="inceptionkit.weights"):
            model = create_model(arch, weights=path).eval()
        with torch.no_grad():
            err = rel(model(x), expected)
        print(f"timm {timm_name} {suffix} -> {arch} ({model.spec.variant}): {err:.2e}")
        assert err <= TOL
        assert f"variant {model.spec.variant} (chosen" in caplog.text


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_torchvision_state_dict_and_transform_input(name, tmp_path):
    """torchvision's weights with ``transform_input=True`` (how torchvision builds them for its
    published weights) fed ImageNet-normalised images equal our model fed the tag's recipe."""
    torch.manual_seed(0)
    build = getattr(torchvision.models, name)
    ref = randomize_bn(build(weights=None, init_weights=True, aux_logits=True, transform_input=True))
    size = 224 if name == "googlenet" else 299
    u = torch.rand(2, 3, size, size)  # images in [0, 1]
    with torch.no_grad():
        expected = ref(imagenet_normalize(u))
    recipe = get_weight_set(f"{name}.tv_imagenet").preprocess
    for aux in (True, False):
        path = tmp_path / f"{name}_{aux}.pth"
        torch.save(ref.state_dict() if aux else _without_aux(ref.state_dict()), path)
        model = create_model(name, weights=path).eval()
        with torch.no_grad():
            err = rel(model(recipe.normalize(u)), expected)
        print(f"torchvision {name} (aux in file: {aux}) -> {model.spec.variant}: {err:.2e}")
        assert err <= TOL and model.spec.variant == "torchvision"


def _without_aux(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "aux1.", "aux2."))}


@pytest.mark.parametrize("name,taps", [("googlenet", {"aux1": "inception4a", "aux2": "inception4d"}),
                                       ("inception_v3", {"aux": "Mixed_6e"})])
def test_torchvision_aux_heads(name, taps, tmp_path):
    """With ``aux_logits=True`` the auxiliary heads are torchvision's too (compared in eval mode on the
    feature map each one taps)."""
    torch.manual_seed(0)
    build = getattr(torchvision.models, name)
    ref = randomize_bn(build(weights=None, init_weights=True, aux_logits=True))
    tv_aux = {"aux1": ref.aux1, "aux2": ref.aux2} if name == "googlenet" else {"aux": ref.AuxLogits}
    seen = {}
    for ours, module in taps.items():
        getattr(ref, module).register_forward_hook(lambda m, i, o, ours=ours: seen.__setitem__(ours, o))
    size = 224 if name == "googlenet" else 299
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        ref(x)
    torch.save(ref.state_dict(), tmp_path / "ref.pth")
    model = create_model(name, weights=tmp_path / "ref.pth", aux_logits=True).eval()
    with torch.no_grad():
        inner = model.forward_intermediates(x, [a.after for a in model.spec.aux])
        for a in model.spec.aux:
            err = rel(model.aux[a.name](inner[a.after]), tv_aux[a.name](seen[a.name]))
            print(f"torchvision {name} {a.name}: {err:.2e}")
            assert err <= TOL
