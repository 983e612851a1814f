"""The calling thread's alternate signal stack, kept across a native runtime's calls.

OpenVINO's ``compile_model`` (measured with OpenVINO 2026.4, at its default properties) installs an
alternate signal stack of its own (20,144 bytes) on the thread that calls it, and that memory is
freed when OpenVINO's objects go away: the thread's ``sigaltstack`` is left pointing at unmapped
memory (seen in ``/proc/self/maps``). Python installs its signal handlers with ``SA_ONSTACK``, so the
next signal the kernel delivers to that thread (SIGCHLD when a child process exits: ``subprocess``,
decoding workers) cannot be written there, and the kernel kills the process with SIGSEGV (``si_code``
SI_KERNEL, address 0: what the core dump of a crashed test worker showed, its main thread waiting in
``poll`` for a child). That was the random crash of a process that ran OpenVINO and then started
another process. :func:`kept_signal_stack` puts back whatever stack the thread had before
(faulthandler's, or none).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def signal_stack() -> tuple[int, int, int] | None:
    """The calling thread's alternate signal stack as (address, flags, size); None off Linux."""
    libc = _libc()
    if libc is None:
        return None
    now = _StackT()
    if libc.sigaltstack(None, ctypes.byref(now)) != 0:
        return None
    return now.ss_sp or 0, now.ss_flags, now.ss_size


@contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the block, then give the calling thread back the alternate signal stack it had before."""
    libc = _libc()
    before = _StackT()
    saved = libc is not None and libc.sigaltstack(None, ctypes.byref(before)) == 0
    try:
        yield
    finally:
        if saved:
            after = _StackT()
            libc.sigaltstack(None, ctypes.byref(after))
            if (after.ss_sp, after.ss_size, after.ss_flags) != (before.ss_sp, before.ss_size, before.ss_flags):
                restore = _StackT(before.ss_sp, before.ss_flags & 2, before.ss_size)  # 2: SS_DISABLE
                libc.sigaltstack(ctypes.byref(restore), None)
