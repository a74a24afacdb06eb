"""Figure helpers every layer shares: a headless matplotlib figure and an atomic PNG write."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import ChipError


class PlotError(ChipError):
    """Data cannot be plotted as asked (empty, mismatched lengths, missing columns, no folder)."""


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 4.0) -> tuple[Figure, list]:
    """A figure of ``ncols`` panels side by side (sizes in inches), with no GUI backend."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save(fig: Figure, path: str | Path | None, dpi: int = 120) -> Figure:
    """Write ``fig`` as PNG to ``path`` (if given; the folder must exist) and return it.
    The file appears whole or not at all (temporary file in the same folder, then rename)."""
    if path is not None:
        p = Path(path)
        if not p.parent.is_dir():
            raise PlotError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fig.savefig(fh, dpi=dpi, format="png")
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return fig
