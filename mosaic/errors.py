"""The toolkit's exceptions: one root, one subclass per package.

``MosaicGrowError`` subclasses ``ValueError`` so that code catching ``ValueError`` keeps
working.  The command line prints one line for these (bad input or an impossible request)
and a full traceback for anything else (a bug).
"""
from __future__ import annotations


class MosaicGrowError(ValueError):
    """Root of every exception the toolkit raises on purpose: bad input, an impossible request."""


class ChipError(MosaicGrowError):
    """The ``mosaic`` package (chip spec, network IR, placement, simulator, cost model)."""
