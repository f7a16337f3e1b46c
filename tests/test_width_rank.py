"""The width bound behind ``benchmarks/width_floor.py`` (results/table8.md, d = 100).

For N(x) = F(h(x)) with a first hidden layer h_j(x) = Σ_i φ_ij(x_i), j = 1 … w,

    ∇²N(x) = Jᵀ ∇²F(h) J + diag(Σ_j ∂F/∂h_j φ''_ij(x_i)),      J = ∂h/∂x  (w × d),

so the off-diagonal entries of the Hessian are those of a matrix of rank ≤ w, at every x. For an MLP
(φ_ij linear) the diagonal term vanishes and the whole Hessian has rank ≤ w. Checked here with
autograd on real KAN, MetaKAN and MLP backbones, float64.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from pinnkan.nn.build import build_model


def first_layer_and_rest(model: torch.nn.Module, name: str):
    """``(h, F)`` with ``model(x) = F(h(x))`` for one point ``x (d,)``."""
    if name == "mlp":  # h = W_1 x + b_1, the pre-activations of the first hidden layer

        def first(x):
            return model.layers[0](x[None])[0]

        def rest(h):
            y = h[None]
            for layer in model.layers[1:]:
                y = layer(model.activation.function(y))
            return y[0, 0]

        return first, rest
    weights = model.coefficients()

    def first(x):
        return model.layers[0](x[None], weights[0])[0]

    def rest(h):
        y = h[None]
        for layer, weight in zip(model.layers[1:], weights[1:], strict=True):
            y = layer(y, weight)
        return y[0, 0]

    return first, rest


@pytest.mark.parametrize("name", ["kan", "mlp", "metakan"])
def test_off_diagonal_hessian_has_rank_at_most_the_first_width(name: str) -> None:
    dim, width = 9, 3
    generator = torch.Generator().manual_seed(4)
    model = build_model(name, [dim, width, 5, 1], generator=generator).double()
    first, rest = first_layer_and_rest(model, name)
    x = 0.4 * torch.randn(dim, generator=generator, dtype=torch.float64)
    full = hessian(lambda point: model(point[None])[0, 0], x)
    assert torch.allclose(rest(first(x)), model(x[None])[0, 0])
    jac = jacobian(first, x)  # (w, d)
    low_rank = jac.T @ hessian(rest, first(x)) @ jac  # (d, d), rank ≤ w
    off = ~torch.eye(dim, dtype=torch.bool)
    assert torch.allclose(full[off], low_rank[off], atol=1e-12, rtol=1e-9)
    assert torch.linalg.matrix_rank(low_rank) <= width
    if name == "mlp":  # a linear first layer: the whole Hessian, diagonal included, is rank ≤ w
        assert torch.allclose(full, low_rank, atol=1e-12, rtol=1e-9)
    else:  # KAN edges add diag(Σ_j ∂F/∂h_j φ''_ij): the diagonal is free, the rank is not bounded
        assert torch.linalg.matrix_rank(full) > width


def test_width_floors_of_a_pure_neighbour_solution() -> None:
    """``benchmarks/width_floor.width_floors`` on u = (1 − |x|²) Σ c_i x_i x_{i+1}, d = 10: the
    quadratic model (Q) is exact, without its neighbour terms it explains nothing, and the floor
    of a first layer of width w (the best w eigen-squares of the tridiagonal T) falls with w,
    far from 0 at w = 3 (the reason a narrow first layer cannot learn Σ c_i x_i x_{i+1}), to 0
    once w reaches the rank of T."""
    from benchmarks.width_floor import width_floors

    dim, generator = 10, torch.Generator().manual_seed(0)
    x = torch.randn(3000, dim, generator=generator, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * torch.rand(3000, 1, generator=generator, dtype=x.dtype)
    c = torch.randn(dim - 1, generator=generator, dtype=torch.float64)
    exact = (1 - x.pow(2).sum(dim=1)) * (x[:, :-1] * x[:, 1:] * c).sum(dim=1)
    floors = width_floors(x, exact, [1, 3, 6, dim])
    assert floors["quadratic model (Q)"] < 1e-10
    assert floors["(Q) without neighbour terms"] > 0.9
    assert floors["width 1"] > floors["width 3"] > floors["width 6"] > floors[f"width {dim}"]
    assert floors["width 3"] > 0.2 and floors[f"width {dim}"] < 1e-10
