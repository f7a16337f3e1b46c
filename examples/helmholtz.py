"""A user-defined PDE: the Helmholtz equation on the unit d-ball.

    Δu + k² u = f   in B^d = {|x| < 1},     u = 0   on |x| = 1,

with the manufactured solution u(x) = (1 − |x|²) sin(k w·x), w = (1, …, 1)/√d. Only u is
written down: the forcing f = Δu + k²u is derived from :meth:`Helmholtz.operator` applied to
the exact solution (its Laplacian by autograd), so f is never written twice. By hand,
f = −2d sin(k w·x) − 4k (w·x) cos(k w·x).

Solve it from the command line::

    pinnkan solve --problem examples/helmholtz.py:Helmholtz --dim 5 --problem-option wavenumber=3

or from Python::

    problem = pinnkan.get_problem("examples/helmholtz.py:Helmholtz", dim=5)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pinnkan.geometry import Ball
from pinnkan.problem import PDE, ExactSolution, Fields
from pinnkan.validation import check_int, check_positive


class PlaneWaveBubble(ExactSolution):
    """u(x) = (1 − |x|²) sin(k w·x), w = (1, …, 1)/√d; only the value is given."""

    def __init__(self, dim: int, wavenumber: float):
        self.dim = dim
        self.wavenumber = wavenumber

    def value(self, x: Tensor) -> Tensor:
        """u at ``x (n, d)`` -> ``(n,)``."""
        phase = self.wavenumber * x.sum(dim=-1) / math.sqrt(self.dim)
        return (1.0 - x.pow(2).sum(dim=-1)) * torch.sin(phase)


class Helmholtz(PDE):
    """Δu + k² u = f in the unit d-ball, u = 0 on the sphere."""

    name = "helmholtz"

    def __init__(self, dim: int = 3, wavenumber: float = 2.0):
        check_int("dim", dim, 1)
        check_positive("wavenumber", wavenumber)
        self.dim = dim
        self.wavenumber = wavenumber
        self.geometry = Ball(dim)

    def operator(self, fields: Fields) -> Tensor:
        return fields.laplacian + self.wavenumber**2 * fields.u

    def exact_solution(self) -> ExactSolution:
        return PlaneWaveBubble(self.dim, self.wavenumber)

    def config(self) -> dict:
        return {"name": self.name, "dim": self.dim, "wavenumber": self.wavenumber}
