"""Write src/inceptionkit/weights/refs/<lib>_<model>.json: the state-dict key order of every reference
implementation a published weight set names (``WeightSet.reference``), from the installed timm and
torchvision. Run after upgrading either library; tests/test_weights_refs.py checks the files.

    PYTHONPATH=src python tools/reference_orders.py
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch

from inceptionkit.registry import list_weights
from inceptionkit.weights import refs


def reference_state_keys(ref: str) -> list[str]:
    """The keys of the reference model's state dict, built on the meta device (no weights)."""
    lib, _, name = ref.partition(":")
    module = importlib.import_module(lib)
    with torch.device("meta"):
        if lib == "torchvision":
            model = getattr(module.models, name)(weights=None, aux_logits=True, init_weights=False)
        else:
            model = module.create_model(
                name, pretrained=False, **({"aux_logits": True} if name == "inception_v3" else {})
            )
    return list(model.state_dict())


def main() -> None:
    folder = Path(refs.__file__).parent
    for ref in sorted({ws.reference for ws in list_weights() if ws.reference}):
        path = folder / refs.file_name(ref)
        path.write_text(json.dumps(reference_state_keys(ref), indent=0) + "\n", encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
