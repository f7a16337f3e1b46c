"""SiLU and its closed-form derivatives (the base branch of a B-spline KAN edge).

s(t)   = t σ(t)
s'(t)  = σ(t) (1 + t (1 − σ(t)))
s''(t) = σ(t) (1 − σ(t)) (2 + t (1 − 2σ(t)))

with 1 − σ(t) taken as σ(−t), never by subtraction: where σ ≈ 1 (t ≫ 0) the difference would keep
only the digits of σ's rounding (s'' off by 4e-8 relative at t = 20 in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor


def silu_derivatives(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(s(t), s'(t), s''(t))`` elementwise, same shape as ``t``."""
    sigma, rest = torch.sigmoid(t), torch.sigmoid(-t)  # σ(t), 1 − σ(t)
    first = sigma * (1 + t * rest)
    second = sigma * rest * (2 + t * (rest - sigma))
    return t * sigma, first, second
