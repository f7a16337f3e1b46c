"""The two-body exact solution of the high-dimensional ball benchmarks (Hu et al. 2024).

    u(x) = s(x) · S(x),   s = 1 − |x|²,   S = Σ_{i=1}^{d−1} c_i sin θ_i,
    θ_i = a + cos b + b cos a   with a = x_i, b = x_{i+1},   c_i ~ N(0, 1) (seeded).

Which c a seed gives is the ``coefficients`` law: "torch" (pinnkan's default,
``torch.randn`` on ``torch.Generator().manual_seed(seed)``) or "numpy" (NumPy's legacy
``RandomState(seed).randn``, the draw of the SDGD and STDE public scripts, so that a run with
``coefficients="numpy"`` and seed s solves exactly their instance for their SEED s). The relative
ℓ2 error depends on the draw: u is dominated by its radial part (1 − |x|²)·sin(1)·Σ c_i near the
centre, and |Σ c_i| ~ √(d − 1) varies a lot between draws (d = 100: rms u is 1.3 for torch seed 0,
3.4 for numpy seed 0), while a network's absolute error does not.

Closed forms (θ_a = 1 − b sin a, θ_b = cos a − sin b, θ_aa = −b cos a, θ_bb = −cos b):

    ∂S/∂x_j = c_j cos θ_j · θ_a(j) + c_{j−1} cos θ_{j−1} · θ_b(j−1)
    ΔS      = Σ_i c_i [cos θ_i (θ_aa + θ_bb) − sin θ_i (θ_a² + θ_b²)]
    ∇u      = −2x S + s ∇S
    Δu      = −2d S − 4 x·∇S + s ΔS

All are O(n·d) and vectorised over i.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pinnkan.device import draw
from pinnkan.problem import ExactSolution, check_ball_dim
from pinnkan.validation import check_choice, check_seed

COEFFICIENT_LAWS = ("torch", "numpy")


def draw_coefficients(n: int, seed: int, law: str = "torch") -> Tensor:
    """c ~ N(0, I_n), float64 ``(n,)``: ``torch.randn`` on a generator seeded with ``seed``
    ("torch"), or NumPy's legacy ``RandomState(seed).randn`` ("numpy", which equals
    ``np.random.seed(seed); np.random.randn(1, n)`` of the SDGD/STDE scripts)."""
    check_choice("coefficients", law, COEFFICIENT_LAWS)
    if law == "numpy":
        return torch.from_numpy(np.random.RandomState(seed).randn(n)).to(torch.float64)
    generator = torch.Generator().manual_seed(seed)
    return draw(torch.randn, n, generator=generator, dtype=torch.float64)


class TwoBodySolution(ExactSolution):
    """u(x) = (1 − |x|²) Σ_{i=1}^{d−1} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i) on ℝ^d.

    The coefficients ``c (d−1,)`` are drawn in float64 by :func:`draw_coefficients` under the
    law ``coefficients`` ("torch" or "numpy", see the module docstring) and moved to the points'
    device and dtype on use.
    """

    def __init__(self, dim: int, seed: int = 0, coefficients: str = "torch"):
        check_ball_dim(dim)
        check_seed("seed", seed)
        self.dim = dim
        self.seed = seed
        self.coefficient_law = coefficients
        self.coefficients = draw_coefficients(dim - 1, seed, coefficients)
        self.copies: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def __repr__(self) -> str:
        return (
            f"TwoBodySolution(dim={self.dim}, seed={self.seed}, "
            f"coefficients={self.coefficient_law!r})"
        )

    def value(self, x: Tensor) -> Tensor:
        """u at ``x (n, d)`` -> ``(n,)``."""
        return self.envelope(x) * self.pair_sum(x)

    def gradient(self, x: Tensor) -> Tensor:
        """∇u at ``x (n, d)`` -> ``(n, d)``, closed form."""
        grad_sum = self.pair_sum_gradient(x)
        return -2.0 * x * self.pair_sum(x).unsqueeze(-1) + self.envelope(x).unsqueeze(-1) * grad_sum

    def laplacian(self, x: Tensor) -> Tensor:
        """Δu at ``x (n, d)`` -> ``(n,)``, closed form."""
        s, S = self.envelope(x), self.pair_sum(x)
        radial_derivative = (x * self.pair_sum_gradient(x)).sum(dim=-1)
        return -2.0 * self.dim * S - 4.0 * radial_derivative + s * self.pair_sum_laplacian(x)

    # --- the factors ---------------------------------------------------------------------------

    def envelope(self, x: Tensor) -> Tensor:
        """s = 1 − |x|², ``(n,)``."""
        self.check_points(x)
        return 1.0 - x.pow(2).sum(dim=-1)

    def pair_sum(self, x: Tensor) -> Tensor:
        """S = Σ_i c_i sin θ_i, ``(n,)``."""
        return (self.coefficients_like(x) * torch.sin(self.phases(x))).sum(dim=-1)

    def pair_sum_gradient(self, x: Tensor) -> Tensor:
        """∇S, ``(n, d)``: pair i contributes to coordinates i (via a) and i+1 (via b)."""
        a, b = x[:, :-1], x[:, 1:]
        weight = self.coefficients_like(x) * torch.cos(self.phases(x))
        first = weight * (1.0 - b * torch.sin(a))
        second = weight * (torch.cos(a) - torch.sin(b))
        zero = torch.zeros_like(x[:, :1])
        return torch.cat([first, zero], dim=1) + torch.cat([zero, second], dim=1)

    def pair_sum_laplacian(self, x: Tensor) -> Tensor:
        """ΔS, ``(n,)``."""
        a, b = x[:, :-1], x[:, 1:]
        theta = self.phases(x)
        slope_a = 1.0 - b * torch.sin(a)
        slope_b = torch.cos(a) - torch.sin(b)
        curvature = -b * torch.cos(a) - torch.cos(b)
        terms = torch.cos(theta) * curvature - torch.sin(theta) * (slope_a**2 + slope_b**2)
        return (self.coefficients_like(x) * terms).sum(dim=-1)

    def phases(self, x: Tensor) -> Tensor:
        """θ_i = x_i + cos x_{i+1} + x_{i+1} cos x_i, ``(n, d−1)``."""
        a, b = x[:, :-1], x[:, 1:]
        return a + torch.cos(b) + b * torch.cos(a)

    def coefficients_like(self, x: Tensor) -> Tensor:
        """c on the device and in the dtype of ``x``, ``(d−1,)``; made once per (device, dtype),
        since a copy to a GPU waits for the GPU (three per forcing evaluation)."""
        key = (x.device, x.dtype)
        if key not in self.copies:
            self.copies[key] = self.coefficients.to(device=x.device, dtype=x.dtype)
        return self.copies[key]

    def check_points(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"points of shape {tuple(x.shape)} are not allowed; give (n, {self.dim})"
            )
