"""Downloads and the cache of published weight sets (declared in ``archs/``, listed by the registry).

Downloads go to the cache folder: ``$INCEPTIONKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/inceptionkit``,
else ``~/.cache/inceptionkit``; one sub-folder per tag. A file is written to a temporary name, its
checksum verified, then renamed: the cache never holds a partial or unverified file. A cached file is
checked again (checksum, or for an unchecked safetensors file its completeness) before it is reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DownloadError
from ..fileio import atomic_write
from ..registry import WEIGHT_SETS, default_weight_set, get_weight_set, list_weights, register_weight_set
from ..weight_sets import WeightSet
from .formats import safetensors_complete

log = logging.getLogger("inceptionkit.weights")

# re-exported: the registry holds the weight sets; this module downloads them
__all__ = [
    "WEIGHT_SETS",
    "WeightSet",
    "cache_dir",
    "cached_path",
    "default_weight_set",
    "download",
    "get_weight_set",
    "list_weights",
    "register_weight_set",
]


def cache_dir() -> Path:
    """Where downloaded weights live (see the module docstring)."""
    if os.environ.get("INCEPTIONKIT_CACHE"):
        return Path(os.environ["INCEPTIONKIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inceptionkit"


def cached_path(ws: WeightSet) -> Path:
    return cache_dir() / ws.tag / ws.file_name


def _copy_checked(ws: WeightSet, tmp: str) -> None:
    """Download ``ws`` into ``tmp`` (this call's own temporary file) and verify it."""
    try:
        with urllib.request.urlopen(ws.url, timeout=60) as response, open(tmp, "wb") as out:
            declared = response.headers.get("Content-Length")
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"{ws.tag}: cannot download {ws.url} ({reason})") from None
    got = os.path.getsize(tmp)
    if declared is not None and declared.isdigit() and int(declared) != got:
        raise DownloadError(
            f"{ws.tag}: download of {ws.url} cut short ({got} of {declared} bytes); nothing was cached"
        )
    problem = _problem(ws, tmp)
    if problem:
        raise DownloadError(f"{ws.tag}: {problem} for {ws.url}; nothing was cached")


def _problem(ws: WeightSet, path: str | Path) -> str | None:
    """Why the file at ``path`` is not ``ws``'s (checksum mismatch, truncated), or None."""
    if ws.checksum is None:  # nothing published: at least a safetensors file must be whole
        if ws.format == "safetensors" and not safetensors_complete(path):
            return "truncated or corrupt safetensors file"
        return None
    algo, _, expected = ws.checksum.partition(":")
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    got = digest.hexdigest()
    if not got.startswith(expected.lower()):
        return f"checksum mismatch: expected {algo} {expected}, got {got[: len(expected)]}"
    return None


def download(ws: WeightSet | str) -> Path:
    """The cached file of ``ws`` (a tag or a :class:`WeightSet`), downloaded and verified if needed.

    A cached file is verified again before it is reused (a truncated or damaged one is fetched again).
    Each call downloads into its own temporary file and renames it into place once verified, so
    concurrent downloads of one tag (threads or processes) all end with the same verified file, and a
    failed download removes only its own temporary file, never another's finished one.
    """
    ws = get_weight_set(ws) if isinstance(ws, str) else ws
    dest = cached_path(ws)
    if dest.is_file():
        problem = _problem(ws, dest)
        if problem is None:
            return dest
        log.warning("%s: the cached %s fails its check (%s): downloading it again", ws.tag, dest, problem)
    log.info("downloading %s from %s to %s", ws.tag, ws.url, dest)
    if ws.checksum is None:
        log.warning("%s: no checksum is published for %s; the download is not verified", ws.tag, ws.url)
    atomic_write(dest, lambda tmp: _copy_checked(ws, tmp))
    return dest
