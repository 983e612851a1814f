"""Issue 3: diagrams drawn from the spec (a block's branches, the network, a cost chart)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import inceptionkit as ik
from inceptionkit import viz
from inceptionkit.cli import main
from inceptionkit.spec import Cat, Residual
from inceptionkit.summary import format_shape
from inceptionkit.trace import output_shapes

PNG = b"\x89PNG\r\n\x1a\n"


def svg_texts(path) -> list[str]:
    """The text of every <text> element (the SVG must parse as XML)."""
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]


def leaves(op):
    """The ops of a block that are drawn as boxes."""
    if isinstance(op, Cat):
        return [leaf for b in op.branches for o in b for leaf in leaves(o)]
    if isinstance(op, Residual):
        return [leaf for o in (*op.shortcut, *op.body) for leaf in leaves(o)]
    return [op]


def test_googlenet_3a_as_figure_2b(tmp_path) -> None:
    spec = ik.get_spec("googlenet", "paper")
    texts = svg_texts(viz.save(viz.block_figure(spec, "inception_3a"), tmp_path / "3a.svg"))
    for label in (
        "1×1 conv, 64",
        "1×1 conv, 96",
        "3×3 conv, 128",
        "1×1 conv, 16",
        "5×5 conv, 32",
        "3×3 max pool",
        "1×1 conv, 32",
        "concat",
        "28×28×256",
    ):
        assert label in texts
    # each branch's MACs: 28*28 * (192*64), (192*96 + 96*128*9), (192*16 + 16*32*25), 192*32;
    # the 5x5 branch is the seed's bottleneck, 12,443,648
    for macs in ("9.6M MACs", "101.2M MACs", "12.4M MACs", "4.8M MACs"):
        assert macs in texts
    assert any("128.0M MACs" in t for t in texts)  # the block's total, in the title


@pytest.mark.parametrize("name", ik.list_models())
def test_first_block_of_every_model(tmp_path, name) -> None:
    spec = ik.get_spec(name)
    block, op = next((n, op) for n, op in spec.features if isinstance(op, (Cat, Residual)))
    texts = svg_texts(viz.save(viz.block_figure(spec, block), tmp_path / "block.svg"))
    assert all(viz.op_label(leaf) in texts for leaf in leaves(op))
    assert format_shape(output_shapes(spec, spec.default_size)[block]) in texts


@pytest.mark.parametrize("name", ik.list_models())
def test_network_as_a_chain_of_blocks(tmp_path, name) -> None:
    spec = ik.get_spec(name)
    texts = svg_texts(viz.save(viz.network_figure(spec), tmp_path / "net.svg"))
    rows = ik.summarize(spec, by="block").rows
    assert [r.name for r in rows] == [t for t in texts if t in {r.name for r in rows}]  # in order
    assert all(format_shape(r.output_shape) in texts for r in rows)


def test_cli_block_png_via_keras_alias(tmp_path, capsys) -> None:
    out = tmp_path / "mixed0.png"
    assert main(["draw", "inception_v3", "--variant", "keras", "--block", "mixed0", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG


def test_cli_network_and_chart(tmp_path) -> None:
    assert main(["draw", "googlenet", "--variant", "paper", "-o", str(tmp_path / "net.png")]) == 0
    assert main(["draw", "googlenet", "--chart", "-o", str(tmp_path / "chart.svg")]) == 0
    assert (tmp_path / "net.png").read_bytes()[:8] == PNG
    texts = svg_texts(tmp_path / "chart.svg")
    assert "MACs (millions)" in texts and "inception_3a" in texts


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--block", "inception_9z", "-o", "x.png"], "stages: conv1"),
        (["-o", "x.pdf"], ".png, .svg"),
    ],
)
def test_cli_errors(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "googlenet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_block_and_chart_exclude_each_other(capsys) -> None:
    assert main(["draw", "googlenet", "--block", "inception_3a", "--chart", "-o", "x.png"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
