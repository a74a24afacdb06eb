"""Ctrl-C that never crashes the process.

Python runs a signal handler at the next bytecode, wherever that is.  When Ctrl-C arrives during
a compiled numba call, that bytecode is inside numba's own Python helpers that box the call's
result (``numba/core/serialize.py``); a KeyboardInterrupt raised there leaves the dispatcher with
a NULL result and the process dies of a segfault.  ``safe_interrupts`` defers the interrupt in
steps of 20 ms until the interpreter is back in ordinary code, then raises KeyboardInterrupt.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Iterator

try:
    import numba
    _NUMBA_DIR = str(Path(numba.__file__).resolve().parent)
except ImportError:  # numba is a dependency; without it there is nothing to defer
    _NUMBA_DIR = None

RETRY_S = 0.02


def _in_numba(frame) -> bool:
    while frame is not None:
        if _NUMBA_DIR and frame.f_code.co_filename.startswith(_NUMBA_DIR):
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame) -> None:
    if _in_numba(frame):
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)     # SIGALRM comes back here in 20 ms
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def safe_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C raises KeyboardInterrupt only outside numba's internals."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    old_int = signal.signal(signal.SIGINT, _handler)
    old_alrm = signal.signal(signal.SIGALRM, _handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGALRM, old_alrm)
