"""B-spline knot vectors: from samples (grid update), refined (grid extension), extended.

*From samples*: the G+1 interior knots of input i blend the quantiles of its samples with a
uniform grid over their range,

    t = ε · uniform(min, max) + (1 − ε) · quantiles,     ε = ``grid_eps`` ∈ (0, 1],

*refined* G -> G': interior knots interpolated linearly at the fractional positions j·G/G' (a
uniform grid stays uniform; for integer G'/G the old knots are among the new ones). Both are
*extended* by k knots of step (max − min)/G on each side: ``(in, G+1)`` -> ``(in, G+2k+1)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .grid_options import check_grid_eps


def extend_knots(interior: Tensor, order: int) -> Tensor:
    """Interior knots ``(in, G+1)`` -> ``(in, G+2k+1)``, k knots of step (max−min)/G each side."""
    grid = interior.shape[1] - 1
    step = (interior[:, -1:] - interior[:, :1]) / grid
    offsets = torch.arange(1, order + 1, dtype=interior.dtype, device=interior.device)
    left = interior[:, :1] - step * offsets.flip(0)
    right = interior[:, -1:] + step * offsets
    return torch.cat([left, interior, right], dim=1)


def knots_from_samples(x: Tensor, grid: int, order: int, grid_eps: float = 0.02) -> Tensor:
    """Knots ``(in, G+2k+1)`` (float64) adapted to samples ``x (n, in)``: see module docstring."""
    check_grid_eps(grid_eps)
    ordered = x.detach().double().sort(dim=0).values
    n = ordered.shape[0]
    positions = torch.linspace(0, n - 1, grid + 1, device=x.device).round().long()
    quantiles = ordered[positions].t()  # (in, G+1)
    low, high = ordered[0], ordered[-1]
    span = torch.clamp(high - low, min=minimum_span(high))
    centre = 0.5 * (high + low)
    low, high = centre - 0.5 * span, centre + 0.5 * span
    fractions = torch.linspace(0, 1, grid + 1, dtype=torch.float64, device=x.device)
    uniform = low[:, None] + fractions * (high - low)[:, None]
    return extend_knots(grid_eps * uniform + (1 - grid_eps) * quantiles, order)


def minimum_span(high: Tensor) -> Tensor:
    """The narrowest knot range of an input whose samples reach ``high``: 1e-3·max(|high|, 1);
    samples spread less are (nearly) constant."""
    return 1e-3 * torch.clamp(high.abs(), min=1.0)


def keep_where_samples_are_constant(knots: Tensor, previous: Tensor, x: Tensor) -> Tensor:
    """``knots (in, K)`` from samples ``x (n, in)``, with the rows of inputs whose samples are
    (nearly) constant taken from ``previous (in, K)``: a constant input says nothing about where
    knots belong, and its quantile knots fall within :func:`minimum_span` of one another (knots
    6.7e-6 apart gave |Δu| of 168 off the sample)."""
    low, high = x.detach().double().min(dim=0).values, x.detach().double().max(dim=0).values
    constant = (high - low) < minimum_span(high)
    return torch.where(constant[:, None], previous.to(knots), knots)


def refine_knots(knots: Tensor, order: int, new_grid: int) -> Tensor:
    """Knots ``(in, G+2k+1)`` -> ``(in, G'+2k+1)``: interior knots interpolated at j·G/G'."""
    interior = knots[:, order : knots.shape[1] - order].double()
    grid = interior.shape[1] - 1
    position = torch.linspace(0, grid, new_grid + 1, dtype=torch.float64, device=knots.device)
    lower = position.floor().long().clamp(max=grid - 1)
    fraction = position - lower
    refined = interior[:, lower] * (1 - fraction) + interior[:, lower + 1] * fraction
    return extend_knots(refined, order)


def interior_samples(knots: Tensor, order: int, count: int) -> Tensor:
    """``count`` uniform points per input over its interior knot range: ``(count, in)`` float64."""
    low, high = knots[:, order].double(), knots[:, -order - 1].double()
    fractions = torch.linspace(0, 1, count, dtype=torch.float64, device=knots.device)[:, None]
    return low + fractions * (high - low)
