"""Cosine similarity of the learned edge coefficient vectors, per layer (paper Figure 9).

For edges a, b of one layer with coefficient vectors w_a, w_b ∈ ℝ^m (for B-splines the SiLU
weight and the G + k spline coefficients):

    S_ab = ⟨w_a, w_b⟩ / (‖w_a‖ ‖w_b‖)  ∈ [−1, 1]      (0 when either vector is zero)

Blocks of S ≈ ±1 are edges whose functions are multiples of one another: a compact function
class. MetaKAN's w are the generated ones (the fixed 1/√n_l factor cancels).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..results import Run
from .edges import edge_coefficients
from .heatmaps import capped, layer_heatmaps
from .rebuild import rebuild_kan
from .titles import run_title


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """``vectors (E, m)`` -> ``S (E, E)``, S_ab = cos∠(w_a, w_b); zero vectors give 0."""
    vectors = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def draw_similarity(run: Run, options) -> Figure:
    """One heatmap of S per layer, diverging colours on [−1, 1]."""
    network = rebuild_kan(run)
    matrices, shapes, titles = [], [], []
    for index, weight in enumerate(edge_coefficients(network)):
        n_out, n_in, m = weight.shape
        vectors, note = capped(weight.reshape(n_out * n_in, m).double().numpy())
        matrices.append(cosine_similarity(vectors))
        shapes.append((n_in, n_out))
        titles.append(f"layer {index}: {n_in} → {n_out} ({m} coefficients{note})")
    figure = layer_heatmaps(
        matrices, shapes, Normalize(-1.0, 1.0), "RdBu_r", "cosine similarity", titles
    )
    figure.suptitle(f"{run_title(run)}\ncosine similarity of the edge coefficient vectors")
    return figure
