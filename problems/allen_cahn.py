"""Allen–Cahn equation on the unit d-ball with the two-body exact solution.

    Δu + u − u³ = f   in B^d = {|x| < 1},     u = 0   on |x| = 1,

f = L[u_exact] from the closed-form value and Laplacian (see :mod:`pinnkan.problems.two_body`).
"""

from __future__ import annotations

from torch import Tensor

from pinnkan.problem import BallPDE, Fields
from pinnkan.problems import register_problem


class AllenCahn(BallPDE):
    """Δu + u − u³ = f in the unit d-ball, u = 0 on the sphere; u_exact is the two-body function."""

    name = "allen_cahn"

    def operator(self, fields: Fields) -> Tensor:
        u = fields.u
        return fields.laplacian + u - u.pow(3)


register_problem(
    "allen_cahn", AllenCahn, "Allen–Cahn Δu + u − u³ = f on the unit d-ball (two-body solution)"
)
