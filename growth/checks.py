"""Argument checks shared by the growth methods (each raises a ``GrowthError`` naming the value)."""
from __future__ import annotations

import numpy as np

from growth.errors import GrowthError


def positive_int(value, what: str, hint: str = "") -> int:
    """``value`` as an int if it is a positive integer (a Python or numpy integer, not a bool
    or a float), else a ``GrowthError`` naming ``what`` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GrowthError(f"{what} must be a positive integer{hint}, got {value!r}")
    return int(value)
