"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def weights_cache(tmp_path, monkeypatch):
    """An empty download cache ($INCEPTIONKIT_CACHE) and a registry of published weight sets that is
    restored afterwards, so a test may point tags at local files (file:// or http://127.0.0.1)."""
    from inceptionkit.weights.hub import WEIGHT_SETS

    cache = tmp_path / "cache"
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(cache))
    saved = dict(WEIGHT_SETS)
    yield cache
    WEIGHT_SETS.clear()
    WEIGHT_SETS.update(saved)
