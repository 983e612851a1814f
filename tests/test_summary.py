"""Issue 3: ``summary``, keras' model.summary() numbers and the GoogLeNet paper's Table 1, from the spec."""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from rich.console import Console

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.summary import format_shape
from inceptionkit.trace import InputTooSmall, output_shapes, trace

# The seed's model.summary() figures (layers, total, trainable, non-trainable) and keras' Xception.
KERAS = {
    "inception_v3": (313, 23_851_784, 23_817_352, 34_432),
    "inception_resnet_v2": (782, 55_873_736, 55_813_192, 60_544),
    "xception": (134, 22_910_480, 22_855_952, 54_528),
}
KERAS_APPS = {
    "inception_v3": "InceptionV3",
    "inception_resnet_v2": "InceptionResNetV2",
    "xception": "Xception",
}


@pytest.mark.parametrize("name", KERAS)
def test_keras_numbers(name) -> None:
    s = ik.summarize(name, "keras")
    assert (s.layers, s.total_params, s.trainable_params, s.non_trainable_params) == KERAS[name]
    assert s.parameters == s.trainable_params  # nothing frozen


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported
    import keras

    return keras


@pytest.mark.parametrize("name", KERAS)
def test_keras_itself_agrees(keras, name) -> None:
    model = getattr(keras.applications, KERAS_APPS[name])(weights=None)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    s = ik.summarize(name, "keras")
    assert (len(model.layers), model.count_params(), trainable) == (
        s.layers,
        s.total_params,
        s.trainable_params,
    )


def test_frozen_parameters_are_non_trainable() -> None:
    model = ik.create_model("inception_small", num_classes=10)
    before = ik.summarize(model)
    assert before.parameters == before.trainable_params == 1_649_402  # Zhang et al. 2017, Table 1
    for p in model.features.parameters():
        p.requires_grad_(False)
    after = ik.summarize(model)
    assert after.trainable_params == 336 * 10 + 10  # only the classifier is left to train
    assert after.parameters == before.parameters
    assert after.total_params == before.total_params
    assert after.non_trainable_params == before.non_trainable_params + 1_649_402 - 3370


# ---- by block: GoogLeNet's Table 1 --------------------------------------------------------------

# Table 1 of Szegedy et al. 2014: output size, params (K), ops (M) of the inception modules.
TABLE1 = {
    "inception_3a": ((28, 28, 256), 159, 128),
    "inception_3b": ((28, 28, 480), 380, 304),
    "inception_4a": ((14, 14, 512), 364, 73),
    "inception_4b": ((14, 14, 512), 437, 88),
    "inception_4c": ((14, 14, 512), 463, 100),
    "inception_4d": ((14, 14, 528), 580, 119),
    "inception_4e": ((14, 14, 832), 840, 170),
    "inception_5a": ((7, 7, 832), 1072, 54),
    "inception_5b": ((7, 7, 1024), 1388, 71),
}


@pytest.fixture(scope="module")
def googlenet_blocks() -> dict:
    s = ik.summarize("googlenet", "paper", 224, by="block")
    return {r.name: r for r in s.rows}


def test_googlenet_3a_exactly(googlenet_blocks) -> None:
    r = googlenet_blocks["inception_3a"]
    assert format_shape(r.output_shape) == "28×28×256"
    assert r.weights == 163_328  # the paper's 159K (of 1024)
    assert r.macs == 128_049_152  # the paper's 128M


# Where Table 1 disagrees with its own filter columns (which the spec follows, as does inception_3a
# exactly): 4c's weights come to 497.5K (the paper: 463K); 5a's to 1018K and 51.1M MACs (1072K, 54M).
PAPER_SLIPS = {"inception_4c", "inception_5a"}


@pytest.mark.parametrize("block", TABLE1)
def test_googlenet_table1(googlenet_blocks, block) -> None:
    """Table 1's params column is kernel weights in K = 1024, rounded loosely (3b: 379.0K for 380K,
    4d: 590.5K for 580K, 5b: 1409K for 1388K), so weights must agree within 2%. Its ops column is
    MACs in millions, truncated (4a: 73.6M for 73M), so within 1M. Output sizes are exact."""
    shape, params_k, ops_m = TABLE1[block]
    r = googlenet_blocks[block]
    assert format_shape(r.output_shape) == "×".join(map(str, shape))
    if block in PAPER_SLIPS:
        return
    assert abs(r.weights / 1024 - params_k) <= 0.02 * params_k
    assert abs(r.macs / 1e6 - ops_m) < 1


