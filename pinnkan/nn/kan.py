"""The KAN layer and network: one edge family, coefficients passed in from a source.

    layer:    y_j = Σ_i φ(x_i; w_ji) + b_j,      x (batch, in) -> y (batch, out)
    network:  KAN(x) = Φ^{(L−1)} ∘ … ∘ Φ^{(0)}(x)

The layer owns no coefficients. A coefficient source (:class:`DirectCoefficients` for KAN,
:class:`pinnkan.nn.meta.MetaCoefficients` for MetaKAN) returns the list of per-layer tensors
``w^{(l)} (n_{l+1}, n_l, m)`` once per forward pass, and the network feeds them to the layers. So
MetaKAN is the same layer with another source, for every edge family.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..basis.base import EdgeFamily
from ..validation import check_network_input


class KANLayer(nn.Module):
    """``y = Σ_i φ(x_i; w_ji) (+ b)`` for a given coefficient tensor ``w (out, in, m)``."""

    def __init__(self, family: EdgeFamily, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.family = family
        self.in_features = in_features
        self.out_features = out_features
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"

    def forward(self, x: Tensor, coefficients: Tensor) -> Tensor:
        """``x (batch, in)``, ``coefficients (out, in, m)`` -> ``(batch, out)``."""
        y = self.family(x, coefficients)
        return y if self.bias is None else y + self.bias

    def value_and_derivatives(
        self, x: Tensor, coefficients: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(y (batch, out), φ' (batch, in, out), φ'' (batch, in, out))`` for the Laplacian engine."""
        y, first, second = self.family.value_and_derivatives(x, coefficients)
        return (y if self.bias is None else y + self.bias), first, second


class DirectCoefficients(nn.Module):
    """Every edge's coefficients are trainable parameters (plain KAN): ``E·m`` parameters."""

    def __init__(self, layers: list[KANLayer], generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(
                layer.family.initial_coefficients(
                    layer.out_features, layer.in_features, generator
                ).to(torch.get_default_dtype())
            )
            for layer in layers
        )

    def forward(self) -> list[Tensor]:
        return list(self.weights)


class KANNetwork(nn.Module):
    """A stack of :class:`KANLayer` fed by one coefficient source.

    Attributes:
        width: ``[n_0, …, n_L]``.
        layers: the L layers.
        coefficients: the source; ``coefficients()`` returns ``[w^{(0)}, …, w^{(L−1)}]``.
    """

    def __init__(self, width: list[int], layers: list[KANLayer], coefficients: nn.Module) -> None:
        super().__init__()
        self.width = list(width)
        self.layers = nn.ModuleList(layers)
        self.coefficients = coefficients

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_0)`` -> ``(batch, n_L)``; any other shape is a ValueError naming it (a
        wavelet layer would broadcast ``(batch, 1)`` or ``(batch, n_0, 1)`` silently)."""
        check_network_input(x, self.width[0])
        for layer, weight in zip(self.layers, self.coefficients(), strict=True):
            x = layer(x, weight)
        return x
