"""Poisson equation on the unit d-ball with the two-body exact solution.

    Δu = f   in B^d = {|x| < 1},     u = 0   on |x| = 1,

f = Δu_exact in closed form (see :mod:`pinnkan.problems.two_body`).
"""

from __future__ import annotations

from torch import Tensor

from pinnkan.problem import BallPDE, Fields
from pinnkan.problems import register_problem


class Poisson(BallPDE):
    """Δu = f in the unit d-ball, u = 0 on the sphere; u_exact is the two-body function."""

    name = "poisson"

    def operator(self, fields: Fields) -> Tensor:
        return fields.laplacian


register_problem("poisson", Poisson, "Poisson Δu = f on the unit d-ball (two-body solution)")
