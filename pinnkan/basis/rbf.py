"""Gaussian radial basis functions (the edge function of FastKAN, without its base branch and
layer norm: README, backbones).

    φ(t; w) = Σ_{m=1}^{c} w_m exp(−((t − μ_m)/h)²)

with c centres μ_m spread uniformly over ``grid_range = [lo, hi]`` and width h = (hi − lo)/(c − 1).
With u = (t − μ)/h (clamped to ±40, where B is 0) and B = exp(−u²):  B' = −2u B / h,  B'' = (4u² − 2) B / h².
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..device import draw
from ..validation import check_int, check_range
from .base import GAUSSIAN_TAIL, LinearBasis


class GaussianRBFBasis(LinearBasis):
    """``[B_1(t), …, B_c(t)]``: ``num_coefficients = centers`` (c ≥ 2)."""

    def __init__(self, centers: int = 8, grid_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        check_int("centers", centers, 2)
        check_range("grid_range", grid_range)
        lo, hi = grid_range
        self.num_coefficients = centers
        self.width = (hi - lo) / (centers - 1)
        grid = torch.linspace(lo, hi, centers, dtype=torch.float64)
        # Kept in float64 (cast to x's dtype on use) so that model.double() gets exact centres
        # (model.float() casts buffers too: a model cast to float32 keeps float32 centres).
        self.register_buffer("centers", grid)

    def extra_repr(self) -> str:
        return f"centers={self.num_coefficients}, width={self.width:.4g}"

    def initial_coefficients(
        self, out_features: int, in_features: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """w ~ N(0, 1/(in·c)) so that the layer output starts with unit-order variance."""
        std = 1.0 / math.sqrt(in_features * self.num_coefficients)
        shape = (out_features, in_features, self.num_coefficients)
        return draw(torch.randn, shape, generator=generator) * std

    def scaled_distance(self, x: Tensor) -> Tensor:
        """u = (x − μ)/h: ``(batch, in)`` -> ``(batch, in, c)``, clamped to ±``GAUSSIAN_TAIL``
        (where e^{−u²} is 0, so that u²·e^{−u²} cannot become ∞·0)."""
        u = (x.unsqueeze(-1) - self.centers.to(x.dtype)) / self.width
        return u.clamp(-GAUSSIAN_TAIL, GAUSSIAN_TAIL)

    def basis(self, x: Tensor) -> Tensor:
        return torch.exp(-(self.scaled_distance(x) ** 2))

    def basis_derivatives(
        self, x: Tensor, inputs: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        u = self.scaled_distance(x)  # the same centres for every input
        value = torch.exp(-(u**2))
        first = -2 * u * value / self.width
        second = (4 * u**2 - 2) * value / self.width**2
        return value, first, second
