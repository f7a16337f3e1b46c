"""What a trained KAN-type network holds per edge: coefficients, layer inputs, edge functions.

For layer l with coefficients w^{(l)} (n_{l+1}, n_l, m) the edge (i → j) carries the univariate
function φ_ji(t) = φ(t; w_ji); the layer computes y_j = Σ_i φ_ji(x_i) (+ b_j).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..basis.base import LinearBasis, ParametricFamily, per_edge
from ..nn.kan import KANLayer, KANNetwork


@torch.no_grad()
def edge_coefficients(network: KANNetwork) -> list[Tensor]:
    """``[w^{(0)}, …]``, each ``(n_{l+1}, n_l, m)``, detached (MetaKAN: as generated)."""
    return [weight.detach() for weight in network.coefficients()]


@torch.no_grad()
def layer_inputs(network: KANNetwork, x: Tensor) -> list[Tensor]:
    """The input of every layer at the points ``x (n, n_0)``: element l is ``(n, n_l)``."""
    inputs = []
    activation = x
    for layer, weight in zip(network.layers, network.coefficients(), strict=True):
        inputs.append(activation)
        activation = layer(activation, weight)
    return inputs


@torch.no_grad()
def edge_values(layer: KANLayer, coefficients: Tensor, t: Tensor) -> Tensor:
    """φ_ji(t_i) for every edge: ``t (n, in)``, ``coefficients (out, in, m)`` -> ``(n, in, out)``.

    Summed over ``in`` (plus the bias) this is the layer output at the points ``t``.
    """
    family = layer.family
    if isinstance(family, LinearBasis):
        return per_edge(family.basis(t), coefficients)
    if isinstance(family, ParametricFamily):
        return family.edge_values(t, coefficients, order=0)[0]
    raise ValueError(f"edge family {type(family).__name__} cannot be evaluated edge by edge")


def input_ranges(inputs: Tensor, fallback: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Per input the range [min, max] it takes, ``inputs (n, in)`` -> ``lo, hi (in,)``.

    With no points (n = 0) the ``fallback`` range is used; a constant input gets ±0.5 around it.
    """
    if inputs.shape[0] == 0:
        low = torch.full(inputs.shape[1:], float(fallback[0]), dtype=inputs.dtype)
        return low, torch.full_like(low, float(fallback[1]))
    low, high = inputs.min(dim=0).values, inputs.max(dim=0).values
    flat = (high - low) < 1e-9
    return torch.where(flat, low - 0.5, low), torch.where(flat, high + 0.5, high)


def sample_ranges(low: Tensor, high: Tensor, samples: int) -> Tensor:
    """``samples`` equally spaced points of [low_i, high_i] per input: ``(samples, in)``."""
    fraction = torch.linspace(0.0, 1.0, samples, dtype=low.dtype).unsqueeze(-1)
    return low + fraction * (high - low)
