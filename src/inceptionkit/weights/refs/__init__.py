"""The tensor orders of the reference implementations (timm, torchvision), shipped as package data.

A safetensors file keeps no tensor order (it sorts names), and loading maps tensors by order. For
files named by timm or torchvision, the order is the one their model's ``state_dict()`` lists:
``<lib>_<model>.json`` here holds those keys, so loading needs neither library at run time.
``tools/reference_orders.py`` writes the files; ``tests/test_weights_refs.py`` checks them against
the installed timm and torchvision.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


def file_name(ref: str) -> str:
    """``timm:inception_v3`` -> ``timm_inception_v3.json``."""
    lib, _, model = ref.partition(":")
    return f"{lib}_{model}.json"


@cache
def reference_keys(ref: str) -> tuple[str, ...] | None:
    """The state-dict keys, in order, of a reference implementation ("timm:name"), or None if unknown."""
    res = resources.files(__package__).joinpath(file_name(ref))
    if not res.is_file():
        return None
    return tuple(json.loads(res.read_text(encoding="utf-8")))
