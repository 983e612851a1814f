"""The peers: what a user would otherwise pick, at its default settings, on the same model.

timm's eager model (when timm is installed and has the architecture), and ONNX Runtime and OpenVINO
(when installed) running the same exported file with their default settings.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from ..engines import Engine
from ..engines.hardware import torch_fp32_path
from ..engines.onnx_engines import OpenVinoRunner, openvino_installed
from ..engines.runtime import OnnxRunner
from ..model import InceptionNet

TIMM_NAMES = {  # inceptionkit architecture -> timm's model of the same network
    "inception_v3": "inception_v3",
    "inception_v4": "inception_v4",
    "inception_resnet_v2": "inception_resnet_v2",
    "xception": "legacy_xception",
}


def timm_peer(model: InceptionNet) -> Engine | None:
    """timm's model of the same architecture (random weights: the speed does not depend on them)."""
    name = TIMM_NAMES.get(model.spec.arch)
    if name is None or importlib.util.find_spec("timm") is None:
        return None
    import timm

    net = timm.create_model(
        name, pretrained=False, num_classes=model.num_classes, in_chans=model.in_chans
    ).eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    return Engine("timm", "fp32", torch_fp32_path(), run, peer=True)


def onnx_peers(path: Path) -> list[Engine]:
    """ONNX Runtime and OpenVINO on ``path`` with their default settings (those installed)."""
    peers = [
        Engine(
            "onnxruntime-default",
            "fp32",
            "ONNX Runtime CPU, default settings",
            OnnxRunner(path, tuned=False),
            peer=True,
        )
    ]
    if openvino_installed():
        runner = OpenVinoRunner(path, {})
        precision = runner.precision if runner.precision in ("fp32", "bf16") else "fp32"
        peers.append(
            Engine(
                "openvino-default",
                precision,
                f"OpenVINO CPU, default settings (inference precision {runner.precision})",
                runner,
                peer=True,
            )
        )
    return peers
