"""Exceptions of the growth package."""
from __future__ import annotations

from mosaic.errors import MosaicGrowError


class GrowthError(MosaicGrowError):
    """A growth request cannot be carried out as asked (bad layer, k, shapes or data)."""


class ScheduleError(GrowthError):
    """A growth schedule is invalid (unknown layer, k <= 0, past the target size, bad file)."""
