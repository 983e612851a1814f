"""Issue 2: every architecture, its exact parameter counts, forward passes and reference structure."""

from __future__ import annotations

import os
from collections import Counter

import pytest
import torch

import inceptionkit as ik
from inceptionkit.trace import output_shapes

ALL = [(n, v) for n in ik.list_models() for v in ik.list_variants(n)]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def on_meta(make, *args, **kwargs):
    """``make(*args, **kwargs)`` on PyTorch's ``meta`` device: the same modules, parameters and
    shapes, without allocating or randomly initialising them (the tests of structure and counts read
    only shapes; initialising the larger networks is most of the time of building them)."""
    with torch.device("meta"):
        return make(*args, **kwargs)


# sum(p.numel() for p in model.parameters()), 1000 classes unless said otherwise.
PARAMS = {
    # issue 2's table (from torchvision, timm and keras)
    ("googlenet", "torchvision", False): 6_624_904,
    ("googlenet", "torchvision", True): 13_004_888,
    ("inception_v3", "torchvision", False): 23_834_568,
    ("inception_v3", "torchvision", True): 27_161_264,
    ("inception_v3", "timm", False): 23_834_568,
    ("inception_v3", "keras", False): 23_817_352,
    ("inception_v4", "timm", False): 42_679_816,
    ("inception_resnet_v2", "timm", False): 55_843_464,
    ("inception_resnet_v2", "keras", False): 55_813_192,
    ("xception", "keras", False): 22_855_952,
    ("xception", "timm", False): 22_855_952,
    # what the papers' tables imply (our own arithmetic, checked against the specs in the archs/ files):
    # GoogLeNet Table 1 with biases, LRN, 5x5 branches: 6,998,552 (the table's own sum of weights
    # without biases and aux heads is about 6.8M)
    ("googlenet", "paper", False): 6_998_552,
    ("googlenet", "paper", True): 13_378_280,
    # BN-Inception, Figure 5's columns, BN with scale and shift, no conv bias
    ("bn_inception", "paper", False): 11_285_224,
    # Inception-ResNet-v1, Figures 14, 10, 7 (k=192, l=192, m=256, n=384), 11, 12, 13
    ("inception_resnet_v1", "paper", False): 22_756_328,
    ("inception_v4", "paper", False): 42_679_816,
}


@pytest.mark.parametrize(("name", "variant", "aux"), list(PARAMS))
def test_parameter_counts(name: str, variant: str, aux: bool) -> None:
    model = on_meta(ik.create_model, name, variant=variant, aux_logits=aux)
    assert n_params(model) == PARAMS[(name, variant, aux)]


def test_inception_small_matches_zhang_table_1() -> None:
    # Zhang et al. 2017, Table 1: "Inception 1,649,402" parameters for CIFAR-10
    assert n_params(ik.create_model("inception_small", num_classes=10)) == 1_649_402


