"""The learned edge functions φ_ji of every layer, drawn as a grid of small plots.

Layer l gets a block of min(n_{l+1}, M) × min(n_l, M) panels (row j = output, column i = input,
M = ``max_edges``); panel (j, i) shows φ_ji(t) for t over the range the input x_i actually takes
at the stored test points (the grid range when the run stores none). MetaKAN's φ are drawn
from the coefficients its meta-learner generates.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..nn.kan import KANNetwork
from ..regression import network_inputs
from ..results import Run
from .canvas import new_figure
from .edges import edge_coefficients, edge_values, input_ranges, layer_inputs, sample_ranges
from .rebuild import model_config, model_dtype, rebuild_kan
from .titles import run_title

PANEL_WIDTH, PANEL_HEIGHT = 1.35, 1.0  # inches per small plot


def probe_points(run: Run, network: KANNetwork) -> torch.Tensor:
    """The stored test inputs ``(n, n_0)`` in the model's dtype as the network saw them (a fit
    with ``normalize`` mapped them onto [-1, 1]^d), or ``(0, n_0)`` if none fit."""
    dtype = model_dtype(network)
    x = run.test_set.get("x")
    if x is None or np.ndim(x) != 2 or np.shape(x)[1] != network.width[0]:
        return torch.zeros((0, network.width[0]), dtype=dtype)
    raw = torch.as_tensor(np.asarray(x)).to(dtype)
    return network_inputs(raw, run.config.get("normalization"))


def edge_curves(run: Run, network: KANNetwork, samples: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer ``(t (samples, n_l), φ (samples, n_l, n_{l+1}))`` as numpy arrays."""
    fallback = tuple(model_config(run).get("grid_range", (-1.0, 1.0)))
    inputs = layer_inputs(network, probe_points(run, network))
    curves = []
    for layer, weight, seen in zip(network.layers, edge_coefficients(network), inputs, strict=True):
        t = sample_ranges(*input_ranges(seen, fallback), samples)
        curves.append((t.numpy(), edge_values(layer, weight, t).numpy()))
    return curves


def span_text(run: Run, network: KANNetwork) -> str:
    """What the curves' t ranges are: the inputs' values at the test points, else the grid."""
    if len(probe_points(run, network)):
        return "the values input i takes at the test points"
    low, high = model_config(run).get("grid_range", (-1.0, 1.0))
    return f"the grid range [{low:g}, {high:g}] (the run file stores no test points)"


def draw_activations(run: Run, options) -> Figure:
    """One block of small plots per layer (see the module docstring)."""
    network = rebuild_kan(run)
    curves = edge_curves(run, network, options.samples)
    limit = options.max_edges
    shapes = [(min(phi.shape[2], limit), min(phi.shape[1], limit)) for _, phi in curves]
    columns = max(cols for _, cols in shapes)
    heights = [0.55 + PANEL_HEIGHT * rows for rows, _ in shapes]
    figure = new_figure(0.7 + max(PANEL_WIDTH * columns, 4.8), 0.7 + sum(heights))
    figure.suptitle(
        f"{run_title(run)}\nlearned edge functions $\\phi_{{ji}}(t)$ (row j = output, "
        f"column i = input)\nt spans {span_text(run, network)}",
        fontsize="medium",
    )
    blocks = np.atleast_1d(figure.subfigures(len(curves), 1, height_ratios=heights))
    for index, (block, (t, phi), (rows, cols)) in enumerate(
        zip(blocks, curves, shapes, strict=True)
    ):
        n_in, n_out = phi.shape[1], phi.shape[2]
        shown = ""
        if (rows, cols) != (n_out, n_in):
            shown = f" (showing {cols} of {n_in} inputs × {rows} of {n_out} outputs)"
        block.suptitle(f"layer {index}: {n_in} → {n_out}{shown}", fontsize="medium")
        axes = block.subplots(rows, cols, squeeze=False)
        for j in range(rows):
            for i in range(cols):
                axis = axes[j, i]
                axis.plot(t[:, i], phi[:, i, j], linewidth=1.2)
                axis.tick_params(labelsize=6, length=2, pad=1)
                axis.xaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]))
                axis.yaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]))
                axis.grid(True, alpha=0.25)
                if j == 0:
                    axis.set_title(f"in {i}", fontsize=7, pad=2)
                if i == 0:
                    axis.set_ylabel(f"out {j}", fontsize=7)
    return figure
