"""Exceptions of the growth package."""


class GrowthError(ValueError):
    """A growth request cannot be carried out as asked (bad layer, k, shapes or data)."""


class ScheduleError(GrowthError):
    """A growth schedule is invalid (unknown layer, k <= 0, past the target size, bad file)."""
