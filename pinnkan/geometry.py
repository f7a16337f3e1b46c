"""The d-ball B_R = {x ∈ ℝ^d : |x| ≤ R}: interior and boundary sampling.

A point is ``direction · radius`` with ``direction`` uniform on the unit sphere (a normalised
standard Gaussian vector). Two laws for the radius are offered, and which one was used must be
recorded with every run, because errors measured under different laws are not comparable:

- ``"volume"``: ``r = R · U^{1/d}``, U ~ U(0, 1): uniform in the ball, P(|x| ≤ r) = (r/R)^d;
- ``"radial"``: ``r = R · U``: uniform in the radius, P(|x| ≤ r) = r/R. This is the law of the
  public reference code (SDGD / STDE); in high dimension it puts almost all points near the
  centre, where the volume law puts almost none.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .device import default_device, sampling_device
from .validation import check_choice, check_int, check_positive

LAWS = ("volume", "radial")


class Ball:
    """The closed ball of radius ``radius`` around the origin of ℝ^dim.

    Sampling draws on ``generator``'s device (CPU if no generator is given and no device is
    asked for) and then moves the points to ``device`` / ``dtype``, so a seeded CPU generator
    gives the same points on every device.
    """

    def __init__(self, dim: int, radius: float = 1.0):
        self.dim = check_int("dim", dim, 1)
        self.radius = check_positive("radius", radius)

    def __repr__(self) -> str:
        return f"Ball(dim={self.dim}, radius={self.radius})"

    def config(self) -> dict:
        """Plain data describing the domain (for run files)."""
        return {"geometry": "ball", "dim": self.dim, "radius": self.radius}

    def sample_interior(
        self,
        n: int,
        law: str = "volume",
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """``n`` points of the ball, ``(n, dim)``, with radius law ``law`` (one of :data:`LAWS`),
        drawn on the generator's device and returned on ``device`` (default: torch's default
        device, the CPU unless changed)."""
        n = check_int("n", n, 1)
        check_choice("law", law, LAWS)
        dtype = dtype or torch.get_default_dtype()
        draw_device = sampling_device(generator, device)
        directions = unit_directions(n, self.dim, generator, draw_device, dtype)
        uniform = torch.rand(n, 1, generator=generator, device=draw_device, dtype=dtype)
        fraction = uniform.pow(1.0 / self.dim) if law == "volume" else uniform
        return (self.radius * fraction * directions).to(device=device or default_device())

    def sample_boundary(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """``n`` points uniform on the sphere |x| = R, ``(n, dim)``, placed as by
        :meth:`sample_interior`."""
        n = check_int("n", n, 1)
        dtype = dtype or torch.get_default_dtype()
        draw_device = sampling_device(generator, device)
        directions = unit_directions(n, self.dim, generator, draw_device, dtype)
        return (self.radius * directions).to(device=device or default_device())

    def boundary_factor(self, x: Tensor) -> Tensor:
        """``1 − |x|²/R²`` for ``x (n, dim)`` -> ``(n,)``: zero on the sphere, one at the centre."""
        return 1.0 - x.pow(2).sum(dim=-1) / self.radius**2

    def contains(self, x: Tensor, tolerance: float = 0.0) -> Tensor:
        """Boolean ``(n,)``: ``|x| ≤ R + tolerance``."""
        return x.norm(dim=-1) <= self.radius + tolerance

    def radial_cdf(self, r: Tensor, law: str = "volume") -> Tensor:
        """P(|x| ≤ r) under ``law``: ``(r/R)^d`` (volume) or ``r/R`` (radial), clipped to [0, 1]."""
        check_choice("law", law, LAWS)
        fraction = (torch.as_tensor(r) / self.radius).clamp(0.0, 1.0)
        return fraction.pow(self.dim) if law == "volume" else fraction


def unit_directions(
    n: int, dim: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """``(n, dim)`` directions uniform on the unit sphere: g/|g| with g ~ N(0, I)."""
    gaussian = torch.randn(n, dim, generator=generator, device=device, dtype=dtype)
    return gaussian / gaussian.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
