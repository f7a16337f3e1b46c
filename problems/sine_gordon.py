"""Sine–Gordon equation on the unit d-ball with the two-body exact solution.

    Δu + sin u = f   in B^d = {|x| < 1},     u = 0   on |x| = 1,

f = L[u_exact] from the closed-form value and Laplacian (see :mod:`pinnkan.problems.two_body`).
The public reference script used the Allen–Cahn term u − u³ here; the residual tests of this
package check the sin u term against its definition.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pinnkan.problem import BallPDE, Fields
from pinnkan.problems import register_problem


class SineGordon(BallPDE):
    """Δu + sin u = f in the unit d-ball, u = 0 on the sphere; u_exact is the two-body function."""

    name = "sine_gordon"

    def operator(self, fields: Fields) -> Tensor:
        return fields.laplacian + torch.sin(fields.u)


register_problem(
    "sine_gordon", SineGordon, "Sine–Gordon Δu + sin u = f on the unit d-ball (two-body solution)"
)
