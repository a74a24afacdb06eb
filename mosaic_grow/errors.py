"""Exceptions of the application layer (command line, sweeps, store)."""
from __future__ import annotations

from mosaic.errors import MosaicGrowError


class AppError(MosaicGrowError):
    """A command, sweep configuration or result store cannot be used as asked."""
