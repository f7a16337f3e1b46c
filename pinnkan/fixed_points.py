"""Model outputs on a fixed point set, with the first layer's basis expansion computed once."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .basis.base import LinearBasis, contract
from .nn.kan import KANNetwork


class FixedPoints:
    """``model(x).squeeze(-1)`` on fixed points ``x (n, d)``, with the first layer's basis
    expansion ``B(x) (n, d, m)`` computed once (it depends on the knots only, not on the
    trained coefficients). For [n, 1, 1] at n = 1000 this is nearly all of the work.

    Call :meth:`refresh` after the knots change. Models whose first layer is not a
    :class:`LinearBasis` expansion are evaluated as they are.
    """

    def __init__(self, model: nn.Module, x: Tensor) -> None:
        self.model, self.x = model, x
        self.expansion: Tensor | None = None
        self.refresh()

    def refresh(self) -> None:
        linear = isinstance(self.model, KANNetwork) and isinstance(
            self.model.layers[0].family, LinearBasis
        )
        with torch.no_grad():
            self.expansion = self.model.layers[0].family.basis(self.x) if linear else None

    def __call__(self) -> Tensor:
        if self.expansion is None:
            return self.model(self.x).squeeze(-1)
        weights = self.model.coefficients()
        first = self.model.layers[0]
        y = contract(self.expansion, weights[0])
        if first.bias is not None:
            y = y + first.bias
        for layer, weight in zip(self.model.layers[1:], weights[1:], strict=True):
            y = layer(y, weight)
        return y.squeeze(-1)
