"""Text that reaches a terminal: names from the file system are shown, never obeyed.

A file name may hold any byte but ``/`` and NUL, escape sequences included (``\\x1b[2J`` clears the
screen). :func:`printable` writes control characters as Python escapes, so what the user sees is the
name, not what the name would make the terminal do. :func:`progress_bar` is the one progress bar of
the long commands (images or steps done, and their rate).
"""

from __future__ import annotations

import os
import sys
import unicodedata


def _escape(ch: str) -> str:
    code = ord(ch)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    )


def printable(value: object) -> str:
    """``str(value)`` with every control or format character (C0, C1, DEL, bidi overrides, lone
    surrogates from undecodable file names) escaped; other text, non-ASCII letters included, as is."""
    return "".join(_escape(ch) if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in str(value))


def _stderr_columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def progress_bar(total: int | None, description: str, unit: str, show: bool | None = None, initial: int = 0):
    """A tqdm bar on stderr, cleared when done: shown when ``show`` (None: when stderr is a
    terminal). A terminal that reports no width (0 columns, as a fresh pseudo-terminal does) gets 80
    columns, where tqdm would print nothing. A description over 32 characters is cut to its end, so
    that the counts and the rate stay on the line. ``initial``: units already done (a resumed epoch)."""
    from tqdm import tqdm

    show = sys.stderr.isatty() if show is None else show
    if len(description) > 32:  # a long folder name would push the counts and the rate off the line
        description = "…" + description[-31:]
    sized = _stderr_columns() > 0
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit=unit,
        disable=not show,
        leave=False,
        file=sys.stderr,
        dynamic_ncols=sized,
        ncols=None if sized else 80,
        nrows=None if sized else 24,
    )
