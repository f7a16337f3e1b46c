"""SiLU and its closed-form derivatives (the base branch of a B-spline KAN edge).

s(t)   = t σ(t)
s'(t)  = σ(t) (1 + t (1 − σ(t)))
s''(t) = σ(t) (1 − σ(t)) (2 + t (1 − 2σ(t)))
"""

from __future__ import annotations

import torch
from torch import Tensor


def silu_derivatives(t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(s(t), s'(t), s''(t))`` elementwise, same shape as ``t``."""
    sigma = torch.sigmoid(t)
    first = sigma * (1 + t * (1 - sigma))
    second = sigma * (1 - sigma) * (2 + t * (1 - 2 * sigma))
    return t * sigma, first, second
