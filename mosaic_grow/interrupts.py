"""Ctrl-C that never crashes the process.

Python runs a signal handler at the next bytecode, wherever that is.  When Ctrl-C arrives during
a compiled numba call, that bytecode is inside numba's own Python helpers that box the call's
result (``numba/core/serialize.py``); a KeyboardInterrupt raised there leaves the dispatcher with
a NULL result and the process dies of a segfault.  ``safe_interrupts`` raises the interrupt
instead at the next line of the code that called numba (a one-shot trace function on that
frame), i.e. as soon as the compiled call has returned: kernels run in bounded chunks (e.g.
``mosaic.simulate.CHUNK_STEPS``), so that is within a chunk's time.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

try:
    import numba
    _NUMBA_DIR = str(Path(numba.__file__).resolve().parent)
except ImportError:  # numba is a dependency; without it there is nothing to defer
    _NUMBA_DIR = None


def _caller_of_numba(frame):
    """The frame that called the outermost numba frame on the stack (None: no numba frame)."""
    caller = None
    while frame is not None:
        if _NUMBA_DIR and frame.f_code.co_filename.startswith(_NUMBA_DIR):
            caller = frame.f_back
        frame = frame.f_back
    return caller


def _no_trace(frame, event, arg):
    return None


def _raise_here(frame, event, arg):
    """The one-shot trace function: the first line (or return) of its frame raises."""
    sys.settrace(None)
    frame.f_trace = None
    raise KeyboardInterrupt


def _handler(signum, frame) -> None:
    caller = _caller_of_numba(frame)
    if caller is None:
        raise KeyboardInterrupt
    caller.f_trace = _raise_here
    caller.f_trace_lines = True
    sys.settrace(_no_trace)            # turns tracing on, so the caller's trace function runs


@contextlib.contextmanager
def safe_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C raises KeyboardInterrupt only outside numba's internals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if sys.gettrace() is _no_trace:
            sys.settrace(None)
