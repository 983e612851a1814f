"""Issue 11 item 5: the reference tensor orders that loading needs are package data, equal to what the
installed timm and torchvision list, and loading a timm-named safetensors file needs no timm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

import pytest
import torch
from helpers import randomize_batchnorm
from safetensors.torch import save_file

from inceptionkit.engines import relative_difference
from inceptionkit.registry import list_weights
from inceptionkit.weights import refs

REFERENCES = sorted({ws.reference for ws in list_weights() if ws.reference})
TOOLS = os.path.join(os.path.dirname(__file__), "..", "tools")


def test_every_reference_of_a_weight_set_is_shipped():
    shipped = {
        p.name for p in resources.files("inceptionkit.weights.refs").iterdir() if p.name.endswith(".json")
    }
    assert {refs.file_name(r) for r in REFERENCES} == shipped
    assert len(REFERENCES) == 6  # timm: inception_v3, inception_v4, inception_resnet_v2, legacy_xception;
    # torchvision: googlenet, inception_v3


@pytest.mark.parametrize("ref", REFERENCES)
def test_shipped_order_is_the_reference_libraries_order(ref):
    sys.path.insert(0, TOOLS)
    try:
        from reference_orders import reference_state_keys  # builds the real timm/torchvision model
    finally:
        sys.path.remove(TOOLS)
    shipped = json.loads(
        resources.files("inceptionkit.weights.refs").joinpath(refs.file_name(ref)).read_text()
    )
    assert shipped == reference_state_keys(ref)


LOAD_WITHOUT_TIMM = """
import sys
sys.modules["timm"] = None  # `import timm` raises ImportError: as after a plain pip install
import torch, inceptionkit as ik
model = ik.create_model("xception", weights=sys.argv[1]).eval()
assert "timm" not in sys.modules or sys.modules["timm"] is None
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[2])), sys.argv[3])
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_timm_safetensors_loads_with_timm_unimportable(tmp_path):
    import timm

    torch.manual_seed(0)
    ref = randomize_batchnorm(timm.create_model("legacy_xception", pretrained=False)).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = ref(x)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    torch.save(x, tmp_path / "x.pt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_TIMM, str(path), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        check=True,
        env=env,
        timeout=300,
    )
    assert relative_difference(torch.load(tmp_path / "y.pt"), expected) <= 1e-4  # issue 4's tolerance
