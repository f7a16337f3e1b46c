"""Hard Dirichlet constraint on the ball: a network that vanishes on the sphere |x| = R.

    û(x) = s(x) N(x),      s(x) = 1 − |x|²/R²

so û = 0 on ∂B_R for any backbone N. Its Laplacian, which the forward engine evaluates exactly
from N, ΔN and the radial derivative x·∇N of the backbone:

    Δû = −(2d/R²) N − (4/R²) x·∇N + s ΔN
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class BallHardConstraint(nn.Module):
    """``û(x) = (1 − |x|²/R²)·net(x)``: ``x (batch, d)`` -> ``(batch, 1)``.

    Args:
        net: any backbone mapping ``(batch, d)`` to ``(batch, 1)``.
        radius: R > 0, the radius of the ball on whose boundary û vanishes.
    """

    def __init__(self, net: nn.Module, radius: float = 1.0) -> None:
        super().__init__()
        if isinstance(radius, bool) or not isinstance(radius, (int, float)):
            raise ValueError(f"radius={radius!r} is not allowed; give a positive number")
        if not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"radius={radius!r} is not allowed; give a positive finite number")
        self.net = net
        self.radius = float(radius)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"

    def envelope(self, x: Tensor) -> Tensor:
        """s(x) = 1 − |x|²/R²: ``(batch, d)`` -> ``(batch,)``."""
        return 1 - x.pow(2).sum(dim=-1) / self.radius**2

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, d)`` -> ``(batch, 1)``."""
        return self.envelope(x).unsqueeze(-1) * self.net(x)
