"""Issue 3: analytic costs. The seed's bottleneck arithmetic, ``inceptionkit cost conv``, and every
model's analytic MACs against the count torch's FlopCounterMode measures on a forward pass."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import inceptionkit as ik
import inceptionkit.spec
from inceptionkit.cli import main
from inceptionkit.trace import InputTooSmall

ALL = [(n, v) for n in ik.list_models() for v in ik.list_variants(n)]

# The seed: 28x28x192 through 32 5x5 filters, directly or behind a 1x1 reduction to 16 channels.
SEED = dict(input_hwc=(28, 28, 192), filters=32, kernel=5)
DIRECT, STAGES, TOTAL = 120_422_400, [2_408_448, 10_035_200], 12_443_648


def test_seed_direct_convolution() -> None:
    c = ik.conv_cost(**SEED)
    assert c.macs == DIRECT == 28 * 28 * 32 * 192 * 5 * 5
    assert c.stages[-1].output_hwc == (28, 28, 32)


def test_seed_bottleneck() -> None:
    c = ik.conv_cost(**SEED, reduce=16)
    assert [s.macs for s in c.stages] == STAGES
    assert [s.output_hwc for s in c.stages] == [(28, 28, 16), (28, 28, 32)]
    assert (c.macs, c.direct_macs) == (TOTAL, DIRECT)
    assert f"{c.ratio:.2f}" == "9.68"


@pytest.mark.parametrize(
    "kernel, stride, padding, groups, out_hw",
    [
        (3, 2, "valid", 1, (13, 13)),  # (28 - 3) // 2 + 1
        (3, 2, "same", 1, (14, 14)),  # ceil(28 / 2)
        (3, 1, 0, 1, (26, 26)),
        (3, 1, 1, 4, (28, 28)),
        ((1, 7), 1, "same", 1, (28, 28)),
        ((1, 7), (2, 1), "valid", 2, (14, 22)),
    ],
)
def test_stride_padding_groups(kernel, stride, padding, groups, out_hw) -> None:
    c = ik.conv_cost((28, 28, 192), 32, kernel, stride=stride, padding=padding, groups=groups)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    oh, ow = out_hw
    assert c.stages[-1].output_hwc == (oh, ow, 32)
    assert c.macs == oh * ow * 32 * (192 // groups) * kh * kw  # the seed's formula


def test_bad_convolutions() -> None:
    with pytest.raises(ValueError, match="groups=5"):
        ik.conv_cost((28, 28, 192), 32, 3, groups=5)
    with pytest.raises(InputTooSmall, match="conv"):
        ik.conv_cost((4, 4, 192), 32, 5, padding="valid")
    with pytest.raises(ValueError, match="positive"):
        ik.conv_cost((28, 28, 0), 32, 3)


# ---- the command ---------------------------------------------------------------------------------

CONV = ["cost", "conv", "--input", "28x28x192", "--filters", "32", "--kernel", "5"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_direct(capsys) -> None:
    rc, out, _ = run(capsys, *CONV)
    assert rc == 0 and "120,422,400" in out


def test_cli_bottleneck(capsys) -> None:
    rc, out, _ = run(capsys, *CONV, "--reduce", "16")
    assert rc == 0
    for n in (*STAGES, TOTAL, DIRECT):
        assert f"{n:,}" in out
    assert "9.68× fewer" in out


def test_cli_json(capsys) -> None:
    rc, out, _ = run(capsys, *CONV, "--reduce", "16", "--format", "json")
    d = json.loads(out)
    assert rc == 0
    assert d["direct_macs"] == DIRECT and d["macs"] == TOTAL
    assert [s["macs"] for s in d["stages"]] == STAGES
    assert round(d["ratio"], 2) == 9.68
    assert d["input"] == [28, 28, 192] and d["output"] == [28, 28, 32]


def test_cli_stride_padding_groups(capsys) -> None:
    rc, out, _ = run(
        capsys,
        "cost",
        "conv",
        "--input",
        "28x28x192",
        "--filters",
        "32",
        "--kernel",
        "1x7",
        "--stride",
        "2",
        "--padding",
        "valid",
        "--groups",
        "4",
        "--format",
        "json",
    )
    d = json.loads(out)
    assert rc == 0 and d["output"] == [14, 11, 32]
    assert d["macs"] == 14 * 11 * 32 * (192 // 4) * 7


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--input", "28x28"),
        ("--input", "0x28x192"),
        ("--input", "axbxc"),
        ("--input", "28x28x192x1"),
        ("--kernel", "0"),
        ("--kernel", "3x"),
        ("--padding", "full"),
        ("--groups", "5"),
    ],
)
def test_cli_bad_arguments_are_one_line(capsys, flag, value) -> None:
    argv = [*CONV]
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert value in err


@pytest.mark.subprocess
def test_cli_bad_input_from_the_shell() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "inceptionkit", *CONV[:3], "28x28", *CONV[4:]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "inceptionkit cost: error: --input HxWxC takes positive integers, got '28x28'"
    ]


# ---- every model: analytic MACs and parameters against the module ---------------------------------


def measured_flops(model: torch.nn.Module, size: tuple[int, int], device: str) -> int:
    x = torch.randn(1, model.in_chans, *size, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("name, variant", ALL)
def test_analytic_costs_match_the_module(name, variant) -> None:
    """FlopCounterMode counts from the shapes of the aten calls the forward makes, so the forward runs
    on the meta device (the module's own code, no arithmetic); the CPU test below shows it counts the
    same. Parameters: the spec's learned parameters are the module's nn.Parameters, and its total
    adds batch norm's moving statistics (keras' non-trainable)."""
    s = ik.summarize(name, variant)
    with torch.device("meta"):
        model = ik.create_model(name, variant=variant)
    assert measured_flops(model, s.input_size, "meta") == 2 * s.macs
    assert s.parameters == sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert s.total_params == s.parameters + stats
    assert s.trainable_params == s.parameters


def fitting_size(spec: ik.spec.NetSpec, start: int) -> int:
    """The first size from ``start`` the network takes. BN-Inception's stride-2 blocks concatenate a
    ceil-mode pool with floor-mode convolutions, so (as in Caffe) only some sizes fit: 8 of every 32."""
    for size in range(start, spec.default_size + 1):
        try:
            ik.summarize(spec, input_size=size)
            return size
        except InputTooSmall:
            continue
    raise AssertionError(f"no size from {start} to {spec.default_size} fits {spec.arch}")


@pytest.mark.parametrize("name, variant", ALL)
def test_analytic_macs_match_a_real_forward(name, variant) -> None:
    """A real CPU forward at about half the default size, odd where the network takes it, so that
    "same" and ceil-mode rounding are exercised away from the default (and the test stays fast)."""
    spec = ik.get_spec(name, variant)
    size = fitting_size(spec, spec.default_size // 2 | 1)
    model = ik.create_model(name, variant=variant)
    assert measured_flops(model, (size, size), "cpu") == 2 * ik.summarize(spec, input_size=size).macs


@pytest.mark.parametrize(
    "name, variant, size, gmacs",
    [  # the reference totals
        ("inception_v3", "torchvision", 299, 5.713),
        ("inception_v3", "keras", 299, 5.713),
        ("inception_v4", None, 299, 12.254),
        ("inception_resnet_v2", None, 299, 13.156),
        ("xception", None, 299, 8.357),
        ("googlenet", "torchvision", 224, 1.498),
    ],
)
def test_reference_totals(name, variant, size, gmacs) -> None:
    assert round(ik.summarize(name, variant, size).macs / 1e9, 3) == gmacs
