"""Exceptions of the application layer (command line, sweeps, store)."""
from __future__ import annotations

from mosaic.errors import MosaicGrowError


class AppError(MosaicGrowError):
    """A command, sweep configuration or result store cannot be used as asked."""


def is_interrupt(e: BaseException) -> bool:
    """Whether ``e`` is Ctrl-C: a ``KeyboardInterrupt``, or the ``SystemError`` a compiled (numba)
    call raises when the interrupt arrives while it runs (the KeyboardInterrupt is its context)."""
    while e is not None:
        if isinstance(e, KeyboardInterrupt):
            return True
        if not isinstance(e, SystemError):
            return False
        e = e.__cause__ or e.__context__
    return False
