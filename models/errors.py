"""Exceptions of the models package."""
from __future__ import annotations

from mosaic.errors import MosaicGrowError


class ModelError(MosaicGrowError):
    """A model, encoder, data set or training request that cannot be honoured."""
