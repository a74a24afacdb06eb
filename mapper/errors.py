"""Exceptions of the mapper package."""
from __future__ import annotations

from mosaic.errors import MosaicGrowError


class MappingError(MosaicGrowError):
    """A mapping request cannot be met; the message names the constraint and the numbers."""
