"""Text that reaches a terminal: names from the file system are shown, never obeyed.

A file name may hold any byte but ``/`` and NUL, escape sequences included (``\\x1b[2J`` clears the
screen). :func:`printable` writes control characters as Python escapes, so what the user sees is the
name, not what the name would make the terminal do.
"""

from __future__ import annotations

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