@pytest.mark.parametrize(
    ("name", "bn_channels"),
    # keras' non-trainable counts are the BN moving mean + variance: 34,432 and 60,544 (seed),
    # 54,528 for Xception (issue 2)
    [("inception_v3", 34_432 // 2), ("inception_resnet_v2", 60_544 // 2), ("xception", 54_528 // 2)],
)
def test_keras_variants_hold_keras_totals(name: str, bn_channels: int) -> None:
    model = on_meta(ik.create_model, name, variant="keras")
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert stats == 2 * bn_channels
    total = {"inception_v3": 23_851_784, "inception_resnet_v2": 55_873_736, "xception": 22_910_480}[name]
    assert n_params(model) + stats == total


def test_every_model_listed() -> None:
    assert ik.list_models() == [
        "googlenet",
        "bn_inception",
        "inception_v3",
        "inception_v4",
        "inception_resnet_v1",
        "inception_resnet_v2",
        "xception",
        "inception_small",
    ]


@pytest.mark.parametrize(("name", "variant"), ALL)
def test_forward_at_default_and_minimum_size(name: str, variant: str) -> None:
    """The family's default variant runs at its full size and its minimum; the other variants (the
    same blocks with other widths or paddings) at their minimum size only. The head is checked against
    its definition: global average pooling of the last map, then the classifier's affine map."""
    model = ik.create_model(name, variant=variant, num_classes=7).eval()
    spec = model.spec
    sizes = (spec.default_size, model.min_size) if variant == ik.default_variant(name) else (model.min_size,)
    for size in sizes:
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            feats = model.forward_features(x)
            logits = model.forward_head(feats)
            pooled = model.forward_head(feats, pre_logits=True)
            whole = model(x)
        assert tuple(feats.shape[1:]) == output_shapes(spec, size)[spec.node_names[-1]]
        assert feats.shape[1] == model.num_features
        want_pooled = feats.mean((2, 3))  # every member pools its last map by its average
        torch.testing.assert_close(pooled, want_pooled, rtol=1e-5, atol=1e-6)
        fc = model.get_classifier()
        torch.testing.assert_close(logits, pooled @ fc.weight.T + fc.bias, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(whole, logits, rtol=0, atol=0)  # forward = head(features)


@pytest.mark.parametrize(("name", "variant"), ALL)
def test_below_minimum_size_is_refused_before_computing(name: str, variant: str) -> None:
    model = on_meta(ik.create_model, name, variant=variant)  # refused before any kernel would run
    size = model.min_size - 1
    if size < 1:
        pytest.skip("minimum is 1")
    with pytest.raises(ValueError, match=rf"{name}.*at least {model.min_size}x{model.min_size}"):
        model(torch.randn(1, 3, size, size, device="meta"))


def test_inception_v3_minimum_is_75() -> None:
    # torchvision documents min_size 75 for inception_v3; 74 must fail with the model's name
    model = ik.create_model("inception_v3")
    assert model.min_size == 75
    with pytest.raises(ValueError, match="inception_v3.*at least 75x75.*74x74"):
        model(torch.randn(1, 3, 74, 74))


def test_auxiliary_heads_set_the_minimum_only_in_training() -> None:
    """GoogLeNet (paper) takes 47 x 47 without its auxiliary heads and needs 79 x 79 with them; they
    run in training only, so an evaluating model with them takes what one without them takes."""
    plain = on_meta(ik.create_model, "googlenet", variant="paper")
    model = on_meta(ik.create_model, "googlenet", variant="paper", aux_logits=True)
    assert (plain.min_size, model.min_size) == (47, 79)
    x = torch.randn(2, 3, 60, 60, device="meta")
    assert model.eval()(x).shape == (2, 1000)
    with pytest.raises(ValueError, match=r"googlenet \(paper\) needs inputs of at least 79x79; got 60x60"):
        model.train()(x)


def test_wrong_channels_and_rank_are_clear_errors() -> None:
    model = ik.create_model("inception_small", num_classes=10)
    with pytest.raises(ValueError, match="3 input channels; got 1"):
        model(torch.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="4-D batch"):
        model(torch.randn(3, 28, 28))
    gray = ik.create_model("inception_small", num_classes=10, in_chans=1).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():  # each image's answer is its own (batch norm in eval mode): the batch of two
        torch.testing.assert_close(gray(x), torch.cat([gray(x[:1]), gray(x[1:])]), rtol=1e-5, atol=1e-6)


def test_num_classes_zero_returns_pooled_features() -> None:
    model = ik.create_model("inception_small", num_classes=0).eval()
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():  # the 336 channels of the last map, averaged over space
        torch.testing.assert_close(model(x), model.forward_features(x).mean((2, 3)), rtol=1e-5, atol=1e-6)
    assert model.num_features == 336


@pytest.mark.parametrize(
    ("name", "variant", "n_aux"),
    [("googlenet", "torchvision", 2), ("googlenet", "paper", 2), ("inception_v3", "torchvision", 1)],
)
def test_aux_heads_only_in_training(name: str, variant: str, n_aux: int) -> None:
    model = ik.create_model(name, variant=variant, aux_logits=True, num_classes=5)
    size = model.spec.default_size
    x = torch.randn(2, 3, size, size)
    model.train()
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 1 + n_aux
    assert all(o.shape == (2, 5) for o in out)
    model.eval()
    with torch.no_grad():  # in eval mode the logits alone: the head on the last map, no auxiliary output
        torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)), rtol=0, atol=0)


def test_aux_is_refused_where_the_paper_has_none() -> None:
    with pytest.raises(ValueError, match="no auxiliary"):
        ik.create_model("inception_resnet_v2", aux_logits=True)


def test_reset_classifier_and_named_stages() -> None:
    model = ik.create_model("inception_v3", variant="keras").eval()
    model.reset_classifier(3)
    assert model.get_classifier().out_features == 3
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():  # the new 3-class classifier on the pooled features
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
        fc = model.get_classifier()
        torch.testing.assert_close(model(x), pooled @ fc.weight.T + fc.bias, rtol=1e-5, atol=1e-6)
        maps = model.forward_intermediates(x, ["mixed_5b", "mixed5", "mixed_7c"])
    assert maps["mixed_5b"].shape[1] == 256
    assert maps["mixed5"].shape[1] == 768  # keras' mixed5 is mixed_6c
    assert maps["mixed_7c"].shape[1] == 2048
    with pytest.raises(KeyError, match="no stage 'mixed_9z'"):
        model.forward_intermediates(x, ["mixed_9z"])


