"""Distances between MetaKAN's learned edge prompts, per layer (paper Figure 10).

Each edge (i → j) of layer l has a prompt z ∈ ℝ^p from which its meta-learner generates the
edge's coefficients; the heatmap shows D_ab = ‖z_a − z_b‖₂ (|z_a − z_b| for p = 1). Dark (small
distance) blocks are edges the meta-learner treats alike.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..nn.meta import MetaCoefficients
from ..results import Run
from .heatmaps import capped, layer_heatmaps
from .rebuild import model_name, rebuild_kan, run_label
from .titles import run_title


def prompt_distances(prompts: np.ndarray) -> np.ndarray:
    """``prompts (E, p)`` -> ``D (E, E)``, D_ab = ‖z_a − z_b‖₂."""
    prompts = np.asarray(prompts, dtype=float)
    return np.linalg.norm(prompts[:, None, :] - prompts[None, :, :], axis=-1)


def draw_prompts(run: Run, options) -> Figure:
    """One heatmap of D per layer on a common colour scale."""
    network = rebuild_kan(run)
    source = network.coefficients
    if not isinstance(source, MetaCoefficients):
        raise ValueError(
            f"model {model_name(run)!r} of {run_label(run)} has no prompts; "
            "only meta models (metakan, metafastkan, metawavkan) learn prompts"
        )
    matrices, shapes, titles = [], [], []
    for index, (prompt, label) in enumerate(zip(source.prompts, source.labels, strict=True)):
        n_out, n_in, p = prompt.shape
        vectors, note = capped(prompt.detach().reshape(n_out * n_in, p).double().numpy())
        matrices.append(prompt_distances(vectors))
        shapes.append((n_in, n_out))
        titles.append(f"layer {index}: {n_in} → {n_out}, meta-learner {label}{note}")
    largest = max(float(matrix.max()) for matrix in matrices) or 1.0
    dimension = source.prompts[0].shape[-1]
    label = "$|z_a - z_b|$" if dimension == 1 else r"$\|z_a - z_b\|_2$"
    figure = layer_heatmaps(matrices, shapes, Normalize(0.0, largest), "magma", label, titles)
    figure.suptitle(
        f"{run_title(run)}\ndistances between learned prompts (dimension {dimension}); "
        "dark = similar"
    )
    return figure