def test_blocks_add_up_to_the_layers() -> None:
    spec = ik.get_spec("inception_v3", "keras")
    layers, blocks = ik.summarize(spec), ik.summarize(spec, by="block")
    for key in ("layers", "total_params", "trainable_params", "macs"):
        assert getattr(layers, key) == getattr(blocks, key)
    assert sum(r.layers for r in blocks.rows) == layers.layers
    assert sum(r.macs for r in blocks.rows) == sum(r.macs for r in layers.rows)
    shapes = output_shapes(spec, 299)
    assert all(r.output_shape == shapes[r.name] for r in blocks.rows if r.name != "head")
    assert [r.name for r in blocks.rows] == ["input", *spec.node_names, "head"]


# ---- input too small ------------------------------------------------------------------------------


def test_input_too_small_names_the_layer() -> None:
    spec = ik.get_spec("inception_v3")
    with pytest.raises(InputTooSmall) as e:
        ik.summarize(spec, input_size=74)
    layer = re.search(r"at layer (\S+)", str(e.value)).group(1)
    assert layer in {r.name for r in trace(spec, 75)}
    assert "75×75" in str(e.value)  # keras: "should be no smaller than 75"


def test_cli_input_too_small(capsys) -> None:
    assert main(["summary", "inception_v3", "--input-size", "60"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "at layer" in err and "75×75" in err


@pytest.mark.parametrize("size", ["0", "-5"])
def test_cli_size_below_one_is_a_usage_error(capsys, size) -> None:
    assert main(["summary", "inception_v3", "--input-size", size]) == 2
    assert "--input-size: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, names",
    [
        (["summary", "inception_v9"], ik.list_models()),
        (["summary", "inception_v3", "--variant", "tf"], ik.list_variants("inception_v3")),
    ],
)
def test_cli_unknown_names_list_the_valid_ones(capsys, argv, names) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in names) and "Traceback" not in err


# ---- the command ----------------------------------------------------------------------------------


def test_cli_json(capsys) -> None:
    assert main(["summary", "inception_resnet_v2", "--variant", "keras", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["model"], d["variant"], d["input_size"]) == ("inception_resnet_v2", "keras", 299)
    assert (d["layers"], d["total_params"], d["trainable_params"], d["non_trainable_params"]) == KERAS[
        "inception_resnet_v2"
    ]
    assert d["parameters"] == d["trainable_params"]
    assert len(d["rows"]) == d["layers"]
    assert {"name", "type", "output_shape", "params", "macs"} <= set(d["rows"][0])
    assert d["macs"] == sum(r["macs"] for r in d["rows"])
    assert round(d["macs"] / 1e9, 3) == 13.156


def test_cli_json_by_block(capsys) -> None:
    assert main(["summary", "googlenet", "--variant", "paper", "--by", "block", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["inception_3a"]["output_shape"] == [28, 28, 256]  # shapes are H, W, C in every output
    assert (rows["inception_3a"]["weights"], rows["inception_3a"]["macs"]) == (163_328, 128_049_152)


@pytest.mark.parametrize("by", ["layer", "block"])
def test_table_is_readable_at_100_columns(capsys, monkeypatch, by) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["summary", "inception_v3", "--variant", "keras", "--by", by]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    for total in (
        "Layers: 313",
        "Total params: 23,851,784",
        "Trainable params: 23,817,352",
        "Non-trainable params: 34,432",
        "MACs: 5,713,216,096 (5.713 G)",
    ):
        assert total in lines
    s = ik.summarize("inception_v3", "keras", by=by)
    for r in s.rows:  # every row's name, shape and numbers whole, on one line
        assert any(
            r.name in line
            and format_shape(r.output_shape) in line
            and f"{r.params:,}" in line
            and f"{r.macs:,}" in line
            for line in lines
        ), r.name


def test_summary_renders_on_a_console() -> None:
    console = Console(width=100, record=True, force_terminal=False)
    console.print(ik.summarize("xception", "keras"))
    text = console.export_text()
    assert "Total params: 22,910,480" in text and max(map(len, text.splitlines())) <= 100
