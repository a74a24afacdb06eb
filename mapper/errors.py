"""Exceptions of the mapper package."""
from __future__ import annotations


class MappingError(ValueError):
    """A mapping request cannot be met; the message names the constraint and the numbers."""
