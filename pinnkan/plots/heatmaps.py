"""Edge-by-edge heatmaps, one panel per layer (shared by the similarity and prompt figures).

Edges of layer l are ordered e = j·n_l + i (output j, input i); at most :data:`MAX_EDGES` of
them are drawn, and edges are labelled ``i→j`` when a layer has few enough.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .canvas import new_figure

MAX_EDGES = 1024
LABELLED_EDGES = 16


def edge_labels(n_in: int, n_out: int) -> list[str]:
    """``["0→0", "1→0", …]`` in the edge order e = j·n_in + i."""
    return [f"{i}→{j}" for j in range(n_out) for i in range(n_in)]


PANEL_TITLE_CHARS = 42  # a 3.4-inch panel's title at the medium font size, per line


def layer_heatmaps(
    matrices: list[np.ndarray],
    shapes: list[tuple[int, int]],
    norm: Normalize,
    cmap: str,
    colorbar_label: str,
    titles: list[str],
) -> Figure:
    """Square heatmaps of ``matrices[l] (E_l, E_l)`` side by side, one colour bar for all."""
    count = len(matrices)
    figure = new_figure(0.9 + 3.4 * count, 4.4)
    axes = np.atleast_1d(figure.subplots(1, count, squeeze=False)[0])
    image = None
    for axis, matrix, (n_in, n_out), title in zip(axes, matrices, shapes, titles, strict=True):
        edges = matrix.shape[0]
        image = axis.imshow(matrix, cmap=cmap, norm=norm, interpolation="nearest")
        axis.set_title(textwrap.fill(title, PANEL_TITLE_CHARS), fontsize="medium")
        if edges <= LABELLED_EDGES:
            labels = edge_labels(n_in, n_out)[:edges]
            axis.set_xticks(range(edges), labels, rotation=90, fontsize=7)
            axis.set_yticks(range(edges), labels, fontsize=7)
            axis.set_xlabel("edge i→j")
            axis.set_ylabel("edge i→j")
        else:
            axis.set_xlabel(f"edge index j·{n_in} + i")
            axis.set_ylabel(f"edge index j·{n_in} + i")
    figure.colorbar(image, ax=list(axes), shrink=0.8, label=colorbar_label)
    return figure


def capped(matrix_rows: np.ndarray) -> tuple[np.ndarray, str]:
    """The first :data:`MAX_EDGES` rows and a title note when rows were dropped."""
    if matrix_rows.shape[0] <= MAX_EDGES:
        return matrix_rows, ""
    return matrix_rows[:MAX_EDGES], f", first {MAX_EDGES} of {matrix_rows.shape[0]} edges"
