"""Rebuilding a B-spline network from a run file or checkpoint whose grids may have changed.

Grid extension (:func:`pinnkan.grid.extend_grid`) changes a layer's knots ``(in, G+2k+1)`` and
coefficients ``(out, in, G+k+1)``; the stored knots tell each layer's G, so a model written after
an extension loads again with the right shapes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .basis import BSplineBasis
from .nn.kan import DirectCoefficients, KANNetwork


def set_layer_grid(model: KANNetwork, index: int, grid: int) -> None:
    """Give KAN layer ``index`` a fresh G-interval basis and a coefficient tensor of that size."""
    layer = model.layers[index]
    old = layer.family
    layer.family = BSplineBasis(layer.in_features, grid, old.order, base=old.base)
    shape = (layer.out_features, layer.in_features, layer.family.num_coefficients)
    weight = model.coefficients.weights[index]
    model.coefficients.weights[index] = nn.Parameter(weight.new_zeros(shape))


def stored_grids(state: dict[str, Tensor], layers: int, order: int) -> list[int | None]:
    """The grid G of each layer from the shape ``(in, G+2k+1)`` of its stored knots."""
    grids: list[int | None] = []
    for index in range(layers):
        knots = state.get(f"layers.{index}.family.knots")
        grids.append(None if knots is None else knots.shape[1] - 2 * order - 1)
    return grids


def rebuild_model(config: dict, state: dict[str, Tensor]) -> nn.Module:
    """``build_model(**config)`` with the shapes of ``state`` (grids per layer), state loaded.

    Grids changed by :func:`extend_grid` are read from the stored knots, so a run file or
    checkpoint written after an extension loads again. The global RNG is left untouched.
    """
    from .nn.build import build_model, legacy_model_options

    options = dict(config)
    name, width = options.pop("name"), options.pop("width")
    options.update(legacy_model_options(name, options))
    order = options.get("k", 3)
    grids = stored_grids(state, len(width) - 1, order) if "grid" in options else []
    known = {grid for grid in grids if grid is not None}
    if len(known) == 1:
        options["grid"] = known.pop()
    with torch.random.fork_rng(devices=[]):
        model = build_model(name, list(width), **options)
    if len(known) > 1 and isinstance(model.coefficients, DirectCoefficients):
        for index, grid in enumerate(grids):
            if grid is not None and grid != model.layers[index].family.grid:
                set_layer_grid(model, index, grid)
    parameter_names = {name for name, _ in model.named_parameters()}
    dtypes = {t.dtype for key, t in state.items() if key in parameter_names}
    if len(dtypes) == 1:
        dtype = dtypes.pop()
        for parameter in model.parameters():
            parameter.data = parameter.data.to(dtype)
    model.load_state_dict(state)
    return model
