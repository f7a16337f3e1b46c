"""Figure making and saving without pyplot, and the colour scale of non-negative errors.

Figures are :class:`matplotlib.figure.Figure` objects with constrained layout, saved at a fixed
size (no ``bbox_inches="tight"``), so a figure of ``(width, height)`` inches at ``dpi`` is always
``round(width·dpi) × round(height·dpi)`` pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ..text_file import replace_atomically

FORMATS = ("png", "pdf", "svg")
LOG_SCALE_DECADES = 2.0  # errors spanning more than this many decades get a log colour scale


def new_figure(width: float, height: float) -> Figure:
    """A blank figure of ``width × height`` inches with constrained layout (no clipped text)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    figure.get_layout_engine().set(w_pad=0.06, h_pad=0.06)
    return figure


def save_figure(figure: Figure, path: Path, dpi: int) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix) at ``dpi``, atomically
    (:func:`pinnkan.text_file.replace_atomically`); returns ``path``."""
    suffix = path.suffix

    def draw(temporary: Path) -> None:
        figure.savefig(temporary, format=suffix[1:], dpi=dpi, metadata=metadata(suffix))

    replace_atomically(path, draw)
    return path


def metadata(suffix: str) -> dict[str, str | None]:
    """Reproducible files: no creation dates in PDF / SVG, a creator tag in every format."""
    if suffix == ".pdf":
        return {"Creator": "pinnkan", "CreationDate": None}
    if suffix == ".svg":
        return {"Creator": "pinnkan", "Date": None}
    return {"Software": "pinnkan"}


def positive_span(values: np.ndarray) -> tuple[float, float] | None:
    """(1st percentile, maximum) of the finite positive entries; None when there are none."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return None
    return float(np.percentile(positive, 1.0)), float(positive.max())


def spans_decades(values: np.ndarray, decades: float = LOG_SCALE_DECADES) -> bool:
    """True when ``max / p1`` of the positive entries exceeds ``10**decades``."""
    span = positive_span(np.asarray(values, dtype=float))
    return span is not None and span[1] > span[0] * 10.0**decades


def error_norm(values: np.ndarray) -> Normalize:
    """Colour scale for pointwise errors ≥ 0: logarithmic from the 1st percentile when the
    errors span more than :data:`LOG_SCALE_DECADES` decades, linear from 0 otherwise."""
    values = np.asarray(values, dtype=float)
    span = positive_span(values)
    if span is None:
        return Normalize(vmin=0.0, vmax=1.0)
    if spans_decades(values):
        return LogNorm(vmin=span[0], vmax=span[1], clip=True)
    return Normalize(vmin=0.0, vmax=span[1])


def symmetric_limit(*arrays: np.ndarray) -> float:
    """max |value| over the finite entries of all arrays (1 when there are none)."""
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays]
    largest = max((float(a.max()) for a in finite if a.size), default=0.0)
    return largest if largest > 0 else 1.0
