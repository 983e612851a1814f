"""Imported by the fork server that starts the loading loop's workers (one of
:data:`inceptionkit.loader.FORKSERVER_PRELOAD`): it blocks SIGINT in that process, so that each worker
it forks starts with SIGINT blocked until the worker ignores it (:mod:`inceptionkit.loader`). The
fork server ignores SIGINT itself; it is started by ``exec``, which clears the mask its parent held.
Imported anywhere else, it does nothing."""

from __future__ import annotations

import signal
import sys
from multiprocessing import forkserver


def _in_the_fork_server() -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


if hasattr(signal, "pthread_sigmask") and _in_the_fork_server():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
