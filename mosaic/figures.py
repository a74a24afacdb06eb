"""Figure helpers every layer shares: a headless matplotlib figure and an atomic PNG write."""
from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import ChipError
from .files import OutputError, atomic_write


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
        try:
            atomic_write(path, lambda fh: fig.savefig(fh, dpi=dpi, format="png"))
        except OutputError as e:
            raise PlotError(str(e)) from None
    return fig
