"""Laplacian engines: ``laplacian(model, x, method=...) -> (u, Δu)``.

"autograd" is the reference: one double-backward per input dimension,
Δu = Σ_i ∂²u/∂x_i², with the graph kept so that parameter gradients flow (``create_graph``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

METHODS = ("autograd",)


def gradient(u: Tensor, x: Tensor, create_graph: bool = True) -> Tensor:
    """∇u for a batch of scalars ``u (batch,)`` w.r.t. ``x (batch, d)`` -> ``(batch, d)``."""
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=create_graph)
    return g


def autograd_laplacian(
    model: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = True
) -> tuple[Tensor, Tensor]:
    """Reference engine: ``(u (batch,), Δu (batch,))`` by d double-backward passes."""
    x = x.detach().requires_grad_(True)
    u = model(x).squeeze(-1)
    g = gradient(u, x, create_graph=True)
    lap = torch.zeros_like(u)
    for i in range(x.shape[1]):
        (second,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=create_graph)
        lap = lap + second[:, i]
    return u, lap


def laplacian(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    method: str = "autograd",
    create_graph: bool = True,
) -> tuple[Tensor, Tensor]:
    """Value and Laplacian of a scalar-output model at ``x (batch, d)``: ``((batch,), (batch,))``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; allowed: {', '.join(METHODS)}")
    return autograd_laplacian(model, x, create_graph)