def test_feature_info_matches_timm() -> None:
    import timm

    ref = {d["module"]: d for d in timm.create_model("inception_v3").feature_info}
    info = {d["module"]: d for d in ik.create_model("inception_v3").feature_info}
    # timm names the 5 stages it exposes; ours lists every node, with the same channels and strides
    for ours_name, timm_name in [
        ("conv_2b", "Conv2d_2b_3x3"),
        ("conv_4a", "Conv2d_4a_3x3"),
        ("mixed_5d", "Mixed_5d"),
        ("mixed_6e", "Mixed_6e"),
        ("mixed_7c", "Mixed_7c"),
    ]:
        assert (info[ours_name]["num_chs"], info[ours_name]["reduction"]) == (
            ref[timm_name]["num_chs"],
            ref[timm_name]["reduction"],
        )


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid names: googlenet, bn_inception"):
        ik.create_model("inception_v9")
    with pytest.raises(ValueError, match="valid variants: torchvision, keras, timm"):
        ik.create_model("inception_v3", variant="caffe")


def test_googlenet_table_1_block_widths() -> None:
    # GoogLeNet Table 1 output sizes at 224x224
    shapes = output_shapes(ik.get_spec("googlenet", "paper"), 224)
    assert shapes["inception_3a"] == (256, 28, 28)
    assert shapes["inception_3b"] == (480, 28, 28)
    assert shapes["inception_4a"] == (512, 14, 14)
    assert shapes["inception_4e"] == (832, 14, 14)
    assert shapes["inception_5b"] == (1024, 7, 7)


# -- structure against the reference implementations -------------------------------------------


def shapes_of(state: dict) -> list[tuple[int, ...]]:
    return [tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def ours(name: str, variant: str, aux: bool = False) -> list[tuple[int, ...]]:
    return shapes_of(on_meta(ik.create_model, name, variant=variant, aux_logits=aux).state_dict())


@pytest.mark.parametrize("aux", [False, True])
def test_torchvision_structure(aux: bool) -> None:
    import torchvision

    tv = torchvision.models
    assert ours("googlenet", "torchvision", aux) == shapes_of(
        tv.googlenet(init_weights=False, aux_logits=aux).state_dict()
    )
    # torchvision registers inception_v3's AuxLogits between Mixed_6e and Mixed_7a, we register
    # auxiliary heads after the features (as torchvision's googlenet does): compare each part in order
    ref = tv.inception_v3(init_weights=False, aux_logits=aux).state_dict()
    mine = on_meta(ik.create_model, "inception_v3", variant="torchvision", aux_logits=aux).state_dict()
    assert shapes_of({k: v for k, v in mine.items() if not k.startswith("aux.")}) == shapes_of(
        {k: v for k, v in ref.items() if not k.startswith("AuxLogits.")}
    )
    assert shapes_of({k: v for k, v in mine.items() if k.startswith("aux.")}) == shapes_of(
        {k: v for k, v in ref.items() if k.startswith("AuxLogits.")}
    )
    assert any(k.startswith("aux.") for k in mine) == aux


@pytest.mark.parametrize(
    ("timm_name", "name"),
    [
        ("inception_v3", "inception_v3"),
        ("inception_v4", "inception_v4"),
        ("inception_resnet_v2", "inception_resnet_v2"),
        ("legacy_xception", "xception"),
    ],
)
def test_timm_structure(timm_name: str, name: str) -> None:
    import timm

    ref = on_meta(timm.create_model, timm_name, pretrained=False)
    assert ours(name, "timm") == shapes_of(ref.state_dict())
    assert on_meta(ik.create_model, name, variant="timm").num_features == ref.num_features


def keras_shapes(model) -> list[tuple[int, ...]]:
    """Keras weights as PyTorch shapes (kernels HWIO -> OIHW, depthwise -> (C, 1, kh, kw), dense transposed)."""
    out = []
    for w in model.weights:
        s = tuple(w.shape)
        if len(s) == 4:
            s = (s[2], 1, s[0], s[1]) if "depthwise" in w.path else (s[3], s[2], s[0], s[1])
        elif len(s) == 2:
            s = (s[1], s[0])
        out.append(s)
    return out


def in_keras_order(model: torch.nn.Module) -> list[tuple[int, ...]]:
    """Our tensors, layer by layer in keras' ``model.layers`` order, each layer's as keras lists them."""
    from inceptionkit.weights.keras import keras_weight_layers

    attrs = {
        "conv": ("weight", "bias"),
        "sepconv": ("conv1.weight", "pointwise.weight"),
        "dense": ("weight", "bias"),
        "bn": ("weight", "bias", "running_mean", "running_var"),
    }
    modules = dict(model.named_modules())
    out = []
    for kind, path in keras_weight_layers(model.spec):
        state = modules[path].state_dict()
        out += [tuple(state[a].shape) for a in attrs[kind] if a in state]
    return out


@pytest.mark.parametrize(
    ("app", "name"),
    [("InceptionV3", "inception_v3"), ("InceptionResNetV2", "inception_resnet_v2"), ("Xception", "xception")],
)
def test_keras_structure(app: str, name: str) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    ref = getattr(keras.applications, app)(weights=None)
    mine = on_meta(ik.create_model, name, variant="keras")
    # keras lists layers depth-sorted, not in creation order; weights/keras.py derives that order
    assert in_keras_order(mine) == keras_shapes(ref)
    assert Counter(ours(name, "keras")) == Counter(keras_shapes(ref))
